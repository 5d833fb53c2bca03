/**
 * Per-token rate limits of the SCIM and admin APIs: 429 with Retry-After and each API's error
 * body beyond the limit, one budget per token shared by every instance through the database.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { buildApp } from '../../src/http/app.ts';
import { createRateLimits } from '../../src/directory/rate-limits.ts';
import { RetryLaterError } from '../../src/errors.ts';
import { createServices, type Services } from '../../src/services.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { BASE_URL, SCIM, startTestApp, type TestApp } from '../support/app.ts';
import { eachDatabase, openTestStore } from '../support/databases.ts';

const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

/** A second instance on the same database, with the same policy. */
async function secondInstance(
  roster: TestApp,
  policy: { perMinute: number; burst: number },
  hostClock?: () => number,
): Promise<{ app: FastifyInstance; store: Store; services: Services }> {
  const store = await openStore(roster.location);
  const services = createServices(store, { baseUrl: BASE_URL, rateLimit: policy, ...(hostClock !== undefined ? { hostClock } : {}) });
  const app = await buildApp({ services, baseUrl: BASE_URL });
  await app.ready();
  return { app, store, services };
}

const get = (app: FastifyInstance, token: string, url = `${SCIM}/Users?count=1`) => app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });

eachDatabase('rate limits', (database) => {
  describe('one instance', () => {
    let roster: TestApp;
    before(async () => {
      // One request refills every 10 s: a busy machine's slow requests cannot refill the burst
      // between the fifth and the sixth (at 60 a minute, a second did, and the sixth passed).
      roster = await startTestApp({ database, rateLimit: { perMinute: 6, burst: 5 } });
    });
    after(async () => roster.close());

    test('SCIM beyond the burst answers 429 with Retry-After and a SCIM error body (status "429", no scimType)', async () => {
      for (let i = 0; i < 5; i += 1) assert.equal((await roster.request('GET', '/Users?count=1')).status, 200, `request ${i + 1}`);
      const refused = await roster.request('GET', '/Users?count=1');
      assert.equal(refused.status, 429);
      const retryAfter = Number(refused.headers['retry-after']);
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 10, `Retry-After ${refused.headers['retry-after']}`);
      assert.match(String(refused.headers['content-type']), /application\/scim\+json/);
      assert.deepEqual(refused.body.schemas, [ERROR_SCHEMA]);
      assert.equal(refused.body.status, '429');
      assert.equal(refused.body.scimType, undefined);
      assert.match(refused.body.detail, /\b6 requests per minute per token/);
      // The same token is limited on the admin API too, in that API's error shape.
      const admin = await roster.request('GET', '/api/v2/users-management/users?pageSize=1');
      assert.equal(admin.status, 429);
      assert.ok(Number(admin.headers['retry-after']) >= 1);
      assert.deepEqual(Object.keys(admin.body), ['message']);
      assert.match(admin.body.message, /Too many requests/);
    });

    test('another token has a budget of its own', async () => {
      const other = await roster.tokenFor(roster.adminId, 'other-idp');
      const answer = await get(roster.app, other);
      assert.equal(answer.statusCode, 200);
    });

    test('the admin API alone is limited as well', async () => {
      const token = await roster.tokenFor(roster.adminId, 'admin-script');
      const statuses: number[] = [];
      for (let i = 0; i < 7; i += 1) statuses.push((await get(roster.app, token, '/api/v2/users-management/users?pageSize=1')).statusCode);
      assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429]);
    });

    test('a request without a valid token is refused 401 before counting', async () => {
      const answer = await get(roster.app, 'not-a-token');
      assert.equal(answer.statusCode, 401);
    });
  });

  describe('several instances', () => {
    let roster: TestApp;
    let second: { app: FastifyInstance; store: Store };
    const policy = { perMinute: 60, burst: 100 };
    before(async () => {
      roster = await startTestApp({ database, rateLimit: policy });
      second = await secondInstance(roster, policy);
    });
    after(async () => {
      await second.app.close();
      await second.store.close();
      await roster.close();
    });

    test('share one budget per token: together they admit at most the burst, and at least the burst less one chunk', async () => {
      const chunk = roster.services.rateLimits.chunk;
      assert.equal(chunk, 5);
      let admitted = 0;
      let refusedBy = 0;
      const started = Date.now();
      for (let i = 0; i < 150; i += 1) {
        const app = i % 2 === 0 ? roster.app : second.app;
        const answer = await get(app, roster.token);
        if (answer.statusCode === 200) admitted += 1;
        else {
          assert.equal(answer.statusCode, 429);
          refusedBy |= i % 2 === 0 ? 1 : 2;
        }
      }
      assert.equal(refusedBy, 3, 'both instances refuse once the shared budget is spent');
      // The budget refills by one request per second meanwhile.
      const refilled = Math.ceil(((Date.now() - started) / 60_000) * policy.perMinute);
      assert.ok(admitted <= policy.burst + refilled, `admitted ${admitted} of a burst of ${policy.burst} + ${refilled} refilled`);
      assert.ok(admitted >= policy.burst - chunk, `admitted ${admitted}: at most one chunk (${chunk}) may sit unused in the other instance`);
    });
  });

  describe('an instance whose host clock is 20 s behind', () => {
    let roster: TestApp;
    let behind: { app: FastifyInstance; store: Store; services: Services };
    const policy = { perMinute: 60, burst: 10 };
    before(async () => {
      roster = await startTestApp({ database, rateLimit: policy });
      behind = await secondInstance(roster, policy, () => Date.now() - 20_000);
      // As roster serve does at start.
      await roster.services.clock.align();
      await behind.services.clock.align();
    });
    after(async () => {
      await behind.app.close();
      await behind.store.close();
      await roster.close();
    });

    test('shares the budget as if in step: no 429 while it has room', { skip: database === 'postgres' ? false : 'SQLite: one host, one clock' }, async () => {
      const chunk = roster.services.rateLimits.chunk;
      assert.ok(chunk < policy.burst / 2, `chunk ${chunk}`);
      assert.equal((await get(roster.app, roster.token)).statusCode, 200);
      // The budget's next free time, written by the first instance, lay 20 s in this one's
      // future: it refused although the token had used a chunk of its burst.
      const answer = await get(behind.app, roster.token);
      assert.equal(answer.statusCode, 200, `${answer.statusCode} ${answer.headers['retry-after'] ?? ''} ${answer.body.slice(0, 200)}`);
      assert.ok(Math.abs(behind.services.clock.now() - Date.now()) < 1000, 'its shared time is the database\'s');
    });
  });

  describe('the budget refills at the configured rate', () => {
    let store: Store;
    before(async () => {
      store = await openTestStore(database);
    });
    after(async () => store.close());

    test('after the burst, one more request per interval; Retry-After says when', async () => {
      let clock = 1_700_000_000_000;
      const limits = createRateLimits(store, { perMinute: 60, burst: 2 }, { now: () => clock });
      await limits.take('token:a');
      await limits.take('token:a');
      const refused = await limits.take('token:a').then(
        () => undefined,
        (error: unknown) => error,
      );
      assert.ok(refused instanceof RetryLaterError && refused.reason === 'rate_limited', String(refused));
      assert.equal(refused.retryAfterSeconds, 1);
      clock += 1000;
      await limits.take('token:a');
      await assert.rejects(limits.take('token:a'), RetryLaterError);
      // A long pause gives back the whole burst, never more.
      clock += 3_600_000;
      await limits.take('token:a');
      await limits.take('token:a');
      await assert.rejects(limits.take('token:a'), RetryLaterError);
    });

    test(
      'while the database cannot take a reservation (a full disk, a read-only standby), the budget is counted in memory, then in the database again',
      { skip: database === 'postgres' ? false : 'the refusal is raised by a PostgreSQL trigger as read-only (SQLSTATE 25006)' },
      async () => {
        let clock = 1_900_000_000_000;
        const limits = createRateLimits(store, { perMinute: 60, burst: 3 }, { now: () => clock });
        const rows = async () => (await store.db.selectFrom('rate_limits').select('key').where('key', '=', 'token:ro').execute()).length;
        await sql`CREATE FUNCTION refuse_rate_limits() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'cannot execute INSERT in a read-only transaction' USING ERRCODE = '25006'; END $$`.execute(store.db);
        await sql`CREATE TRIGGER refuse_rate_limits BEFORE INSERT OR UPDATE ON rate_limits FOR EACH ROW EXECUTE FUNCTION refuse_rate_limits()`.execute(store.db);
        try {
          for (let i = 0; i < 3; i += 1) await limits.take('token:ro');
          const refused = await limits.take('token:ro').then(
            () => undefined,
            (error: unknown) => error,
          );
          assert.ok(refused instanceof RetryLaterError && refused.reason === 'rate_limited', String(refused));
          assert.equal(refused.retryAfterSeconds, 1);
          assert.equal(await rows(), 0);
        } finally {
          await sql`DROP TRIGGER refuse_rate_limits ON rate_limits`.execute(store.db);
          await sql`DROP FUNCTION refuse_rate_limits()`.execute(store.db);
        }
        // Five seconds on, the database is asked again.
        clock += 5_000;
        await limits.take('token:ro');
        assert.equal(await rows(), 1);
      },
    );

    test('budgets of keys seen once (sign-ins from many client addresses) are forgotten: the keys held in memory stay bounded', async () => {
      let clock = 2_000_000_000_000;
      // The sign-in limit's default: 600 a minute, 300 at once, so each address reserves 15 and uses 1.
      const limits = createRateLimits(store, { perMinute: 600, burst: 300 }, { now: () => clock, maxKeys: 100 });
      let most = 0;
      for (let i = 0; i < 1500; i += 1) {
        await limits.take(`oidc-auth:10.0.${i >> 8}.${i & 255}`);
        most = Math.max(most, limits.keysInMemory());
        // One new address every 10 ms: a reservation's 15 units span 1.5 s, so about 150 are recent at any time.
        clock += 10;
      }
      assert.ok(most <= 400, `${most} keys held in memory after 1,500 addresses (at most 100 idle ones kept, twice the recent ones)`);
      // An address seen again after it was forgotten gets its budget from the database, as before.
      await limits.take('oidc-auth:10.0.0.0');
    });

    test('purge deletes the rows of keys whose budget is whole again, and only those', async () => {
      let clock = 1_800_000_000_000;
      const limits = createRateLimits(store, { perMinute: 60, burst: 2 }, { now: () => clock });
      await limits.take('token:idle');
      clock += 10_000;
      await limits.take('token:busy');
      await limits.take('token:busy');
      const deleted = await limits.purge();
      assert.ok(deleted >= 1);
      const keys = (await store.db.selectFrom('rate_limits').select('key').execute()).map((row) => row.key);
      assert.ok(keys.includes('token:busy'));
      assert.ok(!keys.includes('token:idle'));
    });
  });
});
