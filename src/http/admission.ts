/**
 * The limit on requests in progress in this process (ROSTER_MAX_CONCURRENT_REQUESTS): a burst
 * beyond it waits in a short first-come-first-served queue (ROSTER_QUEUE_TIMEOUT_MS), then is
 * refused with 503 and Retry-After, so that a burst cannot exhaust this process's memory or its
 * database pool, and nothing waits without end. Per process by nature: it protects this
 * process's resources, not a shared budget (that is the rate limit, kept in the database).
 */
import { RetryLaterError } from '../errors.ts';

/** How this process admits requests. */
export interface AdmissionPolicy {
  /** Requests in progress at most; further ones queue. */
  readonly maxConcurrent: number;
  /** How long a queued request waits for a slot before it is refused. */
  readonly queueTimeoutMs: number;
  /** Requests queued at most; further ones are refused at once. */
  readonly maxQueued: number;
}

/** Seconds a refused client is asked to wait: a queue that overflowed drains within moments. */
export const BUSY_RETRY_AFTER_SECONDS = 1;

/** A slot held by a request; `release` is idempotent. */
export type Release = () => void;

/**
 * Which queue a waiting request joins. `ahead`: provisioning and administration with a token (an
 * IdP's deactivation must not lose its turn to a flood of sign-ins); a slot freed goes to the
 * oldest of them first. Each queue holds `maxQueued` at most.
 */
export type Lane = 'ahead' | 'normal';

/** The counter and queue of one process. */
export interface Admission {
  /**
   * A slot, at once or after waiting in the queue; rejects with RetryLaterError('busy') when none
   * comes in time. `left` is the client going away: a waiter whose client left gives up its
   * place and gets undefined (it holds no slot, so there is nothing to release).
   */
  enter(left?: AbortSignal, lane?: Lane): Promise<Release | undefined>;
  /**
   * A slot for a request that has waited already and can wait longer (a reader of the event
   * feed woken by an event): it queues behind every other waiter, without the queue's time limit
   * or size, and is never refused, so that an event waking many readers at once turns into a
   * queue, not into 503s. `left` as for `enter`.
   */
  enterPatiently(left?: AbortSignal): Promise<Release | undefined>;
  /** Requests in progress and waiting, for tests and metrics. */
  load(): { readonly active: number; readonly queued: number };
}

/** Creates the admission control of one process. */
export function createAdmission(policy: AdmissionPolicy): Admission {
  let active = 0;
  type Waiter = { admit: () => void; timer: NodeJS.Timeout };
  const ahead: Waiter[] = [];
  const normal: Waiter[] = [];
  const patient: Array<{ admit: () => void }> = [];

  const busy = () =>
    new RetryLaterError(
      'busy',
      BUSY_RETRY_AFTER_SECONDS,
      `Roster is handling as many requests as it allows at once (ROSTER_MAX_CONCURRENT_REQUESTS=${policy.maxConcurrent}) and this one waited ${policy.queueTimeoutMs} ms without a turn. Send it again in ${BUSY_RETRY_AFTER_SECONDS} second.`,
    );

  const slot = (): Release => {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = ahead.shift() ?? normal.shift();
      if (next !== undefined) {
        // The slot passes straight to the oldest waiter: the count of active requests stays.
        clearTimeout(next.timer);
        next.admit();
        return;
      }
      const waited = patient.shift();
      if (waited !== undefined) {
        waited.admit();
        return;
      }
      active -= 1;
    };
  };

  /** A slot at once when one is free. */
  const freeSlot = (): Release | undefined => {
    if (active >= policy.maxConcurrent) return undefined;
    active += 1;
    return slot();
  };

  return {
    enter(left, lane = 'normal') {
      if (left?.aborted) return Promise.resolve(undefined);
      const now = freeSlot();
      if (now !== undefined) return Promise.resolve(now);
      const queue = lane === 'ahead' ? ahead : normal;
      if (queue.length >= policy.maxQueued) return Promise.reject(busy());
      return new Promise<Release | undefined>((resolve, reject) => {
        const leaveQueue = () => {
          const index = queue.indexOf(waiter);
          if (index !== -1) queue.splice(index, 1);
          clearTimeout(waiter.timer);
          left?.removeEventListener('abort', gaveUp);
        };
        const gaveUp = () => {
          leaveQueue();
          resolve(undefined);
        };
        const waiter: Waiter = {
          admit: () => {
            left?.removeEventListener('abort', gaveUp);
            resolve(slot());
          },
          timer: setTimeout(() => {
            leaveQueue();
            reject(busy());
          }, policy.queueTimeoutMs),
        };
        queue.push(waiter);
        left?.addEventListener('abort', gaveUp, { once: true });
      });
    },
    enterPatiently(left) {
      if (left?.aborted) return Promise.resolve(undefined);
      const now = freeSlot();
      if (now !== undefined) return Promise.resolve(now);
      return new Promise<Release | undefined>((resolve) => {
        const gaveUp = () => {
          const index = patient.indexOf(waiter);
          if (index !== -1) patient.splice(index, 1);
          resolve(undefined);
        };
        const waiter = {
          admit: () => {
            left?.removeEventListener('abort', gaveUp);
            resolve(slot());
          },
        };
        patient.push(waiter);
        left?.addEventListener('abort', gaveUp, { once: true });
      });
    },
    load() {
      return { active, queued: ahead.length + normal.length + patient.length };
    },
  };
}
