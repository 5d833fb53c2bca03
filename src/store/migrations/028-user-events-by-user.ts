/**
 * `events.user_id` names the user of every event about one user: besides the membership events
 * (migration 019), `user.created`, `user.updated`, `user.deactivated`, `user.reactivated` and
 * `user.anonymized`, so that a person's data (directory/personal-data.ts, GDPR Art. 15) lists the
 * events about them through `events_user` without reading the feed. The user events kept get it
 * from their data (`data.id`, the user's internal id); the index is the one 019 made.
 *
 * Safe to roll: an older instance still running writes user events without it (they are in the
 * feed, but not in the person's data), and its user pages read the membership history by this
 * column without asking the type, so that they list a user's own changes among the group
 * membership changes, without a group, until the instance is replaced (docs/deploy.md).
 */
import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect.ts';

/** The types of the events whose `data` is one user (journal/journal.ts EVENT_TYPES). */
const USER_EVENT_TYPES = ['user.created', 'user.updated', 'user.deactivated', 'user.reactivated', 'user.anonymized'] as const;

/** Fills `events.user_id` of the user events kept. */
export async function up(db: Kysely<unknown>, dialect: DialectAdapter): Promise<void> {
  const userId = dialect.name === 'postgres' ? sql`(data::json ->> 'id')` : sql`json_extract(data, '$.id')`;
  await sql`UPDATE events SET user_id = ${userId} WHERE type IN (${sql.join(USER_EVENT_TYPES)}) AND user_id IS NULL`.execute(db);
}
