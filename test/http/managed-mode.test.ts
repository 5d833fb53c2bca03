import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eachDatabase } from '../support/databases.ts';
import { BASE_URL, groupBody, startTestApp, userBody, type TestApp } from '../support/app.ts';

const USERS = '/api/v2/users-management/users';
const GROUPS = '/api/v2/authorizations/groups';
const MEMBERSHIPS = '/api/v2/authorizations/group-memberships';
const MANAGED = 'Operation not allowed when the instance is externally managed.';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const MERGE_PATCH = { 'content-type': 'application/merge-patch+json' };

/** The admin API's view of the user with this login. */
async function byLogin(roster: TestApp, login: string): Promise<Record<string, any>> {
  const found = (await roster.request('GET', `${USERS}?q=${encodeURIComponent(login)}`)).body.users.find((u: { login: string }) => u.login === login);
  assert.ok(found, `no user ${login}`);
  return found;
}

async function addSession(roster: TestApp, userId: string, id: string): Promise<void> {
  const now = new Date().toISOString();
  await roster.services.store.db.insertInto('sessions').values({ id, user_id: userId, created_at: now, last_seen_at: now, expires_at: now }).execute();
}

async function sessionsOf(roster: TestApp, userId: string): Promise<number> {
  return (await roster.services.store.db.selectFrom('sessions').select('id').where('user_id', '=', userId).execute()).length;
}

eachDatabase('managed mode: SCIM and the admin API together', (database) => {
  describe('groups and memberships while SCIM is on', () => {
    let roster: TestApp;
    let localGroup: string;
    let localUser: string;
    before(async () => {
      roster = await startTestApp({ database, scim: false });
      localGroup = (await roster.request('POST', GROUPS, { name: 'local-team', description: 'by hand' })).body.id;
      localUser = (await roster.request('POST', USERS, { login: 'lou', name: 'Lou', local: false })).body.id;
      assert.equal((await roster.request('POST', MEMBERSHIPS, { groupId: localGroup, userId: localUser })).status, 201);
      await roster.services.provisioning.enable({ kind: 'cli' });
    });
    after(async () => {
      await roster.close();
    });

    test('creating or updating groups and changing members are refused; reads work', async () => {
      const create = await roster.request('POST', GROUPS, { name: 'new' });
      assert.equal(create.status, 400);
      assert.deepEqual(create.body, { message: MANAGED });
      const update = await roster.request('PATCH', `${GROUPS}/${localGroup}`, { description: 'x' }, MERGE_PATCH);
      assert.deepEqual([update.status, update.body], [400, { message: MANAGED }]);
      const add = await roster.request('POST', MEMBERSHIPS, { groupId: localGroup, userId: roster.adminId });
      assert.deepEqual([add.status, add.body], [400, { message: MANAGED }]);
      const listed = await roster.request('GET', `${MEMBERSHIPS}?groupId=${localGroup}`);
      assert.equal(listed.body.page.total, 1);
      const remove = await roster.request('DELETE', `${MEMBERSHIPS}/${listed.body.groupMemberships[0].id}`);
      assert.deepEqual([remove.status, remove.body], [400, { message: MANAGED }]);
      const groups = await roster.request('GET', `${GROUPS}?userId=${localUser}`);
      assert.deepEqual(groups.body.groups, [{ id: localGroup, name: 'local-team', description: 'by hand', managed: false, default: false }]);
    });

    test('a SCIM group create takes over the local group of the same name, which then cannot be deleted', async () => {
      const scim = await roster.request('POST', '/Groups', groupBody('Local-Team'));
      assert.equal(scim.status, 201);
      const group = await roster.request('GET', `${GROUPS}/${localGroup}`);
      assert.equal(group.body.managed, true);
      assert.equal(group.body.name, 'Local-Team');
      assert.notEqual(scim.body.id, localGroup, 'the SCIM id is not the internal id');
      const managed = await roster.request('GET', `${GROUPS}?managed=true`);
      assert.equal(managed.body.page.total, 1);
      const refused = await roster.request('DELETE', `${GROUPS}/${localGroup}`);
      assert.deepEqual([refused.status, refused.body], [400, { message: MANAGED }]);
      // The IdP's member list (none) replaced the local one (lou): the trail says so.
      const trail = (await roster.request('GET', `/api/v2/audit-logs?targetId=${localGroup}&sort=seq`)).body.auditLogs;
      const linked = trail.filter((entry: any) => entry.action === 'group.linked' || entry.action === 'group.members_changed');
      assert.deepEqual(linked.map((entry: any) => entry.action), ['group.linked', 'group.members_changed']);
      assert.equal(linked[0].details.membersAdded, undefined);
      assert.deepEqual(linked[1].details, { scimId: scim.body.id, added: 0, removed: 1, addedIds: [], removedIds: [], replacedWith: [] });
    });

    test('a local group may still be deleted', async () => {
      await roster.services.provisioning.disable({ kind: 'cli' });
      const other = (await roster.request('POST', GROUPS, { name: 'short-lived' })).body.id;
      await roster.services.provisioning.enable({ kind: 'cli' });
      assert.equal((await roster.request('DELETE', `${GROUPS}/${other}`)).status, 204);
      assert.equal((await roster.request('GET', `${GROUPS}/${other}`)).status, 404);
    });
  });

  describe('deactivation and reactivation through SCIM', () => {
    let roster: TestApp;
    before(async () => {
      roster = await startTestApp({ database });
    });
    after(async () => {
      await roster.close();
    });

    test('active=false ends tokens and sessions but keeps memberships, which count for nothing until active=true', async () => {
      const scimUser = (await roster.request('POST', '/Users', userBody('pat@example.com'))).body;
      const group = (await roster.request('POST', '/Groups', groupBody('Engineers', [scimUser.id]))).body;
      const user = await byLogin(roster, 'pat@example.com');
      const groupId = (await roster.request('GET', `${GROUPS}?q=engineers`)).body.groups[0].id;
      const token = await roster.tokenFor(user.id, 'pat-token');
      await addSession(roster, user.id, 'pat-session');
      const groupVersion = (await roster.request('GET', `/Groups/${group.id}`)).headers.etag;

      const patched = await roster.request('PATCH', `/Users/${scimUser.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] });
      assert.equal(patched.status, 200);
      assert.equal(patched.body.active, false);
      // The IdP still sees the membership it set, so it has nothing to re-send or fight over.
      assert.deepEqual(patched.body.groups, [{ value: group.id, $ref: `${BASE_URL}/api/scim/v2/Groups/${group.id}`, display: 'Engineers', type: 'direct' }]);
      const read = await roster.request('GET', `/Groups/${group.id}`);
      assert.deepEqual(read.body.members, [{ value: scimUser.id, $ref: `${BASE_URL}/api/scim/v2/Users/${scimUser.id}`, display: 'pat@example.com', type: 'User' }]);
      assert.equal(read.headers.etag, groupVersion, 'the group did not change');
      const listed = await roster.request('GET', `${MEMBERSHIPS}?userId=${user.id}`);
      assert.deepEqual(listed.body.groupMemberships.map((m: { groupId: string }) => m.groupId), [groupId]);
      // ... and stays the IdP's: the admin API may not remove it.
      const remove = await roster.request('DELETE', `${MEMBERSHIPS}/${listed.body.groupMemberships[0].id}`);
      assert.deepEqual([remove.status, remove.body], [400, { message: MANAGED }]);
      assert.deepEqual(await roster.services.access.groupsOf(user.id), []);
      assert.equal(await roster.services.tokens.verify(token), undefined);
      assert.equal(await sessionsOf(roster, user.id), 0);

      const event = await roster.request('GET', `/api/v2/audit-logs?targetType=user&targetId=${user.id}&pageSize=1`);
      assert.equal(event.body.auditLogs[0].action, 'user.deactivated');
      assert.equal(event.body.auditLogs[0].actor, 'token:test-idp');
      assert.equal(event.body.auditLogs[0].actorUser, 'admin');
      const { memberships, keptGroups, removedFromGroups, revokedTokens, deletedSessions } = event.body.auditLogs[0].details;
      assert.deepEqual({ memberships, keptGroups, removedFromGroups, revokedTokens: revokedTokens.length, deletedSessions }, {
        memberships: 'kept',
        keptGroups: [groupId],
        removedFromGroups: undefined,
        revokedTokens: 1,
        deletedSessions: 1,
      });

      const put = await roster.request('PUT', `/Users/${scimUser.id}`, userBody('pat@example.com', { active: true }));
      assert.equal(put.body.active, true);
      assert.deepEqual((await roster.services.access.groupsOf(user.id)).map((g) => g.name), ['Engineers']);
      assert.equal(await roster.services.tokens.verify(token), undefined, 'revoked tokens stay revoked');
      const reactivated = await roster.request('GET', `/api/v2/audit-logs?targetType=user&targetId=${user.id}&pageSize=1`);
      assert.equal(reactivated.body.auditLogs[0].action, 'user.reactivated');
      assert.deepEqual([reactivated.body.auditLogs[0].details.memberships, reactivated.body.auditLogs[0].details.keptGroups], ['kept', [groupId]]);
    });

    test('SCIM DELETE removes memberships too, even those kept by an earlier active=false', async () => {
      const scimUser = (await roster.request('POST', '/Users', userBody('rory@example.com'))).body;
      const group = (await roster.request('POST', '/Groups', groupBody('Reviewers', [scimUser.id]))).body;
      const user = await byLogin(roster, 'rory@example.com');
      const groupId = (await roster.request('GET', `${GROUPS}?q=reviewers`)).body.groups[0].id;
      const groupVersion = (await roster.request('GET', `/Groups/${group.id}`)).headers.etag;
      await roster.request('PATCH', `/Users/${scimUser.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] });
      assert.equal((await roster.request('GET', `${MEMBERSHIPS}?userId=${user.id}`)).body.page.total, 1);

      assert.equal((await roster.request('DELETE', `/Users/${scimUser.id}`)).status, 204);
      assert.equal((await roster.request('GET', `${MEMBERSHIPS}?userId=${user.id}`)).body.page.total, 0);
      const read = await roster.request('GET', `/Groups/${group.id}`);
      assert.equal(read.body.members, undefined);
      assert.notEqual(read.headers.etag, groupVersion, 'the group version changes with its members');
      const event = await roster.request('GET', `/api/v2/audit-logs?targetType=user&targetId=${user.id}&pageSize=1`);
      assert.equal(event.body.auditLogs[0].action, 'user.deleted');
      assert.deepEqual([event.body.auditLogs[0].details.memberships, event.body.auditLogs[0].details.removedFromGroups], ['removed', [groupId]]);
    });

    test('SCIM DELETE deactivates and unlinks: SCIM says 404, the admin API shows the user deactivated', async () => {
      const scimUser = (await roster.request('POST', '/Users', userBody('quinn@example.com'))).body;
      const user = await byLogin(roster, 'quinn@example.com');
      const token = await roster.tokenFor(user.id, 'quinn-token');
      await addSession(roster, user.id, 'quinn-session');
      assert.equal((await roster.request('DELETE', `/Users/${scimUser.id}`)).status, 204);
      assert.equal((await roster.request('GET', `/Users/${scimUser.id}`)).status, 404);
      const shown = await roster.request('GET', `${USERS}/${user.id}`);
      assert.equal(shown.body.active, false);
      assert.equal(shown.body.managed, false);
      assert.equal(await roster.services.tokens.verify(token), undefined);
      assert.equal(await sessionsOf(roster, user.id), 0);

      const again = await roster.request('POST', '/Users', userBody('QUINN@example.com'));
      assert.equal(again.status, 201);
      assert.notEqual(again.body.id, scimUser.id, 'a new SCIM id');
      assert.equal(again.body.active, true);
      const reactivated = await roster.request('GET', `${USERS}/${user.id}`);
      assert.equal(reactivated.body.active, true, 'same internal id, active again');
      assert.equal(reactivated.body.managed, true);
      const history = await roster.request('GET', `/api/v2/audit-logs?targetId=${user.id}&sort=seq`);
      assert.deepEqual(history.body.auditLogs.map((e: { action: string }) => e.action), ['user.created', 'user.deleted', 'user.linked']);
    });

    test('a token\'s owner cannot deactivate itself through SCIM either', async () => {
      const scimAdmin = await roster.request('POST', '/Users', userBody('admin'));
      assert.equal(scimAdmin.status, 201, 'the local administrator is linked, not duplicated');
      assert.equal((await byLogin(roster, 'admin')).id, roster.adminId);
      const refused = await roster.request('PATCH', `/Users/${scimAdmin.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] });
      assert.equal(refused.status, 400);
      assert.match(refused.body.detail, /Self-deactivation is not possible/);
    });
  });

  describe('suspended users at the edges of SCIM', () => {
    let roster: TestApp;
    before(async () => {
      roster = await startTestApp({ database, scim: false });
    });
    after(async () => {
      await roster.close();
    });

    test('a SCIM create that links an active account with active=false ends its tokens and sessions', async () => {
      const lee = (await roster.request('POST', USERS, { login: 'lee', name: 'Lee', local: false })).body;
      const token = await roster.tokenFor(lee.id, 'lee-token');
      await addSession(roster, lee.id, 'lee-session');
      await roster.services.provisioning.enable({ kind: 'cli' });
      const linked = await roster.request('POST', '/Users', userBody('lee', { active: false }));
      assert.equal(linked.status, 201);
      assert.equal(linked.body.active, false);
      assert.equal(await roster.services.tokens.verify(token), undefined);
      assert.equal(await sessionsOf(roster, lee.id), 0);
      await roster.request('PATCH', `/Users/${linked.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: true } }] });
      assert.equal(await roster.services.tokens.verify(token), undefined, 'reactivation does not bring the token back');
      const event = await roster.request('GET', `/api/v2/audit-logs?targetType=user&targetId=${lee.id}`);
      const linkedEvent = event.body.auditLogs.find((e: { action: string }) => e.action === 'user.linked');
      assert.deepEqual([linkedEvent.details.memberships, linkedEvent.details.revokedTokens.length, linkedEvent.details.deletedSessions], ['kept', 1, 1]);
      await roster.services.provisioning.disable({ kind: 'cli' });
    });

    // Link-by-login hands a local account to the IdP's user. Whoever held it before (signed in
    // with its password, or through an application) used to stay signed in as that user.
    test('a SCIM create that takes over an active account ends its sessions and OpenID grants, keeps its API tokens', async () => {
      const kim = (await roster.request('POST', USERS, { login: 'kim', name: 'Kim', local: true, password: 'Kim-password-1234' })).body;
      const token = await roster.tokenFor(kim.id, 'kim-token');
      await addSession(roster, kim.id, 'kim-session');
      await roster.services.store.db.insertInto('oidc_models').values({ model: 'RefreshToken', id: 'kim-refresh', payload: '{}', grant_id: 'kim-grant', uid: null, user_code: null, account_id: kim.id, expires_at: null, consumed_at: null }).execute();
      await roster.services.provisioning.enable({ kind: 'cli' });
      const linked = await roster.request('POST', '/Users', userBody('kim'));
      assert.equal(linked.status, 201);
      assert.equal(await sessionsOf(roster, kim.id), 0);
      const grants = await roster.services.store.db.selectFrom('oidc_models').select('id').where('account_id', '=', kim.id).execute();
      assert.deepEqual(grants, []);
      assert.notEqual(await roster.services.tokens.verify(token), undefined, 'API tokens are kept (the IdP\'s own connection may be one)');
      const trail = await roster.request('GET', `/api/v2/audit-logs?targetType=user&targetId=${kim.id}`);
      const linkedEntry = trail.body.auditLogs.find((e: { action: string }) => e.action === 'user.linked');
      assert.equal(linkedEntry.details.deletedSessions, 1);
      await roster.services.provisioning.disable({ kind: 'cli' });
    });

    test('once SCIM is off, an administrator who creates a suspended user again gets it back without its groups', async () => {
      await roster.services.provisioning.enable({ kind: 'cli' });
      const scimUser = (await roster.request('POST', '/Users', userBody('sky@example.com'))).body;
      await roster.request('POST', '/Groups', groupBody('Skyward', [scimUser.id]));
      await roster.request('PATCH', `/Users/${scimUser.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: 'False' }] });
      await roster.services.provisioning.disable({ kind: 'cli' });
      const sky = await byLogin(roster, 'sky@example.com');
      assert.equal((await roster.request('GET', `${MEMBERSHIPS}?userId=${sky.id}`)).body.page.total, 1, 'kept while suspended');
      assert.deepEqual(await roster.services.access.groupsOf(sky.id), []);

      const again = await roster.request('POST', USERS, { login: 'sky@example.com', name: 'Sky', local: false });
      assert.equal(again.status, 200);
      assert.equal(again.body.id, sky.id);
      assert.equal((await roster.request('GET', `${MEMBERSHIPS}?userId=${sky.id}`)).body.page.total, 0);
      assert.deepEqual(await roster.services.access.groupsOf(sky.id), []);
      const event = (await roster.request('GET', `/api/v2/audit-logs?targetType=user&targetId=${sky.id}&pageSize=1`)).body.auditLogs[0];
      assert.deepEqual([event.action, event.details.memberships, event.details.removedFromGroups.length], ['user.reactivated', 'removed', 1]);
    });
  });

  describe('the switch in both directions', () => {
    let roster: TestApp;
    before(async () => {
      roster = await startTestApp({ database, scim: false });
    });
    after(async () => {
      await roster.close();
    });

    test('enable keeps local users and groups; disable needs confirmation, then makes everything local', async () => {
      const local = (await roster.request('POST', USERS, { login: 'kept', name: 'Kept', password: 'correct horse battery' })).body;
      assert.equal((await roster.request('POST', '/api/scim_management/enable')).status, 204);
      assert.deepEqual((await roster.request('GET', '/api/scim_management/status')).body, { enabled: true });
      assert.equal((await roster.request('GET', `${USERS}/${local.id}`)).body.active, true);
      const scimUser = (await roster.request('POST', '/Users', userBody('sam@example.com'))).body;
      const scimGroup = (await roster.request('POST', '/Groups', groupBody('Sales', [scimUser.id]))).body;

      const unconfirmed = await roster.request('POST', '/api/scim_management/disable');
      assert.equal(unconfirmed.status, 400);
      assert.match(unconfirmed.body.message, /cannot be undone/);
      assert.deepEqual((await roster.request('GET', '/api/scim_management/status')).body, { enabled: true });

      assert.equal((await roster.request('POST', '/api/scim_management/disable', { confirm: true })).status, 204);
      assert.deepEqual((await roster.request('GET', '/api/scim_management/status')).body, { enabled: false });
      const sam = await byLogin(roster, 'sam@example.com');
      assert.equal(sam.managed, false);
      assert.equal(sam.active, true);
      const groups = await roster.request('GET', `${GROUPS}?q=sales`);
      assert.equal(groups.body.groups[0].managed, false);
      const members = await roster.request('GET', `${MEMBERSHIPS}?groupId=${groups.body.groups[0].id}`);
      assert.deepEqual(members.body.groupMemberships.map((m: { userId: string }) => m.userId), [sam.id], 'memberships are kept');
      const links = await roster.services.store.db.selectFrom('scim_users').select('scim_id').execute();
      assert.deepEqual(links, []);

      // Everything is editable again, and SCIM ids are gone for good.
      assert.equal((await roster.request('PATCH', `${USERS}/${sam.id}`, { name: 'Sam' }, MERGE_PATCH)).status, 200);
      assert.equal((await roster.request('POST', GROUPS, { name: 'new-after' })).status, 201);
      await roster.request('POST', '/api/scim_management/enable');
      assert.equal((await roster.request('GET', `/Groups/${scimGroup.id}`)).status, 404);
      const event = await roster.request('GET', '/api/v2/audit-logs?targetType=setting&pageSize=50');
      const disabled = event.body.auditLogs.find((e: { action: string }) => e.action === 'provisioning.disabled');
      assert.deepEqual([disabled.details.unlinkedUsers, disabled.details.unlinkedGroups], [1, 1]);
    });

    test('?confirm=true also confirms, true exactly; SAML may not be disabled while SCIM is on', async () => {
      await assert.rejects(roster.services.provisioning.assertSamlMayBeDisabled(), /SAML cannot be disabled while SCIM provisioning is on/);
      // Other query parameters read SonarQube's booleans (1, yes, TRUE); a confirmation does not.
      for (const word of ['TRUE', '1', 'yes', 'on', 'true%00']) {
        const refused = await roster.request('POST', `/api/scim_management/disable?confirm=${word}`);
        assert.equal(refused.status, 400, word);
        assert.match(refused.body.message, /confirm/, word);
      }
      assert.equal((await roster.request('GET', '/api/scim_management/status')).body.enabled, true, 'still on');
      assert.equal((await roster.request('POST', '/api/scim_management/disable?confirm=true')).status, 204);
      await roster.services.provisioning.assertSamlMayBeDisabled();
    });
  });
});
