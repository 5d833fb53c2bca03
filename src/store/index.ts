/**
 * The store: one Kysely instance over SQLite (embedded, default) or PostgreSQL, with its
 * dialect adapter and migrations. Everything that touches SQL lives under store/.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type Migration, type MigrationProvider } from 'kysely';
import { sqliteDialect, type DialectAdapter } from './dialect.ts';
import type { Database } from './tables.ts';
import * as initial from './migrations/001-initial.ts';
import * as accounts from './migrations/002-accounts-and-sessions.ts';
import * as signInAttempts from './migrations/003-saml-sign-in-attempts.ts';
import * as managedMode from './migrations/004-managed-mode.ts';

export type { Database } from './tables.ts';
export type { DialectAdapter } from './dialect.ts';

export interface Store {
  readonly db: Kysely<Database>;
  readonly dialect: DialectAdapter;
  /** Closes the connection(s); pending queries finish first. */
  close(): Promise<void>;
}

/** Where the data lives, parsed from ROSTER_DATABASE_URL. */
export type DatabaseLocation = { readonly kind: 'sqlite'; readonly path: string } | { readonly kind: 'postgres'; readonly url: string };

/** Opens the database and brings its schema up to date. */
export async function openStore(location: DatabaseLocation): Promise<Store> {
  if (location.kind === 'postgres') {
    throw new Error('PostgreSQL is not supported yet: set ROSTER_DATABASE_URL to sqlite:<path>.');
  }
  if (location.path !== ':memory:') mkdirSync(dirname(location.path), { recursive: true });
  const database = new SQLite(location.path);
  // WAL lets readers (the CLI, backups) work while the server writes; foreign keys are off by
  // default in SQLite; busy_timeout makes a second process wait instead of failing at once.
  database.pragma('journal_mode = WAL');
  database.pragma('foreign_keys = ON');
  database.pragma('busy_timeout = 5000');
  database.pragma('synchronous = NORMAL');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  const store: Store = {
    db,
    dialect: sqliteDialect,
    async close() {
      await db.destroy();
    },
  };
  try {
    await migrate(store);
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

const MIGRATIONS: Record<string, (db: Kysely<unknown>, dialect: DialectAdapter) => Promise<void>> = {
  '001-initial': initial.up,
  '002-accounts-and-sessions': accounts.up,
  '003-saml-sign-in-attempts': signInAttempts.up,
  '004-managed-mode': managedMode.up,
};

/** Runs pending migrations under Kysely's migration lock, so that concurrent starts apply them once. */
async function migrate(store: Store): Promise<void> {
  const provider: MigrationProvider = {
    async getMigrations() {
      const migrations: Record<string, Migration> = {};
      for (const [name, up] of Object.entries(MIGRATIONS)) {
        migrations[name] = { up: (db) => up(db, store.dialect) };
      }
      return migrations;
    },
  };
  const { error, results } = await new Migrator({ db: store.db, provider }).migrateToLatest();
  if (error) {
    const failed = results?.find((result) => result.status === 'Error');
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`Database migration ${failed?.migrationName ?? ''} failed: ${message}`);
  }
}
