/**
 * A SQLite database Roster cannot use at start says why, as a message rather than an
 * "unexpected error": one from a newer Roster, one whose write lock another process holds.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import SQLite from 'better-sqlite3';
import { openStore } from '../../src/store/index.ts';
import { ROOT, freePort } from '../support/process.ts';

const dir = mkdtempSync(join(tmpdir(), 'roster-refused-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** `roster serve` on `path`, as an operator starts it; it must stop by itself. */
async function serve(path: string): Promise<{ status: number | null; stderr: string }> {
  const env = { ...process.env, ROSTER_DATABASE_URL: `sqlite:${path}`, ROSTER_PORT: String(await freePort()), ROSTER_HOST: '127.0.0.1', ROSTER_LOG_LEVEL: 'warn' };
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/roster.ts', 'serve'], { cwd: ROOT, env, encoding: 'utf8', timeout: 30_000 });
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
