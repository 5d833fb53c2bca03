/**
 * Upgrading in place (docs/deploy.md#upgrading): `roster serve` and `roster db migrate` bring an
 * older database up to date; every other command refuses to, since an older Roster may still be
 * serving it (a new CLI's `scim status` used to migrate a database under a running old server).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { Migrator, sql, type Kysely, type Migration } from 'kysely';
import type { DialectAdapter } from '../../src/store/dialect.ts';
import { knownMigrations } from '../../src/store/migrate.ts';
import { DatabaseRefused, openStore } from '../../src/store/index.ts';
import { createTestDatabase, type ScratchDatabase } from '../support/databases.ts';
import { freePort, ROOT } from '../support/process.ts';
import { rosterArgs } from '../support/roster-command.ts';

function roster(url: string, args: string[]) {
  return spawnSync(process.execPath, rosterArgs(...args), { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ROSTER_DATABASE_URL: url } });
}

let scratch: ScratchDatabase;
before(async () => {
  scratch = await createTestDatabase('sqlite');
});
after(async () => scratch.drop());

test('a command refuses to upgrade an older schema and says how; db migrate upgrades it and says what it applied', async () => {
  // The database as the version before migration 017 left it.
  const store = await openStore(scratch.location);
  await sql`ALTER TABLE sessions DROP COLUMN address`.execute(store.db);
  await sql`ALTER TABLE sessions DROP COLUMN browser`.execute(store.db);
  await sql`DELETE FROM kysely_migration WHERE name = '017-session-origin'`.execute(store.db);
  await store.close();

  const refused = roster(scratch.url, ['tokens', 'list']);
  assert.equal(refused.status, 1, refused.stderr);
  assert.match(refused.stderr, /The database's schema is older than this version of Roster \(pending migrations: 017-session-origin\)/);
  assert.match(refused.stderr, /npm run roster -- db migrate/);
  assert.match(refused.stderr, /docs\/deploy\.md#upgrading/);
  const untouched = await openStore(scratch.location, { migrate: false });
  try {
    const tables = await untouched.db.introspection.getTables();
    const sessions = tables.find((table) => table.name === 'sessions');
    assert.equal(sessions?.columns.some((column) => column.name === 'address'), false, 'nothing was migrated');
  } finally {
    await untouched.close();
  }

  const migrated = roster(scratch.url, ['db', 'migrate']);
  assert.equal(migrated.status, 0, migrated.stderr);
  assert.match(migrated.stderr, /Applying 1 migration: 017-session-origin/);
  assert.equal(migrated.stdout.trim(), 'Migrated: 017-session-origin.');
  assert.equal(roster(scratch.url, ['db', 'migrate']).stdout.trim(), 'The database is up to date: nothing to apply.');
  assert.equal(roster(scratch.url, ['tokens', 'list']).status, 0);
});

test('a command on a database with no schema yet sets it up, as before', async () => {
  const fresh = await createTestDatabase('sqlite');
  try {
    const run = roster(fresh.url, ['tokens', 'list']);
    assert.equal(run.status, 0, run.stderr);
  } finally {
    await fresh.drop();
  }
});

test('roster serve upgrades an older database at start and says so in its log, with how long it took', async () => {
  const older = await createTestDatabase('sqlite');
  try {
    const store = await openStore(older.location);
    await sql`ALTER TABLE sessions DROP COLUMN address`.execute(store.db);
    await sql`ALTER TABLE sessions DROP COLUMN browser`.execute(store.db);
    await sql`DELETE FROM kysely_migration WHERE name = '017-session-origin'`.execute(store.db);
    await store.close();
    const env = { ...process.env, ROSTER_DATABASE_URL: older.url, ROSTER_PORT: String(await freePort()), ROSTER_HOST: '127.0.0.1', ROSTER_LOG_LEVEL: 'info' };
    // Killed after its start: what matters is what it logged before serving.
    const run = spawnSync(process.execPath, rosterArgs('serve'), { cwd: ROOT, env, encoding: 'utf8', timeout: 20_000 });
    const lines = run.stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { msg: string; migrations?: string[]; durationMs?: number });
    const applying = lines.find((line) => line.msg.startsWith('applying 1 database migration before serving'));
    assert.deepEqual(applying?.migrations, ['017-session-origin'], run.stdout.slice(0, 2000));
    const applied = lines.find((line) => line.msg === 'database migrations applied');
    assert.equal(typeof applied?.durationMs, 'number');
  } finally {
    await older.drop();
  }
});

/** A SQLite database as a Roster whose newest migration came before `first` left it: every migration before `first` applied, none after. */
async function sqliteDatabaseBefore(first: string): Promise<ScratchDatabase> {
  const older = await createTestDatabase('sqlite');
  const store = await openStore(older.location, { migrate: false });
  try {
    const migrations: Record<string, Migration> = {};
    for (const name of knownMigrations().filter((known) => known < first)) {
      const module = (await import(`../../src/store/migrations/${name}.ts`)) as { up: (db: Kysely<unknown>, dialect: DialectAdapter) => Promise<void> };
      migrations[name] = { up: (db) => module.up(db, store.dialect) };
    }
    const { error } = await new Migrator({ db: store.db, provider: { getMigrations: async () => migrations } }).migrateToLatest();
    if (error !== undefined) throw error;
  } finally {
    await store.close();
  }
  return older;
}

/** The migrations the SQLite database at `path` ran. */
function appliedMigrations(path: string): string[] {
  const db = new SQLite(path, { readonly: true });
  try {
    return db.prepare('SELECT name FROM kysely_migration ORDER BY name').all().map((row) => (row as { name: string }).name);
  } finally {
    db.close();
  }
}

// The new version applied 011 to a SQLite file an older Roster still served: the users and
// groups that instance created after it had no case keys, the new one never found them, and the
// IdP's next create made duplicates. On PostgreSQL it was refused while the older one was connected.
test('on SQLite, a migration that needs every older instance stopped is refused while another process has the file open; one safe to roll is not', async () => {
  const older = await sqliteDatabaseBefore('011-case-keys-and-custom-schemas');
  const path = older.location.kind === 'sqlite' ? older.location.path : '';
  try {
    // The older instance: a connection of its own, open for as long as it serves.
    const serving = new SQLite(path);
    serving.prepare('SELECT count(*) FROM users').get();
    const before = appliedMigrations(path);
    await assert.rejects(openStore(older.location), (error: unknown) => {
      assert.ok(error instanceof DatabaseRefused, String(error));
      assert.match(error.message, /Another process has this SQLite database open \(an older Roster still serving it, or a command of one\), and migration 011-case-keys-and-custom-schemas needs every older instance stopped/);
      assert.match(error.message, /docs\/deploy\.md#upgrading/);
      return true;
    });
    const command = roster(older.url, ['db', 'migrate']);
    assert.equal(command.status, 1, command.stderr);
    assert.match(command.stderr, /Another process has this SQLite database open/);
    assert.deepEqual(appliedMigrations(path), before, 'nothing was migrated');
    serving.close();
    // Stopped: the upgrade goes through.
    const migrated = roster(older.url, ['db', 'migrate']);
    assert.equal(migrated.status, 0, migrated.stderr);
    assert.match(migrated.stdout, /^Migrated: 011-case-keys-and-custom-schemas, /);
  } finally {
    await older.drop();
  }

  // Migrations that add what older instances do not use may run beside one (a rolling upgrade).
  const recent = await sqliteDatabaseBefore('023-generated-passwords');
  const recentPath = recent.location.kind === 'sqlite' ? recent.location.path : '';
  try {
    const serving = new SQLite(recentPath);
    serving.prepare('SELECT count(*) FROM users').get();
    const store = await openStore(recent.location);
    await store.close();
    serving.close();
    assert.ok(appliedMigrations(recentPath).includes('024-saml-expiry-indexes'));
  } finally {
    await recent.drop();
  }
});

test('db migrate --dry-run lists what it would apply, marking what needs every older instance stopped, and changes nothing', async () => {
  const older = await sqliteDatabaseBefore('011-case-keys-and-custom-schemas');
  const path = older.location.kind === 'sqlite' ? older.location.path : '';
  try {
    const before = appliedMigrations(path);
    const run = roster(older.url, ['db', 'migrate', '--dry-run']);
    assert.equal(run.status, 0, run.stderr);
    const lines = run.stdout.trimEnd().split('\n');
    const pending = knownMigrations().filter((name) => name >= '011');
    assert.equal(lines[0], `Would apply ${pending.length} migrations:`);
    assert.equal(lines.length, pending.length + 1);
    assert.equal(lines[1], '  011-case-keys-and-custom-schemas   stop every older instance first (docs/deploy.md#upgrading)');
    // 015 changes nothing on SQLite: safe to roll there.
    assert.ok(lines.includes('  015-events-in-commit-order'));
    assert.ok(lines.includes('  024-saml-expiry-indexes'));
    assert.deepEqual(appliedMigrations(path), before, 'nothing was migrated');
    assert.equal(roster(older.url, ['db', 'migrate']).status, 0);
    assert.equal(roster(older.url, ['db', 'migrate', '--dry-run']).stdout.trim(), 'The database is up to date: nothing to apply.');
  } finally {
    await older.drop();
  }
  // Nothing there yet: said, and no file created.
  const missing = join(mkdtempSync(join(tmpdir(), 'roster-dry-')), 'roster.db');
  const run = roster(`sqlite:${missing}`, ['db', 'migrate', '--dry-run']);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /There is no database at .*roster\.db yet: the first start creates it/);
  assert.equal(existsSync(missing), false);
});
