/**
 * A request sent with its target in absolute form (`GET http://other.example/… HTTP/1.1`, RFC 9112
 * §3.2.2), straight to Roster: the OpenID provider built every URL of its discovery document
 * (authorization, token, JWKS …) and of its logout form on the target's origin, so one such
 * request, cached anywhere, sent applications to another host. Every URL stays on ROSTER_BASE_URL.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { BASE_URL, startTestApp, type TestApp } from '../support/app.ts';

let roster: TestApp;
before(async () => {
  roster = await startTestApp({ scim: false });
  await roster.app.listen({ port: 0, host: '127.0.0.1' });
});
after(async () => roster.close());

/** Sends `target` as the request line's target on a raw connection and returns the whole answer. */
async function rawGet(target: string): Promise<{ status: number; body: string }> {
  const address = roster.app.server.address();
  assert.ok(address !== null && typeof address === 'object');
  const socket = connect(address.port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise((resolve) => socket.once('close', resolve));
  socket.write(`GET ${target} HTTP/1.1\r\nHost: roster.test\r\nAccept: text/html,application/json\r\nConnection: close\r\n\r\n`);
  await ended;
  const text = Buffer.concat(chunks).toString('utf8');
  const [head = '', ...rest] = text.split('\r\n\r\n');
  return { status: Number(head.split(' ')[1]), body: rest.join('\r\n\r\n') };
}

test('the discovery document and the logout form name Roster only, whatever origin the request target names', async () => {
  for (const origin of ['http://evil.example', 'https://evil.example:8443']) {
    const discovery = await rawGet(`${origin}/.well-known/openid-configuration`);
    assert.equal(discovery.status, 200, discovery.body.slice(0, 300));
    const urls = Object.entries(JSON.parse(discovery.body.slice(discovery.body.indexOf('{'), discovery.body.lastIndexOf('}') + 1)) as Record<string, unknown>).filter(
      ([name, value]) => typeof value === 'string' && /^https?:/.test(value) && name !== 'service_documentation',
    );
    assert.ok(urls.length >= 6, `only ${urls.length} URLs`);
    for (const [name, value] of urls) assert.ok(String(value).startsWith(BASE_URL), `${name}: ${String(value)}`);
    const logout = await rawGet(`${origin}/oidc/session/end`);
    assert.doesNotMatch(logout.body, /evil\.example/);
  }
});
