import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eachDatabase } from '../support/databases.ts';
import { startTestApp, userBody, type TestApp } from '../support/app.ts';

const ACME = 'urn:ietf:params:scim:schemas:extension:acme:2.0:User';
const HIRED = `${ACME}:hired`;
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

const TEAM = 'urn:example:scim:schemas:team:1.0:Group';
const SEARCH_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';

const ACME_SCHEMA = {
  id: ACME,
  name: 'AcmeUser',
  extends: 'User',
  attributes: [
    { name: 'hired', type: 'dateTime' },
    { name: 'reviews', type: 'dateTime', multiValued: true },
    { name: 'contracts', type: 'complex', multiValued: true, subAttributes: [{ name: 'kind', type: 'string' }, { name: 'start', type: 'dateTime' }] },
  ],
};
const TEAM_SCHEMA = { id: TEAM, name: 'Team', extends: 'Group', attributes: [{ name: 'formed', type: 'dateTime' }] };

/**
 * Users by the instant `hired` names (text order differs: the +02:00 one is first by instant,
 * and `…T10:00:00.5Z` sorts after `…T10:00:00Z+…` texts), and one without `hired`.
 */
const HIRES: readonly (readonly [string, string | undefined])[] = [
  ['dt-a@x.example', '2021-06-01T12:00:00+02:00'], // 10:00:00Z
  ['dt-b@x.example', '2021-06-01T10:00:00.500Z'],
  ['dt-c@x.example', '2021-06-01T10:30:00'], // no zone: UTC
  ['dt-d@x.example', '2021-06-01T09:00:00-02:00'], // 11:00:00Z
  ['dt-e@x.example', '2024-01-01T00:00:00Z'],
  ['dt-f@x.example', undefined],
];

eachDatabase('SCIM dateTime values (RFC 7643 §2.3.5)', (database) => {
  let roster: TestApp;

  before(async () => {
    roster = await startTestApp({ database });
    assert.equal((await roster.request('POST', '/api/v2/scim-schemas', ACME_SCHEMA)).status, 201);
    assert.equal((await roster.request('POST', '/api/v2/scim-schemas', TEAM_SCHEMA)).status, 201);
  });
  after(async () => {
    await roster.close();
  });

  async function userNames(filter: string): Promise<string[]> {
    const response = await roster.request('GET', `/Users?filter=${encodeURIComponent(filter)}`);
    assert.equal(response.status, 200, JSON.stringify(response.body));
    return response.body.Resources.map((user: { userName: string }) => user.userName).sort();
  }

  /** userNames(filter) among the users whose name starts with dt-. */
  async function dtNames(filter: string): Promise<string[]> {
    return userNames(`(${filter}) and userName sw "dt-"`);
  }

  /** The userNames of the users whose name starts with dt-, in the order the list gives them. */
  async function sorted(query: string): Promise<string[]> {
    const response = await roster.request('GET', `/Users?filter=${encodeURIComponent('userName sw "dt-"')}&${query}`);
    assert.equal(response.status, 200, JSON.stringify(response.body));
    return response.body.Resources.map((user: { userName: string }) => user.userName);
  }

  /**
   * Writes a `hired` value into a stored user as an earlier version could have stored it,
   * past today's validation: straight into its document and the folded copy filters read.
   */
  async function storeAsBefore(id: string, hired: string): Promise<void> {
    const { db, dialect } = roster.services.store;
    const row = await db.selectFrom('users as u').innerJoin('scim_users as su', 'su.user_id', 'u.id').select(['u.id', 'u.scim_data', 'u.scim_fold']).where('su.scim_id', '=', id).executeTakeFirstOrThrow();
    const withHired = (column: unknown) => {
      const document = dialect.fromJsonColumn(column) as Record<string, Record<string, unknown>>;
      return dialect.toJsonParameter({ ...document, [ACME]: { ...document[ACME], hired } });
    };
    await db.updateTable('users').set({ scim_data: withHired(row.scim_data), scim_fold: withHired(row.scim_fold) }).where('id', '=', row.id).execute();
  }

  test('a date that does not exist is a 400 invalidValue, and nothing is written', async () => {
    const created = await roster.request('POST', '/Users', userBody('feb30@x.example', { [ACME]: { hired: '2020-02-30T00:00:00Z' } }));
    assert.equal(created.status, 400);
    assert.equal(created.body.scimType, 'invalidValue');
    assert.match(created.body.detail, /hired must be an ISO 8601 date-time .*: February 2020 has 29 days/);
    assert.deepEqual(await userNames('userName eq "feb30@x.example"'), []);

    const user = await roster.request('POST', '/Users', userBody('valid@x.example', { [ACME]: { hired: '2020-02-29T00:00:00Z' } }));
    assert.equal(user.status, 201);
    const replaced = await roster.request('PUT', `/Users/${user.body.id}`, userBody('valid@x.example', { [ACME]: { hired: '2021-04-31T09:00:00Z' } }));
    assert.equal(replaced.status, 400);
    assert.match(replaced.body.detail, /April 2021 has 30 days/);
    const patched = await roster.request('PATCH', `/Users/${user.body.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'replace', path: HIRED, value: '2020-01-01T24:30:00Z' }],
    });
    assert.equal(patched.status, 400);
    assert.equal(patched.body.scimType, 'invalidValue');
    const unchanged = await roster.request('GET', `/Users/${user.body.id}`);
    assert.equal(unchanged.body[ACME].hired, '2020-02-29T00:00:00Z');
  });

  test('a filter comparing with a date that does not exist is a 400 invalidFilter', async () => {
    for (const filter of ['meta.created gt "2020-02-30T00:00:00Z"', `${HIRED} eq "2021-02-29"`, 'meta.lastModified lt "2024-01-01T10:00:00+15:00"']) {
      const response = await roster.request('GET', `/Users?filter=${encodeURIComponent(filter)}`);
      assert.equal(response.status, 400, filter);
      assert.equal(response.body.scimType, 'invalidFilter', filter);
    }
    const response = await roster.request('GET', `/Users?filter=${encodeURIComponent('meta.created gt "2020-02-30T00:00:00Z"')}`);
    assert.match(response.body.detail, /February 2020 has 29 days/);
  });

  test('filters compare the instants dates name, not their text, with every operator', async () => {
    for (const [userName, hired] of HIRES) {
      const created = await roster.request('POST', '/Users', userBody(userName, hired === undefined ? {} : { [ACME]: { hired } }));
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body[ACME]?.hired, hired, 'returned as sent');
    }
    assert.deepEqual(await dtNames(`${HIRED} eq "2024-01-01T00:00:00Z"`), ['dt-e@x.example']);
    assert.deepEqual(await dtNames(`${HIRED} eq "2024-01-01"`), ['dt-e@x.example']);
    assert.deepEqual(await dtNames(`${HIRED} eq "2021-06-01T10:00:00Z"`), ['dt-a@x.example']);
    assert.deepEqual(await dtNames(`${HIRED} lt "2021-06-01T10:30:00Z"`), ['dt-a@x.example', 'dt-b@x.example']);
    assert.deepEqual(await dtNames(`${HIRED} le "2021-06-01T10:30:00Z"`), ['dt-a@x.example', 'dt-b@x.example', 'dt-c@x.example']);
    assert.deepEqual(await dtNames(`${HIRED} gt "2021-06-01T10:30:00Z"`), ['dt-d@x.example', 'dt-e@x.example']);
    assert.deepEqual(await dtNames(`${HIRED} ge "2021-06-01T12:30:00+02:00"`), ['dt-c@x.example', 'dt-d@x.example', 'dt-e@x.example']);
    assert.deepEqual(await dtNames(`${HIRED} ne "2021-06-01T10:00:00Z"`), ['dt-b@x.example', 'dt-c@x.example', 'dt-d@x.example', 'dt-e@x.example', 'dt-f@x.example']);
    assert.deepEqual(await dtNames(`not (${HIRED} gt "2021-06-01T10:30:00Z")`), ['dt-a@x.example', 'dt-b@x.example', 'dt-c@x.example', 'dt-f@x.example']);
    assert.deepEqual(await dtNames(`${HIRED} pr`), ['dt-a@x.example', 'dt-b@x.example', 'dt-c@x.example', 'dt-d@x.example', 'dt-e@x.example']);
  });

  test('sortBy orders by instant, both ways, resources without a date last ascending', async () => {
    const ascending = ['dt-a@x.example', 'dt-b@x.example', 'dt-c@x.example', 'dt-d@x.example', 'dt-e@x.example', 'dt-f@x.example'];
    assert.deepEqual(await sorted(`sortBy=${encodeURIComponent(HIRED)}`), ascending);
    assert.deepEqual(await sorted(`sortBy=${encodeURIComponent(HIRED)}&sortOrder=descending`), ['dt-f@x.example', ...ascending.slice(0, 5).reverse()]);
  });

  test('a cursor walk sorted by a date visits every resource once, in instant order', async () => {
    const seen: string[] = [];
    let cursor = '';
    for (let page = 0; page < 10; page += 1) {
      const response = await roster.request('GET', `/Users?filter=${encodeURIComponent('userName sw "dt-"')}&sortBy=${encodeURIComponent(HIRED)}&count=2&cursor=${encodeURIComponent(cursor)}`);
      assert.equal(response.status, 200, JSON.stringify(response.body));
      seen.push(...response.body.Resources.map((user: { userName: string }) => user.userName));
      if (response.body.nextCursor === undefined) break;
      cursor = response.body.nextCursor;
    }
    assert.deepEqual(seen, ['dt-a@x.example', 'dt-b@x.example', 'dt-c@x.example', 'dt-d@x.example', 'dt-e@x.example', 'dt-f@x.example']);
  });

  test('groups and the root search compare and sort dates by instant too', async () => {
    for (const [name, formed] of [['Team Late', '2021-06-01T10:30:00Z'], ['Team Early', '2021-06-01T12:00:00+02:00']] as const) {
      assert.equal((await roster.request('POST', '/Groups', { displayName: name, [TEAM]: { formed } })).status, 201);
    }
    const groups = await roster.request('GET', `/Groups?filter=${encodeURIComponent(`${TEAM}:formed lt "2021-06-01T10:15:00Z"`)}`);
    assert.deepEqual(groups.body.Resources.map((group: { displayName: string }) => group.displayName), ['Team Early']);
    const byFormed = await roster.request('GET', `/Groups?filter=${encodeURIComponent(`${TEAM}:formed pr`)}&sortBy=${encodeURIComponent(`${TEAM}:formed`)}`);
    assert.deepEqual(byFormed.body.Resources.map((group: { displayName: string }) => group.displayName), ['Team Early', 'Team Late']);

    const root = await roster.request('POST', '/.search', {
      schemas: [SEARCH_REQUEST],
      filter: `(${HIRED} lt "2021-06-01T10:30:00Z" and userName sw "dt-") or ${TEAM}:formed lt "2021-06-01T10:15:00Z"`,
      sortBy: HIRED,
    });
    assert.equal(root.status, 200, JSON.stringify(root.body));
    assert.deepEqual(root.body.Resources.map((resource: { userName?: string; displayName?: string }) => resource.userName ?? resource.displayName), ['dt-a@x.example', 'dt-b@x.example', 'Team Early']);
  });

  test('dates inside multi-valued and complex attributes compare by instant, as attributes= value filters do', async () => {
    const created = await roster.request('POST', '/Users', userBody('multi@x.example', {
      [ACME]: {
        reviews: ['2022-03-01T09:00:00+05:00', '2022-09-01T00:00:00Z'],
        contracts: [{ kind: 'trial', start: '2022-01-01T23:30:00-01:00' }, { kind: 'permanent', start: '2022-01-02T00:15:00Z' }],
      },
    }));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(await userNames(`${ACME}:reviews lt "2022-03-01T04:30:00Z"`), ['multi@x.example']);
    assert.deepEqual(await userNames(`${ACME}:reviews lt "2022-03-01T03:30:00Z"`), []);
    // The trial starts at 00:30Z on the 2nd, after the permanent contract's 00:15Z.
    const filter = `${ACME}:contracts[start gt "2022-01-02T00:20:00Z"]`;
    assert.deepEqual(await userNames(filter), ['multi@x.example']);
    const projected = await roster.request('GET', `/Users/${created.body.id}?attributes=${encodeURIComponent(filter)}`);
    assert.deepEqual(projected.body[ACME].contracts, [{ kind: 'trial', start: '2022-01-01T23:30:00-01:00' }]);
    const sortedByStart = await roster.request('GET', `/Users?filter=${encodeURIComponent(`${ACME}:contracts pr`)}&sortBy=${encodeURIComponent(`${ACME}:contracts.start`)}`);
    assert.equal(sortedByStart.status, 200, JSON.stringify(sortedByStart.body));
  });

  test('values stored by earlier versions that name no instant match no comparison and never fail', async () => {
    const created = await roster.request('POST', '/Users', userBody('dt-old@x.example', { [ACME]: { hired: '2021-06-01T10:00:00Z' } }));
    assert.equal(created.status, 201);
    for (const hired of ['2020-02-30T00:00:00Z', 'not a date', '2021-06-01T10:00:00.', '']) {
      await storeAsBefore(created.body.id, hired);
      assert.equal((await roster.request('GET', `/Users/${created.body.id}`)).body[ACME].hired, hired);
      for (const op of ['eq', 'gt', 'ge', 'lt', 'le']) {
        assert.deepEqual(await userNames(`${HIRED} ${op} "2020-03-01T00:00:00Z" and userName eq "dt-old@x.example"`), [], `${hired} ${op}`);
      }
      assert.deepEqual(await userNames(`${HIRED} ne "2020-03-01T00:00:00Z" and userName eq "dt-old@x.example"`), ['dt-old@x.example']);
      const last = await sorted(`sortBy=${encodeURIComponent(HIRED)}`);
      assert.deepEqual(last.slice(-2).sort(), ['dt-f@x.example', 'dt-old@x.example'], 'sorted as no value');
    }
  });
});
