/**
 * Per-token rate limits of the SCIM and admin APIs (ROSTER_RATE_LIMIT requests per minute,
 * ROSTER_RATE_LIMIT_BURST at once), one budget per token shared by every instance through the
 * database (ARCHITECTURE.md, Scale-out). GCRA, the token bucket in one timestamp per key: after
 * a quiet period a token may send `burst` requests at once, and then one per 60/perMinute s.
 *
 * Asking the database for every request would add a write to each one, so each instance
 * reserves a chunk of requests at a time (one upsert: store/rate-limits.ts) and hands them out
 * from memory. What that costs in accuracy is bounded and documented (docs/operations.md):
 * a request reserved but not yet used by one instance is unavailable to the others, so a
 * token may be refused up to (instances − 1) × chunk requests early, and may send up to
 * chunk requests per instance late, from a reservation made earlier. Refusals are remembered
 * locally until the Retry-After they announced, so a client hammering past its limit costs no
 * database work.
 *
 * A database that cannot take the reservation's write (a full disk, a read-only standby, a
 * timeout) must not refuse requests that only read: for a few seconds after such a refusal each
 * instance counts its budgets in memory alone, with the same GCRA, and then asks the database
 * again. Meanwhile every instance allows the whole limit (documented in docs/operations.md).
 */
import { optionalWrites, type Store } from '../store/index.ts';
import { createRateLimitQueries, type Reservation } from '../store/rate-limits.ts';
import { inBatches } from '../store/transact.ts';
import { RetryLaterError } from '../errors.ts';

/** A rate limit: requests per minute, sustained, and how many may come at once. */
export interface RateLimitPolicy {
  readonly perMinute: number;
  readonly burst: number;
}

/**
 * 6,000 requests per minute (100 per second) per token: four times the 25 requests per second
 * per tenant that Microsoft requires SCIM endpoints in the Entra gallery to sustain, so that
 * an IdP is never slowed by the default (docs/operations.md cites the sources).
 */
export const DEFAULT_RATE_LIMIT_PER_MINUTE = 6000;

/**
 * OpenID Connect sign-ins (authorization requests) started per minute from one client address:
 * ten a second, sustained, and half a minute's worth at once, for a company's offices behind one
 * address at the start of the day; a single client flooding the endpoint stored rows at 300 a
 * second without it.
 */
export const DEFAULT_SIGN_IN_RATE_LIMIT = 600;

/** The policy of ROSTER_OIDC_RATE_LIMIT: `perMinute`, and half of it at once. */
export function signInPolicy(perMinute: number): RateLimitPolicy {
  return Object.freeze({ perMinute, burst: Math.max(1, Math.ceil(perMinute / 2)) });
}

/** Requests reserved at once at most: with the default burst, one upsert per 30 requests. */
const MAX_CHUNK = 50;
/**
 * Keys remembered in memory before idle ones are forgotten. The sign-in limit is keyed by client
 * address, so without forgetting, every address that ever started a sign-in would stay.
 */
const MAX_KEYS = 10_000;
/** Keys deleted per statement by purge, so that a purge never turns into a long statement. */
const PURGE_BATCH = 500;
/** How long budgets are counted in memory after the database could not take a reservation. */
const LOCAL_COUNTING_MS = 5_000;

/** The rate limits of the APIs. */
export interface RateLimits {
  /** Counts one request of `key` (`token:<id>`, `session:<user id>`); rejects with RetryLaterError('rate_limited') beyond the limit. */
  take(key: string): Promise<void>;
  /** Deletes the rows of keys whose budget is whole again, in batches with a turn of the event loop between them; returns how many. */
  purge(): Promise<number>;
  /** Requests reserved at once by this instance (the documented overshoot is bounded by it). */
  readonly chunk: number;
  /** How many keys this instance holds a budget for in memory (at most about twice MAX_KEYS, plus the keys of the last few seconds). */
  keysInMemory(): number;
}

/** The chunk for a policy: a twentieth of the burst, from 1 to MAX_CHUNK. */
export function chunkFor(policy: RateLimitPolicy): number {
  return Math.max(1, Math.min(MAX_CHUNK, Math.floor(policy.burst / 20)));
}

interface LocalBudget {
  /** Requests reserved from the database and not yet used. */
  units: number;
  /** Until when (ms) refusals need no database work. */
  refusedUntil: number;
  /** Seconds announced with that refusal. */
  retryAfter: number;
  pending: Promise<void> | undefined;
  /** The key's theoretical arrival time (µs) while budgets are counted in memory. */
  localFreeAtUs: number;
  /**
   * When (µs) the last reservation's time is all past: from then on the database gives this key a
   * whole chunk again, so the units left unused are worth nothing and the budget may be forgotten.
   */
  spentAtUs: number;
}

/** Creates the limiter over `store`; without a policy every request passes. `now` (ms) and `maxKeys` are for tests. */
export function createRateLimits(
  store: Store,
  policy: RateLimitPolicy | undefined,
  options: { now?: () => number; refusal?: (policy: RateLimitPolicy, retryAfterSeconds: number) => string; maxKeys?: number } = {},
): RateLimits {
  const now = options.now ?? Date.now;
  const queries = createRateLimitQueries(store.dialect);
  const purge = (): Promise<number> => {
    const beforeUs = now() * 1000;
    return inBatches(store.db, PURGE_BATCH, (trx) => queries.purge(trx, beforeUs, PURGE_BATCH));
  };
  if (policy === undefined) {
    return { take: async () => {}, purge, chunk: 0, keysInMemory: () => 0 };
  }
  const limit = { intervalUs: 60_000_000 / policy.perMinute, burst: policy.burst };
  const chunk = chunkFor(policy);
  const budgets = new Map<string, LocalBudget>();
  /** Reservations in the database, left to memory for LOCAL_COUNTING_MS after one it could not take. */
  const inDatabase = optionalWrites(LOCAL_COUNTING_MS, now);

  /** A reservation as the database makes it (store/rate-limits.ts), from the budget's own state. */
  const reserveInMemory = (budget: LocalBudget, nowUs: number): Reservation => {
    const base = Math.max(budget.localFreeAtUs, nowUs);
    const fits = Math.max(0, Math.floor((nowUs + limit.burst * limit.intervalUs - base) / limit.intervalUs));
    const granted = Math.min(chunk, fits);
    budget.localFreeAtUs = base + granted * limit.intervalUs;
    return { granted, freeAt: budget.localFreeAtUs };
  };

  const reservation = async (key: string, budget: LocalBudget, nowUs: number): Promise<Reservation> =>
    (await inDatabase(() => queries.reserve(store.db, key, chunk, nowUs, limit))) ?? reserveInMemory(budget, nowUs);

  const refusal = (budget: LocalBudget) =>
    new RetryLaterError(
      'rate_limited',
      budget.retryAfter,
      options.refusal?.(policy, budget.retryAfter) ??
        `Too many requests with this token: Roster allows ${policy.perMinute} requests per minute per token, ${policy.burst} at once (ROSTER_RATE_LIMIT, ROSTER_RATE_LIMIT_BURST). Retry after ${budget.retryAfter} seconds.`,
    );

  const maxKeys = options.maxKeys ?? MAX_KEYS;
  // The size past which budgets are looked through again: twice what the last look kept, so that
  // a map full of recent keys is not scanned whole for every new one.
  let sweepAbove = maxKeys;
  const forgetIdle = (at: number): void => {
    if (budgets.size <= sweepAbove) return;
    // A budget with units left is idle too once its reservation's time is past: a key used once
    // (a sign-in from one address) keeps its unused units for ever, and was never forgotten.
    for (const [key, budget] of budgets) {
      if (budget.pending === undefined && budget.refusedUntil <= at && (budget.units === 0 || budget.spentAtUs <= at * 1000)) budgets.delete(key);
    }
    sweepAbove = Math.max(maxKeys, 2 * budgets.size);
  };

  const reserve = async (key: string, budget: LocalBudget): Promise<void> => {
    const nowUs = now() * 1000;
    const { granted, freeAt } = await reservation(key, budget, nowUs);
    budget.units += granted;
    budget.spentAtUs = freeAt;
    if (granted === 0) {
      // The next request fits once free_at − (burst − 1)·T has passed.
      const waitUs = freeAt - (limit.burst - 1) * limit.intervalUs - nowUs;
      budget.retryAfter = Math.max(1, Math.ceil(waitUs / 1_000_000));
      budget.refusedUntil = now() + budget.retryAfter * 1000;
    }
  };

  return {
    chunk,
    async take(key) {
      for (;;) {
        let budget = budgets.get(key);
        if (budget === undefined) {
          forgetIdle(now());
          budget = { units: 0, refusedUntil: 0, retryAfter: 0, pending: undefined, localFreeAtUs: 0, spentAtUs: 0 };
          budgets.set(key, budget);
        }
        if (budget.units > 0) {
          budget.units -= 1;
          return;
        }
        if (now() < budget.refusedUntil) throw refusal(budget);
        // One reservation per key at a time; the others wait for it and try again.
        if (budget.pending === undefined) {
          const current = budget;
          current.pending = reserve(key, current).finally(() => {
            current.pending = undefined;
          });
        }
        await budget.pending;
      }
    },
    purge,
    keysInMemory: () => budgets.size,
  };
}
