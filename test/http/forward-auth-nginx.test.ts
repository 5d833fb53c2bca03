/**
 * Forward auth behind a real nginx (Debian's, `auth_request`), configured as docs/applications.md
 * says, in front of a small upstream that echoes the headers it received: signed out (302 to the
 * sign-in page and back), signed in (the upstream sees Remote-User…, never what the client
 * forged, nor Roster's session cookie), group restriction (403), deactivation. Roster listens on a real port, on both
 * databases. Skipped when /usr/sbin/nginx is absent (`.ci/run` installs it).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { groupBody, userBody } from '../support/app.ts';
import { browserSkip, launchBrowser, openTab, startServedApp, type ServedApp } from '../support/browser.ts';
import { sessionFor, type ConsoleSession } from '../support/console.ts';
import { eachDatabase } from '../support/databases.ts';
import { startEchoUpstream, type EchoUpstream } from '../support/echo-upstream.ts';
import { freePort } from '../support/process.ts';
import { startProxyProcess, stopProxyProcess, type ProxyProcess } from '../support/proxy-process.ts';

const NGINX = '/usr/sbin/nginx';
const skip = existsSync(NGINX) ? false : `${NGINX} is absent: install Debian's nginx (apt-get install nginx-light, as .ci/run does) to run the forward-auth tests behind a real proxy`;

/** The nginx configuration of docs/applications.md, with every path in `dir` so that it runs unprivileged. */
function nginxConfig(dir: string, port: number, roster: string, upstream: string): string {
  const verify = (name: string, query: string) => `
    location = ${name} {
      internal;
      proxy_pass ${roster}/auth/verify${query};
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
      proxy_buffer_size 16k;
      proxy_buffers 8 16k;
      proxy_busy_buffers_size 32k;
    }`;
  const protectedBy = (location: string, verifier: string) => `
    location ${location} {
      auth_request ${verifier};
      auth_request_set $roster_user $upstream_http_remote_user;
      auth_request_set $roster_user_id $upstream_http_remote_user_id;
      auth_request_set $roster_name $upstream_http_remote_name;
      auth_request_set $roster_email $upstream_http_remote_email;
      auth_request_set $roster_groups $upstream_http_remote_groups;
      auth_request_set $roster_sign_in $upstream_http_location;
      error_page 401 =302 $roster_sign_in;
      proxy_set_header Remote-User $roster_user;
      proxy_set_header Remote-User-Id $roster_user_id;
      proxy_set_header Remote-Name $roster_name;
      proxy_set_header Remote-Email $roster_email;
      proxy_set_header Remote-Groups $roster_groups;
      proxy_set_header Cookie $cookie_for_app;
      proxy_pass ${upstream};
    }`;
  return `
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  map $http_cookie $cookie_for_app {
    "~^(?:__Host-)?roster_session=[^;]*(?:;\\s*)?(?<rest>.*)$" "$rest";
    "~^(?<before>.*?);\\s*(?:__Host-)?roster_session=[^;]*(?<after>.*)$" "$before$after";
    default $http_cookie;
  }
  server {
    listen 127.0.0.1:${port};
    ${verify('/_roster_verify', '')}
    ${verify('/_roster_verify_ops', '?group=ops')}
    ${protectedBy('/', '/_roster_verify')}
    ${protectedBy('/ops/', '/_roster_verify_ops')}
  }
}
`;
}

async function startNginx(roster: string, upstream: string): Promise<ProxyProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'roster-nginx-'));
  mkdirSync(join(dir, 'tmp'));
  const port = await freePort();
  writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, port, roster, upstream));
  const errorLog = join(dir, 'error.log');
  return startProxyProcess({
    name: 'nginx',
    dir,
    port,
    command: NGINX,
    args: ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', errorLog],
    diagnostics: () => (existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : ''),
  });
}

eachDatabase('forward auth behind nginx', (database) => {
  let roster: ServedApp;
  let upstream: EchoUpstream;
  let nginx: ProxyProcess;
  let ada: ConsoleSession;
  let bob: ConsoleSession;
  let bobScimId = '';

  before(async () => {
    if (skip !== false) return;
    // nginx listens on 127.0.0.1 too, on another port: a trusted host, over http because it is loopback.
    roster = await startServedApp({ database, trustedHosts: ['127.0.0.1'] });
    upstream = await startEchoUpstream();
    nginx = await startNginx(roster.base, upstream.base);
    const adaCreated = await roster.request('POST', '/Users', userBody('ada@example.com', { displayName: 'Ada Lövelace', emails: [{ value: 'ada@example.com', primary: true }] }));
    const bobCreated = await roster.request('POST', '/Users', userBody('bob@example.com', { displayName: 'Bob' }));
    bobScimId = bobCreated.body.id;
    assert.equal((await roster.request('POST', '/Groups', groupBody('ops', [adaCreated.body.id]))).status, 201);
    assert.equal((await roster.request('POST', '/Groups', groupBody('developers', [adaCreated.body.id, bobScimId]))).status, 201);
    ada = await sessionFor(roster, (await roster.services.accounts.findByLogin('ada@example.com'))?.id ?? '');
    bob = await sessionFor(roster, (await roster.services.accounts.findByLogin('bob@example.com'))?.id ?? '');
  });
  after(async () => {
    if (skip !== false) return;
    await stopProxyProcess(nginx);
    await new Promise((resolve) => upstream.server.close(resolve));
    await roster.close();
  });

  /** What the upstream received for a request through nginx, or nginx's own answer. */
  async function through(path: string, headers: Record<string, string> = {}) {
    const response = await fetch(`${nginx.base}${path}`, { headers, redirect: 'manual' });
    const body = await response.text();
    const echoed = response.status === 200 ? (JSON.parse(body) as { url: string; headers: Record<string, string> }) : undefined;
    return { status: response.status, location: response.headers.get('location'), echoed };
  }

  test('signed out: nginx sends the browser to sign in, and sign-in sends it back', { skip }, async () => {
    const path = '/reports/2026?q=a%20b&page=2';
    const response = await through(path);
    assert.equal(response.status, 302);
    const signIn = new URL(response.location ?? '');
    assert.equal(`${signIn.origin}${signIn.pathname}`, `${roster.base}/sessions/new`);
    assert.equal(signIn.searchParams.get('returnTo'), `${nginx.base}${path}`);

    // The browser signs in with a password on that page and comes back to the application.
    const form = await fetch(signIn, { redirect: 'manual' });
    const preSession = (form.headers.getSetCookie().find((line) => line.startsWith('roster_csrf=')) ?? '').split(';')[0] ?? '';
    const html = await form.text();
    const csrf = /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
    const returnTo = /name="returnTo" value="([^"]+)"/.exec(html)?.[1]?.replaceAll('&amp;', '&') ?? '';
    const password = await roster.adminPassword();
    const posted = await fetch(`${roster.base}/sessions`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: preSession },
      body: new URLSearchParams({ _csrf: csrf, login: 'admin', password, returnTo }).toString(),
    });
    // A page that moves on to the application by itself (a redirect would be held to the sign-in
    // form's CSP form-action by browsers: the next test follows it in Chromium).
    assert.equal(posted.status, 200);
    assert.match(await posted.text(), new RegExp(`<meta http-equiv="refresh" content="0;url=${`${nginx.base}${path}`.replaceAll('&', '&amp;').replace(/[.?]/g, '\\$&')}">`));
    const session = (posted.headers.getSetCookie().find((line) => line.startsWith('roster_session=')) ?? '').split(';')[0] ?? '';
    const back = await through(path, { cookie: session });
    assert.equal(back.status, 200);
    assert.equal(back.echoed?.url, path);
    assert.equal(back.echoed?.headers['remote-user'], 'admin');
  });

  test('signed out, in Chromium: the password sign-in brings the browser back to the application', { skip: skip || browserSkip() }, async () => {
    const browser = await launchBrowser();
    try {
      const tab = await openTab(browser, roster);
      const path = '/reports/2026?q=a%20b&page=2';
      await tab.page.goto(`${nginx.base}${path}`);
      assert.equal(new URL(tab.page.url()).pathname, '/sessions/new');
      await tab.page.getByLabel('Login').fill('admin');
      await tab.page.getByLabel('Password').fill(await roster.adminPassword());
      await tab.page.getByRole('button', { name: 'Sign in', exact: true }).click();
      // Before: Chromium held the 303 to the application to the form's `form-action 'self'` and stayed on the form.
      await tab.page.waitForURL(`${nginx.base}${path}`, { timeout: 10_000 });
      const echoed = JSON.parse((await tab.page.textContent('body')) ?? '') as { url: string; headers: Record<string, string> };
      assert.equal(echoed.url, path);
      assert.equal(echoed.headers['remote-user'], 'admin');
      tab.expectNoProblems();
      await tab.close();
    } finally {
      await browser.close();
    }
  });

  test('signed in: the application receives who the user is, never headers the client forged', { skip }, async () => {
    const response = await through('/anything', { cookie: ada.cookie, 'remote-user': 'mallory', 'remote-groups': 'roster-administrators' });
    assert.equal(response.status, 200);
    const headers = response.echoed?.headers ?? {};
    assert.equal(headers['remote-user'], 'ada@example.com');
    assert.ok(/^[0-9a-f-]{36}$/i.test(headers['remote-user-id'] ?? ''), headers['remote-user-id']);
    assert.equal(decodeURIComponent(headers['remote-name'] ?? ''), 'Ada Lövelace');
    assert.equal(headers['remote-email'], 'ada@example.com');
    assert.equal(headers['remote-groups'], 'developers,ops');
    // nginx asks with a GET subrequest whatever the method, and without the body.
    const posted = await fetch(`${nginx.base}/form`, { method: 'POST', headers: { cookie: ada.cookie, 'content-type': 'application/json' }, body: '{"a":1}', redirect: 'manual' });
    assert.equal(posted.status, 200);
    assert.equal(((await posted.json()) as { method: string }).method, 'POST');
  });

  test('a user in 200 groups gets through with every group (docs/applications.md\'s buffer sizes; nginx\'s default 4 KB answered 500)', { skip }, async () => {
    const created = await roster.request('POST', '/Users', userBody('many@example.com'));
    assert.equal(created.status, 201);
    const names = Array.from({ length: 200 }, (_, i) => `sg-eu-grafana-editors-production-${String(i).padStart(3, '0')}`);
    const bulk = await roster.request('POST', '/Bulk', {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'],
      Operations: names.map((name, i) => ({ method: 'POST', path: '/Groups', bulkId: `g${i}`, data: groupBody(name, [created.body.id]) })),
    });
    assert.equal(bulk.status, 200);
    const many = await sessionFor(roster, (await roster.services.accounts.findByLogin('many@example.com'))?.id ?? '');
    const response = await through('/dashboards', { cookie: many.cookie });
    assert.equal(response.status, 200);
    const groups = response.echoed?.headers['remote-groups'] ?? '';
    assert.ok(groups.length > 7000, String(groups.length));
    assert.deepEqual(groups.split(','), names);
  });

  test('the application receives its own cookies but never Roster\'s session cookie', { skip }, async () => {
    const value = ada.cookie.slice('roster_session='.length);
    const cases: Array<[string, string | undefined]> = [
      [`theme=dark; roster_session=${value}; lang=en`, 'theme=dark; lang=en'],
      [`roster_session=${value}; lang=en`, 'lang=en'],
      [`roster_session=${value};lang=en`, 'lang=en'],
      [`theme=dark; roster_session=${value}`, 'theme=dark'],
      [`roster_session=${value}`, undefined],
      [`my_roster_session=1; roster_session=${value}`, 'my_roster_session=1'],
    ];
    for (const [sent, expected] of cases) {
      const response = await through('/cookies', { cookie: sent });
      assert.equal(response.status, 200, sent);
      assert.equal(response.echoed?.headers['remote-user'], 'ada@example.com', sent);
      assert.equal(response.echoed?.headers.cookie, expected, sent);
    }
  });

  test('a location limited to a group refuses a signed-in user outside it with 403', { skip }, async () => {
    assert.equal((await through('/ops/deploy', { cookie: ada.cookie })).status, 200);
    const refused = await through('/ops/deploy', { cookie: bob.cookie });
    assert.equal(refused.status, 403);
    assert.equal(refused.echoed, undefined);
    assert.equal((await through('/other', { cookie: bob.cookie })).status, 200);
  });

  test('a user deactivated through SCIM is refused at the next request', { skip }, async () => {
    assert.equal((await through('/before', { cookie: bob.cookie })).status, 200);
    const patched = await roster.request('PATCH', `/Users/${bobScimId}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'replace', path: 'active', value: false }],
    });
    assert.equal(patched.status, 200);
    const after = await through('/after', { cookie: bob.cookie });
    assert.equal(after.status, 302);
    assert.equal(after.echoed, undefined);
    assert.ok(after.location?.startsWith(`${roster.base}/sessions/new?returnTo=`), after.location ?? '');
  });
});

describe('forward auth behind nginx, for an application Roster may not send browsers back to', () => {
  let roster: ServedApp;
  let upstream: EchoUpstream;
  let nginx: ProxyProcess;

  before(async () => {
    if (skip !== false) return;
    // Roster at http://127.0.0.1:<port>, nginx on the same host but another port, no trusted hosts:
    // the port makes nginx another origin, so its URLs are no return address.
    roster = await startServedApp();
    upstream = await startEchoUpstream();
    nginx = await startNginx(roster.base, upstream.base);
  });
  after(async () => {
    if (skip !== false) return;
    await stopProxyProcess(nginx);
    await new Promise((resolve) => upstream.server.close(resolve));
    await roster.close();
  });

  test('signed out: nginx sends the browser to the sign-in page, which says why it will not come back', { skip }, async () => {
    const response = await fetch(`${nginx.base}/reports`, { redirect: 'manual' });
    assert.equal(response.status, 302);
    // Used to be a 302 with an empty Location, which browsers show as a blank error.
    assert.equal(response.headers.get('location'), `${roster.base}/sessions/new?notice=untrusted-return`);
    const page = await fetch(response.headers.get('location') ?? '', { redirect: 'manual' });
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /cannot send you back to the application[^<]*ROSTER_TRUSTED_HOSTS/);
    assert.doesNotMatch(html, /name="returnTo"/);
  });
});
