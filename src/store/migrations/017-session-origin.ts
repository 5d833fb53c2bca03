/**
 * Where each browser session came from, for its user's session list: the client address and a
 * short browser description ("Firefox on Linux"), both recorded at sign-in and shown only.
 * Nullable: sessions opened before this migration, or by an older instance still running
 * (its INSERT names its columns), have neither and show "—".
 */
import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect.ts';

/** Adds `sessions.address` and `sessions.browser`. */
export async function up(db: Kysely<unknown>, _dialect: DialectAdapter): Promise<void> {
  await sql`ALTER TABLE sessions ADD COLUMN address TEXT`.execute(db);
  await sql`ALTER TABLE sessions ADD COLUMN browser TEXT`.execute(db);
}
