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
  type DialectAdapter as KyselyAdapter,
  type TransactionSettings,
} from 'kysely';
import { sqliteDialect } from './dialect.ts';
import type { Store } from './index.ts';
import { createQueryObservers } from './observe.ts';
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

class RosterSqliteDialect extends SqliteDialect {
  readonly #database: SQLite.Database;

  constructor(database: SQLite.Database) {
    super({ database });
    this.#database = database;
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
  database.pragma('synchronous = NORMAL');
  const observers = createQueryObservers();
  const db = new Kysely<Database>({ dialect: new RosterSqliteDialect(database), log: observers.log });
  return {
    db,
    dialect: sqliteDialect,
    async close() {
      await db.destroy();
    },
    observeQueries: observers.add,
    poolUse: () => undefined,
  };
}
