/**
 * PostgreSQL connections that stop answering without being closed (a failover leaving the old
 * sockets dead, a frozen backend, a black hole): Roster's own backends are frozen with SIGSTOP
 * while PostgreSQL goes on accepting new connections. A statement on a frozen connection must
 * fail with a 503 once its deadline passes, that connection must be discarded rather than lent
 * again, and /healthz's probes must not pile up on frozen connections until the pool has none:
 * the instance serves again on new connections while the old backends are still frozen. Also a
 * lock held by someone else's session, and PostgreSQL's own lock_timeout. A throwaway server of
 * the test's own (test/support/throwaway-postgres.ts): the shared cluster is never frozen.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { DATABASE_RETRY_AFTER_SECONDS } from '../../src/http/errors.ts';
import { startTestApp, userBody, type TestApp, type TestResponse } from '../support/app.ts';
import { startThrowawayPostgres, throwawayPostgresSkip, type ThrowawayPostgres } from '../support/throwaway-postgres.ts';

/** The deadline the instance under test gives statements (a serving instance: 30 s). */
const DEADLINE_MS = 1500;
/** How long the test waits for any one answer before it calls the request hung. */
const HUNG_MS = 15_000;

/** `promise`, or a rejection saying `what` got no answer within HUNG_MS. */
async function answered<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${HUNG_MS} ms (hung)`)), HUNG_MS);
  });
  try {
    return await Promise.race([promise, hung]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitFor(condition: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Asserts a 503 that says the database did not answer in time, with Retry-After. */
function assertTooSlow(answer: TestResponse, what: string): void {
  const where = `${what}: ${answer.status} ${answer.raw.body.slice(0, 300)}`;
  assert.equal(answer.status, 503, where);
  assert.equal(answer.headers['retry-after'], String(DATABASE_RETRY_AFTER_SECONDS), where);
  assert.match(answer.body.detail, /did not answer in time/, where);
}

/** Stops Roster's backends on `database` (the test runs as root or as the server's owner). */
async function freezeRoster(admin: pg.Client, database: string): Promise<number[]> {
  const { rows } = await admin.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'roster%' AND datname = $1", [database]);
  const pids = rows.map((row) => row.pid);
  for (const pid of pids) process.kill(pid, 'SIGSTOP');
  return pids;
}

function thaw(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // Already gone.
    }
  }
}

const skip = throwawayPostgresSkip();

describe('PostgreSQL connections that stop answering (a throwaway server of the test\'s own)', { skip: skip ?? false }, () => {
  let server: ThrowawayPostgres;
  let roster: TestApp;
  /** A session of the test's own on the same server, to find Roster's backends and to hold locks. */
  let admin: pg.Client;

  before(async () => {
    server = await startThrowawayPostgres();
    roster = await startTestApp({ location: { kind: 'postgres', url: server.url, poolSize: 4 }, queryDeadlineMs: DEADLINE_MS });
    admin = new pg.Client({ connectionString: server.url, application_name: 'test' });
    await admin.connect();
  });

  after(async () => {
    await admin?.end();
    await roster?.close();
    server?.destroy();
  });

  test('frozen backends: requests on them get 503 within the deadline, /healthz recovers and writes succeed while they are still frozen', async () => {
    // Every connection of the pool open and idle, as on a busy instance.
    await Promise.all(Array.from({ length: 8 }, () => roster.request('GET', '/Users?count=1')));
    const pids = await freezeRoster(admin, 'roster');
    assert.ok(pids.length >= 2, `Roster's connections: ${pids.length}`);
    try {
      // As many requests as the pool has connections, at once: each may meet a frozen one.
      const started = Date.now();
      const first = await answered(
        Promise.all(Array.from({ length: 4 }, (_, n) => roster.request('POST', '/Users', userBody(`frozen-${n}@example.com`)))),
        'SCIM creates on frozen connections',
      );
      const elapsed = Date.now() - started;
      for (const [n, answer] of first.entries()) {
        if (answer.status !== 201) assertTooSlow(answer, `create ${n}`);
      }
      assert.ok(first.some((answer) => answer.status === 503), `statuses: ${first.map((answer) => answer.status).join(', ')}`);
      // Bounded by the deadline (plus a new connection and the retry of the write), not by TCP.
      assert.ok(elapsed < DEADLINE_MS + 8000, `answered after ${elapsed} ms`);

      // Probes every readiness period: each closes the frozen connection it met, none piles up.
      await answered(
        waitFor(async () => (await roster.app.inject({ method: 'GET', url: '/healthz' })).statusCode === 200, '/healthz to answer 200 with the old backends frozen'),
        '/healthz',
      );
      const write = await answered(roster.request('POST', '/Users', userBody('after-freeze@example.com')), 'a create after recovery');
      assert.equal(write.status, 201, write.raw.body.slice(0, 300));
      const read = await answered(roster.request('GET', `/Users/${write.body.id}`), 'a read after recovery');
      assert.equal(read.status, 200);
      // The frozen backends are still frozen: Roster serves on new connections.
      const frozen = await admin.query<{ state: string }>("SELECT state FROM pg_stat_activity WHERE pid = ANY($1::int[])", [pids]);
      assert.equal(frozen.rows.length, pids.length, 'the frozen backends are still there');
      const use = roster.services.store.poolUse();
      assert.ok(use !== undefined && use.total <= use.max, `pool: ${JSON.stringify(use)}`);
    } finally {
      thaw(pids);
    }
    // Once thawed, nothing is left in a bad state: the creates answered 503 may have been made
    // (the commit's answer lost), every later request succeeds.
    await waitFor(async () => (await roster.request('GET', '/Users?count=1')).status === 200, 'SCIM to answer after the thaw');
  });

  test('with the deadline of a serving instance (30 s), /healthz probes close the frozen connections they meet and answer 200 again within seconds', async () => {
    await admin.query('CREATE DATABASE probed');
    const probed = await startTestApp({ location: { kind: 'postgres', url: server.url.replace(/\/roster$/, '/probed'), poolSize: 4 } });
    let pids: number[] = [];
    try {
      await Promise.all(Array.from({ length: 8 }, () => probed.request('GET', '/Users?count=1')));
      pids = await freezeRoster(admin, 'probed');
      assert.ok(pids.length >= 2, `Roster's connections: ${pids.length}`);
      // Probes as an orchestrator sends them; before, each left its SELECT 1 waiting on a frozen
      // connection, and the pool soon had none left for anything.
      const statuses: number[] = [];
      await answered(
        waitFor(async () => {
          const status = (await probed.app.inject({ method: 'GET', url: '/healthz' })).statusCode;
          statuses.push(status);
          return status === 200;
        }, '/healthz to answer 200 with the old backends frozen', 12_000),
        '/healthz',
      );
      assert.ok(statuses.includes(503), `statuses: ${statuses.join(', ')}`);
    } finally {
      thaw(pids);
      await probed.close();
    }
  });

  test('a lock held by another session longer than the deadline: 503 saying the database did not answer in time, then served once it is released', async () => {
    await admin.query('BEGIN');
    try {
      await admin.query('LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
      const started = Date.now();
      const answer = await answered(roster.request('POST', '/Users', userBody('locked-out@example.com')), 'a create behind a lock');
      assertTooSlow(answer, 'create behind a lock');
      assert.ok(Date.now() - started < DEADLINE_MS + 8000, `answered after ${Date.now() - started} ms`);
    } finally {
      await admin.query('ROLLBACK');
    }
    const answer = await answered(roster.request('POST', '/Users', userBody('after-lock@example.com')), 'a create after the lock');
    assert.equal(answer.status, 201, answer.raw.body.slice(0, 300));
  });

  test("PostgreSQL's lock_timeout (set by a DBA on the database) is answered 503 saying the database did not answer in time", async () => {
    await admin.query("ALTER DATABASE roster SET lock_timeout = '200ms'");
    try {
      // Connections start with the setting: the pool replaces the ones it has.
      await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'roster%' AND datname = 'roster'");
      await waitFor(async () => (await roster.request('GET', '/Users?count=1')).status === 200, 'SCIM to answer on new connections');
      await admin.query('BEGIN');
      try {
        await admin.query('LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
        const answer = await answered(roster.request('POST', '/Users', userBody('lock-timeout@example.com')), 'a create behind a lock with lock_timeout');
        assertTooSlow(answer, 'create with lock_timeout');
      } finally {
        await admin.query('ROLLBACK');
      }
    } finally {
      await admin.query('ALTER DATABASE roster RESET lock_timeout');
    }
  });
});
