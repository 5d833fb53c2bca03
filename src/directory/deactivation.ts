/**
 * What a deactivation does, whoever asks (SCIM active=false, SCIM DELETE, the admin API):
 * the user's group memberships, tokens and sessions go, inside the caller's transaction, so
 * that a deactivated user can do nothing from the moment the transaction commits.
 * Reactivation restores none of them, as in SonarQube.
 */
import type { DialectAdapter } from '../store/dialect.ts';
import type { Executor } from '../store/executor.ts';
import { createGroupQueries } from '../store/groups.ts';
import { createMembershipQueries } from '../store/memberships.ts';
import { deleteSessionsOf, revokeTokensOf } from '../store/user-credentials.ts';
import { actorUserId, type Actor } from './audit.ts';
import { DirectoryError, SELF_DEACTIVATION_MESSAGE } from './errors.ts';

/** What a deactivation removed, for its audit event. */
export interface AccessRemoved {
  /** Internal ids of the groups the user was removed from. */
  readonly removedFromGroups: readonly string[];
  /** Ids of the tokens revoked. */
  readonly revokedTokens: readonly string[];
  readonly deletedSessions: number;
}

/** Refuses to let an actor deactivate the user it acts as (SonarQube's rule, for every API). */
export function assertNotSelf(actor: Actor, userId: string): void {
  if (actorUserId(actor) === userId) throw new DirectoryError('invalid', SELF_DEACTIVATION_MESSAGE);
}

/** Builds the deactivation step over a dialect. */
export function createDeactivation(dialect: DialectAdapter) {
  const groups = createGroupQueries(dialect);
  const memberships = createMembershipQueries(dialect);

  /** Removes memberships, revokes tokens and deletes sessions of `userId`, in the caller's transaction. */
  return async function removeAccess(db: Executor, userId: string, now: string): Promise<AccessRemoved> {
    const removedFromGroups = await memberships.removeUserEverywhere(db, userId, now);
    // Each group's members changed: its SCIM version (ETag) must change too. The cost follows
    // the user's groups, not their sizes.
    for (const groupId of removedFromGroups) await groups.touch(db, groupId, now);
    const revokedTokens = await revokeTokensOf(db, userId, now);
    const deletedSessions = await deleteSessionsOf(db, userId);
    return { removedFromGroups, revokedTokens, deletedSessions };
  };
}

export type RemoveAccess = ReturnType<typeof createDeactivation>;
