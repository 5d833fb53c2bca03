/**
 * Where declared extension schemas and Unicode case keys meet cursor paging (RFC 9865), the
 * root /.search, /Me, /Bulk and manager references: custom attributes filter, sort and page
 * by keyset like built-in ones, and every case-insensitive comparison uses the case keys, so
 * that both databases give the same answers for all of Unicode.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { caseKey } from '../../src/text.ts';
import { eachDatabase } from '../support/databases.ts';
import { SCIM, groupBody, startTestApp, userBody, type TestApp, type TestResponse } from '../support/app.ts';

const ORG = 'urn:example:scim:schemas:org:1.0:User';
const SQUAD = 'urn:example:scim:schemas:squad:1.0:Group';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const SEARCH_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
const BULK_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

const ORG_SCHEMA = {
  id: ORG,
  name: 'Org',
  extends: 'User',
  attributes: [
    { name: 'division', type: 'string' },
    { name: 'rank', type: 'integer' },
    { name: 'badge', type: 'string', uniqueness: 'server' },
  ],
};

const SQUAD_SCHEMA = { id: SQUAD, name: 'Squad', extends: 'Group', attributes: [{ name: 'division', type: 'string' }] };

/** Division spellings: equal keys in pairs (Émile/émile, Straße/STRASSE), EMILE apart (no accent), and none. */
const DIVISIONS = ['Émile', 'émile', 'EMILE', 'Straße', 'STRASSE', 'zeta', 'Alpha', undefined] as const;
/** userName prefixes whose keys order differently from their spellings (É after z in code points). */
const PREFIXES = ['Émile', 'zoë', 'ÄRGER', 'straße', 'Alpha'] as const;

interface Listed {
  id: string;
  userName: string;
  [ORG]?: { division?: string; rank?: number; badge?: string };
}

function assertScimError(response: TestResponse, status: number, scimType: string | undefined): void {
  assert.equal(response.status, status, JSON.stringify(response.body));
  assert.deepEqual(response.body.schemas, [ERROR_SCHEMA]);
  assert.equal(response.body.scimType, scimType);
}

/** Whether `keys` never go down (ascending) or up (descending), NULLs last ascending and first descending. */
function assertOrdered(keys: readonly (string | number | null)[], descending: boolean): void {
  // -1, 0 or 1 as `a` sorts before, with or after `b` ascending (NULLs last).
  const compare = (a: string | number | null, b: string | number | null): number => {
    if (a === null || b === null) return a === b ? 0 : a === null ? 1 : -1;
    return a < b ? -1 : a > b ? 1 : 0;
  };
  for (let i = 1; i < keys.length; i += 1) {
    const order = compare(keys[i - 1] ?? null, keys[i] ?? null);
    assert.ok(descending ? order >= 0 : order <= 0, `out of order at ${i}: ${String(keys[i - 1])} then ${String(keys[i])}`);
  }
}

eachDatabase('SCIM custom attributes with cursors, root search, /Me and /Bulk', (database) => {
  let roster: TestApp;
  const users: { id: string; userName: string; division: string | undefined; rank: number | undefined }[] = [];

  before(async () => {
    roster = await startTestApp({ database });
    assert.equal((await roster.request('POST', '/api/v2/scim-schemas', ORG_SCHEMA)).status, 201);
    assert.equal((await roster.request('POST', '/api/v2/scim-schemas', SQUAD_SCHEMA)).status, 201);
    for (let i = 0; i < 40; i += 1) {
      const division = DIVISIONS[i % DIVISIONS.length];
      // Ranks 0–29 spread so that text order (10 < 9) and numeric order differ; every fifth has none.
      const rank = i % 5 === 4 ? undefined : (i * 7) % 30;
      const userName = `${PREFIXES[i % PREFIXES.length]}-${String(i).padStart(2, '0')}@example.com`;
      const org = { ...(division !== undefined ? { division } : {}), ...(rank !== undefined ? { rank } : {}) };
      const created = await roster.request('POST', '/Users', userBody(userName, { displayName: `${PREFIXES[i % PREFIXES.length]} ${i}`, [ORG]: org }));
      assert.equal(created.status, 201, JSON.stringify(created.body));
      users.push({ id: created.body.id, userName, division, rank });
    }
  });
  after(async () => {
    await roster.close();
  });

  /** Every page of a cursor walk over `path` (a query string without cursor). */
  async function walk(path: string, between?: (page: number) => Promise<void>): Promise<Listed[]> {
    const seen: Listed[] = [];
    let cursor = '';
    for (let page = 0; page < 100; page += 1) {
      const response = await roster.request('GET', `${path}&cursor=${encodeURIComponent(cursor)}`);
      assert.equal(response.status, 200, JSON.stringify(response.body));
      seen.push(...response.body.Resources);
      if (response.body.nextCursor === undefined) return seen;
      cursor = response.body.nextCursor;
      if (between) await between(page);
    }
    throw new Error('the walk did not end');
  }

  async function byIndex(path: string): Promise<Listed[]> {
    const response = await roster.request('GET', `${path}&startIndex=1&count=1000`);
    assert.equal(response.status, 200, JSON.stringify(response.body));
    return response.body.Resources;
  }

  test('a cursor walk sorted by a custom text attribute follows its case keys, as index paging does', async () => {
    const query = `/Users?filter=${encodeURIComponent('userName ew "@example.com"')}&sortBy=${ORG}:division&count=6`;
    const walked = await walk(query);
    const indexed = await byIndex(`/Users?filter=${encodeURIComponent('userName ew "@example.com"')}&sortBy=${ORG}:division`);
    assert.deepEqual(walked.map((user) => user.id), indexed.map((user) => user.id));
    assert.equal(walked.length, 40);
    const keys = walked.map((user) => (user[ORG]?.division === undefined ? null : caseKey(user[ORG].division)));
    assertOrdered(keys, false);
    // Code-point order of the keys: É (U+00E9) sorts after z, the same on both databases; Émile and émile are one key.
    assert.deepEqual([...new Set(keys)], ['alpha', 'emile', 'strasse', 'zeta', 'émile', null]);
  });

  test('a cursor walk sorted by a custom attribute descending sees every surviving user once while others come and go', async () => {
    const before = new Set(users.map((user) => user.id));
    const deleted = new Set<string>();
    let extra = 0;
    const walked = await walk(`/Users?sortBy=${ORG}:division&sortOrder=descending&count=5`, async (page) => {
      extra += 1;
      await roster.request('POST', '/Users', userBody(`churn-${extra}@example.org`, { [ORG]: { division: extra % 2 === 0 ? 'ÉMILE' : 'straße' } }));
      const victim = users[(page * 11 + 3) % users.length];
      if (victim !== undefined && !deleted.has(victim.id) && page % 2 === 1) {
        assert.equal((await roster.request('DELETE', `/Users/${victim.id}`)).status, 204);
        deleted.add(victim.id);
      }
    });
    const ids = walked.map((user) => user.id);
    assert.equal(new Set(ids).size, ids.length, 'no user is seen twice');
    assert.deepEqual([...before].filter((id) => !deleted.has(id) && !ids.includes(id)), [], 'every user that existed throughout is seen');
    assert.ok(deleted.size > 0);
    assertOrdered(walked.map((user) => (user[ORG]?.division === undefined ? null : caseKey(user[ORG].division))), true);
    // Restore the list the other tests expect.
    for (const user of users.filter((candidate) => deleted.has(candidate.id))) {
      const again = await roster.request('POST', '/Users', userBody(user.userName, { displayName: user.userName, [ORG]: { ...(user.division !== undefined ? { division: user.division } : {}), ...(user.rank !== undefined ? { rank: user.rank } : {}) } }));
      assert.equal(again.status, 201, JSON.stringify(again.body));
      user.id = again.body.id;
    }
    for (let i = 1; i <= extra; i += 1) {
      const found = await roster.request('GET', `/Users?filter=${encodeURIComponent(`userName eq "churn-${i}@example.org"`)}`);
      for (const user of found.body.Resources) await roster.request('DELETE', `/Users/${user.id}`);
    }
  });

  test('a cursor walk sorted by a custom integer attribute is in numeric order (9 before 10), by keyset', async () => {
    const query = `/Users?sortBy=${ORG}:rank&count=7`;
    const walked = await walk(query);
    assert.deepEqual(walked.map((user) => user.id), (await byIndex(`/Users?sortBy=${ORG}:rank`)).map((user) => user.id));
    const ranks = walked.map((user) => user[ORG]?.rank ?? null);
    assertOrdered(ranks, false);
    assert.ok(ranks.includes(9) && ranks.includes(10) && ranks.indexOf(9) < ranks.indexOf(10));
    const back = await walk(`/Users?sortBy=${ORG}:rank&sortOrder=descending&count=7`);
    assertOrdered(back.map((user) => user[ORG]?.rank ?? null), true);
    assert.equal(back.length, walked.length);
  });

  test('a cursor walk filtered on a custom attribute compares case keys: ÉMILE finds Émile and émile, not EMILE', async () => {
    const walked = await walk(`/Users?filter=${encodeURIComponent(`${ORG}:division eq "ÉMILE"`)}&sortBy=userName&count=2`);
    assert.deepEqual(new Set(walked.map((user) => user[ORG]?.division)), new Set(['Émile', 'émile']));
    assert.equal(walked.length, users.filter((user) => user.division === 'Émile' || user.division === 'émile').length);
    const strasse = await walk(`/Users?filter=${encodeURIComponent(`${ORG}:division eq "strasse"`)}&count=3`);
    assert.deepEqual(new Set(strasse.map((user) => user[ORG]?.division)), new Set(['Straße', 'STRASSE']));
  });

  test('a cursor walk sorted by userName orders case keys: the same Unicode order on both databases', async () => {
    const walked = await walk('/Users?sortBy=userName&count=9');
    const keys = walked.map((user) => caseKey(user.userName));
    assert.deepEqual(keys, [...keys].sort());
    // ä and é sort after every ASCII letter in code-point order, whatever the database's locale.
    assert.ok(keys.findIndex((key) => key.startsWith('zoë')) < keys.findIndex((key) => key.startsWith('ärger')));
    assert.ok(keys.findIndex((key) => key.startsWith('ärger')) < keys.findIndex((key) => key.startsWith('émile')));
  });

  test('the root /.search filters and sorts by a custom attribute, walks by cursor, and shows declared extensions', async () => {
    assert.equal((await roster.request('POST', '/Groups', { ...groupBody('Émile squad'), [SQUAD]: { division: 'ÉMILE' } })).status, 201);
    assert.equal((await roster.request('POST', '/Groups', groupBody('zeta squad'))).status, 201);
    const search = (body: Record<string, unknown>) => roster.request('POST', '/.search', { schemas: [SEARCH_REQUEST], ...body });

    const found = await search({ filter: `${ORG}:division eq "straße"`, sortBy: 'userName' });
    assert.equal(found.status, 200, JSON.stringify(found.body));
    assert.ok(found.body.Resources.length > 0);
    for (const resource of found.body.Resources) {
      assert.equal(resource.meta.resourceType, 'User');
      assert.ok(resource.schemas.includes(ORG), 'a user shows its declared extension');
      assert.equal(caseKey(resource[ORG].division), 'strasse');
    }
    const squads = await search({ filter: `${SQUAD}:division eq "émile"` });
    assert.deepEqual(squads.body.Resources.map((resource: { displayName: string }) => resource.displayName), ['Émile squad']);
    assert.deepEqual(squads.body.Resources[0][SQUAD], { division: 'ÉMILE' });

    // The whole union by cursor, sorted by the user extension's attribute: groups have none, so come last.
    const seen: { id: string; meta: { resourceType: string }; [ORG]?: { division?: string } }[] = [];
    let cursor = '';
    do {
      const page = await search({ sortBy: `${ORG}:division`, count: 8, cursor });
      assert.equal(page.status, 200, JSON.stringify(page.body));
      seen.push(...page.body.Resources);
      cursor = page.body.nextCursor ?? '';
    } while (cursor !== '');
    const all = await search({ sortBy: `${ORG}:division`, startIndex: 1, count: 1000 });
    assert.deepEqual(seen.map((resource) => resource.id), all.body.Resources.map((resource: { id: string }) => resource.id));
    // Groups have no value (NULL), so they come after every user with a division.
    assertOrdered(seen.map((resource) => (resource[ORG]?.division === undefined ? null : caseKey(resource[ORG].division))), false);
    assert.equal(seen.filter((resource) => resource.meta.resourceType === 'Group').length, 2);
  });

  test('the root /.search sorts users and groups by displayName on case keys, and matches displayName regardless of Unicode case', async () => {
    const response = await roster.request('POST', '/.search', { schemas: [SEARCH_REQUEST], filter: 'displayName sw "É" or displayName sw "z"', sortBy: 'displayName', count: 1000 });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    const names: string[] = response.body.Resources.map((resource: { displayName: string }) => resource.displayName);
    assert.ok(names.includes('Émile squad') && names.includes('zeta squad'));
    assert.deepEqual(names.map(caseKey), names.map(caseKey).sort());
    // `sw "É"` matched é spellings only (keys), `sw "z"` the z ones: no E without accent.
    assert.ok(names.every((name) => /^[éz]/.test(caseKey(name))));
    const exact = await roster.request('POST', '/.search', { schemas: [SEARCH_REQUEST], filter: 'displayName eq "ÉMILE SQUAD"' });
    assert.deepEqual(exact.body.Resources.map((resource: { displayName: string }) => resource.displayName), ['Émile squad']);
  });

  test('/Me returns the attributes of declared extensions', async () => {
    const created = await roster.request('POST', '/Users', userBody('me@example.net', { [ORG]: { division: 'Straße', rank: 3 } }));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const account = await roster.services.accounts.findByLogin('me@example.net');
    assert.ok(account);
    const token = await roster.tokenFor(account.id, 'own-me');
    const response = await roster.app.inject({ method: 'GET', url: `${SCIM}/Me`, headers: { authorization: `Bearer ${token}` } });
    assert.equal(response.statusCode, 200, response.body);
    const body = JSON.parse(response.body);
    assert.equal(body.id, created.body.id);
    assert.ok(body.schemas.includes(ORG));
    assert.deepEqual(body[ORG], { division: 'Straße', rank: 3 });
    const projected = await roster.app.inject({ method: 'GET', url: `${SCIM}/Me?attributes=${ORG}:rank`, headers: { authorization: `Bearer ${token}` } });
    assert.deepEqual(JSON.parse(projected.body)[ORG], { rank: 3 });
  });

  test('/Bulk writes custom attributes that filters and cursor walks then find', async () => {
    const response = await roster.request('POST', '/Bulk', {
      schemas: [BULK_REQUEST],
      Operations: [
        { method: 'POST', path: '/Users', bulkId: 'n1', data: userBody('bulk-one@example.net', { [ORG]: { division: 'Nord', badge: 'N-1' } }) },
        { method: 'PATCH', path: '/Users/bulkId:n1', data: { schemas: [PATCH_OP], Operations: [{ op: 'add', path: `${ORG}:rank`, value: 99 }] } },
        { method: 'POST', path: '/Users', bulkId: 'n2', data: userBody('bulk-two@example.net', { [ORG]: { division: 'NORD', rank: 98 } }) },
      ],
    });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.deepEqual(response.body.Operations.map((entry: { status: string }) => entry.status), ['201', '200', '201']);
    const walked = await walk(`/Users?filter=${encodeURIComponent(`${ORG}:division eq "nord"`)}&sortBy=${ORG}:rank&count=1`);
    assert.deepEqual(walked.map((user) => [user.userName, user[ORG]]), [
      ['bulk-two@example.net', { division: 'NORD', rank: 98 }],
      ['bulk-one@example.net', { division: 'Nord', badge: 'N-1', rank: 99 }],
    ]);
  });

  test('/Bulk enforces case-key uniqueness: userName and declared unique values equal under full case folding are 409', async () => {
    const response = await roster.request('POST', '/Bulk', {
      schemas: [BULK_REQUEST],
      Operations: [
        { method: 'POST', path: '/Users', bulkId: 'a', data: userBody('Émile.Bulk@example.net', { [ORG]: { badge: 'STRASSE-7' } }) },
        { method: 'POST', path: '/Users', bulkId: 'b', data: userBody('émile.bulk@EXAMPLE.NET') },
        // The same name in NFD (E + U+0301): one key with the NFC spelling.
        { method: 'POST', path: '/Users', bulkId: 'c', data: userBody('E\u0301mile.bulk@example.net') },
        { method: 'POST', path: '/Users', bulkId: 'd', data: userBody('other.bulk@example.net', { [ORG]: { badge: 'straße-7' } }) },
        { method: 'POST', path: '/Groups', bulkId: 'g1', data: groupBody('Straße Bulk') },
        { method: 'POST', path: '/Groups', bulkId: 'g2', data: groupBody('STRASSE BULK') },
      ],
    });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    const entries: { bulkId: string; status: string; response?: { scimType?: string } }[] = response.body.Operations;
    assert.deepEqual(entries.map((entry) => [entry.bulkId, entry.status, entry.response?.scimType]), [
      ['a', '201', undefined],
      ['b', '409', 'uniqueness'],
      ['c', '409', 'uniqueness'],
      ['d', '409', 'uniqueness'],
      ['g1', '201', undefined],
      ['g2', '409', 'uniqueness'],
    ]);
    // A Bulk PUT that renames a user onto another's key is refused the same way.
    const other = await roster.request('POST', '/Users', userBody('rename.bulk@example.net'));
    const rename = await roster.request('POST', '/Bulk', {
      schemas: [BULK_REQUEST],
      Operations: [{ method: 'PUT', path: `/Users/${other.body.id}`, data: userBody('ÉMILE.BULK@example.net') }],
    });
    assert.equal(rename.body.Operations[0].status, '409', JSON.stringify(rename.body));
    assert.equal(rename.body.Operations[0].response.scimType, 'uniqueness');
  });

  test('manager.displayName compares by case keys in filters and sorts (no 500), as GET shows it', async () => {
    const manager = await roster.request('POST', '/Users', userBody('zola@example.net', { displayName: 'Émile Zola' }));
    assert.equal(manager.status, 201);
    const managed: string[] = [];
    for (const name of ['managed-a@example.net', 'managed-b@example.net']) {
      const created = await roster.request('POST', '/Users', userBody(name, { [ENTERPRISE]: { manager: { value: manager.body.id } } }));
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body[ENTERPRISE].manager.displayName, 'Émile Zola');
      managed.push(created.body.id);
    }
    const filter = encodeURIComponent(`${ENTERPRISE}:manager.displayName eq "ÉMILE ZOLA"`);
    const found = await roster.request('GET', `/Users?filter=${filter}&sortBy=userName`);
    assert.equal(found.status, 200, JSON.stringify(found.body));
    assert.deepEqual(found.body.Resources.map((user: { id: string }) => user.id), managed);
    const byRef = await roster.request('GET', `/Users?filter=${encodeURIComponent(`${ENTERPRISE}:manager.$ref co "/USERS/${manager.body.id.toUpperCase()}"`)}`);
    assert.equal(byRef.status, 200, JSON.stringify(byRef.body));
    assert.equal(byRef.body.totalResults, 2);
    const sorted = await walk(`/Users?filter=${encodeURIComponent(`${ENTERPRISE}:manager pr`)}&sortBy=${ENTERPRISE}:manager.displayName&count=1`);
    assert.deepEqual(sorted.map((user) => user.id).sort(), [...managed].sort());
  });

  test('a cursor is refused (400 invalidCursor) once its sort attribute no longer exists; the walk restarts cleanly', async () => {
    const first = await roster.request('GET', `/Users?sortBy=${ORG}:rank&count=5&cursor=`);
    assert.equal(first.status, 200);
    const removed = await roster.request('DELETE', `/api/v2/scim-schemas/${encodeURIComponent(ORG)}?force=true`);
    assert.equal(removed.status, 204, JSON.stringify(removed.body));
    const next = await roster.request('GET', `/Users?sortBy=${ORG}:rank&count=5&cursor=${encodeURIComponent(first.body.nextCursor)}`);
    assertScimError(next, 400, 'invalidValue');
    assert.match(next.body.detail, /unknown (schema|attribute)/);
    assert.equal((await roster.request('GET', '/Users?sortBy=userName&count=5&cursor=')).status, 200);
  });
});
