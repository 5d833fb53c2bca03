/**
 * Admin API updates sent at the same time, as by two instances on one database: a
 * reactivation reads the row it changes, so a parallel write to that row must be seen before it
 * writes, and the feed and the audit trail tell the changes one after the other, as the same
 * requests sent in turn would. On PostgreSQL (READ COMMITTED) the
 * requests go through two instances, each with its own connections; on SQLite through one,
 * whose writes are serialised anyway.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { secondInstance, startTestApp, type TestApp, type TestResponse } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';

const USERS = '/api/v2/users-management/users';
const GROUPS = '/api/v2/authorizations/groups';
const ROUNDS = 8;

interface FeedRow {
  readonly type: string;
  readonly data: Record<string, unknown>;
  readonly previous: Record<string, unknown> | null;
}

eachDatabase('admin API updates in parallel', (database) => {
  let roster: TestApp;
  let second: Awaited<ReturnType<typeof secondInstance>>;
  let serial = 0;

  before(async () => {
    roster = await startTestApp({ database, scim: false });
    second = await secondInstance(roster, database);
  });
  after(async () => {
    await second.close();
    await roster.close();
  });

  async function newUser(): Promise<{ id: string; login: string }> {
    serial += 1;
    const login = `updater${serial}`;
    // Not local: no password to hash, so that the rounds run fast.
    const created = await roster.request('POST', USERS, { login, name: `Updater ${serial}`, local: false });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    return { id: created.body.id, login };
  }

  async function newGroup(): Promise<string> {
    serial += 1;
    const created = await roster.request('POST', GROUPS, { name: `team-${serial}`, description: 'first' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    return created.body.id;
  }

  /** The feed's events about `id` (a user, a group), in order, read from the database. */
  async function feed(id: string): Promise<FeedRow[]> {
    const rows = await roster.services.store.db.selectFrom('events').select(['type', 'data', 'previous']).where('data', 'like', `%"${id}"%`).orderBy('tx').orderBy('id').execute();
    const events = rows.map((row) => ({ type: row.type, data: JSON.parse(row.data) as FeedRow['data'], previous: row.previous === null ? null : (JSON.parse(row.previous) as FeedRow['previous']) }));
    return events.filter((event) => event.data.id === id);
  }

  async function version(id: string): Promise<number> {
    return (await roster.services.store.db.selectFrom('users').select('version').where('id', '=', id).executeTakeFirstOrThrow()).version;
  }

  async function audit(targetType: string, targetId: string): Promise<Array<{ action: string; details: { before?: Record<string, unknown>; after?: Record<string, unknown> } }>> {
    const page = await roster.request('GET', `/api/v2/audit-logs?targetType=${targetType}&targetId=${encodeURIComponent(targetId)}&pageSize=100`);
    assert.equal(page.status, 200, JSON.stringify(page.body));
    return page.body.auditLogs;
  }

  const statuses = (answers: readonly TestResponse[]): number[] => answers.map((answer) => answer.status).sort();

  test('POST of a deactivated user\'s login twice at once: one 200 reactivates it, the other 409 as a later request, one user.reactivated', async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const { id, login } = await newUser();
      assert.equal((await roster.request('DELETE', `${USERS}/${id}`)).status, 204);
      const deactivated = await version(id);
      const body = { login, name: 'Back again', local: false };
      const answers = await Promise.all([roster.request('POST', USERS, body), second.request('POST', USERS, body)]);
      assert.deepEqual(statuses(answers), [200, 409], `round ${round}: ${JSON.stringify(answers.map((a) => a.body))}`);
      const later = await roster.request('POST', USERS, body);
      assert.deepEqual(answers.find((answer) => answer.status === 409)?.body, later.body);
      assert.equal((await feed(id)).filter((event) => event.type === 'user.reactivated').length, 1, `round ${round}`);
      assert.equal((await audit('user', id)).filter((entry) => entry.action === 'user.reactivated').length, 1, `round ${round}`);
      // As many versions as one reactivation sent alone gives.
      const once = await version(id);
      assert.equal((await roster.request('DELETE', `${USERS}/${id}`)).status, 204);
      const deactivatedAgain = await version(id);
      assert.equal((await roster.request('POST', USERS, body)).status, 200);
      assert.equal(once - deactivated, (await version(id)) - deactivatedAgain, `round ${round}: reactivated more than once`);
    }
  });
});
