/**
 * Writers racing on one database. On PostgreSQL two stores (two pools, as two Roster
 * instances would have) share one database and run at READ COMMITTED, so these tests prove
 * the row locks. On SQLite one store: two stores in ONE process would deadlock on SQLite's
 * synchronous busy wait, and within a process Kysely serialises the one connection anyway;
 * several processes are covered by BEGIN IMMEDIATE (test/deploy/ drives real processes).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { Actor } from '../../src/journal/actor.ts';
import { DirectoryError } from '../../src/errors.ts';
import { createGroupDirectory, type GroupDirectory } from '../../src/directory/groups.ts';
import { createScimSchemas } from '../../src/directory/scim-schemas.ts';
import { createUserDirectory, type UserDirectory } from '../../src/directory/users.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { INLINE_MEMBERS } from '../../src/store/memberships.ts';
import { createTestDatabase, eachDatabase, turnScimOn, type ScratchDatabase } from '../support/databases.ts';
import { waitForLockWaits } from '../support/lock-waits.ts';

const cli: Actor = { kind: 'cli' };
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';

interface Instance {
  readonly users: UserDirectory;
  readonly groups: GroupDirectory;
}

/** The outcome of each promise: 'ok' or the DirectoryError code. */
async function outcomes(promises: readonly Promise<unknown>[]): Promise<string[]> {
  const settled = await Promise.allSettled(promises);
  return settled.map((result) => {
    if (result.status === 'fulfilled') return 'ok';
    if (result.reason instanceof DirectoryError) return result.reason.code;
    throw result.reason;
  });
}

function count(values: readonly string[], value: string): number {
  return values.filter((candidate) => candidate === value).length;
}

eachDatabase('concurrent writers', (database) => {
  let scratch: ScratchDatabase;
  const stores: Store[] = [];
  let instances: Instance[];
  /** The instance for the i-th request: alternate between the two on PostgreSQL. */
  const at = (i: number): Instance => instances[i % instances.length] as Instance;

  before(async () => {
    scratch = await createTestDatabase(database);
    for (let i = 0; i < (database === 'postgres' ? 2 : 1); i += 1) stores.push(await openStore(scratch.location));
    instances = stores.map((store) => ({ users: createUserDirectory(store, createScimSchemas(store)), groups: createGroupDirectory(store, createScimSchemas(store)) }));
    await turnScimOn(stores[0] as Store);
  });
  after(async () => {
    for (const store of stores) await store.close();
    await scratch.drop();
  });

  describe('users', () => {
    test('concurrent updates of one user never lose each other', async () => {
      const { scimId } = await at(0).users.create({ schemas: [USER], userName: 'counter', nickName: '0' }, cli);
      const increment = (current: Record<string, unknown>) => ({ ...current, nickName: String(Number(current.nickName) + 1) });
      const results = await outcomes(Array.from({ length: 20 }, (_, i) => at(i).users.update(scimId, increment, () => true, cli)));
      assert.deepEqual(results, Array(20).fill('ok'));
      const final = await at(0).users.get(scimId);
      assert.equal(final.document.nickName, '20');
      assert.equal(final.user.version, 21);
    });

    test('If-Match is checked atomically with the write: one winner per version', async () => {
      const { scimId, user } = await at(0).users.create({ schemas: [USER], userName: 'etag' }, cli);
      const version = user.resourceVersion;
      const results = await outcomes(
        Array.from({ length: 10 }, (_, i) =>
          at(i).users.update(scimId, (current) => ({ ...current, title: `writer ${i}` }), (v) => v === version, cli),
        ),
      );
      assert.equal(count(results, 'ok'), 1, results.join());
      assert.equal(count(results, 'stale'), 9, results.join());
    });

    test('racing creates of one userName: one succeeds, the rest conflict', async () => {
      const results = await outcomes(
        Array.from({ length: 10 }, (_, i) => at(i).users.create({ schemas: [USER], userName: i % 2 ? 'Racer' : 'racer' }, cli)),
      );
      assert.equal(count(results, 'ok'), 1, results.join());
      assert.equal(count(results, 'conflict'), 9, results.join());
    });
  });

  describe('groups', () => {
    test('parallel member additions and removals to one group all apply', async () => {
      const members = [];
      for (let i = 0; i < 30; i += 1) members.push((await at(0).users.create({ schemas: [USER], userName: `member${i}` }, cli)).scimId);
      const group = await at(0).groups.create({ schemas: [GROUP], displayName: 'Busy' }, members.slice(20), cli);
      const adds = members.slice(0, 20).map((id, i) =>
        at(i).groups.update(group.scimId, (document) => ({ document, memberChanges: [{ kind: 'add', ids: [id] }] }), () => true, cli),
      );
      const removes = members.slice(20, 25).map((id, i) =>
        at(i + 1).groups.update(group.scimId, (document) => ({ document, memberChanges: [{ kind: 'remove', ids: [id] }] }), () => true, cli),
      );
      assert.deepEqual(await outcomes([...adds, ...removes]), Array(25).fill('ok'));
      const final = await at(1).groups.get(group.scimId, true);
      const ids = ((final.document.members ?? []) as { value: string }[]).map((member) => member.value).sort();
      assert.deepEqual(ids, [...members.slice(0, 20), ...members.slice(25)].sort());
      assert.equal(final.group.version, 1 + 25);
    });

    // Up to INLINE_MEMBERS users the request's users are locked by an inline list, beyond by a staged one.
    for (const count of [INLINE_MEMBERS, INLINE_MEMBERS + 10]) {
      test(`member PATCHes of many operations to different groups, naming the same ${count} users in different orders, all apply`, async () => {
        // Found by test/deploy/crash.test.ts: each operation of a PATCH is its own change, and
        // on PostgreSQL two such requests took their users' row locks in opposite orders,
        // deadlocked three times over and answered 500.
        const users: string[] = [];
        for (let i = 0; i < count; i += 1) users.push((await at(0).users.create({ schemas: [USER], userName: `shared${count}-${i}` }, cli)).scimId);
        const groups: string[] = [];
        for (let i = 0; i < 4; i += 1) groups.push((await at(0).groups.create({ schemas: [GROUP], displayName: `Sharing ${count}-${i}` }, [], cli)).scimId);
        const orders = [users, [...users].reverse(), [...users.slice(count / 2), ...users.slice(0, count / 2)], [...users.slice(0, count / 2).reverse(), ...users.slice(count / 2).reverse()]];
        const results = await outcomes(
          groups.map((group, i) =>
            at(i).groups.update(group, (document) => ({ document, memberChanges: (orders[i] as string[]).map((id) => ({ kind: 'add', ids: [id] }) as const) }), () => true, cli),
          ),
        );
        assert.deepEqual(results, Array(groups.length).fill('ok'));
        for (const group of groups) {
          const final = await at(1).groups.get(group, true);
          assert.equal((final.document.members as unknown[]).length, users.length);
        }
      });
    }

    test('a member renamed while it joins groups: no group version is seen with two member names', async () => {
      const groups: string[] = [];
      for (let i = 0; i < 8; i += 1) groups.push((await at(0).groups.create({ schemas: [GROUP], displayName: `Joined ${i}` }, [], cli)).scimId);
      for (let round = 0; round < 6; round += 1) {
        const { scimId } = await at(0).users.create({ schemas: [USER], userName: `joiner${round}`, displayName: 'Before' }, cli);
        // What each group showed at each version, read in snapshots while the writers race.
        const seen = new Map<string, string>();
        let racing = true;
        const watch = async (instance: Instance) => {
          while (racing) {
            // A reader arrives through a socket, in its own turn of the event loop: a loop of
            // reads that never yields would hold back the write group (and every socket) forever.
            await new Promise((resolve) => setImmediate(resolve));
            const page = await instance.groups.list({ descending: false, page: { kind: 'index', offset: 0, limit: 100 }, withMembers: true, locationBase: 'http://roster.test/api/scim/v2/Groups/' });
            for (const group of page.items) {
              const members = (group.document.members ?? []) as { value: string; display: string }[];
              const shown = members.find((member) => member.value === scimId)?.display ?? '-';
              const key = `${group.scimId}@${group.group.version}`;
              assert.equal(seen.get(key) ?? shown, shown, `${key} showed ${seen.get(key)} then ${shown}`);
              seen.set(key, shown);
            }
          }
        };
        // allSettled: a watcher's failure is reported below, not as an unhandled rejection.
        const watchers = Promise.allSettled([watch(at(0)), watch(at(1))]);
        const writes: Promise<unknown>[] = [
          ...groups.map((group, i) =>
            at(i).groups.update(group, (document) => ({ document, memberChanges: [{ kind: 'add', ids: [scimId] }] }), () => true, cli),
          ),
          at(round).users.update(scimId, (current) => ({ ...current, displayName: `After ${round}` }), () => true, cli),
        ];
        const results = await outcomes(writes);
        racing = false;
        for (const watcher of await watchers) if (watcher.status === 'rejected') throw watcher.reason;
        assert.deepEqual(results, Array(writes.length).fill('ok'));
      }
    });

    test('racing creates of one group name: one succeeds, the rest conflict', async () => {
      const results = await outcomes(Array.from({ length: 8 }, (_, i) => at(i).groups.create({ schemas: [GROUP], displayName: 'Same' }, [], cli)));
      assert.equal(count(results, 'ok'), 1, results.join());
      assert.equal(count(results, 'conflict'), 7, results.join());
    });

    // A user deleted while a request names it among many members (the staged path, beyond
    // INLINE_MEMBERS, and every replace): the request waits for the deletion and is refused,
    // as it would be one after the other. It used to check the ids first and lock them after,
    // so the deleted user passed the check and was then silently left out of a 2xx answer.
    // (PostgreSQL only: SQLite serialises writes, so no deletion can be under way.)
    for (const kind of database === 'postgres' ? (['add', 'replace'] as const) : []) {
      test(`${kind === 'add' ? 'an add' : 'a replace'} of many members naming a user being deleted waits for the deletion and is refused`, async () => {
        const group = await at(0).groups.create({ schemas: [GROUP], displayName: `Staged ${kind}` }, [], cli);
        const ids: string[] = [];
        for (let i = 0; i < INLINE_MEMBERS + 5; i += 1) ids.push((await at(0).users.create({ schemas: [USER], userName: `staged-${kind}-${i}` }, cli)).scimId);
        const leaving = ids.at(-1) as string;
        // The deletion, held open: its transaction has removed the user's SCIM link (as
        // users.remove does) and not committed yet.
        const deleter = new pg.Client({ connectionString: scratch.url });
        await deleter.connect();
        try {
          await deleter.query('BEGIN');
          await deleter.query('DELETE FROM scim_users WHERE scim_id = $1', [leaving]);
          const change = at(1).groups.update(group.scimId, (document) => ({ document, memberChanges: [{ kind, ids }] }), () => true, cli);
          const settled = outcomes([change]);
          await waitForLockWaits(deleter);
          await deleter.query('COMMIT');
          assert.deepEqual(await settled, ['invalid']);
          await assert.rejects(change, new RegExp(`no user has the id "${leaving}"`));
        } finally {
          await deleter.end();
        }
        const members = await stores[0]!.db.selectFrom('memberships as m').innerJoin('groups as g', 'g.id', 'm.group_id').select('m.user_id').where('g.name', '=', `Staged ${kind}`).execute();
        assert.deepEqual(members, [], 'nothing of the refused request was kept');
      });
    }

    // A deletion's audit entry names the groups the user was removed from. On PostgreSQL the
    // groups used to be read by one statement and the memberships deleted by the next, so a
    // membership another transaction removed in between was named although this deletion did
    // not remove it (the event feed was exact). (PostgreSQL only: SQLite serialises writes.)
    if (database === 'postgres') test('a deletion racing a member removal names in its audit entry only the groups it removed the user from', async () => {
      const { scimId, user } = await at(0).users.create({ schemas: [USER], userName: 'audited-leaver' }, cli);
      const kept = await at(0).groups.create({ schemas: [GROUP], displayName: 'Audited kept' }, [scimId], cli);
      const raced = await at(0).groups.create({ schemas: [GROUP], displayName: 'Audited raced' }, [scimId], cli);
      const remover = new pg.Client({ connectionString: scratch.url });
      await remover.connect();
      try {
        // Another writer's member removal, held open on the membership's row.
        await remover.query('BEGIN');
        const held = await remover.query('DELETE FROM memberships WHERE group_id = $1 AND user_id = $2', [raced.group.id, user.id]);
        assert.equal(held.rowCount, 1);
        const deletion = at(1).users.remove(scimId, () => true, cli);
        await waitForLockWaits(remover);
        await remover.query('COMMIT');
        await deletion;
      } finally {
        await remover.end();
      }
      const entry = await stores[0]!.db.selectFrom('audit_events').select('details').where('action', '=', 'user.deleted').where('target_id', '=', user.id).executeTakeFirstOrThrow();
      const details = (typeof entry.details === 'string' ? JSON.parse(entry.details) : entry.details) as { removedFromGroups: string[] };
      assert.deepEqual(details.removedFromGroups, [kept.group.id]);
    });

    test('a user deleted while being added to a group is never left a member', async () => {
      const group = await at(0).groups.create({ schemas: [GROUP], displayName: 'Leavers' }, [], cli);
      for (let round = 0; round < 10; round += 1) {
        const { scimId } = await at(0).users.create({ schemas: [USER], userName: `leaver${round}` }, cli);
        const results = await outcomes([
          at(round).groups.update(group.scimId, (document) => ({ document, memberChanges: [{ kind: 'add', ids: [scimId] }] }), () => true, cli),
          at(round + 1).users.remove(scimId, () => true, cli),
        ]);
        // Either order is fine; the user must simply not stay in the group once deleted.
        assert.equal(results[1], 'ok');
        assert.ok(results[0] === 'ok' || results[0] === 'invalid', String(results[0]));
        const rows = await stores[0]!.db.selectFrom('memberships as m').innerJoin('users as u', 'u.id', 'm.user_id').select('u.login').where('u.login', '=', `leaver${round}`).execute();
        assert.deepEqual(rows, []);
      }
    });
  });
});
