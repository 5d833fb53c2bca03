/**
 * One turn of the event loop: resolves in a macrotask (setImmediate), after the I/O callbacks
 * that are ready, so that requests whose bytes have arrived are read and answered. Microtask
 * turns (an `await` of something already settled) are not enough: every statement on SQLite
 * settles at once (better-sqlite3 is synchronous), so a loop of statements that only awaits
 * them holds every socket of the server until it ends.
 */
export function turnOfEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A pause between two batches of background work that took `heldMs` to run: as long again,
 * at least a turn of the event loop. On SQLite another process (`roster serve` beside the
 * CLI) waits for the write lock by sleeping and trying again; a loop of batches that takes
 * the lock back at once leaves it no gap long enough to land in, so its requests waited
 * seconds, its event loop stopped meanwhile. Half the time is left free.
 */
export function yieldTheDatabase(heldMs: number): Promise<void> {
  if (heldMs < 1) return turnOfEventLoop();
  return new Promise((resolve) => setTimeout(resolve, Math.ceil(heldMs)));
}
