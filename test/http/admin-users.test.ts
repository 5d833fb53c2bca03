import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eachDatabase } from '../support/databases.ts';
import { startTestApp, userBody, type TestApp } from '../support/app.ts';

const USERS = '/api/v2/users-management/users';
const MANAGED = 'Operation not allowed when the instance is externally managed.';
const MERGE_PATCH = { 'content-type': 'application/merge-patch+json' };

eachDatabase('admin API /api/v2/users-management/users', (database) => {
  describe('in just-in-time mode', () => {
    let roster: TestApp;
    before(async () => {
      roster = await startTestApp({ database, scim: false });
    });
    after(async () => {
      await roster.close();
    });

    test('POST creates a local user: 200 with the SonarQube shape, no password anywhere', async () => {
      const created = await roster.request('POST', USERS, { login: 'ada', name: 'Ada Lovelace', email: 'ada@example.com', password: 'correct horse battery', local: true });
      assert.equal(created.status, 200);
      assert.deepEqual(Object.keys(created.body).sort(), [
        'active', 'email', 'externalId', 'externalLogin', 'externalProvider', 'id', 'local', 'login', 'managed', 'name', 'sonarQubeLastConnectionDate',
      ]);
      assert.equal(created.body.login, 'ada');
      assert.equal(created.body.active, true);
      assert.equal(created.body.local, true);
      assert.equal(created.body.managed, false);
      assert.ok(!JSON.stringify(created.body).includes('horse'));
      const fetched = await roster.request('GET', `${USERS}/${created.body.id}`);
      assert.deepEqual(fetched.body, created.body);
      const row = await roster.services.store.db.selectFrom('users').select('password_hash').where('id', '=', created.body.id).executeTakeFirstOrThrow();
      assert.match(row.password_hash ?? '', /^scrypt\$/);
      const events = await roster.services.store.db.selectFrom('audit_events').select('details').execute();
      assert.ok(events.every((event) => !(event.details ?? '').includes('horse') && !(event.details ?? '').includes('scrypt$')));
    });

    test('validation errors are 400 {"message"} naming the field', async () => {
      const missing = await roster.request('POST', USERS, { name: 'No Login', password: 'correct horse battery' });
      assert.equal(missing.status, 400);
      assert.deepEqual(missing.body, { message: 'Value {} for field login was rejected. Error: must not be null.' });
      // Several wrong fields: the API still names the first, in SonarQube's words (the console marks them all).
      const several = await roster.request('POST', USERS, { login: 'two words', name: 'Two', email: 'bad', password: 'correct horse battery' });
      assert.deepEqual([several.status, several.body], [400, { message: 'Value two words for field login was rejected. Error: must not contain spaces or control characters.' }]);
      const shortPassword = await roster.request('POST', USERS, { login: 'bob', name: 'Bob', password: 'short' });
      assert.equal(shortPassword.status, 400);
      assert.match(shortPassword.body.message, /field password/);
      const taken = await roster.request('POST', USERS, { login: 'ADA', name: 'Other', password: 'correct horse battery' });
      assert.equal(taken.status, 409);
      assert.match(taken.body.message, /already exists/);
    });

    test('GET lists with q, active, paging; managed is refused while SCIM is off', async () => {
      for (const login of ['carol', 'dave', 'erin']) {
        const created = await roster.request('POST', USERS, { login, name: `${login} Example`, email: `${login}@corp.example`, local: false });
        assert.equal(created.status, 200);
      }
      const all = await roster.request('GET', `${USERS}?pageSize=2`);
      assert.equal(all.status, 200);
      assert.equal(all.body.users.length, 2);
      assert.deepEqual(all.body.page, { pageIndex: 1, pageSize: 2, total: 5 });
      const second = await roster.request('GET', `${USERS}?pageSize=2&pageIndex=3`);
      assert.equal(second.body.users.length, 1);
      const corp = await roster.request('GET', `${USERS}?q=CORP.EX`);
      assert.deepEqual(corp.body.users.map((user: { login: string }) => user.login), ['carol', 'dave', 'erin']);
      const wildcard = await roster.request('GET', `${USERS}?q=%25`);
      assert.equal(wildcard.body.page.total, 0, 'LIKE wildcards are matched literally');
      const managed = await roster.request('GET', `${USERS}?managed=true`);
      assert.equal(managed.status, 400);
      assert.match(managed.body.message, /managed/);
      const tooBig = await roster.request('GET', `${USERS}?pageSize=100000`);
      assert.equal(tooBig.status, 400);
    });

    test('GET pages by login: every page, near the start or the end, is its slice of the whole list', async () => {
      // Pages past the middle are read backwards from the end (store/users.ts listAccounts).
      for (const login of ['Pia', 'quinn', 'Rob', 'sam.b', 'sam.a', 'Tess', 'ulla']) {
        assert.equal((await roster.request('POST', USERS, { login, name: `${login} Paging`, email: `${login}@paging.example`, local: false })).status, 200);
      }
      const logins = (body: { users: Array<{ login: string }> }) => body.users.map((user) => user.login);
      for (const filter of ['', '&q=paging', '&active=true']) {
        const whole = await roster.request('GET', `${USERS}?pageSize=500${filter}`);
        const every = logins(whole.body);
        assert.deepEqual(every, [...every].sort((a, b) => (a.toLowerCase() < b.toLowerCase() ? -1 : 1)), 'by login regardless of case');
        assert.equal(whole.body.page.total, every.length);
        for (const pageSize of [1, 2, 3, 5]) {
          const pages = Math.ceil(every.length / pageSize);
          for (let pageIndex = 1; pageIndex <= pages + 1; pageIndex += 1) {
            const page = await roster.request('GET', `${USERS}?pageSize=${pageSize}&pageIndex=${pageIndex}${filter}`);
            assert.equal(page.status, 200);
            assert.deepEqual(logins(page.body), every.slice((pageIndex - 1) * pageSize, pageIndex * pageSize), `${filter} pageSize ${pageSize} page ${pageIndex}`);
            assert.equal(page.body.page.total, every.length);
          }
        }
      }
    });

    test('PATCH (merge-patch) changes login, name and email; unknown id is 404', async () => {
      const { body: user } = await roster.request('GET', `${USERS}?q=carol`).then((r) => ({ body: r.body.users[0] }));
      const patched = await roster.request('PATCH', `${USERS}/${user.id}`, { login: 'caroline', email: null }, MERGE_PATCH);
      assert.equal(patched.status, 200);
      assert.equal(patched.body.login, 'caroline');
      assert.equal(patched.body.email, null);
      assert.equal(patched.body.name, 'carol Example');
      const missing = await roster.request('GET', `${USERS}/nope`);
      assert.equal(missing.status, 404);
      assert.deepEqual(Object.keys(missing.body), ['message']);
    });

    test('DELETE deactivates (204) and removes memberships, tokens and sessions; self-deactivation is refused', async () => {
      const user = (await roster.request('GET', `${USERS}?q=dave`)).body.users[0];
      const group = await roster.request('POST', '/api/v2/authorizations/groups', { name: 'ops' });
      assert.equal(group.status, 201);
      assert.equal((await roster.request('POST', '/api/v2/authorizations/group-memberships', { groupId: group.body.id, userId: user.id })).status, 201);
      const token = await roster.tokenFor(user.id, 'dave-script');
      const now = new Date().toISOString();
      await roster.services.store.db.insertInto('sessions').values({ id: 'session-dave', user_id: user.id, created_at: now, last_seen_at: now, expires_at: now }).execute();

      assert.equal((await roster.request('DELETE', `${USERS}/${user.id}`)).status, 204);
      const after = await roster.request('GET', `${USERS}/${user.id}`);
      assert.equal(after.body.active, false);
      const memberships = await roster.request('GET', `/api/v2/authorizations/group-memberships?userId=${user.id}`);
      assert.equal(memberships.body.page.total, 0);
      assert.equal(await roster.services.tokens.verify(token), undefined);
      const sessions = await roster.services.store.db.selectFrom('sessions').select('id').where('user_id', '=', user.id).execute();
      assert.deepEqual(sessions, []);
      const inactive = await roster.request('GET', `${USERS}?active=false`);
      assert.deepEqual(inactive.body.users.map((u: { login: string }) => u.login), ['dave']);
      const event = (await roster.request('GET', `/api/v2/audit-logs?targetType=user&targetId=${user.id}&pageSize=1`)).body.auditLogs[0];
      assert.equal(event.action, 'user.deactivated');
      const { memberships: outcome, removedFromGroups, keptGroups, revokedTokens, deletedSessions } = event.details;
      assert.deepEqual({ outcome, removedFromGroups, keptGroups, revokedTokens: revokedTokens.length, deletedSessions }, {
        outcome: 'removed',
        removedFromGroups: [group.body.id],
        keptGroups: undefined,
        revokedTokens: 1,
        deletedSessions: 1,
      });

      const self = await roster.request('DELETE', `${USERS}/${roster.adminId}`);
      assert.equal(self.status, 400);
      assert.deepEqual(self.body, { message: 'Self-deactivation is not possible' });
    });

    test('POST with the login of a deactivated user reactivates it (same id), without its old groups', async () => {
      const old = (await roster.request('GET', `${USERS}?q=dave`)).body.users[0];
      const again = await roster.request('POST', USERS, { login: 'dave', name: 'Dave Again', local: false });
      assert.equal(again.status, 200);
      assert.equal(again.body.id, old.id);
      assert.equal(again.body.active, true);
      const memberships = await roster.request('GET', `/api/v2/authorizations/group-memberships?userId=${old.id}`);
      assert.equal(memberships.body.page.total, 0);
    });

    test('a local user deactivated and created again as a SAML user loses its old password', async () => {
      const created = await roster.request('POST', USERS, { login: 'olga', name: 'Olga', password: 'old password of olga' });
      assert.equal(created.status, 200);
      assert.equal((await roster.request('DELETE', `${USERS}/${created.body.id}`)).status, 204);
      const again = await roster.request('POST', USERS, { login: 'olga', name: 'Olga via SAML', local: false });
      assert.equal(again.status, 200);
      assert.equal(again.body.id, created.body.id);
      assert.equal(again.body.local, false);
      assert.notEqual(again.body.externalProvider, 'roster');
      const row = await roster.services.store.db.selectFrom('users').select(['password_hash', 'local']).where('id', '=', created.body.id).executeTakeFirstOrThrow();
      assert.deepEqual(row, { password_hash: null, local: 0 });
    });

    test('a non-administrator token gets 403 Insufficient privileges; a deactivated owner\'s token 401 at once', async () => {
      const user = (await roster.request('GET', `${USERS}?q=erin`)).body.users[0];
      const token = await roster.tokenFor(user.id, 'erin-script');
      const refused = await roster.request('GET', USERS, undefined, { authorization: `Bearer ${token}` });
      assert.equal(refused.status, 403);
      assert.deepEqual(refused.body, { message: 'Insufficient privileges' });
      const scim = await roster.request('GET', '/api/scim_management/status', undefined, { authorization: `Bearer ${token}` });
      assert.equal(scim.status, 403);
      const none = await roster.app.inject({ method: 'GET', url: USERS });
      assert.equal(none.statusCode, 401);
      assert.ok(JSON.parse(none.body).message);
    });
  });

  describe('while SCIM is on', () => {
    let roster: TestApp;
    let localId: string;
    let managedId: string;
    before(async () => {
      roster = await startTestApp({ database, scim: false });
      localId = (await roster.request('POST', USERS, { login: 'local.lou', name: 'Lou', password: 'correct horse battery' })).body.id;
      await roster.services.provisioning.enable({ kind: 'cli' });
      const scimUser = await roster.request('POST', '/Users', userBody('managed.mia@example.com', { displayName: 'Mia' }));
      assert.equal(scimUser.status, 201);
      managedId = (await roster.request('GET', `${USERS}?q=managed.mia`)).body.users[0].id;
    });
    after(async () => {
      await roster.close();
    });

    test('users are listed with their managed flag, and managed filters', async () => {
      const managed = await roster.request('GET', `${USERS}?managed=true`);
      assert.deepEqual(managed.body.users.map((u: { login: string }) => u.login), ['managed.mia@example.com']);
      assert.equal(managed.body.users[0].managed, true);
      assert.equal(managed.body.users[0].local, false);
      assert.equal(managed.body.page.total, 1);
      const local = await roster.request('GET', `${USERS}?managed=false`);
      assert.deepEqual(local.body.users.map((u: { login: string }) => u.login).sort(), ['admin', 'local.lou']);
      assert.equal(local.body.page.total, 2);
      const lastLocal = await roster.request('GET', `${USERS}?managed=false&pageSize=1&pageIndex=2`);
      assert.deepEqual(lastLocal.body.users.map((u: { login: string }) => u.login), ['local.lou']);
    });

    test('creating users and changing a login or identity provider are refused with SonarQube\'s message', async () => {
      const create = await roster.request('POST', USERS, { login: 'new', name: 'New', password: 'correct horse battery' });
      assert.equal(create.status, 400);
      assert.deepEqual(create.body, { message: MANAGED });
      for (const patch of [{ login: 'lou2' }, { externalProvider: 'other' }, { externalLogin: 'x' }, { externalId: 'x' }]) {
        const response = await roster.request('PATCH', `${USERS}/${localId}`, patch, MERGE_PATCH);
        assert.equal(response.status, 400, JSON.stringify(patch));
        assert.deepEqual(response.body, { message: MANAGED });
      }
      const managedEdit = await roster.request('PATCH', `${USERS}/${managedId}`, { name: 'Renamed' }, MERGE_PATCH);
      assert.deepEqual(managedEdit.body, { message: MANAGED });
    });

    test('a local user\'s name may still change', async () => {
      const response = await roster.request('PATCH', `${USERS}/${localId}`, { name: 'Lou Local' }, MERGE_PATCH);
      assert.equal(response.status, 200);
      assert.equal(response.body.name, 'Lou Local');
    });

    test('deactivating a managed user is refused; a local one is allowed', async () => {
      const managed = await roster.request('DELETE', `${USERS}/${managedId}`);
      assert.equal(managed.status, 400);
      assert.deepEqual(managed.body, { message: MANAGED });
      assert.equal((await roster.request('DELETE', `${USERS}/${localId}`)).status, 204);
    });

    test('tokens of a managed user may still be created and revoked', async () => {
      const token = await roster.tokenFor(managedId, 'mia-token');
      assert.ok(await roster.services.tokens.verify(token));
      assert.equal(await roster.services.tokens.revoke('mia-token', { kind: 'cli' }), true);
    });
  });
});
