/**
 * A request with two Host, two Authorization or two Content-Type headers is refused with 400 (RFC 9112 §3.2 for
 * Host): Node's parser keeps the first and drops the rest, while a proxy may have read the last,
 * and the two would disagree about the host or the credentials. So is a forward-auth question
 * with two lines of a header it reads the original URL from (X-Original-URL, X-Forwarded-Proto,
 * -Host, -Uri), which Node joins with a comma and forward auth read the first of. Sent over a raw socket, since
 * fetch and node:http send each header once. Two Content-Length are not tested here: Node's
 * parser refuses them itself, equal or not (client-errors.ts answers that 400).
 *
 * SQLite only: the refusal comes before any query.
 */
import assert from 'node:assert/strict';
import { connect, type AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { SCIM, startTestApp, type TestApp } from '../support/app.ts';

let app: TestApp;
let port: number;
before(async () => {
  app = await startTestApp();
  await app.app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.app.server.address() as AddressInfo).port;
});
after(() => app.close());

interface RawResponse {
  readonly status: number;
  readonly headers: ReadonlyMap<string, string>;
  readonly body: string;
}

/** Decodes a chunked body (RFC 9112 §7.1); enough for Roster's answers, which carry no trailers. */
function dechunk(text: string): string {
  let body = '';
  let rest = text;
  for (;;) {
    const end = rest.indexOf('\r\n');
    const size = Number.parseInt(rest.slice(0, end), 16);
    if (!(size > 0)) return body;
    body += rest.slice(end + 2, end + 2 + size);
    rest = rest.slice(end + 2 + size + 2);
  }
}

/**
 * Sends `head` (the request line and headers, one a line) on a new connection and reads the
 * answer until the server closes it: a refusal must close it by itself; a request that passes
 * asks for the close.
 */
function send(head: readonly string[]): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(10_000, () => socket.destroy(new Error('the server did not close the connection')));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      // ASCII head; the body is UTF-8, and so the chunk sizes count bytes: decoded after dechunking.
      const raw = Buffer.concat(chunks).toString('latin1');
      const split = raw.indexOf('\r\n\r\n');
      const [statusLine = '', ...lines] = raw.slice(0, split).split('\r\n');
      const headers = new Map(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
      const rest = raw.slice(split + 4);
      const body = Buffer.from(headers.get('transfer-encoding') === 'chunked' ? dechunk(rest) : rest, 'latin1').toString('utf8');
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body });
    });
    socket.write(`${head.join('\r\n')}\r\n\r\n`);
  });
}

test('GET /ServiceProviderConfig with one Host and one Authorization is answered', async () => {
  const answer = await send([`GET ${SCIM}/ServiceProviderConfig HTTP/1.1`, 'Host: roster.test', `Authorization: Bearer ${app.token}`, 'Connection: close']);
  assert.equal(answer.status, 200, answer.body);
});

test('SCIM: two Host headers are refused with a 400 in the RFC 7644 error schema that names Host, and the connection closes', async () => {
  const answer = await send([`GET ${SCIM}/ServiceProviderConfig HTTP/1.1`, 'Host: roster.test', 'Host: attacker.example', `Authorization: Bearer ${app.token}`]);
  assert.equal(answer.status, 400);
  assert.equal(answer.headers.get('connection'), 'close');
  assert.match(answer.headers.get('content-type') ?? '', /^application\/scim\+json/);
  const body = JSON.parse(answer.body) as { schemas: string[]; status: string; detail: string };
  assert.deepEqual(body.schemas, ['urn:ietf:params:scim:api:messages:2.0:Error']);
  assert.equal(body.status, '400');
  assert.match(body.detail, /the Host header more than once/);
});

test('SCIM: two Authorization headers are refused, whichever of them holds the valid token and however they are spelt', async () => {
  for (const pair of [
    [`Authorization: Bearer ${app.token}`, 'authorization: Bearer not-a-token'],
    ['AUTHORIZATION: Bearer not-a-token', `Authorization: Bearer ${app.token}`],
    [`Authorization: Bearer ${app.token}`, `Authorization: Bearer ${app.token}`],
  ]) {
    const answer = await send([`GET ${SCIM}/Users HTTP/1.1`, 'Host: roster.test', ...pair]);
    assert.equal(answer.status, 400, `${pair.join(' / ')}: ${answer.body}`);
    assert.match((JSON.parse(answer.body) as { detail: string }).detail, /the Authorization header more than once/);
  }
});

test('both repeated: the refusal names both', async () => {
  const answer = await send([`GET ${SCIM}/Users HTTP/1.1`, 'Host: roster.test', 'host: roster.test', `Authorization: Bearer ${app.token}`, 'Authorization: Basic eDp5']);
  assert.equal(answer.status, 400);
  assert.match((JSON.parse(answer.body) as { detail: string }).detail, /the Host and Authorization headers more than once/);
});

test('two Content-Type headers are refused, even when they agree: a filter in front may have read the body as the other', async () => {
  for (const second of ['Content-Type: application/x-www-form-urlencoded', 'content-type: application/scim+json']) {
    const answer = await send([`POST ${SCIM}/Users HTTP/1.1`, 'Host: roster.test', `Authorization: Bearer ${app.token}`, 'Content-Type: application/scim+json', second, 'Content-Length: 0']);
    assert.equal(answer.status, 400, answer.body);
    assert.match((JSON.parse(answer.body) as { detail: string }).detail, /the Content-Type header more than once/);
  }
  const all = await send([`POST ${SCIM}/Users HTTP/1.1`, 'Host: roster.test', 'Host: roster.test', 'Authorization: Basic eDp5', 'Authorization: Basic eDp5', 'Content-Type: text/plain', 'Content-Type: text/plain', 'Content-Length: 0']);
  assert.match((JSON.parse(all.body) as { detail: string }).detail, /the Host, Authorization and Content-Type headers more than once/);
});

test('admin API: two Authorization headers are refused with its {"message"} body', async () => {
  const answer = await send(['GET /api/v2/users HTTP/1.1', 'Host: roster.test', `Authorization: Bearer ${app.token}`, 'Authorization: Bearer other']);
  assert.equal(answer.status, 400);
  assert.match((JSON.parse(answer.body) as { message: string }).message, /the Authorization header more than once/);
});

test('console: two Host headers are refused with an HTML page that says so', async () => {
  const answer = await send(['GET /admin HTTP/1.1', 'Host: roster.test', 'Host: other.example', 'Accept: text/html']);
  assert.equal(answer.status, 400);
  assert.match(answer.headers.get('content-type') ?? '', /^text\/html/);
  assert.match(answer.body, /the Host header more than once/);
});

test('SAML: two Host headers are refused with an HTML page that says so', async () => {
  const answer = await send(['GET /saml/metadata HTTP/1.1', 'Host: roster.test', 'Host: other.example']);
  assert.equal(answer.status, 400);
  assert.match(answer.headers.get('content-type') ?? '', /^text\/html/);
  assert.match(answer.body, /the Host header more than once/);
});

test('OpenID Connect: two Host headers on discovery are refused with OAuth\'s error object', async () => {
  const answer = await send(['GET /.well-known/openid-configuration HTTP/1.1', 'Host: roster.test', 'Host: other.example']);
  assert.equal(answer.status, 400);
  const body = JSON.parse(answer.body) as { error: string; error_description: string };
  assert.equal(body.error, 'invalid_request');
  assert.match(body.error_description, /the Host header more than once/);
});

test('a path no route takes: two Host headers are still refused, not answered 404', async () => {
  const answer = await send(['GET /nowhere HTTP/1.1', 'Host: roster.test', 'Host: other.example']);
  assert.equal(answer.status, 400);
  assert.match(answer.body, /the Host header more than once/);
});

test('forward auth: two lines of X-Forwarded-Host, -Proto, -Uri or X-Original-URL are refused with a 400 that names the header, signed in or not', async () => {
  const { value } = await app.services.sessions.open(app.adminId);
  const cookie = `Cookie: ${app.services.sessions.cookieName}=${value}`;
  const single = ['X-Forwarded-Proto: https', 'X-Forwarded-Host: app.roster.test', 'X-Forwarded-Uri: /reports'];
  for (const [name, lines] of [
    ['X-Forwarded-Host', ['X-Forwarded-Proto: https', 'X-Forwarded-Host: evil.example', 'x-forwarded-host: app.roster.test', 'X-Forwarded-Uri: /']],
    ['X-Forwarded-Proto', ['X-Forwarded-Proto: http', 'X-Forwarded-Proto: https', 'X-Forwarded-Host: app.roster.test', 'X-Forwarded-Uri: /']],
    ['X-Forwarded-Uri', ['X-Forwarded-Proto: https', 'X-Forwarded-Host: app.roster.test', 'X-Forwarded-Uri: //evil.example/', 'X-Forwarded-Uri: /']],
    ['X-Original-URL', ['X-Original-URL: https://evil.example/', 'X-Original-URL: https://app.roster.test/']],
  ] as const) {
    for (const session of [[], [cookie]]) {
      const answer = await send(['GET /auth/verify HTTP/1.1', 'Host: roster.test', ...lines, ...session, 'Connection: close']);
      assert.equal(answer.status, 400, `${name}: ${answer.body}`);
      assert.equal(answer.headers.get('location'), undefined);
      assert.ok(answer.body.includes(`the ${name} header more than once`), answer.body);
      assert.match(answer.body, /set the header, replacing any the client sent/);
    }
  }
  // One line each, even a proxy chain's comma-separated list, is read as before.
  const signedOut = await send(['GET /auth/verify HTTP/1.1', 'Host: roster.test', ...single, 'Connection: close']);
  assert.equal(signedOut.status, 401);
  const chain = await send(['GET /auth/verify HTTP/1.1', 'Host: roster.test', 'X-Forwarded-Proto: https, http', 'X-Forwarded-Host: app.roster.test, internal', cookie, 'Connection: close']);
  assert.equal(chain.status, 200, chain.body);
  const both = await send(['GET /auth/verify HTTP/1.1', 'Host: roster.test', 'X-Forwarded-Host: a.example', 'X-Forwarded-Host: b.example', 'X-Forwarded-Uri: /', 'X-Forwarded-Uri: /x', 'Connection: close']);
  assert.match(both.body, /the X-Forwarded-Host and X-Forwarded-Uri headers more than once/);
});
