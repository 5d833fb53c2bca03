/**
 * Which groups count for a user's access. A SCIM `active=false` suspends a user but keeps its
 * memberships (the identity provider owns them, and Entra ID re-enables a user without sending
 * them again), so "is a member" and "is granted access through the group" differ for an
 * inactive user. Every access decision made from group membership, today and later (the groups
 * of /api/users/current, SAML or OIDC group claims, forward auth, an administrators' group),
 * must ask `groupsOf` here and never read memberships on its own.
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

/** The access service: closure over the store, wired once in services.ts. */
export function createAccess(store: Store) {
  const memberships = createMembershipQueries(store.dialect);

  return {
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
