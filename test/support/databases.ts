/**
 * One suite, every real database (STYLE.md §2): wrap a suite in `eachDatabase` and it runs on
 * SQLite always, and on PostgreSQL when ROSTER_TEST_POSTGRES_URL is set (it says it skipped
 * otherwise). `createTestDatabase` gives each test its own empty database on either.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'node:test';
import pg from 'pg';
import { openStore, type DatabaseLocation, type Store } from '../../src/store/index.ts';
import { createSettingQueries } from '../../src/store/settings.ts';
import { provisioningModeSetting } from '../../src/directory/provisioning.ts';

export type TestDatabase = 'sqlite' | 'postgres';

/** The PostgreSQL server the tests may use, or undefined. */
export const POSTGRES_URL = process.env.ROSTER_TEST_POSTGRES_URL || undefined;

const LABEL: Record<TestDatabase, string> = { sqlite: 'SQLite', postgres: 'PostgreSQL' };

/** Declares the suite once per available database. */
export function eachDatabase(name: string, suite: (database: TestDatabase) => void): void {
  for (const database of ['sqlite', 'postgres'] as const) {
    if (database === 'postgres' && POSTGRES_URL === undefined) {
      describe(`${name} (on PostgreSQL)`, { skip: 'PostgreSQL skipped: set ROSTER_TEST_POSTGRES_URL to run it' }, () => {});
      continue;
    }
    describe(`${name} (on ${LABEL[database]})`, () => suite(database));
  }
}

/** A fresh, empty database that no other test sees; `drop` deletes it. */
export interface ScratchDatabase {
  readonly location: DatabaseLocation;
  /** A ROSTER_DATABASE_URL for child processes. */
  readonly url: string;
  drop(): Promise<void>;
}

/**
 * Creates an empty database: a file in a temporary directory, or a new PostgreSQL database
 * on the ROSTER_TEST_POSTGRES_URL server (a database rather than a schema, so that each
 * test app is isolated exactly as an installation is, migration bookkeeping included).
 */
export async function createTestDatabase(database: TestDatabase): Promise<ScratchDatabase> {
  if (database === 'sqlite') {
    const directory = mkdtempSync(join(tmpdir(), 'roster-db-'));
    const path = join(directory, 'roster.db');
    return {
      location: { kind: 'sqlite', path },
      url: `sqlite:${path}`,
      async drop() {
        rmSync(directory, { recursive: true, force: true });
      },
    };
  }
  if (POSTGRES_URL === undefined) throw new Error('ROSTER_TEST_POSTGRES_URL is not set');
  const name = `roster_test_${randomBytes(6).toString('hex')}`;
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    location: { kind: 'postgres', url: url.href, poolSize: 4 },
    url: url.href,
    async drop() {
      // FORCE ends connections a failed test may have left open (PostgreSQL 13+).
      await retryWhileBusy(() => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

/** A migrated store on a fresh database; closing it drops the database. */
export async function openTestStore(database: TestDatabase): Promise<Store> {
  const scratch = await createTestDatabase(database);
  const store = await openStore(scratch.location);
  return {
    ...store,
    async close() {
      await store.close();
      await scratch.drop();
    },
  };
}

async function admin(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/**
 * Retries a DROP that meets a backend our role may not end: an autovacuum worker that has just
 * entered the fresh database (42501) or a session still leaving it (55006). Both go within moments.
 */
async function retryWhileBusy(drop: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await drop();
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (attempt >= 50 || (code !== '42501' && code !== '55006')) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** How many migrations this version of Roster has: one file each in src/store/migrations/. */
export const MIGRATION_COUNT = readdirSync(new URL('../../src/store/migrations/', import.meta.url)).length;

/** How many migrations a database records as applied (Kysely's own bookkeeping table). */
export async function appliedMigrations(store: Store): Promise<number> {
  const rows = await store.db.selectFrom('kysely_migration' as never).selectAll().execute();
  return rows.length;
}

/**
 * Turns SCIM provisioning on in `store` by writing the switch's setting, without the SAML
 * prerequisite or an audit entry: for tests that drive the SCIM directory (directory/users.ts,
 * groups.ts) without the HTTP app, since its writes are refused while SCIM is off.
 */
export async function turnScimOn(store: Store): Promise<void> {
  await createSettingQueries().upsert(store.db, provisioningModeSetting.key, JSON.stringify('scim'), new Date().toISOString());
}
