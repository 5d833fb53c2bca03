/**
 * The one answer to "which groups count for this user's access": memberships count while the
 * user is active and not at all while it is inactive, on both databases.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Actor } from '../../src/journal/actor.ts';
import { createServices, type Services } from '../../src/services.ts';
import type { Store } from '../../src/store/index.ts';
import { eachDatabase, openTestStore, turnScimOn } from '../support/databases.ts';

const actor: Actor = { kind: 'cli' };
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const always = (): boolean => true;

eachDatabase('access groups', (database) => {
  describe('groupsOf', () => {
    let store: Store;
    let services: Services;
    let userScimId = '';
    let userId = '';
    before(async () => {
      store = await openTestStore(database);
      services = createServices(store);
      await turnScimOn(store);
      const created = await services.users.create({ schemas: [USER], userName: 'ivy@example.com' }, actor);
      userScimId = created.scimId;
      userId = created.user.id;
      await services.groups.create({ schemas: [GROUP], displayName: 'Beta' }, [userScimId], actor);
      await services.groups.create({ schemas: [GROUP], displayName: 'Alpha' }, [userScimId], actor);
      await services.groups.create({ schemas: [GROUP], displayName: 'Unrelated' }, [], actor);
    });
    after(async () => {
      await store.close();
    });

    async function setActive(active: boolean): Promise<void> {
      await services.users.update(userScimId, (current) => ({ ...current, active }), always, actor);
    }

    test('an active user\'s groups count, sorted by name', async () => {
      assert.deepEqual((await services.access.groupsOf(userId)).map((group) => group.name), ['Alpha', 'Beta']);
    });

    test('an inactive user keeps its memberships, yet none of them counts', async () => {
      await setActive(false);
      assert.deepEqual((await services.access.groupsOf(userId)), []);
      const kept = await services.memberships.list({ userId }, { offset: 0, limit: 10 });
      assert.equal(kept.total, 2, 'the memberships themselves stay');
    });

    test('reactivated, the kept memberships count again', async () => {
      await setActive(true);
      assert.deepEqual((await services.access.groupsOf(userId)).map((group) => group.name), ['Alpha', 'Beta']);
    });

    test('an unknown user has no groups', async () => {
      assert.deepEqual(await services.access.groupsOf('no-such-user'), []);
    });

    test('inside a transaction, the answer follows that transaction', async () => {
      await store.db.transaction().execute(async (trx) => {
        await trx.updateTable('users').set({ active: 0 }).where('id', '=', userId).execute();
        assert.deepEqual(await services.access.groupsOf(userId, trx), []);
        await trx.updateTable('users').set({ active: 1 }).where('id', '=', userId).execute();
      });
    });
  });
});
