/**
 * `roster db backup` while a real `roster serve` writes (SCIM creates), then `roster db
 * restore`: the restored database holds every create acknowledged before the backup started
 * and passes PRAGMA integrity_check. SQLite only by nature (PostgreSQL backups are pg_dump's).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import SQLite from 'better-sqlite3';
import { createServices } from '../../src/services.ts';
import { openStore } from '../../src/store/index.ts';
import { testCertificate } from '../support/app.ts';
import { createTestDatabase, type ScratchDatabase } from '../support/databases.ts';
import { ROOT, startInstance, stop, waitHealthy, type Instance } from '../support/process.ts';
import { rosterArgs } from '../support/roster-command.ts';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `roster …` without blocking the event loop (the writers keep going meanwhile). */
function roster(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, rosterArgs(...args), { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('db backup under write load, and db restore', () => {
  let scratch: ScratchDatabase;
  let instance: Instance | undefined;
  let token = '';
  let path = '';

  before(async () => {
    scratch = await createTestDatabase('sqlite');
    if (scratch.location.kind !== 'sqlite') throw new Error('SQLite expected');
    path = scratch.location.path;
    const store = await openStore(scratch.location);
    try {
      const services = createServices(store);
      assert.ok((await services.saml.configure({ providerId: 'https://idp.example.com', loginUrl: 'https://idp.example.com/sso', certificates: [testCertificate()] }, { kind: 'cli' })).ok);
      await services.provisioning.enable({ kind: 'cli' });
      await services.administrators.ensureAdministrator();
      const admin = await services.accounts.findByLogin('admin');
      assert.ok(admin);
      token = (await services.tokens.create('idp', { kind: 'cli' }, admin.id)).token;
    } finally {
      await store.close();
    }
    instance = await startInstance(scratch.url);
    await waitHealthy(instance);
  });

  after(async () => {
    if (instance !== undefined) await stop(instance);
    await scratch.drop();
  });

  test('a backup taken while creates are acknowledged holds every create acknowledged before it started; restore refuses while serving, then restores and keeps the old file', async (t) => {
    const serving = instance as Instance;
    const acknowledged: string[] = [];
    let writing = true;
    let failures = 0;
    async function writer(name: string): Promise<void> {
      for (let n = 0; writing; n += 1) {
        const userName = `${name}-${n}@example.com`;
        const response = await fetch(`${serving.base}/api/scim/v2/Users`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
          body: JSON.stringify({ schemas: [USER], userName }),
        });
        await response.arrayBuffer();
        if (response.status === 201) acknowledged.push(userName);
        else failures += 1;
      }
    }
    const writers = ['a', 'b', 'c'].map((name) => writer(name));
    while (acknowledged.length < 50) await new Promise((resolve) => setTimeout(resolve, 20));

    const file = join(path, '..', 'backup.db');
    const before = [...acknowledged];
    const backup = await roster(['db', 'backup', file], { ROSTER_DATABASE_URL: scratch.url });
    const duringBackup = acknowledged.length - before.length;
    assert.equal(backup.status, 0, backup.stderr);
    assert.match(backup.stdout, /^Backup complete: .*integrity ok\)\.$/m);
    assert.equal(statSync(file).mode & 0o777, 0o600, 'a backup is readable by its owner only');

    // Restore refuses while the server has the database open.
    const refused = await roster(['db', 'restore', file], { ROSTER_DATABASE_URL: scratch.url });
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /is in use .*stop every Roster instance/);

    writing = false;
    await Promise.all(writers);
    t.diagnostic(`${before.length} creates acknowledged before the backup, ${duringBackup} while it ran, ${acknowledged.length} in all`);
    assert.equal(failures, 0, 'no create failed during the backup');
    assert.ok(duringBackup > 0 || acknowledged.length > before.length, 'writes went on while the backup ran');
    await stop(serving);
    instance = undefined;

    const restored = await roster(['db', 'restore', file], { ROSTER_DATABASE_URL: scratch.url });
    assert.equal(restored.status, 0, restored.stderr);
    assert.ok(existsSync(`${path}.before-restore`), 'the replaced database is kept');
    const db = new SQLite(path, { readonly: true });
    try {
      assert.deepEqual(db.pragma('integrity_check'), [{ integrity_check: 'ok' }]);
      const names = new Set((db.prepare('SELECT login FROM users').all() as { login: string }[]).map((row) => row.login));
      const missing = before.filter((name) => !names.has(name));
      assert.deepEqual(missing, [], `every create acknowledged before the backup is restored (${before.length} of them)`);
    } finally {
      db.close();
    }
    // The restored database serves.
    instance = await startInstance(scratch.url);
    await waitHealthy(instance);
    const listed = await fetch(`${instance.base}/api/scim/v2/Users?filter=${encodeURIComponent(`userName eq "${before[0]}"`)}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(((await listed.json()) as { totalResults: number }).totalResults, 1);
  });

  test('restore refuses a file that is not a Roster database; backup refuses PostgreSQL with a pointer to pg_dump', () => {
    const notRoster = spawnSync(process.execPath, rosterArgs('db', 'restore', join(ROOT, 'package.json')), { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ROSTER_DATABASE_URL: `sqlite:${join(path, '..', 'other.db')}` } });
    assert.equal(notRoster.status, 1);
    assert.match(notRoster.stderr, /is not a SQLite database/);
    const postgres = spawnSync(process.execPath, rosterArgs('db', 'backup', '/tmp/never.db'), { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ROSTER_DATABASE_URL: 'postgres://roster@127.0.0.1:1/none' } });
    assert.equal(postgres.status, 1);
    assert.match(postgres.stderr, /for PostgreSQL use pg_dump -Fc: see docs\/operations\.md#backups-and-restore/);
  });
});

describe('an unfinished backup', () => {
  let scratch: ScratchDatabase;
  let path: string;
  before(async () => {
    scratch = await createTestDatabase('sqlite');
    path = scratch.location.kind === 'sqlite' ? scratch.location.path : '';
    const store = await openStore(scratch.location);
    try {
      // About 100 MB, so that the copy lasts long enough to be watched and interrupted.
      for (let done = 0; done < 50_000; done += 1000) {
        const rows = Array.from({ length: 1000 }, (_, i) => ({ at: new Date(Date.UTC(2026, 0, 1) + done + i).toISOString(), actor: 'cli', actor_user: null, action: 'user.updated', target_type: 'user', target_id: `u${done + i}`, details: `"${'x'.repeat(2000)}"` }));
        await store.db.insertInto('audit_events').values(rows).execute();
      }
    } finally {
      await store.close();
    }
  });
  after(() => scratch.drop());

  test('is readable by its owner only from its first byte (the database\'s secrets are in it)', async () => {
    const { backupSqlite } = await import('../../src/store/backup.ts');
    const target = join(path, '..', 'mode.db');
    const previous = process.umask(0o022);
    try {
      const running = backupSqlite(path, target);
      assert.equal(statSync(`${target}.partial`).mode & 0o777, 0o600);
      await running;
      assert.equal(statSync(target).mode & 0o777, 0o600);
    } finally {
      process.umask(previous);
    }
  });

  test('interrupted (Ctrl-C), leaves no partial copy behind and exits 130', async () => {
    const target = join(path, '..', 'interrupted.db');
    const child = spawn(process.execPath, rosterArgs('db', 'backup', target), { cwd: ROOT, env: { ...process.env, ROSTER_DATABASE_URL: `sqlite:${path}` }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // Interrupted once the copy has begun.
    for (let waited = 0; !existsSync(`${target}.partial`) && waited < 30_000; waited += 5) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.ok(existsSync(`${target}.partial`), `the backup never began: ${stderr}`);
    child.kill('SIGINT');
    const code = await exited;
    assert.equal(code, 130, stderr);
    assert.match(stderr, /Backup interrupted \(SIGINT\): the unfinished copy was removed\./);
    for (const leftover of [`${target}.partial`, `${target}.partial-journal`, target]) assert.equal(existsSync(leftover), false, leftover);
  });
});
