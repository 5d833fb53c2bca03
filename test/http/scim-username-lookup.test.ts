/**
 * `GET /Users?filter=userName eq "…"`, the lookup IdPs make before every write, is answered
 * from a query compiled once (directory/users.ts): its answers must be exactly those of the
 * general filter path, which `userName eq "…" and userName pr` still takes.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openStore, type Store } from '../../src/store/index.ts';
import { eachDatabase } from '../support/databases.ts';
import { groupBody, startTestApp, userBody, type TestApp, type TestResponse } from '../support/app.ts';

eachDatabase('userName eq lookups', (database) => {
  let roster: TestApp;
  let store: Store;
  const ids: Record<string, string> = {};

  before(async () => {
    roster = await startTestApp({ database });
    store = await openStore(roster.location, { migrate: false });
    for (const userName of ['Émile@example.com', 'STRASSE@example.com', 'lookup@example.com', 'twin@example.com', 'other-twin@example.com']) {
      const created = await roster.request('POST', '/Users', userBody(userName, { name: { givenName: 'G', familyName: userName } }));
      assert.equal(created.status, 201, JSON.stringify(created.body));
      ids[userName] = created.body.id;
    }
    const group = await roster.request('POST', '/Groups', groupBody('Lookup readers', [ids['lookup@example.com']!]));
    assert.equal(group.status, 201, JSON.stringify(group.body));
    // Two users whose names are equal regardless of case, as migration 011 may find them in a
    // database written before case keys (the unique index allows them through login_conflict).
    await store.db
      .updateTable('users')
      .set({ login: 'TWIN@example.com', login_key: 'twin@example.com', login_conflict: 1 })
      .where('login', '=', 'other-twin@example.com')
      .execute();
  });
  after(async () => {
    await store.close();
    await roster.close();
  });

  const list = (filter: string, extra = '') => roster.request('GET', `/Users?filter=${encodeURIComponent(filter)}${extra}`);
  /** What a client sees of a list answer. */
  const seen = (response: TestResponse) => {
    assert.equal(response.status, 200, JSON.stringify(response.body));
    return { totalResults: response.body.totalResults, startIndex: response.body.startIndex, itemsPerPage: response.body.itemsPerPage, Resources: response.body.Resources };
  };
  /** The same lookup answered by the general path: a condition true for every user joined to it. */
  const general = (value: string, extra = '') => list(`userName eq ${JSON.stringify(value)} and userName pr`, extra);

  const cases: Array<[string, string, string?]> = [
    ['the exact name', 'lookup@example.com'],
    ['another case', 'LOOKUP@Example.COM'],
    ['a name equal by case folding', 'strasse@example.com'],
    ['a name equal by full case folding (ß)', 'straße@EXAMPLE.com'],
    ['an accented name in another case', 'émile@example.com'],
    ['no such user', 'nobody@example.com'],
    ['a local user (not provisioned)', 'admin'],
    ['two users in case conflict', 'Twin@example.com'],
    ['two users in case conflict, one a page', 'twin@example.com', '&count=1'],
    ['the second page', 'lookup@example.com', '&startIndex=2'],
    ['no resources asked for', 'lookup@example.com', '&count=0'],
    ['some attributes', 'lookup@example.com', '&attributes=userName,groups'],
    ['excluded attributes', 'lookup@example.com', '&excludedAttributes=groups,name'],
    ['in descending order', 'twin@example.com', '&sortOrder=descending'],
  ];
  for (const [what, value, extra] of cases) {
    test(`${what}: the same answer as the general filter path`, async () => {
      const fast = seen(await list(`userName eq ${JSON.stringify(value)}`, extra ?? ''));
      assert.deepEqual(fast, seen(await general(value, extra ?? '')));
    });
  }

  test('the answers are the users themselves, with their groups and versions as GET by id gives them', async () => {
    const found = seen(await list('userName eq "LOOKUP@example.com"'));
    assert.equal(found.totalResults, 1);
    const byId = await roster.request('GET', `/Users/${ids['lookup@example.com']}`);
    assert.deepEqual(found.Resources, [byId.body]);
    assert.deepEqual(found.Resources[0].groups.map((group: { display: string }) => group.display), ['Lookup readers']);

    const twins = seen(await list('userName eq "TWIN@EXAMPLE.COM"'));
    assert.equal(twins.totalResults, 2);
    assert.deepEqual(twins.Resources.map((user: { id: string }) => user.id), [ids['twin@example.com'], ids['other-twin@example.com']].sort());
    assert.equal(seen(await list('userName eq "admin"')).totalResults, 0);
  });

  test('GET /Users/{id} reads the user and its groups in one statement: the groups by name, as a list shows them', async () => {
    const id = ids['Émile@example.com']!;
    const names = ['zeta', 'Alpha', 'émile-team', 'Beta', 'alpha2', 'Zürich'];
    for (const name of names) {
      const group = await roster.request('POST', '/Groups', groupBody(name, [id]));
      assert.equal(group.status, 201, JSON.stringify(group.body));
    }
    // A group not provisioned through SCIM is not a SCIM group of the user.
    const user = await roster.request('GET', `/Users/${id}`);
    assert.equal(user.status, 200, JSON.stringify(user.body));
    const listed = seen(await roster.request('GET', `/Users?filter=${encodeURIComponent('userName eq "émile@example.com" and userName pr')}`));
    assert.deepEqual(user.body.groups, listed.Resources[0].groups);
    assert.equal(user.body.groups.length, names.length);
    assert.deepEqual(user.body.groups.map((group: { display: string }) => group.display).sort(), [...names].sort());
    for (const group of user.body.groups) assert.equal(group.$ref.endsWith(`/Groups/${group.value}`), true);
    // And a user in no group has none.
    const alone = await roster.request('GET', `/Users/${ids['STRASSE@example.com']}`);
    assert.equal(alone.body.groups, undefined);
  });

  test('the schema-qualified attribute and a cursor walk give the same users', async () => {
    const qualified = seen(await list('urn:ietf:params:scim:schemas:core:2.0:User:userName eq "twin@example.com"'));
    assert.deepEqual(qualified, seen(await list('userName eq "twin@example.com"')));
    const first = await list('userName eq "twin@example.com"', '&count=1&cursor=');
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.Resources.length, 1);
    const second = await list('userName eq "twin@example.com"', `&count=1&cursor=${encodeURIComponent(first.body.nextCursor)}`);
    assert.equal(second.status, 200, JSON.stringify(second.body));
    assert.deepEqual(
      [first.body.Resources[0].id, second.body.Resources[0].id],
      [ids['twin@example.com'], ids['other-twin@example.com']].sort(),
    );
  });
});
