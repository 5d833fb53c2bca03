/**
 * Ending what applications hold of a user through OpenID Connect, and telling them
 * (OpenID Connect Back-Channel Logout 1.0): the one step every path that ends a user's access or
 * sign-ins takes (deactivation, suspension, erasure, "Sign out everywhere", a password change or
 * reset, the IdP taking an account over), inside the caller's transaction.
 *
 * Which applications to tell is read before the provider's rows are deleted, from the user's
 * grants and provider sessions (each session names the applications its browser signed in to),
 * and one outbox row per application with a back-channel logout URI is written in the same
 * transaction: a crash after the commit loses no logout (delivery/logouts.ts sends them), and a
 * change that rolls back queues none.
 */
import { randomUUID } from 'node:crypto';
import type { Executor } from '../store/executor.ts';
import { createOidcQueries } from '../store/oidc.ts';
import { queueLogouts } from '../store/oidc-logouts.ts';

/** What ended a user's sign-ins, as the record of a logout Roster gave up on names it. */
export type LogoutCause = 'deactivated' | 'suspended' | 'signed_out' | 'signed_out_everywhere' | 'password_changed' | 'password_reset' | 'taken_over' | 'reactivated';

/** What ending a user's applications' sign-ins did. */
export interface EndedAtApplications {
  /** The provider's rows deleted (grants, codes, tokens, sessions). */
  readonly rows: number;
  /** The client ids a logout token was queued for. */
  readonly notified: readonly string[];
}

const oidc = createOidcQueries();

/**
 * Deletes everything the OpenID provider holds for `userId` (on every instance at once: they
 * read the same table) and queues a logout for each application it had signed in to that
 * registered a back-channel logout URI. Runs in the caller's transaction.
 */
export async function endApplicationSignIns(db: Executor, userId: string, cause: LogoutCause): Promise<EndedAtApplications> {
  const clientIds = await oidc.clientsOfAccount(db, userId);
  const rows = await oidc.deleteOfAccount(db, userId);
  // Due now by this host's clock: a worker whose clock is behind sends it when its own reaches
  // that instant, seconds at most (serve warns of a larger offset, store/clock.ts).
  const notified = await queueLogouts(db, clientIds.map((clientId) => ({ id: randomUUID(), clientId, subject: userId, cause })), new Date().toISOString());
  return { rows, notified };
}

/**
 * When a browser signs out of Roster (the console, SAML's sign-out): ends the provider's session
 * of that browser (`providerSessionId`, from its cookie), if it is `userId`'s, and queues a
 * logout for each application it signed in to. Grants stay, as before: they are the user's,
 * not one browser's (an application refreshing with one keeps it; OpenID Connect Core §11).
 */
export async function endBrowserSignIns(db: Executor, userId: string, providerSessionId: string): Promise<readonly string[]> {
  const clientIds = await oidc.takeSession(db, providerSessionId, userId);
  if (clientIds === undefined) return [];
  return queueApplicationLogouts(db, userId, clientIds, 'signed_out');
}

/**
 * Queues a logout of `userId` for each of `clientIds` that registered a back-channel logout URI:
 * for RP-initiated logout, where the provider itself ended the browser's provider session (and
 * knows which applications that browser signed in to). Returns the client ids queued for.
 */
export async function queueApplicationLogouts(db: Executor, userId: string, clientIds: readonly string[], cause: LogoutCause): Promise<readonly string[]> {
  return queueLogouts(db, [...new Set(clientIds)].map((clientId) => ({ id: randomUUID(), clientId, subject: userId, cause })), new Date().toISOString());
}
