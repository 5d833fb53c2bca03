/**
 * `roster db feed-end` and `roster db continue-feed` (docs/operations.md, "After a restore"):
 * after a restore done outside Roster (pg_restore; on SQLite a copied file), the restored feed
 * goes on after the replaced one's end, so that a cursor that read undone changes answers 410 and
 * no event id is given twice, as `roster db restore` does for SQLite by itself.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeCursor } from '../../src/directory/event-feed.ts';
import { createServices } from '../../src/services.ts';
import { backupSqlite } from '../../src/store/backup.ts';
import { openStore } from '../../src/store/index.ts';
import { startTestApp, userBody, type TestApp } from '../support/app.ts';
import { runRoster } from '../support/cli.ts';
import { createTestDatabase, eachDatabase, type ScratchDatabase, type TestDatabase } from '../support/databases.ts';

type Event = { id: string; type: string; data: { login?: string; name?: string } };
const line = (event: Event) => `${event.type} ${event.data.login ?? event.data.name}`;

/** A backup of `scratch` into `file`, as an operator takes it (pg_dump, or `roster db backup`). */
async function backUp(database: TestDatabase, scratch: ScratchDatabase, file: string): Promise<void> {
  if (database === 'sqlite') {
    await backupSqlite(scratch.location.kind === 'sqlite' ? scratch.location.path : '', file);
    return;
  }
  const dump = spawnSync('pg_dump', ['--format=custom', `--file=${file}`, `--dbname=${scratch.url}`], { encoding: 'utf8' });
  assert.equal(dump.status, 0, dump.stderr);
}

/** Restores `file` into the empty `target` (pg_restore, or the file copied into place). */
function restore(database: TestDatabase, file: string, target: ScratchDatabase): void {
  if (database === 'sqlite') {
    copyFileSync(file, target.location.kind === 'sqlite' ? target.location.path : '');
    return;
  }
  const run = spawnSync('pg_restore', ['--no-owner', `--dbname=${target.url}`, file], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
}

/** What a restore scenario starts from: an installation backed up, then changed, then stopped. */
interface Scenario {
  readonly original: ScratchDatabase;
  /** An empty database to restore into. */
  readonly restored: ScratchDatabase;
  readonly backup: string;
  /** A cursor from before the backup, and one that read the change the restore undoes. */
  readonly start: string;
  readonly next: string;
  /** The id of the event the restore undoes. */
  readonly lostId: number;
  /** What `roster db feed-end` printed on the original, every instance stopped. */
  readonly feedEnd: string;
}

/**
 * Runs `body` on an installation that made a user, was backed up, made another user (the change
 * the restore undoes) and stopped; then removes every database and file it made.
 */
async function afterBackupAndLoss(database: TestDatabase, body: (scenario: Scenario) => Promise<void>): Promise<void> {
  const directory = mkdtempSync(join(tmpdir(), 'roster-feed-restore-'));
  const original = await createTestDatabase(database);
  const restored = await createTestDatabase(database);
  try {
    const app = await startTestApp({ database, location: original.location });
    const backup = join(directory, 'roster.backup');
    let start: string;
    let read: Awaited<ReturnType<TestApp['request']>>;
    try {
      start = (await app.request('GET', '/api/v2/events?after=now')).body.next;
      assert.equal((await app.request('POST', '/Users', userBody('in-the-backup'))).status, 201);
      await backUp(database, original, backup);
      assert.equal((await app.request('POST', '/Users', userBody('lost-with-the-restore'))).status, 201);
      read = await app.request('GET', `/api/v2/events?after=${start}`);
      assert.deepEqual(read.body.events.map(line), ['user.created in-the-backup', 'user.created lost-with-the-restore']);
    } finally {
      await app.close();
    }
    const lostId = Number(read.body.events[1].id);
    // Every instance stopped: the end of the feed about to be replaced.
    const end = runRoster(original.url, ['db', 'feed-end']);
    assert.equal(end.status, 0, end.stderr);
    assert.match(end.lastLine, /^feed-end-\d+-\d+-\d+-[0-9a-f]{16}$/);
    assert.match(end.stderr, new RegExp(`event ids up to ${lostId}\\.`));
    await body({ original, restored, backup, start, next: read.body.next, lostId, feedEnd: end.lastLine });
  } finally {
    await original.drop();
    await restored.drop();
    rmSync(directory, { recursive: true, force: true });
  }
}

eachDatabase('the event feed after a restore outside Roster (db feed-end, db continue-feed)', (database) => {
  test('a cursor that read undone changes answers 410 however many changes follow, and no event id is given twice', async () => {
    await afterBackupAndLoss(database, async ({ restored, backup, start, next, lostId, feedEnd }) => {
      restore(database, backup, restored);
      const continued = runRoster(restored.url, ['db', 'continue-feed', feedEnd]);
      assert.equal(continued.status, 0, continued.stderr);
      assert.match(continued.lastLine, /^The event feed goes on after the replaced database's/);
      // Given again (a second operator, a script run twice): nothing more to do.
      const again = runRoster(restored.url, ['db', 'continue-feed', feedEnd]);
      assert.equal(again.status, 0, again.stderr);
      assert.match(again.lastLine, /already goes past that end: nothing to do/);

      // Roster started on the restored database.
      const store = await openStore(restored.location);
      try {
        const services = createServices(store);
        const cli = { kind: 'cli' } as const;
        for (const name of ['after-1', 'after-2', 'after-3']) await services.groups.create({ displayName: name }, [], cli);
        const undone = await services.eventFeed.read({ after: decodeCursor(next), types: undefined, limit: 100 });
        assert.equal(undone.kind, 'expired', JSON.stringify(undone));
        assert.match(undone.kind === 'expired' ? undone.message : '', /^This cursor read changes that a restore undid/);
        const good = await services.eventFeed.read({ after: decodeCursor(start), types: undefined, limit: 100 });
        assert.equal(good.kind, 'page', JSON.stringify(good));
        const events = good.kind === 'page' ? (good.events as unknown as Event[]) : [];
        assert.deepEqual(events.map(line), ['user.created in-the-backup', 'group.created after-1', 'group.created after-2', 'group.created after-3']);
        for (const event of events.slice(1)) assert.ok(Number(event.id) > lostId, `event id ${event.id} was handed out before the restore (up to ${lostId})`);
      } finally {
        await store.close();
      }
    });
  });

  test('a backup whose feed a migration numbered again (positions ahead, event ids behind): every cursor of the replaced feed answers 410, and no event id is given twice', async () => {
    await afterBackupAndLoss(database, async ({ restored, backup, next, lostId, feedEnd }) => {
      restore(database, backup, restored);
      // What migration 015 does to a PostgreSQL feed from before it: positions from the server's
      // transaction counter, far past any the replaced feed had handed out.
      const store = await openStore(restored.location);
      try {
        if (database === 'sqlite') await store.db.updateTable('event_feed').set({ tx_offset: 1_000_000 }).execute();
        else await store.db.updateTable('event_tickets').set({ last_ticket: 1_000_000_000_000 }).execute();
      } finally {
        await store.close();
      }
      const continued = runRoster(restored.url, ['db', 'continue-feed', feedEnd]);
      assert.equal(continued.status, 0, continued.stderr);
      assert.match(continued.lastLine, /^The event feed goes on after the replaced database's/);
      const reopened = await openStore(restored.location);
      try {
        const services = createServices(reopened);
        await services.groups.create({ displayName: 'after-the-restore' }, [], { kind: 'cli' });
        const undone = await services.eventFeed.read({ after: decodeCursor(next), types: undefined, limit: 100 });
        assert.equal(undone.kind, 'expired', JSON.stringify(undone));
        const fresh = await services.eventFeed.read({ after: undefined, types: undefined, limit: 100 });
        const events = fresh.kind === 'page' ? (fresh.events as unknown as Event[]) : [];
        const newest = events.at(-1);
        assert.equal(newest === undefined ? '' : line(newest), 'group.created after-the-restore');
        assert.ok(Number(newest?.id) > lostId, `event id ${newest?.id} was handed out before the restore (up to ${lostId})`);
      } finally {
        await reopened.close();
      }
    });
  });

  test('a feed end read from another installation is refused and changes nothing; a line without an installation (older versions) is taken', async () => {
    await afterBackupAndLoss(database, async ({ restored, backup, feedEnd }) => {
      restore(database, backup, restored);
      const other = await createTestDatabase(database);
      let otherEnd: string;
      try {
        const app = await startTestApp({ database, location: other.location });
        await app.close();
        otherEnd = runRoster(other.url, ['db', 'feed-end']).lastLine;
      } finally {
        await other.drop();
      }
      const refused = runRoster(restored.url, ['db', 'continue-feed', otherEnd]);
      assert.equal(refused.status, 1, refused.stderr);
      assert.match(refused.stderr, /That feed end was read from another installation's database \(installation [0-9a-f]{16}; the restored database is installation [0-9a-f]{16}\)/);
      assert.match(refused.stderr, /Nothing was changed\./);
      const store = await openStore(restored.location);
      try {
        assert.deepEqual(await store.db.selectFrom('feed_gaps').selectAll().execute(), [], 'a gap was recorded');
      } finally {
        await store.close();
      }
      const withoutInstallation = feedEnd.replace(/-[0-9a-f]{16}$/, '');
      const continued = runRoster(restored.url, ['db', 'continue-feed', withoutInstallation]);
      assert.equal(continued.status, 0, continued.stderr);
      assert.match(continued.lastLine, /^The event feed goes on after the replaced database's/);
    });
  });

  test('feed-end and continue-feed refuse while a Roster instance is connected, and change nothing', { skip: database === 'sqlite' ? 'on SQLite, db restore does these steps itself and checks for other processes' : false }, async () => {
    await afterBackupAndLoss(database, async ({ original, restored, backup, feedEnd }) => {
      // A Roster process connected (an instance's pool, as `roster serve` opens it).
      const running = await openStore(original.location);
      await running.db.selectFrom('settings').select('key').execute();
      try {
        const refused = runRoster(original.url, ['db', 'feed-end']);
        assert.equal(refused.status, 1, refused.stderr);
        assert.match(refused.stderr, /Roster is still running on this database \(connections: \d+ from [^)]+\), and every instance must be stopped before reading the feed's end/);
        assert.doesNotMatch(refused.stdout, /feed-end-/);
      } finally {
        await running.close();
      }
      restore(database, backup, restored);
      // An instance started on the restored database too early.
      const early = await openStore(restored.location);
      await early.db.selectFrom('settings').select('key').execute();
      try {
        const refused = runRoster(restored.url, ['db', 'continue-feed', feedEnd]);
        assert.equal(refused.status, 1, refused.stderr);
        assert.match(refused.stderr, /Roster is still running on this database .* before carrying the feed on/);
        assert.match(refused.stderr, /Nothing was changed\./);
      } finally {
        await early.close();
      }
      const store = await openStore(restored.location);
      try {
        assert.deepEqual(await store.db.selectFrom('feed_gaps').selectAll().execute(), [], 'a gap was recorded');
      } finally {
        await store.close();
      }
      const continued = runRoster(restored.url, ['db', 'continue-feed', feedEnd]);
      assert.equal(continued.status, 0, continued.stderr);
    });
  });

  test('continue-feed refuses a database nothing was restored into, and leaves it as it was', async () => {
    const scratch = await createTestDatabase(database);
    try {
      const run = runRoster(scratch.url, ['db', 'continue-feed', 'feed-end-5-0-4']);
      assert.equal(run.status, 1, run.stderr);
      assert.match(run.stderr, /holds no Roster database: nothing was restored into it\. Run pg_restore first/);
      if (database === 'postgres') {
        const tables = spawnSync('psql', ['-At', '-c', "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'", scratch.url], { encoding: 'utf8' });
        assert.equal(tables.stdout.trim(), '0', tables.stderr);
      }
    } finally {
      await scratch.drop();
    }
  });

  test('continue-feed refuses what is not a feed end, and says what to give', async () => {
    const scratch = await createTestDatabase(database);
    try {
      for (const value of ['12', 'feed-end-1-2', 'feed-end-a-b-c']) {
        const run = runRoster(scratch.url, ['db', 'continue-feed', value]);
        assert.equal(run.status, 2, run.stderr);
        assert.match(run.stderr, /is not a feed end: give the last line `roster db feed-end` printed/);
      }
      assert.equal(runRoster(scratch.url, ['db', 'continue-feed']).status, 2);
    } finally {
      await scratch.drop();
    }
  });
});
