/**
 * Two defences for anonymous SAML traffic (security review, issue 15): each AuthnRequest
 * remembers the browser that started it, and each client address has an audit budget per
 * minute, counted in the database so that every instance draws on the same one.
 */
import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect.ts';

/** Adds `saml_requests.browser_hash` and the `audit_budgets` table. */
export async function up(db: Kysely<unknown>, _dialect: DialectAdapter): Promise<void> {
  const statements = [
    // SHA-256 of the random value /saml/login put in the browser's cookie; the ACS compares.
    // Requests issued before this migration have none and are refused (they expire in 15 minutes).
    sql`ALTER TABLE saml_requests ADD COLUMN browser_hash TEXT`,
    // One row per source (a client address) and minute (`2025-01-31T12:34Z`): how many audit
    // entries it asked to write, and the summary entry that counts those past the budget.
    sql`CREATE TABLE audit_budgets (
      source TEXT NOT NULL,
      minute TEXT NOT NULL,
      used INTEGER NOT NULL,
      summary_seq BIGINT,
      PRIMARY KEY (source, minute)
    )`,
    // Past minutes are deleted by minute.
    sql`CREATE INDEX audit_budgets_minute ON audit_budgets (minute)`,
  ];
  for (const statement of statements) await statement.execute(db);
}
