/**
 * Forward auth (issue 10): GET /auth/verify as nginx, Traefik and Caddy call it, the return
 * address after sign-in (trusted hosts only), the cookie domain, and deactivation. inject-level
 * on both databases; test/http/forward-auth-nginx.test.ts puts a real nginx in front.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { returnAddress } from '../../src/http/client.ts';
import { headerValue } from '../../src/http/routes/forward-auth.ts';
import { BASE_URL, groupBody, startTestApp, userBody, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { passwordSignIn, sessionFor, sessionOf, setCookieOf, type ConsoleSession } from '../support/console.ts';
import { signIn, startLogin } from '../saml/idp.ts';
import { captureLog } from '../support/log-capture.ts';

const cli = { kind: 'cli' } as const;
const TRUST = { origin: BASE_URL, cookieDomain: 'roster.test', trustedHosts: ['grafana.example.org', '127.0.0.1', '[2001:db8::5]', '[::1]'] } as const;

describe('returnAddress: where sign-in may send a browser back to', () => {
  test('local paths as before, and absolute URLs on trusted hosts over https', () => {
    assert.equal(returnAddress('/projects?q=1', TRUST), '/projects?q=1');
    assert.equal(returnAddress('https://app.roster.test/dashboards?x=1#top', TRUST), 'https://app.roster.test/dashboards?x=1#top');
    assert.equal(returnAddress('https://roster.test.:8443/', TRUST), undefined);
    assert.equal(returnAddress('https://grafana.example.org/d/abc', TRUST), 'https://grafana.example.org/d/abc');
    assert.equal(returnAddress('https://APP.Roster.Test/caf\u00e9', TRUST), 'https://app.roster.test/caf%C3%A9');
    // Roster's own origin is a local path, so that the sign-in pages' own rules apply.
    assert.equal(returnAddress(`${BASE_URL}/account`, TRUST), '/account');
    // Plain http only for loopback hosts.
    assert.equal(returnAddress('http://127.0.0.1:8081/x', TRUST), 'http://127.0.0.1:8081/x');
    // IPv6 hosts as ROSTER_TRUSTED_HOSTS keeps them, bracketed.
    assert.equal(returnAddress('https://[2001:DB8:0::5]:8443/x', TRUST), 'https://[2001:db8::5]:8443/x');
    assert.equal(returnAddress('http://[::1]:8081/x', TRUST), 'http://[::1]:8081/x');
    assert.equal(returnAddress('http://[2001:db8::5]/x', TRUST), undefined);
  });

  test('anything else is refused', () => {
    for (const value of [
      'https://evil.example/',
      'https://roster.test.evil.example/',
      'https://evilroster.test/',
      'https://grafana.example.org.evil.example/',
      'http://app.roster.test/',
      'https://user:pw@app.roster.test/',
      'javascript:alert(1)',
      'ftp://app.roster.test/',
      '//app.roster.test/',
      'https://app.roster.test/a\r\nSet-Cookie: x=1',
      'https:\\\\app.roster.test',
      `https://app.roster.test/${'a'.repeat(2100)}`,
    ]) {
      assert.equal(returnAddress(value, TRUST), undefined, value);
    }
    assert.equal(returnAddress('https://app.roster.test/', { origin: BASE_URL }), undefined);
  });
});

describe('headerValue', () => {
  test('plain ASCII unchanged; the rest, %, CR/LF and edge spaces percent-encoded as UTF-8', () => {
    assert.equal(headerValue('Ada Lovelace'), 'Ada Lovelace');
    assert.equal(headerValue('Zoë'), 'Zo%C3%AB');
    assert.equal(headerValue('100%'), '100%25');
    assert.equal(headerValue('a\r\nSet-Cookie: x'), 'a%0D%0ASet-Cookie: x');
    assert.equal(headerValue(' padded '), '%20padded%20');
    assert.equal(headerValue('ops, eu', { encodeComma: true }), 'ops%2C eu');
    assert.equal(decodeURIComponent(headerValue('Zoë, 100% \u{1F600}')), 'Zoë, 100% \u{1F600}');
  });
});

eachDatabase('forward auth', (database) => {
  let app: TestApp;
  let adaId = '';
  let ada: ConsoleSession;
  let bob: ConsoleSession;
  let bobId = '';

  before(async () => {
    app = await startTestApp({ database, cookieDomain: 'roster.test', trustedHosts: ['grafana.example.org'], logger: { level: 'warn', stream: log.stream } });
    const created = await app.request('POST', '/Users', userBody('ada@example.com', { displayName: 'Ada Lövelace', emails: [{ value: 'ada@example.com', primary: true }] }));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    adaId = (await app.services.accounts.findByLogin('ada@example.com'))?.id ?? '';
    const bobCreated = await app.request('POST', '/Users', userBody('bob@example.com'));
    assert.equal(bobCreated.status, 201);
    bobId = (await app.services.accounts.findByLogin('bob@example.com'))?.id ?? '';
    for (const name of ['grafana-editors', 'ops, eu']) {
      assert.equal((await app.request('POST', '/Groups', groupBody(name, [created.body.id]))).status, 201);
    }
    assert.equal((await app.request('POST', '/Groups', groupBody('wiki-readers', [bobCreated.body.id]))).status, 201);
    ada = await sessionFor(app, adaId);
    bob = await sessionFor(app, bobId);
  });
  after(() => app.close());

  const log = captureLog();

  async function verify(query = '', headers: Record<string, string> = {}, session?: ConsoleSession) {
    return app.app.inject({ method: 'GET', url: `/auth/verify${query}`, headers: { ...(session !== undefined ? { cookie: session.cookie } : {}), ...headers } });
  }

  const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'app.roster.test', 'x-forwarded-uri': '/dashboards/42?tab=a&b=c' };
  const signInOf = (returnTo: string) => `${BASE_URL}/sessions/new?returnTo=${encodeURIComponent(returnTo)}`;

  test('signed out: 401, not cached, with the sign-in page to go to', async () => {
    const response = await verify('', forwarded);
    assert.equal(response.statusCode, 401);
    assert.equal(response.headers['cache-control'], 'no-store');
    assert.equal(response.headers['remote-user'], undefined);
    assert.equal(response.headers.location, signInOf('https://app.roster.test/dashboards/42?tab=a&b=c'));
    const forged = await verify('', { cookie: 'roster_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
    assert.equal(forged.statusCode, 401);
  });

  test('signed in: 200 with who the user is in Remote-* headers', async () => {
    const response = await verify('', {}, ada);
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.headers['cache-control'], 'no-store');
    assert.equal(response.headers['remote-user'], 'ada@example.com');
    assert.equal(response.headers['remote-user-id'], adaId);
    assert.equal(response.headers['remote-name'], 'Ada L%C3%B6velace');
    assert.equal(response.headers['remote-email'], 'ada@example.com');
    assert.equal(response.headers['remote-groups'], 'grafana-editors,ops%2C eu');
    const groups = String(response.headers['remote-groups']).split(',').map(decodeURIComponent);
    assert.deepEqual(groups, ['grafana-editors', 'ops, eu']);
    const empty = await verify('', {}, bob);
    assert.equal(empty.headers['remote-name'], '');
    assert.equal(empty.headers['remote-groups'], 'wiki-readers');
    const head = await app.app.inject({ method: 'HEAD', url: '/auth/verify', headers: { cookie: ada.cookie } });
    assert.equal(head.statusCode, 200);
    assert.equal(head.headers['remote-user'], 'ada@example.com');
  });

  test('?group= lets in members of any of the groups named (regardless of case), 403 for anyone else', async () => {
    assert.equal((await verify('?group=wiki-readers&group=Grafana-Editors', {}, ada)).statusCode, 200);
    const refused = await verify('?group=grafana-editors', {}, bob);
    assert.equal(refused.statusCode, 403);
    assert.equal(refused.headers['remote-user'], undefined);
    assert.match(refused.body, /not in a group that may use this application/);
    assert.equal((await verify(`?group=${encodeURIComponent('ops, eu')}`, {}, ada)).statusCode, 200);
    // Signed out stays 401 whatever the groups.
    assert.equal((await verify('?group=grafana-editors')).statusCode, 401);
    // An empty group (a proxy's variable left unset) is a configuration error, never "no restriction".
    const created = await app.request('POST', '/Users', userBody('lone@example.com'));
    assert.equal(created.status, 201);
    const lone = await sessionFor(app, (await app.services.accounts.findByLogin('lone@example.com'))?.id ?? '');
    for (const query of ['?group=', '?group=%20', '?group=grafana-editors&group=']) {
      const empty = await verify(query, {}, lone);
      assert.equal(empty.statusCode, 400, query);
      assert.match(empty.body, /A group parameter is empty/);
      assert.equal(empty.headers['remote-user'], undefined);
    }
    // A misspelt or unknown parameter would otherwise be no restriction at all: refused too.
    for (const query of ['?Group=grafana-editors', '?groups=grafana-editors', '?group[]=grafana-editors', '?group=R&D', '?redirect=true&next=/']) {
      const unknown = await verify(query, {}, lone);
      assert.equal(unknown.statusCode, 400, query);
      assert.match(unknown.body, /Unknown query parameter "[^"]+": \/auth\/verify reads group \(repeatable\) and redirect only/);
      assert.equal(unknown.headers['remote-user'], undefined);
    }
  });

  test('?redirect=true: 302 to the sign-in page with the original URL (X-Forwarded-* or X-Original-URL) to come back to', async () => {
    const traefik = await verify('?redirect=true', forwarded);
    assert.equal(traefik.statusCode, 302);
    assert.equal(traefik.headers.location, signInOf('https://app.roster.test/dashboards/42?tab=a&b=c'));
    assert.equal(traefik.headers['cache-control'], 'no-store');
    const nginx = await verify('?redirect=true', { 'x-original-url': 'https://grafana.example.org/d/1' });
    assert.equal(nginx.headers.location, signInOf('https://grafana.example.org/d/1'));
    // A path passed on as raw UTF-8 bytes (what a client that does not percent-encode sends):
    // Node reads header bytes as Latin-1; the browser must come back to /été, not /Ã©té.
    const rawUtf8 = (text: string) => Buffer.from(text, 'utf8').toString('latin1');
    const accented = await verify('?redirect=true', { 'x-original-url': rawUtf8('https://grafana.example.org/été?q=zoë') });
    assert.equal(accented.headers.location, signInOf('https://grafana.example.org/%C3%A9t%C3%A9?q=zo%C3%AB'));
    const forwardedRaw = await verify('?redirect=true', { ...forwarded, 'x-forwarded-uri': rawUtf8('/dashboards/été') });
    assert.equal(forwardedRaw.headers.location, signInOf('https://app.roster.test/dashboards/%C3%A9t%C3%A9'));
    // Latin-1 bytes that are no UTF-8 stay as read.
    const latin1 = await verify('?redirect=true', { 'x-original-url': 'https://grafana.example.org/\u00e9' });
    assert.equal(latin1.headers.location, signInOf('https://grafana.example.org/%C3%A9'));
    const unknown = await verify('?redirect=true');
    assert.equal(unknown.headers.location, `${BASE_URL}/sessions/new`);
    // Signed in, the answer is the same as without redirect.
    assert.equal((await verify('?redirect=true', forwarded, ada)).statusCode, 200);
    assert.equal((await verify('?redirect=true&group=grafana-editors', forwarded, bob)).statusCode, 403);
    assert.equal((await verify('?redirect=maybe', forwarded)).statusCode, 400);
  });

  test('an original URL on an untrusted host is never made a return address', async () => {
    for (const headers of [
      { ...forwarded, 'x-forwarded-host': 'evil.example' },
      { ...forwarded, 'x-forwarded-proto': 'http' },
      { 'x-original-url': 'https://roster.test.evil.example/' },
      { 'x-original-url': 'https://evil.example/reset?token=s3cret#frag' },
    ]) {
      const redirect = await verify('?redirect=true', headers);
      assert.equal(redirect.statusCode, 400, JSON.stringify(headers));
      assert.equal(redirect.headers.location, undefined);
      assert.match(redirect.body, /ROSTER_TRUSTED_HOSTS/);
      // It names the address it received (an http:// behind a proxy that ends TLS is then plain to see).
      assert.match(redirect.body, /after sign-in: (https?):\/\/[^ ]+\. It must be/);
      // For nginx, a Location to the sign-in page without a return address, whose notice says why.
      const plain = await verify('', headers);
      assert.equal(plain.statusCode, 401);
      assert.equal(plain.headers.location, `${BASE_URL}/sessions/new?notice=untrusted-return`);
    }
    // The warning names where the browser was going, never the query string (which may carry a token).
    const warnings = log.lines.filter((line) => line.includes('forward auth: the original URL'));
    assert.ok(warnings.some((line) => (JSON.parse(line) as { url: string }).url === 'https://evil.example/reset'), warnings.join('\n'));
    assert.ok(!warnings.some((line) => line.includes('s3cret') || line.includes('frag')), warnings.join('\n'));
    const page = await app.app.inject({ method: 'GET', url: '/sessions/new?notice=untrusted-return' });
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /cannot send you back to the application[^<]*ROSTER_TRUSTED_HOSTS/);
    assert.doesNotMatch(page.body, /name="returnTo"/);
  });

  test('after a password sign-in the browser goes back to a trusted host, never to another', async () => {
    const password = (await app.services.administrators.resetPassword('admin', cli)).password;
    const back = await passwordSignIn(app, 'admin', password, { returnTo: 'https://app.roster.test/dashboards/42?tab=a&b=c' });
    // Not a redirect: browsers hold a form's redirects to its page's CSP form-action ('self'),
    // and would stop on the sign-in page; a page that moves on by itself is a new navigation.
    assert.equal(back.statusCode, 200);
    assert.equal(back.headers.location, undefined);
    assert.match(back.body, /<meta http-equiv="refresh" content="0;url=https:\/\/app\.roster\.test\/dashboards\/42\?tab=a&amp;b=c">/);
    assert.match(back.body, /<a href="https:\/\/app\.roster\.test\/dashboards\/42\?tab=a&amp;b=c">Continue<\/a>/);
    // The session cookie reaches the sibling hosts.
    assert.match(String(back.headers['set-cookie']), /roster_session=[^;]+;.*Domain=roster\.test/);
    // A __Host- cookie from before the cookie domain was set would sign the browser in as whoever
    // it was once the setting is removed: it is deleted.
    assert.ok([back.headers['set-cookie']].flat().some((line) => /^__Host-roster_session=; Path=\/; .*Secure; .*Max-Age=0$/.test(String(line))), String(back.headers['set-cookie']));
    const evil = await passwordSignIn(app, 'admin', password, { returnTo: 'https://evil.example/' });
    assert.equal(evil.headers.location, '/');
    // The sign-in page carries a trusted return address into its forms, and drops the others.
    const page = await app.app.inject({ method: 'GET', url: `/sessions/new?returnTo=${encodeURIComponent('https://grafana.example.org/d/1')}`, headers: { accept: 'text/html' } });
    assert.match(page.body, /name="returnTo" value="https:\/\/grafana\.example\.org\/d\/1"/);
    assert.match(page.body, /href="\/saml\/login\?returnTo=https%3A%2F%2Fgrafana\.example\.org%2Fd%2F1"/);
    const dropped = await app.app.inject({ method: 'GET', url: `/sessions/new?returnTo=${encodeURIComponent('https://evil.example/')}`, headers: { accept: 'text/html' } });
    assert.doesNotMatch(dropped.body, /evil\.example/);
    // Signed in already: straight back.
    const signedIn = await app.app.inject({ method: 'GET', url: `/sessions/new?returnTo=${encodeURIComponent('https://app.roster.test/x')}`, headers: { accept: 'text/html', cookie: sessionOf(back).cookie } });
    assert.equal(signedIn.statusCode, 302);
    assert.equal(signedIn.headers.location, 'https://app.roster.test/x');
  });

  test('after a SAML sign-in the browser goes back to a trusted host; /saml/login refuses any other', async () => {
    const response = await signIn(app, { login: 'ada@example.com' }, `/saml/login?returnTo=${encodeURIComponent('https://app.roster.test/dashboards/42')}`);
    assert.equal(response.statusCode, 303, response.body);
    assert.equal(response.headers.location, 'https://app.roster.test/dashboards/42');
    assert.ok(setCookieOf(response, 'roster_session'));
    for (const returnTo of ['https://evil.example/', 'http://app.roster.test/', '//app.roster.test/']) {
      const refused = await app.app.inject({ method: 'GET', url: `/saml/login?returnTo=${encodeURIComponent(returnTo)}` });
      assert.equal(refused.statusCode, 400, returnTo);
    }
    const { location } = await startLogin(app, `/saml/login?returnTo=${encodeURIComponent('https://grafana.example.org/')}`);
    assert.ok(location.startsWith('https://idp.example.com/sso'));
  });

  test('a user deactivated through SCIM is refused at the next request through the proxy', async () => {
    const carol = await app.request('POST', '/Users', userBody('carol@example.com'));
    const carolId = (await app.services.accounts.findByLogin('carol@example.com'))?.id ?? '';
    const session = await sessionFor(app, carolId);
    assert.equal((await verify('', {}, session)).statusCode, 200);
    const patched = await app.request('PATCH', `/Users/${carol.body.id}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'replace', path: 'active', value: false }],
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const refused = await verify('', forwarded, session);
    assert.equal(refused.statusCode, 401);
    assert.equal(refused.headers['remote-user'], undefined);
    const redirected = await verify('?redirect=true', forwarded, session);
    assert.equal(redirected.statusCode, 302);
  });
});
