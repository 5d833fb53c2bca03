/**
 * The SAML routes take only what the HTTP-POST binding sends (security review, issue 15,
 * finding 2): an application/x-www-form-urlencoded body of at most 1 MiB. Any other content
 * type is refused with 415 and an oversized form with 413, both from the headers, before the
 * body is read, so that large posts cannot hold memory or the event loop.
 *
 * SQLite only: this is HTTP parsing, which happens before any query; the database plays no part.
 */
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.ts';

const MIB = 1024 * 1024;
const ROUTES = ['/saml/acs', '/saml/logout'] as const;
const OTHER_TYPES = [
  'application/json',
  'application/scim+json',
  'application/merge-patch+json',
  'text/plain',
  'text/plain; charset=utf-8',
  'application/xml',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
];

let app: TestApp;
let port: number;
before(async () => {
  app = await startTestApp();
  await app.app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.app.server.address() as AddressInfo).port;
});
after(() => app.close());

/**
 * Sends the headers and only `send` bytes of a body announced as `length` bytes (or chunked,
 * when `length` is undefined, writing until the server answers), and resolves with the answer
 * and how much was sent. Rejects when no answer comes within 5 seconds: the server is waiting
 * for the rest of the body.
 */
function partialPost(path: string, contentType: string, length: number | undefined, send: number): Promise<{ status: number; headers: IncomingMessage['headers']; body: string; sent: number }> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answered = false;
    const headers: Record<string, string> = { 'content-type': contentType };
    if (length !== undefined) headers['content-length'] = String(length);
    const req = httpRequest({ host: '127.0.0.1', port, path, method: 'POST', headers });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer within 5 s after sending ${sent} bytes: the server waits for the whole body`));
    }, 5_000);
    req.on('response', (response) => {
      answered = true;
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        clearTimeout(timer);
        req.destroy();
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body, sent });
      });
    });
    // The server may close the connection while we are still writing: that is the point.
    req.on('error', (error) => {
      if (!answered) {
        clearTimeout(timer);
        reject(error);
      }
    });
    const chunk = Buffer.alloc(64 * 1024, 'a');
    const pump = (): void => {
      while (!answered && sent < send) {
        sent += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
}

test('POST /saml/acs and /saml/logout refuse every content type but a form with 415', async () => {
  for (const url of ROUTES) {
    for (const contentType of OTHER_TYPES) {
      const response = await app.app.inject({ method: 'POST', url, headers: { 'content-type': contentType }, payload: '{"SAMLResponse":"x"}' });
      assert.equal(response.statusCode, 415, `${url} ${contentType}: ${response.body.slice(0, 200)}`);
      assert.match(String(response.headers['content-type']), /^text\/html/);
      assert.match(response.body, /application\/x-www-form-urlencoded/);
    }
    // A body without any content type is refused too; no body at all is fine (a sign-out form).
    const untyped = await app.app.inject({ method: 'POST', url, payload: 'SAMLResponse=x' });
    assert.equal(untyped.statusCode, 415, `${url} without a content type`);
  }
  const logout = await app.app.inject({ method: 'POST', url: '/saml/logout' });
  assert.equal(logout.statusCode, 303);
});

test('a form body over 1 MiB is refused with 413 on both routes', async () => {
  for (const url of ROUTES) {
    const response = await app.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `SAMLResponse=${'A'.repeat(MIB + 10)}` });
    assert.equal(response.statusCode, 413, url);
    assert.match(String(response.headers['content-type']), /^text\/html/);
  }
});

test('a 60 MiB JSON body is refused from its headers, before it is sent', async () => {
  for (const url of ROUTES) {
    const answer = await partialPost(url, 'application/json', 60 * MIB, 64 * 1024);
    assert.equal(answer.status, 415, url);
    assert.equal(answer.headers.connection, 'close');
  }
});

test('a 60 MiB form body is refused from its Content-Length, before it is sent', async () => {
  for (const url of ROUTES) {
    const answer = await partialPost(url, 'application/x-www-form-urlencoded', 60 * MIB, 64 * 1024);
    assert.equal(answer.status, 413, url);
  }
});

test('a chunked form body is cut off once it passes 1 MiB', async () => {
  const answer = await partialPost('/saml/acs', 'application/x-www-form-urlencoded', undefined, 60 * MIB);
  assert.equal(answer.status, 413);
  assert.ok(answer.sent < 60 * MIB, `the whole ${answer.sent} bytes were sent before the answer`);
});

test('/healthz answers while large posts are refused', async () => {
  const posts = Array.from({ length: 4 }, () => partialPost('/saml/acs', 'application/json', 60 * MIB, 4 * MIB));
  const started = Date.now();
  const health = await app.app.inject({ method: 'GET', url: '/healthz' });
  assert.equal(health.statusCode, 200);
  assert.ok(Date.now() - started < 1_000);
  for (const answer of await Promise.all(posts)) assert.equal(answer.status, 415);
});
