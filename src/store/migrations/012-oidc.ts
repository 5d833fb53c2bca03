/**
 * OpenID Connect provider (issue 10): what oidc-provider stores (codes, tokens, sessions,
 * grants, interactions) in one table shared by every instance, and the applications
 * administrators register. Signing keys live in `settings` (auth/oidc-keys.ts).
 */
import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect.ts';

/** Adds `oidc_models` and `oidc_applications`. */
export async function up(db: Kysely<unknown>, _dialect: DialectAdapter): Promise<void> {
  const statements = [
    // One row per oidc-provider model instance; `payload` is its JSON text, the other columns
    // the lookups the provider's adapter interface makes (store/oidc.ts).
    sql`CREATE TABLE oidc_models (
      model TEXT NOT NULL,
      id TEXT NOT NULL,
      payload TEXT NOT NULL,
      grant_id TEXT,
      uid TEXT,
      user_code TEXT,
      account_id TEXT,
      expires_at TEXT,
      consumed_at TEXT,
      PRIMARY KEY (model, id)
    )`,
    sql`CREATE INDEX oidc_models_grant ON oidc_models (grant_id)`,
    sql`CREATE INDEX oidc_models_uid ON oidc_models (uid)`,
    sql`CREATE INDEX oidc_models_user_code ON oidc_models (user_code)`,
    // Deactivation deletes everything of a user at once.
    sql`CREATE INDEX oidc_models_account ON oidc_models (account_id)`,
    sql`CREATE INDEX oidc_models_expires ON oidc_models (expires_at)`,
    // secret_hash: SHA-256 hex of the client secret (NULL for a public client); the provider
    // compares hashes (http/routes/oidc.ts hashes the presented secret first).
    sql`CREATE TABLE oidc_applications (
      client_id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      secret_hash TEXT,
      redirect_uris TEXT NOT NULL,
      allowed_groups TEXT NOT NULL,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL
    )`,
  ];
  for (const statement of statements) await statement.execute(db);
}
