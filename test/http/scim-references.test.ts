/**
 * References Roster fills in (RFC 7643 §2.3.7, §4.2, §4.3): `$ref` of Group.members and
 * User.groups, `members.display`, and the enterprise `manager.$ref` and `manager.displayName`,
 * with ETags that follow what they show.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eachDatabase } from '../support/databases.ts';
import { BASE_URL, groupBody, startTestApp, userBody, type TestApp } from '../support/app.ts';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const USERS = `${BASE_URL}/api/scim/v2/Users/`;
const GROUPS = `${BASE_URL}/api/scim/v2/Groups/`;

eachDatabase('SCIM references ($ref, display, manager)', (database) => {
  let roster: TestApp;
  let boss = '';
  let plain = '';
  let groupId = '';

  before(async () => {
    roster = await startTestApp({ database });
    boss = (await roster.request('POST', '/Users', userBody('boss@example.com', { displayName: 'The Boss' }))).body.id;
    plain = (await roster.request('POST', '/Users', userBody('plain@example.com'))).body.id;
    const group = await roster.request('POST', '/Groups', groupBody('Referenced', [boss, plain]));
    assert.equal(group.status, 201, JSON.stringify(group.body));
    groupId = group.body.id;
  });
  after(async () => {
    await roster.close();
  });

  async function patchUser(id: string, operations: unknown[]): Promise<void> {
    const response = await roster.request('PATCH', `/Users/${id}`, { schemas: [PATCH_OP], Operations: operations });
    assert.equal(response.status, 200, JSON.stringify(response.body));
  }

  test('Group.members carry $ref (the member\'s URL) and display (its displayName, else its userName)', async () => {
    const group = await roster.request('GET', `/Groups/${groupId}`);
    const members = [...group.body.members].sort((a: { display: string }, b: { display: string }) => a.display.localeCompare(b.display));
    assert.deepEqual(members, [
      { value: plain, $ref: `${USERS}${plain}`, display: 'plain@example.com', type: 'User' },
      { value: boss, $ref: `${USERS}${boss}`, display: 'The Boss', type: 'User' },
    ]);
    const listed = await roster.request('GET', `/Groups?filter=displayName%20eq%20%22Referenced%22`);
    assert.deepEqual(
      listed.body.Resources[0].members.map((member: { $ref: string }) => member.$ref).sort(),
      [`${USERS}${boss}`, `${USERS}${plain}`].sort(),
    );
  });

  test('filtering on members.$ref is a 400 that points to value', async () => {
    const response = await roster.request('GET', `/Groups?filter=${encodeURIComponent(`members.$ref eq "${USERS}${boss}"`)}`);
    assert.equal(response.status, 400);
    assert.equal(response.body.scimType, 'invalidFilter');
    assert.match(response.body.detail, /computed/);
  });

  test('User.groups carry $ref (the group\'s URL)', async () => {
    const user = await roster.request('GET', `/Users/${plain}`);
    assert.deepEqual(user.body.groups, [{ value: groupId, $ref: `${GROUPS}${groupId}`, display: 'Referenced', type: 'direct' }]);
    const listed = await roster.request('GET', `/Users?filter=id%20eq%20%22${plain}%22`);
    assert.deepEqual(listed.body.Resources[0].groups[0].$ref, `${GROUPS}${groupId}`);
  });

  test('manager.$ref and manager.displayName are filled from the user manager.value names, on reads and lists', async () => {
    const created = await roster.request('POST', '/Users', userBody('worker@example.com', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', ENTERPRISE],
      // A $ref and displayName sent by the client are Roster's to say: replaced.
      [ENTERPRISE]: { department: 'Ops', manager: { value: boss, $ref: 'https://elsewhere.example/x', displayName: 'Someone' } },
    }));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const expected = { value: boss, $ref: `${USERS}${boss}`, displayName: 'The Boss' };
    assert.deepEqual(created.body[ENTERPRISE].manager, expected);
    assert.deepEqual((await roster.request('GET', `/Users/${created.body.id}`)).body[ENTERPRISE].manager, expected);
    const listed = await roster.request('GET', '/Users?filter=userName%20eq%20%22worker@example.com%22');
    assert.deepEqual(listed.body.Resources[0][ENTERPRISE].manager, expected);
    const search = await roster.request('POST', '/.search', { filter: 'userName eq "worker@example.com"' });
    assert.deepEqual(search.body.Resources[0][ENTERPRISE].manager, expected);

    // A manager without displayName is shown by its userName; one that names no user, by its value alone.
    await patchUser(created.body.id, [{ op: 'replace', path: `${ENTERPRISE}:manager`, value: { value: plain } }]);
    assert.deepEqual((await roster.request('GET', `/Users/${created.body.id}`)).body[ENTERPRISE].manager, { value: plain, $ref: `${USERS}${plain}`, displayName: 'plain@example.com' });
    await patchUser(created.body.id, [{ op: 'replace', path: 'manager', value: 'not-a-user' }]);
    assert.deepEqual((await roster.request('GET', `/Users/${created.body.id}`)).body[ENTERPRISE].manager, { value: 'not-a-user' });
  });

  test('filters and sorting see manager.displayName and manager.$ref as GET shows them', async () => {
    const created = await roster.request('POST', '/Users', userBody('report@example.com', { [ENTERPRISE]: { manager: { value: boss } } }));
    assert.equal(created.status, 201);
    const byName = await roster.request('GET', `/Users?filter=${encodeURIComponent(`${ENTERPRISE}:manager.displayName eq "the boss"`)}`);
    assert.deepEqual(byName.body.Resources.map((user: { userName: string }) => user.userName), ['report@example.com']);
    const byRef = await roster.request('GET', `/Users?filter=${encodeURIComponent(`${ENTERPRISE}:manager.$ref eq "${USERS}${boss}"`)}`);
    assert.deepEqual(byRef.body.Resources.map((user: { userName: string }) => user.userName), ['report@example.com']);
    const sorted = await roster.request('GET', `/Users?sortBy=${encodeURIComponent(`${ENTERPRISE}:manager.displayName`)}&count=1`);
    assert.equal(sorted.status, 200);
    assert.equal(sorted.body.Resources[0].userName, 'report@example.com');
  });

  test('a manager\'s rename and removal change the managed user\'s ETag', async () => {
    const manager = (await roster.request('POST', '/Users', userBody('chief@example.com', { displayName: 'Chief' }))).body.id;
    const managed = (await roster.request('POST', '/Users', userBody('staff@example.com', { [ENTERPRISE]: { manager: { value: manager } } }))).body.id;
    const first = await roster.request('GET', `/Users/${managed}`);
    assert.equal(first.body[ENTERPRISE].manager.displayName, 'Chief');
    const etag = String(first.headers.etag);
    assert.equal((await roster.request('GET', `/Users/${managed}`, undefined, { 'if-none-match': etag })).status, 304);

    await patchUser(manager, [{ op: 'replace', path: 'displayName', value: 'Head Chief' }]);
    const renamed = await roster.request('GET', `/Users/${managed}`, undefined, { 'if-none-match': etag });
    assert.equal(renamed.status, 200, 'the old ETag no longer matches');
    assert.equal(renamed.body[ENTERPRISE].manager.displayName, 'Head Chief');
    const stale = await roster.request('PATCH', `/Users/${managed}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'x' }] }, { 'if-match': etag });
    assert.equal(stale.status, 412);
    // meta.version filters see the same version as GET.
    const version = String(renamed.headers.etag);
    const byVersion = await roster.request('GET', `/Users?filter=${encodeURIComponent(`id eq "${managed}" and meta.version eq ${JSON.stringify(version)}`)}`);
    assert.equal(byVersion.body.totalResults, 1);

    assert.equal((await roster.request('DELETE', `/Users/${manager}`)).status, 204);
    const orphaned = await roster.request('GET', `/Users/${managed}`, undefined, { 'if-none-match': version });
    assert.equal(orphaned.status, 200, 'the manager\'s removal changes the ETag');
    assert.deepEqual(orphaned.body[ENTERPRISE].manager, { value: manager });
  });

  test('a user or group sent back as read (references included) changes nothing: same ETag', async () => {
    const user = await roster.request('POST', '/Users', userBody('roundtrip@example.com', { [ENTERPRISE]: { manager: { value: boss } } }));
    const read = await roster.request('GET', `/Users/${user.body.id}`);
    assert.equal(typeof read.body[ENTERPRISE].manager.$ref, 'string');
    const put = await roster.request('PUT', `/Users/${user.body.id}`, read.body, { 'if-match': String(read.headers.etag) });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.headers.etag, read.headers.etag);
    const group = await roster.request('GET', `/Groups/${groupId}`);
    const groupPut = await roster.request('PUT', `/Groups/${groupId}`, group.body, { 'if-match': String(group.headers.etag) });
    assert.equal(groupPut.status, 200, JSON.stringify(groupPut.body));
    assert.equal(groupPut.headers.etag, group.headers.etag);
  });

  test('an empty manager id clears the manager (it was stored as ""), in a PATCH replace or add (bare, {value}, [{value}]), with or without the URN or a path, and in PUT', async () => {
    const ways: unknown[][] = [
      [{ op: 'replace', path: `${ENTERPRISE}:manager`, value: '' }],
      [{ op: 'replace', path: 'manager', value: { value: '' } }],
      [{ op: 'replace', path: `${ENTERPRISE}:manager.value`, value: '' }],
      [{ op: 'replace', path: `${ENTERPRISE}:manager`, value: [{ value: '' }] }],
      // An add of an empty id answered 200 and kept the manager (found by a fuzzing probe).
      [{ op: 'add', path: `${ENTERPRISE}:manager`, value: { value: '' } }],
      [{ op: 'add', path: `${ENTERPRISE}:manager`, value: '' }],
      [{ op: 'add', value: { [`${ENTERPRISE}:manager`]: { value: '' } } }],
      [{ op: 'add', value: { [ENTERPRISE]: { manager: { value: '' } } } }],
    ];
    for (const [index, operations] of ways.entries()) {
      const user = (await roster.request('POST', '/Users', userBody(`cleared-${index}@example.com`, { [ENTERPRISE]: { manager: { value: boss }, department: 'Ops' } }))).body.id;
      const patched = await roster.request('PATCH', `/Users/${user}`, { schemas: [PATCH_OP], Operations: operations });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      assert.deepEqual(patched.body[ENTERPRISE], { department: 'Ops' }, JSON.stringify(operations));
      assert.deepEqual((await roster.request('GET', `/Users/${user}`)).body[ENTERPRISE], { department: 'Ops' });
    }
    const put = await roster.request('POST', '/Users', userBody('cleared-put@example.com', { [ENTERPRISE]: { manager: { value: boss } } }));
    const replaced = await roster.request('PUT', `/Users/${put.body.id}`, userBody('cleared-put@example.com', { [ENTERPRISE]: { manager: '' } }));
    assert.equal(replaced.status, 200, JSON.stringify(replaced.body));
    assert.equal(replaced.body[ENTERPRISE], undefined);
    const managed = await roster.request('GET', `/Users?filter=${encodeURIComponent(`${ENTERPRISE}:manager pr and userName sw "cleared-"`)}`);
    assert.equal(managed.body.totalResults, 0);
  });

  test('users without a manager keep their ETag format and value', async () => {
    const user = await roster.request('GET', `/Users/${plain}`);
    assert.match(String(user.headers.etag), /^W\/"\d+\.\d+\.\d+"$/);
  });
});
