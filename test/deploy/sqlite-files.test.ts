/**
 * The SQLite database file at start: who may read it (a new database is Roster's user's alone,
 * one others may read is served with a warning), and whether Roster may write it (a file it
 * cannot write stops it at start); a file missing beside its write-ahead log, and a file moved
 * or replaced while Roster runs.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { isDatabaseUnavailable, openStore } from '../../src/store/index.ts';
import { transact } from '../../src/store/transact.ts';
import { ROOT, freePort, startInstance, stop, waitHealthy } from '../support/process.ts';
import { rosterArgs } from '../support/roster-command.ts';

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
    const created = spawnSync(process.execPath, rosterArgs('tokens', 'list'), { cwd: ROOT, env, encoding: 'utf8' });
    assert.equal(created.status, 0, created.stderr);
    if (asRoot) for (const name of ['', ...readdirSync(home)]) chownSync(join(home, name), nobody(), -1);
    chmodSync(path, 0o444);
    const serve = [process.execPath, ...rosterArgs('serve')];
    const [command = '', ...args] = asRoot ? ['runuser', '-u', 'nobody', '--', ...serve] : serve;
    // Before the fix it served (the timeout ends it): /healthz 200, every write 503.
    const run = spawnSync(command, args, { cwd: ROOT, env, encoding: 'utf8', timeout: 20_000 });
    assert.equal(run.status, 1, `exit ${run.status} ${run.signal}: ${run.stdout}${run.stderr}`);
    assert.match(run.stderr, /Cannot open the SQLite database .*roster\.db: .*\(EACCES\)\. Roster must be able to write the file/);
    // A command says it as it is, naming the variable; no "unexpected error".
    const [listCommand = '', ...listArgs] = asRoot ? ['runuser', '-u', 'nobody', '--', process.execPath, ...rosterArgs('tokens', 'list')] : [process.execPath, ...rosterArgs('tokens', 'list')];
    const list = spawnSync(listCommand, listArgs, { cwd: ROOT, env, encoding: 'utf8', timeout: 20_000 });
    assert.equal(list.status, 1, list.stderr);
    assert.match(list.stderr, /^Cannot open the SQLite database .*ROSTER_DATABASE_URL names the database you mean/m);
    assert.doesNotMatch(list.stderr, /unexpected error/);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

/** The warn-level lines (pino level 40) a `roster serve` printed on stdout from its start to its stop. */
async function serveWarnings(path: string): Promise<Array<{ msg: string; paths?: Array<{ path: string; mode: string; fix: string }> }>> {
  const instance = await startInstance(`sqlite:${path}`, { ROSTER_LOG_LEVEL: 'warn' });
  try {
    await waitHealthy(instance);
  } finally {
    assert.equal(await stop(instance), 0, instance.output);
  }
  return instance.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { level: number; msg: string })
    .filter((line) => line.level === 40);
}

test('`roster serve` on a database file others may read warns once, naming the path, its mode and the chmod that fixes it; it still serves', async () => {
  const home = mkdtempSync(join(tmpdir(), 'roster-exposed-'));
  const path = join(home, 'roster.db');
  try {
    // Created as an older Roster did: readable by everyone.
    writeFileSync(path, '');
    chmodSync(path, 0o644);
    const exposed = (await serveWarnings(path)).filter((line) => line.msg.includes('open to other users'));
    assert.equal(exposed.length, 1, JSON.stringify(exposed));
    const [warning] = exposed;
    assert.ok(warning);
    assert.match(warning.msg, new RegExp(`${path.replaceAll('.', '\\.')} \\(mode 0644\\)`));
    assert.match(warning.msg, new RegExp(`chmod 600 ${path.replaceAll('.', '\\.')}( |$)`));
    assert.match(warning.msg, /password and token hashes/);
    // SQLite gave -wal and -shm the file's mode: the same command fixes them.
    assert.deepEqual(
      warning.paths?.map((exposedPath) => [exposedPath.path, exposedPath.mode]),
      [[path, '0644'], [`${path}-wal`, '0644'], [`${path}-shm`, '0644']],
    );
    assert.equal(modeOf(path), '644', 'the mode is left as it was');

    // Fixed as the warning says: the next start is silent.
    for (const name of readdirSync(home)) chmodSync(join(home, name), 0o600);
    assert.deepEqual((await serveWarnings(path)).filter((line) => line.msg.includes('open to other users')), []);

    // A folder others may write: they could replace the database.
    chmodSync(home, 0o777);
    const folder = (await serveWarnings(path)).filter((line) => line.msg.includes('open to other users'));
    assert.equal(folder.length, 1, JSON.stringify(folder));
    assert.deepEqual(folder[0]?.paths?.map((exposedPath) => [exposedPath.path, exposedPath.mode, exposedPath.fix]), [[home, '0777', `chmod go-w ${home}`]]);

    // A sticky folder open to all, as /tmp: shared on purpose, so the advice is to move, never to close it.
    chmodSync(home, 0o1777);
    const shared = (await serveWarnings(path)).filter((line) => line.msg.includes('open to other users'));
    const fix = shared[0]?.paths?.[0]?.fix ?? '';
    assert.match(fix, /^move the database into a folder of Roster's own \(mkdir -m 700 <folder>, then ROSTER_DATABASE_URL=sqlite:<folder>\/roster\.db\)/, fix);
    assert.doesNotMatch(shared[0]?.msg ?? '', /chmod go-w/);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test('a database file missing beside its write-ahead log is not replaced by an empty one: the start is refused, naming both files, and the log is kept', async () => {
  // A write-ahead log that holds committed changes, as a database moved or deleted while Roster ran leaves it.
  const original = join(dir, 'orphan-source', 'roster.db');
  const store = await openStore({ kind: 'sqlite', path: original });
  await store.db.insertInto('settings').values({ key: 'orphan.check', value: 'kept', updated_at: '2026-01-01T00:00:00.000Z' }).execute();
  const path = join(dir, 'orphan', 'roster.db');
  mkdirSync(dirname(path), { recursive: true });
  copyFileSync(`${original}-wal`, `${path}-wal`);
  await store.close();
  const size = statSync(`${path}-wal`).size;
  assert.ok(size > 0);

  await assert.rejects(openStore({ kind: 'sqlite', path }), (error: Error) => {
    assert.match(error.message, /^The SQLite database .*orphan\/roster\.db is missing, but its write-ahead log .*orphan\/roster\.db-wal \(\d+ bytes\) is there/);
    assert.match(error.message, /Put the database file back/);
    return true;
  });
  assert.equal(existsSync(path), false, 'no empty database was created');
  assert.equal(statSync(`${path}-wal`).size, size, 'the log is untouched');

  const port = await freePort();
  const run = spawnSync(process.execPath, rosterArgs('serve'), {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ROSTER_DATABASE_URL: `sqlite:${path}`, ROSTER_PORT: String(port), ROSTER_LOG_LEVEL: 'warn' },
  });
  assert.equal(run.status, 1, run.stderr);
  assert.match(run.stderr, /is missing, but its write-ahead log/);
  assert.doesNotMatch(run.stderr, /unexpected error/);
  assert.equal(existsSync(path), false);
});

test('a database file moved away or replaced while Roster runs: writes are refused as unavailable (503), not acknowledged into the lost file, and readiness fails; back in place, writes work again', async () => {
  const path = join(dir, 'moved', 'roster.db');
  const store = await openStore({ kind: 'sqlite', path });
  try {
    const write = (key: string) => transact(store.db, (trx) => trx.insertInto('settings').values({ key, value: 'v', updated_at: '2026-01-01T00:00:00.000Z' }).execute());
    await write('moved.before');
    renameSync(path, `${path}.away`);
    await assert.rejects(write('moved.during'), (error: Error) => {
      assert.match(error.message, /^The SQLite database .*moved\/roster\.db is gone \(moved or deleted\) while Roster was running: writes are refused/);
      assert.equal(isDatabaseUnavailable(error), true, 'answered 503 with Retry-After, as a database that cannot be written');
      return true;
    });
    await assert.rejects(store.ping(1000), /is gone/);
    // Another file in its place (a new inode: a restore done by hand) is refused too.
    writeFileSync(path, '');
    await assert.rejects(write('moved.replaced'), /was replaced by another file/);
    rmSync(path);
    renameSync(`${path}.away`, path);
    await write('moved.after');
    await store.ping(1000);
    const keys = (await store.db.selectFrom('settings').select('key').where('key', 'like', 'moved.%').orderBy('key').execute()).map((row) => row.key);
    assert.deepEqual(keys, ['moved.after', 'moved.before']);
  } finally {
    await store.close();
  }
});

test('a database path under a directory that cannot be made (/proc) is refused at once with the open failure, not a busy loop', async () => {
  const started = Date.now();
  await assert.rejects(openStore({ kind: 'sqlite', path: '/proc/roster-no-such-directory/data/roster.db' }), /^DatabaseRefused: Cannot open the SQLite database \/proc\/roster-no-such-directory\/data\/roster\.db: .*\(ENOENT\)/);
  assert.ok(Date.now() - started < 5_000);
});
