/**
 * The password sign-in backoff (issue 9): one row per throttled key (a login, a client
 * address), in the database so that every instance applies the same limits.
 */
import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect.ts';

/** Creates `password_backoff`. */
export async function up(db: Kysely<unknown>, _dialect: DialectAdapter): Promise<void> {
  const statements = [
    // `key` is the SHA-256 of what is counted (`login:<lower-cased login>`, `source:<address>`),
    // so that attacker-chosen text of any length is never stored. `free_at` is the instant
    // (ISO 8601) at which the key has its whole allowance again (GCRA's theoretical arrival
    // time, see directory/password-sign-in.ts); a row whose free_at has passed means nothing
    // and is deleted.
    sql`CREATE TABLE password_backoff (
      key TEXT PRIMARY KEY,
      free_at TEXT NOT NULL
    )`,
    sql`CREATE INDEX password_backoff_free_at ON password_backoff (free_at)`,
  ];
  for (const statement of statements) await statement.execute(db);
}
