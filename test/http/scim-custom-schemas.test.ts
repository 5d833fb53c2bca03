import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { buildApp } from '../../src/http/app.ts';
import { createServices } from '../../src/services.ts';
import { eachDatabase } from '../support/databases.ts';
import { BASE_URL, SCIM, groupBody, startTestApp, userBody, type TestApp } from '../support/app.ts';

const SCHEMAS = '/api/v2/scim-schemas';
const ACME = 'urn:ietf:params:scim:schemas:extension:acme:2.0:User';
const TEAM = 'urn:example:scim:schemas:team:1.0:Group';
const UNDECLARED = 'urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

/** The example of docs/scim.md, "Custom attributes". */
const ACME_SCHEMA = {
  id: ACME,
  name: 'AcmeUser',
  description: 'Acme HR attributes',
  extends: 'User',
  attributes: [
    { name: 'badge', type: 'string', uniqueness: 'server', description: 'Badge number, unique regardless of case' },
    { name: 'costCode', type: 'string', caseExact: true },
    { name: 'level', type: 'integer' },
    { name: 'hired', type: 'dateTime' },
    { name: 'remote', type: 'boolean' },
    { name: 'skills', type: 'string', multiValued: true },
    { name: 'site', type: 'complex', subAttributes: [{ name: 'city', type: 'string' }, { name: 'floor', type: 'integer' }] },
    { name: 'employeeId', type: 'string', mutability: 'immutable' },
    { name: 'aliases', type: 'string', multiValued: true, uniqueness: 'server' },
  ],
};

const TEAM_SCHEMA = {
  schemas: ['urn:ietf:params:scim:schemas:core:2.0:Schema'],
  id: TEAM,
  name: 'Team',
  extends: 'Group',
  attributes: [
    { name: 'costCenter', type: 'string', required: true },
    { name: 'lead', type: 'string' },
  ],
};

eachDatabase('SCIM custom attributes (declared extension schemas)', (database) => {
  let roster: TestApp;
  const ids: Record<string, string> = {};

  before(async () => {
    roster = await startTestApp({ database });
  });
  after(async () => {
    await roster.close();
  });

  async function search(filter: string, extra = ''): Promise<string[]> {
    const response = await roster.request('GET', `/Users?filter=${encodeURIComponent(filter)}${extra}`);
    assert.equal(response.status, 200, JSON.stringify(response.body));
    return response.body.Resources.map((user: { userName: string }) => user.userName);
  }

  async function auditDetails(targetType: string, action: string): Promise<Record<string, unknown>[]> {
    const page = await roster.request('GET', `/api/v2/audit-logs?targetType=${targetType}&pageSize=100`);
    return page.body.auditLogs.filter((entry: { action: string }) => entry.action === action).map((entry: { details: Record<string, unknown> }) => entry.details);
  }

  test('before any declaration, an extension is ignored and the audit trail names what was dropped', async () => {
    const created = await roster.request('POST', '/Users', userBody('early@example.com', { [ACME]: { badge: 'B-0' }, [UNDECLARED]: { favourite: 'tea' } }));
    assert.equal(created.status, 201);
    assert.equal(created.body[ACME], undefined);
    const [details] = await auditDetails('user', 'user.created');
    assert.deepEqual(details?.ignoredAttributes, [`${ACME}:badge`, `${UNDECLARED}:favourite`]);
  });

  test('POST /api/v2/scim-schemas declares a schema; /Schemas and /ResourceTypes show it at once', async () => {
    const response = await roster.request('POST', SCHEMAS, ACME_SCHEMA);
    assert.equal(response.status, 201, JSON.stringify(response.body));
    assert.equal(response.body.id, ACME);
    assert.equal(response.body.extends, 'User');
    const badge = response.body.attributes[0];
    assert.deepEqual(badge, {
      name: 'badge',
      type: 'string',
      multiValued: false,
      description: 'Badge number, unique regardless of case',
      required: false,
      caseExact: false,
      mutability: 'readWrite',
      returned: 'default',
      uniqueness: 'server',
    });
    assert.equal((await roster.request('POST', SCHEMAS, TEAM_SCHEMA)).status, 201);

    const schemas = await roster.request('GET', '/Schemas');
    assert.equal(schemas.body.totalResults, 5);
    const acme = await roster.request('GET', `/Schemas/${ACME}`);
    assert.equal(acme.status, 200);
    assert.equal(acme.body.meta.location, `${BASE_URL}${SCIM}/Schemas/${ACME}`);
    assert.deepEqual(acme.body.attributes.map((attribute: { name: string }) => attribute.name), ACME_SCHEMA.attributes.map((attribute) => attribute.name));
    const user = await roster.request('GET', '/ResourceTypes/User');
    assert.deepEqual(user.body.schemaExtensions, [
      { schema: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User', required: false },
      { schema: ACME, required: false },
    ]);
    const group = await roster.request('GET', '/ResourceTypes/Group');
    assert.deepEqual(group.body.schemaExtensions, [{ schema: TEAM, required: false }]);

    const listed = await roster.request('GET', SCHEMAS);
    assert.deepEqual(listed.body.schemas.map((schema: { id: string }) => schema.id), [ACME, TEAM]);
    // What GET returns is a declaration: sending it back is refused only because it exists.
    const again = await roster.request('POST', SCHEMAS, listed.body.schemas[0]);
    assert.equal(again.status, 400);
    assert.match(again.body.message, /is already declared: remove it first/);
    const [declared] = await auditDetails('schema', 'scim.schema_added');
    assert.equal(declared?.urn, TEAM);
  });

  test('a declaration is checked strictly: one 400 that names every problem', async () => {
    const response = await roster.request('POST', SCHEMAS, {
      id: 'urn:ietf:params:scim:schemas:core:2.0:Whatever',
      name: 'Bad',
      extends: 'Device',
      attributes: [
        { name: '1st', type: 'string' },
        { name: 'kind', type: 'strin' },
        { name: 'secret', type: 'string', mutability: 'writeOnly' },
        { name: 'address', type: 'complex', uniqueness: 'server', subAttributes: [{ name: 'inner', type: 'complex', subAttributes: [{ name: 'x', type: 'string' }] }] },
        { name: 'Kind', type: 'boolean' },
        { name: 'flag', type: 'boolean', uniqueness: 'global', extra: 1 },
      ],
    });
    assert.equal(response.status, 400);
    const message: string = response.body.message;
    for (const expected of [
      /id: urn:ietf:params:scim:schemas:core:… is reserved/,
      /extends: must be "User" or "Group"/,
      /attributes\[0\]\.name: "1st" is not an attribute name/,
      /attributes\[1\]\.type: must be string, boolean, decimal, integer, dateTime, binary, reference, complex \(not "strin"\)/,
      /attributes\[2\]\.mutability: writeOnly is not supported/,
      /attributes\[3\]\.uniqueness: server cannot apply to a complex attribute/,
      /attributes\[3\]\.subAttributes\[0\]\.type: a sub-attribute cannot be complex/,
      /attributes\[4\]\.name: "Kind" is already defined by attributes\[1\]/,
      /attributes\[5\]: unknown member "extra"/,
      /attributes\[5\]\.uniqueness: global cannot apply to a boolean attribute/,
    ]) {
      assert.match(message, expected);
    }
    // The top level is refused by the route schema, like every admin API body: a 400 naming the field.
    const unknownMember = await roster.request('POST', SCHEMAS, { ...ACME_SCHEMA, id: `${ACME}:colour`, colour: 'blue' });
    assert.equal(unknownMember.status, 400);
    assert.match(unknownMember.body.message, /colour/);
    assert.equal((await roster.request('GET', SCHEMAS)).body.schemas.length, 2, 'nothing was declared');
    const prefix = await roster.request('POST', SCHEMAS, { ...ACME_SCHEMA, id: `${ACME}:sub` });
    assert.match(prefix.body.message, /would make attribute names ambiguous/);
  });

  test('the schema routes are for administrators only', async () => {
    assert.equal((await roster.request('POST', '/Users', userBody('plain@example.com'))).status, 201);
    const user = await roster.services.accounts.findByLogin('plain@example.com');
    assert.ok(user);
    const token = await roster.tokenFor(user.id, 'plain-token');
    const response = await roster.app.inject({ method: 'POST', url: SCHEMAS, headers: { authorization: `Bearer ${token}` }, payload: ACME_SCHEMA });
    assert.equal(response.statusCode, 403);
  });

  test('POST and GET /Users store and return custom attributes, typed as declared', async () => {
    const body = userBody('ada@example.com', {
      [ACME]: { badge: 'Ünit-7', costCode: 'CC-1', level: 3, hired: '2020-02-01T09:00:00Z', remote: 'True', skills: ['SQL', 'Go'], site: { city: 'Zürich', floor: 4 }, employeeId: 'E1' },
    });
    const created = await roster.request('POST', '/Users', body);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    ids.ada = created.body.id;
    assert.deepEqual(created.body.schemas, ['urn:ietf:params:scim:schemas:core:2.0:User', ACME]);
    assert.deepEqual(created.body[ACME], { badge: 'Ünit-7', costCode: 'CC-1', level: 3, hired: '2020-02-01T09:00:00Z', remote: true, skills: ['SQL', 'Go'], site: { city: 'Zürich', floor: 4 }, employeeId: 'E1' });
    const read = await roster.request('GET', `/Users/${ids.ada}`);
    assert.deepEqual(read.body[ACME], created.body[ACME]);
    const projected = await roster.request('GET', `/Users/${ids.ada}?attributes=${ACME}:level`);
    assert.deepEqual(projected.body[ACME], { level: 3 });

    const wrongType = await roster.request('POST', '/Users', userBody('bad@example.com', { [ACME]: { level: 'three' } }));
    assert.equal(wrongType.status, 400);
    assert.equal(wrongType.body.scimType, 'invalidValue');
    assert.match(wrongType.body.detail, /level must be an integer/);

    for (const [login, extension] of [
      ['bob@example.com', { badge: 'B-2', costCode: 'cc-1', level: 5, hired: '2021-06-01T00:00:00Z', remote: false, skills: ['sql'], site: { city: 'ZÜRICH' }, employeeId: 'E2' }],
      ['cyd@example.com', { badge: 'B-3', level: 1, skills: ['Rust'], site: { city: 'Oslo', floor: 1 } }],
    ] as const) {
      const response = await roster.request('POST', '/Users', userBody(login, { [ACME]: extension }));
      assert.equal(response.status, 201, JSON.stringify(response.body));
      ids[login] = response.body.id;
    }
  });

  test('filters compile custom attributes to SQL: case rules, types, multi-valued and complex', async () => {
    assert.deepEqual(await search(`${ACME}:badge eq "ÜNIT-7"`), ['ada@example.com']);
    assert.deepEqual(await search(`${ACME}:costCode eq "cc-1"`), ['bob@example.com'], 'caseExact');
    assert.deepEqual(await search(`${ACME}:level gt 2`, '&sortBy=userName'), ['ada@example.com', 'bob@example.com']);
    assert.deepEqual(await search(`${ACME}:hired lt "2021-01-01T00:00:00Z"`), ['ada@example.com']);
    assert.deepEqual(await search(`${ACME}:remote eq false`), ['bob@example.com']);
    assert.deepEqual(await search(`${ACME}:skills eq "SQL"`, '&sortBy=userName'), ['ada@example.com', 'bob@example.com']);
    assert.deepEqual(await search(`${ACME}:site.city eq "zürich"`, '&sortBy=userName'), ['ada@example.com', 'bob@example.com']);
    assert.deepEqual(await search(`${ACME}:site.city co "RIC"`, '&sortBy=userName'), ['ada@example.com', 'bob@example.com']);
    assert.deepEqual(await search(`${ACME}:employeeId pr`, '&sortBy=userName'), ['ada@example.com', 'bob@example.com']);
    assert.deepEqual(await search(`${ACME}:site.floor ge 4`), ['ada@example.com']);
    const bad = await roster.request('GET', `/Users?filter=${encodeURIComponent(`${ACME}:level co "1"`)}`);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.scimType, 'invalidFilter');
  });

  test('sortBy a custom attribute, ascending and descending', async () => {
    const ascending = await roster.request('GET', `/Users?filter=${encodeURIComponent(`${ACME}:level pr`)}&sortBy=${ACME}:level`);
    assert.deepEqual(ascending.body.Resources.map((user: { userName: string }) => user.userName), ['cyd@example.com', 'ada@example.com', 'bob@example.com']);
    const descending = await roster.request('GET', `/Users?filter=${encodeURIComponent(`${ACME}:level pr`)}&sortBy=${ACME}:site.city&sortOrder=descending`);
    assert.deepEqual(descending.body.Resources.map((user: { userName: string }) => user.userName).slice(-1), ['cyd@example.com'], 'oslo after zürich');
  });

  test('PATCH changes custom attributes by path, by value and as a whole extension', async () => {
    const patch = (Operations: unknown[]) => roster.request('PATCH', `/Users/${ids['cyd@example.com']}`, { schemas: [PATCH_OP], Operations });
    let response = await patch([
      { op: 'replace', path: `${ACME}:level`, value: 2 },
      { op: 'add', path: `${ACME}:skills`, value: ['Go'] },
      { op: 'replace', path: `${ACME}:site.city`, value: 'Bergen' },
    ]);
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.deepEqual(response.body[ACME], { badge: 'B-3', level: 2, skills: ['Rust', 'Go'], site: { city: 'Bergen', floor: 1 } });
    response = await patch([{ op: 'add', value: { [ACME]: { remote: true } } }, { op: 'remove', path: `${ACME}:skills` }]);
    assert.deepEqual(response.body[ACME], { badge: 'B-3', level: 2, remote: true, site: { city: 'Bergen', floor: 1 } });
    assert.deepEqual(await search(`${ACME}:site.city eq "BERGEN"`), ['cyd@example.com']);
    response = await patch([{ op: 'remove', path: ACME }]);
    assert.equal(response.body[ACME], undefined);
    assert.deepEqual(response.body.schemas, ['urn:ietf:params:scim:schemas:core:2.0:User']);
    response = await patch([{ op: 'replace', path: `${ACME}:level`, value: 'high' }]);
    assert.equal(response.status, 400);
    assert.equal(response.body.scimType, 'invalidValue');
  });

  test('PUT replaces custom values; an immutable one is kept when left out and refused when changed', async () => {
    const put = (extension: Record<string, unknown>) => roster.request('PUT', `/Users/${ids.ada}`, userBody('ada@example.com', { [ACME]: extension }));
    let response = await put({ badge: 'Ünit-7', level: 4 });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.deepEqual(response.body[ACME], { badge: 'Ünit-7', level: 4, employeeId: 'E1' });
    response = await put({ badge: 'Ünit-7', employeeId: 'E9' });
    assert.equal(response.status, 400);
    assert.equal(response.body.scimType, 'mutability');
    assert.match(response.body.detail, /employeeId is immutable/);
    response = await roster.request('PATCH', `/Users/${ids.ada}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: `${ACME}:employeeId`, value: 'E9' }] });
    assert.equal(response.status, 400);
    assert.equal(response.body.scimType, 'mutability');
    response = await roster.request('PATCH', `/Users/${ids['cyd@example.com']}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: `${ACME}:employeeId`, value: 'E3' }] });
    assert.equal(response.status, 200, 'an unassigned immutable attribute may be set');
    // Removing the whole extension would take the immutable value with it, after which any other
    // could be set: refused as removing the attribute itself is, and nothing changes.
    response = await roster.request('PATCH', `/Users/${ids.ada}`, { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: ACME }] });
    assert.equal(response.status, 400, JSON.stringify(response.body));
    assert.equal(response.body.scimType, 'mutability');
    assert.match(response.body.detail, /employeeId, which is immutable/);
    assert.equal((await roster.request('GET', `/Users/${ids.ada}`)).body[ACME].employeeId, 'E1');
  });

  test('uniqueness: server is enforced regardless of case, and freed when the user is deleted', async () => {
    let response = await roster.request('POST', '/Users', userBody('dup@example.com', { [ACME]: { badge: 'ünit-7' } }));
    assert.equal(response.status, 409);
    assert.equal(response.body.scimType, 'uniqueness');
    assert.match(response.body.detail, new RegExp(`${ACME}:badge "ünit-7" is already used by another user`));
    response = await roster.request('PATCH', `/Users/${ids['bob@example.com']}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: `${ACME}:badge`, value: 'UNIT-7'.replace('U', 'Ü') }] });
    assert.equal(response.status, 409);
    const bob = await roster.request('GET', `/Users/${ids['bob@example.com']}`);
    assert.equal(bob.body[ACME].badge, 'B-2', 'the refused change left nothing behind');
    // Each value of a multi-valued unique attribute is unique.
    const aliases = (id: string | undefined, values: string[]) =>
      roster.request('PATCH', `/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: `${ACME}:aliases`, value: values }] });
    assert.equal((await aliases(ids['cyd@example.com'], ['Ana', 'Β-1'])).status, 200);
    const taken = await aliases(ids['bob@example.com'], ['bob', 'β-1']);
    assert.equal(taken.status, 409);
    assert.match(taken.body.detail, /aliases "β-1" is already used/);
    // A user may keep its own value through any number of writes.
    assert.equal((await roster.request('PUT', `/Users/${ids.ada}`, userBody('ada@example.com', { [ACME]: { badge: 'Ünit-7', employeeId: 'E1' } }))).status, 200);
    assert.equal((await roster.request('DELETE', `/Users/${ids.ada}`)).status, 204);
    response = await roster.request('POST', '/Users', userBody('dup@example.com', { [ACME]: { badge: 'ünit-7' } }));
    assert.equal(response.status, 201, JSON.stringify(response.body));
  });

  test('a declared Group extension: required attribute, stored, filterable', async () => {
    const missing = await roster.request('POST', '/Groups', { ...groupBody('Ops'), [TEAM]: { } , [`${TEAM}:nothing`]: 1 });
    assert.equal(missing.status, 201, 'an empty extension object is no extension');
    const refused = await roster.request('POST', '/Groups', { ...groupBody('Dev'), [TEAM]: { unknown: 'x' } });
    assert.equal(refused.status, 201);
    const created = await roster.request('POST', '/Groups', { ...groupBody('Finance'), [TEAM]: { costCenter: 'Écu-1', lead: 'Zoë' } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body[TEAM], { costCenter: 'Écu-1', lead: 'Zoë' });
    const incomplete = await roster.request('POST', '/Groups', { ...groupBody('Legal'), [TEAM]: { lead: 'Max' } });
    assert.equal(incomplete.status, 400);
    assert.match(incomplete.body.detail, /costCenter is required to create a Group/);
    const found = await roster.request('GET', `/Groups?filter=${encodeURIComponent(`${TEAM}:costCenter eq "ÉCU-1"`)}`);
    assert.deepEqual(found.body.Resources.map((group: { displayName: string }) => group.displayName), ['Finance']);
    const patched = await roster.request('PATCH', `/Groups/${created.body.id}?attributes=${TEAM}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'remove', path: `${TEAM}:costCenter` }],
    });
    assert.equal(patched.status, 400);
    assert.match(patched.body.detail, /costCenter is required/);
  });

  test('/Bulk writes custom attributes with the schemas in force: POST, PUT keeping an immutable value, PATCH', async () => {
    const response = await roster.request('POST', '/Bulk', {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'],
      Operations: [
        { method: 'POST', path: '/Users', bulkId: 'b1', data: userBody('bulk@example.com', { [ACME]: { badge: 'BULK-1', level: 7, employeeId: 'E-B' }, [UNDECLARED]: { x: 1 } }) },
        { method: 'PUT', path: '/Users/bulkId:b1', data: userBody('bulk@example.com', { [ACME]: { badge: 'BULK-1', level: 8 } }) },
        { method: 'PATCH', path: '/Users/bulkId:b1', data: { schemas: [PATCH_OP], Operations: [{ op: 'add', path: `${ACME}:skills`, value: ['Bulk'] }] } },
        { method: 'POST', path: '/Groups', bulkId: 'g1', data: { ...groupBody('Bulk team'), [TEAM]: { costCenter: 'B-1' } } },
      ],
    });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.deepEqual(response.body.Operations.map((operation: { status: string }) => operation.status), ['201', '200', '200', '201'], JSON.stringify(response.body));
    const id = String(response.body.Operations[0].location).split('/').pop();
    const user = await roster.request('GET', `/Users/${id}`);
    assert.deepEqual(user.body[ACME], { badge: 'BULK-1', level: 8, skills: ['Bulk'], employeeId: 'E-B' });
    const created = (await auditDetails('user', 'user.created')).find((details) => Array.isArray(details['ignoredAttributes']) && (details['ignoredAttributes'] as string[]).includes(`${UNDECLARED}:x`));
    assert.ok(created, 'the Bulk POST audit entry names what it ignored');
    const group = await roster.request('GET', `/Groups?filter=${encodeURIComponent(`${TEAM}:costCenter eq "b-1"`)}`);
    assert.deepEqual(group.body.Resources.map((found: { displayName: string }) => found.displayName), ['Bulk team']);
    // The unique value is enforced for Bulk too.
    const again = await roster.request('POST', '/Bulk', {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'],
      Operations: [{ method: 'POST', path: '/Users', bulkId: 'b2', data: userBody('bulk2@example.com', { [ACME]: { badge: 'bulk-1' } }) }],
    });
    assert.equal(again.body.Operations[0].status, '409');
  });

  test('PATCH of undeclared attributes changes nothing and is audited with ignoredAttributes', async () => {
    const id = ids['bob@example.com'];
    const before = await roster.request('GET', `/Users/${id}`);
    const response = await roster.request('PATCH', `/Users/${id}`, {
      schemas: [PATCH_OP],
      Operations: [
        { op: 'replace', path: `${UNDECLARED}:costCentre`, value: 'x' },
        { op: 'add', value: { [`${UNDECLARED}:department`]: 'y', nickname2: 'z' } },
      ],
    });
    assert.equal(response.status, 200);
    assert.equal(response.body.meta.version, before.body.meta.version, 'nothing changed');
    const [details] = await auditDetails('user', 'user.attributes_ignored');
    assert.deepEqual(details?.ignoredAttributes, [`${UNDECLARED}:costCentre`, `${UNDECLARED}:department`, 'nickname2']);
  });

  test('another instance sees a schema declared or removed through this one at its next request', async () => {
    const other = createServices(roster.services.store, { baseUrl: BASE_URL });
    const app = await buildApp({ services: other, baseUrl: BASE_URL });
    const schemaOnOther = async (urn: string) =>
      (await app.inject({ method: 'GET', url: `${SCIM}/Schemas/${urn}`, headers: { authorization: `Bearer ${roster.token}` } })).statusCode;
    try {
      // The other instance has read the schemas in force before the change (and keeps them while they do not change).
      assert.equal(await schemaOnOther('urn:example:scim:late:1.0:User'), 404);
      const declared = await roster.request('POST', SCHEMAS, { id: 'urn:example:scim:late:1.0:User', name: 'Late', extends: 'User', attributes: [{ name: 'shoeSize', type: 'decimal' }] });
      assert.equal(declared.status, 201);
      const response = await app.inject({
        method: 'POST',
        url: `${SCIM}/Users`,
        headers: { authorization: `Bearer ${roster.token}`, 'content-type': 'application/scim+json' },
        payload: userBody('late@example.com', { 'urn:example:scim:late:1.0:User': { shoeSize: 42.5 } }),
      });
      assert.equal(response.statusCode, 201, response.body);
      assert.deepEqual(JSON.parse(response.body)['urn:example:scim:late:1.0:User'], { shoeSize: 42.5 });
      assert.equal(await schemaOnOther('urn:example:scim:late:1.0:User'), 200);
      assert.equal((await roster.request('DELETE', `${SCHEMAS}/urn:example:scim:late:1.0:User?force=true`)).status, 204);
      assert.equal(await schemaOnOther('urn:example:scim:late:1.0:User'), 404);
    } finally {
      await app.close();
    }
  });

  test('removing a schema in use is refused (409) unless forced, which deletes its values as a change', async () => {
    const id = ids['bob@example.com'];
    const before = await roster.request('GET', `/Users/${id}`);
    const refused = await roster.request('DELETE', `${SCHEMAS}/${ACME}`);
    assert.equal(refused.status, 409);
    // Five users: bob, cyd, dup, bulk, and ada, whose SCIM resource was deleted but whose account keeps its values.
    assert.match(refused.body.message, /is in use: 5 users carry its attributes.*force/);
    assert.equal((await roster.request('GET', `/Users/${id}`)).body[ACME].badge, 'B-2');

    assert.equal((await roster.request('DELETE', `${SCHEMAS}/${ACME.toUpperCase().replace('URN:', 'urn:')}?force=true`)).status, 204);
    const after = await roster.request('GET', `/Users/${id}`);
    assert.equal(after.body[ACME], undefined);
    assert.notEqual(after.body.meta.version, before.body.meta.version);
    const filtered = await roster.request('GET', `/Users?filter=${encodeURIComponent(`${ACME}:badge pr`)}`);
    assert.equal(filtered.status, 400);
    assert.match(filtered.body.detail, /unknown schema/);
    assert.equal((await roster.request('GET', `/Schemas/${ACME}`)).status, 404);
    const [removed] = await auditDetails('schema', 'scim.schema_removed');
    assert.deepEqual(removed, { urn: ACME, extends: 'User', force: true, resourcesChanged: 5 });

    // Declared again, it starts empty: nothing of the old values comes back.
    assert.equal((await roster.request('POST', SCHEMAS, ACME_SCHEMA)).status, 201);
    assert.equal((await roster.request('GET', `/Users/${id}`)).body[ACME], undefined);
    assert.equal((await roster.request('DELETE', `${SCHEMAS}/urn:nope:x`)).status, 404);
  });
});
