/**
 * The admin API's writes are tried again when PostgreSQL breaks a deadlock by rolling one of
 * them back, as SCIM writes are (store/transact.ts): found by the event-replay probe
 * (bench/event-replay.ts) on two instances, where an administrator's group deletion or membership
 * removal meeting SCIM writes that lock the same rows in the other order answered 500.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { startTestApp, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { waitForLockWaits } from '../support/lock-waits.ts';

eachDatabase('admin API writes rolled back by a deadlock', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database, scim: false });
  });
  after(() => app.close());

  test('a membership removal that loses a deadlock is tried again and succeeds', { skip: database === 'sqlite' ? 'SQLite takes no row locks: nothing can deadlock' : false }, async () => {
    const user = await app.request('POST', '/api/v2/users-management/users', { login: 'deckhand', name: 'Deckhand', local: false });
    const group = await app.request('POST', '/api/v2/authorizations/groups', { name: 'deck' });
    const membership = await app.request('POST', '/api/v2/authorizations/group-memberships', { groupId: group.body.id, userId: user.body.id });
    assert.equal(membership.status, 201);
    // Another transaction holds the group's row and then asks for the user's, which the removal
    // (user first, then group) holds: a deadlock, which PostgreSQL breaks by rolling back the
    // removal, the first to wait.
    const other = new pg.Client({ connectionString: app.databaseUrl });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT id FROM groups WHERE id = $1 FOR UPDATE', [group.body.id]);
      const removal = app.request('DELETE', `/api/v2/authorizations/group-memberships/${membership.body.id}`);
      await waitForLockWaits(other, 1);
      await other.query('SELECT id FROM users WHERE id = $1 FOR UPDATE', [user.body.id]);
      await other.query('COMMIT');
      const answer = await removal;
      assert.equal(answer.status, 204, JSON.stringify(answer.body));
    } finally {
      await other.end();
    }
    const left = await app.request('GET', `/api/v2/authorizations/group-memberships?groupId=${group.body.id}`);
    assert.deepEqual(left.body.groupMemberships, []);
    const removals = (await app.request('GET', '/api/v2/events?types=group.user_removed')).body.events;
    assert.equal(removals.length, 1, 'one event: the attempt rolled back left none');
  });
});
