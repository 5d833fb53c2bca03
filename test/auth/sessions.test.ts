/**
 * Ended sessions are deleted by the hourly clean-up even when their cookie never comes back
 * (an abandoned browser, a scripted sign-in): before, only a presented cookie deleted its row.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';

eachDatabase('session clean-up', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database });
  });
  after(async () => app.close());

  test('purgeEnded deletes expired and idle sessions, and keeps live ones', async () => {
    const { db } = app.services.store;
    const hour = 3_600_000;
    const at = (offset: number) => new Date(Date.now() + offset).toISOString();
    const row = (id: string, lastSeen: number, expires: number) => ({ id, user_id: app.adminId, created_at: at(-48 * hour), last_seen_at: at(lastSeen), expires_at: at(expires) });
    await db.insertInto('sessions').values([
      row('expired', -60_000, -1000),
      row('idle', -9 * hour, 24 * hour),
      row('live', -60_000, 24 * hour),
    ]).execute();
    assert.equal(await app.services.sessions.purgeEnded(), 2);
    const left = await db.selectFrom('sessions').select('id').where('id', 'in', ['expired', 'idle', 'live']).execute();
    assert.deepEqual(left.map((session) => session.id), ['live']);
    assert.equal(await app.services.sessions.purgeEnded(), 0);
  });
});
