/**
 * PostgreSQL that refuses writes (SQLSTATE 25006: a failover that left the URL on a standby, or
 * `default_transaction_read_only` turned on): writes are answered 503 with Retry-After in the
 * SCIM error shape, never 500; reads go on, a token's informational last-use write included;
 * and once writes are allowed again, Roster writes again without a restart (the connections
 * that were refused are closed, not lent again with their read-only session).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { DATABASE_RETRY_AFTER_SECONDS } from '../../src/http/errors.ts';
import { SCIM, startTestApp, userBody, type TestApp } from '../support/app.ts';
import { POSTGRES_URL } from '../support/databases.ts';

const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

test('PostgreSQL read-only', { skip: POSTGRES_URL === undefined ? 'needs PostgreSQL (ROSTER_TEST_POSTGRES_URL)' : false }, async (t) => {
  let roster: TestApp;
  let admin: pg.Client;
  let name: string;
  before(async () => {
    roster = await startTestApp({ database: 'postgres' });
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
    const read = await roster.request('GET', `${SCIM}/Users?filter=${encodeURIComponent('userName eq "before@example.com"')}`);
    assert.equal(read.status, 200, JSON.stringify(read.body));
    assert.equal(read.body.totalResults, 1);
    assert.equal((await roster.request('GET', '/api/v2/users-management/users?q=before')).status, 200);

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
});
