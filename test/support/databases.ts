/**
 * One suite, every real database (STYLE.md §2): wrap a suite in `eachDatabase` and it runs on
 * SQLite always, and on PostgreSQL when ROSTER_TEST_POSTGRES_URL is set (it says it skipped
 * otherwise). `createTestDatabase` gives each test its own empty database on either.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'node:test';
import { fileURLToPath } from 'node:url';
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
 * `migrated: true` (PostgreSQL) copies a template that this version's migrations were run on
 * once, for callers that open it with openStore at once: the copy takes a sixth of a second
 * where migrating an empty one took half a second more, and the suite makes hundreds.
 */
export async function createTestDatabase(database: TestDatabase, options: { migrated?: boolean } = {}): Promise<ScratchDatabase> {
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
  await admin(options.migrated === true ? `CREATE DATABASE ${name} TEMPLATE ${await migratedTemplate()}` : `CREATE DATABASE ${name}`);
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
  const scratch = await createTestDatabase(database, { migrated: true });
  const store = await openStore(scratch.location);
  return {
    ...store,
    async close() {
      await store.close();
      await scratch.drop();
    },
  };
}

let template: Promise<string> | undefined;

/** Every file under `directory`, as paths relative to it, in a stable order. */
function filesUnder(directory: string, prefix = ''): string[] {
  return readdirSync(join(directory, prefix), { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((entry) => (entry.isDirectory() ? filesUnder(directory, join(prefix, entry.name)) : [join(prefix, entry.name)]));
}

/**
 * The name of a PostgreSQL database that this version's migrations were run on and nothing
 * else, made by the first test process that needs it. Its name carries a digest of
 * src/store/ (the migrations and the code that runs them), so a changed migration gets a new
 * one; older ones are left, since another checkout's suite may be copying them at the same
 * time on the same server (`DROP DATABASE` them at will). An advisory lock makes the other
 * test processes wait for it instead of making their own; it is built under a temporary name
 * and renamed, so no process copies a half-migrated one; then it refuses connections
 * (PostgreSQL copies only a database nobody is connected to).
 */
function migratedTemplate(): Promise<string> {
  template ??= (async () => {
    const digest = createHash('sha256');
    for (const file of filesUnder(STORE_SOURCES)) digest.update(file).update(readFileSync(join(STORE_SOURCES, file)));
    const name = `roster_template_${digest.digest('hex').slice(0, 16)}`;
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    try {
      await client.query('SELECT pg_advisory_lock(hashtext($1))', ['roster test template']);
      const existing = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      if (existing.rowCount === 1) return name;
      const building = `${name}_building`;
      // One a test process left half-built when it was killed.
      await retryWhileBusy(async () => void (await client.query(`DROP DATABASE IF EXISTS ${building} WITH (FORCE)`)));
      await client.query(`CREATE DATABASE ${building}`);
      const url = new URL(POSTGRES_URL ?? '');
      url.pathname = `/${building}`;
      const store = await openStore({ kind: 'postgres', url: url.href, poolSize: 1 });
      await store.close();
      // Closed to connections, as template0 is: no autovacuum worker in it when it is copied.
      await client.query(`ALTER DATABASE ${building} WITH ALLOW_CONNECTIONS false`);
      await client.query(`ALTER DATABASE ${building} RENAME TO ${name}`);
      return name;
    } finally {
      await client.end();
    }
  })();
  return template;
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

const MIGRATIONS = new URL('../../src/store/migrations/', import.meta.url);
const STORE_SOURCES = fileURLToPath(new URL('../../src/store/', import.meta.url));

/** How many migrations this version of Roster has: one file each in src/store/migrations/. */
export const MIGRATION_COUNT = readdirSync(MIGRATIONS).length;

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
