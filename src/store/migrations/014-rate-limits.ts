/**
 * The per-token rate limits of the SCIM and admin APIs (issue 14): one row per limited key,
 * in the database so that every instance draws on the same budget.
 */
import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect.ts';

/** Creates `rate_limits`. */
export async function up(db: Kysely<unknown>, _dialect: DialectAdapter): Promise<void> {
  const statements = [
    // `key` names who is limited (`token:<token id>`, `session:<user id>`). `free_at` is GCRA's
    // theoretical arrival time in microseconds since the epoch: the key may send `burst`
    // requests at once when free_at is in the past, and one more every interval after it
    // (directory/rate-limits.ts). `granted` is what the last reservation obtained, read back
    // with RETURNING. A row whose free_at has passed means nothing and is deleted.
    sql`CREATE TABLE rate_limits (
      key TEXT PRIMARY KEY,
      free_at BIGINT NOT NULL,
      granted INTEGER NOT NULL
    )`,
    sql`CREATE INDEX rate_limits_free_at ON rate_limits (free_at)`,
  ];
  for (const statement of statements) await statement.execute(db);
}
