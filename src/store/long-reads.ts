/**
 * The share of a PostgreSQL pool that long reads may hold at once. A held snapshot (a list no
 * index serves, a streamed answer, an administrator's search of every user: Store.openSnapshot)
 * keeps one pool connection for as long as it reads, seconds at a million users (a sort on an
 * unindexed attribute, a deep offset). Without a limit, as many of them as the pool has
 * connections lend it out whole, and every other request of the instance (the IdPs' lookups,
 * their writes, sign-ins, `/healthz`) waits for a connection, then fails with 503. With it, they
 * take at most half the pool and queue for the rest; a queued read that gets no slot within
 * the wait is refused as busy (503 with Retry-After). Per process by nature, as the pool is.
 *
 * SQLite needs no such share: its snapshots run on reader threads (sqlite-readers.ts), never on
 * the connection that answers requests.
 */
import { RetryLaterError } from '../errors.ts';

/** How many long reads a pool of `poolSize` connections runs at once: half of it, at least one. */
export function longReadSlots(poolSize: number): number {
  return Math.max(1, Math.floor(poolSize / 2));
}

/** How long a long read waits for a slot before it is refused: the pool's own wait for a connection. */
export const LONG_READ_WAIT_MS = 10_000;

/** Seconds a refused client is asked to wait: about the time a long read takes. */
export const LONG_READ_RETRY_AFTER_SECONDS = 5;

/** Long reads running and queued, for metrics. */
export interface LongReadUse {
  readonly running: number;
  readonly waiting: number;
  readonly slots: number;
}

export interface LongReadShare {
  /**
   * A slot, at once or when one is given back; rejects with RetryLaterError('busy') after
   * `waitMs` without one. The returned function gives it back (idempotent).
   */
  enter(): Promise<() => void>;
  use(): LongReadUse;
}

export function createLongReadShare(slots: number, waitMs: number = LONG_READ_WAIT_MS): LongReadShare {
  let running = 0;
  // First come, first served: a slot given back goes to the oldest waiter.
  const queue: Array<{ admit: () => void }> = [];

  const releaser = (): (() => void) => {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = queue.shift();
      if (next !== undefined) next.admit();
      else running -= 1;
    };
  };

  return {
    enter() {
      if (running < slots) {
        running += 1;
        return Promise.resolve(releaser());
      }
      return new Promise((resolve, reject) => {
        const waiter = {
          // The slot passes from the reader that gave it back to this one: `running` is unchanged.
          admit: () => {
            clearTimeout(timer);
            resolve(releaser());
          },
        };
        const timer = setTimeout(() => {
          queue.splice(queue.indexOf(waiter), 1);
          reject(
            new RetryLaterError(
              'busy',
              LONG_READ_RETRY_AFTER_SECONDS,
              `This instance is already running ${slots} long reads (lists no index serves, answers streamed whole, searches of every user), as many as it allows at once, and none ended within ${Math.round(waitMs / 1000)} s: send the request again in a few seconds, or narrow it (a filter on userName, externalId, emails or displayName is answered by an index).`,
            ),
          );
        }, waitMs);
        queue.push(waiter);
      });
    },
    use: () => ({ running, waiting: queue.length, slots }),
  };
}
