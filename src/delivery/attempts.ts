/**
 * What the two background senders of `roster serve` share (worker.ts, the webhooks; logouts.ts,
 * the back-channel logouts): how a failed request is told in the log of attempts, and the wait
 * between two looks for due work, cut short when the instance stops.
 */

/** Why no answer came, in a few words: the timeout, or the network's code and message. */
export function describeFailure(error: unknown, timeoutMs: number): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError') return `no answer within ${timeoutMs / 1000} s`;
    const cause = (error as { cause?: unknown }).cause;
    if (cause instanceof Error) {
      const code = (cause as { code?: unknown }).code;
      return typeof code === 'string' ? `${code}: ${cause.message}` : cause.message;
    }
    return error.message;
  }
  return String(error);
}

/** Resolves after `ms`, or at once when `signal` aborts; leaves no listener on `signal`. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
