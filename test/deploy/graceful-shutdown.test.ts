/**
 * SIGTERM of a real `roster serve` with clients connected (docs/deploy.md "Graceful shutdown"):
 * the request in flight is answered and its keep-alive connection closed after it, a request
 * still coming in on an open connection is refused in its API's shape, even on a connection idle
 * at the signal (which Node's server.close() used to close at once, resetting a request sent
 * just then), new connections are refused, and a client that never finishes its request cannot
 * hold the process past the shutdown deadline.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { IDLE_DRAIN_MS, REQUEST_TIMEOUT_MS, SHUTDOWN_DEADLINE_MS } from '../../src/http/draining.ts';
import { createServices } from '../../src/services.ts';
import { openStore } from '../../src/store/index.ts';
import { startTestApp } from '../support/app.ts';
import { startInstance, waitHealthy, type Instance } from '../support/process.ts';

const dir = mkdtempSync(join(tmpdir(), 'roster-shutdown-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let databases = 0;

async function started(): Promise<Instance> {
  databases += 1;
  const instance = await startInstance(`sqlite:${join(dir, `roster-${databases}.db`)}`);
  await waitHealthy(instance);
  return instance;
}

/** A raw HTTP/1.1 connection, so that the test decides when each byte of a request is sent. */
async function open(instance: Instance): Promise<{ socket: Socket; received: Promise<string> }> {
  const socket = connect(instance.port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
  // Everything the server sent, once it closed the connection.
  const received = new Promise<string>((resolve) => socket.once('close', () => resolve(text)));
  socket.on('error', () => undefined);
  return { socket, received };
}

/** The exit of the process, or null if it is still running after `ms` (then it is killed). */
async function exitWithin(instance: Instance, ms: number): Promise<{ code: number | null; afterMs: number } | null> {
  const start = Date.now();
  const exited = new Promise<{ code: number | null; afterMs: number }>((resolve) => instance.process.once('exit', (code) => resolve({ code, afterMs: Date.now() - start })));
  const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), ms).unref());
  const result = await Promise.race([exited, timeout]);
  if (result === null) instance.process.kill('SIGKILL');
  return result;
}

function statusAndHeaders(response: string): { status: number; headers: Map<string, string>; body: string } {
  const [head = '', body = ''] = response.split('\r\n\r\n');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = new Map(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()] as const));
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('SIGTERM: the request in flight on a keep-alive connection is answered with Connection: close, then the process exits at once', async () => {
  const instance = await started();
  const { socket, received } = await open(instance);
  const body = JSON.stringify({ name: 'in-flight' });
  // Headers and half the body: the request is in flight when the signal comes. No route
  // answers this path, and the 404 comes once the body has been read.
  socket.write(`POST /api/v2/no-such-endpoint HTTP/1.1\r\nHost: roster\r\nContent-Type: application/scim+json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`);
  await pause(300);
  instance.process.kill('SIGTERM');
  await pause(300);
  socket.end(body.slice(10));
  const exit = await exitWithin(instance, 10_000);
  const answer = statusAndHeaders(await received);
  assert.equal(answer.status, 404, instance.output);
  assert.equal(answer.headers.get('connection'), 'close');
  assert.notEqual(exit, null, `still running 10 s after SIGTERM (the keep-alive connection held it):\n${instance.output}`);
  assert.equal(exit?.code, 0, instance.output);
});

test('SIGTERM: a SCIM request answered while stopping is in the provisioning activity (it was written after the database closed, and lost)', async () => {
  const instance = await started();
  const { socket, received } = await open(instance);
  const body = JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'in-flight' });
  socket.write(`POST /api/scim/v2/Users HTTP/1.1\r\nHost: roster\r\nContent-Type: application/scim+json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`);
  await pause(300);
  instance.process.kill('SIGTERM');
  await pause(300);
  socket.end(body.slice(10));
  const exit = await exitWithin(instance, 10_000);
  assert.equal(statusAndHeaders(await received).status, 401, instance.output);
  assert.equal(exit?.code, 0, instance.output);
  assert.doesNotMatch(instance.output, /could not record SCIM requests/);
  const store = await openStore({ kind: 'sqlite', path: join(dir, `roster-${databases}.db`) });
  try {
    const page = await createServices(store).activity.list({ failuresOnly: false, limit: 10, offset: 0 });
    assert.deepEqual(page.requests.map((request) => [request.method, request.status]), [['POST', 401]]);
  } finally {
    await store.close();
  }
});

test('SIGTERM: a request still arriving on an open connection is refused with 503, Retry-After and the error shape of its API', async () => {
  const instance = await started();
  // Each request's headers all but the blank line that ends them: connections busy, not idle.
  const scim = await open(instance);
  scim.socket.write('GET /api/scim/v2/Users HTTP/1.1\r\nHost: roster\r\n');
  const admin = await open(instance);
  admin.socket.write('GET /api/v2/users HTTP/1.1\r\nHost: roster\r\n');
  await pause(300);
  instance.process.kill('SIGTERM');
  await pause(300);
  scim.socket.write('\r\n');
  admin.socket.write('\r\n');
  const scimAnswer = statusAndHeaders(await scim.received);
  const adminAnswer = statusAndHeaders(await admin.received);
  const exit = await exitWithin(instance, 10_000);

  assert.equal(scimAnswer.status, 503, instance.output);
  assert.equal(scimAnswer.headers.get('connection'), 'close');
  assert.equal(scimAnswer.headers.get('retry-after'), '5');
  assert.match(scimAnswer.headers.get('content-type') ?? '', /^application\/scim\+json/);
  const scimBody = JSON.parse(scimAnswer.body) as { schemas: string[]; status: string; detail: string };
  assert.deepEqual(scimBody.schemas, ['urn:ietf:params:scim:api:messages:2.0:Error']);
  assert.equal(scimBody.status, '503');
  assert.match(scimBody.detail, /shutting down/);

  assert.equal(adminAnswer.status, 503);
  assert.equal(adminAnswer.headers.get('connection'), 'close');
  assert.equal(adminAnswer.headers.get('retry-after'), '5');
  assert.match((JSON.parse(adminAnswer.body) as { message: string }).message, /shutting down/);
  assert.notEqual(exit, null, instance.output);
});

/** Sends a whole request on `socket` and resolves with the answer's text once it is complete (Content-Length). */
function exchange(socket: Socket, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed || socket.readableEnded) {
      reject(new Error('the server closed the connection before the request was sent: a request sent just then is reset'));
      return;
    }
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, split))?.[1];
      if (split !== -1 && length !== undefined && text.length >= split + 4 + Number(length)) {
        socket.off('data', onData);
        resolve(text);
      }
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`the connection closed (reset) before an answer; received: ${JSON.stringify(text)}`)));
    socket.write(request);
  });
}

test('SIGTERM: a request sent on a keep-alive connection idle at the signal is answered 503 with Retry-After and Connection: close, not reset; new connections are refused', async () => {
  const instance = await started();
  const used = await open(instance);
  const idle = await open(instance);
  // Both connections answered once and kept alive: idle when the signal comes, as a load
  // balancer's pooled connections are.
  for (const connection of [used, idle]) {
    const first = statusAndHeaders(await exchange(connection.socket, 'GET /healthz HTTP/1.1\r\nHost: roster\r\n\r\n'));
    assert.equal(first.status, 200);
    assert.notEqual(first.headers.get('connection'), 'close');
  }
  const signalled = Date.now();
  instance.process.kill('SIGTERM');
  await pause(500);

  const answer = statusAndHeaders(await exchange(used.socket, 'POST /api/v2/users HTTP/1.1\r\nHost: roster\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}'));
  assert.equal(answer.status, 503, instance.output);
  assert.equal(answer.headers.get('connection'), 'close');
  assert.equal(answer.headers.get('retry-after'), '5');
  assert.match((JSON.parse(answer.body) as { message: string }).message, /shutting down/);
  await used.received;

  // The port accepts no new connection meanwhile: refused, which a client may retry elsewhere.
  await assert.rejects(open(instance), /ECONNREFUSED/);

  // The idle connection nobody used is closed once the drain is over, and the process exits.
  await idle.received;
  const closedAfter = Date.now() - signalled;
  assert.ok(closedAfter >= IDLE_DRAIN_MS - 500, `the idle connection closed ${closedAfter} ms after SIGTERM, before the drain was over`);
  const exit = await exitWithin(instance, 10_000);
  assert.equal(exit?.code, 0, instance.output);
});

test('SIGTERM: a client that never finishes its request holds the process no longer than the shutdown deadline', async () => {
  const instance = await started();
  const { socket, received } = await open(instance);
  // Headers and one byte of a 100-byte body, and nothing more.
  socket.write('POST /api/scim/v2/Users HTTP/1.1\r\nHost: roster\r\nContent-Type: application/scim+json\r\nContent-Length: 100\r\n\r\n{');
  await pause(300);
  instance.process.kill('SIGTERM');
  const exit = await exitWithin(instance, SHUTDOWN_DEADLINE_MS + 10_000);
  await received;
  assert.notEqual(exit, null, `still running ${SHUTDOWN_DEADLINE_MS + 10_000} ms after SIGTERM:\n${instance.output}`);
  assert.ok((exit?.afterMs ?? Infinity) >= SHUTDOWN_DEADLINE_MS - 1_000, `exited after ${exit?.afterMs} ms, before the deadline`);
  assert.equal(exit?.code, 0, instance.output);
  assert.match(instance.output, /closing the connections still open at the deadline/);
});

test('a request must arrive, headers and body, within REQUEST_TIMEOUT_MS: a trickling client cannot hold an admission slot forever', async () => {
  const { app, close } = await startTestApp({ scim: false });
  try {
    // Fastify turns Node's requestTimeout off (0) unless told otherwise.
    assert.equal(app.server.requestTimeout, REQUEST_TIMEOUT_MS);
    // The default body limit (20 MiB) still fits at about 0.6 Mbit/s.
    assert.ok(REQUEST_TIMEOUT_MS >= (20 * 1024 * 1024 * 8) / 600_000 * 1000);
  } finally {
    await close();
  }
});
