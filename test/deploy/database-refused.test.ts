/**
 * A database Roster cannot use at start says why, as a message rather than an
 * "unexpected error": one from a newer Roster, one whose write lock another process holds; a
 * PostgreSQL that cannot be reached, or refuses the password, or has no such database.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import SQLite from 'better-sqlite3';
import { openStore } from '../../src/store/index.ts';
import { connectionFailure } from '../../src/store/errors.ts';
import { ROOT, freePort } from '../support/process.ts';
import { POSTGRES_URL } from '../support/databases.ts';
import { rosterArgs } from '../support/roster-command.ts';

const dir = mkdtempSync(join(tmpdir(), 'roster-refused-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** `roster serve` on `path`, as an operator starts it; it must stop by itself. */
async function serve(path: string): Promise<{ status: number | null; stderr: string }> {
  const env = { ...process.env, ROSTER_DATABASE_URL: `sqlite:${path}`, ROSTER_PORT: String(await freePort()), ROSTER_HOST: '127.0.0.1', ROSTER_LOG_LEVEL: 'warn' };
  const run = spawnSync(process.execPath, rosterArgs('serve'), { cwd: ROOT, env, encoding: 'utf8', timeout: 30_000 });
  return { status: run.status, stderr: run.stderr };
}

test('a database from a newer Roster stops start-up saying so, and naming the migrations this version does not know', async () => {
  const path = join(dir, 'newer.db');
  await (await openStore({ kind: 'sqlite', path })).close();
  const database = new SQLite(path);
  database.prepare('insert into kysely_migration (name, timestamp) values (?, ?)').run('099-future-thing', new Date().toISOString());
  database.close();
  const run = await serve(path);
  assert.equal(run.status, 1, run.stderr);
  assert.match(run.stderr, /^The database comes from a newer Roster \(migrations 099-future-thing are unknown to this version\): run that version/m);
  assert.doesNotMatch(run.stderr, /unexpected error|corrupted/);
  // Its backup by this version is refused about the database and the backup, not the copy and a restore.
  const env = { ...process.env, ROSTER_DATABASE_URL: `sqlite:${path}` };
  const backup = spawnSync(process.execPath, rosterArgs('db', 'backup', join(dir, 'newer-backup.db')), { cwd: ROOT, env, encoding: 'utf8', timeout: 30_000 });
  assert.equal(backup.status, 1, backup.stderr);
  assert.match(backup.stderr, /^The database at .*newer\.db comes from a newer Roster \(migrations 099-future-thing are unknown to this version\): back it up with that version's `roster db backup`; no backup was written\.$/m);
  assert.doesNotMatch(backup.stderr, /partial|restore/);
});

test("another process holding the SQLite database's write lock stops start-up saying so, not 'database is locked'", async () => {
  const path = join(dir, 'locked.db');
  await (await openStore({ kind: 'sqlite', path })).close();
  const holder = new SQLite(path);
  holder.pragma('journal_mode = WAL');
  holder.exec('BEGIN IMMEDIATE');
  try {
    const run = await serve(path);
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, /^Another process holds the SQLite database's write lock .*another Roster serving the same file in the middle of a long write.*Start again once it is done/m);
    assert.doesNotMatch(run.stderr, /unexpected error|migration {2}/);
  } finally {
    holder.exec('ROLLBACK');
    holder.close();
  }
});

/** `roster <args>` against the PostgreSQL at `url`; it must stop by itself. */
async function againstPostgres(url: string, args: readonly string[]): Promise<{ status: number | null; stderr: string }> {
  const env = { ...process.env, ROSTER_DATABASE_URL: url, ROSTER_PORT: String(await freePort()), ROSTER_HOST: '127.0.0.1', ROSTER_LOG_LEVEL: 'warn' };
  const run = spawnSync(process.execPath, rosterArgs(...args), { cwd: ROOT, env, encoding: 'utf8', timeout: 30_000 });
  return { status: run.status, stderr: run.stderr };
}

test('a PostgreSQL that refuses connections: the CLI and serve say the database cannot be reached, where, and why (exit 1), not an unexpected failed migration', async () => {
  const port = await freePort();
  for (const args of [['users', 'list'], ['serve']]) {
    const run = await againstPostgres(`postgres://roster:secret-word@127.0.0.1:${port}/roster`, args);
    assert.equal(run.status, 1, run.stderr);
    assert.equal(run.stderr.trim(), `Cannot connect to the database (PostgreSQL at 127.0.0.1:${port}, database roster, user roster): nothing accepts connections there (connection refused); check that PostgreSQL runs on that host and port.`, args.join(' '));
    assert.doesNotMatch(run.stderr, /unexpected|migration|secret-word/);
  }
});

test('a wrong password or a missing database on a real PostgreSQL is told as such', { skip: POSTGRES_URL === undefined ? 'set ROSTER_TEST_POSTGRES_URL to run it' : false }, async () => {
  const wrongPassword = new URL(POSTGRES_URL ?? '');
  wrongPassword.password = 'not-the-password';
  const badPassword = await againstPostgres(wrongPassword.href, ['users', 'list']);
  assert.equal(badPassword.status, 1);
  assert.match(badPassword.stderr, /^Cannot connect to the database \(PostgreSQL at .*\): password authentication failed for user ".*": check the user and password in ROSTER_DATABASE_URL/m);
  const missing = new URL(POSTGRES_URL ?? '');
  missing.pathname = '/roster_no_such_database';
  const noDatabase = await againstPostgres(missing.href, ['users', 'list']);
  assert.equal(noDatabase.status, 1);
  assert.match(noDatabase.stderr, /^Cannot connect to the database \(PostgreSQL at .*, database roster_no_such_database, .*\): database "roster_no_such_database" does not exist: create it/m);
  for (const run of [badPassword, noDatabase]) assert.doesNotMatch(run.stderr, /unexpected|migration|not-the-password/);
});

test('a PostgreSQL without TLS asked for it by sslmode says so and what to set, not "unexpected error"', async () => {
  // What a server with ssl off answers libpq's and node-postgres's SSLRequest: one byte, 'N'.
  const server = createServer((socket) => socket.once('data', () => socket.end('N')));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as AddressInfo).port;
    for (const args of [['users', 'list'], ['serve']]) {
      // Not spawnSync: the server above answers from this process's event loop.
      const env = { ...process.env, ROSTER_DATABASE_URL: `postgres://roster:secret-word@127.0.0.1:${port}/roster?sslmode=require`, ROSTER_PORT: String(await freePort()), ROSTER_HOST: '127.0.0.1', ROSTER_LOG_LEVEL: 'warn' };
      const child = spawn(process.execPath, rosterArgs(...args), { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      const [status] = (await once(child, 'exit')) as [number | null];
      const run = { status, stderr };
      assert.equal(run.status, 1, run.stderr);
      assert.match(run.stderr, /^Cannot connect to the database \(PostgreSQL at 127\.0\.0\.1:\d+, database roster, user roster\): The server does not support SSL connections: sslmode in ROSTER_DATABASE_URL .* asks for TLS; turn ssl on in the server's postgresql\.conf, or set sslmode=disable/m, args.join(' '));
      assert.doesNotMatch(run.stderr, /unexpected|secret-word/);
    }
  } finally {
    server.close();
  }
});

test("connectionFailure names a refused TLS certificate and what to set", () => {
  const refused = Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' });
  assert.match(connectionFailure(refused) ?? '', /^the server's TLS certificate is not accepted \(SELF_SIGNED_CERT_IN_CHAIN: self-signed certificate in certificate chain\): give the CA that signed it in ROSTER_DATABASE_SSL_CA/);
  assert.equal(connectionFailure(new Error('something else')), undefined);
});
