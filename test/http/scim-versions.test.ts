/**
 * `meta.version` (the ETag) and `meta.lastModified` follow everything GET shows, computed
 * attributes included (RFC 7644 §3.14): a user's `groups` (its memberships, its groups'
 * names) and a group's `members` (who, and each member's display name).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eachDatabase } from '../support/databases.ts';
import { groupBody, startTestApp, userBody, type TestApp, type TestResponse } from '../support/app.ts';

const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

/** Lets the clock move on, so that a change gets a later lastModified than what was read before it. */
async function tick(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 5));
}

eachDatabase('SCIM versions and lastModified follow computed attributes', (database) => {
  let roster: TestApp;
  let counter = 0;
  before(async () => {
    roster = await startTestApp({ database });
  });
  after(async () => {
    await roster.close();
  });

  async function newUser(extra: Record<string, unknown> = {}): Promise<any> {
    counter += 1;
    const response = await roster.request('POST', '/Users', userBody(`versioned-${counter}@example.com`, extra));
    assert.equal(response.status, 201);
    return response.body;
  }

  async function newGroup(name: string, members: readonly string[] = []): Promise<any> {
    const response = await roster.request('POST', '/Groups', groupBody(name, members));
    assert.equal(response.status, 201);
    return response.body;
  }

  async function get(path: string, headers: Record<string, string> = {}): Promise<TestResponse> {
    return roster.request('GET', path, undefined, headers);
  }

  async function patchMembers(groupId: string, operation: Record<string, unknown>): Promise<void> {
    const response = await roster.request('PATCH', `/Groups/${groupId}`, { schemas: [PATCH_OP], Operations: [operation] });
    assert.equal(response.status, 204);
  }

  test("adding a user to a group changes the user's ETag and lastModified; If-None-Match with the old ETag answers 200 with the groups", async () => {
    const user = await newUser();
    const group = await newGroup('Joined later');
    const read = await get(`/Users/${user.id}`);
    assert.equal(read.headers.etag, read.body.meta.version);
    assert.equal((await get(`/Users/${user.id}`, { 'if-none-match': String(read.headers.etag) })).status, 304);
    await tick();
    await patchMembers(group.id, { op: 'add', path: 'members', value: [{ value: user.id }] });

    const again = await get(`/Users/${user.id}`, { 'if-none-match': String(read.headers.etag) });
    assert.equal(again.status, 200);
    assert.deepEqual(again.body.groups.map((g: any) => g.display), ['Joined later']);
    assert.notEqual(again.headers.etag, read.headers.etag);
    assert.equal(again.headers.etag, again.body.meta.version);
    assert.ok(again.body.meta.lastModified > read.body.meta.lastModified, `${again.body.meta.lastModified} > ${read.body.meta.lastModified}`);
    assert.equal((await get(`/Users/${user.id}`, { 'if-none-match': String(again.headers.etag) })).status, 304);
  });

  test("renaming a group changes its members' ETags and lastModified", async () => {
    const members = [await newUser(), await newUser()];
    const group = await newGroup('Before rename', members.map((m) => m.id));
    const before = await Promise.all(members.map((m) => get(`/Users/${m.id}`)));
    await tick();
    await patchMembers(group.id, { op: 'replace', path: 'displayName', value: 'After rename' });

    for (const [index, member] of members.entries()) {
      const previous = before[index]!;
      const now = await get(`/Users/${member.id}`, { 'if-none-match': String(previous.headers.etag) });
      assert.equal(now.status, 200);
      assert.deepEqual(now.body.groups.map((g: any) => g.display), ['After rename']);
      assert.notEqual(now.body.meta.version, previous.body.meta.version);
      assert.ok(now.body.meta.lastModified > previous.body.meta.lastModified);
    }
  });

  test("a member's displayName or userName change changes its groups' ETags and lastModified", async () => {
    const member = await newUser({ displayName: 'First Name' });
    const bystander = await newUser({ displayName: 'Bystander' });
    const group = await newGroup('Shows display names', [member.id, bystander.id]);
    const first = await get(`/Groups/${group.id}`);
    await tick();
    const renamed = await roster.request('PATCH', `/Users/${member.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'Second Name' }] });
    assert.equal(renamed.status, 200);

    const second = await get(`/Groups/${group.id}`, { 'if-none-match': String(first.headers.etag) });
    assert.equal(second.status, 200);
    assert.equal(second.body.members.find((m: any) => m.value === member.id).display, 'Second Name');
    assert.notEqual(second.headers.etag, first.headers.etag);
    assert.ok(second.body.meta.lastModified > first.body.meta.lastModified);

    // A member without displayName is shown by userName: renaming it is a change too.
    const plain = await newUser();
    await patchMembers(group.id, { op: 'add', path: 'members', value: [{ value: plain.id }] });
    const third = await get(`/Groups/${group.id}`);
    const put = await roster.request('PUT', `/Users/${plain.id}`, userBody('renamed-plain@example.com'));
    assert.equal(put.status, 200);
    const fourth = await get(`/Groups/${group.id}`, { 'if-none-match': String(third.headers.etag) });
    assert.equal(fourth.status, 200);
    assert.equal(fourth.body.members.find((m: any) => m.value === plain.id).display, 'renamed-plain@example.com');
  });

  test("a member's change that its groups do not show leaves their ETags alone; so does another member joining, for the other members", async () => {
    const member = await newUser({ displayName: 'Steady' });
    const group = await newGroup('Steady group', [member.id]);
    const groupBefore = await get(`/Groups/${group.id}`);
    const userBefore = await get(`/Users/${member.id}`);
    const titled = await roster.request('PATCH', `/Users/${member.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'Engineer' }] });
    assert.equal(titled.status, 200);
    assert.equal((await get(`/Groups/${group.id}`, { 'if-none-match': String(groupBefore.headers.etag) })).status, 304);

    const newcomer = await newUser();
    await patchMembers(group.id, { op: 'add', path: 'members', value: [{ value: newcomer.id }] });
    assert.equal((await get(`/Users/${member.id}`, { 'if-none-match': String(titled.headers.etag) })).status, 304);
    assert.notEqual(titled.headers.etag, userBefore.headers.etag);
  });

  test("removing a member changes the user's and the group's ETags and lastModified", async () => {
    const user = await newUser();
    const group = await newGroup('Leavers', [user.id]);
    const userBefore = await get(`/Users/${user.id}`);
    const groupBefore = await get(`/Groups/${group.id}`);
    await tick();
    await patchMembers(group.id, { op: 'remove', path: `members[value eq "${user.id}"]` });

    const userAfter = await get(`/Users/${user.id}`, { 'if-none-match': String(userBefore.headers.etag) });
    assert.equal(userAfter.status, 200);
    assert.equal(userAfter.body.groups, undefined);
    assert.ok(userAfter.body.meta.lastModified > userBefore.body.meta.lastModified);
    const groupAfter = await get(`/Groups/${group.id}`, { 'if-none-match': String(groupBefore.headers.etag) });
    assert.equal(groupAfter.status, 200);
    assert.equal(groupAfter.body.members, undefined);
    assert.ok(groupAfter.body.meta.lastModified > groupBefore.body.meta.lastModified);

    // Joining again shows the same groups as before, but not under an ETag already given out.
    await patchMembers(group.id, { op: 'add', path: 'members', value: [{ value: user.id }] });
    const rejoined = await get(`/Users/${user.id}`);
    assert.notEqual(rejoined.headers.etag, userBefore.headers.etag);
    assert.notEqual(rejoined.headers.etag, userAfter.headers.etag);
  });

  test("deleting a group changes its members' ETags", async () => {
    const user = await newUser();
    const group = await newGroup('Deleted soon', [user.id]);
    const before = await get(`/Users/${user.id}`);
    assert.equal((await roster.request('DELETE', `/Groups/${group.id}`)).status, 204);
    const after = await get(`/Users/${user.id}`, { 'if-none-match': String(before.headers.etag) });
    assert.equal(after.status, 200);
    assert.equal(after.body.groups, undefined);
  });

  test('PUT /Groups/:id with the same name and members changes no version, neither the group\'s nor its members\'', async () => {
    const members = [await newUser(), await newUser()];
    const group = await newGroup('Same again', members.map((m) => m.id));
    const userBefore = await get(`/Users/${members[0]!.id}`);
    const put = await roster.request('PUT', `/Groups/${group.id}`, groupBody('Same again', members.map((m) => m.id).reverse()));
    assert.equal(put.status, 200);
    assert.equal(put.body.meta.version, group.meta.version);
    assert.equal((await get(`/Users/${members[0]!.id}`, { 'if-none-match': String(userBefore.headers.etag) })).status, 304);
  });

  test('meta.lastModified gt <before> finds the users whose groups changed, and meta.version eq the ETag GET gives', async () => {
    const joiner = await newUser({ title: 'delta' });
    const renamedMember = await newUser({ title: 'delta' });
    const leaver = await newUser({ title: 'delta' });
    const unchanged = await newUser({ title: 'delta' });
    const group = await newGroup('Delta A', [renamedMember.id, unchanged.id]);
    const other = await newGroup('Delta B', [leaver.id]);
    const earlier = new Map<string, any>();
    for (const user of [joiner, renamedMember, leaver, unchanged]) earlier.set(user.id, (await get(`/Users/${user.id}`)).body.meta);
    await tick();
    const since = new Date().toISOString();
    await tick();
    await patchMembers(other.id, { op: 'add', path: 'members', value: [{ value: joiner.id }] });
    await patchMembers(other.id, { op: 'remove', path: `members[value eq "${leaver.id}"]` });
    const renamedGroup = await newGroup('Delta C', [renamedMember.id]);
    await patchMembers(renamedGroup.id, { op: 'replace', path: 'displayName', value: 'Delta C renamed' });
    void group;

    const search = async (filter: string): Promise<string[]> => {
      const response = await get(`/Users?filter=${encodeURIComponent(`title eq "delta" and ${filter}`)}`);
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return response.body.Resources.map((u: any) => u.id).sort();
    };
    const changed = [joiner.id, renamedMember.id, leaver.id].sort();
    assert.deepEqual(await search(`meta.lastModified gt "${since}"`), changed);
    assert.deepEqual(await search(`meta.lastModified ge "${since}"`), changed);
    assert.deepEqual(await search(`meta.lastModified lt "${since}"`), [unchanged.id]);
    assert.deepEqual(await search(`not (meta.lastModified gt "${since}")`), [unchanged.id]);

    // Filters see the version and lastModified GET shows, not those of the user's own row.
    for (const user of [joiner, renamedMember, leaver, unchanged]) {
      const read = await get(`/Users/${user.id}`);
      const self = `id eq "${user.id}"`;
      assert.deepEqual(await search(`${self} and meta.version eq ${JSON.stringify(read.headers.etag)}`), [user.id]);
      assert.deepEqual(await search(`${self} and meta.lastModified eq "${read.body.meta.lastModified}"`), [user.id]);
      const changedSince = user === unchanged ? [] : [user.id];
      const before = earlier.get(user.id);
      assert.deepEqual(await search(`${self} and meta.version eq ${JSON.stringify(before.version)}`), user === unchanged ? [user.id] : []);
      assert.deepEqual(await search(`${self} and meta.lastModified gt "${before.lastModified}"`), changedSince);
      const listed = (await get(`/Users?filter=${encodeURIComponent(self)}`)).body.Resources[0];
      assert.deepEqual(listed.meta, read.body.meta);
    }
  });

  test('If-Match with an ETag read before a membership change is 412; the new one is accepted', async () => {
    const user = await newUser();
    const group = await newGroup('Guards versions');
    const read = await get(`/Users/${user.id}`);
    await patchMembers(group.id, { op: 'add', path: 'members', value: [{ value: user.id }] });
    const stale = { 'if-match': String(read.headers.etag) };
    const patch = { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'Stale' }] };
    assert.equal((await roster.request('PATCH', `/Users/${user.id}`, patch, stale)).status, 412);
    assert.equal((await roster.request('PUT', `/Users/${user.id}`, userBody(user.userName, { title: 'Stale' }), stale)).status, 412);
    assert.equal((await roster.request('DELETE', `/Users/${user.id}`, undefined, stale)).status, 412);
    assert.equal((await get(`/Users/${user.id}`)).body.title, undefined);

    const current = await get(`/Users/${user.id}`);
    const accepted = await roster.request('PATCH', `/Users/${user.id}`, patch, { 'if-match': String(current.headers.etag) });
    assert.equal(accepted.status, 200);
    assert.equal(accepted.body.title, 'Stale');

    // The same for a group whose member was renamed since its ETag was read.
    const groupRead = await get(`/Groups/${group.id}`);
    await roster.request('PATCH', `/Users/${user.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'Renamed member' }] });
    const rename = { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'Guards versions 2' }] };
    assert.equal((await roster.request('PATCH', `/Groups/${group.id}`, rename, { 'if-match': String(groupRead.headers.etag) })).status, 412);
  });
  test('If-None-Match on a write: * or the current ETag is 412 and writes nothing; another ETag lets it through', async () => {
    const user = await newUser();
    const group = await newGroup('Guarded by If-None-Match');
    const read = await get(`/Users/${user.id}`);
    const groupRead = await get(`/Groups/${group.id}`);
    const patch = { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'Written' }] };
    for (const [value, groupValue] of [['*', '*'], [String(read.headers.etag), String(groupRead.headers.etag)]] as const) {
      const headers = { 'if-none-match': value };
      const groupHeaders = { 'if-none-match': groupValue };
      const patched = await roster.request('PATCH', `/Users/${user.id}`, patch, headers);
      assert.equal(patched.status, 412, value);
      assert.equal(patched.body.status, '412');
      assert.match(patched.body.detail, value === '*' ? /If-None-Match: \* allows a write only where nothing exists yet; nothing was written/ : /which If-None-Match names; nothing was written/);
      assert.equal((await roster.request('PUT', `/Users/${user.id}`, userBody(user.userName, { title: 'Written' }), headers)).status, 412);
      assert.equal((await roster.request('DELETE', `/Users/${user.id}`, undefined, headers)).status, 412);
      assert.equal((await roster.request('PATCH', `/Groups/${group.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'Renamed' }] }, groupHeaders)).status, 412);
      assert.equal((await roster.request('DELETE', `/Groups/${group.id}`, undefined, groupHeaders)).status, 412);
    }
    const unchanged = await get(`/Users/${user.id}`);
    assert.equal(unchanged.body.title, undefined);
    assert.equal(unchanged.headers.etag, read.headers.etag);
    assert.equal((await get(`/Groups/${group.id}`)).body.displayName, 'Guarded by If-None-Match');

    // A version the client does not hold any more is no objection: the write goes through.
    const other = await roster.request('PATCH', `/Users/${user.id}`, patch, { 'if-none-match': 'W/"0.0.0"' });
    assert.equal(other.status, 200);
    assert.equal(other.body.title, 'Written');
    // If-Match is checked first: a stale If-Match is the stale message, whatever If-None-Match says.
    const both = await roster.request('PATCH', `/Users/${user.id}`, patch, { 'if-match': String(read.headers.etag), 'if-none-match': '*' });
    assert.equal(both.status, 412);
    assert.match(both.body.detail, /has changed since version/);
  });
});
