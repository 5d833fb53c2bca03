/**
 * Member PATCHes of a few members (Entra ID and Okta add or remove one member per request) send
 * their ids inline; longer lists are staged (store/memberships.ts INLINE_MEMBERS). Each scenario
 * runs both ways, with the same users and operations, the long way padded with members already
 * present (which change nothing), and must leave the same observable result: answer, members,
 * events (exactly once per real change), users' versions and membership-change counts, group version.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { INLINE_MEMBERS } from '../../src/store/memberships.ts';
import { eachDatabase } from '../support/databases.ts';
import { groupBody, startTestApp, userBody, type TestApp } from '../support/app.ts';

const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

eachDatabase('SCIM member PATCH, inline or staged', (database) => {
  let roster: TestApp;
  // Members already present in every group of the padded runs: enough to make a list long.
  const padding: string[] = [];
  let sequence = 0;
  before(async () => {
    roster = await startTestApp({ database });
    for (let i = 0; i < INLINE_MEMBERS + 1; i += 1) {
      padding.push((await roster.request('POST', '/Users', userBody(`padding-${i}@example.com`))).body.id);
    }
  });
  after(async () => {
    await roster.close();
  });

  /** Fresh users named by letter, e.g. `{ A: id, B: id }`. */
  async function freshUsers(...letters: string[]): Promise<Record<string, string>> {
    sequence += 1;
    const result: Record<string, string> = {};
    for (const letter of letters) {
      result[letter] = (await roster.request('POST', '/Users', userBody(`${letter.toLowerCase()}-${sequence}@example.com`))).body.id;
    }
    return result;
  }

  /** What a client and the stored data show of a group and of some users. */
  async function observe(groupId: string, users: Record<string, string>, padded: boolean) {
    const group = (await roster.request('GET', `/Groups/${groupId}`)).body;
    const named = new Set(Object.values(users));
    const members = (group.members ?? []).map((member: { value: string }) => member.value).filter((id: string) => !padding.includes(id));
    const letterOf = (id: string) => Object.keys(users).find((letter) => users[letter] === id) ?? id;
    const db = roster.services.store.db;
    const groupRow = await db.selectFrom('scim_groups').select('group_id').where('scim_id', '=', groupId).executeTakeFirstOrThrow();
    const events = await db.selectFrom('events').select(['type', 'data']).orderBy('tx').orderBy('id').execute();
    const userRows = await db.selectFrom('scim_users').select(['scim_id', 'user_id']).where('scim_id', 'in', [...named]).execute();
    const internal = new Map(userRows.map((row) => [row.user_id, letterOf(row.scim_id)]));
    const changes = await db.selectFrom('user_membership_changes').select(['user_id', 'changes']).where('user_id', 'in', userRows.map((row) => row.user_id)).execute();
    const versions: Record<string, string> = {};
    for (const [letter, id] of Object.entries(users)) versions[letter] = (await roster.request('GET', `/Users/${id}`)).body.meta.version;
    return {
      members: members.map(letterOf).sort(),
      memberCount: (group.members ?? []).length - (padded ? padding.length : 0),
      groupVersion: group.meta.version,
      events: events
        .map((event) => ({ type: event.type, data: JSON.parse(event.data) }))
        .filter((event) => event.type.startsWith('group.user_') && event.data.group.id === groupRow.group_id)
        .map((event) => `${event.type} ${internal.get(event.data.user.id) ?? 'padding'}`),
      changes: Object.fromEntries(changes.map((row) => [internal.get(row.user_id), Number(row.changes)]).filter(([, n]) => n !== 0)),
      versions,
    };
  }

  /**
   * Creates a group with `initial` (and the padding when `padded`), sends `operations(users,
   * pad)` as one PATCH, and returns the answer and what changed, the versions as before/after.
   */
  async function scenario(padded: boolean, letters: string[], initial: string[], operations: (users: Record<string, string>, pad: Array<{ value: string }>) => unknown[]) {
    const users = await freshUsers(...letters);
    sequence += 1;
    const pad = padded ? padding.map((value) => ({ value })) : [];
    const group = (await roster.request('POST', '/Groups', groupBody(`Members ${sequence}`, [...initial.map((letter) => users[letter]!), ...(padded ? padding : [])]))).body;
    const before = await observe(group.id, users, padded);
    const answer = await roster.request('PATCH', `/Groups/${group.id}`, { schemas: [PATCH_OP], Operations: operations(users, pad) });
    const after = await observe(group.id, users, padded);
    const unchanged = (letter: string) => before.versions[letter] === after.versions[letter];
    return {
      status: answer.status,
      detail: answer.body?.detail,
      scimType: answer.body?.scimType,
      membersBefore: before.members,
      membersAfter: after.members,
      groupVersionChanged: before.groupVersion !== after.groupVersion,
      etagIsNewVersion: answer.status === 204 ? answer.headers.etag === after.groupVersion : undefined,
      newEvents: after.events.slice(before.events.length),
      changesBefore: before.changes,
      changesAfter: after.changes,
      usersWithSameVersion: letters.filter(unchanged),
    };
  }

  /** Runs a scenario inline and staged, asserts both agree, and returns the inline one. */
  async function bothWays(letters: string[], initial: string[], operations: (users: Record<string, string>, pad: Array<{ value: string }>) => unknown[]) {
    const inline = await scenario(false, letters, initial, operations);
    const staged = await scenario(true, letters, initial, operations);
    assert.deepEqual(inline, staged);
    return inline;
  }

  test('a mixed PATCH with duplicate values changes each member once, with one event per real change', async () => {
    const result = await bothWays(['A', 'B', 'C', 'D'], ['A', 'C'], (u, pad) => [
      { op: 'add', path: 'members', value: [{ value: u.B }, { value: u.B, type: 'User' }, { value: u.A }, ...pad] },
      { op: 'remove', path: `members[value eq "${u.C}"]` },
      { op: 'remove', path: 'members', value: [{ value: u.D }, { value: u.D }] },
      { op: 'add', path: 'members', value: [{ value: u.C }] },
    ]);
    assert.equal(result.status, 204);
    assert.deepEqual(result.membersAfter, ['A', 'B', 'C']);
    // C removed and added again in the same atomic request ends as it was: no event, no version
    // (a consumer would otherwise act on a removal nobody could observe).
    assert.deepEqual(result.newEvents, ['group.user_added B']);
    assert.deepEqual(result.changesAfter, { A: 1, B: 1, C: 1 });
    assert.deepEqual(result.usersWithSameVersion, ['A', 'C', 'D']);
    assert.equal(result.groupVersionChanged, true);
    assert.equal(result.etagIsNewVersion, true);
  });

  test('adding members already present changes nothing: no event, no version', async () => {
    const result = await bothWays(['A', 'B'], ['A', 'B'], (u, pad) => [{ op: 'add', path: 'members', value: [{ value: u.A }, { value: u.B }, { value: u.A }, ...pad] }]);
    assert.equal(result.status, 204);
    assert.deepEqual(result.membersAfter, ['A', 'B']);
    assert.deepEqual(result.newEvents, []);
    assert.deepEqual(result.changesAfter, result.changesBefore);
    assert.deepEqual(result.usersWithSameVersion, ['A', 'B']);
    assert.equal(result.groupVersionChanged, false);
    assert.equal(result.etagIsNewVersion, true);
  });

  test('removing non-members and ids of no user changes nothing for them; a member named twice is removed once', async () => {
    const result = await bothWays(['A', 'B', 'C'], ['A', 'C'], (u, pad) => [
      { op: 'remove', path: 'members', value: [{ value: u.B }, { value: 'no-such-user' }, { value: u.C }, { value: u.C }, ...pad.map((_, i) => ({ value: `nobody-${i}` }))] },
      { op: 'remove', path: `members[value eq "${u.B}"]` },
    ]);
    assert.equal(result.status, 204);
    assert.deepEqual(result.membersAfter, ['A']);
    assert.deepEqual(result.newEvents, ['group.user_removed C']);
    assert.deepEqual(result.changesAfter, { A: 1, C: 2 });
    assert.deepEqual(result.usersWithSameVersion, ['A', 'B']);
    assert.equal(result.groupVersionChanged, true);
  });

  test('removing only non-members is a no-op: no event, no version', async () => {
    const result = await bothWays(['A', 'B'], ['A'], (u, pad) => [
      { op: 'remove', path: 'members', value: [{ value: u.B }, { value: 'no-such-user' }, ...pad.map((_, i) => ({ value: `nobody-${i}` }))] },
      { op: 'remove', path: `members[value eq "${u.B}"]` },
    ]);
    assert.equal(result.status, 204);
    assert.deepEqual(result.membersAfter, ['A']);
    assert.deepEqual(result.newEvents, []);
    assert.deepEqual(result.usersWithSameVersion, ['A', 'B']);
    assert.equal(result.groupVersionChanged, false);
  });

  test('an unknown id among members added is the same 400 and writes nothing, not even the operations before it', async () => {
    const result = await bothWays(['A', 'B', 'C'], ['A'], (u, pad) => [
      { op: 'add', path: 'members', value: [{ value: u.B }] },
      { op: 'remove', path: `members[value eq "${u.A}"]` },
      { op: 'add', path: 'members', value: [{ value: 'ghost-1' }, { value: u.C }, ...pad, { value: 'ghost-2' }, { value: 'ghost-1' }] },
    ]);
    assert.equal(result.status, 400);
    assert.equal(result.scimType, 'invalidValue');
    assert.match(result.detail, /no user has the id "ghost-1", "ghost-2"\./);
    assert.deepEqual(result.membersAfter, ['A']);
    assert.deepEqual(result.newEvents, []);
    assert.deepEqual(result.changesAfter, result.changesBefore);
    assert.deepEqual(result.usersWithSameVersion, ['A', 'B', 'C']);
    assert.equal(result.groupVersionChanged, false);
  });

  test('more unknown ids than a message lists: the first ten in request order, and how many more', async () => {
    const ghosts = Array.from({ length: 12 }, (_, i) => ({ value: `ghost-${String(i).padStart(2, '0')}` })).reverse();
    const result = await bothWays(['A'], [], (_u, pad) => [{ op: 'add', path: 'members', value: [...ghosts, ...pad] }]);
    assert.equal(result.status, 400);
    assert.match(result.detail, /no user has the id "ghost-11", "ghost-10", "ghost-09", .*"ghost-02" and 2 more\./);
    assert.deepEqual(result.newEvents, []);
  });
  test('a PATCH naming 150,000 members (7 MB, within the body limit) is answered, not a 500', async () => {
    const group = (await roster.request('POST', '/Groups', groupBody(`huge-${Date.now()}`, [padding[0]!]))).body;
    const ghosts = Array.from({ length: 150_000 }, (_, i) => ({ value: `not-a-member-${i}` }));
    const removed = await roster.request('PATCH', `/Groups/${group.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: 'members', value: ghosts }] });
    assert.ok(removed.status === 200 || removed.status === 204, `${removed.status} ${String(JSON.stringify(removed.body)).slice(0, 300)}`);
    const after = (await roster.request('GET', `/Groups/${group.id}`)).body;
    assert.deepEqual(after.members.map((member: { value: string }) => member.value), [padding[0]]);
  });
});
