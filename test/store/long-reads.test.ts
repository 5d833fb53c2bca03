/**
 * Long reads (held snapshots: lists no index serves, answers streamed whole) take at
 * most half of a PostgreSQL instance's pool (store/long-reads.ts), so that however many of them
 * run, the IdPs' lookups and writes still get a connection.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { RetryLaterError } from '../../src/errors.ts';
import { createLongReadShare, longReadSlots } from '../../src/store/long-reads.ts';
import { startTestApp, userBody, type TestApp } from '../support/app.ts';
import { createTestDatabase, POSTGRES_URL, type ScratchDatabase } from '../support/databases.ts';

describe('the long reads’ share of a pool', () => {
  test('is half the pool, at least one', () => {
    assert.equal(longReadSlots(10), 5);
    assert.equal(longReadSlots(4), 2);
    assert.equal(longReadSlots(3), 1);
    assert.equal(longReadSlots(1), 1);
  });

  test('a slot given back goes to the oldest waiter; giving it back twice frees one slot', async () => {
    const share = createLongReadShare(1, 5_000);
    const first = await share.enter();
    const order: string[] = [];
    const second = share.enter().then((release) => (order.push('second'), release));
    const third = share.enter().then((release) => (order.push('third'), release));
    assert.deepEqual(share.use(), { running: 1, waiting: 2, slots: 1 });
    first();
    first();
    const releaseSecond = await second;
    assert.deepEqual(order, ['second']);
    assert.deepEqual(share.use(), { running: 1, waiting: 1, slots: 1 });
    releaseSecond();
    (await third)();
    assert.deepEqual(order, ['second', 'third']);
    assert.deepEqual(share.use(), { running: 0, waiting: 0, slots: 1 });
  });

  test('a read that gets no slot in time is refused as busy and leaves the queue', async () => {
    const share = createLongReadShare(1, 50);
    const held = await share.enter();
    await assert.rejects(share.enter(), (error: unknown) => error instanceof RetryLaterError && error.reason === 'busy' && /long reads/.test(error.message));
    assert.deepEqual(share.use(), { running: 1, waiting: 0, slots: 1 });
    held();
    (await share.enter())();
  });
});

describe('long reads on PostgreSQL', { skip: POSTGRES_URL === undefined ? 'PostgreSQL skipped: set ROSTER_TEST_POSTGRES_URL to run it' : false }, () => {
  // The test databases' pool has 4 connections: long reads may hold 2.
  let scratch: ScratchDatabase;
  let app: TestApp;
  before(async () => {
    scratch = await createTestDatabase('postgres');
    assert.equal(scratch.location.kind === 'postgres' && scratch.location.poolSize, 4);
    app = await startTestApp({ location: { ...scratch.location, kind: 'postgres', url: scratch.url, longReadWaitMs: 1_500 } as const });
    for (let i = 0; i < 3; i += 1) assert.equal((await app.request('POST', '/Users', userBody(`reader${i}@example.com`, { title: 'Reader' }))).status, 201);
  });
  after(async () => {
    await app.close();
    await scratch.drop();
  });

  const lookup = () => app.request('GET', `/Users?filter=${encodeURIComponent('userName eq "reader1@example.com"')}`);

  test('as many long reads as the pool has connections leave the lookups a connection', async () => {
    const store = app.services.store;
    // Four long reads at once on a pool of four, each holding its snapshot while a statement runs.
    const finished: string[] = [];
    const reads = Array.from({ length: 4 }, (_, i) =>
      (async () => {
        const snapshot = await store.openSnapshot();
        try {
          await sql`SELECT pg_sleep(0.6)`.execute(snapshot.db);
        } finally {
          await snapshot.end();
        }
        finished.push(`read ${i}`);
      })(),
    );
    await sleep(100);
    assert.deepEqual(store.poolUse()?.longReads, { running: 2, waiting: 2, slots: 2 });
    const found = await lookup();
    finished.push('lookup');
    assert.equal(found.status, 200);
    assert.equal(found.body.totalResults, 1);
    await Promise.all(reads);
    // Without the share the four reads held the four connections and the lookup waited for one.
    assert.equal(finished[0], 'lookup');
    assert.deepEqual(store.poolUse()?.longReads, { running: 0, waiting: 0, slots: 2 });
  });

  test('a list no index serves waits for its turn, and is refused with 503 and Retry-After when none comes in time', async () => {
    const store = app.services.store;
    const held = [await store.openSnapshot(), await store.openSnapshot()];
    try {
      // Lookups an index answers are not long reads: they do not wait.
      assert.equal((await lookup()).status, 200);
      const sorted = await app.request('GET', '/Users?sortBy=title');
      assert.equal(sorted.status, 503);
      assert.deepEqual(sorted.body.schemas, ['urn:ietf:params:scim:api:messages:2.0:Error']);
      assert.equal(sorted.body.status, '503');
      assert.match(sorted.body.detail, /long reads/);
      assert.ok(Number(sorted.headers['retry-after']) >= 1);
      // The root search and the admin API's search of every user are long reads too.
      const searched = await app.request('POST', '/.search', { schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'], filter: 'title eq "Reader"' });
      assert.equal(searched.status, 503);
      const admin = await app.request('GET', '/api/v2/users-management/users?q=reader');
      assert.equal(admin.status, 503);
      assert.match(admin.body.message, /long reads/);
      // One that is waiting when a long read ends gets its turn.
      const waiting = app.request('GET', `/Users?filter=${encodeURIComponent('title eq "Reader"')}`);
      await sleep(200);
      await held.shift()?.end();
      const answer = await waiting;
      assert.equal(answer.status, 200);
      assert.equal(answer.body.totalResults, 3);
    } finally {
      for (const snapshot of held) await snapshot.end();
    }
  });
});
