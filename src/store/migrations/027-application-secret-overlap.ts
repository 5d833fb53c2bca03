/**
 * The previous client secret of an OpenID Connect application, kept valid for an overlap after
 * a rotation so that the application can switch without a failed token request:
 * `oidc_applications.previous_secret_hash` (SHA-256 hex, as `secret_hash`; never the secret) and
 * `previous_secret_expires_at` (ISO 8601), both NULL when there is none. The provider accepts
 * the previous hash only while the expiry, read from the row at each authentication, is ahead.
 *
 * Safe to roll: nullable columns older instances neither read nor write. An older instance
 * accepts only the current secret, and its rotation leaves these columns as they were.
 */
import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect.ts';

/** Adds `oidc_applications.previous_secret_hash` and `previous_secret_expires_at`. */
export async function up(db: Kysely<unknown>, _dialect: DialectAdapter): Promise<void> {
  await sql`ALTER TABLE oidc_applications ADD COLUMN previous_secret_hash TEXT`.execute(db);
  await sql`ALTER TABLE oidc_applications ADD COLUMN previous_secret_expires_at TEXT`.execute(db);
}
