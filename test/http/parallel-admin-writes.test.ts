/**
 * Admin API writes sent at the same time, as by two instances on one database: each check a
 * write makes (the user is active, the group exists, the membership is not there yet) still
 * holds when it writes, so parallel requests end as the same requests one after the other
 * would. On PostgreSQL (READ COMMITTED) the requests go through two instances, each with its
 * own connections; on SQLite through one, whose writes are serialised anyway.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { HTTPMethods } from 'fastify';
import { secondInstance, startTestApp, type TestApp, type TestResponse } from '../support/app.ts';
import { eachDatabase, type TestDatabase } from '../support/databases.ts';
import { DEFAULT_ADMIN_GROUP } from '../../src/directory/access.ts';

const USERS = '/api/v2/users-management/users';
const GROUPS = '/api/v2/authorizations/groups';
const MEMBERSHIPS = '/api/v2/authorizations/group-memberships';
const ROUNDS = 10;

eachDatabase('admin API writes in parallel', (database) => {
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

  /** Sends `count` copies of a request at once, alternately through each instance. */
  function inParallel(count: number, method: HTTPMethods, url: string, body?: unknown): Promise<TestResponse[]> {
    return Promise.all(Array.from({ length: count }, (_, i) => (i % 2 === 0 ? roster.request(method, url, body) : second.request(method, url, body))));
  }

  async function newUser(): Promise<string> {
    serial += 1;
    const created = await roster.request('POST', USERS, { login: `racer${serial}`, name: `Racer ${serial}`, password: 'correct horse battery', local: true });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    return created.body.id;
  }

  async function newGroup(): Promise<string> {
    serial += 1;
    const created = await roster.request('POST', GROUPS, { name: `race-${serial}` });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    return created.body.id;
  }

  /** The feed's events of `type` about `id` (a user, a group), read from the database. */
  async function events(type: string, id: string): Promise<number> {
    const rows = await roster.services.store.db.selectFrom('events').select('data').where('type', '=', type).execute();
    return rows.filter((row) => row.data.includes(`"${id}"`)).length;
  }

  async function audit(targetType: string, targetId: string, action: string): Promise<number> {
    const page = await roster.request('GET', `/api/v2/audit-logs?targetType=${targetType}&targetId=${encodeURIComponent(targetId)}&pageSize=100`);
    assert.equal(page.status, 200, JSON.stringify(page.body));
    return page.body.auditLogs.filter((entry: { action: string }) => entry.action === action).length;
  }

  const statuses = (answers: readonly TestResponse[]): number[] => answers.map((answer) => answer.status).sort();

  test('POST group-memberships beside DELETE of its user: never a deactivated member, never an addition after the deactivation', async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const userId = await newUser();
      const groupId = await newGroup();
      const [added, deactivated] = await Promise.all([roster.request('POST', MEMBERSHIPS, { groupId, userId }), second.request('DELETE', `${USERS}/${userId}`)]);
      assert.equal(deactivated.status, 204);
      assert.ok(added.status === 201 || added.status === 400, `round ${round}: ${added.status} ${JSON.stringify(added.body)}`);
      const user = await roster.request('GET', `${USERS}/${userId}`);
      assert.equal(user.body.active, false);
      const members = await roster.request('GET', `${MEMBERSHIPS}?userId=${userId}`);
      assert.equal(members.body.page.total, 0, `round ${round}: a deactivated user is a member (POST answered ${added.status})`);
      const feed = await roster.services.store.db.selectFrom('events').select(['type', 'tx', 'id']).where('user_id', '=', userId).orderBy('tx').orderBy('id').execute();
      const types = feed.map((event) => event.type);
      // The user's own events name it too (migration 028): the addition, if any, comes before the deactivation, whose removal precedes it.
      assert.deepEqual(types, added.status === 201 ? ['user.created', 'group.user_added', 'group.user_removed', 'user.deactivated'] : ['user.created', 'user.deactivated'], `round ${round}`);
    }
  });

  test('POST group-memberships beside DELETE of its group answers 404, not 500', async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const userId = await newUser();
      const groupId = await newGroup();
      const [added, deleted] = await Promise.all([roster.request('POST', MEMBERSHIPS, { groupId, userId }), second.request('DELETE', `${GROUPS}/${groupId}`)]);
      assert.equal(deleted.status, 204);
      assert.ok(added.status === 201 || added.status === 404, `round ${round}: ${added.status} ${JSON.stringify(added.body)}`);
      if (added.status === 404) assert.equal(added.body.message, `Group '${groupId}' not found`);
      assert.equal((await roster.request('GET', `${MEMBERSHIPS}?userId=${userId}`)).body.page.total, 0);
    }
  });

  test('the same POST group-memberships ten times at once: one 201, nine 409, one audit entry and one event', async () => {
    for (let round = 0; round < ROUNDS / 2; round += 1) {
      const userId = await newUser();
      const groupId = await newGroup();
      const answers = await inParallel(10, 'POST', MEMBERSHIPS, { groupId, userId });
      assert.deepEqual(statuses(answers), [201, ...Array<number>(9).fill(409)], `round ${round}: ${JSON.stringify(answers.map((a) => a.body))}`);
      const id = answers.find((answer) => answer.status === 201)?.body.id;
      assert.equal(await audit('membership', id, 'membership.added'), 1);
      assert.equal(await events('group.user_added', userId), 1);
    }
  });

  test('the same DELETE of a user five times at once: all 204, one deactivation (one event, one audit entry, one version)', async () => {
    for (let round = 0; round < ROUNDS / 2; round += 1) {
      const userId = await newUser();
      const version = async () => (await roster.services.store.db.selectFrom('users').select('version').where('id', '=', userId).executeTakeFirstOrThrow()).version;
      const before = await version();
      const answers = await inParallel(5, 'DELETE', `${USERS}/${userId}`);
      // Deactivating an inactive user changes nothing and is no error (docs/api.md).
      assert.deepEqual(statuses(answers), [204, 204, 204, 204, 204]);
      assert.equal(await events('user.deactivated', userId), 1, `round ${round}`);
      assert.equal(await audit('user', userId, 'user.deactivated'), 1, `round ${round}`);
      assert.equal(await version(), before + 1);
    }
  });

  test('the same DELETE of a group five times at once: one 204, four 404, one group.deleted', async () => {
    for (let round = 0; round < ROUNDS / 2; round += 1) {
      const groupId = await newGroup();
      const answers = await inParallel(5, 'DELETE', `${GROUPS}/${groupId}`);
      assert.deepEqual(statuses(answers), [204, 404, 404, 404, 404], `round ${round}: ${JSON.stringify(answers.map((a) => a.body))}`);
      for (const answer of answers.filter((a) => a.status === 404)) assert.equal(answer.body.message, `Group '${groupId}' not found`);
      assert.equal(await events('group.deleted', groupId), 1, `round ${round}`);
      assert.equal(await audit('group', groupId, 'group.deleted'), 1, `round ${round}`);
    }
  });

  test('DELETE of the administrators\' group beside a rename of one of its members: 204 and 200, never a 500 (deadlock)', async () => {
    for (let round = 0; round < ROUNDS / 2; round += 1) {
      const group = await roster.request('POST', GROUPS, { name: DEFAULT_ADMIN_GROUP });
      assert.equal(group.status, 201, JSON.stringify(group.body));
      const userId = await newUser();
      assert.equal((await roster.request('POST', MEMBERSHIPS, { groupId: group.body.id, userId })).status, 201);
      const [deleted, renamed] = await Promise.all([roster.request('DELETE', `${GROUPS}/${group.body.id}`), second.request('PATCH', `${USERS}/${userId}`, { name: `Admin ${serial}` })]);
      assert.deepEqual([deleted.status, renamed.status], [204, 200], `round ${round}: ${JSON.stringify([deleted.body, renamed.body])}`);
    }
  });

  test('the same DELETE of a membership five times at once: one 204, four 404 as a later request, one audit entry and one event', async () => {
    for (let round = 0; round < ROUNDS / 2; round += 1) {
      const userId = await newUser();
      const groupId = await newGroup();
      const added = await roster.request('POST', MEMBERSHIPS, { groupId, userId });
      assert.equal(added.status, 201);
      const answers = await inParallel(5, 'DELETE', `${MEMBERSHIPS}/${added.body.id}`);
      assert.deepEqual(statuses(answers), [204, 404, 404, 404, 404], `round ${round}: ${JSON.stringify(answers.map((a) => a.body))}`);
      const later = await roster.request('DELETE', `${MEMBERSHIPS}/${added.body.id}`);
      assert.equal(later.status, 404);
      for (const answer of answers.filter((a) => a.status === 404)) assert.deepEqual(answer.body, later.body);
      assert.equal(await audit('membership', added.body.id, 'membership.removed'), 1, `round ${round}`);
      assert.equal(await events('group.user_removed', userId), 1, `round ${round}`);
    }
  });
});
