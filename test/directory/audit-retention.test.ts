/**
 * The audit trail's retention (ROSTER_AUDIT_RETENTION_DAYS): a clean-up deletes exactly the
 * entries older than the retention, however many batches that takes, and leaves one
 * `audit.purged` entry saying when, by whom and how far the trail was cut.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createServices, type Services } from '../../src/services.ts';
import type { Store } from '../../src/store/index.ts';
import { eachDatabase, openTestStore } from '../support/databases.ts';

const DAY = 86_400_000;
const NOW = new Date('2026-11-30T12:00:00.000Z');

function entry(at: Date, index: number) {
  return { at: at.toISOString(), actor: 'token:entra', actor_user: 'admin', action: 'user.updated', target_type: 'user', target_id: `user-${index}`, details: null };
}

eachDatabase('the audit trail past its retention', (database) => {
  let store: Store;
  let services: Services;
  before(async () => {
    store = await openTestStore(database);
    services = createServices(store);
  });
  after(() => store.close());

  async function remaining(): Promise<Array<{ at: string; action: string; actor: string; targetId: string | null; details: unknown }>> {
    const { events } = await services.auditLog.list({}, { offset: 0, limit: 10_000, ascending: true });
    return events.map(({ at, action, actor, targetId, details }) => ({ at, action, actor, targetId, details }));
  }

  test('deletes every entry older than the retention, over several batches, and records how many in one audit.purged entry', async () => {
    // 2,500 entries 31 to 60 days old (more than two batches), three recent ones, and one old
    // entry written after the recent ones (an instance whose clock was behind).
    const old = Array.from({ length: 2500 }, (_, i) => entry(new Date(NOW.getTime() - (60 - (i % 30)) * DAY), i));
    const recent = [1, 2, 29].map((days, i) => entry(new Date(NOW.getTime() - days * DAY), 10_000 + i));
    for (let i = 0; i < old.length; i += 500) await store.db.insertInto('audit_events').values(old.slice(i, i + 500)).execute();
    await store.db.insertInto('audit_events').values([...recent, entry(new Date(NOW.getTime() - 45 * DAY), 20_000)]).execute();

    const deleted = await services.auditLog.purge(30, { kind: 'system' }, NOW);
    assert.equal(deleted, 2501);
    const left = await remaining();
    assert.deepEqual(left.slice(0, 3).map((row) => row.targetId), ['user-10000', 'user-10001', 'user-10002']);
    assert.equal(left.length, 4);
    const purged = left[3]!;
    assert.equal(purged.action, 'audit.purged');
    assert.equal(purged.actor, 'system');
    assert.equal(purged.targetId, null);
    assert.deepEqual(purged.details, { before: new Date(NOW.getTime() - 30 * DAY).toISOString(), retentionDays: 30, deleted: 2501 });
    // The audit filter finds it by its type.
    const { events } = await services.auditLog.list({ targetType: 'audit' }, { offset: 0, limit: 10, ascending: false });
    assert.deepEqual(events.map((event) => event.action), ['audit.purged']);
  });

  test('a clean-up with nothing to delete writes nothing; a later one counts only its own deletions', async () => {
    const count = (await remaining()).length;
    assert.equal(await services.auditLog.purge(30, { kind: 'system' }, NOW), 0);
    assert.equal((await remaining()).length, count);

    // A day later, with a shorter retention run from the command line: the entry 29 days old goes.
    assert.equal(await services.auditLog.purge(7, { kind: 'cli' }, new Date(NOW.getTime() + DAY)), 1);
    const left = await remaining();
    assert.ok(!left.some((row) => row.targetId === 'user-10002'));
    const last = left.at(-1)!;
    assert.equal(last.action, 'audit.purged');
    assert.equal(last.actor, 'cli');
    assert.deepEqual(last.details, { before: new Date(NOW.getTime() + DAY - 7 * DAY).toISOString(), retentionDays: 7, deleted: 1 });
    // The first clean-up's own entry is recent: kept.
    assert.equal(left.filter((row) => row.action === 'audit.purged').length, 2);
  });
});
