/**
 * Readiness (/healthz: may this instance be sent traffic? It needs its database) and liveness
 * (/livez: is the process alive? A database outage is no reason to restart it). Orchestrators
 * and load balancers probe every few seconds on every instance; the database check is cached
 * so that probes cost at most one `SELECT 1` per second, and bounded so that a database that
 * does not answer cannot make the probe itself hang.
 */

/**
 * How long the database may take to answer the readiness check before it counts as down; the
 * check's connection is then closed (Store.ping), so that it is not left waiting on a dead one.
 */
export const READINESS_TIMEOUT_MS = 1000;
/** How long one readiness answer is reused. */
export const READINESS_CACHE_MS = 1000;

/** Whether the database answered, as the readiness probe reports it. */
export type Readiness = () => Promise<boolean>;

/**
 * Wraps `check` (resolves when the database answers) into a cached, time-bounded readiness
 * test: concurrent probes within `cacheMs` share one check; a check slower than `timeoutMs`
 * counts as a failure (it goes on in the background and is not waited for: `check` bounds its
 * own work, as Store.ping does).
 */
export function createReadiness(check: () => Promise<void>, options: { timeoutMs?: number; cacheMs?: number; now?: () => number } = {}): Readiness {
  const timeoutMs = options.timeoutMs ?? READINESS_TIMEOUT_MS;
  const cacheMs = options.cacheMs ?? READINESS_CACHE_MS;
  const now = options.now ?? Date.now;
  let last: { at: number; ready: Promise<boolean> } | undefined;
  return () => {
    const at = now();
    if (last !== undefined && at - last.at < cacheMs) return last.ready;
    const ready = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      check().then(
        () => {
          clearTimeout(timer);
          resolve(true);
        },
        () => {
          clearTimeout(timer);
          resolve(false);
        },
      );
    });
    last = { at, ready };
    return ready;
  };
}
