/**
 * Deactivated users found without reading every user: the administrators' list filtered with
 * `active=false` (the admin API, the console, the CLI) counted and paged through the whole
 * table, a second or two at a million users, during which SQLite answers nothing else. A partial
 * index holds the deactivated users only, in the list's order; `active=true` is counted as all
 * users less those.
 *
 * Safe to roll: an index, which older instances maintain without knowing it.
 */
import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect.ts';

/** Adds `users_inactive`: the deactivated users, by login key. */
export async function up(db: Kysely<unknown>, _dialect: DialectAdapter): Promise<void> {
  await sql`CREATE INDEX users_inactive ON users (login_key, login_conflict) WHERE active = 0`.execute(db);
}
