/**
 * A browser session ends when its user becomes an administrator or stops being one (OWASP:
 * renew the session id on any privilege change; auth/sessions.ts says why it ends rather than
 * being renewed at its next request), by whatever path the rights changed: SCIM group
 * membership, the admin API, a rename of the administrators' group. A new sign-in gets a new
 * session with the new rights; a session whose rights did not change is untouched.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { buildApp } from '../../src/http/app.ts';
import { createServices } from '../../src/services.ts';
import { openStore } from '../../src/store/index.ts';
import { BASE_URL, groupBody, SCIM, SESSION_COOKIE, startTestApp, userBody, type TestApp } from '../support/app.ts';
import { sessionFor, setCookieOf, type ConsoleSession } from '../support/console.ts';
import { eachDatabase } from '../support/databases.ts';
import { signIn } from '../saml/idp.ts';

const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const JSON_BODY = { 'content-type': 'application/json' };

/** The status of GET `url` with this session's cookie only. */
async function statusWith(app: TestApp, cookie: string, url: string): Promise<number> {
  return (await app.app.inject({ method: 'GET', url, headers: { cookie } })).statusCode;
}

interface Entry {
  readonly actor: string;
  readonly action: string;
  readonly details: Record<string, unknown> | null;
}

eachDatabase('sessions end when their rights change', (database) => {
  test('SCIM: joining the administrators\' group ends the session; a new sign-in is an administrator', async () => {
    const app = await startTestApp({ database });
    try {
      const user = await app.request('POST', `${SCIM}/Users`, userBody('lena@contoso.com'));
      assert.equal(user.status, 201);
      const signedIn = await signIn(app, { login: 'lena@contoso.com' });
      assert.equal(signedIn.statusCode, 303);
      const before = setCookieOf(signedIn, SESSION_COOKIE);
      assert.ok(before !== undefined);
      assert.equal(await statusWith(app, before, '/api/users/current'), 200);
      assert.equal(await statusWith(app, before, '/api/v2/users-management/users'), 403);

      const group = await app.request('POST', `${SCIM}/Groups`, groupBody('roster-administrators'));
      assert.equal(group.status, 201);
      const added = await app.request('PATCH', `${SCIM}/Groups/${group.body.id}`, {
        schemas: [PATCH_OP],
        Operations: [{ op: 'add', path: 'members', value: [{ value: user.body.id }] }],
      });
      assert.equal(added.status, 204, JSON.stringify(added.body));

      // The id issued to a user who was no administrator opens nothing now, not even the
      // user's own details: it is gone from the database, on every instance.
      assert.equal(await statusWith(app, before, '/api/v2/users-management/users'), 401);
      assert.equal(await statusWith(app, before, '/api/users/current'), 401);
      const page = await app.app.inject({ method: 'GET', url: '/admin/users', headers: { cookie: before, accept: 'text/html' } });
      assert.equal(page.statusCode, 303);
      assert.match(String(page.headers.location), /^\/sessions\/new/);

      const again = setCookieOf(await signIn(app, { login: 'lena@contoso.com' }), SESSION_COOKIE);
      assert.ok(again !== undefined && again !== before);
      assert.equal(await statusWith(app, again, '/api/v2/users-management/users'), 200);

      const audit = await app.request('GET', '/api/v2/audit-logs?action=session.ended');
      const entries = audit.body.auditLogs as Entry[];
      assert.equal(entries.length, 1);
      assert.equal(entries[0]?.actor, 'system');
      assert.equal(entries[0]?.details?.reason, 'became_administrator');
    } finally {
      await app.close();
    }
  });

  test('admin API: leaving the administrators\' group ends the session, and joining it ends the next one; others stay', async () => {
    const app = await startTestApp({ database, scim: false });
    try {
      const mia = await app.request('POST', '/api/v2/users-management/users', { login: 'mia', name: 'Mia', password: 'a long local password' }, JSON_BODY);
      const noah = await app.request('POST', '/api/v2/users-management/users', { login: 'noah', name: 'Noah', password: 'a long local password' }, JSON_BODY);
      const group = await app.request('POST', '/api/v2/authorizations/groups', { name: 'roster-administrators' }, JSON_BODY);
      const staff = await app.request('POST', '/api/v2/authorizations/groups', { name: 'staff' }, JSON_BODY);
      const membership = await app.request('POST', '/api/v2/authorizations/group-memberships', { groupId: group.body.id, userId: mia.body.id }, JSON_BODY);
      assert.equal(membership.status, 201);
      const asAdministrator: ConsoleSession = await sessionFor(app, mia.body.id);
      const asUser: ConsoleSession = await sessionFor(app, noah.body.id);
      assert.equal(await statusWith(app, asAdministrator.cookie, '/api/v2/users-management/users'), 200);

      // A change that leaves rights as they were ends nothing.
      assert.equal((await app.request('POST', '/api/v2/authorizations/group-memberships', { groupId: staff.body.id, userId: noah.body.id }, JSON_BODY)).status, 201);
      assert.equal(await statusWith(app, asUser.cookie, '/api/users/current'), 200);
      assert.equal(await statusWith(app, asAdministrator.cookie, '/api/users/current'), 200);

      assert.equal((await app.request('DELETE', `/api/v2/authorizations/group-memberships/${membership.body.id}`)).status, 204);
      assert.equal(await statusWith(app, asAdministrator.cookie, '/api/users/current'), 401);
      assert.equal(await statusWith(app, asUser.cookie, '/api/users/current'), 200);

      assert.equal((await app.request('POST', '/api/v2/authorizations/group-memberships', { groupId: group.body.id, userId: noah.body.id }, JSON_BODY)).status, 201);
      assert.equal(await statusWith(app, asUser.cookie, '/api/v2/users-management/users'), 401);
      assert.equal(await statusWith(app, asUser.cookie, '/api/users/current'), 401);

      const audit = await app.request('GET', '/api/v2/audit-logs?action=session.ended');
      assert.deepEqual((audit.body.auditLogs as Entry[]).map((entry) => entry.details?.reason).sort(), ['became_administrator', 'no_longer_administrator']);
    } finally {
      await app.close();
    }
  });

  test('another instance on the same database ends the session too: nothing is kept in a process', async () => {
    const app = await startTestApp({ database, scim: false });
    const store = await openStore(app.location);
    const other = await buildApp({ services: createServices(store, { baseUrl: BASE_URL }), baseUrl: BASE_URL });
    try {
      const ivy = await app.request('POST', '/api/v2/users-management/users', { login: 'ivy', name: 'Ivy', password: 'a long local password' }, JSON_BODY);
      const group = await app.request('POST', '/api/v2/authorizations/groups', { name: 'roster-administrators' }, JSON_BODY);
      const session = await sessionFor(app, ivy.body.id);
      assert.equal((await other.inject({ method: 'GET', url: '/api/users/current', headers: { cookie: session.cookie } })).statusCode, 200);
      assert.equal((await app.request('POST', '/api/v2/authorizations/group-memberships', { groupId: group.body.id, userId: ivy.body.id }, JSON_BODY)).status, 201);
      // First presented to the instance that made no change, then to the one that did.
      assert.equal((await other.inject({ method: 'GET', url: '/api/v2/users-management/users', headers: { cookie: session.cookie } })).statusCode, 401);
      assert.equal(await statusWith(app, session.cookie, '/api/users/current'), 401);
    } finally {
      await other.close();
      await store.close();
      await app.close();
    }
  });

  test('renaming a group to the administrators\' group\'s name ends its members\' sessions', async () => {
    const app = await startTestApp({ database, scim: false });
    try {
      const ada = await app.request('POST', '/api/v2/users-management/users', { login: 'ada', name: 'Ada', password: 'a long local password' }, JSON_BODY);
      const group = await app.request('POST', '/api/v2/authorizations/groups', { name: 'operators' }, JSON_BODY);
      await app.request('POST', '/api/v2/authorizations/group-memberships', { groupId: group.body.id, userId: ada.body.id }, JSON_BODY);
      const session = await sessionFor(app, ada.body.id);
      assert.equal(await statusWith(app, session.cookie, '/api/users/current'), 200);
      const renamed = await app.request('PATCH', `/api/v2/authorizations/groups/${group.body.id}`, { name: 'Roster-Administrators' }, { 'content-type': 'application/merge-patch+json' });
      assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
      assert.equal(await statusWith(app, session.cookie, '/api/v2/users-management/users'), 401);
    } finally {
      await app.close();
    }
  });

  test('a session opened before Roster recorded rights keeps working, with the rights its user has at its next use', async () => {
    const app = await startTestApp({ database });
    try {
      const session = await sessionFor(app, app.adminId);
      const id = app.services.sessions.idOf(session.cookie.slice(session.cookie.indexOf('=') + 1));
      const { db } = app.services.store;
      await db.updateTable('sessions').set({ administrator: null }).where('id', '=', id).execute();
      assert.equal(await statusWith(app, session.cookie, '/api/v2/users-management/users'), 200);
      const row = await db.selectFrom('sessions').select('administrator').where('id', '=', id).executeTakeFirstOrThrow();
      assert.equal(Number(row.administrator), 1);
      assert.equal(await statusWith(app, session.cookie, '/api/v2/users-management/users'), 200);
    } finally {
      await app.close();
    }
  });
});
