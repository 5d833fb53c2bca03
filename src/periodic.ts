/**
 * Background work inside `roster serve` (retention clean-ups): a task run at start and then at
 * a fixed interval. Instances hold no lease: every task run here must be safe to run on
 * several instances at once (ARCHITECTURE.md, Scale-out), as deleting expired rows is.
 */

/** A running periodic task. */
export interface Periodic {
  /** Cancels the next runs and waits for a run in flight, so that the store can be closed. */
  stop(): Promise<void>;
}

/**
 * Runs `task` at once and then `intervalMs` after each run ends, never two runs at a time.
 * `task` handles its own errors (logs them); a rejection here is swallowed so that the next
 * run still happens. The timer does not keep the process alive.
 */
export function runPeriodically(task: () => Promise<void>, intervalMs: number): Periodic {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const run = (): void => {
    timer = undefined;
    if (stopped) return;
    running = task()
      .catch(() => {})
      .finally(() => {
        if (!stopped) timer = setTimeout(run, intervalMs).unref();
      });
  };
  run();

  return {
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await running;
    },
  };
}

/** One step of a clean-up run: what it does, in words for the log, and the work. */
export interface CleanupStep {
  readonly name: string;
  run(): Promise<void>;
}

/**
 * Runs every step, one after the other; a step that fails is reported (`failed`) and the next
 * ones still run, so that one table's trouble does not leave every other to grow until the next
 * run.
 */
export async function runEachStep(steps: readonly CleanupStep[], failed: (step: CleanupStep, error: unknown) => void): Promise<void> {
  for (const step of steps) {
    try {
      await step.run();
    } catch (error) {
      failed(step, error);
    }
  }
}
