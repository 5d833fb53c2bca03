/**
 * Which groups count for a user's access. A SCIM `active=false` suspends a user but keeps its
 * memberships (the identity provider owns them, and Entra ID re-enables a user without sending
 * them again), so "is a member" and "is granted access through the group" differ for an
 * inactive user. Every access decision made from group membership, today and later (the groups
 * of /api/users/current, SAML or OIDC group claims, forward auth, an administrators' group),
 * must ask `groupsOf` here and never read memberships on its own.
 *
 * "Is this user an administrator now" is decided here too, by `isAdministrator` alone: users
 * flagged admin (such as `admin`) and the active members of the administrators' group
 * (ROSTER_ADMIN_GROUP), as SonarQube grants permissions through groups. Every admin check
 * (browser sessions, the console) asks it on every request, without caching, so a user who
 * leaves the group stops being an administrator at once. Bearer tokens read the same rule in
 * the token's own lookup, also on every request: the SQL condition is defined once
 * (store/memberships.ts administratorCondition) and both use it.
 */
import type { Executor } from '../store/executor.ts';
import type { Store } from '../store/index.ts';
import { createMembershipQueries } from '../store/memberships.ts';
import { caseKey } from '../text.ts';
import { DirectoryError, LAST_ADMINISTRATOR_GROUP_MESSAGE, LAST_ADMINISTRATOR_MESSAGE } from '../errors.ts';

/** A group that counts for a user's access. */
export interface AccessGroup {
  /** Internal id. */
  readonly id: string;
  readonly name: string;
}

/** The group whose members are administrators when ROSTER_ADMIN_GROUP is not set. */
export const DEFAULT_ADMIN_GROUP = 'roster-administrators';

/** The access service: closure over the store, wired once in services.ts. */
export function createAccess(store: Store, options: { readonly adminGroup?: string } = {}) {
  const memberships = createMembershipQueries(store.dialect);
  const adminGroup = options.adminGroup ?? DEFAULT_ADMIN_GROUP;

  return {
    /** The name of the group whose members are administrators (ROSTER_ADMIN_GROUP). */
    adminGroup,

    /**
     * Whether `userId` is an administrator now: active, and flagged admin or a member of the
     * administrators' group. The only admin check: never cache its answer. Pass `db` to read
     * inside a transaction.
     */
    async isAdministrator(userId: string, db: Executor = store.db): Promise<boolean> {
      return memberships.isAdministrator(db, userId, adminGroup);
    },

    /** Whether `name` is the administrators' group's name (regardless of case, as the rule matches it). */
    isAdminGroup(name: string): boolean {
      return caseKey(name) === caseKey(adminGroup);
    },

    /**
     * Locks the administrators' rows (PostgreSQL) as keepingAnAdministrator does, for a write
     * that must lock another row before it calls keepingAnAdministrator: taken first, they are
     * taken in the same order as by every other such write, so none waits on another in a circle.
     */
    async lockAdministrators(db: Executor): Promise<void> {
      await memberships.administratorIds(db, adminGroup, true);
    },

    /**
     * Whether `userId` is the only administrator, its row locked as keepingAnAdministrator locks
     * them (for a write that keeps a membership rather than be refused; keepingAnAdministrator
     * still guards it against a concurrent change).
     */
    async isLastAdministrator(db: Executor, userId: string): Promise<boolean> {
      const ids = await memberships.administratorIds(db, adminGroup, true);
      return ids.length === 1 && ids[0] === userId;
    },

    /**
     * Runs `change`, a write in `db`'s transaction that may take administrator rights away (a
     * deactivation; the administrators' group renamed or deleted, or a member removed from it),
     * and refuses it (the transaction rolls back) when it leaves no administrator where there was
     * one, so that someone is always left to sign in: with SonarQube's deactivation message, or
     * for `'group'` (a change of the administrators' group) LAST_ADMINISTRATOR_GROUP_MESSAGE.
     *
     * On PostgreSQL the administrators' rows are locked (FOR NO KEY UPDATE) before the change,
     * so that two such transactions wait for each other; the check after the change is a new
     * statement, which reads what the first one committed (READ COMMITTED). Checking before the
     * change would not do: the locking read of the second transaction still sees, in its own
     * snapshot, a membership the first one deleted, since the user's row itself did not change.
     */
    async keepingAnAdministrator<T>(db: Executor, change: () => Promise<T>, through: 'deactivation' | 'group' = 'deactivation'): Promise<T> {
      const before = await memberships.administratorIds(db, adminGroup, true);
      const result = await change();
      if (before.length > 0 && (await memberships.administratorIds(db, adminGroup, false)).length === 0) {
        throw new DirectoryError('invalid', through === 'group' ? LAST_ADMINISTRATOR_GROUP_MESSAGE : LAST_ADMINISTRATOR_MESSAGE);
      }
      return result;
    },

    /**
     * The groups that count for the access of `userId`, sorted by name: its memberships while
     * it is active, none while it is inactive (SCIM-suspended memberships grant nothing) or
     * unknown. Pass `db` to read inside a transaction. Every access decision must use this.
     */
    async groupsOf(userId: string, db: Executor = store.db): Promise<AccessGroup[]> {
      return memberships.accessGroupsOf(db, userId);
    },
  };
}

export type Access = ReturnType<typeof createAccess>;
