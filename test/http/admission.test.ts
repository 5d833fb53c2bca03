/**
 * The limit on requests in progress in one process: excess requests wait in a short FIFO queue,
 * then get 503 with Retry-After in their API's error shape; the probes, and /metrics read
 * without a token, are never held. The limit is per process and involves no database, so it
 * runs on SQLite only.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { createAdmission } from '../../src/http/admission.ts';
import { RetryLaterError } from '../../src/errors.ts';
import { SCIM, startTestApp, userBody, type TestApp } from '../support/app.ts';

const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';
/** An address outside ROSTER_METRICS_ALLOW (loopback by default). */
const OUTSIDE = '203.0.113.9';

describe('admission of requests into one process', () => {
  test('a slot freed goes to the oldest waiter; a waiter past the timeout, or beyond the queue, is refused as busy', async () => {
    const admission = createAdmission({ maxConcurrent: 1, queueTimeoutMs: 200, maxQueued: 2 });
    const first = (await admission.enter())!;
    const order: string[] = [];
    const second = admission.enter().then((release) => (order.push('second'), release!));
    const third = admission.enter().then((release) => (order.push('third'), release!));
    await assert.rejects(admission.enter(), (error: unknown) => error instanceof RetryLaterError && error.reason === 'busy');
    assert.deepEqual(admission.load(), { active: 1, queued: 2 });
    first();
    first(); // releasing twice gives back one slot only
    (await second)();
    (await third)();
    assert.deepEqual(order, ['second', 'third']);
    assert.deepEqual(admission.load(), { active: 0, queued: 0 });

    const held = (await admission.enter())!;
    const started = Date.now();
    await assert.rejects(admission.enter(), (error: unknown) => error instanceof RetryLaterError && error.retryAfterSeconds === 1);
    assert.ok(Date.now() - started >= 190);
    held();
    assert.deepEqual(admission.load(), { active: 0, queued: 0 });
  });

  test('a waiter in the lane ahead gets the next slot before older waiters of the normal lane; each lane has its own queue', async () => {
    const admission = createAdmission({ maxConcurrent: 1, queueTimeoutMs: 1000, maxQueued: 2 });
    const first = (await admission.enter())!;
    const order: string[] = [];
    const take = (name: string, release: (() => void) | undefined) => (order.push(name), release!);
    const signIn = admission.enter(undefined, 'normal').then((release) => take('sign-in', release));
    const page = admission.enter(undefined, 'normal').then((release) => take('page', release));
    await assert.rejects(admission.enter(undefined, 'normal'), (error: unknown) => error instanceof RetryLaterError && error.reason === 'busy');
    // The normal lane is full; the lane ahead still queues, and goes first.
    const deactivation = admission.enter(undefined, 'ahead').then((release) => take('deactivation', release));
    assert.deepEqual(admission.load(), { active: 1, queued: 3 });
    first();
    (await deactivation)();
    (await signIn)();
    (await page)();
    assert.deepEqual(order, ['deactivation', 'sign-in', 'page']);
    assert.deepEqual(admission.load(), { active: 0, queued: 0 });
  });

  test('a waiter whose client left gives up its place and holds nothing', async () => {
    const admission = createAdmission({ maxConcurrent: 1, queueTimeoutMs: 1000, maxQueued: 2 });
    const first = (await admission.enter())!;
    const left = new AbortController();
    const leaver = admission.enter(left.signal);
    const stayer = admission.enter();
    assert.deepEqual(admission.load(), { active: 1, queued: 2 });
    left.abort();
    assert.equal(await leaver, undefined);
    assert.deepEqual(admission.load(), { active: 1, queued: 1 });
    first();
    const release = await stayer;
    assert.ok(release !== undefined);
    release();
    assert.deepEqual(admission.load(), { active: 0, queued: 0 });
    assert.equal(await admission.enter(left.signal), undefined, 'a client already gone is not admitted');
    assert.deepEqual(admission.load(), { active: 0, queued: 0 });
  });

  describe('over HTTP', () => {
    let roster: TestApp;
    before(async () => {
      roster = await startTestApp({ app: { admission: { maxConcurrent: 1, queueTimeoutMs: 150, maxQueued: 8 } } });
    });
    after(async () => roster.close());

    /** Starts a SCIM create whose body arrives only when `finish` is called: it holds the one slot meanwhile. */
    function slowCreate(userName: string) {
      const body = new PassThrough();
      const answer = roster.app.inject({
        method: 'POST',
        url: `${SCIM}/Users`,
        headers: { authorization: `Bearer ${roster.token}`, 'content-type': 'application/scim+json' },
        payload: body,
      });
      return { answer, finish: () => body.end(JSON.stringify(userBody(userName))) };
    }

    test('a request beyond the limit waits, then gets 503 with Retry-After and its API\'s error body; /healthz and /livez still answer', async () => {
      const slow = slowCreate('slow@example.com');
      await new Promise((resolve) => setTimeout(resolve, 50));
      const [scim, admin, health, live] = await Promise.all([
        roster.app.inject({ method: 'GET', url: `${SCIM}/Users`, headers: { authorization: `Bearer ${roster.token}` } }),
        roster.app.inject({ method: 'GET', url: '/api/v2/users-management/users', headers: { authorization: `Bearer ${roster.token}` } }),
        roster.app.inject({ method: 'GET', url: '/healthz' }),
        roster.app.inject({ method: 'GET', url: '/livez' }),
      ]);
      assert.equal(scim.statusCode, 503, scim.body);
      assert.equal(scim.headers['retry-after'], '1');
      assert.deepEqual(scim.json().schemas, [ERROR_SCHEMA]);
      assert.equal(scim.json().status, '503');
      assert.match(scim.json().detail, /ROSTER_MAX_CONCURRENT_REQUESTS=1/);
      assert.equal(admin.statusCode, 503);
      assert.equal(admin.headers['retry-after'], '1');
      assert.deepEqual(Object.keys(admin.json()), ['message']);
      assert.equal(health.statusCode, 200);
      assert.equal(live.statusCode, 200);
      slow.finish();
      assert.equal((await slow.answer).statusCode, 201);
    });

    test('a request that gets a slot within the queue timeout is served', async () => {
      const slow = slowCreate('second-slow@example.com');
      await new Promise((resolve) => setTimeout(resolve, 50));
      const queued = roster.app.inject({ method: 'GET', url: `${SCIM}/Users?count=1`, headers: { authorization: `Bearer ${roster.token}` } });
      await new Promise((resolve) => setTimeout(resolve, 30));
      slow.finish();
      assert.equal((await slow.answer).statusCode, 201);
      assert.equal((await queued).statusCode, 200);
    });

    test('a SCIM request with a token waits ahead of a sign-in page queued before it', async () => {
      const slow = slowCreate('ahead-slow@example.com');
      await new Promise((resolve) => setTimeout(resolve, 50));
      const order: string[] = [];
      const page = roster.app.inject({ method: 'GET', url: '/sessions/new', headers: { accept: 'text/html' } }).then((answer) => (order.push('sign-in page'), answer));
      await new Promise((resolve) => setTimeout(resolve, 20));
      const scim = roster.app.inject({ method: 'GET', url: `${SCIM}/Users?count=1`, headers: { authorization: `Bearer ${roster.token}` } }).then((answer) => (order.push('scim'), answer));
      await new Promise((resolve) => setTimeout(resolve, 20));
      slow.finish();
      assert.equal((await slow.answer).statusCode, 201);
      assert.equal((await scim).statusCode, 200);
      assert.equal((await page).statusCode, 200);
      assert.deepEqual(order, ['scim', 'sign-in page']);
    });

    test('a client that leaves while its request waits in the queue takes its place with it: the instance keeps serving', async () => {
      await roster.app.listen({ port: 0, host: '127.0.0.1' });
      const address = roster.app.server.address();
      assert.ok(address !== null && typeof address === 'object');
      for (let round = 0; round < 3; round += 1) {
        const slow = slowCreate(`leaver-${round}@example.com`);
        await new Promise((resolve) => setTimeout(resolve, 50));
        // A real connection, so that closing it is what a client going away looks like.
        const socket = connect(address.port, '127.0.0.1');
        await new Promise((resolve) => socket.once('connect', resolve));
        socket.write(`GET ${SCIM}/Users?count=1 HTTP/1.1\r\nHost: roster\r\nAuthorization: Bearer ${roster.token}\r\n\r\n`);
        await new Promise((resolve) => setTimeout(resolve, 40));
        socket.destroy();
        await new Promise((resolve) => setTimeout(resolve, 20));
        slow.finish();
        assert.equal((await slow.answer).statusCode, 201);
      }
      // Each leaver, admitted after the slow create, would have kept the one slot for good.
      const next = await roster.app.inject({ method: 'GET', url: `${SCIM}/Users?count=1`, headers: { authorization: `Bearer ${roster.token}` } });
      assert.equal(next.statusCode, 200, next.body);
    });

    test('a scrape of /metrics that needs no token passes the limit and sees it; one that needs a token waits its turn like any request', async () => {
      const slow = slowCreate('metered@example.com');
      await new Promise((resolve) => setTimeout(resolve, 50));
      // Checking a token reads the database: such a scrape queues, and is refused when no slot comes.
      const tokened = roster.app.inject({ method: 'GET', url: '/metrics', remoteAddress: OUTSIDE, headers: { authorization: `Bearer ${roster.token}` } });
      // A proxy on loopback forwarding someone else's scrape is not loopback's: it queues too.
      const proxied = roster.app.inject({ method: 'GET', url: '/metrics', remoteAddress: '127.0.0.1', headers: { 'x-real-ip': OUTSIDE } });
      await new Promise((resolve) => setTimeout(resolve, 20));
      const scrape = await roster.app.inject({ method: 'GET', url: '/metrics', remoteAddress: '127.0.0.1' });
      assert.equal(scrape.statusCode, 200, scrape.body);
      assert.match(scrape.body, /^roster_requests_in_progress 1$/m);
      assert.match(scrape.body, /^roster_requests_queued 2$/m);
      for (const refused of await Promise.all([tokened, proxied])) {
        assert.equal(refused.statusCode, 503, refused.body);
        assert.equal(refused.headers['retry-after'], '1');
      }
      slow.finish();
      assert.equal((await slow.answer).statusCode, 201);
      // With a slot free, the token's scrape is served, and holds the slot while it is answered.
      const served = await roster.app.inject({ method: 'GET', url: '/metrics', remoteAddress: OUTSIDE, headers: { authorization: `Bearer ${roster.token}` } });
      assert.equal(served.statusCode, 200, served.body);
      assert.match(served.body, /^roster_requests_in_progress 1$/m);
      assert.match(served.body, /^roster_requests_queued 0$/m);
    });

    /** Three connections posting `body` as a form to `path` without a token, each stopped after its first `sent` characters. */
    async function trickle(path: string, body: string, sent: number) {
      if (!roster.app.server.listening) await roster.app.listen({ port: 0, host: '127.0.0.1' });
      const address = roster.app.server.address();
      assert.ok(address !== null && typeof address === 'object');
      const sockets = await Promise.all([1, 2, 3].map(async () => {
        const socket = connect(address.port, '127.0.0.1');
        await new Promise((resolve) => socket.once('connect', resolve));
        socket.write(`POST ${path} HTTP/1.1\r\nHost: roster\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, sent)}`);
        return socket;
      }));
      await new Promise((resolve) => setTimeout(resolve, 50));
      return sockets;
    }

    test('a request without a token whose body trickles in holds no slot while it arrives, and is served once it is in', async () => {
      // Three sign-in posts (no cookie, no token) sending their bodies a byte at a time: each used
      // to hold a slot until its body was in, and here the one slot.
      const body = 'login=ada&password=wrong';
      const trickling = await trickle('/sessions', body, 3);
      const [page, scim] = await Promise.all([
        roster.app.inject({ method: 'GET', url: '/sessions/new', headers: { accept: 'text/html' } }),
        roster.app.inject({ method: 'GET', url: `${SCIM}/Users?count=1`, headers: { authorization: `Bearer ${roster.token}` } }),
      ]);
      assert.equal(page.statusCode, 200, page.body.slice(0, 200));
      assert.equal(scim.statusCode, 200, scim.body);
      // Once the body is in, the post is answered (a sign-in form without its CSRF token: 403).
      const socket = trickling[0]!;
      const answered = new Promise<string>((resolve) => socket.once('data', (chunk: Buffer) => resolve(chunk.toString('latin1'))));
      socket.write(body.slice(3));
      assert.match(await answered, /^HTTP\/1\.1 4\d\d /);
      for (const other of trickling) other.destroy();
    });

    test('an OpenID Connect token request whose body trickles in holds no slot either, and is answered once it is in', async () => {
      // The provider read its own bodies inside the slot: three token posts trickling held the
      // one slot (and, on an instance, every slot) until the body deadline, minutes later.
      const body = 'grant_type=authorization_code&code=nothing&client_id=nobody&client_secret=wrong&redirect_uri=https%3A%2F%2Fapp.example%2Fcb';
      const trickling = await trickle('/oidc/token', body, 5);
      const scim = await roster.app.inject({ method: 'GET', url: `${SCIM}/Users?count=1`, headers: { authorization: `Bearer ${roster.token}` } });
      assert.equal(scim.statusCode, 200, scim.body);
      // Once its body is in, the provider reads it as sent: an unknown client is refused in OAuth's shape.
      const socket = trickling[0]!;
      const received: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => received.push(chunk));
      const answered = new Promise<void>((resolve) => socket.once('end', resolve));
      socket.write(body.slice(5));
      await answered;
      const answer = Buffer.concat(received).toString('utf8');
      assert.match(answer, /^HTTP\/1\.1 401 /);
      assert.match(answer, /"error":"invalid_client"/);
      for (const other of trickling) other.destroy();
    });

    test('a console page beyond the limit is an HTML 503 page', async () => {
      const slow = slowCreate('third-slow@example.com');
      await new Promise((resolve) => setTimeout(resolve, 50));
      const page = await roster.app.inject({ method: 'GET', url: '/sessions/new', headers: { accept: 'text/html' } });
      slow.finish();
      await slow.answer;
      assert.equal(page.statusCode, 503);
      assert.match(String(page.headers['content-type']), /text\/html/);
      assert.equal(page.headers['retry-after'], '1');
      assert.match(page.body, /Temporarily unavailable/);
    });
  });
});

describe('a request body that does not arrive in time', () => {
  let roster: TestApp;
  before(async () => {
    roster = await startTestApp({ app: { bodyDeadlineMs: 300 } });
    await roster.app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(async () => roster.close());

  test('its connection is closed at the deadline; a body that arrives in time, or a request without one, is answered', async () => {
    const address = roster.app.server.address();
    assert.ok(address !== null && typeof address === 'object');
    const open = async (head: string) => {
      const socket = connect(address.port, '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      const received: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => received.push(chunk));
      const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
      socket.write(head);
      return { socket, closed, text: () => Buffer.concat(received).toString('latin1') };
    };
    const started = Date.now();
    // Node's requestTimeout, given to Fastify, let such a body trickle for minutes past it.
    const late = await open(`POST /sessions HTTP/1.1\r\nHost: roster\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nlogin=`);
    const lateScim = await open(`POST ${SCIM}/Users HTTP/1.1\r\nHost: roster\r\nAuthorization: Bearer ${roster.token}\r\nContent-Type: application/scim+json\r\nContent-Length: 100\r\n\r\n{"sch`);
    for (const connection of [late, lateScim]) {
      const closedAt = await Promise.race([connection.closed, new Promise<number>((resolve) => setTimeout(() => resolve(-1), 5000))]);
      assert.ok(closedAt > 0, 'the connection is still open 5 s after a 0.3 s deadline');
      assert.ok(closedAt - started >= 250, `closed after ${closedAt - started} ms`);
      assert.equal(connection.text(), '', 'no answer was made from half a body');
    }
    // In time, even in two parts: answered.
    const body = JSON.stringify(userBody('in-time@example.com'));
    const inTime = await open(`POST ${SCIM}/Users HTTP/1.1\r\nHost: roster\r\nAuthorization: Bearer ${roster.token}\r\nContent-Type: application/scim+json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.slice(0, 10)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    inTime.socket.write(body.slice(10));
    await inTime.closed;
    assert.match(inTime.text(), /^HTTP\/1\.1 201 /);
    // A request without a body on a connection kept open past the deadline is not cut.
    const idle = await open(`GET /healthz HTTP/1.1\r\nHost: roster\r\n\r\n`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.match(idle.text(), /^HTTP\/1\.1 200 /);
    idle.socket.write(`GET /livez HTTP/1.1\r\nHost: roster\r\nConnection: close\r\n\r\n`);
    await idle.closed;
    assert.equal(idle.text().match(/HTTP\/1\.1 200 /g)?.length, 2);
  });
});
