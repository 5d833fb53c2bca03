/**
 * A login that begins or ends with white space can never sign in: SAML sign-in trims the login
 * the identity provider sends, and the stored one is matched as it is. SCIM refuses such a
 * userName with the admin API's own words, and the sign-in check names one stored before.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestApp, userBody, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { caseKey } from '../../src/text.ts';

const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const RULE = /must not begin or end with white space \(SAML sign-in trims the login the identity provider sends, so this user could never sign in\)/;

eachDatabase('logins with surrounding white space', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database });
  });
  after(() => app.close());

  test('SCIM POST, PUT and PATCH refuse a userName that begins or ends with white space: 400 invalidValue, nothing stored', async () => {
    const created = await app.request('POST', '/Users', userBody('  yann@example.com '));
    assert.equal(created.status, 400, JSON.stringify(created.body));
    assert.equal(created.body.scimType, 'invalidValue');
    assert.match(created.body.detail, RULE);
    const found = await app.request('GET', `/Users?filter=${encodeURIComponent('userName eq "yann@example.com"')}`);
    assert.equal(found.body.totalResults, 0);

    const yann = await app.request('POST', '/Users', userBody('yann@example.com'));
    assert.equal(yann.status, 201);
    const replaced = await app.request('PUT', `/Users/${yann.body.id}`, userBody('yann@example.com\t'));
    assert.equal(replaced.status, 400);
    assert.equal(replaced.body.scimType, 'invalidValue');
    assert.match(replaced.body.detail, RULE);
    const patched = await app.request('PATCH', `/Users/${yann.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'userName', value: ' yann@example.com' }] });
    assert.equal(patched.status, 400);
    assert.match(patched.body.detail, RULE);
    assert.equal((await app.request('GET', `/Users/${yann.body.id}`)).body.userName, 'yann@example.com');
    // Inner spaces are another matter: sign-in keeps them, so such a userName can sign in.
    assert.equal((await app.request('POST', '/Users', userBody('Yann Inner'))).status, 201);
  });

  test('SCIM POST, PUT and PATCH refuse a userName with a control character (tab, newline, escape, C1): 400 invalidValue, nothing stored; inner spaces stay allowed', async () => {
    for (const userName of ['tab\tuser@example.com', 'two\nlines@example.com', 'esc\u001b[31m@example.com', 'c1\u0085@example.com']) {
      const created = await app.request('POST', '/Users', userBody(userName));
      assert.equal(created.status, 400, JSON.stringify(created.body));
      assert.equal(created.body.scimType, 'invalidValue');
      assert.match(created.body.detail, /must not contain control characters \(a tab, a newline, an escape\)/);
    }
    const kim = await app.request('POST', '/Users', userBody('kim@example.com'));
    assert.equal(kim.status, 201);
    const replaced = await app.request('PUT', `/Users/${kim.body.id}`, userBody('kim\t@example.com'));
    assert.equal(replaced.status, 400);
    const patched = await app.request('PATCH', `/Users/${kim.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'userName', value: 'kim\r\n@example.com' }] });
    assert.equal(patched.status, 400);
    assert.equal((await app.request('GET', `/Users/${kim.body.id}`)).body.userName, 'kim@example.com');
    const found = await app.request('GET', `/Users?filter=${encodeURIComponent('userName sw "tab"')}`);
    assert.equal(found.body.totalResults, 0);
  });

  test('the sign-in check reports a login stored with surrounding white space before the rule', async () => {
    const zoe = await app.request('POST', '/Users', userBody('zoe@example.com'));
    const login = ' zoe@example.com ';
    await app.services.store.db.updateTable('users').set({ login, login_key: caseKey(login) }).where('login', '=', 'zoe@example.com').execute();
    const check = await app.request('GET', `/api/v2/users-management/users/${zoe.body.id}/sign-in-check`);
    assert.equal(check.status, 200);
    assert.equal(check.body.canSignIn, false);
    assert.deepEqual(check.body.problems.map((p: { code: string }) => p.code), ['login_white_space']);
    assert.match(check.body.problems[0].message, /begins or ends with white space/);
    // A PATCH that leaves the stored login alone still goes through: the IdP can fix the rest.
    const renamed = await app.request('PATCH', `/Users/${zoe.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'Zoé' }] });
    assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
  });
});

eachDatabase('admin API logins with surrounding white space', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database, scim: false });
  });
  after(() => app.close());

  test('the admin API refuses them with the same words as SCIM', async () => {
    const response = await app.request('POST', '/api/v2/users-management/users', { login: ' yann@example.com', name: 'Yann' });
    assert.equal(response.status, 400, JSON.stringify(response.body));
    assert.match(JSON.stringify(response.body), RULE);
  });
});
