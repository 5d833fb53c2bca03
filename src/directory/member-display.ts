/**
 * Groups show each member (Group.members: its SCIM id, and memberDisplay() as display), so a
 * change to how a user is shown is a change to every group it belongs to: their version (ETag)
 * and lastModified must move too (RFC 7644 §3.14). Every write path that can change a user's
 * login, display name or SCIM link calls this, in its transaction. It costs the user's groups,
 * never their sizes; users need nothing of the kind, since their versions read their groups'
 * names when they are read (store/resource-versions.ts).
 */
import type { DialectAdapter } from '../store/dialect.ts';
import type { Executor } from '../store/executor.ts';
import { createGroupQueries } from '../store/groups.ts';
import { memberDisplay, type MemberDisplaySource } from '../store/memberships.ts';
import { createUserQueries } from '../store/users.ts';

/** Builds the steps that keep groups' versions in step with how they show their members. */
export function createMemberDisplay(dialect: DialectAdapter) {
  const users = createUserQueries(dialect);
  const groups = createGroupQueries(dialect);

  return {
    /**
     * Marks the user's groups as changed when `after` shows the user differently from `before`.
     * A new login they do not show (the user has a display name) still locks them (PostgreSQL):
     * the membership events of a change to one of them name the user by its login, so such a
     * change must come wholly before the rename or wholly after it, never start before it and
     * commit after it with the login it replaced (docs/events.md).
     */
    async changed(db: Executor, userId: string, before: MemberDisplaySource, after: MemberDisplaySource, now: string): Promise<void> {
      if (memberDisplay(before) === memberDisplay(after)) {
        if (before.login !== after.login) await groups.lockGroupsOf(db, userId, 'share');
        return;
      }
      // A membership being added concurrently waits for this transaction, so the groups
      // touched below include it; otherwise its group could keep a version that predates
      // the new display name (PostgreSQL; SQLite serialises writes anyway).
      await users.lockMemberships(db, userId);
      await groups.touchGroupsOf(db, userId, now);
    },

    /** Marks the user's groups as changed because it appeared in or left their `members` (SCIM link). */
    async linkChanged(db: Executor, userId: string, now: string): Promise<void> {
      await groups.touchGroupsOf(db, userId, now);
    },
  };
}
