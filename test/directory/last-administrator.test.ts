/**
 * The last administrator cannot be deactivated (SonarQube's rule). The CLI acts as no user, so
 * "not yourself" does not protect it there; and on PostgreSQL two instances deactivating the
 * last two administrators at once must not both succeed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Actor } from '../../src/journal/actor.ts';
import { DirectoryError, LAST_ADMINISTRATOR_GROUP_MESSAGE, LAST_ADMINISTRATOR_MESSAGE } from '../../src/errors.ts';
import { createAccess } from '../../src/directory/access.ts';
import { createAccounts, type Accounts } from '../../src/directory/accounts.ts';
import { createAdministrators } from '../../src/directory/administrators.ts';
import { createGroupManagement } from '../../src/directory/group-management.ts';
import { createMembershipManagement, membershipId } from '../../src/directory/memberships.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { createTestDatabase, eachDatabase, type ScratchDatabase } from '../support/databases.ts';

const cli: Actor = { kind: 'cli' };

eachDatabase('the last administrator', (database) => {
  let scratch: ScratchDatabase;
  const stores: Store[] = [];
  /** One account service per store: two instances on PostgreSQL, one on SQLite (see concurrency.test.ts). */
  let accounts: Accounts[];

  before(async () => {
    scratch = await createTestDatabase(database);
    for (let i = 0; i < (database === 'postgres' ? 2 : 1); i += 1) stores.push(await openStore(scratch.location));
    accounts = stores.map((store) => createAccounts(store, createAccess(store)));
  });
  after(async () => {
    for (const store of stores) await store.close();
    await scratch.drop();
  });

  const store = (): Store => stores[0] as Store;

  async function activeAdministrators(): Promise<string[]> {
    const access = createAccess(store());
    const users = await store().db.selectFrom('users').select(['id', 'login']).where('active', '=', 1).orderBy('login').execute();
    const admins: string[] = [];
    for (const user of users) if (await access.isAdministrator(user.id)) admins.push(user.login);
    return admins;
  }

  /** A new user who is an administrator through the administrators' group. */
  async function groupAdministrator(login: string, groupId: string): Promise<string> {
    const user = await accounts[0]!.create({ login, name: login, local: false }, cli);
    await createMembershipManagement(store()).add({ groupId, userId: user.id }, cli);
    return user.id;
  }

  test('refused while no other administrator is left, flagged or through the group; the user stays active and nothing is recorded', async () => {
    await createAdministrators(store()).ensureAdministrator();
    const admin = await accounts[0]!.findByLogin('admin');
    assert.ok(admin);
    const before = await store().db.selectFrom('audit_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    await assert.rejects(accounts[0]!.deactivate(admin.id, cli), (error) => error instanceof DirectoryError && error.code === 'invalid' && error.message === LAST_ADMINISTRATOR_MESSAGE);
    assert.deepEqual(await activeAdministrators(), ['admin']);
    const afterRefusal = await store().db.selectFrom('audit_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    assert.equal(Number(afterRefusal.n), Number(before.n));

    const group = await createGroupManagement(store()).create({ name: 'roster-administrators' }, cli);
    const bob = await groupAdministrator('bob', group.id);
    // Another administrator exists: admin goes; then bob is the last one.
    await accounts[0]!.deactivate(admin.id, cli);
    await assert.rejects(accounts[0]!.deactivate(bob, cli), { message: LAST_ADMINISTRATOR_MESSAGE });
    assert.deepEqual(await activeAdministrators(), ['bob']);
    // A user who is no administrator is deactivated as before, however few administrators are left.
    const plain = await accounts[0]!.create({ login: 'plain', name: 'Plain', local: false }, cli);
    await accounts[0]!.deactivate(plain.id, cli);
  });

  test('two deactivations of the last two administrators at once: one goes through, one is refused, one administrator is left', async () => {
    const adminGroup = (await store().db.selectFrom('groups').select('id').where('name', '=', 'roster-administrators').executeTakeFirstOrThrow()).id;
    for (let round = 0; round < 5; round += 1) {
      // From the previous test (or round): one administrator is left; add one more.
      const [left] = await activeAdministrators();
      assert.ok(left);
      const leftId = (await accounts[0]!.findByLogin(left))!.id;
      const other = await groupAdministrator(`racer-${round}`, adminGroup);
      const settled: PromiseSettledResult<unknown>[] = await Promise.allSettled([accounts[0]!.deactivate(leftId, cli), accounts[accounts.length - 1]!.deactivate(other, cli)]);
      const refused = settled.filter((result) => result.status === 'rejected');
      assert.equal(refused.length, 1, `round ${round}: ${settled.map((result) => result.status).join(', ')}`);
      assert.equal(((refused[0] as PromiseRejectedResult).reason as Error).message, LAST_ADMINISTRATOR_MESSAGE);
      assert.equal((await activeAdministrators()).length, 1);
    }
  });
});

eachDatabase('the last administrator through the administrators\' group', (database) => {
  let scratch: ScratchDatabase;
  const stores: Store[] = [];

  before(async () => {
    scratch = await createTestDatabase(database);
    for (let i = 0; i < (database === 'postgres' ? 2 : 1); i += 1) stores.push(await openStore(scratch.location));
  });
  after(async () => {
    for (const store of stores) await store.close();
    await scratch.drop();
  });

  const store = (): Store => stores[0] as Store;
  /** The services of the second instance on PostgreSQL (the first on SQLite). */
  const other = (): Store => stores[stores.length - 1] as Store;

  async function administrators(): Promise<string[]> {
    const access = createAccess(store());
    const users = await store().db.selectFrom('users').select(['id', 'login']).where('active', '=', 1).orderBy('login').execute();
    const admins: string[] = [];
    for (const user of users) if (await access.isAdministrator(user.id)) admins.push(user.login);
    return admins;
  }

  async function auditCount(): Promise<number> {
    return Number((await store().db.selectFrom('audit_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  }

  /** Deactivates `admin` after making `logins` administrators through the group: they are the only ones. */
  async function onlyGroupAdministrators(groupName: string, logins: readonly string[]): Promise<{ groupId: string; userIds: string[] }> {
    const accounts = createAccounts(store(), createAccess(store()));
    const group = await createGroupManagement(store()).create({ name: groupName }, cli);
    const userIds: string[] = [];
    for (const login of logins) {
      const user = await accounts.create({ login, name: login, local: false }, cli);
      await createMembershipManagement(store()).add({ groupId: group.id, userId: user.id }, cli);
      userIds.push(user.id);
    }
    const admin = await accounts.findByLogin('admin');
    if (admin?.active) await accounts.deactivate(admin.id, cli);
    return { groupId: group.id, userIds };
  }

  // A deactivation says SonarQube's words, a change of the group its own.
  const refusedAsLast = (error: unknown): boolean =>
    error instanceof DirectoryError && error.code === 'invalid' && (error.message === LAST_ADMINISTRATOR_MESSAGE || error.message === LAST_ADMINISTRATOR_GROUP_MESSAGE);

  test('renaming or deleting the group, or removing its last member, is refused while it holds the last administrator; nothing changes, nothing is recorded', async () => {
    await createAdministrators(store()).ensureAdministrator();
    const { groupId, userIds } = await onlyGroupAdministrators('Roster-Administrators', ['mia']);
    const groups = createGroupManagement(store());
    const memberships = createMembershipManagement(store());
    const recorded = await auditCount();
    await assert.rejects(groups.update(groupId, { name: 'renamed' }, cli), { message: LAST_ADMINISTRATOR_GROUP_MESSAGE });
    await assert.rejects(groups.delete(groupId, cli), { message: LAST_ADMINISTRATOR_GROUP_MESSAGE });
    await assert.rejects(memberships.remove(membershipId(groupId, userIds[0]!), cli), { message: LAST_ADMINISTRATOR_GROUP_MESSAGE });
    assert.deepEqual(await administrators(), ['mia']);
    assert.equal((await groups.get(groupId)).name, 'Roster-Administrators');
    assert.equal(await auditCount(), recorded);
    // What keeps the group's name (regardless of case) or its other members changes as before.
    await groups.update(groupId, { name: 'roster-administrators', description: 'who administers Roster' }, cli);
    const ned = await createAccounts(store(), createAccess(store())).create({ login: 'ned', name: 'Ned', local: false }, cli);
    await memberships.add({ groupId, userId: ned.id }, cli);
    await memberships.remove(membershipId(groupId, userIds[0]!), cli);
    assert.deepEqual(await administrators(), ['ned']);
  });

  test('with no administrator left already, the group may still change (the rule keeps one, it does not make one)', async () => {
    const groupId = (await store().db.selectFrom('groups').select('id').where('name', '=', 'roster-administrators').executeTakeFirstOrThrow()).id;
    const ned = (await createAccounts(store(), createAccess(store())).findByLogin('ned'))!;
    // SCIM may remove the last administrator (the IdP owns its groups): that leaves none.
    await store().db.deleteFrom('memberships').where('group_id', '=', groupId).where('user_id', '=', ned.id).execute();
    assert.deepEqual(await administrators(), []);
    await createGroupManagement(store()).update(groupId, { name: 'no longer admins' }, cli);
    await createGroupManagement(store()).delete(groupId, cli);
  });

  test('two removals of the last two administrators\' memberships at once: one goes through, one is refused', async () => {
    for (let round = 0; round < 5; round += 1) {
      const { groupId, userIds } = await onlyGroupAdministrators(`roster-administrators`, [`a-${round}`, `b-${round}`]);
      assert.equal((await administrators()).length, 2);
      const settled: PromiseSettledResult<void>[] = await Promise.allSettled([
        createMembershipManagement(store()).remove(membershipId(groupId, userIds[0]!), cli),
        createMembershipManagement(other()).remove(membershipId(groupId, userIds[1]!), cli),
      ]);
      const refused = settled.filter((result) => result.status === 'rejected');
      assert.equal(refused.length, 1, `round ${round}: ${settled.map((result) => result.status).join(', ')}`);
      assert.ok(refusedAsLast((refused[0] as PromiseRejectedResult).reason), String((refused[0] as PromiseRejectedResult).reason));
      assert.equal((await administrators()).length, 1);
      // Nobody else is an administrator: the next round's group replaces this one.
      for (const userId of userIds) await store().db.deleteFrom('memberships').where('group_id', '=', groupId).where('user_id', '=', userId).execute();
      await createGroupManagement(store()).delete(groupId, cli);
    }
  });

  test('a removal from the group and the deactivation of the other administrator at once: one is refused', async () => {
    for (let round = 0; round < 5; round += 1) {
      const { groupId, userIds } = await onlyGroupAdministrators(`roster-administrators`, [`c-${round}`, `d-${round}`]);
      const settled: PromiseSettledResult<unknown>[] = await Promise.allSettled([
        createMembershipManagement(store()).remove(membershipId(groupId, userIds[0]!), cli),
        createAccounts(other(), createAccess(other())).deactivate(userIds[1]!, cli),
      ]);
      const refused = settled.filter((result) => result.status === 'rejected');
      assert.equal(refused.length, 1, `round ${round}: ${settled.map((result) => result.status).join(', ')}`);
      assert.ok(refusedAsLast((refused[0] as PromiseRejectedResult).reason), String((refused[0] as PromiseRejectedResult).reason));
      assert.equal((await administrators()).length, 1);
      for (const userId of userIds) await store().db.deleteFrom('memberships').where('group_id', '=', groupId).where('user_id', '=', userId).execute();
      await createGroupManagement(store()).delete(groupId, cli);
    }
  });
});

describe('the last administrator rule leaves self-deactivation its own message', () => {
  test('an administrator deactivating itself is told so, not that it is the last', async () => {
    const store = await openStore({ kind: 'sqlite', path: ':memory:' });
    try {
      await createAdministrators(store).ensureAdministrator();
      const accounts = createAccounts(store, createAccess(store));
      const admin = await accounts.findByLogin('admin');
      assert.ok(admin);
      await assert.rejects(accounts.deactivate(admin.id, { kind: 'token', name: 't', userId: admin.id, login: 'admin' }), { message: 'Self-deactivation is not possible' });
    } finally {
      await store.close();
    }
  });
});
