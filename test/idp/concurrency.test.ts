/**
 * IdPs send many requests at once: Entra ID reads a group once, then sends one PATCH per
 * member change, in parallel. Through a real listening socket (not inject), no change may be
 * lost and no request may fail because another one was running.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { SCIM, startTestApp, userBody, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import * as entra from './fixtures/entra-id.ts';
import * as okta from './fixtures/okta.ts';
import { memberValues } from './support.ts';

interface WireResponse {
  readonly status: number;
  readonly body: any;
}

eachDatabase('Parallel provisioning over the network', (database) => {
  let roster: TestApp;
  let base = '';
  before(async () => {
    roster = await startTestApp({ database });
    await roster.app.listen({ host: '127.0.0.1', port: 0 });
    const address = roster.app.server.address() as AddressInfo;
    base = `http://127.0.0.1:${address.port}${SCIM}`;
  });
  after(async () => {
    await roster.close();
  });

  async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<WireResponse> {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${roster.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/scim+json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
  }

  function statuses(responses: readonly WireResponse[]): Record<number, number> {
    const counts: Record<number, number> = {};
    for (const response of responses) counts[response.status] = (counts[response.status] ?? 0) + 1;
    return counts;
  }

  async function createUsers(prefix: string, count: number): Promise<string[]> {
    const responses = await Promise.all(
      Array.from({ length: count }, (_, index) => call('POST', '/Users', userBody(`${prefix}-${index}@example.com`))),
    );
    assert.deepEqual(statuses(responses), { 201: count });
    return responses.map((response) => response.body.id as string);
  }

  async function members(groupId: string): Promise<string[]> {
    const response = await call('GET', `/Groups/${groupId}`);
    assert.equal(response.status, 200);
    return memberValues(response.body);
  }

  test('parallel creates of distinct users all succeed; parallel creates of one userName give one 201 and 409s', async () => {
    const ids = await createUsers('burst', 30);
    assert.equal(new Set(ids).size, 30);
    const same = await Promise.all(Array.from({ length: 10 }, () => call('POST', '/Users', userBody('twin@example.com'))));
    assert.deepEqual(statuses(same), { 201: 1, 409: 9 });
  });

  test("Entra's pattern: one GET of the group, then dozens of parallel single-member PATCHes", async () => {
    const users = await createUsers('member', 40);
    const group = await call('POST', '/Groups', entra.createGroup('Parallel Adds', 'f1e2d3c4'));
    assert.equal(group.status, 201);
    const read = await call('GET', `/Groups/${group.body.id}?excludedAttributes=members`);
    assert.equal(read.status, 200);
    const responses = await Promise.all(users.map((id) => call('PATCH', `/Groups/${group.body.id}`, entra.addMembers(id))));
    assert.deepEqual(statuses(responses), { 204: users.length });
    assert.deepEqual(await members(group.body.id), [...users].sort());
  });

  test('parallel adds and removes, in both Entra dialects and Okta\'s, end with exactly the right members', async () => {
    const initial = await createUsers('initial', 30);
    const incoming = await createUsers('incoming', 20);
    const group = await call('POST', '/Groups', { ...okta.createGroup('Parallel Churn'), members: initial.map((value) => ({ value })) });
    assert.equal(group.status, 201);
    const id = group.body.id as string;
    const removed = initial.filter((_, index) => index % 2 === 0);
    const requests = [
      ...removed.map((userId, index) =>
        index % 2 === 0 ? entra.removeMembersLegacy(userId) : entra.removeMembersCompliant(userId),
      ),
      ...incoming.map((userId) => entra.addMembers(userId)),
      // Okta renames the group with every membership push; the name stays, the members must too.
      ...Array.from({ length: 5 }, () => okta.renameGroup(id, 'Parallel Churn')),
    ];
    const responses = await Promise.all(requests.map((body) => call('PATCH', `/Groups/${id}`, body, okta.OKTA_HEADERS)));
    assert.deepEqual(statuses(responses), { 204: requests.length });
    const expected = [...initial.filter((_, index) => index % 2 === 1), ...incoming].sort();
    assert.deepEqual(await members(id), expected);
  });

  test('parallel PATCHes to one user (several attributes at once) all apply', async () => {
    const [userId] = await createUsers('busy', 1);
    const requests = [
      entra.patch({ op: 'Replace', path: 'displayName', value: 'Busy User' }),
      entra.patch({ op: 'Add', path: 'phoneNumbers[type eq "mobile"].value', value: '+1 555 0101' }),
      entra.patch({ op: 'Add', path: 'phoneNumbers[type eq "work"].value', value: '+1 555 0102' }),
      entra.patch({ op: 'replace', value: { 'name.givenName': 'Busy', title: 'Tester' } }),
      entra.patch({ op: 'Replace', path: `${entra.ENTERPRISE}:department`, value: 'QA' }),
    ];
    const responses = await Promise.all(requests.map((body) => call('PATCH', `/Users/${userId}`, body)));
    assert.deepEqual(statuses(responses), { 200: requests.length });
    const user = (await call('GET', `/Users/${userId}`)).body;
    assert.equal(user.displayName, 'Busy User');
    assert.deepEqual(user.phoneNumbers.map((phone: any) => phone.type).sort(), ['mobile', 'work']);
    assert.equal(user.name.givenName, 'Busy');
    assert.equal(user.title, 'Tester');
    assert.equal(user[entra.ENTERPRISE].department, 'QA');
  });

  test("Okta's DELETE over the wire: JSON content type, no body (with and without Content-Length: 0)", async () => {
    const [first, second] = await createUsers('leaving', 2);
    assert.equal((await call('DELETE', `/Users/${first}`, undefined, okta.OKTA_HEADERS)).status, 204);
    assert.equal((await call('DELETE', `/Users/${second}`, undefined, { ...okta.OKTA_HEADERS, 'content-length': '0' })).status, 204);
    assert.equal((await call('GET', `/Users/${first}`)).status, 404);
  });
});
