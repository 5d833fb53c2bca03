/**
 * The SQLite database file at start: who may read it (a new database is Roster's user's alone),
 * and whether Roster may write it (a file it cannot write stops it at start).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openStore } from '../../src/store/index.ts';
import { ROOT, freePort } from '../support/process.ts';

/** The uid of `nobody`. */
const nobody = (): number => Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim());

const dir = mkdtempSync(join(tmpdir(), 'roster-files-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const modeOf = (path: string): string => (statSync(path).mode & 0o777).toString(8);

test('a new SQLite database is created readable by its owner alone: directory 0700, file, -wal and -shm 0600', async () => {
  const path = join(dir, 'new', 'data', 'roster.db');
  const store = await openStore({ kind: 'sqlite', path });
  try {
    assert.equal(modeOf(join(dir, 'new')), '700');
    assert.equal(modeOf(join(dir, 'new', 'data')), '700');
    assert.equal(modeOf(path), '600');
    // Open in WAL mode: SQLite created them with the database file's mode.
    assert.equal(modeOf(`${path}-wal`), '600');
    assert.equal(modeOf(`${path}-shm`), '600');
  } finally {
    await store.close();
  }
});

test('an existing database file keeps the mode its owner gave it', async () => {
  const path = join(dir, 'existing.db');
  writeFileSync(path, '');
  chmodSync(path, 0o640);
  const store = await openStore({ kind: 'sqlite', path });
  await store.close();
  assert.equal(modeOf(path), '640');
});

test('a database file Roster may not write stops `roster serve` at start with a message that says what to check', async (t) => {
  // As root every file is writable: the server runs as `nobody` then, the files being its own.
  const asRoot = process.getuid?.() === 0;
  if (asRoot && spawnSync('runuser', ['--help']).status !== 0) return t.skip('runs as root without runuser: no user to whom a read-only file is read-only');
  const home = mkdtempSync(join(tmpdir(), 'roster-readonly-'));
  const path = join(home, 'roster.db');
  try {
    const env = { ...process.env, ROSTER_DATABASE_URL: `sqlite:${path}`, ROSTER_PORT: String(await freePort()), ROSTER_HOST: '127.0.0.1', ROSTER_LOG_LEVEL: 'warn' };
    // The administrator exists and nothing is left to migrate: starting would write nothing.
    const created = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/roster.ts', 'tokens', 'list'], { cwd: ROOT, env, encoding: 'utf8' });
    assert.equal(created.status, 0, created.stderr);
    if (asRoot) for (const name of ['', ...readdirSync(home)]) chownSync(join(home, name), nobody(), -1);
    chmodSync(path, 0o444);
    const serve = [process.execPath, '--import', 'tsx', 'src/cli/roster.ts', 'serve'];
    const [command = '', ...args] = asRoot ? ['runuser', '-u', 'nobody', '--', ...serve] : serve;
    // Before the fix it served (the timeout ends it): /healthz 200, every write 503.
    const run = spawnSync(command, args, { cwd: ROOT, env, encoding: 'utf8', timeout: 20_000 });
    assert.equal(run.status, 1, `exit ${run.status} ${run.signal}: ${run.stdout}${run.stderr}`);
    assert.match(run.stderr, /Cannot open the SQLite database .*roster\.db: .*\(EACCES\)\. Roster must be able to write the file/);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
