/**
 * The admin API keeps an administrator (docs/managed-mode.md): the last one, an administrator
 * through the administrators' group, cannot rename or delete that group nor leave it, and is
 * told so in deactivation's words.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { LAST_ADMINISTRATOR_GROUP_MESSAGE } from '../../src/errors.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';

const MERGE_PATCH = { 'content-type': 'application/merge-patch+json' };
const JSON_BODY = { 'content-type': 'application/json' };

eachDatabase('the admin API and the last administrator', (database) => {
  let roster: TestApp;
  let miaToken = '';
  let groupId = '';
  let membershipId = '';

  before(async () => {
    roster = await startTestApp({ database, scim: false });
    const mia = await roster.request('POST', '/api/v2/users-management/users', { login: 'mia', name: 'Mia', password: 'a long local password' }, JSON_BODY);
    assert.equal(mia.status, 200);
    const group = await roster.request('POST', '/api/v2/authorizations/groups', { name: 'roster-administrators' }, JSON_BODY);
    groupId = group.body.id;
    const membership = await roster.request('POST', '/api/v2/authorizations/group-memberships', { groupId, userId: mia.body.id }, JSON_BODY);
    assert.equal(membership.status, 201);
    membershipId = membership.body.id;
    miaToken = await roster.tokenFor(mia.body.id, 'mia');
    // mia deactivates admin: she is the last administrator.
    assert.equal((await roster.request('DELETE', `/api/v2/users-management/users/${roster.adminId}`, undefined, { authorization: `Bearer ${miaToken}` })).status, 204);
  });
  after(() => roster.close());

  test('renaming or deleting the administrators\' group, or removing its last administrator, answers 400 and changes nothing', async () => {
    const asMia = { authorization: `Bearer ${miaToken}` };
    const rename = await roster.request('PATCH', `/api/v2/authorizations/groups/${groupId}`, { name: 'renamed' }, { ...asMia, ...MERGE_PATCH });
    assert.equal(rename.status, 400);
    assert.deepEqual(rename.body, { message: LAST_ADMINISTRATOR_GROUP_MESSAGE });
    const remove = await roster.request('DELETE', `/api/v2/authorizations/group-memberships/${membershipId}`, undefined, asMia);
    assert.equal(remove.status, 400);
    assert.deepEqual(remove.body, { message: LAST_ADMINISTRATOR_GROUP_MESSAGE });
    const deleted = await roster.request('DELETE', `/api/v2/authorizations/groups/${groupId}`, undefined, asMia);
    assert.equal(deleted.status, 400);
    assert.deepEqual(deleted.body, { message: LAST_ADMINISTRATOR_GROUP_MESSAGE });
    // mia is still an administrator: her token still reads the admin API.
    const still = await roster.request('GET', '/api/v2/users-management/users', undefined, asMia);
    assert.equal(still.status, 200);
    assert.equal((await roster.request('GET', `/api/v2/authorizations/groups/${groupId}`, undefined, asMia)).body.name, 'roster-administrators');
  });
});
