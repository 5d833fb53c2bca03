/**
 * Requests Node's HTTP parser refuses before routing (here: headers over 16 KiB) get an answer
 * that says the connection closes, so a keep-alive client does not send its next request on a
 * socket about to be destroyed (found by the soak, issue 14: those requests were reset).
 *
 * SQLite only: this is HTTP parsing, which happens before any query.
 */
import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { captureLog } from '../support/log-capture.ts';
import { SCIM, startTestApp, type TestApp } from '../support/app.ts';

let app: TestApp;
let port: number;
const log = captureLog();
const logged = log.lines;
before(async () => {
  app = await startTestApp({ logger: { level: 'info', stream: log.stream } });
  await app.app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.app.server.address() as AddressInfo).port;
});
after(() => app.close());

function get(agent: Agent, path: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent, headers: { authorization: `Bearer ${app.token}` } }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('a URL over 16 KiB gets a SCIM 431 that closes the connection, and the keep-alive client\'s next request is answered', async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (let round = 0; round < 20; round += 1) {
      const refused = await get(agent, `${SCIM}/Users?filter=${'x'.repeat(20_000)}`);
      assert.equal(refused.status, 431);
      assert.equal(refused.headers['connection'], 'close');
      const body = JSON.parse(refused.body);
      assert.deepEqual(body.schemas, ['urn:ietf:params:scim:api:messages:2.0:Error']);
      assert.equal(body.status, '431');
      assert.match(body.detail, /exceed 16 KiB/);
      const next = await get(agent, `${SCIM}/ServiceProviderConfig`);
      assert.equal(next.status, 200, `round ${round}`);
    }
  } finally {
    agent.destroy();
  }
});

test('a request refused before routing is logged and counted, as an operator needs to see an IdP whose filters are too long', async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const before = logged.length;
    assert.equal((await get(agent, `${SCIM}/Users?filter=${'y'.repeat(20_000)}`)).status, 431);
    const lines = logged.slice(before).map((line) => JSON.parse(line) as { level: number; status?: number; msg: string });
    const line = lines.find((candidate) => candidate.status === 431);
    assert.ok(line, `a log line for the 431 among ${JSON.stringify(lines)}`);
    assert.equal(line.level, 30, 'at info');
    assert.match(line.msg, /refused before routing: The request line and headers exceed 16 KiB/);
    assert.ok(!logged.slice(before).join('\n').includes('yyyy'), 'the URL is not logged');
    const metrics = (await get(agent, '/metrics')).body;
    assert.match(metrics, /^roster_http_requests_total\{route="\(unread\)",method="\(unread\)",status="431"\} [1-9]/m);
  } finally {
    agent.destroy();
  }
});
