/** Write transactions that survive a transient conflict with another transaction, and read snapshots. */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { DialectAdapter } from './dialect.ts';
import { isDatabaseUnavailable, isTransientConflict } from './errors.ts';
import type { Executor } from './executor.ts';
import type { Database } from './tables.ts';
import type { Store } from './types.ts';
import { turnOfEventLoop, yieldTheDatabase } from './turn.ts';

const ATTEMPTS = 3;
/** Most write transactions committed together: bounds how long the last one waits for the first. */
const MAX_GROUP = 64;

type Work<T> = (trx: Transaction<Database>) => Promise<T>;

interface Pending {
  readonly work: Work<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** The databases whose write transactions are committed in groups (commitInGroups). */
const groups = new WeakMap<Kysely<Database>, (work: Work<unknown>) => Promise<unknown>>();

/**
 * The access mode the group commit asks for, and only it: the SQLite driver (sqlite.ts) keeps the
 * statement journal of such a transaction, which holds the savepoints' pages, in memory.
 */
export const GROUP_COMMIT_ACCESS_MODE = 'read write';

/** Runs `work` in one transaction, again (up to 3 attempts in all) after a deadlock or a busy lock. */
async function transactAlone<T>(db: Kysely<Database>, work: Work<T>, accessMode?: typeof GROUP_COMMIT_ACCESS_MODE): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      const transaction = db.transaction();
      return await (accessMode === undefined ? transaction : transaction.setAccessMode(accessMode)).execute(work);
    } catch (error) {
      if (attempt >= ATTEMPTS || !isTransientConflict(error)) throw error;
      // A little random back-off, so that the two losers of a deadlock do not meet again.
      await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * attempt));
    }
  }
}

/**
 * Runs `work` in one transaction, and again (up to 3 attempts in all) when the database
 * rolled it back for a deadlock or a busy lock. `work` must therefore have no effect outside
 * the database until it returns; everything it read is read again.
 *
 * On a database set up with commitInGroups (SQLite), write transactions that wait for the
 * one in progress are committed together; each still succeeds or fails alone and is
 * answered only once its commit is on disk.
 */
export async function transact<T>(db: Kysely<Database>, work: Work<T>): Promise<T> {
  const grouped = groups.get(db);
  if (grouped !== undefined) return grouped(work) as Promise<T>;
  return transactAlone(db, work);
}

/**
 * Works through rows `size` at a time: runs `batch` (which deletes, or otherwise handles, at
 * most `size` rows and says how many) in a transaction of its own (`transact`), again until one
 * handles fewer; returns the total. A pause comes between batches (`yieldTheDatabase`), so that
 * a clean-up of any backlog is many short statements with other requests answered between them:
 * on SQLite every statement answers at once, and 100,000 ended sessions deleted without a turn
 * held every request of the server for 1.4 s; and a CLI clean-up (`roster scim purge-activity`)
 * leaves the server beside it gaps to write in.
 */
export async function inBatches(db: Kysely<Database>, size: number, batch: Work<number>): Promise<number> {
  let total = 0;
  for (;;) {
    const started = performance.now();
    const handled = await transact(db, batch);
    total += handled;
    if (handled < size) return total;
    await yieldTheDatabase(performance.now() - started);
  }
}

/**
 * Group commit for a database with one writer whose every commit waits for the disk (SQLite
 * with synchronous=FULL: one fsync of the log per commit, several milliseconds). Write
 * transactions that arrive while one is in progress queue; the next transaction runs each
 * of them in turn, each inside its own SAVEPOINT, and commits once. So:
 * - each `work` is atomic on its own: when it throws, its savepoint is rolled back and only
 *   its caller gets the error; the others commit;
 * - they run one after the other in arrival order, each seeing the ones before, exactly as
 *   if they had been separate transactions taken in that order (SQLite serialises writers
 *   anyway);
 * - none is answered before the commit is durable; a failed commit fails them all.
 * Only one connection writes, so the queue lives in this process; other processes on the
 * same file still take the write lock per transaction (BEGIN IMMEDIATE).
 */
export function commitInGroups(db: Kysely<Database>): void {
  let queue: Pending[] = [];
  let running = false;

  /** Commits the next group: the writes queued by the time the connection is free. */
  async function commitGroup(): Promise<void> {
    // Taken once the transaction holds the connection, not before: writes that arrive while it
    // waits for reads or for the previous commit join this group.
    let batch: Pending[] | undefined;
    let outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      await transactAlone(db, async (trx) => {
        if (batch === undefined) {
          batch = queue.slice(0, MAX_GROUP);
          queue = queue.slice(batch.length);
        }
        // Run again from the start when the whole group is retried.
        outcomes = [];
        if (batch.length === 1) {
          // Alone: the transaction is the work's own, as without grouping.
          try {
            outcomes.push({ ok: true, value: await batch[0]!.work(trx) });
          } catch (error) {
            outcomes.push({ ok: false, error });
            throw error;
          }
          return;
        }
        for (const { work } of batch) {
          await sql`SAVEPOINT roster_grouped`.execute(trx);
          try {
            const value = await work(trx);
            await sql`RELEASE roster_grouped`.execute(trx);
            outcomes.push({ ok: true, value });
          } catch (error) {
            // A busy lock or a deadlock concerns the whole transaction: retry it all. A database
            // that cannot be written (a full disk) concerns it too: SQLite may already have rolled
            // the whole transaction back, so the whole group fails with that error (a 503).
            if (isTransientConflict(error) || isDatabaseUnavailable(error)) throw error;
            try {
              await sql`ROLLBACK TO roster_grouped`.execute(trx);
            } catch {
              // The transaction is gone (the database ended it): every write of the group fails,
              // with this work's error, which says why, rather than "no such savepoint".
              throw error;
            }
            await sql`RELEASE roster_grouped`.execute(trx);
            outcomes.push({ ok: false, error });
          }
        }
      }, GROUP_COMMIT_ACCESS_MODE);
    } catch (error) {
      // A transaction that failed before it took its group (BEGIN refused: a full or read-only
      // disk, a lost file) fails the writes it would have taken; left queued, drain would try
      // them again at once, forever.
      if (batch === undefined) {
        batch = queue.slice(0, MAX_GROUP);
        queue = queue.slice(batch.length);
      }
      for (const pending of batch) pending.reject(error);
      return;
    }
    (batch ?? []).forEach((pending, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) pending.resolve(outcome.value);
      else pending.reject(outcome.error);
    });
  }

  async function drain(): Promise<void> {
    running = true;
    try {
      while (queue.length > 0) {
        // One turn of the event loop first, so that the requests whose bytes have already
        // arrived reach the queue and join this group instead of waiting for the next commit,
        // during which (SQLite's commit blocks the thread while it syncs) nothing else moves
        // forward. A macrotask, not microtask turns: each request is parsed in its own I/O
        // callback, and every database call here resolves at once (better-sqlite3 is
        // synchronous), so microtask turns only ever let the request that queued the write
        // run: each group held one write, and paid a sync and its pages alone (1,550 creates
        // a second with 8 clients; 3,000 with this turn). A caller that loops over reads
        // without ever yielding to the event loop holds the group back, as it holds back
        // every socket of the server.
        await turnOfEventLoop();
        await commitGroup();
      }
    } finally {
      running = false;
    }
  }

  groups.set(db, (work) =>
    new Promise((resolve, reject) => {
      queue.push({ work, resolve, reject });
      if (!running) void drain();
    }),
  );
}

/**
 * Runs `work` in one read-only snapshot, so that several reads (a count and a page, say)
 * agree with each other even while other instances write: PostgreSQL's READ COMMITTED would
 * take a new snapshot per statement. Read-only: no locks taken, none waited for.
 */
export async function readSnapshot<T>(db: Kysely<Database>, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  return db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only').execute(work);
}

/**
 * Runs `work` in one read snapshot that it may hold across turns of the event loop (a read in
 * windows with a turn between them, so that other requests are answered meanwhile), and that
 * may take long (Store.openSnapshot): on SQLite a connection of its own on a reader thread,
 * since a read transaction on the main connection would hold every other statement until it
 * ends, and a long statement the thread answering requests; on PostgreSQL a pool connection
 * within the share long reads may hold (long-reads.ts), so that they never hold the whole pool.
 */
export async function readSnapshotAcrossTurns<T>(store: Pick<Store, 'openSnapshot'>, work: (db: Executor) => Promise<T>): Promise<T> {
  const snapshot = await store.openSnapshot();
  try {
    return await work(snapshot.db);
  } finally {
    await snapshot.end();
  }
}

/**
 * A read snapshot for a list: a plain one when `indexed` (an index finds its few rows:
 * store/indexed-filters.ts), else as readSnapshotAcrossTurns, where a list that reads every row
 * holds no other request: on SQLite a reader thread, on PostgreSQL a connection of the long
 * reads' share of the pool. The reader thread costs a list 2.5 ms (its statements are messages
 * to another thread), and the share may make a list wait: the IdPs' lookups need neither.
 */
export function readListSnapshot<T>(store: Pick<Store, 'db' | 'dialect' | 'openSnapshot'>, indexed: boolean, work: (db: Executor) => Promise<T>): Promise<T> {
  return indexed ? readSnapshot(store.db, work) : readSnapshotAcrossTurns(store, work);
}

/**
 * Runs `work`, writes that may be lost in a power cut but never half applied (the provisioning
 * activity, written behind the responses), without waiting for the disk on SQLite: their
 * commits use `synchronous = NORMAL`, so they skip the fsync every other commit pays (4–6 ms
 * of a blocked thread each, about a third of the time of a read-only load at 6,000 requests a
 * second). They reach the disk with the next commit that syncs the log, or at a checkpoint; in
 * WAL mode a commit without the sync is still atomic (https://www.sqlite.org/pragma.html#pragma_synchronous).
 * The connection is held for the duration, so no other write runs meanwhile, and it is set back
 * to `FULL` before it is released. PostgreSQL commits in groups by itself: there `work` runs as is.
 */
export async function withoutWaitingForDisk<T>(store: { readonly db: Kysely<Database>; readonly dialect: DialectAdapter }, work: (db: Executor) => Promise<T>): Promise<T> {
  if (store.dialect.name !== 'sqlite') return work(store.db);
  return store.db.connection().execute(async (connection) => {
    await sql`PRAGMA synchronous = NORMAL`.execute(connection);
    try {
      return await work(connection);
    } finally {
      await sql`PRAGMA synchronous = FULL`.execute(connection);
    }
  });
}
