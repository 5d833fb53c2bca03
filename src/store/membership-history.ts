/**
 * SQL of a user's membership history: the event feed's `group.user_added` and
 * `group.user_removed` events of one user, newest first, through `events_user` (migration 019),
 * which names the user of the `user.*` events too (migration 028): the type tells them apart.
 */
import { sql } from 'kysely';
import type { Executor } from './executor.ts';

const MEMBERSHIP_EVENT_TYPES = ['group.user_added', 'group.user_removed'];

/** One membership event as stored: its type, when, who (actor JSON) and the group it names (data JSON). */
export interface StoredMembershipEvent {
  readonly type: string;
  readonly occurredAt: string;
  readonly actor: string;
  readonly data: string;
}

/** The latest `limit` membership events of `userId`, and how many the feed keeps in all. */
export async function membershipEventsOf(db: Executor, userId: string, limit: number): Promise<{ events: StoredMembershipEvent[]; total: number }> {
  const events = await db
    .selectFrom('events')
    .select(['type', 'occurred_at', 'actor', 'data'])
    .where('user_id', '=', userId)
    .where('type', 'in', MEMBERSHIP_EVENT_TYPES)
    .orderBy('tx', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  const counted = await db.selectFrom('events').select(sql<number>`count(*)`.as('n')).where('user_id', '=', userId).where('type', 'in', MEMBERSHIP_EVENT_TYPES).executeTakeFirst();
  return {
    events: events.map((row) => ({ type: row.type, occurredAt: row.occurred_at, actor: row.actor, data: row.data })),
    total: Number(counted?.n ?? 0),
  };
}
