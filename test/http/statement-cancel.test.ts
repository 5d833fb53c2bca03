/**
 * A PostgreSQL statement past Roster's deadline is stopped on the server, not only given up by
 * Roster: closing the connection alone leaves a backend that waits on a lock waiting (holding
 * the row locks its transaction took, so that other requests queue behind it and pass their own
 * deadlines in turn), and one that runs a long statement running. Roster sends PostgreSQL a
 * cancel request for it before it closes the connection (store/cancel.ts); when the cancel cannot
 * be sent, the request is answered as before and a warning is logged. On the shared test server,
 * each instance on a database of its own.
 */
import assert from 'node:assert/strict';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { DATABASE_RETRY_AFTER_SECONDS } from '../../src/http/errors.ts';
import { POSTGRES_URL, createTestDatabase, type ScratchDatabase } from '../support/databases.ts';
import { captureLog, type LogCapture } from '../support/log-capture.ts';
import { groupBody, startTestApp, userBody, type TestApp, type TestResponse } from '../support/app.ts';

/** The deadline the instances under test give statements (a serving instance: 30 s). */
const DEADLINE_MS = 1500;
/** How soon after the 503 the server must have let go of the statement. */
const RELEASED_WITHIN_MS = 2000;

function assertTooSlow(answer: TestResponse, what: string): void {
  const where = `${what}: ${answer.status} ${answer.raw.body.slice(0, 300)}`;
  assert.equal(answer.status, 503, where);
  assert.equal(answer.headers['retry-after'], String(DATABASE_RETRY_AFTER_SECONDS), where);
  assert.match(answer.body.detail, /did not answer in time/, where);
}

async function waitFor<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The pid of a Roster backend of `database` waiting on a lock, once there is one. */
function lockWaiter(session: pg.Client, database: string): Promise<number> {
  return waitFor(
    async () => {
      const { rows } = await session.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'roster%' AND wait_event_type = 'Lock'", [database]);
      return rows[0]?.pid;
    },
    'a Roster backend waiting on a lock',
    DEADLINE_MS,
  );
}

/** Waits until backend `pid` has left pg_stat_activity; how long that took after the call. */
async function gone(session: pg.Client, pid: number, what: string): Promise<number> {
  const started = Date.now();
  await waitFor(
    async () => ((await session.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).rows.length === 0 ? true : undefined),
    `${what} (backend ${pid}) to be gone`,
    RELEASED_WITHIN_MS,
  );
  return Date.now() - started;
}

/** Locks the user behind SCIM id `scimId` FOR UPDATE in an open transaction of `session`. */
async function lockUser(session: pg.Client, scimId: string): Promise<void> {
  await session.query('BEGIN');
  await session.query('SELECT 1 FROM users u JOIN scim_users su ON su.user_id = u.id WHERE su.scim_id = $1 FOR UPDATE OF u', [scimId]);
}

function addMember(userId: string): Record<string, unknown> {
  return { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'add', path: 'members', value: [{ value: userId }] }] };
}

function rename(displayName: string): Record<string, unknown> {
  return { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'displayName', value: displayName }] };
}

const skip = POSTGRES_URL === undefined ? 'PostgreSQL skipped: set ROSTER_TEST_POSTGRES_URL to run it' : false;

describe('PostgreSQL statements past the deadline are stopped on the server', { skip }, () => {
  let roster: TestApp;
  let database: string;
  /** A session of the test's own on the same database, to hold locks. */
  let holder: pg.Client;
  /**
   * Another, to read pg_stat_activity outside the holder's transaction: within one, PostgreSQL
   * answers every read of it from the snapshot the first one took.
   */
  let observer: pg.Client;

  before(async () => {
    roster = await startTestApp({ database: 'postgres', queryDeadlineMs: DEADLINE_MS });
    database = new URL(roster.databaseUrl).pathname.slice(1);
    holder = new pg.Client({ connectionString: roster.databaseUrl, application_name: 'test' });
    observer = new pg.Client({ connectionString: roster.databaseUrl, application_name: 'test' });
    await holder.connect();
    await observer.connect();
  });

  after(async () => {
    await holder?.end();
    await observer?.end();
    await roster?.close();
  });

  test('a PATCH that locked its group and then waits on a locked user: after its 503 the group can be written while the user is still locked, and the backend is gone', async (t) => {
    const user = await roster.request('POST', '/Users', userBody('waiting-member@example.com'));
    const group = await roster.request('POST', '/Groups', groupBody('Locked group'));
    assert.equal(user.status, 201);
    assert.equal(group.status, 201);
    await lockUser(holder, user.body.id);
    try {
      // The PATCH locks the group's row, then its membership insert waits for the user's row.
      const started = Date.now();
      const patch = roster.request('PATCH', `/Groups/${group.body.id}`, addMember(user.body.id));
      const waiter = await lockWaiter(observer, database);
      assertTooSlow(await patch, 'the PATCH behind the user lock');
      const answered = Date.now();
      t.diagnostic(`the PATCH was answered 503 after ${answered - started} ms (deadline ${DEADLINE_MS} ms)`);
      // Before, the backend went on waiting for the user's row, the group's row locked with it:
      // this waited behind it in turn, and got its own 503.
      const renamed = await roster.request('PATCH', `/Groups/${group.body.id}`, rename('Renamed while the user is locked'));
      assert.equal(renamed.status, 204, renamed.raw.body.slice(0, 300));
      t.diagnostic(`the rename was answered ${Date.now() - answered} ms after the 503`);
      await gone(observer, waiter, 'the PATCH past its deadline');
    } finally {
      await holder.query('ROLLBACK');
    }
    // The cancelled PATCH left nothing, and the same change goes through once the user is free.
    const read = await roster.request('GET', `/Groups/${group.body.id}`);
    assert.deepEqual(read.body.members ?? [], []);
    const added = await roster.request('PATCH', `/Groups/${group.body.id}`, addMember(user.body.id));
    assert.equal(added.status, 204, added.raw.body.slice(0, 300));
  });

  test('a long statement is ended on the server at the deadline, not left running', async (t) => {
    const statement = sql`SELECT pg_sleep(60)`.execute(roster.services.store.db);
    const running = await waitFor(
      async () => {
        const { rows } = await observer.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'roster%' AND query LIKE 'SELECT pg_sleep%' AND state = 'active'", [database]);
        return rows[0]?.pid;
      },
      'the statement to run',
      DEADLINE_MS,
    );
    await assert.rejects(statement, { code: 'ROSTER_QUERY_DEADLINE' });
    // Before, it went on sleeping for the rest of its minute, its client long gone.
    const after = await gone(observer, running, 'pg_sleep past its deadline');
    t.diagnostic(`the backend was gone ${after} ms after the deadline's error`);
  });
});

/**
 * A TCP relay to PostgreSQL: the instance behind it reaches the server only through it, so that
 * closing its listening socket leaves the connections made but refuses new ones, cancels included.
 */
async function startRelay(target: URL): Promise<{ server: Server; port: number; close(): void }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = createConnection({ host: target.hostname, port: Number(target.port || 5432) });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the relay has no port');
  return {
    server,
    port: address.port,
    close() {
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}

describe('a cancel that cannot reach PostgreSQL', { skip }, () => {
  let scratch: ScratchDatabase;
  let relay: Awaited<ReturnType<typeof startRelay>>;
  let relayed: TestApp;
  let log: LogCapture;
  let session: pg.Client;

  before(async () => {
    scratch = await createTestDatabase('postgres');
    relay = await startRelay(new URL(scratch.url));
    const url = new URL(scratch.url);
    url.hostname = '127.0.0.1';
    url.port = String(relay.port);
    log = captureLog();
    relayed = await startTestApp({ location: { kind: 'postgres', url: url.href, poolSize: 2 }, queryDeadlineMs: DEADLINE_MS, logger: { level: 'warn', stream: log.stream } });
    session = new pg.Client({ connectionString: scratch.url, application_name: 'test' });
    await session.connect();
  });

  after(async () => {
    await session?.end();
    relay?.close();
    await relayed?.close();
    await scratch?.drop();
  });

  test('the request is answered 503 all the same, the failure is logged as a warning, and the instance stays up', async () => {
    const user = await relayed.request('POST', '/Users', userBody('unreachable-cancel@example.com'));
    const group = await relayed.request('POST', '/Groups', groupBody('Unreachable cancel'));
    assert.equal(group.status, 201);
    // The connections are made; from now on nothing new reaches the server through the relay.
    relay.server.close();
    await lockUser(session, user.body.id);
    try {
      const started = Date.now();
      const patch = await relayed.request('PATCH', `/Groups/${group.body.id}`, addMember(user.body.id));
      assertTooSlow(patch, 'the PATCH whose cancel is refused');
      assert.ok(Date.now() - started < DEADLINE_MS + 3000, `answered after ${Date.now() - started} ms`);
    } finally {
      await session.query('ROLLBACK');
    }
    const warning = log.lines.map((line) => JSON.parse(line) as { level: number; msg: string; err?: { code?: string } }).find((line) => /could not cancel/.test(line.msg));
    assert.ok(warning !== undefined, `no warning among:\n${log.lines.join('\n')}`);
    assert.equal(warning.level, 40);
    assert.equal(warning.err?.code, 'ECONNREFUSED');
    const live = await relayed.app.inject({ method: 'GET', url: '/livez' });
    assert.equal(live.statusCode, 200);
    const use = relayed.services.store.poolUse();
    assert.ok(use !== undefined && use.total <= use.max, `pool: ${JSON.stringify(use)}`);
  });
});
