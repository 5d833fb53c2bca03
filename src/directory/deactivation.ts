/**
 * What ending a user's access does, by who asks. Both steps run inside the caller's
 * transaction, so that the user can do nothing from the moment it commits:
 *
 * Both end the user's API tokens, browser sessions and everything the OpenID provider issued
 * to them (grants, refresh and access tokens).
 *
 * - `suspend`: SCIM `active=false` (PUT, PATCH, or a create that links an account inactive).
 *   Tokens are revoked and sessions deleted; group memberships are KEPT, because the identity
 *   provider owns them and never re-sends them when it enables the user again (Entra ID's
 *   disable/enable; Okta's deactivate/reactivate). While the user is inactive they grant nothing:
 *   access decisions go through access.ts, which counts no group for an inactive user.
 * - `deactivate`: SCIM DELETE, the admin API and the CLI. SonarQube's rule: memberships are
 *   removed too, and reactivation restores none of them.
 *
 * Each returns what it did, for the audit event of the change. Memberships removed give one
 * `group.user_removed` event each (with `stamp`, the journal's).
 */
import type { DialectAdapter } from '../store/dialect.ts';
import type { Executor } from '../store/executor.ts';
import { createGroupQueries } from '../store/groups.ts';
import { createMembershipQueries } from '../store/memberships.ts';
import type { EventStamp } from '../store/journal.ts';
import { createKnownBrowserQueries } from '../store/known-browsers.ts';
import { endApplicationSignIns, type LogoutCause } from '../auth/application-logouts.ts';
import { deleteSessionsOf, revokeTokensOf } from '../store/user-credentials.ts';
import { actorUserId, type Actor } from '../journal/actor.ts';
import { DirectoryError, SELF_DEACTIVATION_MESSAGE } from '../errors.ts';

/** What a suspension did (SCIM active=false): credentials ended, memberships kept. */
export interface Suspended {
  readonly memberships: 'kept';
  /** Internal ids of the groups the user is still a member of (they count again on reactivation). */
  readonly keptGroups: readonly string[];
  /** Ids of the tokens revoked. */
  readonly revokedTokens: readonly string[];
  readonly deletedSessions: number;
}

/** What a deactivation did (SCIM DELETE, admin API, CLI): credentials ended, memberships removed. */
export interface Deactivated {
  readonly memberships: 'removed';
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

/** Builds the suspension and deactivation steps over a dialect. */
export function createDeactivation(dialect: DialectAdapter) {
  const groups = createGroupQueries(dialect);
  const memberships = createMembershipQueries(dialect);
  const knownBrowsers = createKnownBrowserQueries();

  async function endCredentials(db: Executor, userId: string, now: string, cause: LogoutCause): Promise<{ revokedTokens: string[]; deletedSessions: number }> {
    const revokedTokens = await revokeTokensOf(db, userId, now);
    return { revokedTokens, ...(await endSignIns(db, userId, cause)) };
  }

  /**
   * Ends the user's Roster sessions and everything applications hold for it through OpenID
   * Connect, and forgets the browsers known to it (password-sign-in.ts); `keep` names a session
   * and a known browser to spare (a password change keeps the browser it was made from).
   * `cause` is what the applications' logouts record (auth/application-logouts.ts).
   */
  async function endSignIns(db: Executor, userId: string, cause: LogoutCause, keep: { readonly session?: string | undefined; readonly browser?: string | undefined } = {}): Promise<{ deletedSessions: number }> {
    const deletedSessions = await deleteSessionsOf(db, userId, keep.session);
    await knownBrowsers.forgetAllOf(db, userId, keep.browser);
    // The OpenID provider's grants, codes, refresh and access tokens and sessions of the user,
    // on every instance at once (they all read the same table): the next refresh fails. The
    // applications with a back-channel logout URI are told, from an outbox written here.
    await endApplicationSignIns(db, userId, cause);
    return { deletedSessions };
  }

  /** Removes every membership of `userId`, touching each group; returns the groups' ids. */
  async function removeMemberships(db: Executor, userId: string, now: string, stamp: EventStamp): Promise<string[]> {
    const removedFromGroups = await memberships.removeUserEverywhere(db, userId, stamp);
    // Each group's members changed: its SCIM version (ETag) must change too. The cost follows
    // the user's groups, not their sizes.
    for (const groupId of removedFromGroups) await groups.touch(db, groupId, now);
    return removedFromGroups;
  }

  return {
    /**
     * SCIM active=false: revokes tokens and deletes sessions of `userId`, keeps its memberships.
     * No group changes, so no group version moves.
     */
    async suspend(db: Executor, userId: string, now: string): Promise<Suspended> {
      const credentials = await endCredentials(db, userId, now, 'suspended');
      return { memberships: 'kept', keptGroups: await memberships.groupIdsOfUser(db, userId), ...credentials };
    },

    /**
     * When the IdP takes over a local account (a SCIM create linking its login): the sessions
     * opened and the OpenID grants given on the account's own word (its password, or a sign-in
     * before the IdP vouched for it) end, so that whoever held the account before does not stay
     * signed in as the IdP's user. API tokens are kept: the IdP's own connection may be one of them.
     * A password change or reset does the same (password-sign-in.ts, administrators.ts).
     */
    endSignIns,

    /** SonarQube's deactivation: removes memberships, revokes tokens and deletes sessions of `userId`. */
    async deactivate(db: Executor, userId: string, now: string, stamp: EventStamp): Promise<Deactivated> {
      const removedFromGroups = await removeMemberships(db, userId, now, stamp);
      return { memberships: 'removed', removedFromGroups, ...(await endCredentials(db, userId, now, 'deactivated')) };
    },

    /**
     * At a reactivation: ends whatever credentials the user still holds, which should be none.
     * A session, API token or OpenID grant issued in the moment a deactivation ran (its sign-in
     * checked the user just before the deactivation committed, and wrote just after it) survived
     * it; refused while the user was inactive, it would work again once reactivated, though a
     * reactivated user comes back without its old tokens and sessions. `undefined` when none.
     */
    async endLeftovers(db: Executor, userId: string, now: string): Promise<{ leftoverTokens: string[]; leftoverSessions: number } | undefined> {
      const { revokedTokens, deletedSessions } = await endCredentials(db, userId, now, 'reactivated');
      return revokedTokens.length === 0 && deletedSessions === 0 ? undefined : { leftoverTokens: revokedTokens, leftoverSessions: deletedSessions };
    },

    /**
     * Removes the memberships a suspended user kept, when an administrator reactivates it
     * (SonarQube's rule: a reactivated account starts without groups); `undefined` when there
     * were none.
     */
    async dropKeptMemberships(db: Executor, userId: string, now: string, stamp: EventStamp): Promise<{ memberships: 'removed'; removedFromGroups: string[] } | undefined> {
      const removedFromGroups = await removeMemberships(db, userId, now, stamp);
      return removedFromGroups.length === 0 ? undefined : { memberships: 'removed', removedFromGroups };
    },

    /** The ids of the groups `userId` is a member of, for the audit event of a reactivation. */
    async groupIdsOf(db: Executor, userId: string): Promise<string[]> {
      return memberships.groupIdsOfUser(db, userId);
    },
  };
}
