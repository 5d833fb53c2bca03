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
