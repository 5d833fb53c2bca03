/**
 * OpenID Connect Back-Channel Logout 1.0, in the background of `roster serve` (main.ts): each
 * instance claims due rows of the logout outbox (store/oidc-logouts.ts explains the claims),
 * signs a Logout Token for each with the provider's current signing key (the first key the JWKS
 * publishes, auth/oidc-keys.ts) and POSTs it to the application's back-channel logout URI.
 *
 * At least once, bounded: a row is deleted only after a 2xx (or once Roster gives up), so an
 * instance killed mid-request leaves it to be claimed again when its lease ends. A failure
 * (no answer within the timeout, a refused connection, any status but 2xx) is tried again after
 * the next delay of the schedule; after the last one Roster gives up: the row is deleted, an
 * `application.backchannel_logout_failed` audit entry and a `warn` line say which application,
 * which user and why, in one transaction. The token's `jti` is the row's id, the same at every
 * attempt, so that an application can tell a retry of a logout it already processed.
 */
import { createPrivateKey, randomUUID, sign, type JsonWebKey } from 'node:crypto';
import { hostname } from 'node:os';
import { loadOidcKeys, publishedKeys } from '../auth/oidc-keys.ts';
import { createJournal } from '../journal/journal.ts';
import type { Store } from '../store/index.ts';
import { claimLogouts, releaseLogout, removeClaimedLogout, retryClaimedLogout, type ClaimedLogout } from '../store/oidc-logouts.ts';
import { transact } from '../store/transact.ts';
import { combineSignals } from '../signals.ts';
import { describeDuration, retryAfterMs, withJitter } from './schedule.ts';
import { describeFailure, sleep } from './attempts.ts';

/** The `events` member that makes a JWT a Logout Token (OpenID Connect Back-Channel Logout 1.0 §2.4). */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** The Logout Token's `typ` header (§2.4, as recommended by RFC 8725 §3.11). */
export const LOGOUT_TOKEN_TYPE = 'logout+jwt';
/** How long a Logout Token is valid: the specification recommends at most two minutes (§2.4). */
export const LOGOUT_TOKEN_TTL_SECONDS = 120;

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/**
 * The delays before each retry: 10 attempts over about 16 hours, then Roster gives up. Long
 * enough to ride out an application's deployment or a night's outage; bounded, so that an
 * application that is gone does not keep rows for ever, and the administrator hears of it.
 */
export const DEFAULT_LOGOUT_RETRY_SCHEDULE_MS: readonly number[] = [5 * SECOND, 30 * SECOND, 2 * MINUTE, 10 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 4 * HOUR, 8 * HOUR];
/** How long an application has to answer one attempt. */
export const LOGOUT_TIMEOUT_MS = 10_000;
/** How long a claim holds: longer than an attempt can last, so that no renewal is needed. */
const DEFAULT_LEASE_MS = 60_000;
const DEFAULT_POLL_MS = 1000;
/** Logouts one instance sends at once. */
const DEFAULT_CONCURRENCY = 8;

/** What a logout came to, for the metrics: sent, to be tried again, given up, or dropped (its application deleted or no longer listening). */
export type LogoutOutcome = 'delivered' | 'retrying' | 'given_up' | 'dropped';

export interface LogoutLog {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

export interface LogoutDeliveryOptions {
  /** The provider's issuer (ROSTER_BASE_URL): the tokens' `iss`, as in the ID tokens. */
  readonly issuer: string;
  readonly retrySchedule?: readonly number[];
  readonly leaseMs?: number;
  readonly pollMs?: number;
  readonly concurrency?: number;
  readonly timeoutMs?: number;
  /** This instance's name in claims; unique per process by default. */
  readonly instance?: string;
  readonly log?: LogoutLog;
  /** Told the outcome of every attempt (the metrics). */
  readonly observe?: (outcome: LogoutOutcome) => void;
  /** The time of leases and retries, which other instances compare with theirs (services.clock.now in serve). */
  readonly now?: () => number;
}

/** The running worker. */
export interface LogoutWorker {
  readonly instance: string;
  /** Stops claiming, aborts requests in flight and gives their claims back. */
  stop(): Promise<void>;
}

/** What one attempt came to: null when it was answered 2xx, else why not. */
interface Attempt {
  readonly error: string | null;
  readonly retryAfterMs: number | undefined;
}

/** A Logout Token for `logout`, signed with `jwk` (a private RSA JWK of the provider). */
export function logoutToken(jwk: Readonly<Record<string, unknown>>, claims: { readonly issuer: string; readonly clientId: string; readonly subject: string; readonly jti: string; readonly now: number }): string {
  const iat = Math.floor(claims.now / 1000);
  const header = { alg: 'RS256', typ: LOGOUT_TOKEN_TYPE, kid: String(jwk['kid']) };
  // No `nonce` (§2.4 forbids it) and no `sid`: Roster's ID tokens carry none (docs/applications.md).
  const payload = { iss: claims.issuer, aud: claims.clientId, iat, exp: iat + LOGOUT_TOKEN_TTL_SECONDS, jti: claims.jti, sub: claims.subject, events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } };
  const encode = (part: object): string => Buffer.from(JSON.stringify(part)).toString('base64url');
  const input = `${encode(header)}.${encode(payload)}`;
  const key = createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' });
  return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

/** Starts sending the queued logouts in the background. */
export function startLogoutDeliveries(store: Store, options: LogoutDeliveryOptions): LogoutWorker {
  const instance = options.instance ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const schedule = options.retrySchedule ?? DEFAULT_LOGOUT_RETRY_SCHEDULE_MS;
  const timeoutMs = options.timeoutMs ?? LOGOUT_TIMEOUT_MS;
  const leaseMs = Math.max(options.leaseMs ?? DEFAULT_LEASE_MS, 2 * timeoutMs);
  const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  const clock = options.now ?? Date.now;
  const journal = createJournal(store.dialect);
  const stopping = new AbortController();
  const iso = (ms: number): string => new Date(ms).toISOString();

  /** POSTs the token; aborted by the timeout or the worker's stop. */
  async function post(uri: string, token: string): Promise<Attempt> {
    const timedOut = new AbortController();
    // A timer of our own, not AbortSignal.timeout (delivery/worker.ts says why).
    const timer = setTimeout(() => timedOut.abort(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError')), timeoutMs);
    const either = combineSignals(timedOut.signal, stopping.signal);
    try {
      const response = await fetch(uri, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'Roster-Backchannel-Logout/1', 'cache-control': 'no-store' },
        body: new URLSearchParams({ logout_token: token }).toString(),
        // A 3xx is an answer, not a place to go (§2.8 asks for 200; the token names a user).
        redirect: 'manual',
        signal: either.signal,
      });
      await response.body?.cancel().catch(() => {});
      const status = response.status;
      if (status >= 200 && status < 300) return { error: null, retryAfterMs: undefined };
      const retryAfter = status === 429 || status === 503 ? retryAfterMs(response.headers.get('retry-after'), new Date()) : undefined;
      return { error: status >= 300 && status < 400 ? `answered ${status}; redirects are not followed` : `answered ${status}`, retryAfterMs: retryAfter };
    } catch (error) {
      return { error: describeFailure(error, timeoutMs), retryAfterMs: undefined };
    } finally {
      clearTimeout(timer);
      either.release();
    }
  }

  /** Records a failed attempt: a retry later, or the end of the schedule (audited, logged, deleted). */
  async function failed(logout: ClaimedLogout, uri: string, attempt: Attempt): Promise<void> {
    const attempts = logout.attempts + 1;
    const error = attempt.error ?? 'failed';
    const now = clock();
    if (attempts <= schedule.length) {
      const delay = Math.max(withJitter(schedule[attempts - 1] ?? 0), attempt.retryAfterMs ?? 0);
      if (await retryClaimedLogout(store.db, logout.id, instance, { attempts, error, nextAttemptAt: iso(now + delay) })) options.observe?.('retrying');
      return;
    }
    const over = describeDuration(now - Date.parse(logout.createdAt));
    const details = { application: logout.applicationName, clientId: logout.clientId, userId: logout.subject, uri, cause: logout.cause, attempts, queuedAt: logout.createdAt, lastError: error };
    const gaveUp = await transact(store.db, async (trx) => {
      // Only while the claim holds: an instance that took the row over sends it itself.
      if (!(await removeClaimedLogout(trx, logout.id, instance))) return false;
      await journal.record(trx, { kind: 'system' }, { action: 'application.backchannel_logout_failed', targetType: 'application', targetId: logout.clientId, details }, iso(now));
      return true;
    });
    if (!gaveUp) return;
    options.observe?.('given_up');
    options.log?.warn(details, `gave up on the back-channel logout of user ${logout.subject} at application ${logout.applicationName ?? logout.clientId} after ${attempts} failed attempts over ${over}: the application may keep the user signed in (audited as application.backchannel_logout_failed)`);
  }

  /** Sends one claimed logout and records what came of it. */
  async function deliver(logout: ClaimedLogout): Promise<void> {
    if (logout.uri === null) {
      // The application was deleted, or no longer has a URI: nobody to tell.
      if (await removeClaimedLogout(store.db, logout.id, instance)) {
        options.observe?.('dropped');
        options.log?.info({ clientId: logout.clientId, userId: logout.subject }, 'dropped a back-channel logout: its application was deleted or no longer has a back-channel logout URI');
      }
      return;
    }
    const keys = await loadOidcKeys(store);
    // The key that signs the provider's tokens now: the first of those its JWKS publishes.
    const jwk = publishedKeys(keys.material, Date.now())[0];
    if (jwk === undefined) throw new Error('the OpenID provider has no signing key');
    const token = logoutToken(jwk, { issuer: options.issuer, clientId: logout.clientId, subject: logout.subject, jti: logout.id, now: clock() });
    const attempt = await post(logout.uri, token);
    // Stopped mid-request: no verdict; the claim is given back and the logout sent again.
    if (stopping.signal.aborted) {
      await releaseLogout(store.db, logout.id, instance);
      return;
    }
    if (attempt.error === null) {
      // Lost claim (this instance outlived its lease): the holder sends it again, as at-least-once allows.
      await removeClaimedLogout(store.db, logout.id, instance);
      options.observe?.('delivered');
      return;
    }
    await failed(logout, logout.uri, attempt);
  }

  const serving = new Set<Promise<void>>();

  async function claimDue(): Promise<number> {
    const free = concurrency - serving.size;
    if (free <= 0) return 0;
    const now = clock();
    const claimed = await transact(store.db, (trx) => claimLogouts(trx, store.dialect, instance, iso(now), iso(now + leaseMs), free));
    for (const logout of claimed) {
      const served: Promise<void> = deliver(logout)
        .catch((error: unknown) => options.log?.warn({ err: error, clientId: logout.clientId, userId: logout.subject }, 'a back-channel logout failed to be sent or recorded; it is sent again when its claim runs out'))
        .finally(() => serving.delete(served));
      serving.add(served);
    }
    return claimed.length;
  }

  // One pending poll timer at a time, whichever wakes the loop first (delivery/worker.ts says why).
  let poll: Promise<void> | undefined;
  const nextPoll = (): Promise<void> =>
    (poll ??= sleep(pollMs, stopping.signal).then(() => {
      poll = undefined;
    }));

  const running = (async () => {
    while (!stopping.signal.aborted) {
      let claimed = 0;
      try {
        claimed = await claimDue();
      } catch (error) {
        options.log?.warn({ err: error }, 'back-channel logouts: looking for due logouts failed; trying again shortly');
      }
      if (stopping.signal.aborted || (claimed > 0 && serving.size < concurrency)) continue;
      await Promise.race([nextPoll(), ...serving]);
    }
    await Promise.all(serving);
  })();

  return {
    instance,
    async stop() {
      stopping.abort();
      await running;
    },
  };
}
