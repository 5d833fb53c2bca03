import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eachDatabase } from '../support/databases.ts';
import { startTestApp, type TestApp } from '../support/app.ts';

const LOGS = '/api/v2/audit-logs';

eachDatabase('GET /api/v2/audit-logs', (database) => {
  let roster: TestApp;
  let startedAt: string;
  before(async () => {
    roster = await startTestApp({ database, scim: false });
    startedAt = new Date().toISOString();
    const group = (await roster.request('POST', '/api/v2/authorizations/groups', { name: 'auditors' })).body;
    await roster.request('POST', '/api/v2/authorizations/group-memberships', { groupId: group.id, userId: roster.adminId });
    await roster.request('PATCH', `/api/v2/authorizations/groups/${group.id}`, { description: 'they read logs' }, { 'content-type': 'application/merge-patch+json' });
  });
  after(async () => {
    await roster.close();
  });

  test('lists newest first with paging, and oldest first with sort=seq', async () => {
    const newest = await roster.request('GET', `${LOGS}?pageSize=2`);
    assert.equal(newest.status, 200);
    assert.equal(newest.body.auditLogs.length, 2);
    assert.equal(newest.body.auditLogs[0].action, 'group.updated');
    assert.ok(newest.body.auditLogs[0].seq > newest.body.auditLogs[1].seq);
    assert.deepEqual(newest.body.page.pageSize, 2);
    const oldest = await roster.request('GET', `${LOGS}?sort=seq&pageSize=1`);
    assert.equal(oldest.body.auditLogs[0].action, 'setting.changed');
  });

  test('records the token name and its user, and the change before and after', async () => {
    const page = await roster.request('GET', `${LOGS}?actor=admin&targetType=group`);
    assert.deepEqual(page.body.auditLogs.map((e: { action: string }) => e.action), ['group.updated', 'group.created']);
    const updated = page.body.auditLogs[0];
    assert.equal(updated.actor, 'token:test-idp');
    assert.equal(updated.actorUser, 'admin');
    assert.deepEqual(updated.details.after, { name: 'auditors', description: 'they read logs' });
    const byToken = await roster.request('GET', `${LOGS}?actor=token:test-idp&targetType=membership`);
    assert.equal(byToken.body.page.total, 1);
    assert.equal(byToken.body.auditLogs[0].details.userId, roster.adminId);
  });

  test('filters on a time range and rejects malformed filters', async () => {
    const since = await roster.request('GET', `${LOGS}?from=${encodeURIComponent(startedAt)}`);
    assert.equal(since.body.page.total, 3);
    const before = await roster.request('GET', `${LOGS}?to=${encodeURIComponent(startedAt)}`);
    assert.ok(before.body.auditLogs.every((e: { at: string }) => e.at < startedAt));
    const bad = await roster.request('GET', `${LOGS}?from=yesterday`);
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /field from/);
    assert.equal((await roster.request('GET', `${LOGS}?targetType=planet`)).status, 400);
  });

  test('a deactivation and a group deletion record the attributes before and after', async () => {
    const user = (await roster.request('POST', '/api/v2/users-management/users', { login: 'gone', name: 'Gone', local: false })).body;
    await roster.request('DELETE', `/api/v2/users-management/users/${user.id}`);
    const deactivated = (await roster.request('GET', `${LOGS}?targetId=${user.id}`)).body.auditLogs[0];
    assert.equal(deactivated.action, 'user.deactivated');
    assert.deepEqual([deactivated.details.before.active, deactivated.details.after.active], [true, false]);
    const group = (await roster.request('POST', '/api/v2/authorizations/groups', { name: 'short-lived', description: 'soon gone' })).body;
    await roster.request('DELETE', `/api/v2/authorizations/groups/${group.id}`);
    const deleted = (await roster.request('GET', `${LOGS}?targetId=${group.id}`)).body.auditLogs[0];
    assert.equal(deleted.action, 'group.deleted');
    assert.deepEqual(deleted.details.before, { name: 'short-lived', description: 'soon gone' });
  });

  test('the bootstrap administrator is created by the system, without its password', async () => {
    const created = await roster.request('GET', `${LOGS}?targetId=${roster.adminId}`);
    assert.equal(created.body.auditLogs[0].actor, 'system');
    assert.equal(created.body.auditLogs[0].action, 'user.created');
    assert.ok(!JSON.stringify(created.body).includes('scrypt'));
  });
});
