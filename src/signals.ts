/**
 * Abort signals combined without AbortSignal.any. On Node 20, AbortSignal.any adds an entry to
 * each source signal's set of dependants and never takes it out, however soon the combined
 * signal is gone: combining each request's signal with one that lives as long as the process
 * (the instance stopping) grew that set by one entry per request for as long as the instance ran
 * (docs/operations.md, "A long-running instance").
 */
import { setMaxListeners } from 'node:events';

/** A signal that aborts when one of `signals` does; `release()` unhooks it from all of them. */
export interface CombinedSignal {
  readonly signal: AbortSignal;
  /** Removes the combined signal's listeners from its sources; call it once the wait is over. */
  release(): void;
}

/**
 * Combines `signals` through one abort listener on each, which `release()` (or the first abort)
 * removes: a long-lived source keeps nothing of a combination once it is released. A source may
 * carry any number of combinations at once (every reader waiting on the instance stopping), so
 * Node's warning past 10 listeners is turned off on each: it would report as a leak what is
 * released by design.
 */
export function combineSignals(...signals: readonly AbortSignal[]): CombinedSignal {
  const controller = new AbortController();
  for (const signal of signals) setMaxListeners(0, signal);
  const onAbort = (event: Event): void => {
    release();
    controller.abort((event.target as AbortSignal).reason);
  };
  const release = (): void => {
    for (const signal of signals) signal.removeEventListener('abort', onAbort);
  };
  const aborted = signals.find((signal) => signal.aborted);
  if (aborted !== undefined) controller.abort(aborted.reason);
  else for (const signal of signals) signal.addEventListener('abort', onAbort, { once: true });
  return { signal: controller.signal, release };
}
