import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eachDatabase } from '../support/databases.ts';
import { groupBody, startTestApp, userBody, type TestApp } from '../support/app.ts';

const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

eachDatabase('SCIM /Groups', (database) => {
  let roster: TestApp;
  const users: string[] = [];
  before(async () => {
    roster = await startTestApp({ database });
    for (let i = 0; i < 6; i += 1) {
      users.push((await roster.request('POST', '/Users', userBody(`member-${i}@example.com`, { displayName: `Member ${i}` }))).body.id);
    }
  });
  after(async () => {
    await roster.close();
  });

  async function memberIds(groupId: string): Promise<string[]> {
    const group = (await roster.request('GET', `/Groups/${groupId}`)).body;
    return (group.members ?? []).map((member: any) => member.value).sort();
  }

  test('POST /Groups creates a group with its members; User.groups shows the membership', async () => {
    const response = await roster.request('POST', '/Groups', groupBody('Engineering', [users[0]!, users[1]!]));
    assert.equal(response.status, 201);
    assert.equal(response.body.displayName, 'Engineering');
    assert.deepEqual(response.body.members.map((m: any) => m.value).sort(), [users[0], users[1]].sort());
    assert.equal(response.body.members.find((m: any) => m.value === users[0]).display, 'Member 0');
    const user = (await roster.request('GET', `/Users/${users[0]}`)).body;
    assert.deepEqual(user.groups.map((g: any) => g.display), ['Engineering']);
    assert.equal(user.groups[0].value, response.body.id);
  });

  test('a group displayName is unique regardless of case (409 uniqueness)', async () => {
    await roster.request('POST', '/Groups', groupBody('Unique Group'));
    const response = await roster.request('POST', '/Groups', groupBody('unique group'));
    assert.equal(response.status, 409);
    assert.equal(response.body.scimType, 'uniqueness');
  });

  test('a member id that is not a user is a 400 naming the id, and nothing is created', async () => {
    const response = await roster.request('POST', '/Groups', groupBody('Ghosts', [users[0]!, 'no-such-user']));
    assert.equal(response.status, 400);
    assert.match(response.body.detail, /no-such-user/);
    const lookup = await roster.request('GET', `/Groups?filter=${encodeURIComponent('displayName eq "Ghosts"')}`);
    assert.equal(lookup.body.totalResults, 0);
  });

  test('a member without a value is a 400 invalidValue in POST and PUT, as in PATCH, and nothing changes', async () => {
    const kept = await roster.request('POST', '/Groups', groupBody('Members Kept', [users[2]!]));
    assert.equal(kept.status, 201);
    const cases: readonly [unknown, RegExp][] = [
      [{ display: 'Member 3' }, /^members\[1\]\.value must be the member's id/],
      [{ value: null }, /^members\[1\]\.value must be the member's id/],
      [{ value: '' }, /^members\[1\]\.value must be the member's id/],
      [{ $ref: `https://roster.test/api/scim/v2/Users/${users[3]}` }, /^members\[1\]\.value must be the member's id/],
      [null, /^members\[1\] must be an object such as \{"value": "<user id>"\}/],
    ];
    for (const [member, detail] of cases) {
      const members = [{ value: users[3] }, member];
      const created = await roster.request('POST', '/Groups', { displayName: 'Members Refused', members });
      assert.equal(created.status, 400, JSON.stringify(member));
      assert.equal(created.body.scimType, 'invalidValue');
      assert.match(created.body.detail, detail);
      const replaced = await roster.request('PUT', `/Groups/${kept.body.id}`, { displayName: 'Members Kept', members });
      assert.equal(replaced.status, 400, JSON.stringify(member));
      assert.match(replaced.body.detail, detail);
      const patched = await roster.request('PATCH', `/Groups/${kept.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: members }] });
      assert.equal(patched.status, 400, JSON.stringify(member));
      assert.match(patched.body.detail, detail);
    }
    const refused = await roster.request('GET', `/Groups?filter=${encodeURIComponent('displayName eq "Members Refused"')}`);
    assert.equal(refused.body.totalResults, 0);
    assert.deepEqual(await memberIds(kept.body.id), [users[2]]);
    assert.equal((await roster.request('GET', `/Groups/${kept.body.id}`)).body.meta.version, kept.body.meta.version);
  });

  test('PATCH adds and removes members by value filter and by value array; answers 204', async () => {
    const group = (await roster.request('POST', '/Groups', groupBody('Patchers', [users[0]!]))).body;
    const add = await roster.request('PATCH', `/Groups/${group.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'Add', path: 'members', value: [{ value: users[1] }, { value: users[2] }] }],
    });
    assert.equal(add.status, 204);
    assert.deepEqual(await memberIds(group.id), [users[0], users[1], users[2]].sort());
    const removeByFilter = await roster.request('PATCH', `/Groups/${group.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'remove', path: `members[value eq "${users[0]}"]` }],
    });
    assert.equal(removeByFilter.status, 204);
    assert.deepEqual(await memberIds(group.id), [users[1], users[2]].sort());
    await roster.request('PATCH', `/Groups/${group.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'Remove', path: 'members', value: [{ value: users[1] }] }],
    });
    assert.deepEqual(await memberIds(group.id), [users[2]]);
  });

  test('PATCH replace of members sets exactly the given members; rename without path', async () => {
    const group = (await roster.request('POST', '/Groups', groupBody('Replacers', [users[0]!, users[1]!]))).body;
    const response = await roster.request('PATCH', `/Groups/${group.id}`, {
      schemas: [PATCH_OP],
      Operations: [
        { op: 'replace', path: 'members', value: [{ value: users[3] }] },
        { op: 'replace', value: { id: group.id, displayName: 'Replacers Renamed' } },
      ],
    });
    assert.equal(response.status, 204);
    const after = (await roster.request('GET', `/Groups/${group.id}`)).body;
    assert.equal(after.displayName, 'Replacers Renamed');
    assert.deepEqual(after.members.map((m: any) => m.value), [users[3]]);
  });

  test('PUT /Groups/:id replaces name and members', async () => {
    const group = (await roster.request('POST', '/Groups', groupBody('Putters', [users[0]!]))).body;
    const response = await roster.request('PUT', `/Groups/${group.id}`, groupBody('Putters 2', [users[4]!, users[5]!]));
    assert.equal(response.status, 200);
    assert.equal(response.body.displayName, 'Putters 2');
    assert.deepEqual(await memberIds(group.id), [users[4], users[5]].sort());
  });

  test('PUT /Groups/:id without members removes every member (PUT replaces, RFC 7644 §3.5.1)', async () => {
    const group = (await roster.request('POST', '/Groups', groupBody('Emptied by PUT', [users[0]!, users[1]!]))).body;
    const { members: _members, ...withoutMembers } = groupBody('Emptied by PUT');
    const response = await roster.request('PUT', `/Groups/${group.id}`, withoutMembers);
    assert.equal(response.status, 200);
    assert.equal(response.body.members, undefined);
    assert.deepEqual(await memberIds(group.id), []);
  });

  test('PATCH replace of members with an empty list removes every member', async () => {
    const group = (await roster.request('POST', '/Groups', groupBody('Emptied by PATCH', [users[0]!, users[1]!]))).body;
    const response = await roster.request('PATCH', `/Groups/${group.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'members', value: [] }] });
    assert.equal(response.status, 204);
    assert.deepEqual(await memberIds(group.id), []);
  });

  test('PATCH add of a member already present adds no duplicate and changes no version', async () => {
    const group = (await roster.request('POST', '/Groups', groupBody('Idempotent', [users[0]!]))).body;
    const response = await roster.request('PATCH', `/Groups/${group.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: users[0] }, { value: users[0] }] }] });
    assert.equal(response.status, 204);
    assert.equal(response.headers.etag, group.meta.version);
    assert.deepEqual(await memberIds(group.id), [users[0]]);
  });

  test('operations of one PATCH that cancel out change nothing: no version, no event; one naming no user is still a 400', async () => {
    const group = (await roster.request('POST', '/Groups', groupBody('Cancelling', [users[0]!]))).body;
    const member = (await roster.request('GET', `/Users/${users[0]}`)).headers.etag;
    const eventsBefore = await roster.services.store.db.selectFrom('events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const patch = (operations: unknown[]) => roster.request('PATCH', `/Groups/${group.id}`, { schemas: [PATCH_OP], Operations: operations });
    // A member removed and added again (found by a fuzzing probe: both versions moved); a non-member added and removed.
    const again = await patch([{ op: 'remove', path: `members[value eq "${users[0]}"]` }, { op: 'add', path: 'members', value: [{ value: users[0] }] }]);
    assert.equal(again.status, 204);
    assert.equal(again.headers.etag, group.meta.version);
    const passing = await patch([{ op: 'add', path: 'members', value: [{ value: users[1] }] }, { op: 'remove', path: 'members', value: [{ value: users[1] }] }]);
    assert.equal(passing.headers.etag, group.meta.version);
    assert.equal((await roster.request('GET', `/Users/${users[0]}`)).headers.etag, member);
    assert.deepEqual(await memberIds(group.id), [users[0]]);
    const eventsAfter = await roster.services.store.db.selectFrom('events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    assert.equal(Number(eventsAfter.n), Number(eventsBefore.n), 'no group.user_removed and group.user_added for a group that ends as it was');
    // The last operation naming a user decides, as applied in order: removed, added, removed.
    const last = await patch([{ op: 'add', path: 'members', value: [{ value: users[2] }] }, { op: 'remove', path: `members[value eq "${users[0]}"]` }, { op: 'remove', path: `members[value eq "${users[2]}"]` }, { op: 'add', path: 'members', value: [{ value: users[0] }, { value: users[3] }] }]);
    assert.equal(last.status, 204);
    assert.deepEqual(await memberIds(group.id), [users[0], users[3]].sort());
    // An add of no user is refused even when a later remove names it: the request changes nothing.
    const unknown = await patch([{ op: 'add', path: 'members', value: [{ value: 'no-such-user' }] }, { op: 'remove', path: 'members[value eq "no-such-user"]' }, { op: 'remove', path: `members[value eq "${users[3]}"]` }]);
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.detail, /no user has the id "no-such-user"/);
    assert.deepEqual(await memberIds(group.id), [users[0], users[3]].sort());
    // Every member removed, then the same ones added: the group as it was, no version moved.
    const current = (await roster.request('GET', `/Groups/${group.id}`)).headers.etag;
    const same = await patch([{ op: 'remove', path: 'members' }, { op: 'add', path: 'members', value: [{ value: users[3] }, { value: users[0] }] }]);
    assert.equal(same.headers.etag, current);
    // A replace then changes after it: its list, changed by them; one naming no user is still a 400.
    const replaced = await patch([{ op: 'replace', path: 'members', value: [{ value: users[4] }, { value: users[5] }] }, { op: 'remove', path: `members[value eq "${users[5]}"]` }, { op: 'add', path: 'members', value: [{ value: users[0] }] }]);
    assert.equal(replaced.status, 204);
    assert.deepEqual(await memberIds(group.id), [users[0], users[4]].sort());
    const overwritten = await patch([{ op: 'replace', path: 'members', value: [{ value: 'nobody-at-all' }] }, { op: 'replace', path: 'members', value: [] }]);
    assert.equal(overwritten.status, 400);
    assert.deepEqual(await memberIds(group.id), [users[0], users[4]].sort());
    const emptied = await patch([{ op: 'replace', path: 'members', value: [{ value: users[1] }] }, { op: 'replace', path: 'members', value: [] }]);
    assert.equal(emptied.status, 204);
    assert.deepEqual(await memberIds(group.id), []);
  });

  test('attributes and excludedAttributes shape the answers of POST, PUT and PATCH /Groups', async () => {
    const created = await roster.request('POST', '/Groups?excludedAttributes=members', groupBody('Projected', [users[0]!]));
    assert.equal(created.status, 201);
    assert.equal(created.body.members, undefined);
    assert.equal(created.body.displayName, 'Projected');
    const id = created.body.id;
    const put = await roster.request('PUT', `/Groups/${id}?attributes=displayName`, groupBody('Projected', [users[0]!, users[1]!]));
    assert.deepEqual(Object.keys(put.body).sort(), ['displayName', 'id', 'schemas']);
    const rename = { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'Projected 2' }] };
    const patched = await roster.request('PATCH', `/Groups/${id}?excludedAttributes=meta`, rename);
    assert.equal(patched.status, 200);
    assert.equal(patched.body.meta, undefined);
    assert.equal(patched.body.displayName, 'Projected 2');
    // members is returned by default: excluding something else does not hide them.
    assert.deepEqual(patched.body.members.map((m: any) => m.value).sort(), [users[0], users[1]].sort());
    const onlyName = await roster.request('PATCH', `/Groups/${id}?attributes=displayName`, rename);
    assert.deepEqual(Object.keys(onlyName.body).sort(), ['displayName', 'id', 'schemas']);
  });

  test('If-Match guards PUT, PATCH and DELETE /Groups/:id: stale is 412 and changes nothing; current or * passes', async () => {
    const group = (await roster.request('POST', '/Groups', groupBody('Guarded', [users[0]!]))).body;
    const stale = { 'if-match': 'W/"999"' };
    const rename = { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'Guarded 2' }] };
    assert.equal((await roster.request('PUT', `/Groups/${group.id}`, groupBody('Guarded 2'), stale)).status, 412);
    assert.equal((await roster.request('PATCH', `/Groups/${group.id}`, rename, stale)).status, 412);
    const refused = await roster.request('DELETE', `/Groups/${group.id}`, undefined, stale);
    assert.equal(refused.status, 412);
    assert.equal(refused.body.status, '412');
    const unchanged = await roster.request('GET', `/Groups/${group.id}`);
    assert.equal(unchanged.body.displayName, 'Guarded');
    assert.equal(unchanged.body.meta.version, group.meta.version);
    const patched = await roster.request('PATCH', `/Groups/${group.id}`, rename, { 'if-match': group.meta.version });
    assert.equal(patched.status, 204);
    assert.notEqual(patched.headers.etag, group.meta.version);
    assert.equal((await roster.request('PUT', `/Groups/${group.id}`, groupBody('Guarded 3'), { 'if-match': String(patched.headers.etag) })).status, 200);
    assert.equal((await roster.request('DELETE', `/Groups/${group.id}`, undefined, { 'if-match': '*' })).status, 204);
  });

  test('a 412 names the version the client sent in If-Match, for PUT, PATCH and DELETE', async () => {
    const group = (await roster.request('POST', '/Groups', groupBody('Stale 412'))).body;
    const sent = group.meta.version;
    const rename = (name: string) => ({ schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: name }] });
    const changed = await roster.request('PATCH', `/Groups/${group.id}`, rename('Stale 412 b'), { 'if-match': sent });
    assert.equal(changed.status, 204);
    for (const [method, body] of [['PUT', groupBody('Stale 412 c')], ['PATCH', rename('Stale 412 c')], ['DELETE', undefined]] as const) {
      const refused = await roster.request(method, `/Groups/${group.id}`, body, { 'if-match': sent });
      assert.equal(refused.status, 412, method);
      assert.equal(refused.body.detail, `Group ${group.id} has changed since version ${sent}; fetch it again.`, method);
      assert.ok(!refused.body.detail.includes(String(changed.headers.etag)), method);
    }
  });

  test('the same member twice in POST or PUT /Groups is one member, recorded once', async () => {
    const twice = { ...groupBody('Twice'), members: [{ value: users[2] }, { value: users[2], type: 'User' }, { value: users[2] }] };
    const created = await roster.request('POST', '/Groups', twice);
    assert.equal(created.status, 201);
    assert.deepEqual(created.body.members.map((m: any) => m.value), [users[2]]);
    const put = await roster.request('PUT', `/Groups/${created.body.id}`, { ...twice, members: [{ value: users[3] }, { value: users[3] }] });
    assert.equal(put.status, 200);
    assert.deepEqual(await memberIds(created.body.id), [users[3]]);
    const audit = await roster.request('GET', '/api/v2/audit-logs?targetType=group&pageSize=500');
    const entry = audit.body.auditLogs.find((e: any) => e.action === 'group.created' && e.details.scimId === created.body.id);
    assert.deepEqual(entry.details.membersAdded, [users[2]]);
  });

  test('the audit entry of a member replace (PUT, PATCH replace, remove all) names the list set and counts who came and went', async () => {
    const group = (await roster.request('POST', '/Groups', { ...groupBody('Replaced'), members: [{ value: users[0] }, { value: users[1] }] })).body;
    const entries = async () => (await roster.request('GET', `/api/v2/audit-logs?targetType=group&action=group.members_changed&sort=seq&pageSize=500`)).body.auditLogs.filter((e: any) => e.details.scimId === group.id).map((e: any) => e.details);
    // PUT keeps users[0] and drops users[1]: one removed, none added.
    assert.equal((await roster.request('PUT', `/Groups/${group.id}`, { ...groupBody('Replaced'), members: [{ value: users[0] }] })).status, 200);
    assert.equal((await roster.request('PATCH', `/Groups/${group.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'members', value: [{ value: users[1] }] }] })).status, 204);
    assert.equal((await roster.request('PATCH', `/Groups/${group.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: 'members' }] })).status, 204);
    assert.deepEqual(await entries(), [
      { scimId: group.id, added: 0, removed: 1, addedIds: [], removedIds: [], replacedWith: [users[0]] },
      { scimId: group.id, added: 1, removed: 1, addedIds: [], removedIds: [], replacedWith: [users[1]] },
      { scimId: group.id, added: 0, removed: 1, addedIds: [], removedIds: [], removedAll: true },
    ]);
  });

  test('an audit entry names at most 100 member ids per list and counts the others: a large group is not copied into the audit log', async () => {
    const many: string[] = [];
    const bulk = await roster.request('POST', '/Bulk', {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'],
      Operations: Array.from({ length: 130 }, (_, i) => ({ method: 'POST', path: '/Users', bulkId: `u${i}`, data: userBody(`audited-${i}@example.com`) })),
    });
    assert.equal(bulk.status, 200);
    for (const operation of bulk.body.Operations) many.push(String(operation.location).split('/').pop() ?? '');
    const group = (await roster.request('POST', '/Groups', { ...groupBody('Audited'), members: many.map((value) => ({ value })) })).body;
    assert.equal((await roster.request('PUT', `/Groups/${group.id}`, { ...groupBody('Audited'), members: many.slice(0, 120).map((value) => ({ value })) })).status, 200);
    const audit = (await roster.request('GET', '/api/v2/audit-logs?targetType=group&pageSize=500')).body.auditLogs.filter((e: any) => e.details.scimId === group.id);
    const created = audit.find((e: any) => e.action === 'group.created').details;
    assert.deepEqual(created.membersAdded, many.slice(0, 100));
    assert.equal(created.membersAddedOmitted, 30);
    const replaced = audit.find((e: any) => e.action === 'group.members_changed').details;
    assert.equal(replaced.removed, 10);
    assert.deepEqual(replaced.replacedWith, many.slice(0, 100));
    assert.equal(replaced.replacedWithOmitted, 20);
  });

  test('If-None-Match on GET /Groups/:id: the current version or * gives 304, an old one the group', async () => {
    const group = (await roster.request('POST', '/Groups', groupBody('Cached'))).body;
    const current = await roster.request('GET', `/Groups/${group.id}`, undefined, { 'if-none-match': group.meta.version });
    assert.equal(current.status, 304);
    assert.equal(current.headers.etag, group.meta.version);
    assert.equal((await roster.request('GET', `/Groups/${group.id}`, undefined, { 'if-none-match': '*' })).status, 304);
    assert.equal((await roster.request('GET', `/Groups/${group.id}`, undefined, { 'if-none-match': 'W/"999"' })).status, 200);
    // If-Match: a version it does not name is 412, the current one the group.
    assert.equal((await roster.request('GET', `/Groups/${group.id}`, undefined, { 'if-match': 'W/"999"' })).status, 412);
    assert.equal((await roster.request('GET', `/Groups/${group.id}`, undefined, { 'if-match': group.meta.version })).status, 200);
  });

  test('If-None-Match with the current ETag is 304 whatever the projection (members are not read for it); after a member change, the group with its members', async () => {
    const group = (await roster.request('POST', '/Groups', groupBody('Cached members', [users[0]!, users[1]!]))).body;
    for (const query of ['', `?attributes=${encodeURIComponent(`members[value eq "${users[0]}"]`)}`, '?excludedAttributes=members']) {
      const response = await roster.request('GET', `/Groups/${group.id}${query}`, undefined, { 'if-none-match': group.meta.version });
      assert.equal(response.status, 304, query);
      assert.equal(response.headers.etag, group.meta.version);
      assert.equal(response.raw.payload, '');
    }
    const patched = await roster.request('PATCH', `/Groups/${group.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: users[2]! }] }] });
    assert.equal(patched.status, 204);
    const changed = await roster.request('GET', `/Groups/${group.id}`, undefined, { 'if-none-match': group.meta.version });
    assert.equal(changed.status, 200);
    assert.deepEqual(changed.body.members.map((m: any) => m.value).sort(), [users[0], users[1], users[2]].sort());
    assert.equal(changed.headers.etag, patched.headers.etag);
    assert.equal((await roster.request('GET', `/Groups/${group.id}`, undefined, { 'if-none-match': String(patched.headers.etag) })).status, 304);
    assert.equal((await roster.request('GET', '/Groups/no-such-group', undefined, { 'if-none-match': '*' })).status, 404);
  });

  test('a member check, attributes=members[value eq "<id>"], answers as the full group shows that member: alone, or no members', async () => {
    const group = (await roster.request('POST', '/Groups', groupBody('Checked', [users[0]!, users[1]!, users[2]!, users[3]!]))).body;
    const full = (await roster.request('GET', `/Groups/${group.id}`)).body;
    const member = (id: string) => full.members.find((m: any) => m.value === id);
    const [a, b, c, outside] = [users[1]!, users[3]!, users[2]!, users[5]!];
    const capitals = a.toUpperCase() === a ? 'NOT-AN-ID' : a.toUpperCase();
    const cases: readonly [string, Record<string, unknown>][] = [
      [`attributes=members[value eq "${a}"]`, { members: [member(a)] }],
      [`attributes=members[value eq "${a}" or value eq "${outside}" or value eq "${b}"]`, { members: [member(a), member(b)].sort((x, y) => (x.value < y.value ? -1 : 1)) }],
      [`attributes=members[value eq "${outside}"]`, {}],
      [`attributes=members[value eq "no-such-user"]`, {}],
      [`attributes=members[value eq "${capitals}"]`, {}],
      [`attributes=members[VALUE eq "${a}"],members[value eq "${b}"]`, { members: [member(a), member(b)].sort((x, y) => (x.value < y.value ? -1 : 1)) }],
      [`attributes=members[value eq "${a}"].display`, { members: [{ display: member(a).display }] }],
      [`attributes=members[value eq "${a}"],displayName`, { displayName: 'Checked', members: [member(a)] }],
      [`attributes=members[value eq "${a}" or value eq "${c}"]&excludedAttributes=members[value eq "${c}"]`, { members: [member(a)] }],
      // Not a lookup by id: every member is read and filtered, with the same kind of answer.
      [`attributes=members[display eq "Member 1"]`, { members: [member(a)] }],
      [`attributes=members[value eq "${a}" and type eq "User"]`, { members: [member(a)] }],
    ];
    for (const [query, expected] of cases) {
      const [attributes, excluded] = query.split('&');
      const url = `/Groups/${group.id}?${attributes!.replace(/=(.*)$/, (_, value: string) => `=${encodeURIComponent(value)}`)}${excluded ? `&${excluded.replace(/=(.*)$/, (_, value: string) => `=${encodeURIComponent(value)}`)}` : ''}`;
      const response = await roster.request('GET', url);
      assert.equal(response.status, 200, `${query}: ${JSON.stringify(response.body)}`);
      assert.deepEqual(response.body, { schemas: full.schemas, id: group.id, ...expected }, query);
      assert.equal(response.headers.etag, full.meta.version);
      const listed = await roster.request('GET', `/Groups?filter=${encodeURIComponent('displayName eq "Checked"')}&${url.split('?')[1]}`);
      assert.deepEqual(listed.body.Resources, [response.body], `listed: ${query}`);
    }
    const answered = await roster.request('PATCH', `/Groups/${group.id}?attributes=${encodeURIComponent(`members[value eq "${b}"]`)}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'remove', path: `members[value eq "${a}"]` }],
    });
    assert.equal(answered.status, 200);
    assert.deepEqual(answered.body, { schemas: full.schemas, id: group.id, members: [member(b)] });
  });

  test('renaming a group to the name of another, by PUT or PATCH, is 409 uniqueness', async () => {
    await roster.request('POST', '/Groups', groupBody('Taken Name'));
    const group = (await roster.request('POST', '/Groups', groupBody('Free Name'))).body;
    const put = await roster.request('PUT', `/Groups/${group.id}`, groupBody('TAKEN name'));
    assert.equal(put.status, 409);
    assert.equal(put.body.scimType, 'uniqueness');
    const patch = await roster.request('PATCH', `/Groups/${group.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { displayName: 'taken NAME' } }] });
    assert.equal(patch.status, 409);
    assert.equal(patch.body.scimType, 'uniqueness');
    assert.equal((await roster.request('GET', `/Groups/${group.id}`)).body.displayName, 'Free Name');
  });

  test('GET /Groups?excludedAttributes=members lists groups without members', async () => {
    const response = await roster.request('GET', '/Groups?excludedAttributes=members&startIndex=1&count=100');
    assert.equal(response.status, 200);
    assert.ok(response.body.totalResults >= 1);
    for (const group of response.body.Resources) assert.equal(group.members, undefined);
  });

  test('filters on members.value find the groups of a user', async () => {
    const group = (await roster.request('POST', '/Groups', groupBody('Findable', [users[5]!]))).body;
    const response = await roster.request('GET', `/Groups?filter=${encodeURIComponent(`members.value eq "${users[5]}"`)}&excludedAttributes=members`);
    assert.ok(response.body.Resources.some((g: any) => g.id === group.id));
  });

  test('DELETE /Groups/:id removes the group and its memberships', async () => {
    const group = (await roster.request('POST', '/Groups', groupBody('Doomed', [users[0]!]))).body;
    assert.equal((await roster.request('DELETE', `/Groups/${group.id}`)).status, 204);
    assert.equal((await roster.request('GET', `/Groups/${group.id}`)).status, 404);
    const user = (await roster.request('GET', `/Users/${users[0]}`)).body;
    assert.ok(!(user.groups ?? []).some((g: any) => g.value === group.id));
    // Its audit entry says what was deleted and how many memberships went with it, as the admin API's does.
    const entry = (await roster.request('GET', '/api/v2/audit-logs?action=group.deleted&sort=seq&pageSize=500')).body.auditLogs.find((e: any) => e.details.scimId === group.id);
    assert.equal(entry?.details.name, 'Doomed');
    assert.equal(entry?.details.before.displayName, 'Doomed');
    assert.equal(entry?.details.members, 1);
  });

  test('deleting a user removes it from its groups', async () => {
    const extra = (await roster.request('POST', '/Users', userBody('leaver@example.com'))).body.id;
    const group = (await roster.request('POST', '/Groups', groupBody('Left Behind', [extra, users[0]!]))).body;
    await roster.request('DELETE', `/Users/${extra}`);
    assert.deepEqual(await memberIds(group.id), [users[0]]);
  });

  test('dozens of parallel single-member PATCHes to one group lose nothing', async () => {
    const many: string[] = [];
    for (let i = 0; i < 40; i += 1) many.push((await roster.request('POST', '/Users', userBody(`parallel-${i}@example.com`))).body.id);
    const group = (await roster.request('POST', '/Groups', groupBody('Parallel'))).body;
    const responses = await Promise.all(
      many.map((id) => roster.request('PATCH', `/Groups/${group.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: id }] }] })),
    );
    assert.ok(responses.every((response) => response.status === 204));
    assert.deepEqual(await memberIds(group.id), [...many].sort());
    const removed = many.filter((_, index) => index % 2 === 0);
    await Promise.all([
      ...removed.map((id) => roster.request('PATCH', `/Groups/${group.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: `members[value eq "${id}"]` }] })),
      ...users.map((id) => roster.request('PATCH', `/Groups/${group.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: id }] }] })),
    ]);
    const expected = [...many.filter((_, index) => index % 2 === 1), ...users].sort();
    assert.deepEqual(await memberIds(group.id), expected);
  });
});
