/**
 * Migration 028 on a database whose user events were written before it: they get the user they
 * are about, so that the person's data lists them; membership events keep theirs, other events
 * stay without one, and the membership history still lists memberships only.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import { createMembershipHistory } from '../../src/directory/membership-history.ts';
import { openStore } from '../../src/store/index.ts';
import { createTestDatabase, eachDatabase, type ScratchDatabase } from '../support/databases.ts';

eachDatabase('migration 028: the user events already kept name their user', (database) => {
  let scratch: ScratchDatabase;
  before(async () => {
    scratch = await createTestDatabase(database);
  });
  after(async () => scratch.drop());

  test('user events from before the migration are found by their user; group events are not; the membership history is unchanged', async () => {
    let store = await openStore(scratch.location);
    // The database as the version before 028 left it, with the events that version wrote.
    await sql`DELETE FROM kysely_migration WHERE name = '028-user-events-by-user'`.execute(store.db);
    const actor = JSON.stringify({ kind: 'token', name: 'okta', userId: null, login: 'admin' });
    const event = (type: string, data: unknown, userId: string | null = null) =>
      sql`INSERT INTO events (tx, type, occurred_at, actor, data, user_id) VALUES (1, ${type}, ${'2026-12-01T10:00:00.000Z'}, ${actor}, ${JSON.stringify(data)}, ${userId})`.execute(store.db);
    await event('user.created', { id: 'u1', login: 'ada' });
    await event('user.updated', { id: 'u1', login: 'ada.lovelace' });
    await event('group.user_added', { group: { id: 'g1', name: 'Pilots' }, user: { id: 'u1', login: 'ada' } }, 'u1');
    await event('user.anonymized', { id: 'u2', login: 'anonymized-u2' });
    await event('group.created', { id: 'g1', name: 'Pilots' });
    await store.close();

    store = await openStore(scratch.location);
    try {
      const rows = await store.db.selectFrom('events').select(['type', 'user_id']).orderBy('id').execute();
      assert.deepEqual(rows.map((row) => [row.type, row.user_id]), [
        ['user.created', 'u1'],
        ['user.updated', 'u1'],
        ['group.user_added', 'u1'],
        ['user.anonymized', 'u2'],
        ['group.created', null],
      ]);
      const history = await createMembershipHistory(store).of('u1', 10);
      assert.equal(history.total, 1);
      assert.deepEqual(history.changes.map((change) => [change.change, change.group.name]), [['added', 'Pilots']]);
    } finally {
      await store.close();
    }
  });
});
