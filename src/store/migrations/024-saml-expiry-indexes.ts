/**
 * Expired SAML requests and remembered assertions found without reading them all: every
 * sign-in start deleted the expired ones with a statement that read both tables whole, so each
 * sign-in cost more as sign-ins (or a flood of sign-in starts) piled rows up. An index on the
 * expiry of each makes the clean-up read only what it deletes.
 *
 * Safe to roll: indexes, which older instances maintain without knowing them.
 */
import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect.ts';

/** Adds `saml_requests_expiry` and `saml_assertions_expiry`. */
export async function up(db: Kysely<unknown>, _dialect: DialectAdapter): Promise<void> {
  await sql`CREATE INDEX saml_requests_expiry ON saml_requests (expires_at)`.execute(db);
  await sql`CREATE INDEX saml_assertions_expiry ON saml_assertions (expires_at)`.execute(db);
}
