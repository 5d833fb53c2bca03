/**
 * The first-start password of `admin` never reaches logs: a real `roster serve` whose output is
 * a pipe (as under systemd, Docker or CI) writes it to a 0600 file and prints only the file's
 * path; on a terminal it is shown; changing the password deletes the file.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { hashPassword, verifyPassword } from '../../src/auth/passwords.ts';
import { initialPasswordFileName } from '../../src/config.ts';
import { createServices } from '../../src/services.ts';
import { openStore, type DatabaseLocation } from '../../src/store/index.ts';
import { POSTGRES_URL, createTestDatabase, eachDatabase, type ScratchDatabase, type TestDatabase } from '../support/databases.ts';
import { ROOT, startInstance, stop, waitHealthy } from '../support/process.ts';
import { rosterArgs } from '../support/roster-command.ts';

function roster(args: string[], env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, rosterArgs(...args), { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A new database and data directory, where first start puts the password file, and their removal. */
async function firstStartPlace(database: TestDatabase): Promise<{ scratch: ScratchDatabase; env: Record<string, string>; file: string; remove: () => Promise<void> }> {
  const scratch = await createTestDatabase(database);
  const dataDir = mkdtempSync(join(tmpdir(), 'roster-data-'));
  // Beside the SQLite file; in ROSTER_DATA_DIR with PostgreSQL, under a name that says which database.
  const directory = scratch.location.kind === 'sqlite' ? join(scratch.location.path, '..') : dataDir;
  return {
    scratch,
    env: { ROSTER_DATA_DIR: dataDir, ROSTER_LOG_LEVEL: 'info' },
    file: join(directory, initialPasswordFileName(scratch.location)),
    async remove() {
      await scratch.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Whether `password` signs `admin` in, read from the database as it stands. */
async function isAdminPassword(scratch: { readonly location: DatabaseLocation }, password: string): Promise<boolean> {
  const store = await openStore(scratch.location, { migrate: false });
  try {
    const row = await store.db.selectFrom('users').select('password_hash').where('login', '=', 'admin').executeTakeFirstOrThrow();
    return verifyPassword(password, row.password_hash ?? '');
  } finally {
    await store.close();
  }
}

eachDatabase('first start without a terminal', (database) => {
  let place: Awaited<ReturnType<typeof firstStartPlace>>;
  before(async () => {
    place = await firstStartPlace(database);
  });
  after(() => place.remove());

  test('writes the password to initial-admin-password (0600) and logs only where it is; a password reset deletes the file', async () => {
    const { scratch, env, file } = place;
    const instance = await startInstance(scratch.url, env);
    try {
      await waitHealthy(instance);
      const deadline = Date.now() + 10_000;
      // The console lines and the log line (pino, flushed on its own schedule) both name the file.
      const both = (): boolean => instance.output.includes('Its password is in') && instance.output.includes('"msg":"the first-start password');
      while (!both() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const password = readFileSync(file, 'utf8').trim();
      assert.ok(password.length >= 20);
      assert.ok(!instance.output.includes(password), 'the password is not in the output');
      assert.ok(instance.output.includes(file), `the output says where the password is:\n${instance.output}`);
      assert.match(instance.output, /"msg":"the first-start password of \\"admin\\" is in /, 'a log line says where');

      assert.equal(await isAdminPassword(scratch, password), true, 'the file holds the password that signs in');

      const reset = roster(['admin', 'reset-password'], { ROSTER_DATABASE_URL: scratch.url, ...env });
      assert.equal(reset.status, 0, reset.stderr);
      assert.equal(existsSync(file), false, 'the file goes once the password is changed');
    } finally {
      await stop(instance);
    }
  });
});

eachDatabase('the first-start password file when the password changes where this instance cannot see', (database) => {
  test('kept across a restart while it is admin\'s password; deleted at the next start once it is not (changed on another instance)', async () => {
    const { scratch, env, file, remove } = await firstStartPlace(database);
    try {
      let instance = await startInstance(scratch.url, env);
      await waitHealthy(instance);
      await stop(instance);
      assert.ok(existsSync(file));
      instance = await startInstance(scratch.url, env);
      await waitHealthy(instance);
      await stop(instance);
      assert.ok(existsSync(file), 'still the password: kept');
      // Another instance (its own disk) sets admin's password: this one's file is not touched then.
      const store = await openStore(scratch.location, { migrate: false });
      try {
        await store.db.updateTable('users').set({ password_hash: await hashPassword('changed elsewhere, long enough') }).where('login', '=', 'admin').execute();
      } finally {
        await store.close();
      }
      instance = await startInstance(scratch.url, env);
      try {
        await waitHealthy(instance);
        assert.equal(existsSync(file), false, 'no longer the password: deleted at start');
        const deadline = Date.now() + 10_000;
        while (!instance.output.includes('deleted the first-start password file') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
        assert.match(instance.output, /"msg":"deleted the first-start password file: admin's password was changed/);
      } finally {
        await stop(instance);
      }
    } finally {
      await remove();
    }
  });
});

eachDatabase('a first start whose password cannot be written', (database) => {
  test('creates no administrator, says why, and the next start creates it with its password in the file', async () => {
    const { scratch, env, file, remove } = await firstStartPlace(database);
    try {
      // A directory where the file should go: the write fails (even for root), as a full disk
      // would. The administrator was committed first and the password lost: later starts found
      // an administrator and issued none, as after a crash between the commit and the write.
      mkdirSync(file);
      const failed = await startInstance(scratch.url, env);
      const code = await new Promise<number | null>((resolve) => (failed.process.exitCode !== null ? resolve(failed.process.exitCode) : failed.process.once('exit', resolve)));
      assert.equal(code, 1);
      assert.match(failed.output, /could not write the password of the local administrator "admin" to .*, so it was not created\. Make ROSTER_DATA_DIR writable/);
      const store = await openStore(scratch.location, { migrate: false });
      try {
        assert.equal(await store.db.selectFrom('users').select('id').where('login', '=', 'admin').executeTakeFirst(), undefined, 'no administrator without its password');
      } finally {
        await store.close();
      }

      rmSync(file, { recursive: true });
      const instance = await startInstance(scratch.url, env);
      try {
        await waitHealthy(instance);
        assert.equal(await isAdminPassword(scratch, readFileSync(file, 'utf8').trim()), true, 'the file holds the password that signs in');
      } finally {
        await stop(instance);
      }
    } finally {
      await remove();
    }
  });
});

test('a CLI command on a terminal shows the first-start password and writes no file', { skip: existsSync('/usr/bin/script') ? false : 'needs script(1) for a pseudo-terminal' }, () => {
  const directory = mkdtempSync(join(tmpdir(), 'roster-tty-'));
  try {
    const command = [process.execPath, ...rosterArgs('scim', 'status')].join(' ');
    const result = spawnSync('/usr/bin/script', ['-qec', command, '/dev/null'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, ROSTER_DATABASE_URL: `sqlite:${join(directory, 'roster.db')}` },
    });
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /Its password, shown only this once:\r?\n {2}\S{20,}/);
    assert.equal(existsSync(join(directory, 'initial-admin-password')), false);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});

test("an in-memory database writes no password file: it would replace the password of the database kept in that folder", () => {
  const directory = mkdtempSync(join(tmpdir(), 'roster-memory-'));
  try {
    const file = join(directory, 'initial-admin-password');
    writeFileSync(file, 'the-password-of-the-real-database\n', { mode: 0o600 });
    const run = roster(['scim', 'status'], { ROSTER_DATABASE_URL: 'sqlite::memory:', ROSTER_DATA_DIR: directory });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(readFileSync(file, 'utf8'), 'the-password-of-the-real-database\n');
    // Nowhere else to keep it: said on stderr, with the database it belongs to gone with the command.
    assert.match(run.stderr, /Its password, shown only this once:/);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});

test('a data directory that cannot be made (/proc) stops first start at once saying so, not a busy loop', { skip: POSTGRES_URL === undefined ? 'set ROSTER_TEST_POSTGRES_URL to run it (the file goes to ROSTER_DATA_DIR with PostgreSQL)' : false }, async () => {
  const scratch = await createTestDatabase('postgres');
  try {
    const result = spawnSync(process.execPath, rosterArgs('scim', 'status'), {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, ROSTER_DATABASE_URL: scratch.url, ROSTER_DATA_DIR: '/proc/roster-no-such-folder/data' },
    });
    assert.equal(result.signal, null, 'it stopped by itself');
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, /could not write the password of the local administrator "admin" to \/proc\/roster-no-such-folder\/data\/initial-admin-password\.postgres-/);
  } finally {
    await scratch.drop();
  }
});

/** Runs the start-up check of the first-start password file (as `roster serve` does at start and hourly) on `location`. */
async function startUpCheck(location: DatabaseLocation, directory: string): Promise<boolean> {
  const store = await openStore(location, { migrate: false });
  try {
    return await createServices(store, { initialPasswordDirectory: directory, initialPasswordName: initialPasswordFileName(location) }).administrators.discardStaleInitialPassword();
  } finally {
    await store.close();
  }
}

test('a PostgreSQL database run from a SQLite installation\'s folder keeps its own password file, named after it, and neither replaces nor deletes the other\'s', { skip: POSTGRES_URL === undefined ? 'set ROSTER_TEST_POSTGRES_URL to run it' : false }, async () => {
  const directory = mkdtempSync(join(tmpdir(), 'roster-shared-'));
  const scratch = await createTestDatabase('postgres');
  try {
    const sqlite: DatabaseLocation = { kind: 'sqlite', path: join(directory, 'roster.db') };
    const env = { ROSTER_DATA_DIR: directory };
    assert.equal(roster(['scim', 'status'], { ...env, ROSTER_DATABASE_URL: `sqlite:${sqlite.path}` }).status, 0);
    const sqliteFile = join(directory, 'initial-admin-password');
    const sqlitePassword = readFileSync(sqliteFile, 'utf8').trim();

    const postgres = roster(['scim', 'status'], { ...env, ROSTER_DATABASE_URL: scratch.url });
    assert.equal(postgres.status, 0, postgres.stderr);
    const database = new URL(scratch.url).pathname.slice(1);
    const postgresFile = join(directory, `initial-admin-password.postgres-127.0.0.1-5432-${database}`);
    assert.equal(join(directory, initialPasswordFileName(scratch.location)), postgresFile);
    assert.ok(postgres.stderr.includes(postgresFile), `the output names the database's own file:\n${postgres.stderr}`);
    assert.equal(statSync(postgresFile).mode & 0o777, 0o600);
    const postgresPassword = readFileSync(postgresFile, 'utf8').trim();

    // Each file holds its own database's password: the SQLite one was not replaced.
    assert.equal(readFileSync(sqliteFile, 'utf8').trim(), sqlitePassword);
    assert.equal(await isAdminPassword({ location: sqlite }, sqlitePassword), true);
    assert.equal(await isAdminPassword(scratch, postgresPassword), true);
    assert.equal(await isAdminPassword(scratch, sqlitePassword), false);
    // And neither start deletes the other's as a password that changed.
    assert.equal(await startUpCheck(sqlite, directory), false);
    assert.equal(await startUpCheck(scratch.location, directory), false);
    assert.ok(existsSync(sqliteFile) && existsSync(postgresFile));

    // A file an older version wrote under the plain name, holding this PostgreSQL database's
    // password, takes its database's name at the next start; the SQLite one stays.
    const older = mkdtempSync(join(tmpdir(), 'roster-older-'));
    try {
      writeFileSync(join(older, 'initial-admin-password'), `${postgresPassword}\n`, { mode: 0o600 });
      assert.equal(await startUpCheck(sqlite, directory), false);
      assert.equal(await startUpCheck(scratch.location, older), false);
      assert.equal(existsSync(join(older, 'initial-admin-password')), false);
      assert.equal(readFileSync(join(older, initialPasswordFileName(scratch.location)), 'utf8').trim(), postgresPassword);
    } finally {
      rmSync(older, { recursive: true, force: true });
    }
  } finally {
    await scratch.drop();
    rmSync(directory, { recursive: true, force: true });
  }
});

test('two SQLite databases in one folder keep a password file each, and neither start replaces nor deletes the other\'s; an older version\'s shared file goes to the database whose password it holds', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'roster-two-sqlite-'));
  try {
    const main: DatabaseLocation = { kind: 'sqlite', path: join(directory, 'roster.db') };
    const staging: DatabaseLocation = { kind: 'sqlite', path: join(directory, 'staging.db') };
    assert.equal(roster(['scim', 'status'], { ROSTER_DATABASE_URL: `sqlite:${main.path}` }).status, 0);
    const stagingStart = roster(['scim', 'status'], { ROSTER_DATABASE_URL: `sqlite:${staging.path}` });
    assert.equal(stagingStart.status, 0, stagingStart.stderr);

    // The default database keeps the name every guide shows; the other is named after its file.
    const mainFile = join(directory, 'initial-admin-password');
    const stagingFile = join(directory, 'initial-admin-password.staging.db');
    assert.ok(stagingStart.stderr.includes(stagingFile), `the output names the database's own file:\n${stagingStart.stderr}`);
    assert.equal(statSync(stagingFile).mode & 0o777, 0o600);
    const mainPassword = readFileSync(mainFile, 'utf8').trim();
    const stagingPassword = readFileSync(stagingFile, 'utf8').trim();
    assert.equal(await isAdminPassword({ location: main }, mainPassword), true);
    assert.equal(await isAdminPassword({ location: staging }, stagingPassword), true);
    assert.equal(await startUpCheck(main, directory), false);
    assert.equal(await startUpCheck(staging, directory), false);
    assert.ok(existsSync(mainFile) && existsSync(stagingFile), 'neither start deleted the other\'s file');

    // As an older version left it: staging's password under the plain name, in a folder of its own.
    const older = mkdtempSync(join(tmpdir(), 'roster-older-sqlite-'));
    try {
      writeFileSync(join(older, 'initial-admin-password'), `${stagingPassword}\n`, { mode: 0o600 });
      assert.equal(await startUpCheck(staging, older), false);
      assert.equal(existsSync(join(older, 'initial-admin-password')), false);
      assert.equal(readFileSync(join(older, 'initial-admin-password.staging.db'), 'utf8').trim(), stagingPassword);
    } finally {
      rmSync(older, { recursive: true, force: true });
    }
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});
