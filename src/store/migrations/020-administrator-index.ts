/**
 * Administrators found without reading every user: every start asks whether the instance has an
 * administrator (to create `admin` on the first start), and with a million users and no
 * administrator among the first rows, that question read the whole table (about a second on
 * SQLite, with every request waiting). A partial index holds the few administrators only.
 *
 * Safe to roll: an index, which older instances maintain without knowing it.
 */
import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect.ts';

/** Adds `users_administrators`: the ids of the users with `is_admin = 1`. */
export async function up(db: Kysely<unknown>, _dialect: DialectAdapter): Promise<void> {
  await sql`CREATE INDEX users_administrators ON users (id) WHERE is_admin = 1`.execute(db);
}
