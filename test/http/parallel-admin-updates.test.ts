/**
 * Admin API updates sent at the same time, as by two instances on one database: a rename, a
 * profile change or a reactivation reads the row it changes, so a parallel write to that row
 * must be seen before it writes, and the feed and the audit trail tell the changes one after
 * the other, as the same requests sent in turn would. On PostgreSQL (READ COMMITTED) the
 * requests go through two instances, each with its own connections; on SQLite through one,
 * whose writes are serialised anyway.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { secondInstance, startTestApp, type TestApp, type TestResponse } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { DEFAULT_ADMIN_GROUP } from '../../src/directory/access.ts';

const USERS = '/api/v2/users-management/users';
const GROUPS = '/api/v2/authorizations/groups';
const MEMBERSHIPS = '/api/v2/authorizations/group-memberships';
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

  /** Each event's `previous` is the `data` of the event before it: no change is told from a stale row. */
  function assertChained(events: readonly FeedRow[], what: string): void {
    for (let i = 1; i < events.length; i += 1) {
      assert.deepEqual(events[i]?.previous, events[i - 1]?.data, `${what}: event ${i} (${events[i]?.type}) starts from a row that was already changed: ${JSON.stringify(events)}`);
    }
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

  test('PATCH of a group\'s name and PATCH of its description at once: both kept, each event starts from the other\'s result', async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const id = await newGroup();
      const answers = await Promise.all([roster.request('PATCH', `${GROUPS}/${id}`, { name: `renamed-${serial}` }), second.request('PATCH', `${GROUPS}/${id}`, { description: 'second' })]);
      assert.deepEqual(statuses(answers), [200, 200], JSON.stringify(answers.map((a) => a.body)));
      const group = await roster.request('GET', `${GROUPS}/${id}`);
      assert.equal(group.body.name, `renamed-${serial}`, `round ${round}: the rename was lost`);
      assert.equal(group.body.description, 'second', `round ${round}: the description was lost`);
      const events = (await feed(id)).filter((event) => event.type === 'group.updated');
      assert.equal(events.length, 2);
      assertChained(events, `round ${round}`);
      assert.deepEqual(events.at(-1)?.data, group.body);
    }
  });

  test('two renames of one group at once: the group keeps the name the last event says, and the events chain', async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const id = await newGroup();
      const answers = await Promise.all([roster.request('PATCH', `${GROUPS}/${id}`, { name: `left-${serial}` }), second.request('PATCH', `${GROUPS}/${id}`, { name: `right-${serial}` })]);
      assert.deepEqual(statuses(answers), [200, 200], JSON.stringify(answers.map((a) => a.body)));
      const group = await roster.request('GET', `${GROUPS}/${id}`);
      const events = (await feed(id)).filter((event) => event.type === 'group.updated');
      assert.equal(events.length, 2);
      assertChained(events, `round ${round}`);
      assert.deepEqual(events.at(-1)?.data, group.body);
      const entries = (await audit('group', id)).filter((entry) => entry.action === 'group.updated').reverse();
      assert.equal(entries[1]?.details.before?.name, entries[0]?.details.after?.name, `round ${round}: the audit trail says both renames started from the old name`);
    }
  });

  test('PATCH of a group beside its DELETE: 200 before it or 404 after it, never a 500', async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const id = await newGroup();
      const [renamed, deleted] = await Promise.all([roster.request('PATCH', `${GROUPS}/${id}`, { name: `doomed-${serial}` }), second.request('DELETE', `${GROUPS}/${id}`)]);
      assert.equal(deleted.status, 204, JSON.stringify(deleted.body));
      assert.ok(renamed.status === 200 || renamed.status === 404, `round ${round}: ${renamed.status} ${JSON.stringify(renamed.body)}`);
      if (renamed.status === 404) assert.equal(renamed.body.message, `Group '${id}' not found`);
      const types = (await feed(id)).map((event) => event.type);
      assert.deepEqual(types, renamed.status === 200 ? ['group.created', 'group.updated', 'group.deleted'] : ['group.created', 'group.deleted'], `round ${round}`);
    }
  });

  // Guards the order of the locks the renames take: the administrators' rows first, as a
  // deactivation takes them. Locking the group first, a rename of the administrators' group and
  // a rename of one of its members (which touches its groups) waited on each other (a deadlock, 500).
  test('renaming the administrators\' group beside a rename of one of its members: both 200', async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const group = await roster.request('POST', GROUPS, { name: DEFAULT_ADMIN_GROUP });
      assert.equal(group.status, 201, JSON.stringify(group.body));
      const { id } = await newUser();
      assert.equal((await roster.request('POST', MEMBERSHIPS, { groupId: group.body.id, userId: id })).status, 201);
      const answers = await Promise.all([roster.request('PATCH', `${GROUPS}/${group.body.id}`, { name: `former-admins-${serial}` }), second.request('PATCH', `${USERS}/${id}`, { name: `Admin ${serial}` })]);
      assert.deepEqual(statuses(answers), [200, 200], `round ${round}: ${JSON.stringify(answers.map((a) => a.body))}`);
    }
  });

  test('PATCH of a user\'s name and PATCH of its email at once: both kept, each event starts from the other\'s result', async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const { id } = await newUser();
      const answers = await Promise.all([roster.request('PATCH', `${USERS}/${id}`, { name: 'New Name' }), second.request('PATCH', `${USERS}/${id}`, { email: 'new@example.com' })]);
      assert.deepEqual(statuses(answers), [200, 200], JSON.stringify(answers.map((a) => a.body)));
      const user = await roster.request('GET', `${USERS}/${id}`);
      assert.equal(user.body.name, 'New Name', `round ${round}: the name was lost`);
      assert.equal(user.body.email, 'new@example.com', `round ${round}: the email was lost`);
      const events = (await feed(id)).filter((event) => event.type === 'user.updated');
      assert.equal(events.length, 2);
      assertChained(events, `round ${round}`);
    }
  });

  test('PATCH of a user beside its DELETE: one user.deactivated, and an update after it says the user is inactive', async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const { id } = await newUser();
      const [patched, deactivated] = await Promise.all([roster.request('PATCH', `${USERS}/${id}`, { name: `Renamed ${serial}` }), second.request('DELETE', `${USERS}/${id}`)]);
      assert.equal(deactivated.status, 204);
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      const events = (await feed(id)).filter((event) => event.type !== 'user.created');
      assert.deepEqual(events.map((event) => event.type).sort(), ['user.deactivated', 'user.updated'], `round ${round}: ${JSON.stringify(events)}`);
      assertChained(events, `round ${round}`);
      const user = await roster.request('GET', `${USERS}/${id}`);
      assert.deepEqual(events.at(-1)?.data, user.body);
      assert.equal(patched.body.active, events[0]?.type === 'user.updated', `round ${round}: the PATCH answered a user it did not see`);
    }
  });
});
