/**
 * My account › Password: a local account changes its own password with its current one; the
 * change is audited, the old password stops working, and the first-start password file goes.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createServices } from '../../src/services.ts';
import { startTestApp, userBody, type TestApp } from '../support/app.ts';
import { eachDatabase, openTestStore } from '../support/databases.ts';
import * as client from 'openid-client';
import { getPage, passwordSignIn, postForm, sessionFor, type ConsoleSession } from '../support/console.ts';
import { CookieJar, relyingParty, tokensThroughBrowser } from '../support/oidc.ts';

const cli = { kind: 'cli' } as const;
const REDIRECT = 'https://wiki.example.com/callback';

/** Whether a console session still opens My account (a dead one is sent to the sign-in page). */
async function stillSignedIn(app: TestApp, session: ConsoleSession): Promise<boolean> {
  return (await getPage(app, '/account', session)).statusCode === 200;
}

/** An application `userId`'s browser signed in to, holding a refresh token for it. */
async function applicationSignIn(app: TestApp, userId: string, name: string) {
  const { application, secret } = await app.services.applications.create({ name, redirectUris: [REDIRECT], public: false, allowedGroups: [] }, cli);
  const config = await relyingParty(app, application.clientId, secret);
  const jar = new CookieJar();
  jar.add((await sessionFor(app, userId)).cookie);
  const tokens = await tokensThroughBrowser(app, config, jar, REDIRECT, 'openid offline_access');
  assert.ok(tokens.refresh_token, 'a refresh token to lose');
  return { config, refreshToken: tokens.refresh_token };
}

eachDatabase('My account › Password', (database) => {
  let app: TestApp;
  let password: string;
  before(async () => {
    app = await startTestApp({ database });
    password = (await app.services.administrators.resetPassword('admin', cli)).password;
  });
  after(async () => app.close());

  test('a local account sees the form; a wrong current password, a short or mismatched new one are refused with a 400 that says which field', async () => {
    const session = await sessionFor(app, app.adminId);
    const page = await getPage(app, '/account', session);
    assert.match(page.body, /<form method="post" action="\/account\/password"/);
    assert.match(page.body, /autocomplete="current-password"/);

    const wrong = await postForm(app, '/account/password', { current: 'not the password', next: 'a brand new password', repeat: 'a brand new password' }, { session });
    assert.equal(wrong.statusCode, 400);
    assert.match(wrong.body, /The current password is incorrect\./);
    const short = await postForm(app, '/account/password', { current: password, next: 'short', repeat: 'short' }, { session });
    assert.equal(short.statusCode, 400);
    assert.match(short.body, /The new password must be 12 to 1000 characters long\./);
    const differ = await postForm(app, '/account/password', { current: password, next: 'a brand new password', repeat: 'another new password' }, { session });
    assert.equal(differ.statusCode, 400);
    assert.match(differ.body, /The two new passwords differ\./);
    // Short and differing: both said at once, each beside its field.
    const both = await postForm(app, '/account/password', { current: password, next: 'short', repeat: 'shorter' }, { session });
    assert.equal(both.statusCode, 400);
    assert.match(both.body, /id="field-next-error">The new password must be 12 to 1000 characters long\.</);
    assert.match(both.body, /id="field-repeat-error">The two new passwords differ\.</);
    const noCsrf = await postForm(app, '/account/password', { current: password, next: 'a brand new password', repeat: 'a brand new password' }, { session, csrf: false });
    assert.equal(noCsrf.statusCode, 403);
  });

  // A refused new password is no guess at the current one: six of them used to lock the account
  // out of sign-in (each took a slot of the login's allowance of five).
  test('refused new passwords use none of the sign-in allowance: the account still signs in after six', async () => {
    const session = await sessionFor(app, app.adminId);
    for (let attempt = 1; attempt <= 6; attempt += 1) {
      const short = await postForm(app, '/account/password', { current: password, next: 'short', repeat: 'short' }, { session });
      assert.equal(short.statusCode, 400, `attempt ${attempt}`);
      assert.match(short.body, /The new password must be 12 to 1000 characters long\./, `attempt ${attempt}`);
      const same = await postForm(app, '/account/password', { current: password, next: password, repeat: password }, { session });
      assert.match(same.body, /The new password must differ from the current one\./, `attempt ${attempt}`);
    }
    assert.equal((await passwordSignIn(app, 'admin', password)).statusCode, 303);
  });

  test('the right current password changes it: the new one signs in, the old one no longer does, and the change is audited', async () => {
    const session = await sessionFor(app, app.adminId);
    const changed = await postForm(app, '/account/password', { current: password, next: 'a brand new password', repeat: 'a brand new password' }, { session });
    assert.equal(changed.statusCode, 303);
    assert.equal(changed.headers.location, '/account?changed=password');
    assert.match((await getPage(app, '/account?changed=password', session)).body, /Your password is changed\./);
    assert.equal((await passwordSignIn(app, 'admin', 'a brand new password')).statusCode, 303);
    assert.notEqual((await passwordSignIn(app, 'admin', password)).statusCode, 303);
    const audited = await app.services.store.db.selectFrom('audit_events').select(['action', 'actor']).where('action', 'in', ['user.password_changed', 'user.password_change_refused']).orderBy('seq').execute();
    assert.deepEqual(audited.map((row) => row.action), ['user.password_change_refused', 'user.password_changed']);
    assert.ok(audited.every((row) => row.actor === 'session:admin'), JSON.stringify(audited));
  });

  // Whoever holds the account with the old password (another browser, or an application's
  // refresh token a stolen session obtained) used to keep it after the change.
  test('a change ends the account\'s other sessions and its applications\' grants, and keeps the browser it was made from', async () => {
    const now = (await app.services.administrators.resetPassword('admin', cli)).password;
    const here = await sessionFor(app, app.adminId);
    const elsewhere = await sessionFor(app, app.adminId);
    const { config, refreshToken } = await applicationSignIn(app, app.adminId, 'Wiki');

    const changed = await postForm(app, '/account/password', { current: now, next: 'yet another new password', repeat: 'yet another new password' }, { session: here });
    assert.equal(changed.statusCode, 303);
    const page = await getPage(app, '/account?changed=password', here);
    assert.equal(page.statusCode, 200, 'the browser that changed it stays signed in');
    assert.match(page.body, /Your other sessions have ended, and so have your sign-ins to applications/);
    assert.equal(await stillSignedIn(app, elsewhere), false, 'another browser is signed out');
    await assert.rejects(client.refreshTokenGrant(config, refreshToken), (error: { error?: string }) => error.error === 'invalid_grant');
    const entry = await app.services.store.db.selectFrom('audit_events').select('details').where('action', '=', 'user.password_changed').orderBy('seq', 'desc').executeTakeFirstOrThrow();
    const details = (typeof entry.details === 'string' ? JSON.parse(entry.details) : entry.details) as { endedSessions: number };
    assert.equal(details.endedSessions, 2, 'the other browser and the application sign-in\'s browser');
    password = 'yet another new password';
  });

  test('an administrator\'s reset (roster admin reset-password) ends every session of the account and its applications\' grants', async () => {
    const session = await sessionFor(app, app.adminId);
    const { config, refreshToken } = await applicationSignIn(app, app.adminId, 'Board');
    const live = (await app.services.sessions.listOf(app.adminId)).length;
    assert.ok(live >= 2, `${live} sessions`);
    const issued = await app.services.administrators.resetPassword('admin', cli);
    assert.equal(issued.endedSessions, live);
    assert.deepEqual(await app.services.sessions.listOf(app.adminId), []);
    assert.equal(await stillSignedIn(app, session), false);
    await assert.rejects(client.refreshTokenGrant(config, refreshToken), (error: { error?: string }) => error.error === 'invalid_grant');
    password = issued.password;
  });

  test('an account the identity provider provisions has no password form, and changing its password is refused', async () => {
    assert.equal((await app.request('POST', '/Users', userBody('samuel@example.com'))).status, 201);
    const samuel = await app.services.accounts.findByLogin('samuel@example.com');
    assert.ok(samuel);
    const session = await sessionFor(app, samuel.id);
    const page = await getPage(app, '/account', session);
    assert.equal(page.statusCode, 200);
    assert.doesNotMatch(page.body, /action="\/account\/password"/);
    const refused = await postForm(app, '/account/password', { current: 'anything at all', next: 'a brand new password', repeat: 'a brand new password' }, { session });
    assert.equal(refused.statusCode, 400);
  });
});

eachDatabase('the first-start password file', (database) => {
  test('goes when admin changes the password in My account, and when it is reset', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'roster-initial-'));
    const store = await openTestStore(database);
    try {
      const services = createServices(store, { initialPasswordDirectory: directory });
      const issued = await services.administrators.ensureAdministrator();
      assert.ok(issued);
      const file = services.initialPassword?.write(issued.password) ?? '';
      assert.equal(readFileSync(file, 'utf8').trim(), issued.password);
      const admin = await services.accounts.findByLogin('admin');
      assert.ok(admin);
      const refused = await services.passwordSignIn.changePassword({ userId: admin.id, current: 'wrong', next: 'a brand new password', source: '192.0.2.1' });
      assert.equal(refused.ok, false);
      assert.ok(existsSync(file), 'a refused change keeps the file');
      const changed = await services.passwordSignIn.changePassword({ userId: admin.id, current: issued.password, next: 'a brand new password', source: '192.0.2.1' });
      assert.deepEqual(changed, { ok: true, endedSessions: 0 });
      assert.equal(existsSync(file), false);

      services.initialPassword?.write('again');
      await services.administrators.resetPassword('admin', cli);
      assert.equal(existsSync(file), false, 'admin reset-password deletes it too');
    } finally {
      await store.close();
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
