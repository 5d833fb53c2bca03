/**
 * What the hourly clean-up forgets that only later traffic forgot before: password back-off keys
 * whose allowance is whole again, and the per-address audit budgets of minutes gone by. After a
 * burst of wrong passwords or forged SAML posts and no attempt since, their rows stayed for good.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';

eachDatabase('leftover budgets', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database, scim: false });
  });
  after(() => app.close());

  test('password back-off keys whose allowance is whole again are forgotten; those still counting stay', async () => {
    const db = app.services.store.db;
    const past = new Date(Date.now() - 60_000).toISOString();
    const future = new Date(Date.now() + 600_000).toISOString();
    // More than one batch of stale keys, as a burst of wrong passwords from many addresses leaves.
    await db.insertInto('password_backoff').values(Array.from({ length: 250 }, (_, i) => ({ key: `source:stale-${i}`, free_at: past }))).execute();
    await db.insertInto('password_backoff').values({ key: 'login:counting', free_at: future }).execute();
    assert.equal(await app.services.passwordSignIn.purgeBackoff(), 250);
    assert.deepEqual((await db.selectFrom('password_backoff').select('key').execute()).map((row) => row.key), ['login:counting']);
  });

  test('audit budgets of minutes gone by are forgotten; this minute and the last stay', async () => {
    const db = app.services.store.db;
    const minute = (msAgo: number) => `${new Date(Date.now() - msAgo).toISOString().slice(0, 16)}Z`;
    const rows = [
      ...Array.from({ length: 40 }, (_, i) => ({ source: `198.51.100.${i}`, minute: minute(3 * 3_600_000), used: 31, summary_seq: null })),
      ...Array.from({ length: 5 }, (_, i) => ({ source: `203.0.113.${i}`, minute: minute(10 * 60_000), used: 2, summary_seq: null })),
      { source: '192.0.2.1', minute: minute(0), used: 1, summary_seq: null },
    ];
    await db.insertInto('audit_budgets').values(rows).execute();
    assert.equal(await app.services.auditLog.purgeBudgets(), 45);
    assert.deepEqual((await db.selectFrom('audit_budgets').select('source').execute()).map((row) => row.source), ['192.0.2.1']);
  });
});
