/**
 * The last SAML sign-in attempt per login, so that an administrator can be told why a user
 * cannot sign in (e.g. the IdP sends a login that differs from the SCIM userName).
 */
import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect.ts';

/** Creates `saml_sign_in_attempts`: one row per login (lower-cased), overwritten by each attempt. */
export async function up(db: Kysely<unknown>, _dialect: DialectAdapter): Promise<void> {
  const statements = [
    // Keyed by the lower-cased login so the table grows with distinct logins, not with attempts.
    sql`CREATE TABLE saml_sign_in_attempts (
      login_key TEXT PRIMARY KEY,
      login TEXT NOT NULL,
      name_id TEXT,
      email TEXT,
      at TEXT NOT NULL,
      outcome TEXT NOT NULL,
      reason TEXT
    )`,
    // The diagnostics find a user's attempt by email when the login did not match.
    sql`CREATE INDEX saml_sign_in_attempts_email ON saml_sign_in_attempts (lower(email))`,
    sql`CREATE INDEX saml_sign_in_attempts_name_id ON saml_sign_in_attempts (lower(name_id))`,
  ];
  for (const statement of statements) await statement.execute(db);
}
