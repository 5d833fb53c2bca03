import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eachDatabase } from '../support/databases.ts';
import { BASE_URL, SCIM, groupBody, startTestApp, userBody, type TestApp } from '../support/app.ts';

const BULK_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
const BULK_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:BulkResponse';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const USERS = `${BASE_URL}${SCIM}/Users/`;
const GROUPS = `${BASE_URL}${SCIM}/Groups/`;

/** A BulkRequest body. */
function bulk(operations: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { schemas: [BULK_REQUEST], ...extra, Operations: operations };
}

const RESPONSE_KEYS = new Set(['location', 'method', 'bulkId', 'version', 'status', 'response']);

/** Checks an entry against RFC 7644 §3.7.3: only its members, status a string, an error body on failure. */
function assertEntryShape(entry: any): void {
  for (const key of Object.keys(entry)) assert.ok(RESPONSE_KEYS.has(key), `unexpected member ${key} in ${JSON.stringify(entry)}`);
  assert.equal(typeof entry.status, 'string');
  assert.match(entry.status, /^\d{3}$/);
  assert.equal(typeof entry.method, 'string');
  if (Number(entry.status) >= 400) {
    assert.deepEqual(entry.response.schemas, [ERROR]);
    assert.equal(entry.response.status, entry.status);
    assert.equal(typeof entry.response.detail, 'string');
    assert.equal(entry.version, undefined);
  } else {
    assert.equal(entry.response, undefined);
    assert.equal(typeof entry.location, 'string');
  }
}

async function userNamed(roster: TestApp, userName: string): Promise<any> {
  const found = await roster.request('GET', `/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}`);
  return found.body.Resources[0];
}

async function groupNamed(roster: TestApp, displayName: string): Promise<any> {
  const found = await roster.request('GET', `/Groups?filter=${encodeURIComponent(`displayName eq "${displayName}"`)}`);
  return found.body.Resources[0];
}

eachDatabase('SCIM /Bulk', (database) => {
  let roster: TestApp;
  before(async () => {
    roster = await startTestApp({ database });
  });
  after(async () => {
    await roster.close();
  });

  test('POST /Bulk runs POST, PUT, PATCH and DELETE on users and groups, one RFC 7644 §3.7.3 entry each', async () => {
    const replaced = (await roster.request('POST', '/Users', userBody('mixed-replaced'))).body;
    const patched = (await roster.request('POST', '/Users', userBody('mixed-patched'))).body;
    const deleted = (await roster.request('POST', '/Users', userBody('mixed-deleted'))).body;
    const group = (await roster.request('POST', '/Groups', groupBody('Mixed Group', [patched.id]))).body;
    const response = await roster.request('POST', '/Bulk', bulk([
      { method: 'POST', path: '/Users', bulkId: 'created', data: userBody('mixed-created', { displayName: 'Created In Bulk' }) },
      { method: 'PUT', path: `/Users/${replaced.id}`, data: userBody('mixed-replaced', { title: 'Replaced' }) },
      { method: 'PATCH', path: `/Users/${patched.id}`, data: { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'Patched' }] } },
      { method: 'DELETE', path: `/Users/${deleted.id}` },
      { method: 'PATCH', path: `/Groups/${group.id}`, data: { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: replaced.id }] }] } },
      { method: 'PUT', path: `/Groups/${group.id}`, data: groupBody('Mixed Group Renamed', [replaced.id, patched.id]) },
      { method: 'POST', path: '/Groups', bulkId: 'new-group', data: groupBody('Mixed New Group') },
    ]));
    assert.equal(response.status, 200);
    assert.match(String(response.headers['content-type']), /^application\/scim\+json/);
    assert.deepEqual(response.body.schemas, [BULK_RESPONSE]);
    const entries = response.body.Operations;
    assert.equal(entries.length, 7);
    entries.forEach(assertEntryShape);

    const created = await userNamed(roster, 'mixed-created');
    assert.equal(created.displayName, 'Created In Bulk');
    assert.deepEqual(entries[0], { location: `${USERS}${created.id}`, method: 'POST', bulkId: 'created', version: created.meta.version, status: '201' });
    const afterPut = (await roster.request('GET', `/Users/${replaced.id}`)).body;
    assert.equal(afterPut.title, 'Replaced');
    // The later group operations of the same request add these users to a group and rename it,
    // which moves their versions on (a user's version follows its groups): the entries carry
    // the version right after their own write, so only the user's own part matches GET's now.
    const ownPart = (etag: string) => /^W\/"(\d+)\./.exec(etag)?.[1];
    assert.deepEqual({ ...entries[1], version: ownPart(entries[1].version) }, { location: `${USERS}${replaced.id}`, method: 'PUT', version: ownPart(afterPut.meta.version), status: '200' });
    assert.notEqual(entries[1].version, afterPut.meta.version, 'joining and renaming a group changed the version');
    const afterPatch = (await roster.request('GET', `/Users/${patched.id}`)).body;
    assert.equal(afterPatch.title, 'Patched');
    assert.deepEqual({ ...entries[2], version: ownPart(entries[2].version) }, { location: `${USERS}${patched.id}`, method: 'PATCH', version: ownPart(afterPatch.meta.version), status: '200' });
    assert.equal((await roster.request('GET', `/Users/${deleted.id}`)).status, 404);
    assert.deepEqual(entries[3], { location: `${USERS}${deleted.id}`, method: 'DELETE', status: '204' });
    // A group PATCH answers 204, as the single request does without `attributes`.
    assert.equal(entries[4].status, '204');
    assert.equal(entries[4].location, `${GROUPS}${group.id}`);
    const afterGroupPut = (await roster.request('GET', `/Groups/${group.id}`)).body;
    assert.equal(afterGroupPut.displayName, 'Mixed Group Renamed');
    assert.deepEqual(afterGroupPut.members.map((member: any) => member.value).sort(), [replaced.id, patched.id].sort());
    assert.deepEqual(entries[5], { location: `${GROUPS}${group.id}`, method: 'PUT', version: afterGroupPut.meta.version, status: '200' });
    const newGroup = await groupNamed(roster, 'Mixed New Group');
    assert.deepEqual(entries[6], { location: `${GROUPS}${newGroup.id}`, method: 'POST', bulkId: 'new-group', version: newGroup.meta.version, status: '201' });
  });

  test('a group created in the same request has the members created in it, whatever their order (bulkId references)', async () => {
    // The RFC 7644 §3.7.2 example, with the group first: it runs after the users it references.
    const response = await roster.request('POST', '/Bulk', bulk([
      { method: 'POST', path: '/Groups', bulkId: 'ytrewq', data: { ...groupBody('Tour Guides'), members: [{ type: 'User', value: 'bulkId:qwerty' }, { value: 'bulkId:asdfgh' }] } },
      { method: 'POST', path: '/Users', bulkId: 'qwerty', data: userBody('alice@tour.example') },
      { method: 'POST', path: '/Users', bulkId: 'asdfgh', data: userBody('bob@tour.example') },
    ]));
    assert.equal(response.status, 200);
    const [groupEntry, aliceEntry, bobEntry] = response.body.Operations;
    assert.deepEqual([groupEntry.bulkId, aliceEntry.bulkId, bobEntry.bulkId], ['ytrewq', 'qwerty', 'asdfgh'], 'entries come in request order');
    assert.deepEqual(response.body.Operations.map((entry: any) => entry.status), ['201', '201', '201']);
    const alice = await userNamed(roster, 'alice@tour.example');
    const bob = await userNamed(roster, 'bob@tour.example');
    const group = (await roster.request('GET', groupEntry.location.slice(BASE_URL.length))).body;
    assert.equal(group.displayName, 'Tour Guides');
    assert.deepEqual(group.members.map((member: any) => member.value).sort(), [alice.id, bob.id].sort());
    assert.deepEqual(alice.groups.map((g: any) => g.value), [group.id]);
  });

  test("a user's manager by bulkId, with or without the extension's URN, and in a PUT path and PATCH value", async () => {
    const response = await roster.request('POST', '/Bulk', bulk([
      { method: 'POST', path: '/Users', bulkId: 'boss', data: userBody('boss@example.com') },
      { method: 'POST', path: '/Users', bulkId: 'report', data: { ...userBody('report@example.com'), schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', ENTERPRISE], [ENTERPRISE]: { employeeNumber: '7', manager: { value: 'bulkId:boss' } } } },
      { method: 'POST', path: '/Users', bulkId: 'other', data: { ...userBody('other@example.com'), manager: 'bulkId:boss' } },
      { method: 'PUT', path: '/Users/bulkId:boss', data: userBody('boss@example.com', { title: 'Boss', [ENTERPRISE]: { manager: { value: 'bulkId:other' } } }) },
      { method: 'PATCH', path: '/users/bulkId:other', data: { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: `${ENTERPRISE}:manager`, value: { value: 'bulkId:report' } }] } },
    ]));
    assert.deepEqual(response.body.Operations.map((entry: any) => entry.status), ['201', '201', '201', '200', '200']);
    const boss = await userNamed(roster, 'boss@example.com');
    const report = await userNamed(roster, 'report@example.com');
    const other = await userNamed(roster, 'other@example.com');
    assert.equal(report[ENTERPRISE].manager.value, boss.id);
    assert.equal(report[ENTERPRISE].employeeNumber, '7');
    assert.equal(boss.title, 'Boss');
    assert.equal(boss[ENTERPRISE].manager.value, other.id);
    assert.equal(other[ENTERPRISE].manager.value, report.id);
    assert.equal(response.body.Operations[3].location, `${USERS}${boss.id}`);
    assert.equal(response.body.Operations[4].location, `${USERS}${other.id}`);
  });

  test('PATCH operations take bulkId references in member values and in path filters', async () => {
    const existing = (await roster.request('POST', '/Users', userBody('patch-ref-existing'))).body;
    const group = (await roster.request('POST', '/Groups', groupBody('Patch Ref Group', [existing.id]))).body;
    const response = await roster.request('POST', '/Bulk', bulk([
      { method: 'PATCH', path: `/Groups/${group.id}`, data: { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: 'bulkId:carol' }, { value: 'bulkId:dave' }] }] } },
      { method: 'POST', path: '/Users', bulkId: 'carol', data: userBody('carol@patch.example') },
      { method: 'POST', path: '/Users', bulkId: 'dave', data: userBody('dave@patch.example') },
      { method: 'PATCH', path: `/Groups/${group.id}`, data: { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: 'members[value eq "bulkId:dave"]' }] } },
    ]));
    assert.deepEqual(response.body.Operations.map((entry: any) => entry.status), ['204', '201', '201', '204']);
    const carol = await userNamed(roster, 'carol@patch.example');
    const members = (await roster.request('GET', `/Groups/${group.id}`)).body.members.map((member: any) => member.value).sort();
    assert.deepEqual(members, [existing.id, carol.id].sort());
  });

  test('circular references answer 409 for each operation in the circle; the other operations run', async () => {
    const response = await roster.request('POST', '/Bulk', bulk([
      { method: 'POST', path: '/Users', bulkId: 'a', data: userBody('circle-a', { [ENTERPRISE]: { manager: { value: 'bulkId:b' } } }) },
      { method: 'POST', path: '/Users', bulkId: 'b', data: userBody('circle-b', { [ENTERPRISE]: { manager: { value: 'bulkId:a' } } }) },
      { method: 'POST', path: '/Users', bulkId: 'self', data: userBody('circle-self', { [ENTERPRISE]: { manager: { value: 'bulkId:self' } } }) },
      { method: 'POST', path: '/Groups', bulkId: 'g1', data: { ...groupBody('Circle G1'), members: [{ value: 'bulkId:g2' }] } },
      { method: 'POST', path: '/Groups', bulkId: 'g2', data: { ...groupBody('Circle G2'), members: [{ value: 'bulkId:g1' }] } },
      { method: 'POST', path: '/Users', bulkId: 'outside', data: userBody('circle-outside') },
    ]));
    assert.equal(response.status, 200);
    const entries = response.body.Operations;
    entries.forEach(assertEntryShape);
    assert.deepEqual(entries.map((entry: any) => entry.status), ['409', '409', '409', '409', '409', '201']);
    assert.match(entries[0].response.detail, /Operations\[0\] \(bulkId:a\), Operations\[1\] \(bulkId:b\) reference each other in a circle/);
    assert.match(entries[2].response.detail, /references its own bulkId/);
    assert.equal(entries[0].location, undefined, 'a failed POST has no location');
    assert.equal(await userNamed(roster, 'circle-a'), undefined);
    assert.equal(await groupNamed(roster, 'Circle G1'), undefined);
    assert.ok(await userNamed(roster, 'circle-outside'));

    // What docs/scim.md advises instead: create both, then set one reference by PATCH.
    const advised = await roster.request('POST', '/Bulk', bulk([
      { method: 'POST', path: '/Users', bulkId: 'a', data: userBody('circle-a') },
      { method: 'POST', path: '/Users', bulkId: 'b', data: userBody('circle-b', { [ENTERPRISE]: { manager: { value: 'bulkId:a' } } }) },
      { method: 'PATCH', path: '/Users/bulkId:a', data: { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'manager', value: 'bulkId:b' }] } },
    ]));
    assert.deepEqual(advised.body.Operations.map((entry: any) => entry.status), ['201', '201', '200']);
    const [a, b] = [await userNamed(roster, 'circle-a'), await userNamed(roster, 'circle-b')];
    assert.deepEqual([a[ENTERPRISE].manager.value, b[ENTERPRISE].manager.value], [b.id, a.id]);
  });

  test('a reference to a POST that failed answers 409; to a bulkId no POST has, 400 invalidValue', async () => {
    await roster.request('POST', '/Users', userBody('taken@example.com'));
    const response = await roster.request('POST', '/Bulk', bulk([
      { method: 'POST', path: '/Users', bulkId: 'dup', data: userBody('TAKEN@example.com') },
      { method: 'POST', path: '/Groups', bulkId: 'needs-dup', data: { ...groupBody('Needs Dup'), members: [{ value: 'bulkId:dup' }] } },
      { method: 'PATCH', path: '/Groups/bulkId:needs-dup', data: { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'x' }] } },
      { method: 'DELETE', path: '/Users/bulkId:nobody' },
      { method: 'DELETE', path: '/Users/bulkId:not-a-post', bulkId: 'not-a-post' },
    ]));
    const entries = response.body.Operations;
    entries.forEach(assertEntryShape);
    assert.deepEqual(entries.map((entry: any) => entry.status), ['409', '409', '409', '400', '400']);
    assert.equal(entries[0].response.scimType, 'uniqueness');
    assert.match(entries[1].response.detail, /bulkId:dup.*\(Operations\[0\]\) failed with status 409/);
    assert.match(entries[2].response.detail, /bulkId:needs-dup/);
    assert.equal(entries[2].location, undefined);
    assert.equal(entries[3].response.scimType, 'invalidValue');
    assert.match(entries[3].response.detail, /bulkId:nobody names no operation/);
    assert.match(entries[4].response.detail, /only a POST's bulkId/);
    assert.equal(await groupNamed(roster, 'Needs Dup'), undefined);
  });

  test('failOnErrors stops after that many failed operations; the response lists only what ran', async () => {
    const response = await roster.request('POST', '/Bulk', bulk([
      { method: 'POST', path: '/Users', bulkId: 'f1', data: userBody('fail-on-1') },
      { method: 'DELETE', path: '/Users/no-such-user-1' },
      { method: 'POST', path: '/Users', bulkId: 'f2', data: userBody('fail-on-2') },
      { method: 'POST', path: '/Users', bulkId: 'f3', data: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'] } },
      { method: 'POST', path: '/Users', bulkId: 'f4', data: userBody('fail-on-4') },
    ], { failOnErrors: 2 }));
    assert.equal(response.status, 200);
    const entries = response.body.Operations;
    assert.deepEqual(entries.map((entry: any) => [entry.bulkId, entry.status]), [['f1', '201'], [undefined, '404'], ['f2', '201'], ['f3', '400']]);
    assert.ok(await userNamed(roster, 'fail-on-2'));
    assert.equal(await userNamed(roster, 'fail-on-4'), undefined, 'nothing runs after the limit');

    const first = await roster.request('POST', '/Bulk', bulk([
      { method: 'DELETE', path: '/Groups/no-such-group' },
      { method: 'POST', bulkId: 'never', path: '/Users', data: userBody('fail-on-never') },
    ], { failOnErrors: 1 }));
    assert.deepEqual(first.body.Operations.map((entry: any) => entry.status), ['404']);
    assert.equal(await userNamed(roster, 'fail-on-never'), undefined);

    const unlimited = await roster.request('POST', '/Bulk', bulk([
      { method: 'DELETE', path: '/Groups/no-such-group' },
      { method: 'DELETE', path: '/Groups/no-such-group-either' },
      { method: 'POST', bulkId: 'always', path: '/Users', data: userBody('fail-on-always') },
    ]));
    assert.deepEqual(unlimited.body.Operations.map((entry: any) => entry.status), ['404', '404', '201']);
  });

  test('an operation that fails (409 uniqueness) undoes nothing the others did, and changes nothing itself', async () => {
    const response = await roster.request('POST', '/Bulk', bulk([
      { method: 'POST', path: '/Users', bulkId: 'u1', data: userBody('unique-1@example.com') },
      { method: 'POST', path: '/Users', bulkId: 'u2', data: userBody('Unique-1@Example.com', { displayName: 'Should Not Exist' }) },
      { method: 'POST', path: '/Groups', bulkId: 'g', data: groupBody('Unique Group') },
      { method: 'POST', path: '/Groups', bulkId: 'g2', data: groupBody('unique group') },
    ]));
    assert.deepEqual(response.body.Operations.map((entry: any) => entry.status), ['201', '409', '201', '409']);
    assert.equal(response.body.Operations[1].response.scimType, 'uniqueness');
    const user = await userNamed(roster, 'unique-1@example.com');
    assert.equal(user.displayName, undefined);
    assert.ok(await groupNamed(roster, 'Unique Group'));
  });

  test('version is the If-Match of an operation: an old one is a 412 entry with the location, the current one applies', async () => {
    const user = (await roster.request('POST', '/Users', userBody('versioned@example.com'))).body;
    const group = (await roster.request('POST', '/Groups', groupBody('Versioned Group'))).body;
    await roster.request('PATCH', `/Users/${user.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'v2' }] });
    const current = (await roster.request('GET', `/Users/${user.id}`)).body.meta.version;
    const response = await roster.request('POST', '/Bulk', bulk([
      { method: 'PATCH', path: `/Users/${user.id}`, version: user.meta.version, data: { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'stale' }] } },
      { method: 'DELETE', path: `/Groups/${group.id}`, version: 'W/"999"' },
      { method: 'PUT', path: `/Users/${user.id}`, version: current, data: userBody('versioned@example.com', { title: 'fresh' }) },
    ]));
    const entries = response.body.Operations;
    entries.forEach(assertEntryShape);
    assert.deepEqual(entries.map((entry: any) => entry.status), ['412', '412', '200']);
    assert.equal(entries[0].location, `${USERS}${user.id}`);
    assert.ok(entries[0].response.detail.includes(`has changed since version ${user.meta.version}`), entries[0].response.detail);
    assert.equal(entries[1].location, `${GROUPS}${group.id}`);
    assert.equal((await roster.request('GET', `/Groups/${group.id}`)).status, 200);
    assert.equal((await roster.request('GET', `/Users/${user.id}`)).body.title, 'fresh');
  });

  test("an operation's error is the single request's error, and its text rules apply to that operation alone", async () => {
    const invalid = { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'rules@example.com', active: 'maybe' };
    const single = await roster.request('POST', '/Users', invalid);
    const response = await roster.request('POST', '/Bulk', bulk([
      { method: 'POST', bulkId: 'invalid', path: '/Users', data: invalid },
      { method: 'POST', bulkId: 'nul', path: '/Users', data: userBody('nul\u0000@example.com') },
      { method: 'POST', bulkId: 'ok', path: '/Users', data: userBody('rules-ok@example.com') },
    ]));
    const [entry, nul, ok] = response.body.Operations;
    assert.equal(entry.status, String(single.status));
    assert.deepEqual(entry.response, single.body);
    assert.equal(nul.status, '400');
    assert.equal(nul.response.scimType, 'invalidValue');
    assert.match(nul.response.detail, /Operations\[1\]\.data\.userName contains a NUL/);
    assert.equal(ok.status, '201');
  });

  test('malformed operations fail alone: unknown method, bad path, missing data, unknown member', async () => {
    const response = await roster.request('POST', '/Bulk', bulk([
      { method: 'GET', path: '/Users' },
      { path: '/Users', data: userBody('no-method') },
      { method: 'POST', bulkId: 'widget', path: '/Widgets', data: {} },
      { method: 'POST', bulkId: 'with-id', path: '/Users/123', data: userBody('post-with-id') },
      { method: 'PUT', path: '/Users', data: userBody('put-without-id') },
      { method: 'PATCH', path: '/Users/x' },
      { method: 'post', path: 'Users', data: userBody('lenient@example.com'), bulkid: 'lenient' },
      { method: 'DELETE', path: '/Users/x', location: 'https://elsewhere' },
      { method: 'DELETE', path: '/Users/x?attributes=id' },
      { method: 'DELETE', path: '/Users/%00' },
      { method: 'DELETE', path: '/Users/%E0%A4%A' },
    ]));
    assert.equal(response.status, 200);
    const entries = response.body.Operations;
    assert.deepEqual(entries.map((entry: any) => entry.status), ['400', '400', '404', '400', '400', '400', '201', '400', '400', '400', '400']);
    // The id is decoded from the path, and meets the rules of an id in a URL.
    assert.equal(entries[9].response.scimType, 'invalidValue');
    assert.match(entries[9].response.detail, /The id in Operations\[9\]\.path contains a NUL/);
    assert.match(entries[10].response.detail, /malformed percent-encoding/);
    for (const index of [0, 1, 3, 4, 5, 7, 8]) assert.equal(entries[index].response.scimType, 'invalidSyntax', JSON.stringify(entries[index]));
    assert.equal(entries[0].method, 'GET');
    assert.equal(entries[1].method, undefined);
    assert.match(entries[1].response.detail, /method is missing/);
    assert.match(entries[5].response.detail, /data is required for a PATCH/);
    assert.deepEqual([entries[6].method, entries[6].bulkId], ['POST', 'lenient']);
    assert.match(entries[7].response.detail, /"location" is not a member/);
  });

  test('a POST without a bulkId fails alone (RFC 7644 §3.7: required) and creates nothing', async () => {
    const response = await roster.request('POST', '/Bulk', bulk([
      { method: 'POST', path: '/Users', data: userBody('no-bulk-id@example.com') },
      { method: 'POST', bulkId: 'with', path: '/Users', data: userBody('with-bulk-id@example.com') },
    ]));
    assert.equal(response.status, 200);
    const [refused, created] = response.body.Operations;
    assert.equal(refused.status, '400');
    assert.equal(refused.response.scimType, 'invalidValue');
    assert.match(refused.response.detail, /Operations\[0\]\.bulkId is required for a POST/);
    assert.equal(created.status, '201');
    assert.equal(created.bulkId, 'with');
    const found = await roster.request('GET', `/Users?filter=${encodeURIComponent('userName eq "no-bulk-id@example.com"')}`);
    assert.equal(found.body.totalResults, 0);
  });

  test('malformed Bulk requests are a 400 invalidSyntax and run nothing', async () => {
    const fine = { method: 'POST', bulkId: 'fine', path: '/Users', data: userBody('malformed-never') };
    const cases: [unknown, string, RegExp][] = [
      ['{"Operations": [', 'invalidSyntax', /not valid JSON/],
      [[fine], 'invalidSyntax', /must be a JSON object/],
      [{ schemas: [BULK_REQUEST] }, 'invalidSyntax', /Operations must be a list/],
      [{ schemas: [BULK_REQUEST], Operations: { 0: fine } }, 'invalidSyntax', /Operations must be a list/],
      [bulk([fine, 'POST /Users']), 'invalidSyntax', /Operations\[1\] must be an object/],
      [{ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [fine] }, 'invalidSyntax', /schemas must be/],
      [bulk([fine], { failOnError: 1 }), 'invalidSyntax', /"failOnError" is not a member/],
      [bulk([fine], { operations: [] }), 'invalidSyntax', /names Operations twice/],
      [bulk([{ ...fine, bulkId: 'same' }, { ...fine, bulkId: 'same' }]), 'invalidSyntax', /bulkId "same" is given to Operations\[0\] and Operations\[1\]/],
      [bulk([{ ...fine, bulkId: 7 }]), 'invalidSyntax', /bulkId must be a non-empty string/],
      [bulk([fine], { failOnErrors: 0 }), 'invalidValue', /failOnErrors must be a positive integer/],
      [bulk([fine], { failOnErrors: 'some' }), 'invalidValue', /failOnErrors must be a positive integer/],
    ];
    for (const [body, scimType, detail] of cases) {
      const response = await roster.request('POST', '/Bulk', body);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.equal(response.body.scimType, scimType, JSON.stringify(body));
      assert.match(response.body.detail, detail);
    }
    const empty = await roster.app.inject({ method: 'POST', url: `${SCIM}/Bulk`, headers: { authorization: `Bearer ${roster.token}` } });
    assert.equal(empty.statusCode, 400);
    assert.equal(JSON.parse(empty.body).scimType, 'invalidSyntax');
    assert.equal(await userNamed(roster, 'malformed-never'), undefined);
    // No schemas at all is accepted, as for PATCH and search; so is an empty request.
    assert.deepEqual((await roster.request('POST', '/Bulk', { Operations: [] })).body, { schemas: [BULK_RESPONSE], Operations: [] });
  });

  test('more operations than maxOperations is a 413 naming the limit, and nothing runs', async () => {
    const operations = Array.from({ length: 1001 }, (_unused, index) => ({ method: 'POST', path: '/Users', bulkId: `many-${index}`, data: userBody(`many-${index}`) }));
    const response = await roster.request('POST', '/Bulk', bulk(operations));
    assert.equal(response.status, 413);
    assert.deepEqual(response.body.schemas, [ERROR]);
    assert.equal(response.body.status, '413');
    assert.equal(response.body.scimType, undefined, 'RFC 7644 §3.7.4 answers 413 without scimType');
    assert.match(response.body.detail, /1001 operations, more than maxOperations \(1000\)/);
    assert.equal(await userNamed(roster, 'many-0'), undefined);
  });

  test('/ServiceProviderConfig advertises Bulk with the limits it enforces', async () => {
    const config = (await roster.request('GET', '/ServiceProviderConfig')).body;
    assert.deepEqual(config.bulk, { supported: true, maxOperations: 1000, maxPayloadSize: 20 * 1024 * 1024 });
  });

  test('every operation writes the audit entry of its single request, by the same actor', async () => {
    // Entries are told apart by sequence number: several can share a millisecond.
    const trail = async () => (await roster.services.auditLog.list({}, { offset: 0, limit: 1000, ascending: true })).events;
    const lastSeq = async () => (await roster.services.auditLog.list({}, { offset: 0, limit: 1, ascending: false })).events[0]?.seq ?? 0;
    const beforeSingle = await lastSeq();
    const existing = (await roster.request('POST', '/Users', userBody('audited-existing'))).body;
    const beforeBulk = await lastSeq();
    await roster.request('POST', '/Bulk', bulk([
      { method: 'POST', path: '/Users', bulkId: 'audited', data: userBody('audited-new') },
      { method: 'POST', path: '/Groups', bulkId: 'audited-group', data: { ...groupBody('Audited Group'), members: [{ value: 'bulkId:audited' }] } },
      { method: 'PATCH', path: `/Users/${existing.id}`, data: { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'Audited' }] } },
      { method: 'DELETE', path: `/Users/${existing.id}` },
      { method: 'DELETE', path: '/Users/not-there' },
    ]));
    const all = await trail();
    const events = all.filter((event) => event.seq > beforeBulk);
    assert.deepEqual(events.map((event) => [event.action, event.actor]), [
      ['user.created', 'token:test-idp'],
      ['group.created', 'token:test-idp'],
      ['user.updated', 'token:test-idp'],
      ['user.deleted', 'token:test-idp'],
    ]);
    const newUser = await userNamed(roster, 'audited-new');
    assert.deepEqual((events[1]?.details as { membersAdded: string[] }).membersAdded, [newUser.id]);
    const single = all.find((event) => event.seq > beforeSingle);
    assert.equal(single?.action, 'user.created');
    assert.deepEqual(Object.keys(single?.details as object).sort(), Object.keys(events[0]?.details as object).sort());
  });
});

eachDatabase('SCIM /Bulk limits and access', (database) => {
  test('a body larger than maxPayloadSize (ROSTER_MAX_BODY_SIZE) is a 413 naming the limit, as advertised', async () => {
    const roster = await startTestApp({ database, maxBodySize: 64 * 1024 });
    try {
      const config = (await roster.request('GET', '/ServiceProviderConfig')).body;
      assert.equal(config.bulk.maxPayloadSize, 64 * 1024);
      const operations = Array.from({ length: 40 }, (_unused, index) => ({ method: 'POST', bulkId: `big-${index}`, path: '/Users', data: userBody(`big-${index}`, { nickName: 'x'.repeat(2000) }) }));
      const response = await roster.request('POST', '/Bulk', bulk(operations));
      assert.equal(response.status, 413);
      assert.deepEqual(response.body.schemas, [ERROR]);
      assert.equal(response.body.status, '413');
      assert.match(response.body.detail, /larger than maxPayloadSize \(65536 bytes, 64 KiB/);
      assert.equal(await userNamed(roster, 'big-0'), undefined);
      const fits = await roster.request('POST', '/Bulk', bulk(operations.slice(0, 20)));
      assert.equal(fits.status, 200);
      assert.equal(fits.body.Operations.length, 20);
    } finally {
      await roster.close();
    }
  });

  test('without a token 401, with a non-administrator token 403, with SCIM off 403; nothing runs', async () => {
    const roster = await startTestApp({ database });
    try {
      const body = JSON.stringify(bulk([{ method: 'POST', bulkId: 'intruder', path: '/Users', data: userBody('intruder') }]));
      const anonymous = await roster.app.inject({ method: 'POST', url: `${SCIM}/Bulk`, headers: { 'content-type': 'application/scim+json' }, payload: body });
      assert.equal(anonymous.statusCode, 401);
      assert.equal(JSON.parse(anonymous.body).status, '401');
      const plain = (await roster.request('POST', '/Users', userBody('plain@example.com'))).body;
      const internal = await roster.services.accounts.findByLogin('plain@example.com');
      assert.ok(internal && plain.id);
      const token = await roster.tokenFor(internal.id, 'plain-token');
      const forbidden = await roster.request('POST', '/Bulk', body, { authorization: `Bearer ${token}` });
      assert.equal(forbidden.status, 403);
      await roster.services.provisioning.disable({ kind: 'cli' });
      const off = await roster.request('POST', '/Bulk', body);
      assert.equal(off.status, 403);
      await roster.services.provisioning.enable({ kind: 'cli' });
      assert.equal(await userNamed(roster, 'intruder'), undefined);
    } finally {
      await roster.close();
    }
  });

  test('rights lost while a Bulk request runs stop it at the next operation: each left answers the refusal, not run', async () => {
    const roster = await startTestApp({ database });
    try {
      // The IdP's own account, an administrator through the administrators' group it provisions.
      const bot = (await roster.request('POST', '/Users', userBody('idp-bot@example.com'))).body;
      const admins = (await roster.request('POST', '/Groups', groupBody('roster-administrators', [bot.id]))).body;
      const internal = await roster.services.accounts.findByLogin('idp-bot@example.com');
      assert.ok(internal && admins.id);
      const token = await roster.tokenFor(internal.id, 'idp-bot-token');
      const answer = await roster.request('POST', '/Bulk', bulk([
        { method: 'PATCH', path: `/Groups/${admins.id}`, data: { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: `members[value eq "${bot.id}"]` }] } },
        { method: 'POST', bulkId: 'late', path: '/Users', data: userBody('late@example.com') },
        { method: 'DELETE', path: `/Groups/${admins.id}` },
      ]), { authorization: `Bearer ${token}` });
      assert.equal(answer.status, 200);
      const [removed, late, deletion] = answer.body.Operations;
      assert.equal(removed.status, '204');
      // Before, the request's one check at its start let every operation through.
      for (const entry of [late, deletion]) {
        assert.equal(entry.status, '403', JSON.stringify(entry));
        assert.equal(entry.response.detail, 'Not run: Insufficient privileges');
      }
      assert.equal(late.bulkId, 'late');
      assert.equal(await userNamed(roster, 'late@example.com'), undefined);
      assert.equal((await roster.request('GET', `/Groups/${admins.id}`)).status, 200, 'the group is still there');
    } finally {
      await roster.close();
    }
  });
});
