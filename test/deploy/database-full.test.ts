/**
 * A full disk under SQLite. SQLite answers a database that may not grow past
 * `PRAGMA max_page_count` as it answers a full disk (SQLITE_FULL, and the whole transaction rolled
 * back), which lets the test fill it without a small file system of its own. Concurrent SCIM
 * writes, which SQLite commits in one group, are then answered 503 with Retry-After in the SCIM
 * error shape (never a 500 that hides the cause), nothing of them is stored, reads and browser
 * sessions go on, and once there is room again writes work without a restart.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sql } from 'kysely';
import { DATABASE_RETRY_AFTER_SECONDS } from '../../src/http/errors.ts';
import { SCIM, SESSION_COOKIE, startTestApp, userBody } from '../support/app.ts';

const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

test('SQLite: a full disk', async (t) => {
  const roster = await startTestApp({ database: 'sqlite', rateLimit: { perMinute: 60_000, burst: 1_000 } });
  t.after(() => roster.close());
  const { db } = roster.services.store;
  assert.equal((await roster.request('POST', `${SCIM}/Users`, userBody('before@example.com'))).status, 201);
  const session = await roster.services.sessions.open(roster.adminId);
  await db.updateTable('sessions').set({ last_seen_at: new Date(Date.now() - 120_000).toISOString() }).execute();
  const pages = Number((await sql<{ page_count: number }>`PRAGMA page_count`.execute(db)).rows[0]?.page_count);

  await t.test('concurrent writes are 503 with Retry-After (was 500: "no such savepoint"), none stored; reads and sessions go on', async () => {
    // Room for a few pages: the group of sixteen 30 KB users does not fit.
    await sql.raw(`PRAGMA max_page_count = ${pages + 20}`).execute(db);
    const answers = await Promise.all(
      Array.from({ length: 16 }, (_, i) => roster.request('POST', `${SCIM}/Users`, userBody(`full-${i}@example.com`, { title: `${i} ${'x'.repeat(30_000)}` }))),
    );
    const statuses = answers.map((answer) => answer.status);
    assert.ok(statuses.every((status) => status === 503 || status === 201), `statuses: ${statuses.join(', ')}`);
    const refused = answers.find((answer) => answer.status === 503);
    assert.ok(refused, `statuses: ${statuses.join(', ')}`);
    assert.equal(refused.headers['retry-after'], String(DATABASE_RETRY_AFTER_SECONDS));
    assert.deepEqual(refused.body.schemas, [ERROR_SCHEMA]);
    assert.equal(refused.body.status, '503');
    assert.match(refused.body.detail, /cannot reach or write its database/);
    // What was answered 201 is stored, what was answered 503 is not.
    const stored = new Set((await db.selectFrom('users').select('login').where('login', 'like', 'full-%').execute()).map((row) => row.login));
    answers.forEach((answer, i) => assert.equal(stored.has(`full-${i}@example.com`), answer.status === 201, `full-${i}: ${answer.status}`));

    const read = await roster.request('GET', `${SCIM}/Users?filter=${encodeURIComponent('userName eq "before@example.com"')}`);
    assert.equal(read.status, 200, JSON.stringify(read.body));
    assert.equal(read.body.totalResults, 1);
    const current = await roster.app.inject({ method: 'GET', url: '/api/users/current', headers: { cookie: `${SESSION_COOKIE}=${session.value}` } });
    assert.equal(current.statusCode, 200, current.body);
  });

  await t.test('with room again, writes work without a restart', async () => {
    await sql.raw('PRAGMA max_page_count = 4294967294').execute(db);
    assert.equal((await roster.request('POST', `${SCIM}/Users`, userBody('after@example.com', { title: 'x'.repeat(30_000) }))).status, 201);
    const integrity = await sql<{ integrity_check: string }>`PRAGMA integrity_check`.execute(db);
    assert.deepEqual(integrity.rows, [{ integrity_check: 'ok' }]);
  });
});
