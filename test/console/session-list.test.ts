/**
 * The session lists of My account and of a user's page, HTTP-level on both databases: where each
 * session signed in from (address and browser, recorded at sign-in), and "End" on one session,
 * which ends exactly that one, is refused for anyone else's, and needs the CSRF token.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestApp, type TestApp, SESSION_COOKIE } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { getPage, passwordSignIn, postForm, sessionFor, sessionOf, type ConsoleSession } from '../support/console.ts';

const cli = { kind: 'cli' } as const;
const FIREFOX_LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const SAFARI_MAC = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15';

/** The handles of the End buttons of a page's session table, in order. */
function endHandles(body: string): string[] {
  return [...body.matchAll(/name="session" value="([^"]+)"/g)].map((match) => match[1] ?? '');
}

/** The session table rows of a page. */
function sessionRows(body: string): string[] {
  const table = /<table><caption[^>]*>(?:Your active sessions|Sessions of [^<]*)<\/caption>[\s\S]*?<\/table>/.exec(body)?.[0] ?? '';
  return table.split('<tr>').slice(2);
}

eachDatabase('console: where sessions come from, and ending one', (database) => {
  let app: TestApp;
  let admin: ConsoleSession;
  let erinId = '';

  before(async () => {
    app = await startTestApp({ database, scim: false });
    erinId = (await app.services.accounts.create({ login: 'erin', name: 'Erin', password: 'erin-password-1', local: true }, cli)).id;
    await app.services.accounts.create({ login: 'frank', name: 'Frank', password: 'frank-password-1', local: true }, cli);
    admin = await sessionFor(app, app.adminId);
  });
  after(() => app.close());

  async function signIn(login: string, userAgent: string, remoteAddress: string): Promise<ConsoleSession> {
    const response = await passwordSignIn(app, login, `${login}-password-1`, { remoteAddress, headers: { 'user-agent': userAgent } });
    assert.equal(response.statusCode, 303, response.body.slice(0, 300));
    return sessionOf(response);
  }

  test('a password sign-in records its address and browser; My account and the user page show them as text', async () => {
    const laptop = await signIn('erin', FIREFOX_LINUX, '192.0.2.10');
    await signIn('erin', `${SAFARI_MAC}<script>`, '2001:db8:1:2:3:4:5:6');
    const own = await getPage(app, '/account', laptop);
    assert.equal(own.statusCode, 200);
    assert.match(own.body, /<th scope="col">Browser<\/th><th scope="col">Address<\/th>/);
    const rows = sessionRows(own.body);
    const firefox = rows.find((row) => row.includes('Firefox on Linux'));
    assert.ok(firefox?.includes('<code class="nowrap">192.0.2.10</code>'), 'the address beside the browser');
    assert.match(firefox ?? '', /This session/);
    assert.ok(rows.some((row) => row.includes('Safari on macOS') && row.includes('<code class="nowrap">2001:db8:1:2::/64</code>')), 'IPv6 by its /64, as the console counts clients');
    assert.doesNotMatch(own.body, /<script>/);
    const page = await getPage(app, `/admin/users/${erinId}`, admin);
    assert.match(page.body, /Firefox on Linux<\/td><td><code class="nowrap">192\.0\.2\.10<\/code>/);
    assert.match(page.body, /Safari on macOS/);
    // Each End button names its session for a screen reader.
    assert.match(page.body, />End<span class="visually-hidden"> the session of Firefox on Linux at 192\.0\.2\.10, signed in \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC<\/span><\/button>/);
  });

  test('a session opened without its origin (before migration 017) shows a dash', async () => {
    const old = await sessionFor(app, erinId);
    const page = await getPage(app, '/account', old);
    const row = sessionRows(page.body).find((candidate) => candidate.includes('This session'));
    assert.match(row ?? '', /^<td>—<\/td><td>—<\/td>/);
  });

  test('End on My account ends exactly that session, audited, and is offered for every session but this one', async () => {
    const kept = await signIn('frank', FIREFOX_LINUX, '192.0.2.20');
    const other = await signIn('frank', SAFARI_MAC, '192.0.2.21');
    const third = await signIn('frank', FIREFOX_LINUX, '192.0.2.22');
    const frankId = (await app.services.accounts.findByLogin('frank'))?.id ?? '';
    // What an application holds for Frank through OpenID Connect: one session's end leaves it.
    await app.services.store.db.insertInto('oidc_models').values({ model: 'Grant', id: `grant-${frankId}`, payload: '{}', grant_id: null, uid: null, user_code: null, account_id: frankId, expires_at: null, consumed_at: null }).execute();
    const page = await getPage(app, '/account', kept);
    const handles = endHandles(page.body);
    assert.equal(handles.length, 2, 'no End on this session');
    const safariRow = sessionRows(page.body).find((row) => row.includes('Safari on macOS'));
    const handle = endHandles(safariRow ?? '')[0] ?? '';
    assert.doesNotMatch(page.body, new RegExp(other.cookie.slice(`${SESSION_COOKIE}=`.length)), 'no cookie value on the page');

    assert.equal((await postForm(app, '/account/sessions/end', { session: handle }, { session: kept, csrf: false })).statusCode, 403, 'CSRF required');
    assert.equal((await getPage(app, '/account', other)).statusCode, 200, 'nothing ended without the token');

    const ended = await postForm(app, '/account/sessions/end', { session: handle }, { session: kept });
    assert.equal(ended.statusCode, 303);
    assert.equal(ended.headers.location, '/account?notice=session-ended');
    assert.equal((await getPage(app, '/account', other)).statusCode, 303, 'that session is gone');
    assert.equal((await getPage(app, '/account', third)).statusCode, 200, 'the others stay');
    const after = await getPage(app, '/account?notice=session-ended', kept);
    assert.equal(after.statusCode, 200);
    assert.match(after.body, /The session was ended/);
    assert.doesNotMatch(after.body, /Safari on macOS/);
    const event = await app.services.store.db.selectFrom('audit_events').select(['actor', 'target_id']).where('action', '=', 'session.ended').where('target_id', '=', frankId).executeTakeFirstOrThrow();
    assert.equal(event.actor, 'session:frank');
    const grants = await app.services.store.db.selectFrom('oidc_models').select('id').where('account_id', '=', frankId).execute();
    assert.deepEqual(grants, [{ id: `grant-${frankId}` }], 'the OpenID Connect grant stays');
  });

  test("End refuses another user's session, a forged handle and this session, ending nothing", async () => {
    const erin = await signIn('erin', FIREFOX_LINUX, '192.0.2.30');
    const frank = await signIn('frank', SAFARI_MAC, '192.0.2.31');
    const franksHandles = endHandles((await getPage(app, `/admin/users/${(await app.services.accounts.findByLogin('frank'))?.id ?? ''}`, admin)).body);
    assert.ok(franksHandles.length > 0);
    for (const handle of [...franksHandles, 'f'.repeat(32), '']) {
      const refused = await postForm(app, '/account/sessions/end', { session: handle }, { session: erin });
      assert.equal(refused.statusCode, 404, handle);
      assert.match(refused.body, /You have no such session/);
    }
    assert.equal((await getPage(app, '/account', frank)).statusCode, 200, "frank's session lives");
    const own = endHandles((await getPage(app, '/account', erin)).body);
    // This session's handle, as the administrator's page shows it.
    const adminView = await getPage(app, `/admin/users/${erinId}`, admin);
    const mine = endHandles(adminView.body).filter((handle) => !own.includes(handle));
    assert.equal(mine.length, 1);
    const self = await postForm(app, '/account/sessions/end', { session: mine[0] ?? '' }, { session: erin });
    assert.equal(self.statusCode, 400);
    assert.match(self.body, /use Sign out/);
    assert.equal((await getPage(app, '/account', erin)).statusCode, 200);
  });

  test("an administrator ends one of a user's sessions from the user's page; another user's handle is refused", async () => {
    const first = await signIn('erin', FIREFOX_LINUX, '192.0.2.40');
    const second = await signIn('erin', SAFARI_MAC, '192.0.2.41');
    const frank = await signIn('frank', FIREFOX_LINUX, '192.0.2.42');
    const frankId = (await app.services.accounts.findByLogin('frank'))?.id ?? '';
    const page = await getPage(app, `/admin/users/${erinId}`, admin);
    const row = sessionRows(page.body).find((candidate) => candidate.includes('192.0.2.40'));
    const handle = endHandles(row ?? '')[0] ?? '';
    assert.notEqual(handle, '');

    assert.equal((await postForm(app, `/admin/users/${erinId}/sessions/end`, { session: handle }, { session: admin, csrf: false })).statusCode, 403);
    assert.equal((await getPage(app, '/account', first)).statusCode, 200);
    // Erin's handle through Frank's page: refused, and neither loses a session.
    const crossed = await postForm(app, `/admin/users/${frankId}/sessions/end`, { session: handle }, { session: admin });
    assert.equal(crossed.statusCode, 404);
    assert.match(crossed.body, /This user has no such session/);
    assert.equal((await getPage(app, '/account', first)).statusCode, 200);
    assert.equal((await getPage(app, '/account', frank)).statusCode, 200);

    const ended = await postForm(app, `/admin/users/${erinId}/sessions/end`, { session: handle }, { session: admin });
    assert.equal(ended.statusCode, 303);
    assert.equal(ended.headers.location, `/admin/users/${erinId}?notice=session-ended`);
    assert.equal((await getPage(app, '/account', first)).statusCode, 303);
    assert.equal((await getPage(app, '/account', second)).statusCode, 200);
    const event = await app.services.store.db.selectFrom('audit_events').select(['actor']).where('action', '=', 'session.ended').where('target_id', '=', erinId).executeTakeFirstOrThrow();
    assert.equal(event.actor, 'session:admin');
  });
});
