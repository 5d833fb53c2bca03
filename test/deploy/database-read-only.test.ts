/**
 * PostgreSQL that refuses writes (SQLSTATE 25006: a failover that left the URL on a standby, or
 * `default_transaction_read_only` turned on): writes are answered 503 with Retry-After in the
 * SCIM error shape, never 500; reads go on, a token's informational last-use write, the rate
 * limit's reservations and a browser session's last-seen write included;
 * and once writes are allowed again, Roster writes again without a restart (the connections
 * that were refused are closed, not lent again with their read-only session).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { sql } from 'kysely';
import pg from 'pg';
import { DATABASE_RETRY_AFTER_SECONDS } from '../../src/http/errors.ts';
import { SCIM, SESSION_COOKIE, startTestApp, userBody, type TestApp } from '../support/app.ts';
import { POSTGRES_URL } from '../support/databases.ts';
import { ROOT } from '../support/process.ts';
import { rosterArgs } from '../support/roster-command.ts';

const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

/** Runs `roster <args>` on the test app's database. */
const runCli = (roster: TestApp, args: string[]) =>
  spawnSync(process.execPath, rosterArgs(...args), {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ROSTER_DATABASE_URL: roster.databaseUrl },
  });

test('PostgreSQL read-only', { skip: POSTGRES_URL === undefined ? 'needs PostgreSQL (ROSTER_TEST_POSTGRES_URL)' : false }, async (t) => {
  let roster: TestApp;
  let admin: pg.Client;
  let name: string;
  before(async () => {
    // A limit whose budget is reserved 50 requests at a time (rate-limits.ts chunkFor).
    roster = await startTestApp({ database: 'postgres', rateLimit: { perMinute: 60_000, burst: 1_000 } });
    name = new URL(roster.databaseUrl).pathname.slice(1);
    admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
  });
  after(async () => {
    await admin.query(`ALTER DATABASE ${name} RESET default_transaction_read_only`).catch(() => {});
    await admin.end();
    await roster.close();
  });

  await t.test('writes are 503 with Retry-After, reads go on; after the reset, writes work again without a restart', async () => {
    assert.equal((await roster.request('POST', `${SCIM}/Users`, userBody('before@example.com'))).status, 201);
    // A browser session last seen two minutes ago: its next use writes the time (sessions.ts).
    const session = await roster.services.sessions.open(roster.adminId);
    await roster.services.store.db.updateTable('sessions').set({ last_seen_at: new Date(Date.now() - 120_000).toISOString() }).execute();
    // The token last used over a minute ago: its next use writes the time (tokens.ts).
    await roster.services.store.db.updateTable('tokens').set({ last_used_at: '2026-01-01T00:00:00.000Z' }).execute();
    await admin.query(`ALTER DATABASE ${name} SET default_transaction_read_only = on`);
    // Connections opened from now on are read-only; those open now are ended (as a failover ends them).
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);

    let refused: Awaited<ReturnType<TestApp['request']>> | undefined;
    for (let attempt = 0; attempt < 10 && refused === undefined; attempt += 1) {
      const answer = await roster.request('POST', `${SCIM}/Users`, userBody(`during-${attempt}@example.com`));
      assert.equal(answer.status, 503, JSON.stringify(answer.body));
      // The first may meet a connection that was terminated; the read-only refusal follows.
      if (!/terminat/.test(JSON.stringify(answer.body))) refused = answer;
    }
    assert.ok(refused, 'a write was refused');
    assert.equal(refused.headers['retry-after'], String(DATABASE_RETRY_AFTER_SECONDS));
    assert.deepEqual(refused.body.schemas, [ERROR_SCHEMA]);
    assert.equal(refused.body.status, '503');
    assert.match(refused.body.detail, /cannot reach or write its database/);

    await roster.services.store.db.updateTable('tokens').set({ last_used_at: '2026-01-01T00:00:00.000Z' }).execute().catch(() => {});
    // The CLI says what is wrong (it was "Cannot connect to the database: Client was closed").
    const cli = runCli(roster, ['tokens', 'create', '--name', 'during']);
    assert.equal(cli.status, 1, cli.stdout + cli.stderr);
    assert.match(cli.stderr, /^The database refuses writes \(PostgreSQL at .*\): it is read-only, a standby .* or default_transaction_read_only is on\./m);
    const read = await roster.request('GET', `${SCIM}/Users?filter=${encodeURIComponent('userName eq "before@example.com"')}`);
    assert.equal(read.status, 200, JSON.stringify(read.body));
    assert.equal(read.body.totalResults, 1);
    assert.equal((await roster.request('GET', '/api/v2/users-management/users?q=before')).status, 200);
    // More reads than one reservation of the rate limit holds: the budget is counted in memory
    // while the database refuses the reservation's write.
    const reads: number[] = [];
    for (let i = 0; i < 120; i += 1) reads.push((await roster.request('GET', `${SCIM}/Users?count=1`)).status);
    assert.deepEqual([...new Set(reads)], [200], `statuses of 120 reads: ${reads.join(', ')}`);
    const current = await roster.app.inject({ method: 'GET', url: '/api/users/current', headers: { cookie: `${SESSION_COOKIE}=${session.value}` } });
    assert.equal(current.statusCode, 200, current.body);

    await admin.query(`ALTER DATABASE ${name} RESET default_transaction_read_only`);
    // Pooled connections still read-only are closed by their first refusal: at most the pool's
    // size of them, then a new connection writes.
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 8 && statuses.at(-1) !== 201; attempt += 1) {
      statuses.push((await roster.request('POST', `${SCIM}/Users`, userBody(`after-${attempt}@example.com`))).status);
    }
    assert.equal(statuses.at(-1), 201, `writes after the reset: ${statuses.join(', ')}`);
    assert.ok(statuses.length <= 5, `writes after the reset: ${statuses.join(', ')}`);
    assert.ok(statuses.slice(0, -1).every((status) => status === 503), statuses.join(', '));
  });

  await t.test('a CLI command whose write the database refuses says what to check, not "unexpected error"', async (t) => {
    // Only the token's insert is refused: the command gets past the start, as on a disk that fills meanwhile.
    const { db } = roster.services.store;
    await sql`CREATE FUNCTION refuse_tokens() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'cannot execute INSERT in a read-only transaction' USING ERRCODE = '25006'; END $$`.execute(db);
    await sql`CREATE TRIGGER refuse_tokens BEFORE INSERT ON tokens FOR EACH ROW EXECUTE FUNCTION refuse_tokens()`.execute(db);
    t.after(async () => {
      await sql`DROP TRIGGER refuse_tokens ON tokens`.execute(db);
      await sql`DROP FUNCTION refuse_tokens()`.execute(db);
    });
    const cli = runCli(roster, ['tokens', 'create', '--name', 'refused']);
    assert.equal(cli.status, 1, cli.stdout + cli.stderr);
    // Said as a refusal at start is: the database is read-only, and where it is.
    assert.match(cli.stderr, /^The database refuses writes \(PostgreSQL at .*\): it is read-only, a standby .* or default_transaction_read_only is on\./m);
    assert.doesNotMatch(cli.stderr, /unexpected error/);
  });
});
