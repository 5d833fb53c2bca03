/** Searching from the root of the endpoint (RFC 7644 §3.4.3): Users and Groups in one list. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eachDatabase } from '../support/databases.ts';
import { groupBody, startTestApp, userBody, type TestApp, type TestResponse } from '../support/app.ts';

const SEARCH_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';

interface Resource {
  schemas: string[];
  id: string;
  userName?: string;
  displayName?: string;
  meta: { resourceType: string; location: string };
}

eachDatabase('SCIM search from the root (POST /.search)', (database) => {
  let roster: TestApp;
  const memberIds: string[] = [];

  before(async () => {
    roster = await startTestApp({ database });
    for (const [userName, displayName] of [
      ['amy@example.com', 'Amy Root'],
      ['bob@example.com', 'Bob Root'],
      ['cat@example.com', undefined],
    ] as const) {
      const created = await roster.request('POST', '/Users', userBody(userName, displayName ? { displayName } : {}));
      assert.equal(created.status, 201, JSON.stringify(created.body));
      memberIds.push(created.body.id);
    }
    for (const name of ['Admins Root', 'Builders Root']) {
      const created = await roster.request('POST', '/Groups', groupBody(name, memberIds.slice(0, 2)));
      assert.equal(created.status, 201, JSON.stringify(created.body));
    }
  });
  after(async () => {
    await roster.close();
  });

  async function search(body: Record<string, unknown>): Promise<TestResponse> {
    return roster.request('POST', '/.search', { schemas: [SEARCH_REQUEST], ...body });
  }

  const names = (response: TestResponse): string[] => response.body.Resources.map((resource: Resource) => resource.userName ?? resource.displayName);
  const displayNames = (response: TestResponse): string[] => response.body.Resources.map((resource: Resource) => resource.displayName ?? resource.userName);

  test('a filter on an attribute both types have finds users and groups, each with its own schemas and meta', async () => {
    const response = await search({ filter: 'displayName ew "Root"', sortBy: 'displayName' });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.equal(response.body.totalResults, 4);
    assert.deepEqual(response.body.Resources.map((resource: Resource) => resource.displayName), ['Admins Root', 'Amy Root', 'Bob Root', 'Builders Root']);
    const [group, user] = response.body.Resources as Resource[];
    assert.deepEqual(group?.schemas, [GROUP_SCHEMA]);
    assert.equal(group?.meta.resourceType, 'Group');
    assert.match(group?.meta.location ?? '', /\/api\/scim\/v2\/Groups\//);
    assert.deepEqual(user?.schemas, [USER_SCHEMA]);
    assert.equal(user?.meta.resourceType, 'User');
    assert.match(user?.meta.location ?? '', /\/api\/scim\/v2\/Users\//);
  });

  test('an attribute one type lacks matches nothing of that type; `not` and `ne` hold for it there', async () => {
    assert.deepEqual(names(await search({ filter: 'userName sw "a"' })), ['amy@example.com']);
    assert.deepEqual(names(await search({ filter: 'members pr', sortBy: 'displayName' })), ['Admins Root', 'Builders Root']);
    assert.deepEqual(names(await search({ filter: 'not (userName pr)', sortBy: 'displayName' })), ['Admins Root', 'Builders Root']);
    const ne = await search({ filter: 'userName ne "amy@example.com"', sortBy: 'displayName' });
    assert.deepEqual(names(ne).sort(), ['Admins Root', 'Builders Root', 'bob@example.com', 'cat@example.com'].sort());
    // meta.resourceType is the same attribute on both, and tells them apart.
    assert.equal((await search({ filter: 'meta.resourceType eq "Group"' })).body.totalResults, 2);
    // A multi-valued attribute matches `ne` when one of its values differs: never without values.
    assert.deepEqual(names(await search({ filter: 'members.value ne "nobody"', sortBy: 'displayName' })), ['Admins Root', 'Builders Root']);
    assert.deepEqual(names(await search({ filter: 'emails.type ne "work"' })), []);
  });

  test('an attribute neither type has is 400 invalidFilter; a bad sortBy 400 invalidValue', async () => {
    const unknown = await search({ filter: 'shoeSize eq 42' });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.scimType, 'invalidFilter');
    assert.match(unknown.body.detail, /shoeSize/);
    const sort = await search({ sortBy: 'shoeSize' });
    assert.equal(sort.status, 400);
    assert.equal(sort.body.scimType, 'invalidValue');
  });

  test('sorting by an attribute one type lacks puts that type last ascending, first descending', async () => {
    const ascending = await search({ sortBy: 'userName' });
    assert.deepEqual(names(ascending).slice(0, 3), ['amy@example.com', 'bob@example.com', 'cat@example.com']);
    assert.deepEqual(names(ascending).slice(3).sort(), ['Admins Root', 'Builders Root']);
    const descending = await search({ sortBy: 'userName', sortOrder: 'descending' });
    assert.deepEqual(names(descending).slice(2), ['cat@example.com', 'bob@example.com', 'amy@example.com']);
  });

  test('startIndex and count page over the union', async () => {
    const pages: string[] = [];
    for (const startIndex of [1, 3, 5]) {
      const page = await search({ sortBy: 'displayName', startIndex, count: 2, attributes: ['displayName', 'userName'] });
      assert.equal(page.status, 200);
      assert.equal(page.body.totalResults, 5);
      assert.equal(page.body.startIndex, startIndex);
      pages.push(...displayNames(page));
    }
    // cat has no displayName: last ascending.
    assert.deepEqual(pages, ['Admins Root', 'Amy Root', 'Bob Root', 'Builders Root', 'cat@example.com']);
  });

  test('cursor paging walks the union', async () => {
    const seen: string[] = [];
    let cursor = '';
    do {
      const page = await search({ sortBy: 'displayName', sortOrder: 'descending', count: 2, cursor });
      assert.equal(page.status, 200, JSON.stringify(page.body));
      seen.push(...displayNames(page));
      cursor = page.body.nextCursor ?? '';
    } while (cursor !== '');
    assert.deepEqual(seen, ['cat@example.com', 'Builders Root', 'Bob Root', 'Amy Root', 'Admins Root']);
  });

  test('attributes and excludedAttributes apply to each type; members and groups are read only when shown', async () => {
    const response = await search({ filter: 'displayName sw "A"', sortBy: 'displayName', excludedAttributes: ['members', 'groups'] });
    assert.deepEqual(
      response.body.Resources.map((resource: Record<string, unknown>) => [resource.displayName, 'members' in resource, 'groups' in resource]),
      [
        ['Admins Root', false, false],
        ['Amy Root', false, false],
      ],
    );
    const full = await search({ filter: 'displayName eq "Admins Root"' });
    assert.equal(full.body.Resources[0].members.length, 2);
    const amy = await search({ filter: 'userName eq "amy@example.com"' });
    assert.equal(amy.body.Resources[0].groups.length, 2);
  });

  test('GET on the endpoint root searches the same way (RFC 7644 §3.4.2.1)', async () => {
    const response = await roster.request('GET', '/api/scim/v2/?filter=displayName%20ew%20%22Root%22&sortBy=displayName&count=1');
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.equal(response.body.totalResults, 4);
    assert.deepEqual(names(response), ['Admins Root']);
  });
});
