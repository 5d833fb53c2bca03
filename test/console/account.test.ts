/**
 * "My account" (issue 9), HTTP-level on both databases: what it shows a signed-in user, and
 * "sign out everywhere" with its CSRF protection.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { groupBody, startTestApp, userBody, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { getPage, postForm, sessionFor } from '../support/console.ts';

eachDatabase('My account', (database) => {
  let app: TestApp;
  let ivyId = '';

  before(async () => {
    app = await startTestApp({ database });
    const ivy = await app.request('POST', '/Users', userBody('ivy@example.com', { displayName: 'Ivy Example', emails: [{ value: 'ivy@example.com', primary: true }] }));
    assert.equal(ivy.status, 201);
    ivyId = (await app.services.accounts.findByLogin('ivy@example.com'))?.id ?? '';
    assert.equal((await app.request('POST', '/Groups', groupBody('developers', [ivy.body.id]))).status, 201);
    assert.equal((await app.request('POST', '/Groups', groupBody('Roster-Administrators', [ivy.body.id]))).status, 201);
  });
  after(() => app.close());

  test('shows login, name, email, the groups that count, and the administrator role through the group', async () => {
    const page = await getPage(app, '/account', await sessionFor(app, ivyId));
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /<h1>My account<\/h1>/);
    assert.match(page.body, /<code>ivy@example\.com<\/code>/);
    assert.match(page.body, /Ivy Example/);
    assert.match(page.body, /<ul class="group-list">(<li>(developers|Roster-Administrators)<\/li>){2}<\/ul>/);
    assert.match(page.body, /Administrator<\/span> through the group <strong>roster-administrators<\/strong>/);
    assert.match(page.body, /Provisioned by your identity provider/);
  });

  test('what users are named is shown as text, never as markup', async () => {
    const created = await app.request('POST', '/Users', userBody('bob@example.com', { displayName: 'Bob <b>Builder</b>' }));
    assert.equal(created.status, 201);
    const bobId = (await app.services.accounts.findByLogin('bob@example.com'))?.id ?? '';
    const page = await getPage(app, '/account', await sessionFor(app, bobId));
    assert.match(page.body, /Bob &lt;b&gt;Builder&lt;\/b&gt;/);
    assert.doesNotMatch(page.body, /<b>Builder/);
  });

  test('lists the live sessions, most recent first, marking this one', async () => {
    const older = await sessionFor(app, ivyId);
    const current = await sessionFor(app, ivyId);
    const page = await getPage(app, '/account', current);
    // Opened directly, without an origin: browser and address are dashes.
    const rows = page.body.match(/<tr><td>—<\/td><td>—<\/td><td><time/g) ?? [];
    assert.ok(rows.length >= 2, `${rows.length} session rows`);
    assert.equal((page.body.match(/This session/g) ?? []).length, 1);
    assert.equal((await getPage(app, '/account', older)).statusCode, 200);
  });

  test('sign out everywhere without the CSRF token is refused with 403 and ends nothing', async () => {
    const session = await sessionFor(app, ivyId);
    const response = await postForm(app, '/account/sign-out-everywhere', {}, { session, csrf: false });
    assert.equal(response.statusCode, 403);
    assert.equal((await getPage(app, '/account', session)).statusCode, 200);
  });

  test('sign out everywhere ends every session of the user, audits it, and leaves other users signed in', async () => {
    const first = await sessionFor(app, ivyId);
    const second = await sessionFor(app, ivyId);
    const admin = await sessionFor(app, app.adminId);
    const response = await postForm(app, '/account/sign-out-everywhere', {}, { session: second });
    assert.equal(response.statusCode, 303);
    assert.equal(response.headers.location, '/sessions/new?notice=signed-out-everywhere');
    for (const session of [first, second]) assert.equal((await getPage(app, '/account', session)).statusCode, 303);
    assert.equal((await getPage(app, '/account', admin)).statusCode, 200);
    const remaining = await app.services.store.db.selectFrom('sessions').select('id').where('user_id', '=', ivyId).execute();
    assert.deepEqual(remaining, []);
    const event = await app.services.store.db.selectFrom('audit_events').select(['actor', 'target_id', 'details']).where('action', '=', 'session.signed_out_everywhere').executeTakeFirstOrThrow();
    assert.equal(event.actor, 'session:ivy@example.com');
    assert.equal(event.target_id, ivyId);
    assert.ok(Number(JSON.parse(event.details ?? '{}').sessions) >= 2);
  });

  test('the confirmation opens without scripts at ?confirm=sign-out-everywhere', async () => {
    const page = await getPage(app, '/account?confirm=sign-out-everywhere', await sessionFor(app, ivyId));
    assert.match(page.body, /<dialog id="sign-out-everywhere" class="confirm" aria-labelledby="sign-out-everywhere-title" open>/);
    const closed = await getPage(app, '/account', await sessionFor(app, ivyId));
    assert.match(closed.body, /<dialog id="sign-out-everywhere" class="confirm" aria-labelledby="sign-out-everywhere-title">/);
  });

  test('signed out, /account sends to the sign-in page and back', async () => {
    const response = await getPage(app, '/account');
    assert.equal(response.statusCode, 303);
    assert.equal(response.headers.location, '/sessions/new?returnTo=%2Faccount');
  });

  test('a form with text that cannot be stored is refused with 400, not an error', async () => {
    const session = await sessionFor(app, app.adminId);
    const response = await postForm(app, '/sessions', { login: 'a\u0000b', password: 'x' }, { session });
    assert.ok(response.statusCode === 400 || response.statusCode === 403, String(response.statusCode));
    const query = await getPage(app, '/account?x=%00', session);
    assert.equal(query.statusCode, 400);
    assert.match(String(query.headers['content-type']), /text\/html/);
  });
});
