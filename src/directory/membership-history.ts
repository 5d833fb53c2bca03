/**
 * A user's membership history: which groups the user joined and left, when and by whom,
 * read from the event feed's membership events (the audit trail records a group's member
 * changes as counts, so it cannot say whom they concerned). As long as the feed keeps events
 * (ROSTER_EVENT_RETENTION_DAYS); a group's deletion is the group's event, not one per member.
 */
import type { Store } from '../store/index.ts';
import { membershipEventsOf } from '../store/membership-history.ts';
import { describeStoredActor } from '../journal/actor.ts';

/** One change of a user's memberships, as pages show it. */
export interface MembershipChange {
  readonly at: string;
  readonly change: 'added' | 'removed';
  /** The group as it was named when the change was made (it may have been renamed or deleted since). */
  readonly group: { readonly id: string; readonly name: string };
  /** Who made it, in the audit trail's words (`token:entra-id`, `session:ada`, `cli`). */
  readonly actor: string;
}

export function createMembershipHistory(store: Store) {
  return {
    /** The latest `limit` changes of `userId`'s memberships, newest first, and how many are kept in all. */
    async of(userId: string, limit: number): Promise<{ changes: MembershipChange[]; total: number }> {
      const { events, total } = await membershipEventsOf(store.db, userId, limit);
      const changes = events.map((event): MembershipChange => {
        const data = JSON.parse(event.data) as { group?: { id?: unknown; name?: unknown } };
        return {
          at: event.occurredAt,
          change: event.type === 'group.user_removed' ? 'removed' : 'added',
          group: { id: String(data.group?.id ?? ''), name: String(data.group?.name ?? '') },
          actor: describeStoredActor(event.actor),
        };
      });
      return { changes, total };
    },
  };
}

export type MembershipHistory = ReturnType<typeof createMembershipHistory>;
