/**
 * Migration 019 on a database whose membership events were written before it: they get the
 * user they concern, so the user's membership history (the console's user page) shows them.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import { createMembershipHistory } from '../../src/directory/membership-history.ts';
import { openStore } from '../../src/store/index.ts';
import { createTestDatabase, eachDatabase, type ScratchDatabase } from '../support/databases.ts';

eachDatabase('migration 019: membership history of the events already kept', (database) => {
  let scratch: ScratchDatabase;
  before(async () => {
    scratch = await createTestDatabase(database);
  });
  after(async () => scratch.drop());

  test('membership events from before the migration are found by their user; other events are not', async () => {
    let store = await openStore(scratch.location);
    // The database as the version before 019 left it, with the events that version wrote.
    await sql`DROP INDEX events_user`.execute(store.db);
    await sql`ALTER TABLE events DROP COLUMN user_id`.execute(store.db);
    await sql`DELETE FROM kysely_migration WHERE name = '019-membership-history'`.execute(store.db);
    const event = (type: string, data: unknown) =>
      sql`INSERT INTO events (tx, type, occurred_at, actor, data) VALUES (1, ${type}, ${'2026-12-01T10:00:00.000Z'}, ${JSON.stringify({ kind: 'token', name: 'okta', userId: null, login: 'admin' })}, ${JSON.stringify(data)})`.execute(store.db);
    await event('group.user_added', { group: { id: 'g1', name: 'Pilots' }, user: { id: 'u1', login: 'ada' } });
    await event('group.user_removed', { group: { id: 'g1', name: 'Pilots' }, user: { id: 'u1', login: 'ada' } });
    await event('group.user_added', { group: { id: 'g1', name: 'Pilots' }, user: { id: 'u2', login: 'grace' } });
    await event('user.updated', { id: 'u1', login: 'ada' });
    await store.close();

    store = await openStore(scratch.location);
    try {
      const history = createMembershipHistory(store);
      const ada = await history.of('u1', 10);
      assert.equal(ada.total, 2);
      assert.deepEqual(
        ada.changes.map((change) => [change.change, change.group.name, change.actor]),
        [['removed', 'Pilots', 'token:okta'], ['added', 'Pilots', 'token:okta']],
      );
      assert.equal((await history.of('u2', 10)).total, 1);
      assert.equal((await history.of('g1', 10)).total, 0);
    } finally {
      await store.close();
    }
  });
});
