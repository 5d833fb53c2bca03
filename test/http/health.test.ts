/** The readiness check behind /healthz: cached, bounded in time; /livez needs nothing. */
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { POSTGRES_URL, createTestDatabase } from '../support/databases.ts';
import type { DatabaseLocation } from '../../src/store/index.ts';
import { describe, test } from 'node:test';
import { createReadiness } from '../../src/http/health.ts';
import { startTestApp } from '../support/app.ts';

describe('readiness and liveness', () => {
  test('probes within the cache period share one database check', async () => {
    let checks = 0;
    let clock = 0;
    const ready = createReadiness(async () => void (checks += 1), { now: () => clock });
    assert.equal(await ready(), true);
    clock = 999;
    assert.equal(await ready(), true);
    assert.equal(checks, 1);
    clock = 1000;
    await ready();
    assert.equal(checks, 2);
  });

  test('a database that does not answer within the timeout counts as not ready', async () => {
    const ready = createReadiness(() => new Promise(() => {}), { timeoutMs: 50 });
    const started = Date.now();
    assert.equal(await ready(), false);
    assert.ok(Date.now() - started < 1000);
  });

  test('a failing check counts as not ready', async () => {
    const ready = createReadiness(async () => {
      throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    });
    assert.equal(await ready(), false);
  });

  test('GET /livez answers 200 even once the database is closed; GET /healthz answers 503 with Retry-After', async () => {
    const roster = await startTestApp({ scim: false });
    try {
      assert.equal((await roster.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
      await roster.services.store.close();
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const live = await roster.app.inject({ method: 'GET', url: '/livez' });
      assert.equal(live.statusCode, 200);
      assert.deepEqual(live.json(), { status: 'ok' });
      const health = await roster.app.inject({ method: 'GET', url: '/healthz' });
      assert.equal(health.statusCode, 503);
      assert.ok(Number(health.headers['retry-after']) >= 1);
    } finally {
      await roster.app.close();
    }
  });

  test('on PostgreSQL, a pool lent out whole is told apart from a database that does not answer', { skip: POSTGRES_URL === undefined ? 'PostgreSQL skipped: set ROSTER_TEST_POSTGRES_URL to run it' : false }, async () => {
    const scratch = await createTestDatabase('postgres');
    const location = { ...scratch.location, poolSize: 2 } as DatabaseLocation;
    const roster = await startTestApp({ location, scim: false });
    const held: Array<() => void> = [];
    try {
      // Two requests' transactions hold both connections (slow clients of streamed answers do).
      const holding = [1, 2].map(() => roster.services.store.db.transaction().execute(async (trx) => {
        await sql`SELECT 1`.execute(trx);
        await new Promise<void>((resolve) => held.push(resolve));
      }));
      while (held.length < 2) await new Promise((resolve) => setTimeout(resolve, 20));
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const health = await roster.app.inject({ method: 'GET', url: '/healthz' });
      assert.equal(health.statusCode, 503);
      assert.match(health.json().detail, /^Every connection of this instance's database pool is in use \(2 of ROSTER_DATABASE_POOL_SIZE=2, \d+ queries waiting\)/);
      for (const release of held) release();
      await Promise.all(holding);
    } finally {
      for (const release of held) release();
      await roster.close();
      await scratch.drop();
    }
  });
});
