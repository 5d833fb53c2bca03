/**
 * Deleting a person's personal data (SonarQube's "anonymize"): `DELETE
 * /api/v2/users-management/users/{id}?anonymize=true` deactivates the user and erases what Roster
 * holds of them in one transaction, or erases a user already deactivated (by an administrator, or
 * deleted by the identity provider). What an administrator, an application reading the feed and
 * the identity provider then observe, on both databases.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { groupBody, secondInstance, startTestApp, userBody, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { getPage, postForm, sessionFor } from '../support/console.ts';

const USERS = '/api/v2/users-management/users';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const cli = { kind: 'cli' } as const;

eachDatabase('deleting a user\'s personal data', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database, scim: false });
  });
  after(() => app.close());

  /** Every event of the feed from the start, oldest first. */
  async function feed(): Promise<Array<{ type: string; data: Record<string, unknown>; previous?: Record<string, unknown> }>> {
    const answer = await app.request('GET', '/api/v2/events?limit=1000');
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return answer.body.events;
  }

  test('an active local user: deactivated and erased at once; the feed, the audit log and the lists never show the person again', async () => {
    const created = await app.request('POST', USERS, { login: 'jane.doe', name: 'Jane Doe', email: 'jane.doe@corp.example', password: 'correct horse battery' });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const id = created.body.id as string;
    const group = await app.request('POST', '/api/v2/authorizations/groups', { name: 'writers' });
    assert.equal(group.status, 201, JSON.stringify(group.body));
    assert.equal((await app.request('POST', '/api/v2/authorizations/group-memberships', { groupId: group.body.id, userId: id })).status, 201);
    const { token } = await app.services.tokens.create('jane-laptop', cli, id);
    const eventsBefore = (await feed()).length;

    const erased = await app.request('DELETE', `${USERS}/${id}?anonymize=true`);
    assert.equal(erased.status, 204, JSON.stringify(erased.body));

    const shown = await app.request('GET', `${USERS}/${id}`);
    const login = `anonymized-${id.replace(/-/g, '')}`;
    assert.deepEqual(
      { login: shown.body.login, name: shown.body.name, email: shown.body.email, active: shown.body.active, externalId: shown.body.externalId, externalLogin: shown.body.externalLogin },
      { login, name: null, email: null, active: false, externalId: null, externalLogin: login },
    );
    for (const q of ['jane', 'corp.example']) {
      assert.equal((await app.request('GET', `${USERS}?q=${q}`)).body.page.total, 0, `a search for ${q} finds nobody`);
    }
    assert.equal(await app.services.tokens.verify(token), undefined);
    assert.deepEqual(await app.services.tokens.list(id), [], 'its tokens are gone, revoked names and all');
    assert.deepEqual((await app.request('GET', `/api/v2/authorizations/group-memberships?userId=${id}`)).body.groupMemberships, []);

    // The feed: the deactivation, the membership removed and the erasure, none naming the person.
    const events = (await feed()).slice(eventsBefore);
    assert.deepEqual(events.map((event) => event.type), ['group.user_removed', 'user.deactivated', 'user.anonymized']);
    assert.doesNotMatch(JSON.stringify(events), /jane|Jane|laptop/);
    assert.equal((events[0]?.data.user as Record<string, unknown>).login, login);
    assert.deepEqual(events[1]?.previous, { ...events[1]?.data, active: true });
    assert.equal(events[2]?.data.login, login);

    const entries = (await app.request('GET', `/api/v2/audit-logs?targetId=${id}&action=user.anonymized`)).body.auditLogs;
    assert.equal(entries.length, 1);
    assert.equal(entries[0].details.deactivated, true);
    assert.equal(entries[0].details.deletedTokens, 1);
    assert.doesNotMatch(JSON.stringify(entries[0]), /jane|Jane/);
    assert.equal((await app.request('GET', `/api/v2/audit-logs?action=user.deactivated&targetId=${id}`)).body.auditLogs.length, 0, 'one entry for both');

    // Asked again: nothing to do, nothing recorded.
    assert.equal((await app.request('DELETE', `${USERS}/${id}?anonymize=true`)).status, 204);
    assert.equal((await app.request('GET', `/api/v2/audit-logs?targetId=${id}&action=user.anonymized`)).body.auditLogs.length, 1);
    assert.equal((await feed()).length, eventsBefore + 3);

    // The old login is free: created again, it is a new account, not this one reactivated.
    const again = await app.request('POST', USERS, { login: 'jane.doe', name: 'Jane Doe', local: false });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.notEqual(again.body.id, id);
    assert.equal((await app.request('GET', `${USERS}/${id}`)).body.login, login);
  });

  test('a user the identity provider deleted: erased later, and the IdP creating the name again makes a new user', async () => {
    await app.services.provisioning.enable(cli);
    try {
      const scim = await app.request('POST', '/Users', userBody('max@corp.example', {
        displayName: 'Max Muster',
        externalId: 'entra-max',
        name: { givenName: 'Max', familyName: 'Muster' },
        emails: [{ value: 'max@corp.example', primary: true }],
        phoneNumbers: [{ value: '+49 30 1234567', type: 'work' }],
      }));
      assert.equal(scim.status, 201, JSON.stringify(scim.body));
      const id = (await app.services.accounts.findByLogin('max@corp.example'))!.id;
      assert.equal((await app.request('DELETE', `/Users/${scim.body.id}`)).status, 204);
      // Deleted by the IdP, the account is kept: the same name created again would come back to it.
      assert.equal((await app.request('DELETE', `${USERS}/${id}?anonymize=true`)).status, 204);
      const shown = (await app.request('GET', `${USERS}/${id}`)).body;
      assert.deepEqual([shown.login, shown.name, shown.email, shown.externalId], [`anonymized-${id.replace(/-/g, '')}`, null, null, null]);
      const entry = (await app.request('GET', `/api/v2/audit-logs?targetId=${id}&action=user.anonymized`)).body.auditLogs[0];
      assert.equal(entry.details.deactivated, false);

      const back = await app.request('POST', '/Users', userBody('max@corp.example', { displayName: 'Max Muster', externalId: 'entra-max' }));
      assert.equal(back.status, 201, JSON.stringify(back.body));
      const newcomer = await app.services.accounts.findByLogin('max@corp.example');
      assert.notEqual(newcomer?.id, id, 'a new account, not the erased one linked again');
      const filtered = await app.request('GET', `/Users?filter=${encodeURIComponent('phoneNumbers.value co "1234567"')}`);
      assert.equal(filtered.body.totalResults, 0, 'nothing of the erased SCIM document is found');
    } finally {
      await app.services.provisioning.disable(cli);
    }
  });

  test('refused for a user the identity provider only suspended, and for oneself; nothing changes', async () => {
    await app.services.provisioning.enable(cli);
    try {
      const scim = await app.request('POST', '/Users', userBody('sue@corp.example', { displayName: 'Sue' }));
      assert.equal(scim.status, 201);
      assert.equal((await app.request('POST', '/Groups', groupBody('sue-team', [scim.body.id]))).status, 201);
      const suspended = await app.request('PATCH', `/Users/${scim.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] });
      assert.equal(suspended.status, 200);
      const id = (await app.services.accounts.findByLogin('sue@corp.example'))!.id;
      const refused = await app.request('DELETE', `${USERS}/${id}?anonymize=true`);
      assert.equal(refused.status, 400, JSON.stringify(refused.body));
      assert.match(refused.body.message, /externally managed/);
      const kept = await app.request('GET', `/Users/${scim.body.id}`);
      assert.equal(kept.body.displayName, 'Sue');
      assert.equal(kept.body.groups.length, 1);
    } finally {
      await app.services.provisioning.disable(cli);
    }
    const self = await app.request('DELETE', `${USERS}/${app.adminId}?anonymize=true`);
    assert.equal(self.status, 400);
    assert.equal((await app.request('GET', `${USERS}/${app.adminId}`)).body.login, 'admin');
  });

  // On PostgreSQL, two instances: the identity provider creating a user with the account's login
  // (which links a deactivated or local account of that name) while an administrator deletes the
  // account's personal data. Whichever commits first, the other sees it: never an erased account
  // linked to the IdP, never an erasure answered 204 that the link then undid.
  test('an erasure racing the identity provider taking the same login', async () => {
    const other = await secondInstance(app, database);
    await app.services.provisioning.enable(cli);
    try {
      for (let i = 0; i < 12; i++) {
        const deleted = i % 2 === 0;
        const login = `racer${i}@corp.example`;
        let id: string;
        if (deleted) {
          // Deleted by the IdP earlier (a deactivated account the same name would link again).
          const scim = await app.request('POST', '/Users', userBody(login, { displayName: 'Racer' }));
          id = (await app.services.accounts.findByLogin(login))!.id;
          assert.equal((await app.request('DELETE', `/Users/${scim.body.id}`)).status, 204);
        } else {
          // An active local account, which the IdP's create links.
          await app.services.provisioning.disable(cli);
          id = (await app.services.accounts.create({ login, name: 'Racer', local: false }, cli)).id;
          await app.services.provisioning.enable(cli);
        }
        const [erasure, create] = await Promise.all([
          app.request('DELETE', `${USERS}/${id}?anonymize=true`),
          other.request('POST', '/Users', userBody(login, { displayName: 'From the IdP' })),
        ]);
        assert.equal(create.status, 201, JSON.stringify(create.body));
        const account = await app.services.accounts.get(id);
        if (erasure.status === 204) {
          assert.equal(account.login, `anonymized-${id.replace(/-/g, '')}`, 'an erasure answered 204 holds');
          assert.equal(account.scimId, null, 'and the erased account is not the IdP\'s');
          assert.notEqual((await app.services.accounts.findByLogin(login))?.id, id);
        } else {
          assert.equal(erasure.status, 400, JSON.stringify(erasure.body));
          assert.match(erasure.body.message, /externally managed/);
          assert.deepEqual([account.login, account.displayName, account.scimId !== null], [login, 'From the IdP', true]);
        }
      }
    } finally {
      await app.services.provisioning.disable(cli);
      await other.close();
    }
  });

  test('administrators cannot type a login kept for anonymized accounts', async () => {
    const refused = await app.request('POST', USERS, { login: 'Anonymized-someone', name: 'Someone', local: false });
    assert.equal(refused.status, 400);
    assert.match(refused.body.message, /must not start with "anonymized-", which names accounts whose personal data was deleted/);
  });

  test('the console: a deactivated user\'s page offers the deletion, confirms it and says what happened', async () => {
    const created = await app.services.accounts.create({ login: 'ola', name: 'Ola Nordmann', email: 'ola@corp.example', local: false }, cli);
    const session = await sessionFor(app, app.adminId);
    const active = await getPage(app, `/admin/users/${created.id}`, session);
    assert.doesNotMatch(active.body, /Delete personal data/, 'an active user is deactivated first');
    await app.services.accounts.deactivate(created.id, cli);
    const page = await getPage(app, `/admin/users/${created.id}?confirm=anonymize-user`, session);
    assert.match(page.body, /<h2 id="anonymize-user-title">Delete the personal data of ola\?<\/h2>/);
    assert.match(page.body, /This cannot be undone/);
    const posted = await postForm(app, `/admin/users/${created.id}/anonymize`, {}, { session });
    assert.equal(posted.statusCode, 303);
    assert.equal(posted.headers.location, `/admin/users/${created.id}?notice=anonymized`);
    const after = await getPage(app, posted.headers.location, session);
    assert.match(after.body, /The personal data of the user was deleted/);
    assert.match(after.body, /Personal data deleted/);
    assert.doesNotMatch(after.body, /Ola Nordmann|ola@corp\.example/);
    const twice = await postForm(app, `/admin/users/${created.id}/anonymize`, {}, { session });
    assert.equal(twice.headers.location, `/admin/users/${created.id}?notice=already-anonymized`);
  });
});
