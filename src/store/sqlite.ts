/**
 * SQLite through better-sqlite3. Within a process Kysely already serialises everything on the
 * one connection; across processes (the CLI beside the server, two servers on one file) every
 * transaction starts with BEGIN IMMEDIATE, taking the write lock up front, so that a
 * read-check-write can never be overtaken between its read and its write.
 */
import { accessSync, closeSync, constants, existsSync, mkdirSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import {
  CompiledQuery,
  Kysely,
  SqliteAdapter,
  SqliteDialect,
  SqliteDriver,
  type QueryCompiler,
  type DatabaseConnection,
  type Driver,
  type SqliteDatabase,
  type SqliteStatement,
  type DialectAdapter as KyselyAdapter,
  type TransactionSettings,
  sql,
} from 'kysely';
import { DatabaseFileFault, DatabaseRefused } from './errors.ts';
import { sqliteDialect } from './dialect.ts';
import { heldSnapshot, type ChunkedCursor, type HeldSnapshot } from './held-snapshot.ts';
import { turnOfEventLoop } from './turn.ts';
import type { Store } from './types.ts';
import { createQueryObservers } from './observe.ts';
import { RosterSqliteQueryCompiler } from './sqlite-compiler.ts';
import { createReaders } from './sqlite-readers.ts';
import { GROUP_COMMIT_ACCESS_MODE, commitInGroups } from './transact.ts';
import type { Database } from './tables.ts';

class ImmediateSqliteDriver extends SqliteDriver {
  readonly #database: SQLite.Database;
  readonly #tempInMemory: SQLite.Statement;
  readonly #tempDefault: SQLite.Statement;
  /** Whether a write transaction of the group commit set temporary storage in memory (until it ends). */
  #tempIsMemory = false;

  readonly #stillOpenFile: () => void;

  /**
   * `database` is what Kysely runs queries on (with its statement cache), `raw` the connection
   * under it; `stillOpenFile` throws when the database file is no longer the one opened.
   */
  constructor(database: SqliteDatabase, raw: SQLite.Database, stillOpenFile: () => void) {
    super({ database });
    this.#database = raw;
    this.#stillOpenFile = stillOpenFile;
    this.#tempInMemory = raw.prepare('pragma temp_store = memory');
    this.#tempDefault = raw.prepare('pragma temp_store = default');
  }

  // SQLite rolls a transaction back by itself after some errors (SQLITE_FULL, SQLITE_IOERR, an
  // interrupted write); a ROLLBACK then fails with "no transaction is active" and that error
  // would hide the one that explains what happened.
  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    try {
      if (this.#database.inTransaction) await super.rollbackTransaction(connection);
    } finally {
      this.#tempOnDisk();
    }
  }

  override async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await super.commitTransaction(connection);
    this.#tempOnDisk();
  }

  override async beginTransaction(connection: DatabaseConnection, settings?: TransactionSettings): Promise<void> {
    // Read-only transactions (lists) need no write lock; WAL gives them a snapshot.
    if (settings?.accessMode === 'read only') {
      await connection.executeQuery(CompiledQuery.raw('begin deferred'));
      return;
    }
    this.#stillOpenFile();
    if (settings?.accessMode !== GROUP_COMMIT_ACCESS_MODE) {
      await connection.executeQuery(CompiledQuery.raw('begin immediate'));
      return;
    }
    // The group commit's transaction (transact.ts, GROUP_COMMIT_ACCESS_MODE) keeps its statement
    // journal in memory. The group commit runs each write in a SAVEPOINT,
    // and SQLite copies every page a savepoint changes into that journal; past 64 KiB it went to
    // a temporary file: about 20 page writes per SCIM create, about a tenth of its CPU
    // (docs/performance.md). SQLite reads the setting when the transaction begins. Everywhere
    // else temporary storage stays on disk, so that a large sort (a list sorted on an attribute
    // without an index, a migration building an index over a large table) spills to a file
    // instead of growing the process's memory. (Roster creates no TEMP tables: were the
    // connection's temp database open, each change of the setting would drop it and reload the
    // schema.)
    this.#tempInMemory.run();
    this.#tempIsMemory = true;
    try {
      await connection.executeQuery(CompiledQuery.raw('begin immediate'));
    } catch (error) {
      try {
        this.#tempOnDisk();
      } catch {
        // The error that matters is the one of BEGIN.
      }
      throw error;
    }
  }

  #tempOnDisk(): void {
    if (!this.#tempIsMemory) return;
    this.#tempDefault.run();
    this.#tempIsMemory = false;
  }
}

class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  // SQLite's DDL is transactional. Saying so makes Kysely's Migrator run every pending
  // migration inside one (immediate) transaction: the migration lock across processes.
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

/** How many prepared statements a connection keeps: far more than the distinct queries Roster makes. */
const STATEMENT_CACHE_SIZE = 500;

/**
 * The database as Kysely's driver sees it, with prepared statements kept by SQL text: Kysely
 * prepares every query anew, and compiling the SQL was the largest single cost of a read
 * (docs/performance.md). A kept statement is safe to reuse: Kysely runs one query at a time on
 * the one connection, Roster streams no query (a statement being iterated could not run
 * again meanwhile), and SQLite recompiles a statement itself after a schema change. The least
 * recently used statement goes when the cache is full (queries with `IN (?, ?, …)` lists make
 * many texts).
 */
function withStatementCache(database: SQLite.Database): SqliteDatabase {
  const statements = new Map<string, SqliteStatement>();
  return {
    prepare(text: string): SqliteStatement {
      let statement = statements.get(text);
      if (statement !== undefined) {
        // Moved to the end: Map keeps insertion order, so the first key is the least recently used.
        statements.delete(text);
      } else {
        statement = database.prepare(text);
        if (statements.size >= STATEMENT_CACHE_SIZE) {
          const oldest = statements.keys().next().value;
          if (oldest !== undefined) statements.delete(oldest);
        }
      }
      statements.set(text, statement);
      return statement;
    },
    close(): void {
      statements.clear();
      database.close();
    },
  };
}

class RosterSqliteDialect extends SqliteDialect {
  readonly #database: SqliteDatabase;
  readonly #raw: SQLite.Database;
  readonly #stillOpenFile: () => void;

  constructor(database: SQLite.Database, stillOpenFile: () => void) {
    const cached = withStatementCache(database);
    super({ database: cached });
    this.#database = cached;
    this.#raw = database;
    this.#stillOpenFile = stillOpenFile;
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#database, this.#raw, this.#stillOpenFile);
  }

  override createQueryCompiler(): QueryCompiler {
    return new RosterSqliteQueryCompiler();
  }

  override createAdapter(): KyselyAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

/**
 * Whether another connection has the database at `path` open (a serving Roster, a CLI command):
 * SQLite's last connection to a WAL database checkpoints and deletes the `-wal` file when it
 * closes, so a `-wal` that survives an open and close of our own belongs to someone else. Call
 * it before this process opens the file. A moment's answer: another may open it just after.
 */
export function openElsewhere(path: string): boolean {
  if (!existsSync(path)) return false;
  let db: SQLite.Database;
  try {
    db = new SQLite(path, { fileMustExist: true });
  } catch {
    // Not openable (permissions, a read-only file system …): openSqlite says why, in its words.
    return false;
  }
  try {
    db.pragma('busy_timeout = 5000');
    db.prepare('SELECT COUNT(*) FROM sqlite_master').get();
  } catch (error) {
    // A lock held for 5 s is someone's; anything else (not a database …) is openSqlite's to tell.
    return error instanceof SQLite.SqliteError && error.code === 'SQLITE_BUSY';
  } finally {
    db.close();
  }
  return existsSync(`${path}-wal`);
}

/** Opens (creating if needed) a SQLite database file, or `:memory:`, without migrating it. */
export function openSqlite(path: string): Omit<Store, 'secrets'> {
  if (path !== ':memory:') refuseOrphanedLog(path);
  let database: SQLite.Database | undefined;
  try {
    if (path !== ':memory:') {
      createPrivately(path);
      // SQLite opens a file it may not write read-only without a word, and a database with
      // nothing to migrate is not written at start: Roster would serve, answering 503 to writes.
      accessSync(path, constants.R_OK | constants.W_OK);
    }
    database = new SQLite(path);
    // busy_timeout first: it makes a second process wait instead of failing at once, and the
    // journal mode below already needs it when several processes open a new file together. WAL
    // lets readers (the CLI, backups) work while the server writes; foreign keys are off by
    // default in SQLite.
    database.pragma('busy_timeout = 5000');
    database.pragma('journal_mode = WAL');
    database.pragma('foreign_keys = ON');
    // FULL: each commit syncs the WAL to disk before it returns, so an acknowledged write
    // survives an operating-system crash or a power loss too, as on PostgreSQL (fsync and
    // synchronous_commit on). NORMAL survives a killed process only: the last commits could roll
    // back after a power loss (https://www.sqlite.org/pragma.html#pragma_synchronous), and an
    // IdP does not resend a change it saw acknowledged. Costs one fsync per write transaction
    // (docs/operations.md).
    database.pragma('synchronous = FULL');
  } catch (error) {
    database?.close();
    throw cannotOpen(path, error);
  }
  const opened = database;
  const observers = createQueryObservers();
  const stillOpenFile = path === ':memory:' ? () => {} : openedFile(path);
  const file = path === ':memory:' ? undefined : fileReader(path);
  const db = new Kysely<Database>({ dialect: new RosterSqliteDialect(opened, stillOpenFile), log: observers.log });
  // One writer, and every commit waits for the disk: commit waiting writes together (transact.ts).
  commitInGroups(db);
  const readers = path === ':memory:' ? undefined : createReaders(path);
  return {
    db,
    dialect: sqliteDialect,
    async close() {
      await readers?.close();
      await db.destroy();
      // Last: SQLite's own descriptors are closed, so this one holds no lock of theirs.
      file?.close();
    },
    openSnapshot: () => (readers === undefined ? snapshotOnMainConnection(db, opened) : readers.openSnapshot()),
    observeQueries: observers.add,
    // Nothing to warn about: no connection, so no statement to cancel on another.
    observeWarnings: () => () => {},
    poolUse: () => undefined,
    // better-sqlite3 answers synchronously: there is no connection to wait for or to lose.
    async ping() {
      stillOpenFile();
      file?.check();
      await sql`SELECT 1`.execute(db);
    },
  };
}

/**
 * The rows of one statement on `raw`, a chunk at a time; between chunks the event loop turns, so
 * that a long read does not hold every other request (better-sqlite3 reads synchronously).
 */
function iterated(raw: SQLite.Database, text: string, parameters: readonly unknown[]): ChunkedCursor {
  const rows = raw.prepare(text).iterate(...parameters);
  let done = false;
  return {
    async next(size) {
      const chunk: unknown[] = [];
      while (!done && chunk.length < size) {
        const step = rows.next();
        if (step.done === true) done = true;
        else chunk.push(step.value);
      }
      await turnOfEventLoop();
      return chunk;
    },
    async close() {
      // Resets the statement: a snapshot cannot end while one of its statements is still open.
      if (!done) rows.return?.();
      done = true;
    },
  };
}

/**
 * `sqlite::memory:` has no file another connection could open: its snapshots hold the one
 * connection, and every other statement waits until the answer is read (trying Roster out only).
 */
async function snapshotOnMainConnection(db: Kysely<Database>, raw: SQLite.Database): Promise<HeldSnapshot> {
  const trx = await db.startTransaction().setAccessMode('read only').execute();
  return heldSnapshot(trx, async (query) => iterated(raw, query.sql, query.parameters), async () => {
    await trx.commit().execute();
  });
}

/**
 * Creates the database's directory (0700) and file (0600) when they do not exist yet, readable by
 * Roster's user alone: the file holds password and token hashes and, unless ROSTER_SECRET_KEY is
 * set, the OpenID signing keys in clear (SQLite gives its -wal and -shm files the mode of the
 * database file). Existing ones are left as they are.
 */
function createPrivately(path: string): void {
  makeDirectories(dirname(path));
  try {
    // 'wx': only if it does not exist, so a file another process just created is not touched.
    closeSync(openSync(path, 'wx', 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

/**
 * Creates `directory` and its missing parents (0700), one level at a time: Node's recursive
 * mkdirSync loops for ever where a level cannot be made but reads as missing (under /proc).
 */
export function makeDirectories(directory: string): void {
  const missing: string[] = [];
  for (let level = directory; !existsSync(level) && dirname(level) !== level; level = dirname(level)) missing.unshift(level);
  for (const level of missing) {
    try {
      mkdirSync(level, { mode: 0o700 });
    } catch (error) {
      // Made meanwhile by another process starting on the same new directory.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

/**
 * A check that the file at `path` is still the one opened now (same device and inode). SQLite
 * keeps writing to the file it opened: moved or deleted while Roster runs, or another file moved
 * into its place (an operator cleaning up, a restore done by hand), every write would still be
 * acknowledged, into a file no longer there, and lost at the next start. (A file copied over it in
 * place keeps its inode and is not noticed: it corrupts the database, as docs/operations.md warns.) Each write transaction checks first (a stat, a few
 * microseconds), and so does the readiness probe; the error counts as the database being
 * unavailable (SQLITE_CANTOPEN…), so writes are answered 503 and logged, and /healthz says not ready.
 */
function openedFile(path: string): () => void {
  const opened = statSync(path);
  return () => {
    let now: Stats | undefined;
    try {
      now = statSync(path);
    } catch {
      now = undefined;
    }
    if (now !== undefined && now.ino === opened.ino && now.dev === opened.dev) return;
    const what = now === undefined ? 'is gone (moved or deleted)' : 'was replaced by another file';
    throw new DatabaseFileFault(
      `The SQLite database ${path} ${what} while Roster was running: writes are refused rather than acknowledged into a file that is no longer there. Stop Roster, put the database file back (or restore a backup with roster db restore), then start it again.`,
      'SQLITE_CANTOPEN_MOVED',
    );
  };
}

/** The first bytes of every SQLite database file. */
const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * A read of the database file's first bytes from the disk, for the readiness probe: SQLite serves
 * `SELECT 1`, and any page it holds in its cache, without reading the file, so a disk that failed
 * or a file system shut down under Roster (every read EIO, every request refused as corrupt) left
 * /healthz answering 200. The descriptor stays open until `close`, after SQLite's connections:
 * closing a descriptor of the file would drop the locks SQLite holds on it (POSIX locks are the
 * process's), so it must not be opened and closed while they are held.
 */
function fileReader(path: string): { readonly check: () => void; readonly close: () => void } {
  const fd = openSync(path, 'r');
  const header = Buffer.alloc(SQLITE_HEADER.length);
  return {
    check() {
      let read: number;
      try {
        read = readSync(fd, header, 0, header.length, 0);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
        throw new DatabaseFileFault(
          `The SQLite database ${path} cannot be read (${code}): the disk or the file system under it failed, or was shut down or remounted. Requests that read it fail meanwhile. Repair the disk, then restart Roster; check the file with PRAGMA integrity_check (docs/operations.md).`,
          'SQLITE_IOERR_READ',
          { cause: error },
        );
      }
      // Empty: a new database SQLite has not written yet, which it reads as empty too.
      if (read > 0 && (read < header.length || !header.equals(SQLITE_HEADER))) {
        throw new DatabaseFileFault(
          `The SQLite database ${path} no longer begins as a SQLite database does: it was overwritten while Roster was running. Stop Roster and restore a backup (roster db restore).`,
          'SQLITE_NOTADB',
        );
      }
    },
    close() {
      closeSync(fd);
    },
  };
}

/**
 * Refuses to open `path` when the file is missing but its write-ahead log is there, not empty: the
 * log may hold committed changes not yet copied into the file (a file moved or deleted while
 * Roster ran, a copy that left the log behind), and SQLite would delete it on creating an empty
 * database in the file's place, destroying them.
 */
function refuseOrphanedLog(path: string): void {
  if (existsSync(path)) return;
  let size: number;
  try {
    size = statSync(`${path}-wal`).size;
  } catch {
    return;
  }
  if (size === 0) return;
  throw new DatabaseRefused(
    `The SQLite database ${path} is missing, but its write-ahead log ${path}-wal (${size} bytes) is there: it may hold changes that were acknowledged, and a new database in its place would erase it. Put the database file back (it was moved or deleted), or restore a backup (roster db restore). To start from an empty database instead, move ${path}-wal and ${path}-shm away first.`,
  );
}

/**
 * The failure to open a database file, saying what to check: SQLite needs to write the file and
 * to create `<file>-wal` and `<file>-shm` beside it, so a read-only file, directory or mount, or
 * a full disk, stops Roster at start rather than leaving it to fail on the first write.
 */
function cannotOpen(path: string, error: unknown): Error {
  const code = typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : 'unknown';
  const message = error instanceof Error ? error.message : String(error);
  // DatabaseRefused: the CLI says it as it is, not as an "unexpected error".
  return new DatabaseRefused(
    `Cannot open the SQLite database ${path}: ${message} (${code}). Roster must be able to write the file and create ${path}-wal and ${path}-shm in its directory: check that the file, its directory and the file system are writable and not full, and that ROSTER_DATABASE_URL names the database you mean (by default data/roster.db under the working directory).`,
    { cause: error },
  );
}
