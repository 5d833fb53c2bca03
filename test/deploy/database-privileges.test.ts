/**
 * A PostgreSQL role without the rights Roster needs on its tables (SQLSTATE 42501: a DBA made the
 * tables as another role, or granted only SELECT): every command and `roster serve` say what is
 * wrong and what to do, not "unexpected error", and `roster serve` exits, so that a supervisor
 * sees the failed start rather than a process that serves nothing and never ends.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { POSTGRES_URL, createTestDatabase } from '../support/databases.ts';
import { ROOT } from '../support/process.ts';
import { rosterArgs } from '../support/roster-command.ts';

const REFUSED = /^The database refuses Roster's role a right it needs \(PostgreSQL at [^)]*\): permission denied for table \w+\. Roster creates and changes its own tables: give it a database it owns/m;

test('a role without write rights on the tables: the CLI and serve say so and exit 1', { skip: POSTGRES_URL === undefined ? 'needs PostgreSQL (ROSTER_TEST_POSTGRES_URL)' : false }, async () => {
  const scratch = await createTestDatabase('postgres', { migrated: true });
  const dataDir = mkdtempSync(join(tmpdir(), 'roster-privileges-'));
  const run = (args: string[], timeout = 60_000) =>
    spawnSync(process.execPath, rosterArgs(...args), {
      cwd: ROOT,
      encoding: 'utf8',
      timeout,
      env: { ...process.env, ROSTER_DATABASE_URL: scratch.url, ROSTER_DATA_DIR: dataDir, ROSTER_PORT: '18190', ROSTER_HOST: '127.0.0.1', ROSTER_LOG_LEVEL: 'warn' },
    });
  try {
    // The administrator exists; then the role keeps only its reading rights. (serve fails before it listens: the port is never opened.)
    const first = run(['users', 'list']);
    assert.equal(first.status, 0, first.stderr);
    const owner = new pg.Client({ connectionString: scratch.url });
    await owner.connect();
    try {
      await owner.query('REVOKE INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public FROM CURRENT_USER');
    } finally {
      await owner.end();
    }

    const cli = run(['tokens', 'create', '--name', 'refused']);
    assert.equal(cli.status, 1, cli.stdout + cli.stderr);
    assert.match(cli.stderr, REFUSED);
    assert.doesNotMatch(cli.stderr, /unexpected error|    at /);

    const serve = run(['serve'], 30_000);
    assert.equal(serve.signal, null, `roster serve did not exit by itself after its failed start:\n${serve.stderr}`);
    assert.equal(serve.status, 1, serve.stdout + serve.stderr);
    assert.match(serve.stderr, REFUSED);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    await scratch.drop();
  }
});
