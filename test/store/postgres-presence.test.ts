/**
 * An instance with nothing to do stays visible on PostgreSQL: its pool lets idle connections go,
 * all but the last, so that an upgrade whose migration needs every older instance stopped sees
 * it by its `application_name` however long it has been idle (docs/deploy.md#upgrading).
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { postgresApplicationName } from '../../src/store/migrate.ts';
import { openStore } from '../../src/store/index.ts';
import { POOL_IDLE_MS } from '../../src/store/postgres.ts';
import { createTestDatabase, POSTGRES_URL, type ScratchDatabase } from '../support/databases.ts';

describe('an idle instance keeps one connection (on PostgreSQL)', { skip: POSTGRES_URL === undefined ? 'PostgreSQL skipped: set ROSTER_TEST_POSTGRES_URL to run it' : false }, () => {
  let scratch: ScratchDatabase;
  before(async () => {
    scratch = await createTestDatabase('postgres');
  });
  after(async () => {
    await scratch.drop();
  });

  test('past the pool\'s idle time, one of its connections is still open and named', async () => {
    const idle = await openStore(scratch.location);
    try {
      // Several connections at once, as a burst of requests opens them.
      await Promise.all(Array.from({ length: 4 }, () => sql`select pg_sleep(0.2)`.execute(idle.db)));
      assert.equal(idle.poolUse()?.total, 4);
      await sleep(POOL_IDLE_MS + 2_000);
      assert.equal(idle.poolUse()?.total, 1, 'the pool kept one connection');
      // What the upgrade check of another process sees (otherRosterConnections leaves out its own process's).
      const url = scratch.location.kind === 'postgres' ? scratch.location.url : '';
      const observer = new pg.Client({ connectionString: url, application_name: 'psql' });
      await observer.connect();
      try {
        const { rows } = await observer.query<{ connections: number }>(
          'select count(*)::int as connections from pg_stat_activity where datname = current_database() and application_name = $1',
          [postgresApplicationName()],
        );
        assert.equal(rows[0]?.connections, 1);
      } finally {
        await observer.end();
      }
    } finally {
      await idle.close();
    }
  });
});
