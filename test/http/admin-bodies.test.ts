/**
 * The admin API's bodies: fields it does not know are refused with a 400 that names them (never
 * silently dropped), and what a GET returns can be sent back unchanged (PATCH / PUT round trips).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eachDatabase } from '../support/databases.ts';
import { startTestApp, testCertificate, testKeyPair, userBody, type TestApp } from '../support/app.ts';

const USERS = '/api/v2/users-management/users';
const GROUPS = '/api/v2/authorizations/groups';
const MEMBERSHIPS = '/api/v2/authorizations/group-memberships';
const SAML = '/api/v2/authentication/saml';
const MANAGED = 'Operation not allowed when the instance is externally managed.';
const MERGE_PATCH = { 'content-type': 'application/merge-patch+json' };

async function auditCount(roster: TestApp): Promise<number> {
  return (await roster.request('GET', '/api/v2/audit-logs?pageSize=0')).body.page.total;
}

eachDatabase('admin API bodies: unknown fields and round trips', (database) => {
  describe('unknown fields', () => {
    let roster: TestApp;
    let userId: string;
    let groupId: string;
    before(async () => {
      roster = await startTestApp({ database, scim: false });
      userId = (await roster.request('POST', USERS, { login: 'ada', name: 'Ada', local: false })).body.id;
      groupId = (await roster.request('POST', GROUPS, { name: 'ops' })).body.id;
    });
    after(() => roster.close());

    test('every admin route that takes a body refuses an unknown field with a 400 naming it, and changes nothing', async () => {
      const before = await auditCount(roster);
      const saml = (await roster.request('GET', SAML)).body;
      const cases: Array<[string, string, Record<string, unknown>, Record<string, string>?]> = [
        ['POST', USERS, { login: 'bob', name: 'Bob', local: false, nickname: 'B' }],
        ['PATCH', `${USERS}/${userId}`, { name: 'Ada L.', nickname: 'A' }, MERGE_PATCH],
        ['POST', GROUPS, { name: 'devs', nickname: 'd' }],
        ['PATCH', `${GROUPS}/${groupId}`, { description: 'x', nickname: 'd' }, MERGE_PATCH],
        ['POST', MEMBERSHIPS, { groupId, userId, nickname: 'm' }],
        ['PUT', SAML, { ...saml, providerName: 'Changed', nickname: 's' }],
        ['POST', '/api/scim_management/enable', { nickname: 'e' }],
        ['POST', '/api/scim_management/disable', { confirm: true, nickname: 'e' }],
      ];
      for (const [method, url, body, headers] of cases) {
        const response = await roster.request(method as 'POST', url, body, headers);
        assert.equal(response.status, 400, `${method} ${url}: ${JSON.stringify(response.body)}`);
        assert.deepEqual(Object.keys(response.body), ['message'], `${method} ${url}`);
        assert.match(response.body.message, /^Unknown field\(s\): nickname\b/, `${method} ${url}`);
      }
      assert.equal(await auditCount(roster), before, 'nothing was written');
      assert.equal((await roster.request('GET', `${USERS}?q=bob`)).body.page.total, 0);
      assert.equal((await roster.request('GET', SAML)).body.providerName, saml.providerName);
      assert.equal((await roster.request('GET', '/api/scim_management/status')).body.enabled, false);
    });

    test('the message names every unknown field, says which fields the request accepts, and suggests the right case', async () => {
      const response = await roster.request('POST', USERS, { Login: 'bob', name: 'Bob', local: false, foo: 1 });
      assert.equal(response.status, 400);
      assert.equal(
        response.body.message,
        'Unknown field(s): Login (did you mean login?), foo. This request accepts: login, name, email, password, local, scmAccounts.',
      );
    });

    test('a value of the wrong type is refused with SonarQube\'s message naming the field; a password is never echoed', async () => {
      const login = await roster.request('POST', USERS, { login: 5, name: 'Five', local: false });
      assert.deepEqual([login.status, login.body], [400, { message: 'Value 5 for field login was rejected. Error: must be a string.' }]);
      const missing = await roster.request('POST', USERS, { name: 'No Login', password: 'correct horse battery' });
      assert.deepEqual(missing.body, { message: 'Value {} for field login was rejected. Error: must not be null.' });
      // An explicit null is told the same as a missing field (SonarQube's words), in POST and PATCH.
      const nullLogin = await roster.request('POST', USERS, { login: null, name: 'Null', local: false });
      assert.deepEqual([nullLogin.status, nullLogin.body], [400, { message: 'Value {} for field login was rejected. Error: must not be null.' }]);
      const nullGroupName = await roster.request('PATCH', `${GROUPS}/${groupId}`, { name: null }, MERGE_PATCH);
      assert.deepEqual([nullGroupName.status, nullGroupName.body], [400, { message: 'Value {} for field name was rejected. Error: must not be null.' }]);
      const password = await roster.request('POST', USERS, { login: 'pat', name: 'Pat', password: 'hunter2' });
      assert.equal(password.status, 400);
      assert.match(password.body.message, /field password/);
      assert.ok(!password.body.message.includes('hunter2'), password.body.message);
      const notObject = await roster.request('POST', GROUPS, '["ops"]');
      assert.deepEqual([notObject.status, notObject.body], [400, { message: 'Value ["ops"] for field body was rejected. Error: must be a JSON object.' }]);
    });

    test('query parameters are checked against the same description: a wrong type names the parameter', async () => {
      const pageSize = await roster.request('GET', `${USERS}?pageSize=abc`);
      assert.deepEqual([pageSize.status, pageSize.body], [400, { message: 'Value abc for field pageSize was rejected. Error: must be an integer.' }]);
      const tooBig = await roster.request('GET', `${USERS}?pageSize=501`);
      assert.deepEqual(tooBig.body, { message: 'Value 501 for field pageSize was rejected. Error: must be between 0 and 500.' });
      const active = await roster.request('GET', `${USERS}?active=maybe`);
      assert.deepEqual(active.body, { message: 'Value maybe for field active was rejected. Error: must be true or false.' });
      const twice = await roster.request('GET', `${GROUPS}?q=a&q=b`);
      assert.deepEqual(twice.body, { message: 'Value a,b for field q was rejected. Error: must be given once.' });
      const empty = await roster.request('GET', `${USERS}?q=&active=&pageIndex=`);
      assert.equal(empty.status, 200, 'an empty parameter is an absent one, as forms send them');
    });
  });

  describe('round trips in just-in-time mode', () => {
    let roster: TestApp;
    before(async () => {
      roster = await startTestApp({ database, scim: false });
    });
    after(() => roster.close());

    test('a user as GET returns it can be sent back as a merge patch unchanged: 200, nothing written', async () => {
      const local = (await roster.request('POST', USERS, { login: 'lena', name: 'Lena', email: 'lena@example.com', password: 'correct horse battery' })).body;
      const saml = (await roster.request('POST', USERS, { login: 'sam@example.com', name: 'Sam', local: false })).body;
      for (const user of [local, saml]) {
        const fetched = (await roster.request('GET', `${USERS}/${user.id}`)).body;
        const before = await auditCount(roster);
        const response = await roster.request('PATCH', `${USERS}/${user.id}`, fetched, MERGE_PATCH);
        assert.equal(response.status, 200, JSON.stringify(response.body));
        assert.deepEqual(response.body, fetched);
        assert.equal(await auditCount(roster), before, 'a patch that changes nothing records nothing');
      }
    });

    test('a user created by SCIM or a sign-in with a login or name the admin API would not create goes back unchanged; a change is checked', async () => {
      // One character of login and 300 of name: what an IdP may send, and the admin API refuses to create.
      const odd = await roster.services.accounts.create({ login: 'xx', name: 'X', local: false }, { kind: 'cli' });
      await roster.services.store.db.updateTable('users').set({ login: 'x', login_key: 'x', display_name: 'N'.repeat(300) }).where('id', '=', odd.id).execute();
      const fetched = (await roster.request('GET', `${USERS}/${odd.id}`)).body;
      assert.equal(fetched.login, 'x');
      const unchanged = await roster.request('PATCH', `${USERS}/${odd.id}`, fetched, MERGE_PATCH);
      assert.equal(unchanged.status, 200, JSON.stringify(unchanged.body));
      const renamed = await roster.request('PATCH', `${USERS}/${odd.id}`, { name: 'M'.repeat(201) }, MERGE_PATCH);
      assert.equal(renamed.status, 400);
      assert.match(renamed.body.message, /for field name was rejected\. Error: size must be between 1 and 200\.$/);
      const relogin = await roster.request('PATCH', `${USERS}/${odd.id}`, { login: 'y' }, MERGE_PATCH);
      assert.deepEqual([relogin.status, relogin.body.message], [400, 'Value y for field login was rejected. Error: size must be between 2 and 255.']);
      // A group named by the identity provider beyond the admin API's limit goes back too.
      const group = (await roster.request('POST', GROUPS, { name: 'long-to-be' })).body;
      await roster.services.store.db.updateTable('groups').set({ name: 'G'.repeat(600), name_key: 'g'.repeat(600) }).where('id', '=', group.id).execute();
      const fetchedGroup = (await roster.request('GET', `${GROUPS}/${group.id}`)).body;
      const sameGroup = await roster.request('PATCH', `${GROUPS}/${group.id}`, fetchedGroup, MERGE_PATCH);
      assert.equal(sameGroup.status, 200, JSON.stringify(sameGroup.body));
      const longer = await roster.request('PATCH', `${GROUPS}/${group.id}`, { name: 'H'.repeat(601) }, MERGE_PATCH);
      assert.equal(longer.status, 400);
      assert.match(longer.body.message, /for field name was rejected\. Error: size must be between 1 and \d+\.$/);
    });

    test('a GET answer with an edited field changes that field; derived fields follow it', async () => {
      const user = (await roster.request('GET', `${USERS}?q=sam@`)).body.users[0];
      const response = await roster.request('PATCH', `${USERS}/${user.id}`, { ...user, login: 'samuel@example.com', name: 'Samuel' }, MERGE_PATCH);
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.equal(response.body.login, 'samuel@example.com');
      assert.equal(response.body.externalLogin, 'samuel@example.com', 'externalLogin is the login');
      assert.equal(response.body.name, 'Samuel');
    });

    test('a read-only field sent with another value is refused, naming it; the last connection date is ignored', async () => {
      const user = (await roster.request('GET', `${USERS}?q=lena`)).body.users[0];
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ id: 'another-id' }, /^Value another-id for field id was rejected\. Error: is read-only/],
        [{ active: false }, /^Value false for field active was rejected\. Error: is read-only.*DELETE/],
        [{ local: false }, /^Value false for field local was rejected\. Error: is read-only/],
        [{ managed: true }, /^Value true for field managed was rejected\. Error: is read-only/],
        [{ externalProvider: 'saml' }, /^Value saml for field externalProvider was rejected/],
        [{ externalLogin: 'someone-else' }, /^Value someone-else for field externalLogin was rejected/],
      ];
      for (const [patch, message] of cases) {
        const response = await roster.request('PATCH', `${USERS}/${user.id}`, { ...user, ...patch }, MERGE_PATCH);
        assert.equal(response.status, 400, JSON.stringify(patch));
        assert.match(response.body.message, message);
      }
      const ignored = await roster.request('PATCH', `${USERS}/${user.id}`, { ...user, sonarQubeLastConnectionDate: '2001-01-01T00:00:00.000Z' }, MERGE_PATCH);
      assert.equal(ignored.status, 200);
      assert.equal(ignored.body.sonarQubeLastConnectionDate, null);
    });

    test('a group as GET returns it can be sent back unchanged; default and managed are read-only', async () => {
      const group = (await roster.request('POST', GROUPS, { name: 'auditors', description: 'read the logs' })).body;
      const fetched = (await roster.request('GET', `${GROUPS}/${group.id}`)).body;
      const before = await auditCount(roster);
      const same = await roster.request('PATCH', `${GROUPS}/${group.id}`, fetched, MERGE_PATCH);
      assert.deepEqual([same.status, same.body], [200, fetched]);
      assert.equal(await auditCount(roster), before);
      const renamed = await roster.request('PATCH', `${GROUPS}/${group.id}`, { ...fetched, name: 'log-readers' }, MERGE_PATCH);
      assert.equal(renamed.body.name, 'log-readers');
      const defaultGroup = await roster.request('PATCH', `${GROUPS}/${group.id}`, { ...fetched, default: true }, MERGE_PATCH);
      assert.equal(defaultGroup.status, 400);
      assert.match(defaultGroup.body.message, /^Value true for field default was rejected/);
      const managed = await roster.request('PATCH', `${GROUPS}/${group.id}`, { managed: true }, MERGE_PATCH);
      assert.match(managed.body.message, /^Value true for field managed was rejected/);
      const otherId = await roster.request('PATCH', `${GROUPS}/${group.id}`, { id: 'x' }, MERGE_PATCH);
      assert.match(otherId.body.message, /^Value x for field id was rejected/);
    });
  });

  describe('round trips while SCIM is on', () => {
    let roster: TestApp;
    before(async () => {
      roster = await startTestApp({ database, scim: false });
      await roster.request('POST', USERS, { login: 'lou', name: 'Lou', local: false });
      await roster.request('POST', GROUPS, { name: 'local-team' });
      await roster.services.provisioning.enable({ kind: 'cli' });
      assert.equal((await roster.request('POST', '/Users', userBody('mia@example.com', { displayName: 'Mia' }))).status, 201);
      assert.equal((await roster.request('POST', '/Users', userBody('nameless@example.com'))).status, 201);
    });
    after(() => roster.close());

    test('a local user sent back unchanged is accepted: its login is not a change', async () => {
      const user = (await roster.request('GET', `${USERS}?q=lou`)).body.users[0];
      const same = await roster.request('PATCH', `${USERS}/${user.id}`, user, MERGE_PATCH);
      assert.deepEqual([same.status, same.body], [200, user]);
      const renamed = await roster.request('PATCH', `${USERS}/${user.id}`, { ...user, name: 'Lou Local' }, MERGE_PATCH);
      assert.equal(renamed.status, 200);
      const relogin = await roster.request('PATCH', `${USERS}/${user.id}`, { ...user, login: 'lou2' }, MERGE_PATCH);
      assert.deepEqual([relogin.status, relogin.body], [400, { message: MANAGED }]);
    });

    test('a managed user or a group sent back unchanged is accepted; any change is refused as before', async () => {
      const mia = (await roster.request('GET', `${USERS}?q=mia`)).body.users[0];
      assert.equal(mia.managed, true);
      assert.deepEqual((await roster.request('PATCH', `${USERS}/${mia.id}`, mia, MERGE_PATCH)).body, mia);
      const changed = await roster.request('PATCH', `${USERS}/${mia.id}`, { ...mia, name: 'Renamed' }, MERGE_PATCH);
      assert.deepEqual([changed.status, changed.body], [400, { message: MANAGED }]);
      const nameless = (await roster.request('GET', `${USERS}?q=nameless`)).body.users[0];
      assert.equal(nameless.name, null);
      assert.deepEqual((await roster.request('PATCH', `${USERS}/${nameless.id}`, nameless, MERGE_PATCH)).body, nameless, 'a null name sent back is no change');
      const group = (await roster.request('GET', `${GROUPS}?q=local-team`)).body.groups[0];
      assert.deepEqual((await roster.request('PATCH', `${GROUPS}/${group.id}`, group, MERGE_PATCH)).body, group);
      const renamed = await roster.request('PATCH', `${GROUPS}/${group.id}`, { ...group, name: 'x' }, MERGE_PATCH);
      assert.deepEqual([renamed.status, renamed.body], [400, { message: MANAGED }]);
    });
  });

  describe('SAML settings', () => {
    let roster: TestApp;
    before(async () => {
      roster = await startTestApp({ database });
    });
    after(() => roster.close());

    test('the settings as GET returns them can be PUT back unchanged, and so can the PUT answer', async () => {
      const sp = testKeyPair('roster-sp');
      const configured = await roster.request('PUT', SAML, {
        ...(await roster.request('GET', SAML)).body,
        certificateDetails: undefined,
        spCertificate: sp.certificate,
        spPrivateKey: sp.privateKey,
        signRequests: true,
      });
      assert.equal(configured.status, 200, JSON.stringify(configured.body));
      const fetched = (await roster.request('GET', SAML)).body;
      assert.equal(fetched.spPrivateKeyConfigured, true);
      const back = await roster.request('PUT', SAML, fetched);
      assert.equal(back.status, 200, JSON.stringify(back.body));
      const { warnings, ...view } = back.body;
      assert.deepEqual(view, fetched, 'nothing changed, the SP key included');
      assert.deepEqual(warnings, []);
      const again = await roster.request('PUT', SAML, back.body);
      assert.equal(again.status, 200, JSON.stringify(again.body));
      assert.equal((await roster.request('GET', SAML)).body.spPrivateKeyConfigured, true);
    });

    test('certificate and certificates with different certificates are refused, naming both; the same ones are accepted', async () => {
      const fetched = (await roster.request('GET', SAML)).body;
      const other = testKeyPair('rotated-idp').certificate;
      const conflict = await roster.request('PUT', SAML, { ...fetched, certificate: other });
      assert.equal(conflict.status, 400);
      assert.match(conflict.body.message, /\bcertificate\b.*\bcertificates\b/);
      assert.deepEqual((await roster.request('GET', SAML)).body.certificates, fetched.certificates, 'the old certificate is still the one');
      const same = await roster.request('PUT', SAML, { ...fetched, certificate: fetched.certificates.join('\n') });
      assert.equal(same.status, 200, JSON.stringify(same.body));
      const rotated = await roster.request('PUT', SAML, { ...fetched, certificates: undefined, certificate: other });
      assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
      assert.equal(rotated.body.certificateDetails[0].subject, 'CN=rotated-idp');
      await roster.request('PUT', SAML, { ...fetched, certificate: undefined, certificates: [testCertificate()] });
    });

    test('read-only SAML fields with another value are refused, naming them', async () => {
      const fetched = (await roster.request('GET', SAML)).body;
      const entity = await roster.request('PUT', SAML, { ...fetched, serviceProvider: { ...fetched.serviceProvider, entityId: 'https://elsewhere.example' } });
      assert.equal(entity.status, 400);
      assert.match(entity.body.message, /field serviceProvider was rejected.*applicationId/);
      const key = await roster.request('PUT', SAML, { ...fetched, spPrivateKeyConfigured: false });
      assert.equal(key.status, 400);
      assert.match(key.body.message, /field spPrivateKeyConfigured was rejected.*spPrivateKey/);
      const renamedEntity = await roster.request('PUT', SAML, { ...fetched, applicationId: 'roster-app', serviceProvider: { ...fetched.serviceProvider, entityId: 'roster-app' } });
      assert.equal(renamedEntity.status, 200, JSON.stringify(renamedEntity.body));
    });
  });
});

eachDatabase('admin API refusals say what is refused, once, and the API way to proceed', (database) => {
  let roster: TestApp;
  before(async () => {
    roster = await startTestApp({ database, scim: false, saml: false });
  });
  after(() => roster.close());

  test('a blank group name is refused as blank, not as too short', async () => {
    for (const name of ['  ', '\t']) {
      const response = await roster.request('POST', GROUPS, { name });
      assert.equal(response.status, 400);
      assert.match(response.body.message, /for field name was rejected\. Error: must not be blank\.$/);
    }
  });

  test('a blank user name is refused as blank, on create and on update, and nothing is stored', async () => {
    const created = await roster.request('POST', USERS, { login: 'blank-name', name: '   ', password: 'a long local password' });
    assert.equal(created.status, 400, JSON.stringify(created.body));
    assert.match(created.body.message, /for field name was rejected\. Error: must not be blank\.$/);
    assert.equal(await roster.services.accounts.findByLogin('blank-name'), undefined);
    const made = await roster.request('POST', USERS, { login: 'named', name: 'Named', password: 'a long local password' });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    const patched = await roster.request('PATCH', `${USERS}/${made.body.id}`, { name: '\t ' });
    assert.equal(patched.status, 400);
    assert.match(patched.body.message, /must not be blank/);
    assert.equal((await roster.services.accounts.findByLogin('named'))?.displayName, 'Named');
  });

  test('a route that takes a body answers a request without one as one of another type: 415, saying what to send', async () => {
    const group = (await roster.request('POST', GROUPS, { name: 'no-body' })).body;
    const user = (await roster.request('POST', USERS, { login: 'no-body', name: 'No Body', local: false })).body;
    const before = await auditCount(roster);
    const asText = await roster.request('POST', GROUPS, '{"name":"x"}', { 'content-type': 'text/plain' });
    assert.deepEqual([asText.status, asText.body], [415, { message: 'Send request bodies as application/json (PATCH: application/merge-patch+json).' }]);
    const cases: Array<[string, string, Record<string, string>, string?]> = [
      ['POST', GROUPS, {}],
      ['POST', GROUPS, { 'content-type': 'application/json' }],
      ['POST', GROUPS, { 'content-type': 'application/json' }, '  '],
      ['POST', USERS, {}],
      ['PATCH', `${USERS}/${user.id}`, MERGE_PATCH],
      ['PATCH', `${GROUPS}/${group.id}`, {}],
      ['POST', MEMBERSHIPS, { 'content-type': 'application/json' }],
      ['PUT', SAML, {}],
    ];
    for (const [method, url, headers, payload] of cases) {
      const response = await roster.request(method as 'POST', url, payload, headers);
      assert.deepEqual([response.status, response.body], [415, asText.body], `${method} ${url} ${JSON.stringify(headers)}`);
    }
    assert.equal(await auditCount(roster), before, 'nothing was written');
    // A route that takes no body (or an optional one) still takes none.
    const disable = await roster.request('POST', '/api/scim_management/disable?confirm=true', undefined);
    assert.equal(disable.status, 204, JSON.stringify(disable.body));
    const unconfirmed = await roster.request('POST', '/api/scim_management/disable', undefined, { 'content-type': 'application/json' });
    assert.equal(unconfirmed.status, 400);
    assert.doesNotMatch(unconfirmed.body.message, /Send request bodies/);
  });

  test('a body with a __proto__ key is refused for that key; a malformed body names the JSON error once', async () => {
    const proto = await roster.request('POST', GROUPS, '{"name":"ops","__proto__":{"admin":true}}', { 'content-type': 'application/json' });
    assert.equal(proto.status, 400);
    assert.equal(proto.body.message, 'The request body has a "__proto__" key, which Roster refuses: no field of its APIs has that name.');
    const nested = await roster.request('PATCH', `${GROUPS}/x`, '{"description":{"__proto__":1}}', MERGE_PATCH);
    assert.equal(nested.status, 400);
    assert.match(nested.body.message, /"__proto__" key/);
    // Spelt with JSON escapes, it is the same key once parsed.
    const escaped = await roster.request('POST', GROUPS, '{"name":"ops","\\u005f_proto__":{"admin":true}}', { 'content-type': 'application/json' });
    assert.equal(escaped.status, 400);
    assert.match(escaped.body.message, /"__proto__" key/);
    const broken = await roster.request('POST', GROUPS, '{"name":', { 'content-type': 'application/json' });
    assert.equal(broken.status, 400);
    assert.match(broken.body.message, /^The request body is not valid JSON \([^)]+\)\.$/);
    assert.doesNotMatch(broken.body.message, /content-type is set/);
  });

  test('SCIM before SAML names the admin API\'s way to configure SAML; a schema declared twice names the API\'s DELETE', async () => {
    const enable = await roster.request('POST', '/api/scim_management/enable', undefined);
    assert.equal(enable.status, 400);
    assert.match(enable.body.message, /PUT \/api\/v2\/authentication\/saml \(admin API\)/);
    const urn = 'urn:example:params:scim:schemas:extension:twice:2.0:User';
    const schema = { id: urn, name: 'Twice', extends: 'User', attributes: [{ name: 'badge', type: 'string' }] };
    assert.equal((await roster.request('POST', '/api/v2/scim-schemas', schema, { 'content-type': 'application/json' })).status, 201);
    const again = await roster.request('POST', '/api/v2/scim-schemas', schema, { 'content-type': 'application/json' });
    assert.equal(again.status, 400);
    assert.match(again.body.message, new RegExp(`remove it first to change it \\(admin API: DELETE /api/v2/scim-schemas/${urn}; CLI: roster schemas remove ${urn}\\)`));
  });
});
