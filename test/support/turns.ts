/**
 * Whether `work` gives the event loop a turn before it ends: a timer due at once fires at the
 * loop's next turn, so it fires before `work` settles only if `work` let the loop turn (on
 * SQLite every statement answers at once; on PostgreSQL every statement waits for the server).
 */
export async function timerRunsDuring<T>(work: () => Promise<T>): Promise<{ value: T; timerRan: boolean }> {
  let timerRan = false;
  const running = work();
  const timer = setTimeout(() => {
    timerRan = true;
  }, 0);
  try {
    return { value: await running, timerRan };
  } finally {
    clearTimeout(timer);
  }
}
