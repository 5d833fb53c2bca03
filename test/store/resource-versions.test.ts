/**
 * A user's meta.version and meta.lastModified as the store derives them (resource-versions.ts):
 * what filters compare is exactly what reads return, at the boundaries too, and no version is
 * given out twice for different groups.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Store } from '../../src/store/index.ts';
import { compileFilter } from '../../src/store/filter-sql.ts';
import { createJournal } from '../../src/journal/journal.ts';
import { createGroupQueries } from '../../src/store/groups.ts';
import { createMembershipQueries } from '../../src/store/memberships.ts';
import { createUserQueries } from '../../src/store/users.ts';
import { createUserWriteQueries } from '../../src/store/user-writes.ts';
import { parseFilter } from '../../src/scim/filter/index.ts';
import { eachDatabase, openTestStore } from '../support/databases.ts';

const T = (minute: number) => `2025-06-01T10:${String(minute).padStart(2, '0')}:00.000Z`;

eachDatabase('user versions and lastModified', (database) => {
  let store: Store;
  const users = () => createUserQueries(store.dialect);
  const userWrites = () => createUserWriteQueries(store.dialect);
  const groups = () => createGroupQueries(store.dialect);
  const memberships = () => createMembershipQueries(store.dialect);
  // Membership changes are recorded with their events; the stamp dates them.
  const stamp = (at: string) => createJournal(store.dialect).stamp({ kind: 'system' }, at);

  before(async () => {
    store = await openTestStore(database);
  });
  after(async () => {
    await store.close();
  });

  async function addUser(id: string, at: string): Promise<void> {
    await userWrites().insert(store.db, id, { login: id, displayName: null, email: null, active: true, externalId: null, data: {}, fold: {} }, at);
    await userWrites().link(store.db, `scim-${id}`, id);
  }

  async function addGroup(id: string, name: string, at: string): Promise<void> {
    await groups().insert(store.db, id, { name, externalId: null, data: {}, fold: {} }, at);
    await groups().link(store.db, `scim-${id}`, id, at);
  }

  async function read(id: string): Promise<{ version: string; modified: string }> {
    const user = await users().findById(store.db, id);
    assert.ok(user);
    return { version: user.resourceVersion, modified: user.resourceModifiedAt };
  }

  async function matching(filter: string): Promise<string[]> {
    const parsed = parseFilter(filter);
    if (!parsed.ok) assert.fail(parsed.error.message);
    const rows = await store.db
      .selectFrom('users as u')
      .innerJoin('scim_users as su', 'su.user_id', 'u.id')
      .select('u.id')
      .where(compileFilter(parsed.value, 'User', store.dialect, { locationBase: 'http://roster.test/api/scim/v2/Users/' }))
      .where('u.id', 'like', 'lm-%')
      .orderBy('u.id')
      .execute();
    return rows.map((row) => row.id);
  }

  describe('meta.lastModified: the latest of own write, membership change and group rename', () => {
    before(async () => {
      // lm-own: written at 20, no groups. lm-joined: written at 5, joined at 30.
      // lm-renamed: written at 5, joined at 10, its group renamed at 40. lm-left: joined then left at 25.
      await addUser('lm-own', T(20));
      await addUser('lm-joined', T(5));
      await addUser('lm-renamed', T(5));
      await addUser('lm-left', T(5));
      await addGroup('lm-g1', 'Renamed later', T(1));
      await addGroup('lm-g2', 'Joined', T(1));
      await memberships().add(store.db, 'lm-g1', ['lm-renamed'], T(10), stamp(T(10)));
      await memberships().add(store.db, 'lm-g2', ['lm-left'], T(15), stamp(T(15)));
      await memberships().remove(store.db, 'lm-g2', ['lm-left'], stamp(T(25)));
      await memberships().add(store.db, 'lm-g2', ['lm-joined'], T(30), stamp(T(30)));
      await groups().update(store.db, 'lm-g1', { name: 'Renamed', externalId: null, data: {}, fold: {} }, T(40));
    });

    it('reads the latest of the three', async () => {
      assert.equal((await read('lm-own')).modified, T(20));
      assert.equal((await read('lm-joined')).modified, T(30));
      assert.equal((await read('lm-left')).modified, T(25));
      assert.equal((await read('lm-renamed')).modified, T(40));
    });

    const expected: Record<string, number> = { 'lm-own': 20, 'lm-joined': 30, 'lm-left': 25, 'lm-renamed': 40 };
    const compare: Record<string, (a: number, b: number) => boolean> = {
      gt: (a, b) => a > b,
      ge: (a, b) => a >= b,
      lt: (a, b) => a < b,
      le: (a, b) => a <= b,
      eq: (a, b) => a === b,
      ne: (a, b) => a !== b,
    };
    for (const op of Object.keys(compare)) {
      it(`filters with ${op} agree with what reads show, boundaries included`, async () => {
        for (const minute of [0, 20, 24, 25, 30, 40, 41]) {
          const want = Object.keys(expected).filter((id) => compare[op]!(expected[id]!, minute)).sort();
          assert.deepEqual(await matching(`meta.lastModified ${op} "${T(minute)}"`), want, `${op} ${T(minute)}`);
          assert.deepEqual(await matching(`not (meta.lastModified ${op} "${T(minute)}")`), Object.keys(expected).filter((id) => !want.includes(id)).sort());
        }
      });
    }

    it('a rename that keeps the name changes nothing', async () => {
      const before = await read('lm-renamed');
      await groups().update(store.db, 'lm-g1', { name: 'Renamed', externalId: 'x', data: {}, fold: {} }, T(50));
      assert.deepEqual(await read('lm-renamed'), before);
    });
  });

  it('meta.version: every change to what the user shows gives a version never seen before', async () => {
    await addUser('v-user', T(0));
    await addGroup('v-a', 'A', T(0));
    await addGroup('v-b', 'B', T(0));
    const seen = new Map<string, string>();
    const step = async (label: string) => {
      const { version } = await read('v-user');
      assert.ok(!seen.has(version), `${label}: version ${version} was already given out after ${seen.get(version)}`);
      seen.set(version, label);
      const parsed = parseFilter(`meta.version eq "W/\\"${version}\\""`);
      if (!parsed.ok) assert.fail('filter');
      const found = await store.db.selectFrom('users as u').innerJoin('scim_users as su', 'su.user_id', 'u.id').select('u.id')
        .where(compileFilter(parsed.value, 'User', store.dialect, { locationBase: 'http://roster.test/api/scim/v2/Users/' })).where('u.id', '=', 'v-user').execute();
      assert.equal(found.length, 1, `${label}: meta.version eq finds the version read`);
    };
    await step('created');
    await memberships().add(store.db, 'v-a', ['v-user'], T(1), stamp(T(1)));
    await step('joined A');
    await memberships().add(store.db, 'v-b', ['v-user'], T(2), stamp(T(2)));
    await step('joined B');
    for (let i = 0; i < 3; i += 1) {
      await groups().update(store.db, 'v-a', { name: `A${i}`, externalId: null, data: {}, fold: {} }, T(3 + i));
      await step(`renamed A ${i}`);
    }
    await memberships().remove(store.db, 'v-b', ['v-user'], stamp(T(10)));
    await step('left B');
    await memberships().add(store.db, 'v-b', ['v-user'], T(11), stamp(T(11)));
    await step('joined B again');
    await groups().delete(store.db, 'v-a', T(12));
    await step('A deleted');
    await users().setActive(store.db, 'v-user', false, T(13));
    await step('own write');
  });
});
