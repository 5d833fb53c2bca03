/**
 * Webhook deliveries end to end (issue 11): the real worker posting to a real HTTP receiver
 * that verifies every request with the `standardwebhooks` package, on both databases.
 */
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeEach, test } from 'node:test';
import { startDeliveries, type DeliveryWorker } from '../../src/delivery/worker.ts';
import { createWebhooks, type Webhooks } from '../../src/directory/webhooks.ts';
import { createServices, type Services } from '../../src/services.ts';
import type { Store } from '../../src/store/index.ts';
import { eachDatabase, openTestStore } from '../support/databases.ts';
import { createSharedClock } from '../../src/store/clock.ts';
import { startReceiver, verifies, type Receiver, type Received } from '../support/receiver.ts';

const cli = { kind: 'cli' } as const;
/** Fast retries: the schedule is configurable (ROSTER_WEBHOOK_RETRY_SCHEDULE) so that tests run in seconds. */
const FAST = [100, 150, 200];

eachDatabase('webhook deliveries', (database) => {
  let store: Store;
  let services: Services;
  let receiver: Receiver;
  let workers: DeliveryWorker[] = [];

  const work = (options: { schedule?: number[]; instance?: string; timeoutMs?: number; leaseMs?: number; now?: () => number } = {}): DeliveryWorker => {
    const worker = startDeliveries(store, services.eventFeed, {
      retrySchedule: options.schedule ?? FAST,
      leaseMs: options.leaseMs ?? 2000,
      pollMs: 30,
      retentionDays: 30,
      ...(options.instance !== undefined ? { instance: options.instance } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.now !== undefined ? { now: options.now } : {}),
    });
    workers.push(worker);
    return worker;
  };

  /** Creates `n` groups; returns the ids of their `group.created` events, in feed order. */
  /** Creates `n` groups; returns the ids of their `group.created` events, in feed order, once the feed shows them all. */
  async function changes(n: number, prefix = 'g'): Promise<string[]> {
    for (let i = 0; i < n; i += 1) await services.groupManagement.create({ name: `${prefix}${i}` }, cli);
    // On PostgreSQL the feed waits for the server's oldest writing transaction, other tests' included.
    for (let waited = 0; ; waited += 50) {
      const page = await services.eventFeed.read({ after: undefined, types: ['group.created'], limit: 1000 });
      const ids = page.kind === 'page' ? page.events.filter((event) => String((event.data as { name: string }).name).startsWith(prefix)).map((event) => event.id) : [];
      if (ids.length >= n || waited > 30_000) return ids;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }


  async function create(types?: string[], management: Webhooks = services.webhooks): Promise<string> {
    const { webhook, secret } = await management.create({ url: receiver.url, ...(types !== undefined ? { types } : {}) }, cli);
    receiver.secrets = [secret];
    return webhook.id;
  }

  beforeEach(async () => {
    store = await openTestStore(database);
    services = createServices(store);
    receiver = await startReceiver();
    workers = [];
  });

  afterEach(async () => {
    await Promise.all(workers.map((worker) => worker.stop()));
    await receiver.close();
    await store.close();
  });

  test('every change after the endpoint exists arrives once, in order, signed so that standardwebhooks verifies it', async () => {
    // Below the feed's horizon before the endpoint exists (on PostgreSQL the horizon may lag
    // behind other transactions of the server; an endpoint starts at the horizon, as after=now).
    await changes(1, 'before');
    await create();
    const ids = await changes(5);
    work();
    await receiver.until((received) => received.length >= 5);
    assert.deepEqual(receiver.acceptedIds(), ids);
    for (const request of receiver.received) {
      assert.ok(request.verified, 'standardwebhooks verifies the request');
      assert.equal(request.headers['webhook-id'], request.payload.id);
      assert.equal(request.headers['content-type'], 'application/json');
      assert.match(request.headers['webhook-signature'] ?? '', /^v1,[A-Za-z0-9+/]+=*$/);
      assert.deepEqual(Object.keys(request.payload), ['id', 'type', 'timestamp', 'data']);
      assert.equal(request.payload.type, 'group.created');
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(receiver.received.length, 5, 'nothing is sent twice');
    const id = (await services.webhooks.list())[0]?.id ?? '';
    // Delivered events are logged in batches, within a second.
    await waitFor(async () => (await services.webhooks.deliveries(id)).deliveries.length === 5);
    const log = await services.webhooks.deliveries(id);
    assert.deepEqual(log.deliveries.map((entry) => [entry.eventId, entry.status, entry.outcome]).reverse(), ids.map((id) => [id, 204, 'delivered']));
  });

  test('a receiver that fails its first attempts gets every event, in order, after it recovers; each attempt is logged', async () => {
    const id = await create();
    const ids = await changes(3);
    // A NUL in the answer (PostgreSQL text cannot hold one) must not stop the log.
    receiver.answer = (_request, index) => (index < 3 ? { status: 500, body: `oops\u0000${'x'.repeat(5000)}` } : { status: 200 });
    work();
    await receiver.until(() => receiver.acceptedIds().length >= 3);
    assert.deepEqual(receiver.acceptedIds(), ids);
    // Nothing after the first event before the first event was accepted.
    assert.deepEqual(receiver.received.slice(0, 4).map((request) => request.payload.id), [ids[0], ids[0], ids[0], ids[0]]);
    assert.equal(new Set(receiver.received.map((request) => request.headers['webhook-id'])).size, 3, 'the same webhook-id on every retry');
    await waitFor(async () => (await services.webhooks.deliveries(id)).deliveries.length === 6);
    const log = (await services.webhooks.deliveries(id)).deliveries.slice().reverse();
    assert.deepEqual(log.map((entry) => [entry.attempt, entry.status, entry.outcome]), [[1, 500, 'retrying'], [2, 500, 'retrying'], [3, 500, 'retrying'], [4, 200, 'delivered'], [1, 200, 'delivered'], [1, 200, 'delivered']]);
    assert.equal(log[0]?.response?.length, 1024, 'the first 1 KB of the answer');
    assert.ok(log[0]?.response?.startsWith('oops\uFFFDxxx'));
    assert.equal(log[0]?.error, 'answered 500');
    assert.ok((await services.webhooks.get(id)).enabled);
  });

  test('429 with Retry-After: the next attempt waits as long as the receiver asked', async () => {
    await create();
    await changes(1);
    receiver.answer = (_request, index) => (index === 0 ? { status: 429, headers: { 'retry-after': '2' } } : { status: 204 });
    work();
    await receiver.until((received) => received.length >= 2);
    const [first, second] = receiver.received;
    assert.ok(first && second);
    assert.ok(second.at - first.at >= 1900, `retried after ${second.at - first.at} ms, Retry-After asked for 2 s`);
  });

  test('410 Gone disables the endpoint at once, and the audit trail says why', async () => {
    const id = await create();
    await changes(2);
    receiver.answer = () => ({ status: 410 });
    work();
    await receiver.until((received) => received.length >= 1);
    await waitFor(async () => !(await services.webhooks.get(id)).enabled);
    const webhook = await services.webhooks.get(id);
    assert.equal(webhook.disabledReason, 'the endpoint answered 410 Gone');
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal(receiver.received.length, 1, 'nothing more is sent');
    const entries = await store.db.selectFrom('audit_events').select(['actor', 'action', 'target_id', 'details']).where('action', '=', 'webhook.disabled').execute();
    assert.equal(entries.length, 1);
    assert.equal(entries[0]?.actor, 'system');
    assert.match(entries[0]?.details ?? '', /410 Gone/);
  });

  test('a redirect is not followed: it counts as a failure', async () => {
    const target = await startReceiver();
    try {
      const id = await create();
      await changes(1);
      receiver.answer = () => ({ status: 307, headers: { location: target.url } });
      work();
      await receiver.until((received) => received.length >= 2);
      assert.equal(target.received.length, 0);
      const log = (await services.webhooks.deliveries(id)).deliveries;
      assert.match(log.at(-1)?.error ?? '', /redirects are not followed \(307/);
      assert.equal(log.at(-1)?.outcome, 'retrying');
    } finally {
      await target.close();
    }
  });

  test('an endpoint failing for the whole retry period is disabled, and that is audited', async () => {
    const id = await create();
    await changes(2);
    receiver.answer = () => ({ status: 503 });
    work({ schedule: [50, 50] });
    await waitFor(async () => !(await services.webhooks.get(id)).enabled);
    assert.equal(receiver.received.length, 3, 'the first attempt and one per delay of the schedule');
    const webhook = await services.webhooks.get(id);
    assert.match(webhook.disabledReason ?? '', /^gave up on event \d+ after 3 failed attempts/);
    const entries = await store.db.selectFrom('audit_events').select(['details']).where('action', '=', 'webhook.disabled').execute();
    assert.equal(entries.length, 1);
    // Enabling it again resumes with the event given up on: nothing is lost.
    receiver.answer = () => ({ status: 204 });
    await services.webhooks.enable(id, cli);
    await receiver.until(() => receiver.acceptedIds().length >= 2);
    assert.equal(receiver.acceptedIds()[0], receiver.received[0]?.payload.id);
  });

  for (const [reason, failing] of [['given up on', 503], ['gone (410)', 410]] as const) {
    test(`an endpoint ${reason} and enabled again gets the whole retry schedule afresh at the event it stopped at`, async () => {
      const id = await create();
      const ids = await changes(2);
      receiver.answer = () => ({ status: failing });
      work({ schedule: [50, 50] });
      await waitFor(async () => !(await services.webhooks.get(id)).enabled);
      const failedBefore = receiver.received.length;
      // After enabling: two more failures (within the schedule of two retries), then success.
      receiver.answer = (_request, index) => (index < failedBefore + 2 ? { status: 500 } : { status: 204 });
      const enabled = await services.webhooks.enable(id, cli);
      assert.equal(enabled.failedAttempts, 0);
      assert.equal(enabled.failingSince, null);
      await receiver.until(() => receiver.acceptedIds().length >= 2);
      assert.deepEqual(receiver.acceptedIds(), ids, 'from the event it stopped at, nothing lost');
      assert.equal(receiver.received[failedBefore]?.payload.id, ids[0]);
      const webhook = await services.webhooks.get(id);
      assert.ok(webhook.enabled, `still enabled (${webhook.disabledReason ?? ''})`);
      await waitFor(async () => (await services.webhooks.deliveries(id)).deliveries.length >= failedBefore + 4);
      const log = (await services.webhooks.deliveries(id)).deliveries.slice().reverse().slice(failedBefore);
      assert.deepEqual(log.map((entry) => [entry.attempt, entry.outcome]), [[1, 'retrying'], [2, 'retrying'], [3, 'delivered'], [1, 'delivered']]);
    });
  }

  test('an endpoint whose next event the retention deleted is disabled, saying why, instead of skipping the gap; enabled again, it resumes at the oldest event kept', async () => {
    const id = await create();
    await changes(2, 'lost');
    await services.webhooks.disable(id, cli);
    // Thirty-one days later: the retention (30 days) deletes the events it never received.
    assert.ok((await services.eventFeed.purge(new Date(Date.now() + 31 * 24 * 60 * 60 * 1000))) >= 2);
    const kept = await changes(2, 'kept');
    work();
    await services.webhooks.enable(id, cli);
    await waitFor(async () => !(await services.webhooks.get(id)).enabled);
    const webhook = await services.webhooks.get(id);
    assert.match(webhook.disabledReason ?? '', /^events after the last one it received were deleted before they could be delivered \(events are kept 30 days, ROSTER_EVENT_RETENTION_DAYS\): resynchronise the receiver/);
    assert.equal(receiver.received.length, 0, 'nothing after the gap before the administrator knows of it');
    const entries = await store.db.selectFrom('audit_events').select(['actor', 'details']).where('action', '=', 'webhook.disabled').where('actor', '=', 'system').execute();
    assert.equal(entries.length, 1);
    assert.match(entries[0]?.details ?? '', /were deleted before they could be delivered/);
    // The receiver resynchronised: enabled again, it gets what is kept, from the oldest.
    await services.webhooks.enable(id, cli);
    await receiver.until(() => receiver.acceptedIds().length >= 2);
    assert.deepEqual(receiver.acceptedIds(), kept);
    assert.ok((await services.webhooks.get(id)).enabled);
  });

  test('secret rotation: both secrets sign during the overlap, then only the new one', async () => {
    // Long enough for the first delivery even when PostgreSQL's horizon lags behind other tests.
    const overlap = 6000;
    const management = createWebhooks(store, services.eventFeed, { secretOverlapMs: overlap });
    const id = await create(undefined, management);
    const old = receiver.secrets[0] ?? '';
    const { secret, webhook: rotated } = await management.rotateSecret(id, cli);
    const expires = Date.parse(rotated.previousSecretExpiresAt ?? '');
    assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    assert.notEqual(secret, old);
    receiver.secrets = [secret];
    await changes(1, 'during');
    work();
    await receiver.until((received) => received.length >= 1);
    const during = receiver.received[0];
    assert.ok(during);
    assert.equal((during.headers['webhook-signature'] ?? '').split(' ').length, 2);
    assert.ok(verifies(secret, during) && verifies(old, during));
    assert.ok(Number(during.headers['webhook-timestamp']) * 1000 < expires, 'sent during the overlap');
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expires - Date.now() + 100)));
    await changes(1, 'after');
    await receiver.until((received) => received.length >= 2);
    const after = receiver.received[1];
    assert.ok(after);
    assert.equal((after.headers['webhook-signature'] ?? '').split(' ').length, 1);
    assert.ok(verifies(secret, after));
    assert.ok(!verifies(old, after), 'the old secret no longer signs');
  });

  test('replay sends again, in order, from an event still kept', async () => {
    const id = await create();
    const ids = await changes(3);
    work();
    await receiver.until((received) => received.length >= 3);
    await services.webhooks.replay(id, ids[1] ?? '', cli);
    await receiver.until((received) => received.length >= 5);
    assert.deepEqual(receiver.acceptedIds(), [...ids, ids[1], ids[2]]);
    await assert.rejects(services.webhooks.replay(id, '999999', cli), /not in the feed/);
  });

  test('types: only the chosen event types are sent', async () => {
    await create(['group.deleted']);
    await changes(2);
    const group = await services.groupManagement.create({ name: 'doomed' }, cli);
    await services.groupManagement.delete(group.id, cli);
    work();
    await receiver.until((received) => received.length >= 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(receiver.received.map((request) => request.payload.type), ['group.deleted']);
  });

  /**
   * An endpoint being delivered to by one of two workers, through a slow receiver (each answer
   * takes 60 ms): `n` events, of which at least 5 have arrived. Returns its id and the events' ids.
   */
  async function streaming(n: number, make: () => Promise<string[]> = () => changes(n)): Promise<{ id: string; ids: string[] }> {
    const id = await create();
    receiver.answer = () => ({ status: 204, delayMs: 60 });
    const ids = await make();
    work({ instance: 'one' });
    work({ instance: 'two' });
    await receiver.until((received) => received.length >= 5);
    return { id, ids };
  }

  /** The requests that arrived after `at` (when an administrator's change returned). */
  const arrivedAfter = (at: number): Received[] => receiver.received.filter((request) => request.at > at);

  test('an administrator\'s change during deliveries: a new secret signs from the next request, with no second sender, no repeat, no reordering', async () => {
    const { id, ids } = await streaming(30);
    const { secret } = await services.webhooks.rotateSecret(id, cli);
    const changed = Date.now();
    await receiver.until(() => receiver.acceptedIds().length >= ids.length);
    await sleep(500);
    assert.deepEqual(receiver.received.map((request) => request.payload.id), ids, 'each event once, in order');
    assertOneAtATime(receiver.received);
    const unsigned = arrivedAfter(changed).filter((request) => !verifies(secret, request));
    assert.ok(unsigned.length <= 1, `${unsigned.length} requests after the rotation returned lacked the new signature (the one in flight at most)`);
    assert.ok(arrivedAfter(changed).length > 0);
  });

  test('an administrator\'s change during deliveries: a new URL gets the next request, the old one nothing more', async () => {
    const { id, ids } = await streaming(30);
    await services.webhooks.update(id, { url: `${receiver.url}/moved` }, cli);
    const changed = Date.now();
    await receiver.until(() => receiver.acceptedIds().length >= ids.length);
    await sleep(500);
    assert.deepEqual(receiver.received.map((request) => request.payload.id), ids, 'each event once, in order, across both URLs');
    assertOneAtATime(receiver.received);
    const late = arrivedAfter(changed).filter((request) => request.path === '/hook');
    assert.ok(late.length <= 1, `the old URL got ${late.length} requests after the change returned (the one in flight at most)`);
    assert.ok(arrivedAfter(changed).some((request) => request.path === '/hook/moved'));
  });

  test('an administrator\'s change during deliveries: new types apply from the next request', async () => {
    const { id, ids } = await streaming(30, async () => {
      // group.created and group.updated, alternately.
      for (let i = 0; i < 15; i += 1) {
        const group = await services.groupManagement.create({ name: `t${i}` }, cli);
        await services.groupManagement.update(group.id, { description: `d${i}` }, cli);
      }
      const page = await services.eventFeed.read({ after: undefined, types: ['group.created', 'group.updated'], limit: 1000 });
      return page.kind === 'page' ? page.events.map((event) => event.id) : [];
    });
    assert.equal(ids.length, 30);
    await services.webhooks.update(id, { types: ['group.created'] }, cli);
    const changed = Date.now();
    await receiver.until((received) => received.some((request) => request.payload.data?.name === 't14'));
    await sleep(500);
    const got = receiver.received.map((request) => request.payload.id);
    assert.deepEqual(got, ids.filter((event) => got.includes(event)), 'each event once, in feed order');
    assertOneAtATime(receiver.received);
    const late = arrivedAfter(changed).filter((request) => request.payload.type === 'group.updated');
    assert.ok(late.length <= 1, `${late.length} group.updated after the types changed (the one in flight at most)`);
    const untouched = ids.slice(ids.indexOf(arrivedAfter(changed)[0]?.payload.id ?? '') + 1);
    assert.ok(untouched.length > 0);
  });

  test('an administrator\'s change during deliveries: nothing more is sent once disable returns; enable resumes with the next event', async () => {
    const { id, ids } = await streaming(30);
    await services.webhooks.disable(id, cli);
    const changed = Date.now();
    await sleep(800);
    assert.ok(arrivedAfter(changed).length <= 1, `${arrivedAfter(changed).length} requests after disable returned (the one in flight at most)`);
    const stoppedAt = receiver.received.length;
    assert.ok(stoppedAt < ids.length);
    await services.webhooks.enable(id, cli);
    await receiver.until(() => receiver.acceptedIds().length >= ids.length);
    await sleep(500);
    assert.deepEqual(receiver.received.map((request) => request.payload.id), ids, 'each event once, in order');
    assertOneAtATime(receiver.received);
  });

  test('an administrator\'s change during deliveries: nothing more is sent once delete returns', async () => {
    const { id } = await streaming(30);
    await services.webhooks.remove(id, cli);
    const changed = Date.now();
    await sleep(800);
    assert.ok(arrivedAfter(changed).length <= 1, `${arrivedAfter(changed).length} requests after delete returned (the one in flight at most)`);
    assertOneAtATime(receiver.received);
  });

  test('an administrator\'s change during deliveries: replay restarts one stream at the event asked for', async () => {
    const { id, ids } = await streaming(30);
    await receiver.until((received) => received.length >= 8);
    await services.webhooks.replay(id, ids[2] ?? '', cli);
    const changed = Date.now();
    await receiver.until(() => receiver.acceptedIds().filter((event) => event === ids.at(-1)).length >= 1);
    await sleep(500);
    let after = arrivedAfter(changed).map((request) => request.payload.id);
    // The request in flight when the replay was made may arrive after it returned.
    if (after[0] !== ids[2]) after = after.slice(1);
    assert.deepEqual(after, ids.slice(2), 'from the replayed event on, each once, in order');
    assertOneAtATime(receiver.received);
  });

  test('a slow receiver delays no other endpoint: a new event reaches a fast one while the slow one still works through its backlog', async () => {
    for (const name of ['slow', 'fast']) {
      const { secret } = await services.webhooks.create({ url: `${receiver.url}/${name}` }, cli);
      receiver.secrets.push(secret);
    }
    receiver.answer = (request) => (request.path === '/hook/slow' ? { status: 204, delayMs: 1000 } : { status: 204 });
    const first = await changes(8, 'first');
    work();
    const fastIds = () => receiver.received.filter((request) => request.path === '/hook/fast' && request.accepted).map((request) => request.payload.id);
    await receiver.until(() => fastIds().length >= first.length);
    const late = await changes(1, 'late');
    await receiver.until(() => fastIds().includes(late[0] ?? ''), 30_000);
    const slowAnswered = receiver.received.filter((request) => request.path === '/hook/slow' && request.accepted).length;
    assert.ok(slowAnswered < first.length, `the fast endpoint got its new event only after the slow one had answered all ${first.length} earlier events (${slowAnswered})`);
    assert.deepEqual(fastIds(), [...first, ...late]);
  });

  test('a receiver that never answers is given up on at the timeout, even when memory is collected meanwhile', async () => {
    // Node held AbortSignal.timeout's timer weakly: a collection during the request lost it.
    setFlagsFromString('--expose-gc');
    const collect = runInNewContext('gc') as () => void;
    const id = await create();
    receiver.answer = (_request, index) => (index === 0 ? 'hang' : { status: 204 });
    const ids = await changes(2);
    const collecting = setInterval(collect, 50);
    try {
      work({ timeoutMs: 400 });
      await receiver.until(() => receiver.acceptedIds().length >= 2, 15_000);
    } finally {
      clearInterval(collecting);
    }
    assert.deepEqual(receiver.acceptedIds(), ids);
    await waitFor(async () => (await services.webhooks.deliveries(id)).deliveries.length === 3);
    const log = (await services.webhooks.deliveries(id)).deliveries.slice().reverse();
    assert.deepEqual(log.map((entry) => [entry.attempt, entry.status, entry.outcome, entry.error]), [[1, null, 'retrying', 'no answer within 0.4 s'], [2, 204, 'delivered', null], [1, 204, 'delivered', null]]);
  });

  test('a database error in the middle of a turn pauses the endpoint about 2 s, not for its whole lease', async () => {
    // A fault injected in the database itself: while test_faults has a row, writing the log of
    // attempts fails (as a statement on a terminated connection would).
    await sql`CREATE TABLE test_faults (id INTEGER)`.execute(store.db);
    if (database === 'postgres') {
      await sql.raw(`CREATE FUNCTION test_fault() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF EXISTS (SELECT 1 FROM test_faults) THEN RAISE EXCEPTION 'injected fault'; END IF; RETURN NEW; END $$`).execute(store.db);
      await sql`CREATE TRIGGER test_fault BEFORE INSERT ON webhook_deliveries FOR EACH ROW EXECUTE FUNCTION test_fault()`.execute(store.db);
    } else {
      await sql`CREATE TRIGGER test_fault BEFORE INSERT ON webhook_deliveries WHEN EXISTS (SELECT 1 FROM test_faults) BEGIN SELECT RAISE(ABORT, 'injected fault'); END`.execute(store.db);
    }
    await sql`INSERT INTO test_faults VALUES (1)`.execute(store.db);
    await create();
    const ids = await changes(2);
    // The first attempt fails: recording that failure meets the fault, and the turn ends in an error.
    receiver.answer = (_request, index) => (index === 0 ? { status: 500 } : { status: 204 });
    work({ leaseMs: 20_000 });
    await receiver.until((received) => received.length >= 1);
    const failedAt = receiver.received[0]!.at;
    await sleep(300);
    await sql`DELETE FROM test_faults`.execute(store.db);
    await receiver.until(() => receiver.acceptedIds().length >= 2, 30_000);
    assert.deepEqual(receiver.acceptedIds(), ids);
    const pause = receiver.received[1]!.at - failedAt;
    assert.ok(pause < 8000, `the endpoint waited ${pause} ms after the error (its lease is 20 s)`);
  });

  const postgresOnly = { skip: database === 'postgres' ? false : 'SQLite: one host, one clock' };
  test('two workers whose hosts\' clocks are 40 s apart, each aligned with the database, deliver each event once, in order, one at a time', postgresOnly, async () => {
    const ahead = createSharedClock(store, () => Date.now() + 40_000);
    assert.ok(Math.abs(((await ahead.align()) ?? 0) + 40_000) < 1000, 'the difference is measured');
    // With a 2 s lease, the worker ahead saw every lease of the other as ended and took the
    // endpoint over while it was still sending: events twice, two requests at once.
    const id = await create();
    receiver.answer = () => ({ status: 204, delayMs: 40 });
    const ids = await changes(30);
    work({ instance: 'in-step' });
    work({ instance: 'ahead', now: ahead.now });
    await receiver.until((received) => received.length >= 30);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const requests = receiver.received.filter((request) => request.path === '/hook');
    assert.deepEqual(requests.map((request) => request.payload.id), ids, `endpoint ${id}: each event once, in order`);
    assertOneAtATime(requests);
    assert.ok(requests.every((request) => request.verified));
  });

  test('two workers on one database deliver each event once', async () => {
    for (let i = 0; i < 3; i += 1) {
      const { secret } = await services.webhooks.create({ url: `${receiver.url}/${i}` }, cli);
      receiver.secrets.push(secret);
    }
    work({ instance: 'one' });
    work({ instance: 'two' });
    const ids = await changes(20);
    await receiver.until((received) => received.length >= 60);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(receiver.received.length, 60, 'no duplicate');
    for (let i = 0; i < 3; i += 1) {
      assert.deepEqual(receiver.received.filter((request) => request.path === `/hook/${i}`).map((request) => request.payload.id), ids, `endpoint ${i} in order`);
    }
    assert.ok(receiver.received.every((request) => request.verified));
  });
});

/** Requests to one endpoint never overlap: the next arrives only once the previous was answered. */
function assertOneAtATime(requests: readonly Received[]): void {
  const sorted = [...requests].sort((a, b) => a.at - b.at);
  for (const [index, request] of sorted.entries()) {
    const previous = sorted[index - 1];
    if (previous === undefined) continue;
    assert.ok(previous.answeredAt !== undefined && previous.answeredAt <= request.at, `event ${request.payload.id} arrived while event ${previous.payload.id} still awaited its answer: two senders`);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(condition: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 30));
  }
}
