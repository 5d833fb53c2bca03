/**
 * A membership event names its group and its user as the feed left them: a `group.user_added`
 * or `group.user_removed` that comes after a rename in the feed carries the new name, never the
 * one before. Found by the event-replay probe (bench/event-replay.ts) on two instances over
 * PostgreSQL: a member change whose statement started before a concurrent rename committed, and
 * that committed after it, wrote the old group name or the old login, so an application keeping
 * groups or users by name from these events (a receiver of `group.user_removed` alone, as
 * docs/events.md suggests) applied the change to a name that was no longer the group's, or
 * brought back a user's former login.
 *
 * Each race is made certain by holding the feed's numbering lock (event_tickets, store/journal.ts)
 * from a second connection: the rename then waits at its commit with its change made, while the
 * member change runs beside it; released, the rename commits first.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { groupBody, startTestApp, userBody, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { waitForLockWaits } from '../support/lock-waits.ts';

const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const RACE_SKIP = 'SQLite runs one write transaction at a time: no change can start before another commits and end after it';

eachDatabase('membership events name the group and the user as the feed left them', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database });
  });
  after(() => app.close());

  /** Every event of the feed, oldest first. */
  async function feed(): Promise<Array<{ id: string; type: string; data: any }>> {
    const answer = await app.request('GET', '/api/v2/events?limit=1000');
    assert.equal(answer.status, 200);
    return answer.body.events;
  }

  /**
   * Runs `rename` while the feed's numbering is held, so that it waits at its commit with its
   * change made; then `change`, which comes to wait too (on the rename's rows, or at its own
   * commit); then lets both commit, the rename first.
   */
  async function renameThenChange(rename: () => Promise<{ status: number }>, change: () => Promise<{ status: number }>): Promise<void> {
    const holder = new pg.Client({ connectionString: app.databaseUrl });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT last_ticket FROM event_tickets FOR UPDATE');
      const renamed = rename();
      await waitForLockWaits(holder, 1);
      const changed = change();
      await waitForLockWaits(holder, 2);
      await holder.query('ROLLBACK');
      assert.ok((await renamed).status < 300, 'the rename is made');
      assert.ok((await changed).status < 300, 'the member change is made');
    } finally {
      await holder.end();
    }
  }

  async function provision(login: string, groupName: string, member: boolean): Promise<{ userId: string; userScimId: string; groupId: string; groupScimId: string }> {
    const user = await app.request('POST', '/Users', userBody(login, { displayName: `Display ${login}` }));
    assert.equal(user.status, 201);
    const group = await app.request('POST', '/Groups', groupBody(groupName, member ? [user.body.id] : []));
    assert.equal(group.status, 201);
    return {
      userId: (await app.services.accounts.findByLogin(login))!.id,
      userScimId: user.body.id,
      groupId: (await app.services.groupManagement.findByName(groupName))!.id,
      groupScimId: group.body.id,
    };
  }

  test('a user deleted as its group is renamed: group.user_removed names the group by its new name', { skip: database === 'sqlite' ? RACE_SKIP : false }, async () => {
    const { userScimId, groupId, groupScimId } = await provision('leaver@example.com', 'before-rename', true);
    await renameThenChange(
      () => app.request('PATCH', `/Groups/${groupScimId}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'after-rename' }] }),
      () => app.request('DELETE', `/Users/${userScimId}`),
    );
    const events = await feed();
    const renamed = events.findIndex((event) => event.type === 'group.updated' && event.data.id === groupId);
    const removed = events.findIndex((event) => event.type === 'group.user_removed' && event.data.group.id === groupId);
    assert.ok(renamed !== -1 && removed > renamed, 'the removal comes after the rename');
    assert.equal(events[removed]!.data.group.name, 'after-rename');
  });

  test('a user added to a group as it is renamed: group.user_added names it by its new login', { skip: database === 'sqlite' ? RACE_SKIP : false }, async () => {
    const { userId, userScimId, groupScimId } = await provision('joiner@example.com', 'joined', false);
    await renameThenChange(
      () => app.request('PATCH', `/Users/${userScimId}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'userName', value: 'joiner.renamed@example.com' }] }),
      () => app.request('PATCH', `/Groups/${groupScimId}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: userScimId }] }] }),
    );
    const events = await feed();
    const renamed = events.findIndex((event) => event.type === 'user.updated' && event.data.id === userId);
    const added = events.findIndex((event) => event.type === 'group.user_added' && event.data.user.id === userId);
    assert.ok(renamed !== -1 && added > renamed, 'the addition comes after the rename');
    assert.equal(events[added]!.data.user.login, 'joiner.renamed@example.com');
  });

  test('a user removed from a group as it is renamed: group.user_removed names it by its new login', { skip: database === 'sqlite' ? RACE_SKIP : false }, async () => {
    const { userId, userScimId, groupScimId } = await provision('mover@example.com', 'moved-from', true);
    await renameThenChange(
      () => app.request('PATCH', `/Users/${userScimId}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'userName', value: 'mover.renamed@example.com' }] }),
      () => app.request('PATCH', `/Groups/${groupScimId}`, { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: `members[value eq "${userScimId}"]` }] }),
    );
    const events = await feed();
    const renamed = events.findIndex((event) => event.type === 'user.updated' && event.data.id === userId);
    const removed = events.findIndex((event) => event.type === 'group.user_removed' && event.data.user.id === userId);
    assert.ok(renamed !== -1 && removed > renamed, 'the removal comes after the rename');
    assert.equal(events[removed]!.data.user.login, 'mover.renamed@example.com');
  });

  test('a membership an administrator removes as the group and the user are renamed: the event names both as renamed', { skip: database === 'sqlite' ? RACE_SKIP : false }, async () => {
    // The admin API manages memberships while SCIM is off.
    const local = await startTestApp({ database, scim: false });
    const api = local.request;
    try {
      const user = await api('POST', '/api/v2/users-management/users', { login: 'clerk', name: 'Clerk', local: false });
      const group = await api('POST', '/api/v2/authorizations/groups', { name: 'clerks' });
      const membership = await api('POST', '/api/v2/authorizations/group-memberships', { groupId: group.body.id, userId: user.body.id });
      assert.equal(membership.status, 201);
      for (const [path, body] of [[`/api/v2/authorizations/groups/${group.body.id}`, { name: 'clerks-renamed' }], [`/api/v2/users-management/users/${user.body.id}`, { login: 'clerk-renamed' }]] as const) {
        const holder = new pg.Client({ connectionString: local.databaseUrl });
        await holder.connect();
        try {
          await holder.query('BEGIN');
          await holder.query('SELECT last_ticket FROM event_tickets FOR UPDATE');
          const renamed = api('PATCH', path, body, { 'content-type': 'application/merge-patch+json' });
          await waitForLockWaits(holder, 1);
          // Removed after the rename, added back for the next round.
          const removed = api('DELETE', `/api/v2/authorizations/group-memberships/${membership.body.id}`);
          await waitForLockWaits(holder, 2);
          await holder.query('ROLLBACK');
          assert.equal((await renamed).status, 200);
          assert.equal((await removed).status, 204);
        } finally {
          await holder.end();
        }
        assert.equal((await api('POST', '/api/v2/authorizations/group-memberships', { groupId: group.body.id, userId: user.body.id })).status, 201);
      }
      const events = (await api('GET', '/api/v2/events?limit=1000')).body.events as Array<{ type: string; data: any }>;
      const removals = events.filter((event) => event.type === 'group.user_removed').map((event) => [event.data.group.name, event.data.user.login]);
      assert.deepEqual(removals, [['clerks-renamed', 'clerk'], ['clerks-renamed', 'clerk-renamed']]);
    } finally {
      await local.close();
    }
  });

  test('a suspended user reactivated by an administrator under another spelling: its removals name it as the feed knew it', async () => {
    // Suspended by the IdP (memberships kept), SCIM turned off, then created again through the
    // admin API with its login in other letter case: the reactivation drops the kept memberships.
    const own = await startTestApp({ database });
    try {
      const user = await own.request('POST', '/Users', userBody('Quinn@example.com', { displayName: 'Quinn' }));
      assert.equal((await own.request('POST', '/Groups', groupBody('quay', [user.body.id]))).status, 201);
      assert.equal((await own.request('PATCH', `/Users/${user.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] })).status, 200);
      assert.equal((await own.request('POST', '/api/scim_management/disable?confirm=true')).status, 204);
      assert.equal((await own.request('POST', '/api/v2/users-management/users', { login: 'quinn@example.com', name: 'Quinn', local: false })).status, 200);
      const events = (await own.request('GET', '/api/v2/events?limit=1000')).body.events as Array<{ type: string; data: any }>;
      const last = events.slice(-2).map((event) => [event.type, event.type === 'group.user_removed' ? event.data.user.login : event.data.login]);
      assert.deepEqual(last, [['group.user_removed', 'Quinn@example.com'], ['user.reactivated', 'quinn@example.com']]);
    } finally {
      await own.close();
    }
  });

  test('membership events name the group and the user as they are, one change after another', async () => {
    // The same changes in sequence, on every database: the names are those of the moment.
    const { userId, userScimId, groupId, groupScimId } = await provision('steady@example.com', 'steady', false);
    assert.equal((await app.request('PATCH', `/Users/${userScimId}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'userName', value: 'steady.renamed@example.com' }] })).status, 200);
    assert.equal((await app.request('PATCH', `/Groups/${groupScimId}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'steady-renamed' }, { op: 'add', path: 'members', value: [{ value: userScimId }] }] })).status, 204);
    assert.equal((await app.request('DELETE', `/Users/${userScimId}`)).status, 204);
    const members = (await feed()).filter((event) => event.type.startsWith('group.user_') && event.data.group.id === groupId && event.data.user.id === userId);
    assert.deepEqual(members.map((event) => [event.type, event.data.group.name, event.data.user.login]), [
      ['group.user_added', 'steady-renamed', 'steady.renamed@example.com'],
      ['group.user_removed', 'steady-renamed', 'steady.renamed@example.com'],
    ]);
  });
});
