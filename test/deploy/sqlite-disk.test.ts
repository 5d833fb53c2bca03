/**
 * SQLite on a disk that fills up or is read-only: a clear 503 with Retry-After and the cause in
 * the log, never a 500, no write half made, and a database that passes PRAGMA integrity_check
 * afterwards. The disk is a small tmpfs the test mounts (root only: the test skips otherwise).
 * As root, chmod cannot make an open file read-only, and a mount cannot be remounted read-only
 * while a file on it is open for writing: the read-only case starts Roster on a mount made
 * read-only while it was stopped (SQLite cannot even open a WAL database there, so Roster stops
 * at start with a clear message), and a serving Roster whose database refuses
 * writes (SQLITE_READONLY) is made with PRAGMA query_only.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, rmSync, rmdirSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { DATABASE_RETRY_AFTER_SECONDS } from '../../src/http/errors.ts';
import { openStore } from '../../src/store/index.ts';
import { startTestApp, userBody, type TestApp } from '../support/app.ts';
import { startInstance, stop, waitHealthy } from '../support/process.ts';

const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

/** Mounts a tmpfs of `size` at a new directory, or says why it cannot. */
function mountTmpfs(size: string): { path: string } | { skip: string } {
  if (process.getuid?.() !== 0) return { skip: 'mounting a small tmpfs needs root' };
  const path = mkdtempSync(join(tmpdir(), 'roster-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', path], { stdio: 'pipe' });
    return { path };
  } catch (error) {
    rmdirSync(path);
    return { skip: `mount -t tmpfs is not permitted here (${(error as Error).message.split('\n')[0]})` };
  }
}

/** Unmounts a test's tmpfs; lazily if a failed test left a file open on it, so that none is left behind. */
function unmount(path: string): void {
  try {
    execFileSync('umount', [path], { stdio: 'pipe' });
  } catch {
    execFileSync('umount', ['-l', path], { stdio: 'pipe' });
  }
  rmdirSync(path);
}

/** Fills the file system of `path` with a file until it has no room left; returns the file. */
function fill(directory: string): string {
  const file = join(directory, 'filler');
  const fd = openSync(file, 'w');
  try {
    for (const size of [1 << 20, 1 << 16, 1 << 12, 512]) {
      const chunk = Buffer.alloc(size, 1);
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch {
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return file;
}

/** PRAGMA integrity_check of a closed database, on a copy (a WAL database cannot be opened on a read-only mount). */
function integrityCheck(path: string): string {
  const scratch = mkdtempSync(join(tmpdir(), 'roster-check-'));
  try {
    copyFileSync(path, join(scratch, 'copy.db'));
    const database = new SQLite(join(scratch, 'copy.db'));
    try {
      return String(database.pragma('integrity_check', { simple: true }));
    } finally {
      database.close();
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** A logger that keeps what it writes, for asserting that the cause was logged. */
function capturingLogger(lines: string[]) {
  return { level: 'warn', stream: { write: (line: string) => void lines.push(line) } };
}

function assertScimUnavailable(response: { statusCode: number; headers: Record<string, unknown>; body: string }): void {
  assert.equal(response.statusCode, 503, response.body.slice(0, 300));
  assert.equal(response.headers['retry-after'], String(DATABASE_RETRY_AFTER_SECONDS));
  const body = JSON.parse(response.body);
  assert.deepEqual(body.schemas, [ERROR_SCHEMA]);
  assert.equal(body.status, '503');
  assert.match(body.detail, /database/);
}

const probe = mountTmpfs('1m');
if ('path' in probe) unmount(probe.path);
const skip = 'skip' in probe ? probe.skip : false;

describe('SQLite on a full disk (a small tmpfs)', { skip }, () => {
  let disk: string;
  let roster: TestApp;
  const logs: string[] = [];

  before(async () => {
    const mounted = mountTmpfs('6m');
    assert.ok('path' in mounted);
    disk = mounted.path;
    roster = await startTestApp({ location: { kind: 'sqlite', path: join(disk, 'roster.db') }, app: { logger: capturingLogger(logs) } });
  });

  after(async () => {
    await roster?.close().catch(() => {});
    if (disk !== undefined) unmount(disk);
  });

  test('writes answer 503 with Retry-After and SQLITE_FULL in the log; nothing half-written; after space is freed writes succeed and integrity_check is ok', async () => {
    const acknowledged: string[] = [];
    for (let i = 0; i < 20; i += 1) {
      const answer = await roster.request('POST', '/Users', userBody(`before-${i}@example.com`));
      assert.equal(answer.status, 201);
      acknowledged.push(`before-${i}@example.com`);
    }
    const filler = fill(disk);
    const padding = 'x'.repeat(8000);
    let refused: string | undefined;
    for (let i = 0; i < 2000 && refused === undefined; i += 1) {
      const userName = `full-${i}@example.com`;
      const answer = await roster.request('POST', '/Users', userBody(userName, { displayName: padding, title: padding }));
      if (answer.status === 201) acknowledged.push(userName);
      else {
        assertScimUnavailable(answer.raw);
        refused = userName;
      }
    }
    assert.ok(refused !== undefined, 'the disk never filled up');
    // Every further write is refused the same way while the disk is full; reads still work.
    const kept = (await roster.request('GET', `/Users?filter=${encodeURIComponent('userName eq "before-0@example.com"')}`)).body.Resources[0];
    const patch = await roster.request('PATCH', `/Users/${kept.id}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'replace', path: 'displayName', value: padding }, { op: 'replace', path: 'title', value: padding }],
    });
    assertScimUnavailable(patch.raw);
    assert.equal((await roster.request('GET', '/Users?count=1')).status, 200);
    assert.ok(logs.some((line) => line.includes('"level":50') && line.includes('SQLITE_FULL')), 'the cause is logged as an error');

    rmSync(filler);
    const after = await roster.request('POST', '/Users', userBody('after@example.com'));
    assert.equal(after.status, 201, 'writes succeed again once there is room, without a restart');
    acknowledged.push('after@example.com');
    const unchanged = await roster.request('GET', `/Users/${kept.id}`);
    assert.equal(unchanged.body.displayName, undefined, 'the refused PATCH changed nothing');
    assert.equal(unchanged.body.meta.version, kept.meta.version);
    const stored = await roster.request('GET', `/Users?filter=${encodeURIComponent(`userName eq "${refused}"`)}`);
    assert.equal(stored.body.totalResults, 0, 'the refused create left nothing');
    const all = await roster.request('GET', `/Users?count=1&filter=${encodeURIComponent('userName co "@example.com"')}`);
    assert.equal(all.body.totalResults, acknowledged.length, 'every acknowledged create is there');

    await roster.close();
    assert.equal(integrityCheck(join(disk, 'roster.db')), 'ok');
  });
});

describe('SQLite on a read-only disk', { skip }, () => {
  let disk: string;

  before(() => {
    const mounted = mountTmpfs('8m');
    assert.ok('path' in mounted);
    disk = mounted.path;
  });

  after(() => {
    if (disk !== undefined) unmount(disk);
  });

  test('a database on a file system remounted read-only stops Roster at start with a message that says what to check, and is left intact', async () => {
    const path = join(disk, 'roster.db');
    const first = await startTestApp({ location: { kind: 'sqlite', path } });
    assert.equal((await first.request('POST', '/Users', userBody('kept@example.com'))).status, 201);
    await first.close();
    execFileSync('mount', ['-o', 'remount,ro', disk], { stdio: 'pipe' });
    await assert.rejects(openStore({ kind: 'sqlite', path }), (error: unknown) => {
      assert.ok(error instanceof Error);
      assert.match(error.message, /^Cannot open the SQLite database .*\((SQLITE_(CANTOPEN|READONLY)[A-Z_]*|EROFS)\)\. Roster must be able to write the file/);
      assert.match(error.message, /writable and not full/);
      return true;
    });
    assert.equal(integrityCheck(path), 'ok');
  });
});

describe('SQLite refusing writes while Roster serves', () => {
  let roster: TestApp;
  let directory: string;
  const logs: string[] = [];

  before(async () => {
    directory = mkdtempSync(join(tmpdir(), 'roster-readonly-'));
    roster = await startTestApp({ location: { kind: 'sqlite', path: join(directory, 'roster.db') }, app: { logger: capturingLogger(logs) } });
  });

  after(async () => {
    await roster?.close().catch(() => {});
    rmSync(directory, { recursive: true, force: true });
  });

  // As root no file can be made read-only under an open connection; PRAGMA query_only makes
  // SQLite answer every write SQLITE_READONLY, as it does for a database it could open only
  // for reading, through the same transactions and error path.
  test('writes answer 503 (SQLITE_READONLY) with the cause logged instead of 500; reads go on; nothing is written', async () => {
    assert.equal((await roster.request('POST', '/Users', userBody('kept@example.com'))).status, 201);
    await sql`PRAGMA query_only = ON`.execute(roster.services.store.db);
    const write = await roster.request('POST', '/Users', userBody('refused@example.com'));
    assertScimUnavailable(write.raw);
    assert.ok(logs.some((line) => line.includes('"level":50') && line.includes('SQLITE_READONLY')), 'the cause is logged as an error');
    assert.equal((await roster.request('GET', '/Users?count=1')).status, 200);
    await sql`PRAGMA query_only = OFF`.execute(roster.services.store.db);
    const stored = await roster.request('GET', `/Users?filter=${encodeURIComponent('userName eq "refused@example.com"')}`);
    assert.equal(stored.body.totalResults, 0);
    await roster.close();
    assert.equal(integrityCheck(join(directory, 'roster.db')), 'ok');
  });
});

describe('SQLite on a disk with little room left', { skip }, () => {
  test('roster serve warns at start, naming the database and the free space, and still serves', async () => {
    const mounted = mountTmpfs('16m');
    assert.ok('path' in mounted);
    const instance = await startInstance(`sqlite:${join(mounted.path, 'roster.db')}`);
    try {
      await waitHealthy(instance);
      const deadline = Date.now() + 10_000;
      while (!/has [\d.]+ MiB free: once it is full, every write is refused/.test(instance.output) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      const line = instance.output.split('\n').find((text) => text.includes('MiB free'));
      assert.ok(line !== undefined, instance.output);
      const entry = JSON.parse(line) as { level: number; path: string; freeBytes: number; msg: string };
      assert.equal(entry.level, 40);
      assert.equal(entry.path, join(mounted.path, 'roster.db'));
      assert.ok(entry.freeBytes > 0 && entry.freeBytes < 16 * 1024 * 1024, String(entry.freeBytes));
      assert.match(entry.msg, /^the disk that holds the SQLite database .*roster\.db has [\d.]+ MiB free/);
    } finally {
      await stop(instance);
      unmount(mounted.path);
    }
  });
});

/** A 32 MiB ext4 file system on a loop device, mounted at a new directory, or why it cannot be. */
function mountExt4(): { path: string; image: string } | { skip: string } {
  if (process.getuid?.() !== 0) return { skip: 'mounting a loop device needs root' };
  const scratch = mkdtempSync(join(tmpdir(), 'roster-ext4-'));
  const image = join(scratch, 'disk.img');
  const path = join(scratch, 'mnt');
  try {
    execFileSync('truncate', ['-s', '32M', image], { stdio: 'pipe' });
    execFileSync('mkfs.ext4', ['-q', image], { stdio: 'pipe' });
    mkdirSync(path);
    execFileSync('mount', ['-o', 'loop', image, path], { stdio: 'pipe' });
    return { path, image };
  } catch (error) {
    rmSync(scratch, { recursive: true, force: true });
    return { skip: `a loop-mounted ext4 is not possible here (${(error as Error).message.split('\n')[0]})` };
  }
}

const ext4 = mountExt4();
if ('path' in ext4) {
  execFileSync('umount', [ext4.path], { stdio: 'pipe' });
  rmSync(join(ext4.path, '..'), { recursive: true, force: true });
}

describe('SQLite on a file system shut down under Roster (a loop-mounted ext4)', { skip: 'skip' in ext4 ? ext4.skip : false }, () => {
  // After the file system was shut down, every request read SQLITE_CORRUPT or an I/O error, while
  // /healthz answered 200 from SQLite's cache: a load balancer kept sending traffic to it.
  test('readiness fails, saying the file cannot be read; liveness stays', async () => {
    const mounted = mountExt4();
    assert.ok('path' in mounted);
    const roster = await startTestApp({ location: { kind: 'sqlite', path: join(mounted.path, 'roster.db') } });
    try {
      assert.equal((await roster.request('POST', '/Users', userBody('before@example.com'))).status, 201);
      assert.equal((await roster.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
      // EXT4_IOC_SHUTDOWN without flushing the log: as a disk that stopped answering.
      execFileSync('python3', ['-c', `import fcntl, os, struct; fd = os.open(${JSON.stringify(mounted.path)}, os.O_RDONLY); fcntl.ioctl(fd, 0x8004587d, struct.pack('I', 2))`], { stdio: 'pipe' });
      // Past the readiness check's cache (a second).
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const health = await roster.app.inject({ method: 'GET', url: '/healthz' });
      assert.equal(health.statusCode, 503, health.body);
      assert.match(JSON.parse(health.body).detail, /^The SQLite database .*roster\.db cannot be read \(EIO\): the disk or the file system under it failed/);
      assert.equal((await roster.app.inject({ method: 'GET', url: '/livez' })).statusCode, 200);
    } finally {
      await roster.close().catch(() => {});
      try {
        execFileSync('umount', [mounted.path], { stdio: 'pipe' });
      } catch {
        execFileSync('umount', ['-l', mounted.path], { stdio: 'pipe' });
      }
      rmSync(join(mounted.path, '..'), { recursive: true, force: true });
    }
  });
});
