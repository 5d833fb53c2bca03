/**
 * The cancel request sent for a PostgreSQL statement past its deadline (store/cancel.ts), against
 * servers of the test's own that misbehave: one that takes the request and never closes, one that
 * is not there. It never rejects and never waits longer than it is given.
 * The request against a real PostgreSQL is in test/http/statement-cancel.test.ts.
 */
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { sendCancelRequest } from '../../src/store/cancel.ts';

test('a server that takes the cancel request and never closes: given up after the wait', async () => {
  const received: Buffer[] = [];
  const accepted: Socket[] = [];
  // Half-open allowed: the client's end of sending does not end the server's side, which stays open.
  const server = createServer({ allowHalfOpen: true }, (socket: Socket) => {
    accepted.push(socket);
    socket.on('data', (chunk) => received.push(chunk));
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address !== 'string');
  try {
    const started = Date.now();
    const outcome = await sendCancelRequest({ host: '127.0.0.1', port: address.port, processId: 4242, secretKey: -7 }, 300);
    const elapsed = Date.now() - started;
    assert.equal(outcome.delivered, false);
    assert.ok(!outcome.delivered && /no answer within 300 ms/.test(outcome.error.message));
    assert.ok(elapsed >= 290 && elapsed < 2000, `gave up after ${elapsed} ms`);
    // Length 16, the CancelRequest code, the process id, the key (a signed 32-bit value).
    const request = Buffer.concat(received);
    assert.deepEqual([request.length, request.readInt32BE(0), request.readInt32BE(4), request.readInt32BE(8), request.readInt32BE(12)], [16, 16, 80877102, 4242, -7]);
  } finally {
    for (const socket of accepted) socket.destroy();
    server.close();
  }
});

test('nothing listening: the refusal is the outcome, at once', async () => {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address !== 'string');
  await new Promise((resolve) => server.close(resolve));
  const started = Date.now();
  const outcome = await sendCancelRequest({ host: '127.0.0.1', port: address.port, processId: 1, secretKey: 1 });
  assert.equal(outcome.delivered, false);
  assert.equal(!outcome.delivered && (outcome.error as NodeJS.ErrnoException).code, 'ECONNREFUSED');
  assert.ok(Date.now() - started < 500, `refused after ${Date.now() - started} ms`);
});
