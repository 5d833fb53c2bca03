/**
 * PostgreSQL stopped under Roster while it serves, then started again: every request during the
 * outage is a 503 with Retry-After in the shape of its API (SCIM error, admin `{"message"}`, an
 * HTML page for the console), /livez stays 200 while /healthz says not ready, Roster recovers
 * without a restart, and no write is lost or half-made. A throwaway server of the test's own
 * (test/support/throwaway-postgres.ts): the shared cluster is never stopped.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { DATABASE_RETRY_AFTER_SECONDS } from '../../src/http/errors.ts';
import { startTestApp, userBody, type TestApp, SESSION_COOKIE } from '../support/app.ts';
import { startThrowawayPostgres, throwawayPostgresSkip, type ThrowawayPostgres } from '../support/throwaway-postgres.ts';

const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

interface Outcome {
  readonly kind: 'scim-create' | 'scim-list' | 'admin-list';
  readonly userName?: string;
  readonly id?: string;
  readonly status: number;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly response: LightMyRequestResponse;
}

async function waitFor(condition: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Asserts the answer of a request made while the database was down. */
function assertUnavailable(outcome: Outcome): void {
  const { response } = outcome;
  const where = `${outcome.kind} ${outcome.userName ?? ''}: ${response.statusCode} ${response.body.slice(0, 300)}`;
  assert.equal(response.statusCode, 503, where);
  assert.equal(response.headers['retry-after'], String(DATABASE_RETRY_AFTER_SECONDS), where);
  const body = JSON.parse(response.body);
  if (outcome.kind === 'admin-list') {
    assert.deepEqual(Object.keys(body), ['message'], where);
    assert.match(body.message, /database/, where);
  } else {
    assert.match(String(response.headers['content-type']), /application\/scim\+json/, where);
    assert.deepEqual(body.schemas, [ERROR_SCHEMA], where);
    assert.equal(body.status, '503', where);
    assert.match(body.detail, /database/, where);
  }
}

const skip = throwawayPostgresSkip();

describe('PostgreSQL outage under load (a throwaway server of the test\'s own)', { skip: skip ?? false }, () => {
  let server: ThrowawayPostgres;
  let roster: TestApp;

  before(async () => {
    server = await startThrowawayPostgres();
    roster = await startTestApp({ location: { kind: 'postgres', url: server.url, poolSize: 4 } });
  });

  after(async () => {
    await roster?.close();
    server?.destroy();
  });

  test('stopping PostgreSQL gives 503 with Retry-After in each API\'s shape, /livez 200 and /healthz 503; after a restart Roster serves again and every acknowledged write is there, none refused is', async () => {
    const outcomes: Outcome[] = [];
    let running = true;
    let sequence = 0;
    const worker = async (slot: number): Promise<void> => {
      while (running) {
        const startedAt = Date.now();
        const pick = sequence % 3;
        sequence += 1;
        if (pick === 0 || slot === 0) {
          const userName = `load-${slot}-${sequence}@example.com`;
          const answer = await roster.request('POST', '/Users', userBody(userName));
          outcomes.push({ kind: 'scim-create', userName, id: answer.body?.id, status: answer.status, startedAt, endedAt: Date.now(), response: answer.raw });
        } else if (pick === 1) {
          const answer = await roster.request('GET', `/Users?filter=${encodeURIComponent('userName sw "load-"')}&count=5`);
          outcomes.push({ kind: 'scim-list', status: answer.status, startedAt, endedAt: Date.now(), response: answer.raw });
        } else {
          const answer = await roster.request('GET', '/api/v2/users-management/users?pageSize=5');
          outcomes.push({ kind: 'admin-list', status: answer.status, startedAt, endedAt: Date.now(), response: answer.raw });
        }
      }
    };
    const workers = [0, 1, 2, 3, 4, 5].map((slot) => worker(slot));
    try {

      // Some traffic with the database up, then a fast shutdown (sessions end with 57P01) mid-load.
      await new Promise((resolve) => setTimeout(resolve, 700));
      server.stop('fast');
      const downAt = Date.now();
      // Past the readiness cache (1 s), so /healthz has looked again.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const live = await roster.app.inject({ method: 'GET', url: '/livez' });
      const health = await roster.app.inject({ method: 'GET', url: '/healthz' });
      const page = await roster.app.inject({ method: 'GET', url: '/account', headers: { accept: 'text/html', cookie: `${SESSION_COOKIE}=${'a'.repeat(43)}` } });
      const upAt = Date.now();
      server.start();

      assert.equal(live.statusCode, 200, 'the process is alive: /livez must not fail during a database outage');
      assert.equal(health.statusCode, 503, '/healthz reports not ready while the database is down');
      assert.equal(health.headers['retry-after'], String(DATABASE_RETRY_AFTER_SECONDS));
      assert.equal(page.statusCode, 503, `console page: ${page.body.slice(0, 300)}`);
      assert.match(String(page.headers['content-type']), /text\/html/);
      assert.equal(page.headers['retry-after'], String(DATABASE_RETRY_AFTER_SECONDS));
      assert.match(page.body, /Temporarily unavailable/);

      // Recovery without restarting Roster: the pool replaces its broken connections.
      await waitFor(async () => (await roster.app.inject({ method: 'GET', url: '/healthz' })).statusCode === 200, '/healthz to answer 200 again');
      await waitFor(async () => (await roster.request('GET', '/Users?count=1')).status === 200, 'SCIM to answer again');
      await new Promise((resolve) => setTimeout(resolve, 500));
      running = false;
      await Promise.all(workers);

      const during = outcomes.filter((outcome) => outcome.startedAt > downAt + 100 && outcome.endedAt < upAt);
      assert.ok(during.length >= 20, `requests made during the outage: ${during.length}`);
      for (const outcome of during) assertUnavailable(outcome);
      for (const outcome of outcomes) {
        assert.ok([200, 201, 503].includes(outcome.status), `${outcome.kind}: ${outcome.status} ${outcome.response.body.slice(0, 300)}`);
      }
      const lastAnswers = outcomes.filter((outcome) => outcome.startedAt > Date.now() - 300);
      assert.ok(lastAnswers.every((outcome) => outcome.status < 300), 'after recovery every request succeeds');

      // Nothing acknowledged is lost; nothing refused was written.
      const creates = outcomes.filter((outcome) => outcome.kind === 'scim-create');
      const acknowledged = creates.filter((outcome) => outcome.status === 201);
      const refused = creates.filter((outcome) => outcome.status === 503);
      assert.ok(acknowledged.length > 0 && refused.length > 0, `creates acknowledged ${acknowledged.length}, refused ${refused.length}`);
      const stored = new Set<string>();
      for (let start = 1; ; start += 100) {
        const page = await roster.request('GET', `/Users?filter=${encodeURIComponent('userName sw "load-"')}&startIndex=${start}&count=100&attributes=userName`);
        assert.equal(page.status, 200);
        for (const resource of page.body.Resources ?? []) stored.add(resource.userName);
        if (start + 100 > page.body.totalResults) break;
      }
      for (const outcome of acknowledged) assert.ok(stored.has(outcome.userName ?? ''), `acknowledged ${outcome.userName} is missing`);
      for (const outcome of refused) assert.ok(!stored.has(outcome.userName ?? ''), `${outcome.userName} was answered 503 but is stored`);
      assert.equal(stored.size, acknowledged.length);
    } finally {
      running = false;
      await Promise.allSettled(workers);
    }
  });

  test('a server killed outright (pg_ctl stop -m immediate) mid-transaction does not end the process, and Roster recovers', async () => {
    let running = true;
    const statuses: number[] = [];
    const workers = [0, 1, 2, 3].map(async (slot) => {
      for (let n = 0; running; n += 1) statuses.push((await roster.request('POST', '/Users', userBody(`crash-${slot}-${n}@example.com`))).status);
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    server.stop('immediate');
    await new Promise((resolve) => setTimeout(resolve, 800));
    server.start();
    await waitFor(async () => (await roster.request('GET', '/Users?count=1')).status === 200, 'SCIM to answer again');
    running = false;
    await Promise.all(workers);
    assert.ok(statuses.includes(503), 'some creates met the outage');
    assert.deepEqual([...new Set(statuses)].sort(), [201, 503]);
  });
});
