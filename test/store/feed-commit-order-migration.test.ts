/**
 * Migration 015 on a PostgreSQL database whose events were numbered by transaction id: the
 * events already there keep their places, new ones come after them and after every position a
 * reader of the old numbering was given, so cursors handed out before the upgrade go on working.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { createEventFeed, decodeCursor, encodeCursor } from '../../src/directory/event-feed.ts';
import { createJournal } from '../../src/journal/journal.ts';
import pg from 'pg';
import { DatabaseRefused, openStore, type Store } from '../../src/store/index.ts';
import { createTestDatabase, POSTGRES_URL, type ScratchDatabase } from '../support/databases.ts';

describe('migration 015: the event feed in commit order (on PostgreSQL)', { skip: POSTGRES_URL === undefined ? 'PostgreSQL skipped: set ROSTER_TEST_POSTGRES_URL to run it' : false }, () => {
  let scratch: ScratchDatabase;
  before(async () => {
    scratch = await createTestDatabase('postgres');
  });
  let other: ScratchDatabase | undefined;
  after(async () => {
    await other?.drop();
  });
  after(async () => {
    await scratch.drop();
  });

  /** Takes the scratch database back to what the version before 015 left (its tables, its migrations). */
  async function before015(store: Store): Promise<void> {
    await sql`DROP TRIGGER events_numbered_at_commit ON events`.execute(store.db);
    await sql`DROP FUNCTION roster_number_events()`.execute(store.db);
    await sql`DROP TABLE event_tickets`.execute(store.db);
    await sql`DROP TABLE known_browsers`.execute(store.db);
    await sql`ALTER TABLE sessions DROP COLUMN address, DROP COLUMN browser`.execute(store.db);
    await sql`DELETE FROM kysely_migration WHERE name IN ('015-events-in-commit-order', '016-known-browsers', '017-session-origin')`.execute(store.db);
  }

  test('old events keep their order, new ones follow them and every old cursor', async () => {
    // A database as the previous version left it: migrated up to 014, events numbered by
    // their transaction ids (the old writer's SQL), a reader's cursor at the old horizon.
    let store = await openStore(scratch.location);
    await before015(store);
    for (const login of ['old-1', 'old-2']) {
      await sql`INSERT INTO events (tx, type, occurred_at, actor, data) VALUES (pg_current_xact_id()::text::bigint, 'user.updated', ${new Date().toISOString()}, '{"kind":"system"}', ${JSON.stringify({ login })})`.execute(store.db);
    }
    // The furthest horizon the old version could give a reader: the next transaction id (its
    // readers stopped at the oldest running one, xmin, which any transaction of another database
    // on the server can hold below these events; a cursor there would rightly see them again).
    const oldHorizon = Number((await sql<{ tx: string }>`SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS tx`.execute(store.db)).rows[0]?.tx);
    const oldCursor = encodeCursor({ tx: oldHorizon, id: 0 });
    await store.close();

    store = await openStore(scratch.location);
    try {
      const journal = createJournal(store.dialect);
      await store.db.transaction().execute((trx) => journal.record(trx, { kind: 'system' }, { action: 'test.new', targetType: 'user', events: [{ type: 'user.updated', data: { login: 'new' } }] }));
      const feed = createEventFeed(store, { retentionDays: 30 });
      const logins = (answer: Awaited<ReturnType<typeof feed.read>>) => (answer.kind === 'page' ? answer.events.map((event) => (event.data as { login: string }).login) : answer.kind);
      assert.deepEqual(logins(await feed.read({ after: undefined, limit: 100, types: undefined })), ['old-1', 'old-2', 'new']);
      assert.deepEqual(logins(await feed.read({ after: decodeCursor(oldCursor), limit: 100, types: undefined })), ['new'], 'a cursor of the old numbering');
      const rows = await store.db.selectFrom('events').select(['tx']).orderBy('id').execute();
      assert.ok(rows.every((row) => Number(row.tx) > 0), 'no placeholder left once committed');
      assert.ok(Number(rows.at(-1)?.tx) > oldHorizon + 2 ** 31, 'numbered far above the old transaction ids');
    } finally {
      await store.close();
    }
  });
  // A rolling upgrade across 015 (or 011) lost what the older instance wrote meanwhile: the
  // new version refuses to migrate while an older one is connected.
  test('the migration is refused while an older Roster is connected, naming where from; newer instances and other programs do not count', async () => {
    other = await createTestDatabase('postgres');
    const store = await openStore(other.location);
    await before015(store);
    await store.close();
    const location = other.location;
    const url = location.kind === 'postgres' ? location.url : '';
    const clientOn = async (applicationName: string) => {
      const client = new pg.Client({ connectionString: url, application_name: applicationName });
      await client.connect();
      await client.query('select 1');
      return client;
    };
    const bystanders = [await clientOn('psql'), await clientOn('roster 017')];
    const old = await clientOn('roster 014');
    try {
      await assert.rejects(openStore(location), (error: unknown) => {
        assert.ok(error instanceof DatabaseRefused, String(error));
        assert.match(error.message, /An older Roster is still running on this database \(connections: 1 from [^)]+\), and migration 015-events-in-commit-order needs every older instance stopped/);
        return true;
      });
    } finally {
      await old.end();
    }
    // Older than every name: the versions before `roster <migration>` connected as plain `roster`.
    const older = await clientOn('roster');
    await assert.rejects(openStore(location), /An older Roster is still running/);
    await older.end();
    try {
      const upgraded = await openStore(location);
      const names = (await sql<{ name: string }>`select name from kysely_migration`.execute(upgraded.db)).rows.map((row) => row.name);
      assert.ok(names.includes('015-events-in-commit-order') && names.includes('016-known-browsers'));
      await upgraded.close();
    } finally {
      for (const client of bystanders) await client.end();
    }
  });
});
