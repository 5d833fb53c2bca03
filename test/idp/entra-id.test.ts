/**
 * Replays Microsoft Entra ID's provisioning traffic, request by request, and checks Roster's
 * state after each step by reading it back, as Entra itself does on its next cycle.
 * Fixtures: ./fixtures/entra-id.ts (shapes from the Entra documentation).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { BASE_URL, startTestApp, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import * as entra from './fixtures/entra-id.ts';
import { expectStatus, memberValues, withoutMeta } from './support.ts';

const { ENTERPRISE } = entra;

eachDatabase('Microsoft Entra ID provisioning replay', (database) => {
  let roster: TestApp;
  before(async () => {
    roster = await startTestApp({ database });
  });
  after(async () => {
    await roster.close();
  });

  const upn = 'adele.vance@contoso.example';
  const objectId = randomUUID();
  const mail = 'AdeleV@contoso.example';
  let userId = '';
  let managerId = '';
  let otherManagerId = '';
  let groupId = '';

  async function get(id: string): Promise<Record<string, any>> {
    const response = await roster.request('GET', `/Users/${id}`);
    expectStatus(response, 200);
    return response.body;
  }

  async function patchUser(body: Record<string, unknown>): Promise<Record<string, any>> {
    const response = await roster.request('PATCH', `/Users/${userId}`, body);
    expectStatus(response, 200);
    // Entra reads nothing from the PATCH answer, but it must be the user as stored.
    assert.deepEqual(withoutMeta(response.body), withoutMeta(await get(userId)));
    return response.body;
  }

  async function lookup(filter: string, resource = 'Users', extra: Record<string, string> = {}) {
    const response = await roster.request('GET', `/${resource}?${entra.entraQuery({ ...extra, filter })}`);
    expectStatus(response, 200);
    return response.body;
  }

  test('Test connection: a lookup of a random userName is 200 with an empty ListResponse', async () => {
    const query = entra.entraQuery({ filter: `userName eq "${randomUUID()}"` });
    assert.match(query, /^filter=userName\+eq\+%22/);
    const response = await roster.request('GET', `/Users?${query}`);
    expectStatus(response, 200);
    assert.match(String(response.headers['content-type']), /^application\/scim\+json/);
    assert.deepEqual(response.body.schemas, ['urn:ietf:params:scim:api:messages:2.0:ListResponse']);
    assert.equal(response.body.totalResults, 0);
    assert.deepEqual(response.body.Resources, []);
    const groups = await lookup(`displayName eq "${randomUUID()}"`, 'Groups', { excludedAttributes: 'members' });
    assert.equal(groups.totalResults, 0);
    expectStatus(await roster.request('GET', `/Users/${randomUUID()}`), 404);
    // A tenant URL entered with a trailing slash makes Entra send `//Users`.
    expectStatus(await roster.request('GET', `/api/scim/v2//Users?${query}`), 200);
  });

  test('Saving the configuration reads /Schemas and /ServiceProviderConfig', async () => {
    const schemas = await roster.request('GET', '/Schemas');
    expectStatus(schemas, 200);
    assert.ok(schemas.body.Resources.some((schema: any) => schema.id === ENTERPRISE));
    expectStatus(await roster.request('GET', '/ServiceProviderConfig'), 200);
  });

  test('Matching before create: userName, externalId and work email lookups find nothing', async () => {
    assert.equal((await lookup(`userName eq "${upn}"`)).totalResults, 0);
    assert.equal((await lookup(`externalId eq "${objectId}"`)).totalResults, 0);
    assert.equal((await lookup(`emails[type eq "work"].value eq "${mail}"`)).totalResults, 0);
    // The aadOptscim062020 flag is part of the tenant URL, so it arrives as a bare query parameter.
    const flagged = await roster.request('GET', `/Users?aadOptscim062020&${entra.entraQuery({ filter: `userName eq "${upn}"` })}`);
    expectStatus(flagged, 200);
    assert.equal(flagged.body.totalResults, 0);
  });

  test('POST /Users with nulls, meta, empty roles and unknown schema URIs creates the user', async () => {
    const response = await roster.request('POST', '/Users?aadOptscim062020', entra.createUser(upn, objectId, mail));
    expectStatus(response, 201);
    const user = response.body;
    userId = user.id;
    assert.deepEqual(user.schemas, [entra.USER, ENTERPRISE]);
    assert.equal(user.userName, upn);
    assert.equal(user.externalId, objectId);
    assert.equal(user.active, true);
    assert.deepEqual(user.emails, [{ primary: true, type: 'work', value: mail }]);
    assert.deepEqual(user.name, { formatted: 'Adele Vance', familyName: 'Vance', givenName: 'Adele' });
    assert.deepEqual(user[ENTERPRISE], { employeeNumber: '4100' });
    for (const unassigned of ['title', 'roles', 'addresses', entra.CUSTOM]) assert.equal(user[unassigned], undefined, unassigned);
    assert.equal(user.meta.resourceType, 'User');
    assert.deepEqual(await get(userId), user);
  });

  test('Matching after create: userName (any case), externalId and work email find the user', async () => {
    for (const filter of [
      `userName eq "${upn.toUpperCase()}"`,
      `externalId eq "${objectId}"`,
      `emails[type eq "work"].value eq "${mail.toLowerCase()}"`,
    ]) {
      const list = await lookup(filter);
      assert.equal(list.totalResults, 1, filter);
      assert.equal(list.Resources[0].id, userId, filter);
    }
    assert.equal((await lookup(`externalId eq "${objectId.toUpperCase()}"`)).totalResults, 0, 'externalId is case-exact');
  });

  test('PATCH [multi-valued]: Replace of emails[type eq "work"].value and name.familyName', async () => {
    const user = await patchUser(entra.updateMultiValued('adele.new@contoso.example', 'Vance-Smith'));
    assert.deepEqual(user.emails, [{ primary: true, type: 'work', value: 'adele.new@contoso.example' }]);
    assert.equal(user.name.familyName, 'Vance-Smith');
    assert.equal(user.name.givenName, 'Adele');
  });

  test('PATCH [single-valued]: Replace of userName', async () => {
    const user = await patchUser(entra.patch({ op: 'Replace', path: 'userName', value: 'adele@contoso.example' }));
    assert.equal(user.userName, 'adele@contoso.example');
    assert.equal((await lookup('userName eq "adele@contoso.example"')).Resources[0].id, userId);
  });

  test('PATCH without aadOptscim062020: one capitalised Replace per attribute, URN path included', async () => {
    const user = await patchUser(
      entra.replaceManyLegacy({ displayName: 'Adele V.', mail: 'av@contoso.example', givenName: 'Adèle', externalId: 'adelev', employeeNumber: '4200' }),
    );
    assert.equal(user.displayName, 'Adele V.');
    assert.equal(user.emails[0].value, 'av@contoso.example');
    assert.equal(user.name.givenName, 'Adèle');
    assert.equal(user.externalId, 'adelev');
    assert.equal(user[ENTERPRISE].employeeNumber, '4200');
  });

  test('PATCH with aadOptscim062020: a no-path replace with dotted and URN-prefixed keys', async () => {
    const user = await patchUser(
      entra.replaceManyCompliant({ displayName: 'Adele Vance', mail: 'adele@contoso.example', givenName: 'Adele', familyName: 'Vance', employeeNumber: '4300' }),
    );
    assert.equal(user.displayName, 'Adele Vance');
    assert.deepEqual(user.emails, [{ primary: true, type: 'work', value: 'adele@contoso.example' }]);
    assert.deepEqual(user.name, { formatted: 'Adele Vance', familyName: 'Vance', givenName: 'Adele' });
    assert.deepEqual(user[ENTERPRISE], { employeeNumber: '4300' });
  });

  test('PATCH of a custom extension attribute mapping: the attribute is ignored, the rest of the PatchOp applies', async () => {
    let user = await patchUser(entra.replaceWithCustomAttribute(true, 'CC-17', 'en-GB'));
    assert.equal(user.preferredLanguage, 'en-GB');
    assert.equal(user[entra.CUSTOM], undefined);
    user = await patchUser(entra.replaceWithCustomAttribute(false, 'CC-18', 'en-US'));
    assert.equal(user.preferredLanguage, 'en-US');
    assert.equal(user[entra.CUSTOM], undefined);
    assert.deepEqual(user.schemas, [entra.USER, ENTERPRISE]);
  });

  test('PATCH value paths that match nothing create the entry; several ops build one address', async () => {
    const user = await patchUser(entra.addMissingEntries());
    assert.deepEqual(user.phoneNumbers, [
      { type: 'mobile', value: '+1 555 0100' },
      { type: 'fax', value: '+1 555 0199' },
    ]);
    assert.deepEqual(user.addresses, [{ type: 'work', streetAddress: '1 Main St', locality: 'Redmond', postalCode: '98052' }]);
    assert.deepEqual(user.emails, [
      { primary: true, type: 'work', value: 'adele@contoso.example' },
      { type: 'other', value: 'smtp-alias@example.com' },
    ]);
    assert.equal(user.title, 'Engineer');
    // Sent again (the next cycle), the same operations change nothing.
    const again = await roster.request('PATCH', `/Users/${userId}`, entra.addMissingEntries());
    expectStatus(again, 200);
    assert.equal(again.body.meta.version, user.meta.version);
  });

  test('PATCH roles with "True"/"False" strings: in value paths and inside the values', async () => {
    let user = await patchUser(entra.assignRoleByPath('Writer'));
    assert.deepEqual(user.roles, [{ primary: true, display: 'Writer', value: 'Writer', type: 'WindowsAzureActiveDirectoryRole' }]);
    user = await patchUser(entra.patch({ op: 'Remove', path: 'roles[primary eq "True"]' }));
    assert.equal(user.roles, undefined);
    user = await patchUser(entra.assignRole('Reader'));
    assert.deepEqual(user.roles, [{ value: 'Reader', display: 'Reader', type: 'WindowsAzureActiveDirectoryRole', primary: true }]);
    user = await patchUser(entra.replaceRoles('Admin', 'Reader'));
    assert.deepEqual(
      user.roles.map((role: any) => [role.value, role.primary]),
      [['Admin', true], ['Reader', false]],
    );
  });

  test('PATCH manager: path "manager" with an array, the enterprise URN path, then Remove', async () => {
    const boss = (await roster.request('POST', '/Users', entra.createUser('boss@contoso.example', randomUUID(), 'boss@contoso.example'))).body;
    const otherBoss = (await roster.request('POST', '/Users', entra.createUser('boss2@contoso.example', randomUUID(), 'boss2@contoso.example'))).body;
    managerId = boss.id;
    otherManagerId = otherBoss.id;
    // Roster fills in $ref and displayName: the manager's URL and how it shows it.
    const shown = (manager: { id: string; displayName: string }) => ({ value: manager.id, $ref: `${BASE_URL}/api/scim/v2/Users/${manager.id}`, displayName: manager.displayName });
    let user = await patchUser(entra.setManagerLegacy(managerId));
    assert.deepEqual(user[ENTERPRISE], { employeeNumber: '4300', manager: shown(boss) });
    user = await patchUser(entra.setManagerCompliant(otherManagerId));
    assert.deepEqual(user[ENTERPRISE].manager, shown(otherBoss));
    const reports = await lookup(`${ENTERPRISE}:manager.value eq "${otherManagerId}"`);
    assert.deepEqual(reports.Resources.map((report: any) => report.id), [userId]);
    user = await patchUser(entra.removeManager(otherManagerId));
    assert.deepEqual(user[ENTERPRISE], { employeeNumber: '4300' });
  });

  test('PATCH with an empty Operations list answers 200 and changes nothing', async () => {
    const before = await get(userId);
    const response = await roster.request('PATCH', `/Users/${userId}`, entra.emptyPatch());
    expectStatus(response, 200);
    assert.deepEqual(response.body, before);
  });

  test('Soft delete: active "False" keeps the user visible to GET and to filters; "True" restores it', async () => {
    for (const legacy of [true, false]) {
      let user = await patchUser(entra.setActive(false, legacy));
      assert.equal(user.active, false);
      assert.equal((await get(userId)).active, false);
      const found = await lookup(`userName eq "adele@contoso.example"`);
      assert.equal(found.totalResults, 1);
      assert.equal(found.Resources[0].active, false);
      assert.ok((await lookup('active eq false')).Resources.some((candidate: any) => candidate.id === userId));
      user = await patchUser(entra.setActive(true, legacy));
      assert.equal(user.active, true);
      assert.equal((await lookup('externalId eq "adelev"')).Resources[0].active, true);
    }
  });

  test('Group matching before create: displayName lookup with excludedAttributes=members finds nothing', async () => {
    assert.equal((await lookup('displayName eq "Sales Team"', 'Groups', { excludedAttributes: 'members' })).totalResults, 0);
  });

  test('POST /Groups with an extra schema URI and meta creates the group without members', async () => {
    const groupObjectId = randomUUID();
    const response = await roster.request('POST', '/Groups', entra.createGroup('Sales Team', groupObjectId));
    expectStatus(response, 201);
    groupId = response.body.id;
    assert.deepEqual(response.body.schemas, [entra.GROUP]);
    assert.equal(response.body.displayName, 'Sales Team');
    assert.equal(response.body.externalId, groupObjectId);
    assert.deepEqual(response.body.members ?? [], []);
    const read = await roster.request('GET', `/Groups/${groupId}?excludedAttributes=members`);
    expectStatus(read, 200);
    assert.equal(read.body.members, undefined);
    assert.equal(read.body.displayName, 'Sales Team');
    const found = await lookup('displayName eq "sales team"', 'Groups', { excludedAttributes: 'members' });
    assert.equal(found.totalResults, 1);
    assert.equal(found.Resources[0].id, groupId);
    assert.equal(found.Resources[0].members, undefined);
  });

  test('PATCH /Groups: Replace displayName answers 204', async () => {
    const response = await roster.request('PATCH', `/Groups/${groupId}`, entra.renameGroup('Sales'));
    expectStatus(response, 204);
    assert.equal(response.raw.body, '');
    const read = await roster.request('GET', `/Groups/${groupId}`);
    assert.equal(read.body.displayName, 'Sales');
  });

  test('PATCH /Groups: Add members with $ref null; Entra checks membership by filter', async () => {
    expectStatus(await roster.request('PATCH', `/Groups/${groupId}`, entra.addMembers(userId, managerId, otherManagerId)), 204);
    const read = await roster.request('GET', `/Groups/${groupId}`);
    assert.deepEqual(memberValues(read.body), [userId, managerId, otherManagerId].sort());
    const member = await lookup(`id eq "${groupId}" and members.value eq "${userId}"`, 'Groups', { excludedAttributes: 'members' });
    assert.equal(member.totalResults, 1);
    assert.equal(member.Resources[0].members, undefined);
    assert.deepEqual((await get(userId)).groups, [{ value: groupId, $ref: `${BASE_URL}/api/scim/v2/Groups/${groupId}`, display: 'Sales', type: 'direct' }]);
  });

  test('Disable then enable ("False"/"True"): sessions and tokens end, memberships stay, and count again once enabled', async () => {
    // Entra never re-sends the memberships of a re-enabled user: in Entra it never left its groups.
    const internal = (await roster.request('GET', `/api/v2/users-management/users?q=${encodeURIComponent('adele@contoso.example')}`)).body.users[0];
    const internalGroup = (await roster.request('GET', '/api/v2/authorizations/groups?q=Sales')).body.groups[0];
    const token = await roster.tokenFor(internal.id, 'adele-script');
    const session = await roster.services.sessions.open(internal.id);
    assert.deepEqual((await roster.services.access.groupsOf(internal.id)).map((group) => group.name), ['Sales']);

    assert.equal((await patchUser(entra.setActive(false, true))).active, false);
    assert.equal(await roster.services.tokens.verify(token), undefined);
    assert.equal(await roster.services.sessions.find(session.value), undefined);
    // Entra reads back what it set: the disabled user is still a member, on both sides.
    assert.deepEqual((await get(userId)).groups, [{ value: groupId, $ref: `${BASE_URL}/api/scim/v2/Groups/${groupId}`, display: 'Sales', type: 'direct' }]);
    assert.ok(memberValues((await roster.request('GET', `/Groups/${groupId}`)).body).includes(userId));
    const member = await lookup(`id eq "${groupId}" and members.value eq "${userId}"`, 'Groups', { excludedAttributes: 'members' });
    assert.equal(member.totalResults, 1);
    const memberships = await roster.request('GET', `/api/v2/authorizations/group-memberships?userId=${internal.id}`);
    assert.deepEqual(memberships.body.groupMemberships.map((m: { groupId: string }) => m.groupId), [internalGroup.id]);
    // ... but grants nothing while disabled.
    assert.deepEqual(await roster.services.access.groupsOf(internal.id), []);
    const suspended = (await roster.request('GET', `/api/v2/audit-logs?targetType=user&targetId=${internal.id}&pageSize=1`)).body.auditLogs[0];
    assert.equal(suspended.action, 'user.deactivated');
    assert.deepEqual([suspended.details.memberships, suspended.details.keptGroups], ['kept', [internalGroup.id]]);
    assert.equal(suspended.details.revokedTokens.length, 1);
    assert.equal(suspended.details.deletedSessions, 1);

    assert.equal((await patchUser(entra.setActive(true, true))).active, true);
    assert.deepEqual((await roster.services.access.groupsOf(internal.id)).map((group) => group.name), ['Sales']);
    assert.equal(await roster.services.tokens.verify(token), undefined, 'tokens stay revoked');
  });

  test('PATCH /Groups: Remove members with a value array (legacy) and by value filter (aadOptscim062020)', async () => {
    expectStatus(await roster.request('PATCH', `/Groups/${groupId}`, entra.removeMembersLegacy(managerId)), 204);
    let read = await roster.request('GET', `/Groups/${groupId}`);
    assert.deepEqual(memberValues(read.body), [userId, otherManagerId].sort());
    expectStatus(await roster.request('PATCH', `/Groups/${groupId}`, entra.removeMembersCompliant(otherManagerId)), 204);
    read = await roster.request('GET', `/Groups/${groupId}`);
    assert.deepEqual(memberValues(read.body), [userId]);
    const gone = await lookup(`id eq "${groupId}" and members.value eq "${otherManagerId}"`, 'Groups', { excludedAttributes: 'members' });
    assert.equal(gone.totalResults, 0);
  });

  test('DELETE /Users is final: 204, then 404, and lookups and groups no longer show the user', async () => {
    const internal = (await roster.request('GET', `/api/v2/users-management/users?q=${encodeURIComponent('adele@contoso.example')}`)).body.users[0];
    expectStatus(await roster.request('DELETE', `/Users/${userId}`), 204);
    // Unlike a disable, a delete removes the memberships themselves.
    assert.equal((await roster.request('GET', `/api/v2/authorizations/group-memberships?userId=${internal.id}`)).body.page.total, 0);
    expectStatus(await roster.request('GET', `/Users/${userId}`), 404);
    assert.equal((await lookup('userName eq "adele@contoso.example"')).totalResults, 0);
    const read = await roster.request('GET', `/Groups/${groupId}`);
    assert.deepEqual(memberValues(read.body), []);
    expectStatus(await roster.request('PATCH', `/Users/${userId}`, entra.setActive(false, false)), 404);
  });

  test('Assigned again after a DELETE, the user is created anew under a new id', async () => {
    assert.equal((await lookup('userName eq "adele@contoso.example"')).totalResults, 0);
    const response = await roster.request('POST', '/Users', entra.createUser('adele@contoso.example', objectId, mail));
    expectStatus(response, 201);
    assert.notEqual(response.body.id, userId);
    assert.equal(response.body.active, true);
    assert.equal(response.body.roles, undefined, 'nothing of the deleted resource comes back');
    expectStatus(await roster.request('GET', `/Users/${userId}`), 404);
  });

  test('DELETE /Groups answers 204, then 404', async () => {
    expectStatus(await roster.request('DELETE', `/Groups/${groupId}`), 204);
    expectStatus(await roster.request('GET', `/Groups/${groupId}`), 404);
    assert.equal((await lookup('displayName eq "Sales"', 'Groups', { excludedAttributes: 'members' })).totalResults, 0);
  });
});
