/**
 * Forward auth behind a real Caddy (Debian's, `forward_auth`), configured as docs/applications.md
 * says, in front of an upstream that echoes the headers it received: signed out (Roster's
 * redirect to the sign-in page), signed in (the upstream sees Remote-User…, never what the client
 * forged, nor Roster's session cookie), group restriction (403). Roster listens on a real port.
 * Skipped when /usr/bin/caddy is absent (`.ci/run` installs it).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { groupBody, userBody } from '../support/app.ts';
import { startServedApp, type ServedApp } from '../support/browser.ts';
import { sessionFor, type ConsoleSession } from '../support/console.ts';
import { startEchoUpstream, type EchoUpstream } from '../support/echo-upstream.ts';
import { freePort } from '../support/process.ts';
import { startProxyProcess, stopProxyProcess, type ProxyProcess } from '../support/proxy-process.ts';

const CADDY = '/usr/bin/caddy';
const skip = existsSync(CADDY) ? false : `${CADDY} is absent: install Debian's caddy (apt-get install caddy, as .ci/run does) to run the forward-auth tests behind Caddy`;

/** The Caddyfile of docs/applications.md, for `roster` and `upstream`, on `port` of the loopback. */
function caddyfile(port: number, roster: string, upstream: string): string {
  const rosterHost = new URL(roster).host;
  const upstreamHost = new URL(upstream).host;
  const protectedRoute = (matcher: string, query: string) => `
	route ${matcher} {
		request_header -Remote-User
		request_header -Remote-User-Id
		request_header -Remote-Name
		request_header -Remote-Email
		request_header -Remote-Groups
		forward_auth ${rosterHost} {
			uri /auth/verify?redirect=true${query}
			copy_headers Remote-User Remote-User-Id Remote-Name Remote-Email Remote-Groups
		}
		reverse_proxy ${upstreamHost} {
			header_up Cookie "^(?:__Host-)?roster_session=[^;]*;?\\s*(.*)$" "$1"
			header_up Cookie "^(.*?);\\s*(?:__Host-)?roster_session=[^;]*(.*)$" "$1$2"
		}
	}`;
  return `{
	admin off
	auto_https off
}
http://127.0.0.1:${port} {${protectedRoute('/ops/*', '&group=ops')}${protectedRoute('', '')}
}
`;
}

async function startCaddy(roster: string, upstream: string): Promise<ProxyProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'roster-caddy-'));
  const port = await freePort();
  writeFileSync(join(dir, 'Caddyfile'), caddyfile(port, roster, upstream));
  // Caddy keeps its state under HOME / XDG folders: a folder of the test's own.
  const env = { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir };
  return startProxyProcess({ name: 'caddy', dir, port, command: CADDY, args: ['run', '--config', join(dir, 'Caddyfile'), '--adapter', 'caddyfile'], env });
}

// One database is enough: what is under test is the proxy's configuration (the nginx suite and
// the forward-auth suite cover both databases).
describe('forward auth behind Caddy', { skip }, () => {
  let roster: ServedApp;
  let upstream: EchoUpstream;
  let caddy: ProxyProcess;
  let ada: ConsoleSession;
  let bob: ConsoleSession;

  before(async () => {
    roster = await startServedApp({ trustedHosts: ['127.0.0.1'] });
    upstream = await startEchoUpstream();
    caddy = await startCaddy(roster.base, upstream.base);
    const adaCreated = await roster.request('POST', '/Users', userBody('ada@example.com', { displayName: 'Ada Lövelace', emails: [{ value: 'ada@example.com', primary: true }] }));
    const bobCreated = await roster.request('POST', '/Users', userBody('bob@example.com', { displayName: 'Bob' }));
    assert.equal((await roster.request('POST', '/Groups', groupBody('ops', [adaCreated.body.id]))).status, 201);
    assert.equal((await roster.request('POST', '/Groups', groupBody('developers', [adaCreated.body.id, bobCreated.body.id]))).status, 201);
    ada = await sessionFor(roster, (await roster.services.accounts.findByLogin('ada@example.com'))?.id ?? '');
    bob = await sessionFor(roster, (await roster.services.accounts.findByLogin('bob@example.com'))?.id ?? '');
  });
  after(async () => {
    if (caddy !== undefined) await stopProxyProcess(caddy);
    if (upstream !== undefined) await new Promise((resolve) => upstream.server.close(resolve));
    if (roster !== undefined) await roster.close();
  });

  /** What the upstream received for a request through Caddy, or Caddy's (Roster's) own answer. */
  async function through(path: string, headers: Record<string, string> = {}) {
    const response = await fetch(`${caddy.base}${path}`, { headers, redirect: 'manual' });
    const body = await response.text();
    const echoed = response.status === 200 ? (JSON.parse(body) as { url: string; headers: Record<string, string> }) : undefined;
    return { status: response.status, location: response.headers.get('location'), echoed };
  }

  test('signed out: the browser is sent to sign in, with the address to come back to', async () => {
    const response = await through('/reports/2026?q=a%20b');
    assert.equal(response.status, 302);
    const signIn = new URL(response.location ?? '');
    assert.equal(`${signIn.origin}${signIn.pathname}`, `${roster.base}/sessions/new`);
    assert.equal(signIn.searchParams.get('returnTo'), `${caddy.base}/reports/2026?q=a%20b`);
    assert.equal(response.echoed, undefined);
  });

  test('signed in: the application receives who the user is, never headers the client forged', async () => {
    const response = await through('/anything', { cookie: ada.cookie, 'remote-user': 'mallory', 'remote-groups': 'roster-administrators' });
    assert.equal(response.status, 200);
    const headers = response.echoed?.headers ?? {};
    assert.equal(headers['remote-user'], 'ada@example.com');
    assert.equal(headers['remote-groups'], 'developers,ops');
    assert.equal(headers['remote-email'], 'ada@example.com');
    // Bob has no email: Roster sends the header empty, and the client's own must not get through.
    const forged = await through('/anything', { cookie: bob.cookie, 'remote-email': 'admin@example.com' });
    assert.equal(forged.status, 200);
    assert.equal(forged.echoed?.headers['remote-user'], 'bob@example.com');
    assert.notEqual(forged.echoed?.headers['remote-email'], 'admin@example.com');
  });

  test("the application receives its own cookies but never Roster's session cookie", async () => {
    const value = ada.cookie.slice('roster_session='.length);
    const cases: Array<[string, string | undefined]> = [
      [`theme=dark; roster_session=${value}; lang=en`, 'theme=dark; lang=en'],
      [`roster_session=${value}; lang=en`, 'lang=en'],
      [`roster_session=${value};lang=en`, 'lang=en'],
      [`theme=dark; roster_session=${value}`, 'theme=dark'],
      [`my_roster_session=1; roster_session=${value}`, 'my_roster_session=1'],
    ];
    for (const [sent, expected] of cases) {
      const response = await through('/cookies', { cookie: sent });
      assert.equal(response.status, 200, sent);
      assert.equal(response.echoed?.headers['remote-user'], 'ada@example.com', sent);
      assert.equal(response.echoed?.headers.cookie, expected, sent);
    }
    // Roster's cookie alone: the application gets an empty Cookie header, not the session.
    const alone = await through('/cookies', { cookie: ada.cookie });
    assert.equal(alone.status, 200);
    assert.ok(!(alone.echoed?.headers.cookie ?? '').includes(value));
  });

  test('a route limited to a group refuses a signed-in user outside it with 403', async () => {
    assert.equal((await through('/ops/deploy', { cookie: ada.cookie })).status, 200);
    const refused = await through('/ops/deploy', { cookie: bob.cookie });
    assert.equal(refused.status, 403);
    assert.equal(refused.echoed, undefined);
    assert.equal((await through('/other', { cookie: bob.cookie })).status, 200);
  });
});
