/**
 * SQLite through better-sqlite3. Within a process Kysely already serialises everything on the
 * one connection; across processes (the CLI beside the server, two servers on one file) every
 * transaction starts with BEGIN IMMEDIATE, taking the write lock up front, so that a
 * read-check-write can never be overtaken between its read and its write.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import {
  CompiledQuery,
  Kysely,
  SqliteAdapter,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type Driver,
  type SqliteDatabase,
  type SqliteStatement,
  type DialectAdapter as KyselyAdapter,
  type TransactionSettings,
} from 'kysely';
import { sqliteDialect } from './dialect.ts';
import type { Store } from './index.ts';
import { commitInGroups } from './transact.ts';
import type { Database } from './tables.ts';

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection, settings?: TransactionSettings): Promise<void> {
    // Read-only transactions (lists) need no write lock; WAL gives them a snapshot.
    const mode = settings?.accessMode === 'read only' ? 'deferred' : 'immediate';
    await connection.executeQuery(CompiledQuery.raw(`begin ${mode}`));
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

  constructor(database: SQLite.Database) {
    const cached = withStatementCache(database);
    super({ database: cached });
    this.#database = cached;
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver({ database: this.#database });
  }

  override createAdapter(): KyselyAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

/** Opens (creating if needed) a SQLite database file, or `:memory:`, without migrating it. */
export function openSqlite(path: string): Store {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const database = new SQLite(path);
  // WAL lets readers (the CLI, backups) work while the server writes; foreign keys are off by
  // default in SQLite; busy_timeout makes a second process wait instead of failing at once.
  database.pragma('journal_mode = WAL');
  database.pragma('foreign_keys = ON');
  database.pragma('busy_timeout = 5000');
  // A write is acknowledged only once it would survive a power cut: in WAL mode NORMAL syncs
  // the log only at checkpoints, so the last transactions before a crash of the machine (not
  // of the process) could be lost after the IdP was told they succeeded. FULL syncs the log at
  // every commit.
  database.pragma('synchronous = FULL');
  const db = new Kysely<Database>({ dialect: new RosterSqliteDialect(database) });
  // One writer, and every commit waits for the disk: commit waiting writes together (transact.ts).
  commitInGroups(db);
  return {
    db,
    dialect: sqliteDialect,
    async close() {
      await db.destroy();
    },
  };
}
