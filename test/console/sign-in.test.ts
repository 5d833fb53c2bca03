/**
 * The console's doors (issue 9): where `/` sends each visitor, the sign-in page, password
 * sign-in of local accounts with what SAML users are told, sign-out, and the headers of every
 * page. HTTP-level (inject) on both databases; test/console/browser.test.ts drives the same
 * pages in Chromium.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BASE_URL, startTestApp, testCertificate, userBody, TEST_IDP, type TestApp, SESSION_COOKIE } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { getPage, passwordSignIn, postForm, sessionFor, sessionOf, setCookieOf, type ConsoleSession } from '../support/console.ts';

const cli = { kind: 'cli' } as const;

/** The audit entries of one action, oldest first, details parsed. */
async function audited(app: TestApp, action: string): Promise<Array<{ actor: string; targetId: string | null; details: Record<string, unknown> }>> {
  const rows = await app.services.store.db.selectFrom('audit_events').select(['actor', 'target_id', 'details']).where('action', '=', action).orderBy('seq').execute();
  return rows.map((row) => ({ actor: row.actor, targetId: row.target_id, details: JSON.parse(row.details ?? '{}') as Record<string, unknown> }));
}

eachDatabase('the console\'s sign-in', (database) => {
  let app: TestApp;
  let adminPassword = '';
  let bobId = '';

  before(async () => {
    app = await startTestApp({ database, scim: false });
    adminPassword = (await app.services.administrators.resetPassword('admin', cli)).password;
    // A local account, deactivated; then SCIM on, and a user provisioned through it.
    const carol = await app.services.accounts.create({ login: 'carol', name: 'Carol', password: 'carol-password-1', local: true }, cli);
    await app.services.accounts.deactivate(carol.id, cli);
    await app.services.provisioning.enable(cli);
    assert.equal((await app.request('POST', '/Users', userBody('bob@example.com', { displayName: 'Bob <b>Builder</b>' }))).status, 201);
    bobId = (await app.services.accounts.findByLogin('bob@example.com'))?.id ?? '';
  });
  after(() => app.close());

  /** Whether `/` still sees the session (it sends signed-out visitors to the sign-in page). */
  async function stillSignedIn(session: ConsoleSession): Promise<boolean> {
    return (await getPage(app, '/', session)).headers.location !== '/sessions/new';
  }

  describe('GET /', () => {
    test('signed out, / redirects to the sign-in page', async () => {
      const response = await getPage(app, '/');
      assert.equal(response.statusCode, 302);
      assert.equal(response.headers.location, '/sessions/new');
    });

    test('an administrator lands in the console, anyone else on My account', async () => {
      assert.equal((await getPage(app, '/', await sessionFor(app, app.adminId))).headers.location, '/admin/users');
      assert.equal((await getPage(app, '/', await sessionFor(app, bobId))).headers.location, '/account');
    });

    test('a signed-out visitor of a console page is sent to sign in and back', async () => {
      const response = await getPage(app, '/admin/users?q=ada');
      assert.equal(response.statusCode, 303);
      assert.equal(response.headers.location, '/sessions/new?returnTo=%2Fadmin%2Fusers%3Fq%3Dada');
    });

    test('a form sent after the session ended changes nothing, says so, and comes back to the page that held it', async () => {
      // The browser's session cookie names a session that is gone.
      const session = { cookie: `${SESSION_COOKIE}=ended-session-value`, csrf: 'a-token-of-the-ended-session' };
      const groupsBefore = (await app.services.groupManagement.list({}, { offset: 0, limit: 100 })).total;
      const sent = await postForm(app, '/admin/groups', { name: 'late-group' }, { session, headers: { referer: `${BASE_URL}/admin/groups?q=ops` } });
      assert.equal(sent.statusCode, 303);
      assert.equal(sent.headers.location, '/sessions/new?returnTo=%2Fadmin%2Fgroups%3Fq%3Dops&notice=form-not-sent');
      assert.equal((await app.services.groupManagement.list({}, { offset: 0, limit: 100 })).total, groupsBefore);
      const page = await getPage(app, String(sent.headers.location));
      assert.match(page.body, /Your session ended before the form was sent, so nothing was changed\. Sign in again: you go back to the page/);
      assert.match(page.body, /<input type="hidden" name="returnTo" value="\/admin\/groups\?q=ops">/);
      // The login field takes the focus, described by the notice (a status there at load is not announced).
      assert.match(page.body, /<div class="banner banner-warning" role="status" id="notice"><div>Your session ended/);
      assert.match(page.body, /<input id="field-login" name="login" type="text"[^>]* autofocus aria-describedby="notice"/);
      // A Referer from elsewhere is no page of Roster's to come back to.
      const foreign = await postForm(app, '/admin/groups', { name: 'late-group' }, { session, headers: { referer: 'https://evil.example/admin/groups' } });
      assert.equal(foreign.headers.location, '/sessions/new?notice=form-not-sent');
    });

    test('an address that only takes a form leads to the page that holds the form: on a GET (a reload of a refused form\'s answer), and as the return path of a form sent after the session ended', async () => {
      const admin = await sessionFor(app, app.adminId);
      // (Whether the group exists is for its page to say.)
      const groupPage = '/admin/groups/a-group-id';
      for (const [address, page] of [
        ['/admin/scim/tokens', '/admin/scim'],
        [`${groupPage}/members`, groupPage],
        [`${groupPage}/members/remove`, groupPage],
        ['/account/password', '/account'],
        ['/admin/authentication/saml/metadata', '/admin/authentication/saml'],
        [`/admin/users/${bobId}/sessions/end?x=1`, `/admin/users/${bobId}`],
        ['/sessions/sign-out', '/'],
        // Spellings the router reads as the same address stay on Roster: never `//host`.
        ['//admin//scim/tokens/', '/admin/scim'],
        ['/ADMIN/SCIM/TOKENS', '/ADMIN/SCIM'],
      ] as const) {
        const reloaded = await getPage(app, address, admin);
        assert.equal(reloaded.statusCode, 303, `${address}: ${reloaded.body.slice(0, 200)}`);
        assert.equal(reloaded.headers.location, page, address);
      }
      // Signed out, the page it leads to sends the visitor to sign in and back.
      assert.equal((await getPage(app, '/admin/scim/tokens')).headers.location, '/admin/scim');
      // A form on the answer to a refused form, sent after the session ended: its Referer is that answer's address.
      const ended = { cookie: `${SESSION_COOKIE}=ended-session-value`, csrf: 'a-token-of-the-ended-session' };
      const sent = await postForm(app, `${groupPage}/members`, { login: 'bob@example.com' }, { session: ended, headers: { referer: `${BASE_URL}${groupPage}/members` } });
      assert.equal(sent.headers.location, `/sessions/new?returnTo=${encodeURIComponent(groupPage)}&notice=form-not-sent`);
      const token = await postForm(app, '/admin/scim/tokens', { name: 'x' }, { session: ended, headers: { referer: `${BASE_URL}/admin/scim/tokens` } });
      assert.equal(token.headers.location, '/sessions/new?returnTo=%2Fadmin%2Fscim&notice=form-not-sent');
    });

    test('someone who is not an administrator gets 403 on administration pages', async () => {
      const response = await getPage(app, '/admin', await sessionFor(app, bobId));
      assert.equal(response.statusCode, 403);
      assert.match(response.body, /Administrators only/);
    });

    test('/admin lists every administration section with a link', async () => {
      const response = await getPage(app, '/admin', await sessionFor(app, app.adminId));
      assert.equal(response.statusCode, 200);
      for (const path of ['/admin/users', '/admin/groups', '/admin/authentication', '/admin/scim', '/admin/audit']) {
        assert.match(response.body, new RegExp(`<a href="${path}">`));
      }
    });
  });

  describe('GET /sessions/new', () => {
    test('offers "Sign in with <provider>" starting /saml/login with the return path, and the password form', async () => {
      assert.ok((await app.services.saml.configure({ ...TEST_IDP, certificates: [testCertificate()], providerName: 'Contoso SSO' }, cli)).ok);
      const response = await getPage(app, '/sessions/new?returnTo=%2Faccount');
      assert.equal(response.statusCode, 200);
      assert.match(response.body, /<a class="button primary wide" href="\/saml\/login\?returnTo=%2Faccount">Sign in with Contoso SSO<\/a>/);
      assert.match(response.body, /<form method="post" action="\/sessions"/);
      assert.match(response.body, /<input type="hidden" name="returnTo" value="\/account">/);
      assert.match(response.body, /<label for="field-login">Login<\/label>/);
      assert.match(response.body, /<label for="field-password">Password<\/label>/);
    });

    test('a return path that leads off the server is dropped, as /saml/login would refuse it', async () => {
      for (const returnTo of ['https://evil.example.com/', '//evil.example.com/x', '/\\evil.example.com']) {
        const response = await getPage(app, `/sessions/new?returnTo=${encodeURIComponent(returnTo)}`);
        assert.equal(response.statusCode, 200);
        assert.doesNotMatch(response.body, /evil\.example\.com/);
        assert.match(response.body, /href="\/saml\/login"/);
      }
    });

    test('the page sends a strict CSP without unsafe-inline, no framing, no caching', async () => {
      const response = await getPage(app, '/sessions/new');
      const csp = String(response.headers['content-security-policy']);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.match(csp, /script-src 'self'(;|$)/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.equal(response.headers['x-frame-options'], 'DENY');
      assert.equal(response.headers['cache-control'], 'no-store');
      assert.equal(response.headers['x-content-type-options'], 'nosniff');
      assert.doesNotMatch(response.body, /<script>|<style>|\sstyle=|\son[a-z]+=/i, 'no inline script, style or handler');
    });

    test('a signed-in visitor is sent on to the return path', async () => {
      const response = await getPage(app, '/sessions/new?returnTo=%2Fadmin', await sessionFor(app, app.adminId));
      assert.equal(response.statusCode, 302);
      assert.equal(response.headers.location, '/admin');
    });

    test('a return path to the sign-in pages themselves leads to /, so that no redirect goes round in circles', async () => {
      const session = await sessionFor(app, app.adminId);
      for (const returnTo of ['/sessions/new', '/sessions/new?returnTo=%2Fsessions%2Fnew', '/sessions']) {
        const response = await getPage(app, `/sessions/new?returnTo=${encodeURIComponent(returnTo)}`, session);
        assert.equal(response.headers.location, '/', returnTo);
      }
      const form = await getPage(app, '/sessions/new?returnTo=%2Fsessions%2Fnew');
      assert.doesNotMatch(form.body, /name="returnTo"/);
    });
  });

  describe('POST /sessions (password)', () => {
    test('the right password of a local account opens a session and goes to the return path', async () => {
      const response = await passwordSignIn(app, 'ADMIN', adminPassword, { returnTo: '/admin/groups' });
      assert.equal(response.statusCode, 303, response.body);
      assert.equal(response.headers.location, '/admin/groups');
      const cookie = String(setCookieOf(response, SESSION_COOKIE));
      assert.match(String(response.headers['set-cookie']), /__Host-roster_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax; Secure/);
      // The cookie of a version without the prefix, never read again, is deleted.
      assert.ok([response.headers['set-cookie']].flat().some((line) => /^roster_session=; Path=\/; .*Max-Age=0$/.test(String(line))), String(response.headers['set-cookie']));
      assert.equal(await stillSignedIn({ cookie, csrf: '' }), true);
      const signedIn = await audited(app, 'session.password_sign_in');
      assert.deepEqual(signedIn.at(-1), { actor: 'password:ADMIN', targetId: app.adminId, details: { login: 'admin' } });
      assert.ok((await app.services.accounts.get(app.adminId)).lastConnectionAt !== null, 'the last connection is recorded');
    });

    test('on https without a cookie domain the cookie is __Host-: a roster_session cookie a sibling host planted is not read', async () => {
      const account = async (login: string) => {
        assert.equal((await app.request('POST', '/Users', userBody(login))).status, 201);
        return (await app.services.accounts.findByLogin(login))?.id ?? '';
      };
      const ada = await account('ada-host');
      const mallory = await account('mallory-host');
      const own = await app.services.sessions.open(ada);
      // A page on app.roster.test could set `roster_session` for the whole domain, with a
      // session of its own, and browsers send it first when its Path is longer.
      const planted = await app.services.sessions.open(mallory);
      const current = await app.app.inject({ method: 'GET', url: '/api/users/current', headers: { cookie: `roster_session=${planted.value}; ${SESSION_COOKIE}=${own.value}` } });
      assert.equal(current.statusCode, 200, current.body);
      assert.equal(JSON.parse(current.body).login, 'ada-host');
      const alone = await app.app.inject({ method: 'GET', url: '/api/users/current', headers: { cookie: `roster_session=${planted.value}` } });
      assert.equal(alone.statusCode, 401, 'the planted cookie opens nothing');
    });

    test('a wrong password is refused with 403 and a message that does not say which part was wrong', async () => {
      const response = await passwordSignIn(app, 'admin', 'not the password', { remoteAddress: '198.51.100.1' });
      assert.equal(response.statusCode, 403);
      assert.match(response.body, /The login or password is incorrect\./);
      assert.equal(setCookieOf(response, SESSION_COOKIE), undefined);
      assert.match(response.body, /value="admin"/, 'the login is kept in the form');
      const refused = await audited(app, 'session.password_refused');
      assert.deepEqual(refused.at(-1)?.details, { reason: 'wrong_password', login: 'admin', source: '198.51.100.1' });
      const everything = JSON.stringify(await app.services.store.db.selectFrom('audit_events').select('details').execute());
      assert.ok(!everything.includes('not the password') && !everything.includes(adminPassword), 'no password is ever audited');
    });

    test('a SCIM user trying a password is told to use the SAML button, and so is an unknown login, in the same words', async () => {
      const bob = await passwordSignIn(app, 'bob@example.com', 'whatever-he-types', { remoteAddress: '198.51.100.2' });
      const nobody = await passwordSignIn(app, 'nobody@example.com', 'whatever-he-types', { remoteAddress: '198.51.100.2' });
      for (const response of [bob, nobody]) {
        assert.equal(response.statusCode, 403);
        assert.match(response.body, /This login has no Roster password: passwords are only for local Roster accounts, such as admin\. Everyone else signs in with Contoso SSO: use the &quot;Sign in with Contoso SSO&quot; button\./);
      }
      const bodyOf = (text: string) => text.replace(/value="[^"]*"/g, '');
      assert.equal(bodyOf(bob.body), bodyOf(nobody.body), 'nothing tells a provisioned login from an unknown one');
      const reasons = (await audited(app, 'session.password_refused')).slice(-2).map((entry) => entry.details['reason']);
      assert.deepEqual(reasons, ['no_password', 'unknown_login']);
    });

    test('a login that names no account is audited by its first character and length only: it may be a password typed one field early', async () => {
      const typed = 'MyS3cretP@ssw0rd-typed-in-login';
      assert.equal((await passwordSignIn(app, typed, 'whatever', { remoteAddress: '198.51.100.4' })).statusCode, 403);
      const entry = (await audited(app, 'session.password_refused')).at(-1);
      assert.deepEqual(entry?.details, { reason: 'unknown_login', login: 'M… (31 characters, no such account)', source: '198.51.100.4' });
      const everything = JSON.stringify(await app.services.store.db.selectFrom('audit_events').select(['actor', 'details']).execute());
      assert.ok(!everything.includes('S3cret'), 'nothing of the text typed beyond its first character');
    });

    test('a deactivated local account is told the same as a wrong password, even with its right password', async () => {
      const response = await passwordSignIn(app, 'carol', 'carol-password-1', { remoteAddress: '198.51.100.3' });
      assert.equal(response.statusCode, 403);
      assert.match(response.body, /The login or password is incorrect\./);
    });

    test('empty fields are refused with 400 and nothing is counted', async () => {
      const response = await passwordSignIn(app, 'admin', '');
      assert.equal(response.statusCode, 400);
      assert.match(response.body, /Enter your login and your password\./);
    });

    test('without its CSRF token (pre-session cookie and field), the form is refused with 403 before any check', async () => {
      const before_ = (await audited(app, 'session.password_refused')).length;
      const noToken = await postForm(app, '/sessions', { login: 'admin', password: adminPassword });
      assert.equal(noToken.statusCode, 403);
      assert.equal(setCookieOf(noToken, SESSION_COOKIE), undefined);
      const form = await getPage(app, '/sessions/new');
      const preSession = setCookieOf(form, '__Host-roster_csrf') ?? '';
      const wrongToken = await postForm(app, '/sessions', { login: 'admin', password: adminPassword }, { cookie: preSession, csrf: 'x'.repeat(43) });
      assert.equal(wrongToken.statusCode, 403);
      assert.equal((await audited(app, 'session.password_refused')).length, before_);
    });

    test('a form posted from another site (Sec-Fetch-Site: cross-site) is refused even with a token', async () => {
      const form = await getPage(app, '/sessions/new');
      const preSession = setCookieOf(form, '__Host-roster_csrf') ?? '';
      const token = /name="_csrf" value="([^"]+)"/.exec(form.body)?.[1] ?? '';
      const response = await postForm(app, '/sessions', { login: 'admin', password: adminPassword }, { cookie: preSession, csrf: token, headers: { 'sec-fetch-site': 'cross-site' } });
      assert.equal(response.statusCode, 403);
    });
  });

  describe('sign-out', () => {
    test('POST /sessions/sign-out with the token ends the session everywhere and clears the cookie', async () => {
      const session = sessionOf(await passwordSignIn(app, 'admin', adminPassword));
      const response = await postForm(app, '/sessions/sign-out', {}, { session });
      assert.equal(response.statusCode, 303);
      assert.equal(response.headers.location, '/sessions/new?notice=signed-out');
      assert.match(String(response.headers['set-cookie']), /__Host-roster_session=; .*Max-Age=0/);
      assert.ok([response.headers['set-cookie']].flat().some((line) => /^roster_session=; Path=\/; .*Max-Age=0$/.test(String(line))), String(response.headers['set-cookie']));
      assert.equal(await stillSignedIn(session), false, 'the session is gone');
      assert.equal((await audited(app, 'session.signed_out')).at(-1)?.targetId, app.adminId);
      assert.match((await getPage(app, '/sessions/new?notice=signed-out')).body, /You are signed out\./);
    });

    test('without the session\'s CSRF token, sign-out is refused with 403 and the session lives on', async () => {
      const session = await sessionFor(app, bobId);
      assert.equal((await postForm(app, '/sessions/sign-out', {}, { session, csrf: false })).statusCode, 403);
      const other = await sessionFor(app, app.adminId);
      assert.equal((await postForm(app, '/sessions/sign-out', {}, { session, csrf: other.csrf })).statusCode, 403, 'another session\'s token does not do');
      assert.equal(await stillSignedIn(session), true);
    });
  });
});

eachDatabase('the sign-in page without SAML', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database, saml: false });
    await app.request('POST', '/api/v2/users-management/users', { login: 'dave', name: 'Dave', local: false }, { 'content-type': 'application/json' });
  });
  after(() => app.close());

  test('shows the password form alone, and every refusal reads "login or password incorrect"', async () => {
    const page = await getPage(app, '/sessions/new');
    assert.doesNotMatch(page.body, /\/saml\/login/, "no SAML button");
    assert.match(page.body, /Single sign-on is not configured yet/);
    for (const login of ['dave', 'nobody']) {
      const response = await passwordSignIn(app, login, 'some password');
      assert.equal(response.statusCode, 403);
      assert.match(response.body, /The login or password is incorrect\./);
    }
  });
});
