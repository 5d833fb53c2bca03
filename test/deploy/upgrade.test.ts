/**
 * Upgrading in place (docs/deploy.md#upgrading): `roster serve` and `roster db migrate` bring an
 * older database up to date; every other command refuses to, since an older Roster may still be
 * serving it (a new CLI's `scim status` used to migrate a database under a running old server).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import { openStore } from '../../src/store/index.ts';
import { createTestDatabase, type ScratchDatabase } from '../support/databases.ts';
import { freePort, ROOT } from '../support/process.ts';

function roster(url: string, args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/roster.ts', ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ROSTER_DATABASE_URL: url } });
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
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/roster.ts', 'serve'], { cwd: ROOT, env, encoding: 'utf8', timeout: 20_000 });
    const lines = run.stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { msg: string; migrations?: string[]; durationMs?: number });
    const applying = lines.find((line) => line.msg.startsWith('applying 1 database migration before serving'));
    assert.deepEqual(applying?.migrations, ['017-session-origin'], run.stdout.slice(0, 2000));
    const applied = lines.find((line) => line.msg === 'database migrations applied');
    assert.equal(typeof applied?.durationMs, 'number');
  } finally {
    await older.drop();
  }
});
