/**
 * Audit-log pages by number deep in the log are read from its other end (directory/audit-log.ts
 * fromTheFarEnd): every page, in both orders and with a filter, must hold exactly the entries a
 * read from the start gives, the `next` cursor included, past the middle and at the very end.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';

eachDatabase('audit-log pages read from the far end', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database, scim: false });
    await app.services.store.db.deleteFrom('audit_events').execute();
    await app.services.store.db.insertInto('audit_events').values(Array.from({ length: 97 }, (_, i) => ({
      at: new Date(Date.UTC(2026, 10, 1) + i * 60_000).toISOString(),
      actor: i % 3 === 0 ? 'token:entra' : 'cli',
      actor_user: null,
      action: i % 2 === 0 ? 'user.updated' : 'group.updated',
      target_type: i % 2 === 0 ? 'user' : 'group',
      target_id: `t-${i}`,
      details: null,
    }))).execute();
  });
  after(() => app.close());

  test('every page by number equals the same slice of the whole list, in both orders', async () => {
    for (const filter of [{}, { targetType: 'group' as const }, { actor: 'token:entra' }]) {
      for (const ascending of [false, true]) {
        const whole = await app.services.auditLog.list(filter, { offset: 0, limit: 500, ascending });
        const seqs = whole.events.map((event) => event.seq);
        for (const limit of [1, 7, 10]) {
          for (let offset = 0; offset <= whole.total + 1; offset += 3) {
            const page = await app.services.auditLog.list(filter, { offset, limit, ascending });
            const label = `${JSON.stringify(filter)} ${ascending ? 'ascending' : 'descending'} offset ${offset} limit ${limit}`;
            assert.equal(page.total, whole.total, label);
            assert.deepEqual(page.events.map((event) => event.seq), seqs.slice(offset, offset + limit), label);
            const more = offset + limit < whole.total;
            assert.equal(page.next, more ? String(seqs[offset + limit - 1]) : null, label);
          }
        }
      }
    }
  });
});
