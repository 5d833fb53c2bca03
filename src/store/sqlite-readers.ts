/**
 * SQLite's held snapshots (Store.openSnapshot), on reader threads. Each snapshot is a read
 * transaction on a read-only connection of its own; in WAL mode it sees the database as of its
 * first read while the main connection goes on reading and committing.
 *
 * The connections live on worker threads (sqlite-read-worker.mjs), not on the thread that
 * answers requests: better-sqlite3 runs a statement to its end before it returns, and a SCIM
 * list that no index serves (a filter on `title`, a sort on `meta.lastModified`) reads every
 * user: at a million users that held every other request, `/healthz` included, for 1 to 13
 * seconds. On a reader thread it holds that thread only (docs/performance.md, "Lists no index
 * serves").
 *
 * At most READER_THREADS threads, each holding several connections. A snapshot is opened on a
 * thread with nothing to do if there is one, else on a new thread while there are fewer than
 * the limit, else on the least busy: the threads bound the CPU that slow reads can take from
 * the one answering requests. Threads start on first use (a CLI command that holds no snapshot
 * starts none) and hold the process open only while they have work.
 */
import { Worker } from 'node:worker_threads';
import { CompiledQuery, Kysely, SqliteAdapter, SqliteIntrospector, type DatabaseConnection, type Driver, type QueryResult } from 'kysely';
import { heldSnapshot, type ChunkedCursor, type HeldSnapshot } from './held-snapshot.ts';
import { RosterSqliteQueryCompiler } from './sqlite-compiler.ts';
import type { Database } from './tables.ts';

/** Threads running snapshots' statements: as many as the machines Roster is sized for have cores. */
const READER_THREADS = 2;

/** Reader connections kept open between held snapshots; more are opened when more are held at once. */
const IDLE_READERS = 4;

interface Call {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
}

/** One reader thread and the calls it has not answered yet. */
interface ReaderThread {
  readonly worker: Worker;
  readonly pending: Map<number, Call>;
  /** Set once the thread has stopped (closed, or failed): its connections are gone. */
  gone?: Error;
}

/** A connection on a thread, with the Kysely instance that runs queries on it. */
interface ReaderConnection {
  readonly thread: ReaderThread;
  readonly id: number;
  readonly db: Kysely<Database>;
}

/** What a reader thread answered: its rows, or the error it threw (name, message, code kept). */
type Answer = { readonly id: number; readonly result: unknown } | { readonly id: number; readonly error: { name: string; message: string; code?: string } };

export interface SqliteReaders {
  openSnapshot(): Promise<HeldSnapshot>;
  close(): Promise<void>;
}

export function createReaders(path: string): SqliteReaders {
  const threads: ReaderThread[] = [];
  const idle: ReaderConnection[] = [];
  let nextCall = 0;
  let nextConnection = 0;
  let closed = false;

  function startThread(): ReaderThread {
    const worker = new Worker(new URL('./sqlite-read-worker.mjs', import.meta.url));
    const thread: ReaderThread = { worker, pending: new Map() };
    worker.unref();
    worker.on('message', (answer: Answer) => {
      const call = thread.pending.get(answer.id);
      if (call === undefined) return;
      thread.pending.delete(answer.id);
      // Not while it is being stopped: close() holds the process until the thread has ended.
      if (thread.pending.size === 0 && thread.gone === undefined) worker.unref();
      if ('error' in answer) call.reject(Object.assign(new Error(answer.error.message), { name: answer.error.name, code: answer.error.code }));
      else call.resolve(answer.result);
    });
    const stop = (error: Error): void => {
      thread.gone ??= error;
      const index = threads.indexOf(thread);
      if (index >= 0) threads.splice(index, 1);
      for (let i = idle.length - 1; i >= 0; i -= 1) if (idle[i]?.thread === thread) idle.splice(i, 1);
      for (const call of thread.pending.values()) call.reject(thread.gone);
      thread.pending.clear();
    };
    worker.on('error', (error) => stop(new Error(`A SQLite reader thread failed: ${error.message}`, { cause: error })));
    worker.on('exit', (code) => stop(new Error(`A SQLite reader thread stopped (exit code ${code}).`)));
    threads.push(thread);
    return thread;
  }

  function call<T>(thread: ReaderThread, message: Record<string, unknown>): Promise<T> {
    if (thread.gone !== undefined) return Promise.reject(thread.gone);
    const id = nextCall++;
    return new Promise<T>((resolve, reject) => {
      thread.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      // Work in progress keeps the process alive (a CLI export waiting for its rows).
      if (thread.pending.size === 1) thread.worker.ref();
      thread.worker.postMessage({ ...message, id });
    });
  }

  /** The thread for a new connection: an idle one, a new one, or the least busy. */
  function threadForNewConnection(): ReaderThread {
    const free = threads.find((thread) => thread.pending.size === 0);
    if (free !== undefined) return free;
    if (threads.length < READER_THREADS) return startThread();
    return threads.reduce((best, thread) => (thread.pending.size < best.pending.size ? thread : best));
  }

  async function openConnection(): Promise<ReaderConnection> {
    const thread = threadForNewConnection();
    const id = nextConnection++;
    await call(thread, { op: 'open', connection: id, path });
    const run = async (query: CompiledQuery): Promise<QueryResult<unknown>> => {
      const answer = await call<{ rows: Record<string, unknown>[] }>(thread, { op: 'query', connection: id, sql: query.sql, parameters: query.parameters });
      return { rows: answer.rows.map(withBuffers) };
    };
    const db = new Kysely<Database>({
      dialect: {
        createAdapter: () => new SqliteAdapter(),
        createDriver: () => snapshotDriver(run),
        createQueryCompiler: () => new RosterSqliteQueryCompiler(),
        createIntrospector: (kysely) => new SqliteIntrospector(kysely),
      },
    });
    return { thread, id, db };
  }

  /** An idle connection, preferring one on a thread with nothing to do. */
  function takeIdle(): ReaderConnection | undefined {
    const index = idle.findIndex((connection) => connection.thread.pending.size === 0);
    if (index >= 0) return idle.splice(index, 1)[0];
    // A thread with nothing to do, or room for a new one: a new connection goes there, rather
    // than an idle one behind a statement in progress.
    if (threads.length < READER_THREADS || threads.some((thread) => thread.pending.size === 0)) return undefined;
    return idle.pop();
  }

  async function release(connection: ReaderConnection, reusable: boolean): Promise<void> {
    if (reusable && !closed && connection.thread.gone === undefined && idle.length < IDLE_READERS) {
      idle.push(connection);
      return;
    }
    if (connection.thread.gone === undefined) await call(connection.thread, { op: 'close', connection: connection.id });
  }

  return {
    async openSnapshot(): Promise<HeldSnapshot> {
      if (closed) throw new Error('The database is closed.');
      const connection = takeIdle() ?? (await openConnection());
      const { thread, id } = connection;
      try {
        await call(thread, { op: 'begin', connection: id });
      } catch (error) {
        await release(connection, false).catch(() => {});
        throw error;
      }
      return heldSnapshot(
        connection.db,
        async (query): Promise<ChunkedCursor> => {
          await call(thread, { op: 'iterate', connection: id, sql: query.sql, parameters: query.parameters });
          let done = false;
          return {
            async next(size) {
              if (done) return [];
              const answer = await call<{ rows: Record<string, unknown>[]; done: boolean }>(thread, { op: 'next', connection: id, size });
              done = answer.done;
              return answer.rows.map(withBuffers);
            },
            async close() {
              if (!done && thread.gone === undefined) await call(thread, { op: 'closeCursor', connection: id });
              done = true;
            },
          };
        },
        async () => {
          let ended = false;
          try {
            await call(thread, { op: 'end', connection: id });
            ended = true;
          } finally {
            await release(connection, ended);
          }
        },
      );
    },
    async close(): Promise<void> {
      closed = true;
      idle.length = 0;
      const stopping = threads.splice(0);
      for (const thread of stopping) thread.gone ??= new Error('The database is closed.');
      await Promise.all(
        stopping.map((thread) => {
          // Referenced again: otherwise nothing would keep the process running until it has stopped.
          thread.worker.ref();
          return thread.worker.terminate();
        }),
      );
    },
  };
}

/**
 * The driver of a snapshot's Kysely instance: its one connection is the snapshot, whose read
 * transaction is already open, so it has no transactions of its own to begin.
 */
function snapshotDriver(run: (query: CompiledQuery) => Promise<QueryResult<unknown>>): Driver {
  const connection: DatabaseConnection = {
    executeQuery: run as DatabaseConnection['executeQuery'],
    streamQuery() {
      throw new Error('A held snapshot reads a query a chunk at a time with rows(), not with stream().');
    },
  };
  const noTransaction = (): Promise<never> => Promise.reject(new Error('A held snapshot is already one read transaction.'));
  return {
    init: async () => {},
    acquireConnection: async () => connection,
    beginTransaction: noTransaction,
    commitTransaction: noTransaction,
    rollbackTransaction: noTransaction,
    releaseConnection: async () => {},
    destroy: async () => {},
  };
}

/** A row as the main connection would have read it: blobs as Buffers (postMessage makes them Uint8Arrays). */
function withBuffers(row: Record<string, unknown>): Record<string, unknown> {
  for (const [key, value] of Object.entries(row)) {
    if (value instanceof Uint8Array && !Buffer.isBuffer(value)) row[key] = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  }
  return row;
}
