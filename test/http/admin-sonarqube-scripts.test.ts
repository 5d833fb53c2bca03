/**
 * Requests as scripts and clients written for SonarQube's Web API v2 send them. The filters of
 * its lists (UsersSearchRestRequest, GroupsSearchRestRequest) are applied, or refused when
 * Roster has nothing to apply them to, never ignored, since ignoring one answers every user
 * instead; its other habits (booleans, Basic tokens, null fields) get SonarQube's answer or
 * a message that says what to send instead.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eachDatabase } from '../support/databases.ts';
import { startTestApp, type TestApp } from '../support/app.ts';

const USERS = '/api/v2/users-management/users';
const GROUPS = '/api/v2/authorizations/groups';

eachDatabase('admin API as SonarQube\'s scripts call it', (database) => {
  describe('GET users and groups', () => {
    let roster: TestApp;
    const ids: Record<string, string> = {};
    const idOf = (login: string): string => {
      const id = ids[login];
      assert.ok(id !== undefined, login);
      return id;
    };
    let groupId = '';
    before(async () => {
      roster = await startTestApp({ database, scim: false });
      ids['admin'] = roster.adminId;
      for (const login of ['ada', 'Bob', 'cy']) {
        const created = await roster.request('POST', USERS, { login, name: login, local: false });
        assert.equal(created.status, 200);
        ids[login] = created.body.id;
      }
      const db = roster.services.store.db;
      await db.updateTable('users').set({ last_connection_at: '2025-01-01T10:00:00.000Z' }).where('id', '=', idOf('ada')).execute();
      await db.updateTable('users').set({ last_connection_at: '2025-03-01T10:00:00.000Z' }).where('id', '=', idOf('Bob')).execute();
      const group = await roster.request('POST', GROUPS, { name: 'ops' });
      groupId = group.body.id;
      await roster.request('POST', GROUPS, { name: 'qa' });
      assert.equal((await roster.request('POST', '/api/v2/authorizations/group-memberships', { groupId, userId: idOf('ada') })).status, 201);
    });
    after(async () => {
      await roster.close();
    });

    const logins = async (query: string): Promise<string[]> => {
      const answer = await roster.request('GET', `${USERS}?${query}`);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.page.total, answer.body.users.length);
      return answer.body.users.map((user: { login: string }) => user.login);
    };

    test('GET users?externalIdentity= finds the user of that external login exactly, case included', async () => {
      assert.deepEqual(await logins('externalIdentity=Bob'), ['Bob']);
      assert.deepEqual(await logins('externalIdentity=bob'), []);
      assert.deepEqual(await logins('externalIdentity=b'), []);
    });

    test('GET users?sonarQubeLastConnectionDateFrom/To= filter on the last sign-in, To keeping those who never signed in', async () => {
      assert.deepEqual(await logins('sonarQubeLastConnectionDateFrom=2025-02-01T00:00:00%2B0100'), ['Bob']);
      assert.deepEqual(await logins('sonarQubeLastConnectionDateFrom=2025-01-01T10:00:00Z'), ['ada', 'Bob'], 'at or after');
      assert.deepEqual(await logins('sonarQubeLastConnectionDateTo=2025-02-01'), ['ada', 'admin', 'cy']);
      assert.deepEqual(await logins('sonarQubeLastConnectionDateTo=2025-03-01T11:00:00%2B0100'), ['ada', 'admin', 'Bob', 'cy'], 'at or before');
      assert.deepEqual(await logins('sonarQubeLastConnectionDateFrom=2025-01-01&sonarQubeLastConnectionDateTo=2025-02-01'), ['ada']);
      const wrong = await roster.request('GET', `${USERS}?sonarQubeLastConnectionDateFrom=yesterday`);
      assert.equal(wrong.status, 400);
      assert.match(wrong.body.message, /^Value yesterday for field sonarQubeLastConnectionDateFrom was rejected/);
    });

    test('GET users?groupId= and groupId!= keep the members of a group, or the others', async () => {
      assert.deepEqual(await logins(`groupId=${groupId}`), ['ada']);
      assert.deepEqual(await logins(`groupId!=${groupId}`), ['admin', 'Bob', 'cy']);
      assert.deepEqual(await logins(`groupId!=${groupId}&q=b`), ['Bob']);
    });

    test('GET users?sonarLintLastConnectionDateFrom= is refused: Roster has no SonarLint connections', async () => {
      for (const name of ['sonarLintLastConnectionDateFrom', 'sonarLintLastConnectionDateTo']) {
        const answer = await roster.request('GET', `${USERS}?${name}=2025-01-01`);
        assert.equal(answer.status, 400);
        assert.match(answer.body.message, new RegExp(`^Value 2025-01-01 for field ${name} was rejected\\. Error: is not supported: Roster records no SonarLint connections`));
      }
    });

    test('GET groups?userId!= keeps the groups the user is not a member of', async () => {
      const answer = await roster.request('GET', `${GROUPS}?userId!=${idOf('ada')}`);
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.body.groups.map((group: { name: string }) => group.name), ['qa']);
      assert.equal(answer.body.page.total, 1);
      const other = await roster.request('GET', `${GROUPS}?userId!=${idOf('cy')}`);
      assert.deepEqual(other.body.groups.map((group: { name: string }) => group.name), ['ops', 'qa']);
    });

    test('boolean parameters read as SonarQube reads them: True (Python\'s requests), 1, yes, on', async () => {
      assert.equal((await roster.request('DELETE', `${USERS}/${idOf('cy')}`)).status, 204);
      for (const word of ['False', 'FALSE', '0', 'no', 'off']) assert.deepEqual(await logins(`active=${word}`), ['cy'], word);
      for (const word of ['True', 'TRUE', '1', 'yes', 'on']) assert.deepEqual(await logins(`active=${word}`), ['ada', 'admin', 'Bob'], word);
      const wrong = await roster.request('GET', `${USERS}?active=maybe`);
      assert.deepEqual([wrong.status, wrong.body], [400, { message: 'Value maybe for field active was rejected. Error: must be true or false.' }]);
    });
  });

  describe('requests as SonarQube\'s clients send them', () => {
    let roster: TestApp;
    before(async () => {
      roster = await startTestApp({ database, scim: false });
    });
    after(async () => {
      await roster.close();
    });

    test('HTTP Basic with the token as login (curl -u TOKEN:) is a 401 that says to send it as a bearer token', async () => {
      const basic = `Basic ${Buffer.from(`${roster.token}:`).toString('base64')}`;
      const answer = await roster.app.inject({ method: 'GET', url: USERS, headers: { authorization: basic } });
      assert.equal(answer.statusCode, 401);
      assert.match(JSON.parse(answer.body).message, /send the token as "Authorization: Bearer <token>".*not take tokens as HTTP Basic credentials \(curl -u TOKEN:\)/);
      const bearer = await roster.app.inject({ method: 'GET', url: USERS, headers: { authorization: `Bearer ${roster.token}` } });
      assert.equal(bearer.statusCode, 200);
    });

    test('POST users with local: null, as a client generated from SonarQube\'s description sends an unset field, creates a local user', async () => {
      const created = await roster.request('POST', USERS, { login: 'gen', name: 'Generated', email: null, local: null, password: 'correct horse battery' }, { 'content-type': 'application/json' });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      assert.equal(created.body.local, true);
      const noPassword = await roster.request('POST', USERS, { login: 'gen2', name: 'Generated', local: null, password: null }, { 'content-type': 'application/json' });
      assert.deepEqual([noPassword.status, noPassword.body], [400, { message: 'Value {} for field password was rejected. Error: must not be null.' }]);
    });

    test('scmAccounts, which SonarQube\'s clients send with every user, is accepted when it names none', async () => {
      const json = { 'content-type': 'application/json' };
      for (const [login, scmAccounts] of [['scm1', null], ['scm2', []]] as const) {
        const created = await roster.request('POST', USERS, { login, name: login, local: false, scmAccounts }, json);
        assert.equal(created.status, 200, JSON.stringify(created.body));
        assert.equal(created.body.login, login);
        const patched = await roster.request('PATCH', `${USERS}/${created.body.id}`, { name: `${login} renamed`, scmAccounts }, { 'content-type': 'application/merge-patch+json' });
        assert.deepEqual([patched.status, patched.body.name], [200, `${login} renamed`]);
      }
      const named = await roster.request('POST', USERS, { login: 'scm3', name: 'scm3', local: false, scmAccounts: ['scm3@git'] }, json);
      assert.deepEqual([named.status, named.body], [400, { message: 'Value scm3@git for field scmAccounts was rejected. Error: must be empty: Roster keeps no SCM accounts.' }]);
      assert.equal((await roster.request('GET', `${USERS}?externalIdentity=scm3`)).body.page.total, 0);
    });
  });
});
