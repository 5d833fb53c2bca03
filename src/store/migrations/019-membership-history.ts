/**
 * A user's membership history (the console's user page): `events.user_id` names the user of a
 * `group.user_added` or `group.user_removed` event, indexed with the feed's order, so that the
 * changes of one user's memberships are found without reading the feed. Other events leave it
 * null (the partial index skips them). Events already kept get it from their data.
 *
 * Safe to roll: an older instance still running writes membership events without it; those are
 * missing from the history (never from the feed), as documented in docs/deploy.md.
 */
import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect.ts';

/** Adds `events.user_id` and its index, and fills it for the membership events kept. */
export async function up(db: Kysely<unknown>, dialect: DialectAdapter): Promise<void> {
  await sql`ALTER TABLE events ADD COLUMN user_id TEXT`.execute(db);
  const userId = dialect.name === 'postgres' ? sql`(data::json -> 'user' ->> 'id')` : sql`json_extract(data, '$.user.id')`;
  await sql`UPDATE events SET user_id = ${userId} WHERE type IN ('group.user_added', 'group.user_removed')`.execute(db);
  await sql`CREATE INDEX events_user ON events (user_id, tx, id) WHERE user_id IS NOT NULL`.execute(db);
}
