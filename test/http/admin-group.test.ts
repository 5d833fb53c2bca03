/**
 * Administrators through a group (issue 9): the members of ROSTER_ADMIN_GROUP are
 * administrators besides users flagged admin, decided afresh on every request for tokens and
 * sessions alike; an inactive user is no administrator whatever its memberships.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createServices } from '../../src/services.ts';
import { buildApp } from '../../src/http/app.ts';
import { csrfTokenFor } from '../../src/http/csrf.ts';
import { BASE_URL, groupBody, startTestApp, userBody, type TestApp, SESSION_COOKIE } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';

const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

eachDatabase('administrators through a group', (database) => {
  let roster: TestApp;
  let carolScimId = '';
  let carolId = '';
  let carolToken = '';
  let adminsGroupId = '';

  before(async () => {
    roster = await startTestApp({ database });
    const carol = await roster.request('POST', '/Users', userBody('carol@example.com'));
    assert.equal(carol.status, 201);
    carolScimId = carol.body.id;
    carolId = (await roster.services.accounts.findByLogin('carol@example.com'))?.id ?? '';
    carolToken = await roster.tokenFor(carolId, 'carol-script');
    const group = await roster.request('POST', '/Groups', groupBody('roster-administrators'));
    assert.equal(group.status, 201);
    adminsGroupId = group.body.id;
  });
  after(() => roster.close());

  /** Sends a request with Carol's token. */
  function asCarol(method: 'GET' | 'POST', url: string) {
    return roster.app.inject({ method, url, headers: { authorization: `Bearer ${carolToken}` } });
  }

  async function patchMembers(op: 'add' | 'remove'): Promise<void> {
    const body =
      op === 'add'
        ? { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: carolScimId }] }] }
        : { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: `members[value eq "${carolScimId}"]` }] };
    assert.equal((await roster.request('PATCH', `/Groups/${adminsGroupId}`, body)).status, 204);
  }

  test('a token of a user outside the administrators\' group is refused with 403', async () => {
    assert.equal((await asCarol('GET', '/api/scim/v2/Users')).statusCode, 403);
    assert.equal((await asCarol('GET', '/api/v2/users-management/users')).statusCode, 403);
    assert.equal(await roster.services.access.isAdministrator(carolId), false);
  });

  test('added to roster-administrators through SCIM, the user\'s token calls SCIM and the admin API at once', async () => {
    await patchMembers('add');
    assert.equal((await asCarol('GET', '/api/scim/v2/Users')).statusCode, 200);
    assert.equal((await asCarol('GET', '/api/v2/users-management/users')).statusCode, 200);
    assert.equal(await roster.services.access.isAdministrator(carolId), true);
  });

  test('removed from the group, the same token is refused with 403 on the next request', async () => {
    await patchMembers('remove');
    assert.equal((await asCarol('GET', '/api/scim/v2/Users')).statusCode, 403);
    assert.equal((await asCarol('GET', '/api/v2/users-management/users')).statusCode, 403);
  });

  test('deactivated by SCIM (active=false), a member keeps its membership but is no administrator', async () => {
    await patchMembers('add');
    const off = await roster.request('PATCH', `/Users/${carolScimId}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] });
    assert.equal(off.status, 200);
    const group = await roster.request('GET', `/Groups/${adminsGroupId}`);
    assert.deepEqual(group.body.members.map((member: { value: string }) => member.value), [carolScimId], 'SCIM suspension keeps the membership');
    assert.equal(await roster.services.access.isAdministrator(carolId), false);
    // Tokens of a deactivated user are not valid at all (401), admin group or not.
    assert.equal((await asCarol('GET', '/api/scim/v2/Users')).statusCode, 401);
    const on = await roster.request('PATCH', `/Users/${carolScimId}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: true }] });
    assert.equal(on.status, 200);
    assert.equal(await roster.services.access.isAdministrator(carolId), true, 'reactivated, the kept membership counts again');
    // The deactivation revoked Carol's token for good; she gets a new one.
    carolToken = await roster.tokenFor(carolId, 'carol-script-2');
    assert.equal((await asCarol('GET', '/api/scim/v2/Users')).statusCode, 200);
  });

  test('an administrator\'s browser session follows the same rule, and ends when the rights change (session-rights.test.ts)', async () => {
    const signIn = async () => `${SESSION_COOKIE}=${(await roster.services.sessions.open(carolId)).value}`;
    const read = (cookie: string) => roster.app.inject({ method: 'GET', url: '/api/v2/authentication/saml', headers: { cookie } });
    const administrator = await signIn();
    assert.equal((await read(administrator)).statusCode, 200);
    await patchMembers('remove');
    assert.equal((await read(administrator)).statusCode, 401, 'the session issued to an administrator ended');
    const user = await signIn();
    assert.equal((await read(user)).statusCode, 403);
    await patchMembers('add');
    assert.equal((await read(user)).statusCode, 401, 'the session issued to a user ended');
    assert.equal((await read(await signIn())).statusCode, 200);
  });

  test('the group is matched by name regardless of case, and renaming it away takes the rights away', async () => {
    const rename = (displayName: string) =>
      roster.request('PATCH', `/Groups/${adminsGroupId}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: displayName }] });
    assert.equal((await rename('Roster-Administrators')).status, 204);
    assert.equal((await asCarol('GET', '/api/scim/v2/Users')).statusCode, 200);
    assert.equal((await rename('former-administrators')).status, 204);
    assert.equal((await asCarol('GET', '/api/scim/v2/Users')).statusCode, 403);
    assert.equal((await rename('roster-administrators')).status, 204);
  });

  test('ROSTER_ADMIN_GROUP names another group: only its members are administrators', async () => {
    const services = createServices(roster.services.store, { baseUrl: BASE_URL, adminGroup: 'IdP Admins' });
    const app = await buildApp({ services, baseUrl: BASE_URL });
    try {
      const call = () => app.inject({ method: 'GET', url: '/api/v2/users-management/users', headers: { authorization: `Bearer ${carolToken}` } });
      assert.equal((await call()).statusCode, 403, 'roster-administrators means nothing now');
      const group = await roster.request('POST', '/Groups', groupBody('idp admins', [carolScimId]));
      assert.equal(group.status, 201);
      assert.equal((await call()).statusCode, 200);
      // Matched by case key, as group names are unique: the same on both databases for all of Unicode.
      const unicode = createServices(roster.services.store, { baseUrl: BASE_URL, adminGroup: 'Straße-Admins' });
      assert.equal(await unicode.access.isAdministrator(carolId), false);
      assert.equal((await roster.request('POST', '/Groups', groupBody('STRASSE-ADMINS', [carolScimId]))).status, 201);
      assert.equal(await unicode.access.isAdministrator(carolId), true);
      // The flagged administrator stays one whatever the group.
      assert.equal((await app.inject({ method: 'GET', url: '/api/v2/users-management/users', headers: { authorization: `Bearer ${roster.token}` } })).statusCode, 200);
    } finally {
      await app.close();
    }
  });
});

eachDatabase('CSRF on cookie-authenticated API calls', (database) => {
  let roster: TestApp;
  let cookie = '';
  let csrf = '';

  before(async () => {
    roster = await startTestApp({ database, scim: false });
    const session = await roster.services.sessions.open(roster.adminId);
    cookie = `${SESSION_COOKIE}=${session.value}`;
    csrf = csrfTokenFor(session.value);
  });
  after(() => roster.close());

  test('an administrator\'s session may read the admin API without a token', async () => {
    const response = await roster.app.inject({ method: 'GET', url: '/api/v2/users-management/users', headers: { cookie } });
    assert.equal(response.statusCode, 200);
  });

  test('a change made with the session cookie but without X-CSRF-Token is refused with 403 and changes nothing', async () => {
    const create = await roster.app.inject({
      method: 'POST',
      url: '/api/v2/users-management/users',
      headers: { cookie, 'content-type': 'application/json' },
      payload: JSON.stringify({ login: 'mallory', name: 'Mallory', local: false }),
    });
    assert.equal(create.statusCode, 403);
    assert.match(create.json().message, /CSRF/);
    assert.equal(await roster.services.accounts.findByLogin('mallory'), undefined);
    const wrong = await roster.app.inject({
      method: 'PUT',
      url: '/api/v2/authentication/saml',
      headers: { cookie, 'content-type': 'application/json', 'x-csrf-token': csrfTokenFor('x'.repeat(43)) },
      payload: JSON.stringify({ providerId: 'https://evil.example.com', loginUrl: 'https://evil.example.com/sso', certificate: '' }),
    });
    assert.equal(wrong.statusCode, 403);
  });

  test('the same change with the session\'s X-CSRF-Token goes through', async () => {
    const create = await roster.app.inject({
      method: 'POST',
      url: '/api/v2/users-management/users',
      headers: { cookie, 'content-type': 'application/json', 'x-csrf-token': csrf },
      payload: JSON.stringify({ login: 'mallory', name: 'Mallory', local: false }),
    });
    assert.equal(create.statusCode, 200, create.body);
  });

  test('a bearer token needs no CSRF token: it is not sent by browsers on their own', async () => {
    const response = await roster.request('POST', '/api/v2/users-management/users', { login: 'trent', name: 'Trent', local: false }, { 'content-type': 'application/json' });
    assert.equal(response.status, 200);
  });
});
