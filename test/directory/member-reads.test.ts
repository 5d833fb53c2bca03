/**
 * Reading a group's members: all, none, or a member check (`attributes=members[value eq
 * "<id>"]`) that reads only the memberships of the ids named, by key. What the directory
 * returns, before any projection, is what it read: a member check on a big group must come
 * back with the members named, not with the group.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ScimGroup } from '../../src/directory/groups.ts';
import { createServices, type Services } from '../../src/services.ts';
import type { Store } from '../../src/store/index.ts';
import { MEMBER_LOOKUP_IDS } from '../../src/store/memberships.ts';
import { eachDatabase, openTestStore, turnScimOn } from '../support/databases.ts';

const MEMBERS = 120;
const actor = { kind: 'system' } as const;

function memberValues(group: ScimGroup): string[] {
  const members = group.document.members;
  return Array.isArray(members) ? members.map((member) => (member as { value: string }).value) : [];
}

eachDatabase('reading the members of a group', (database) => {
  let store: Store;
  let services: Services;
  const ids: string[] = [];
  let big: ScimGroup;
  let small: ScimGroup;
  before(async () => {
    store = await openTestStore(database);
    services = createServices(store);
    await turnScimOn(store);
    for (let i = 0; i < MEMBERS + 2; i += 1) {
      ids.push((await services.users.create({ userName: `reader-${i}@example.com`, displayName: `Reader ${i}` }, actor)).scimId);
    }
    big = await services.groups.create({ displayName: 'Big' }, ids.slice(0, MEMBERS), actor);
    small = await services.groups.create({ displayName: 'Small' }, [ids[0]!, ids[MEMBERS]!], actor);
  });
  after(() => store.close());

  test('a member check reads the members named and no other, in the order of a full read, with the same values', async () => {
    const all = await services.groups.get(big.scimId, true);
    assert.equal(memberValues(all).length, MEMBERS);
    const [first, second] = [ids[7]!, ids[91]!];
    const checked = await services.groups.get(big.scimId, { among: [second, 'no-such-user', first, second] });
    assert.deepEqual(memberValues(checked), memberValues(all).filter((value) => value === first || value === second));
    const expected = (all.document.members as unknown[]).filter((member) => [first, second].includes((member as { value: string }).value));
    assert.deepEqual(checked.document.members, expected);
    assert.deepEqual(checked.group, all.group);
  });

  test('a member check of a user outside the group, of no user, or of nobody reads no member', async () => {
    // Ids are case-exact (RFC 7643 §4.2 members.value): a member's id in capitals names nobody.
    const capitals = ids[7]!.toUpperCase();
    for (const among of [[ids[MEMBERS + 1]!], ['no-such-user'], ...(capitals !== ids[7] ? [[capitals]] : []), []]) {
      const checked = await services.groups.get(big.scimId, { among });
      assert.equal(checked.document.members, undefined, JSON.stringify(among));
    }
    assert.equal((await services.groups.get(big.scimId, false)).document.members, undefined);
  });

  test(`more than ${MEMBER_LOOKUP_IDS} ids read every member (the projection then picks)`, async () => {
    const among = [ids[3]!, ...Array.from({ length: MEMBER_LOOKUP_IDS }, (_, i) => `absent-${i}`)];
    assert.equal(memberValues(await services.groups.get(big.scimId, { among })).length, MEMBERS);
    assert.deepEqual(memberValues(await services.groups.get(big.scimId, { among: among.slice(0, MEMBER_LOOKUP_IDS) })), [ids[3]]);
  });

  test('a group read without members gets the same ones later (withMembersRead), and a list reads only the members named of each group', async () => {
    const bare = await services.groups.get(big.scimId, false);
    assert.deepEqual(memberValues(await services.groups.withMembersRead(bare, { among: [ids[0]!] })), [ids[0]]);
    assert.deepEqual(await services.groups.withMembersRead(bare, true), await services.groups.get(big.scimId, true));
    assert.equal(await services.groups.withMembersRead(bare, false), bare);
    const page = await services.groups.list({
      locationBase: 'https://roster.test/Groups/',
      descending: false,
      page: { kind: 'index', offset: 0, limit: 10 },
      withMembers: { among: [ids[0]!, ids[MEMBERS]!] },
    });
    const byName = new Map(page.items.map((group) => [group.group.name, memberValues(group)]));
    assert.deepEqual(byName.get('Big'), [ids[0]]);
    assert.deepEqual(byName.get('Small'), memberValues(await services.groups.get(small.scimId, true)));
  });
});
