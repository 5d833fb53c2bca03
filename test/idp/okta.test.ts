/**
 * Replays Okta's SCIM 2.0 client, request by request, with its exact headers, and checks
 * Roster's state after each step by reading it back. Fixtures: ./fixtures/okta.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { HTTPMethods } from 'fastify';
import { BASE_URL, startTestApp, type TestApp, type TestResponse } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import * as okta from './fixtures/okta.ts';
import { expectStatus, memberValues, withoutMeta } from './support.ts';

eachDatabase('Okta provisioning replay', (database) => {
  let roster: TestApp;
  before(async () => {
    roster = await startTestApp({ database });
  });
  after(async () => {
    await roster.close();
  });

  /** Every Okta request carries the same headers, a JSON content type even without a body. */
  function send(method: HTTPMethods, url: string, body?: unknown): Promise<TestResponse> {
    return roster.request(method, url, body, { ...okta.OKTA_HEADERS });
  }

  const userName = 'test.user@okta.local';
  let userId = '';
  const others: { id: string; userName: string }[] = [];
  let groupId = '';

  async function read(id: string): Promise<Record<string, any>> {
    const response = await send('GET', `/Users/${id}`);
    expectStatus(response, 200);
    return response.body;
  }

  function assertIntegerPaging(list: Record<string, unknown>): void {
    for (const field of ['totalResults', 'startIndex', 'itemsPerPage']) {
      assert.ok(Number.isInteger(list[field]), `${field} must be a JSON integer, got ${JSON.stringify(list[field])}`);
    }
  }

  test('Test Connector Configuration: /Users?startIndex=1&count=2 and /Groups?startIndex=1&count=100', async () => {
    const users = await send('GET', '/Users?startIndex=1&count=2');
    expectStatus(users, 200);
    assertIntegerPaging(users.body);
    assert.equal(users.body.startIndex, 1);
    const groups = await send('GET', '/Groups?startIndex=1&count=100');
    expectStatus(groups, 200);
    assertIntegerPaging(groups.body);
  });

  test('An unknown id that is not a UUID answers 404, never 400', async () => {
    for (const id of ['010101001010101011', '00ujl29u0le5T6Aj10h7', 'not a uuid at all']) {
      const response = await send('GET', `/Users/${encodeURIComponent(id)}`);
      expectStatus(response, 404);
      assert.equal(response.body.status, '404');
    }
    expectStatus(await send('GET', '/Groups/010101001010101011'), 404);
  });

  test('The lookup before create (percent-encoded, startIndex=1&count=100) finds nothing', async () => {
    const response = await send('GET', `/Users?${okta.oktaLookup(userName)}`);
    expectStatus(response, 200);
    assert.match(okta.oktaLookup(userName), /userName%20eq%20%22test.user%40okta.local%22/);
    assert.equal(response.body.totalResults, 0);
    assert.deepEqual(response.body.Resources, []);
    assertIntegerPaging(response.body);
  });

  test('POST /Users with password, groups: [] and locale creates the user; no password comes back', async () => {
    const response = await send('POST', '/Users', okta.createUser(userName, '00ujl29u0le5T6Aj10h7'));
    expectStatus(response, 201);
    userId = response.body.id;
    assert.equal(response.body.userName, userName);
    assert.equal(response.body.locale, 'en-US');
    assert.equal(response.body.active, true);
    assert.equal(response.body.password, undefined);
    assert.deepEqual(response.body.groups ?? [], []);
    assert.deepEqual(await read(userId), response.body);
    const found = await send('GET', `/Users?${okta.oktaLookup(userName)}`);
    assert.equal(found.body.totalResults, 1);
    assert.equal(found.body.Resources[0].id, userId);
  });

  test('The same create again answers 409 uniqueness', async () => {
    const response = await send('POST', '/Users', okta.createUser(userName, '00ujl29u0le5T6Aj10h7'));
    expectStatus(response, 409);
    assert.equal(response.body.scimType, 'uniqueness');
    assert.deepEqual(response.body.schemas, ['urn:ietf:params:scim:api:messages:2.0:Error']);
  });

  test('Profile update: GET, then PUT of the whole user as read back (meta, groups, emails[].display)', async () => {
    const current = await read(userId);
    const changed = {
      ...current,
      name: { ...current.name, middleName: 'Excited' },
      emails: current.emails.map((email: any) => ({ ...email, display: email.value })),
      groups: [],
    };
    const response = await send('PUT', `/Users/${userId}`, changed);
    expectStatus(response, 200);
    assert.equal(response.body.id, userId);
    assert.deepEqual(response.body.name, { givenName: 'Test', familyName: 'User', middleName: 'Excited' });
    assert.deepEqual(response.body.emails, [{ primary: true, value: userName, type: 'work', display: userName }]);
    assert.deepEqual(await read(userId), response.body);
    // Read back and sent again unchanged: nothing changes, not even the version.
    const again = await send('PUT', `/Users/${userId}`, response.body);
    expectStatus(again, 200);
    assert.equal(again.body.meta.version, response.body.meta.version);
  });

  test('Deactivation and reactivation: PATCH without path {active: false} / {active: true}', async () => {
    let response = await send('PATCH', `/Users/${userId}`, okta.setActive(false));
    expectStatus(response, 200);
    assert.equal(response.body.active, false);
    assert.equal((await read(userId)).active, false);
    const stillFound = await send('GET', `/Users?${okta.oktaLookup(userName)}`);
    assert.equal(stillFound.body.Resources[0].active, false);
    response = await send('PATCH', `/Users/${userId}`, okta.setActive(true));
    expectStatus(response, 200);
    assert.equal(response.body.active, true);
    assert.deepEqual(withoutMeta(await read(userId)), withoutMeta(response.body));
  });

  test('Deactivation and reactivation by PUT with active (custom app integrations)', async () => {
    const current = await read(userId);
    let response = await send('PUT', `/Users/${userId}`, { ...current, active: false });
    expectStatus(response, 200);
    assert.equal((await read(userId)).active, false);
    response = await send('PUT', `/Users/${userId}`, { ...response.body, active: true });
    expectStatus(response, 200);
    assert.equal((await read(userId)).active, true);
    assert.equal((await read(userId)).name.middleName, 'Excited');
  });

  test('Import: paging with startIndex and count visits every user once, in a stable order', async () => {
    for (let i = 0; i < 5; i += 1) {
      const other = `user${i}@okta.local`;
      const response = await send('POST', '/Users', okta.createUser(other, `00u${i}`));
      expectStatus(response, 201);
      others.push({ id: response.body.id, userName: other });
    }
    const seen: string[] = [];
    for (let startIndex = 1; ; startIndex += 2) {
      const page = await send('GET', `/Users?startIndex=${startIndex}&count=2`);
      expectStatus(page, 200);
      assertIntegerPaging(page.body);
      assert.equal(page.body.totalResults, 6);
      assert.equal(page.body.startIndex, startIndex);
      assert.equal(page.body.itemsPerPage, page.body.Resources.length);
      if (page.body.Resources.length === 0) break;
      seen.push(...page.body.Resources.map((user: any) => user.id));
    }
    assert.deepEqual([...seen].sort(), [userId, ...others.map((other) => other.id)].sort());
  });

  test('Group push: POST /Groups with members: [] creates an empty group', async () => {
    const response = await send('POST', '/Groups', okta.createGroup('Test SCIMv2'));
    expectStatus(response, 201);
    groupId = response.body.id;
    assert.equal(response.body.displayName, 'Test SCIMv2');
    assert.deepEqual(response.body.members ?? [], []);
    const read = await send('GET', `/Groups/${groupId}`);
    expectStatus(read, 200);
    assert.equal(read.body.displayName, 'Test SCIMv2');
  });

  test('Group rename: PATCH without path whose value repeats the group id', async () => {
    const response = await send('PATCH', `/Groups/${groupId}`, okta.renameGroup(groupId, 'Test SCIMv20'));
    expectStatus(response, 204);
    assert.equal((await send('GET', `/Groups/${groupId}`)).body.displayName, 'Test SCIMv20');
    const wrongId = await send('PATCH', `/Groups/${groupId}`, okta.renameGroup(userId, 'Hijack'));
    expectStatus(wrongId, 400);
    assert.equal(wrongId.body.scimType, 'mutability');
  });

  test('Membership: one PATCH removes members[value eq …] and adds members', async () => {
    const [first, second, third] = others;
    assert.ok(first && second && third);
    // The first push removes someone who is not a member yet: that is not an error.
    expectStatus(await send('PATCH', `/Groups/${groupId}`, okta.swapMembers(third.id, [first, second])), 204);
    assert.deepEqual(memberValues((await send('GET', `/Groups/${groupId}`)).body), [first.id, second.id].sort());
    expectStatus(await send('PATCH', `/Groups/${groupId}`, okta.swapMembers(first.id, [third])), 204);
    assert.deepEqual(memberValues((await send('GET', `/Groups/${groupId}`)).body), [second.id, third.id].sort());
    // The rename Okta sends with every membership update is harmless.
    expectStatus(await send('PATCH', `/Groups/${groupId}`, okta.renameGroup(groupId, 'Test SCIMv20')), 204);
    assert.deepEqual(memberValues((await send('GET', `/Groups/${groupId}`)).body), [second.id, third.id].sort());
  });

  test('A user PUT back as read, groups included, leaves its memberships alone', async () => {
    const second = others[1];
    assert.ok(second);
    const current = await read(second.id);
    assert.deepEqual(current.groups, [{ value: groupId, $ref: `${BASE_URL}/api/scim/v2/Groups/${groupId}`, display: 'Test SCIMv20', type: 'direct' }]);
    const response = await send('PUT', `/Users/${second.id}`, { ...current, title: 'Analyst' });
    expectStatus(response, 200);
    assert.deepEqual(response.body.groups, current.groups);
    assert.deepEqual(memberValues((await send('GET', `/Groups/${groupId}`)).body), [second.id, others[2]?.id].sort());
  });

  test('Full push: PATCH replace of members sets exactly those members', async () => {
    const [first] = others;
    assert.ok(first);
    expectStatus(await send('PATCH', `/Groups/${groupId}`, okta.replaceMembers([first, { id: userId, userName }])), 204);
    assert.deepEqual(memberValues((await send('GET', `/Groups/${groupId}`)).body), [first.id, userId].sort());
  });

  test('Deactivation by PATCH or PUT active=false keeps pushed memberships; they count again on reactivation', async () => {
    const internal = (await send('GET', `/api/v2/users-management/users?q=${encodeURIComponent(userName)}`)).body.users[0];
    for (const deactivate of [
      () => send('PATCH', `/Users/${userId}`, okta.setActive(false)),
      async () => send('PUT', `/Users/${userId}`, { ...(await read(userId)), active: false }),
    ]) {
      const token = await roster.tokenFor(internal.id, 'okta-user-script');
      expectStatus(await deactivate(), 200);
      assert.equal(await roster.services.tokens.verify(token), undefined);
      assert.ok(memberValues((await send('GET', `/Groups/${groupId}`)).body).includes(userId), 'Okta still sees its membership');
      assert.deepEqual((await read(userId)).groups?.map((group: any) => group.value), [groupId]);
      assert.deepEqual(await roster.services.access.groupsOf(internal.id), []);
      const event = (await send('GET', `/api/v2/audit-logs?targetType=user&targetId=${internal.id}&pageSize=1`)).body.auditLogs[0];
      assert.deepEqual([event.action, event.details.memberships, event.details.keptGroups.length], ['user.deactivated', 'kept', 1]);
      expectStatus(await send('PATCH', `/Users/${userId}`, okta.setActive(true)), 200);
      assert.deepEqual((await roster.services.access.groupsOf(internal.id)).map((group) => group.name), ['Test SCIMv20']);
    }
  });

  test('PUT /Groups with members (custom app integrations) replaces name and members', async () => {
    const members = others.slice(2, 5);
    const response = await send('PUT', `/Groups/${groupId}`, okta.putGroup(groupId, 'Test SCIMv2 (renamed)', members));
    expectStatus(response, 200);
    assert.equal(response.body.displayName, 'Test SCIMv2 (renamed)');
    const read = (await send('GET', `/Groups/${groupId}`)).body;
    assert.deepEqual(memberValues(read), members.map((member) => member.id).sort());
    assert.deepEqual(memberValues(response.body), memberValues(read));
  });

  test('POST /Groups with members honours them', async () => {
    const response = await send('POST', '/Groups', { ...okta.createGroup('Pushed With Members'), members: [{ value: userId, display: userName }] });
    expectStatus(response, 201);
    assert.deepEqual(memberValues(response.body), [userId]);
    assert.deepEqual((await read(userId)).groups?.map((group: any) => group.value), [response.body.id]);
  });

  test('DELETE /Groups with a JSON content type and no body answers 204, then 404', async () => {
    const response = await send('DELETE', `/Groups/${groupId}`);
    expectStatus(response, 204);
    expectStatus(await send('GET', `/Groups/${groupId}`), 404);
    assert.equal((await read(others[2]?.id ?? '')).groups, undefined);
  });

  test('DELETE /Users with a JSON content type and no body answers 204, then 404', async () => {
    const last = others[4];
    assert.ok(last);
    expectStatus(await send('DELETE', `/Users/${last.id}`), 204);
    expectStatus(await send('GET', `/Users/${last.id}`), 404);
  });
});
