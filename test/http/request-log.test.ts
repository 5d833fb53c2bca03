/**
 * The request log: one line per request at info (request id, method, route pattern, status,
 * duration, client address, token name), health checks at debug only, no URL, query string or
 * secret, and the request id taken from a proxy's X-Request-Id or generated, returned on every
 * answer. Logging does not touch the database, so these run on SQLite only.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { describe, test } from 'node:test';
import type { AppOptions } from '../../src/http/app.ts';
import { startTestApp, userBody, type TestApp } from '../support/app.ts';
import { passwordSignIn } from '../support/console.ts';

const SCIM = '/api/scim/v2';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly requestId?: string;
  readonly [field: string]: unknown;
}

/** An app whose pino output is captured, as text and as parsed lines. */
async function loggedApp(
  level: 'info' | 'debug' = 'info',
  options: { trustedProxies?: AppOptions['trustedProxies']; admission?: AppOptions['admission'] } = {},
): Promise<{ roster: TestApp; text: () => string; lines: () => LogLine[] }> {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const { admission, ...rest } = options;
  const roster = await startTestApp({ logger: { level, stream }, ...rest, ...(admission !== undefined ? { app: { admission } } : {}) });
  const text = (): string => chunks.join('');
  return {
    roster,
    text,
    lines: () =>
      text()
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as LogLine),
  };
}

function linesOf(lines: readonly LogLine[], requestId: string): LogLine[] {
  return lines.filter((line) => line.requestId === requestId);
}

describe('request log', () => {
  test('each request writes exactly one info line: request id, method, route pattern, status, duration, client address and the token name', async () => {
    const { roster, lines } = await loggedApp();
    try {
      const created = await roster.request('POST', '/Users', userBody('ada'));
      assert.equal(created.status, 201);
      const id = created.body.id as string;
      const answer = await roster.app.inject({ method: 'GET', url: `${SCIM}/Users/${id}`, remoteAddress: '203.0.113.9', headers: { authorization: `Bearer ${roster.token}` } });
      assert.equal(answer.statusCode, 200);
      const requestId = String(answer.headers['x-request-id']);
      assert.match(requestId, UUID);

      const mine = linesOf(lines(), requestId);
      assert.equal(mine.length, 1, JSON.stringify(mine));
      const line = mine[0] as LogLine;
      assert.equal(line.level, 30, 'at info');
      assert.equal(line.msg, 'request completed');
      assert.equal(line.method, 'GET');
      assert.equal(line.route, `${SCIM}/Users/:id`, 'the route pattern, not the path with the id');
      assert.equal(line.status, 200);
      assert.equal(typeof line.durationMs, 'number');
      assert.ok((line.durationMs as number) >= 0);
      assert.equal(line.clientAddress, '203.0.113.9');
      assert.equal(line.token, 'test-idp');
      assert.ok(!JSON.stringify(line).includes(id), 'the resource id is not in the line');
      // Fastify's own "incoming request" and "request completed" lines are gone: one line in all.
      assert.equal(lines().filter((candidate) => candidate.msg === 'incoming request').length, 0);
    } finally {
      await roster.close();
    }
  });

  test('a request without a token is logged without a token name, a refused one with its status', async () => {
    const { roster, lines } = await loggedApp();
    try {
      const anonymous = await roster.app.inject({ method: 'GET', url: `${SCIM}/Users` });
      assert.equal(anonymous.statusCode, 401);
      const line = linesOf(lines(), String(anonymous.headers['x-request-id']));
      assert.equal(line.length, 1);
      assert.equal(line[0]?.status, 401);
      assert.equal(line[0]?.route, `${SCIM}/Users`);
      assert.equal('token' in (line[0] ?? {}), false);

      const missing = await roster.request('GET', '/Users/no-such-user');
      assert.equal(missing.status, 404);
      const refused = linesOf(lines(), String(missing.headers['x-request-id']));
      assert.equal(refused.length, 1, 'the SCIM error is part of the one line, not a second one');
      assert.equal(refused[0]?.status, 404);
      assert.equal(refused[0]?.token, 'test-idp');
    } finally {
      await roster.close();
    }
  });

  test('the client address is the TCP peer, or from a trusted proxy the client it names in X-Forwarded-For', async () => {
    const { roster, lines } = await loggedApp('info', { trustedProxies: [{ address: '10.0.0.1', prefix: 32, family: 'ipv4' }] });
    try {
      const clientOf = async (remoteAddress: string, headers: Record<string, string>): Promise<unknown> => {
        const answer = await roster.app.inject({ method: 'GET', url: `${SCIM}/Users`, remoteAddress, headers });
        assert.equal(answer.statusCode, 401);
        return linesOf(lines(), String(answer.headers['x-request-id']))[0]?.clientAddress;
      };
      assert.equal(await clientOf('10.0.0.1', { 'x-forwarded-for': '198.51.100.7' }), '198.51.100.7');
      // An untrusted peer cannot name another address; nor does a trusted proxy's X-Real-IP, which Roster does not read.
      assert.equal(await clientOf('203.0.113.9', { 'x-forwarded-for': '198.51.100.7' }), '203.0.113.9');
      assert.equal(await clientOf('10.0.0.1', { 'x-real-ip': '198.51.100.7' }), '10.0.0.1');
    } finally {
      await roster.close();
    }
  });

  test('a token sent where an id belongs is masked in the debug line of its refusal, as in the provisioning activity', async () => {
    const { roster, text } = await loggedApp('debug');
    try {
      const answer = await roster.request('GET', `/Users/${roster.token}`);
      assert.equal(answer.status, 404);
      assert.ok(!text().includes(roster.token), 'the token is in no log line');
      assert.match(text(), /"detail":"User roster_… not found\."/);
    } finally {
      await roster.close();
    }
  });

  test('health checks (readiness and liveness) are not logged at info, and are at debug', async () => {
    const info = await loggedApp('info');
    try {
      for (const url of ['/healthz', '/livez']) {
        const answer = await info.roster.app.inject({ method: 'GET', url });
        assert.equal(answer.statusCode, 200);
        assert.deepEqual(linesOf(info.lines(), String(answer.headers['x-request-id'])), [], url);
      }
    } finally {
      await info.roster.close();
    }
    const debug = await loggedApp('debug');
    try {
      for (const url of ['/healthz', '/livez']) {
        const answer = await debug.roster.app.inject({ method: 'GET', url });
        const line = linesOf(debug.lines(), String(answer.headers['x-request-id']));
        assert.equal(line.length, 1);
        assert.equal(line[0]?.level, 20, 'at debug');
        assert.equal(line[0]?.route, url);
      }
    } finally {
      await debug.roster.close();
    }
  });

  test('the line holds no URL, query string, token, password or sign-in code', async () => {
    const { roster, text, lines } = await loggedApp();
    try {
      await roster.app.inject({ method: 'GET', url: '/oidc/auth?client_id=app&code=SECRET-CODE-1&state=SECRET-STATE-2' });
      await roster.app.inject({ method: 'GET', url: '/saml/login?returnTo=%2FSECRET-RETURN-3' });
      await roster.app.inject({ method: 'GET', url: `${SCIM}/Users?filter=${encodeURIComponent('userName eq "SECRET-NAME-4"')}`, headers: { authorization: `Bearer ${roster.token}` } });
      await roster.app.inject({ method: 'GET', url: '/no-such-page?SECRET-QUERY-5=1' });
      await passwordSignIn(roster, 'admin', 'SECRET-PASSWORD-6');
      const all = text();
      for (const secret of ['SECRET-CODE-1', 'SECRET-STATE-2', 'SECRET-RETURN-3', 'SECRET-NAME-4', 'SECRET-QUERY-5', 'SECRET-PASSWORD-6', roster.token]) {
        assert.ok(!all.includes(secret), `${secret} must not be logged:\n${all}`);
      }
      const routes = lines()
        .filter((line) => line.msg === 'request completed')
        .map((line) => line.route);
      assert.ok(routes.includes('/oidc/*'));
      assert.ok(routes.includes('/saml/login'));
      assert.ok(routes.includes('(unmatched)'));
      assert.ok(routes.every((route) => typeof route === 'string' && !route.includes('?')), JSON.stringify(routes));
    } finally {
      await roster.close();
    }
  });
});

describe('X-Request-Id', () => {
  test('a proxy\'s X-Request-Id is kept, returned and logged', async () => {
    const { roster, lines } = await loggedApp();
    try {
      const id = 'proxy-7f3a:01/req=42';
      const answer = await roster.app.inject({ method: 'GET', url: `${SCIM}/Users`, headers: { authorization: `Bearer ${roster.token}`, 'x-request-id': id } });
      assert.equal(answer.statusCode, 200);
      assert.equal(answer.headers['x-request-id'], id);
      assert.equal(linesOf(lines(), id).length, 1);
      const longest = 'r'.repeat(200);
      assert.equal((await roster.app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': longest } })).headers['x-request-id'], longest);
    } finally {
      await roster.close();
    }
  });

  test('without one, or with one too long or not printable ASCII, a UUID is generated and returned', async () => {
    const { roster, lines } = await loggedApp();
    try {
      for (const headers of [{}, { 'x-request-id': 'r'.repeat(201) }, { 'x-request-id': 'café' }, { 'x-request-id': 'a\tb' }]) {
        const answer = await roster.app.inject({ method: 'GET', url: `${SCIM}/Users`, headers: { authorization: `Bearer ${roster.token}`, ...headers } });
        assert.equal(answer.statusCode, 200);
        const id = String(answer.headers['x-request-id']);
        assert.match(id, UUID, JSON.stringify(headers));
        assert.equal(linesOf(lines(), id).length, 1);
      }
      const first = (await roster.app.inject({ method: 'GET', url: '/healthz' })).headers['x-request-id'];
      const second = (await roster.app.inject({ method: 'GET', url: '/healthz' })).headers['x-request-id'];
      assert.notEqual(first, second);
    } finally {
      await roster.close();
    }
  });

  test('a client that leaves partway through its body, or while its request waits for a slot, is one info line with 499, counted as no 5xx', async () => {
    const { roster, lines, text } = await loggedApp('info', { admission: { maxConcurrent: 1, queueTimeoutMs: 2000, maxQueued: 8 } });
    try {
      await roster.app.listen({ port: 0, host: '127.0.0.1' });
      const address = roster.app.server.address();
      assert.ok(address !== null && typeof address === 'object');
      /** Sends the head of a request (and the first bytes of its body) on a real connection, then closes it. */
      const leave = async (head: string, waitMs = 100): Promise<void> => {
        const socket = connect(address.port, '127.0.0.1');
        await new Promise((resolve) => socket.once('connect', resolve));
        socket.write(head);
        await new Promise((resolve) => setTimeout(resolve, waitMs));
        socket.destroy();
        await new Promise((resolve) => setTimeout(resolve, 100));
      };
      const cutShort = (url: string, id: string, type = 'application/json') =>
        `POST ${url} HTTP/1.1\r\nHost: roster\r\nAuthorization: Bearer ${roster.token}\r\nX-Request-Id: ${id}\r\nContent-Type: ${type}\r\nContent-Length: 1000\r\n\r\n{"login":`;
      await leave(cutShort(`${SCIM}/Users`, 'cut-scim'));
      await leave(cutShort('/api/v2/authorizations/groups', 'cut-admin'));
      await leave(cutShort('/sessions', 'cut-console', 'application/x-www-form-urlencoded'));
      // A request queued behind one that holds the only slot (its body still to come).
      const body = new PassThrough();
      const slow = roster.app.inject({ method: 'POST', url: `${SCIM}/Users`, headers: { authorization: `Bearer ${roster.token}`, 'content-type': 'application/scim+json' }, payload: body });
      await new Promise((resolve) => setTimeout(resolve, 50));
      await leave(`GET ${SCIM}/Users HTTP/1.1\r\nHost: roster\r\nAuthorization: Bearer ${roster.token}\r\nX-Request-Id: left-queued\r\n\r\n`, 50);
      body.end(JSON.stringify(userBody('slot-holder')));
      assert.equal((await slow).statusCode, 201);
      for (const [id, route] of [['cut-scim', `${SCIM}/Users`], ['cut-admin', '/api/v2/authorizations/groups'], ['cut-console', '/sessions'], ['left-queued', `${SCIM}/Users`]] as const) {
        const mine = linesOf(lines(), id);
        assert.equal(mine.length, 1, `${id}: ${JSON.stringify(mine)}`);
        assert.equal(mine[0]?.level, 30);
        assert.equal(mine[0]?.msg, 'request completed');
        assert.equal(mine[0]?.status, 499);
        assert.equal(mine[0]?.route, route);
      }
      // It was an error with its stack ("Error: aborted", ECONNRESET), read as a lost database
      // connection, beside a line saying the request was not valid HTTP.
      assert.deepEqual(lines().filter((line) => line.level >= 40), [], text());
      assert.doesNotMatch(text(), /aborted|not valid HTTP/);
      const metrics = await roster.app.inject({ method: 'GET', url: '/metrics' });
      assert.match(metrics.body, /^roster_http_requests_total\{route="\/api\/scim\/v2\/Users",method="POST",status="499"\} 1$/m);
      assert.match(metrics.body, /^roster_http_requests_total\{route="\/api\/v2\/authorizations\/groups",method="POST",status="499"\} 1$/m);
      assert.doesNotMatch(metrics.body, /^roster_http_requests_total\{[^}]*status="(5\d\d|400)"\}/m);
    } finally {
      await roster.close();
    }
  });

  test('every answer carries it: errors, pages, URLs the router cannot read, and the OpenID provider\'s own answers', async () => {
    const roster = await startTestApp();
    try {
      for (const url of ['/no-such-page', `${SCIM}/Users/%E0%A4%A`, '/sessions/new', '/.well-known/openid-configuration', '/oidc/auth', '/api/v2/users-management/users']) {
        const answer = await roster.app.inject({ method: 'GET', url, headers: { 'x-request-id': `id-for-${url.length}` } });
        assert.equal(answer.headers['x-request-id'], `id-for-${url.length}`, `${url} (${answer.statusCode})`);
      }
    } finally {
      await roster.close();
    }
  });
});
