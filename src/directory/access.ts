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

    /**
     * Whether `userId` is the last administrator: an administrator now, and no other user is.
     * Call it in the transaction that would take its rights away (a deactivation): on PostgreSQL
     * it locks the administrators' rows, so that two such transactions cannot each leave the
     * other as the last one and both go through.
     */
    async isLastAdministrator(userId: string, db: Executor): Promise<boolean> {
      const ids = await memberships.administratorIds(db, adminGroup, true);
      return ids.length === 1 && ids[0] === userId;
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
