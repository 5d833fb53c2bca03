/**
 * A just-in-time SAML sign-in that syncs the user's groups at the moment an administrator
 * deactivates the user, or renames one of its groups (found while probing event replay,
 * bench/event-replay.ts): the sign-in read the user and its groups without a lock, so on
 * PostgreSQL it could add a membership to a user whose deactivation had just removed them all,
 * after the `user.deactivated` in the feed, and name a group by the name a rename had just
 * replaced. The sign-in now holds the user's row, and the rows of the groups it changes, before
 * it reads them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { startTestApp, testCertificate, TEST_IDP, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { waitForLockWaits } from '../support/lock-waits.ts';
import { signIn } from '../saml/idp.ts';

const RACE_SKIP = 'SQLite runs one write transaction at a time: no change can start before another commits and end after it';

eachDatabase('a just-in-time sign-in beside a deactivation or a group rename', (database) => {
  async function jitApp(): Promise<TestApp> {
    const app = await startTestApp({ database, scim: false });
    const configured = await app.services.saml.configure(
      { ...TEST_IDP, certificates: [testCertificate()], userLoginAttribute: 'login', userNameAttribute: 'displayName', groupAttribute: 'groups' },
      { kind: 'cli' },
    );
    assert.ok(configured.ok);
    return app;
  }

  /** Runs `first` while the feed's numbering is held, so that it waits at its commit with its change made; then `second` beside it; then lets both commit, `first` first. */
  async function firstThenSecond(app: TestApp, first: () => Promise<unknown>, second: () => Promise<unknown>): Promise<[unknown, unknown]> {
    const holder = new pg.Client({ connectionString: app.databaseUrl });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT last_ticket FROM event_tickets FOR UPDATE');
      const one = first();
      await waitForLockWaits(holder, 1);
      const two = second();
      await waitForLockWaits(holder, 2);
      await holder.query('ROLLBACK');
      return [await one, await two];
    } finally {
      await holder.end();
    }
  }

  async function events(app: TestApp): Promise<Array<{ type: string; data: any }>> {
    return (await app.request('GET', '/api/v2/events?limit=1000')).body.events;
  }

  test('a sign-in as its user is deactivated adds it to no group', { skip: database === 'sqlite' ? RACE_SKIP : false }, async () => {
    const app = await jitApp();
    try {
      assert.equal((await signIn(app, { login: 'ivan', attributes: { displayName: ['Ivan'], groups: ['pilots'] } })).statusCode, 303);
      const user = (await app.services.accounts.findByLogin('ivan'))!;
      await firstThenSecond(
        app,
        () => app.request('DELETE', `/api/v2/users-management/users/${user.id}`),
        () => signIn(app, { login: 'ivan', attributes: { displayName: ['Ivan'], groups: ['pilots', 'navigators'] } }),
      );
      assert.equal((await app.services.accounts.get(user.id)).active, false);
      const memberships = await app.request('GET', `/api/v2/authorizations/group-memberships?userId=${user.id}`);
      assert.deepEqual(memberships.body.groupMemberships, [], 'a deactivated user is in no group');
      const all = await events(app);
      const deactivated = all.findIndex((event) => event.type === 'user.deactivated');
      assert.deepEqual(all.slice(deactivated + 1).filter((event) => event.type === 'group.user_added'), [], 'no member added after the deactivation');
    } finally {
      await app.close();
    }
  });

  test('a sign-in leaving a group as it is renamed names the group by its new name', { skip: database === 'sqlite' ? RACE_SKIP : false }, async () => {
    const app = await jitApp();
    try {
      assert.equal((await signIn(app, { login: 'olga', attributes: { displayName: ['Olga'], groups: ['crew'] } })).statusCode, 303);
      const group = (await app.services.groupManagement.findByName('crew'))!;
      await firstThenSecond(
        app,
        () => app.request('PATCH', `/api/v2/authorizations/groups/${group.id}`, { name: 'crew-renamed' }, { 'content-type': 'application/merge-patch+json' }),
        () => signIn(app, { login: 'olga', attributes: { displayName: ['Olga'], groups: [] } }),
      );
      const removals = (await events(app)).filter((event) => event.type === 'group.user_removed').map((event) => event.data.group.name);
      assert.deepEqual(removals, ['crew-renamed']);
    } finally {
      await app.close();
    }
  });

  test('sign-ins sync the groups one after the other, on every database', async () => {
    const app = await jitApp();
    try {
      assert.equal((await signIn(app, { login: 'petra', attributes: { displayName: ['Petra'], groups: ['deck'] } })).statusCode, 303);
      assert.equal((await signIn(app, { login: 'petra', attributes: { displayName: ['Petra'], groups: ['bridge'] } })).statusCode, 303);
      const members = (await events(app)).filter((event) => event.type.startsWith('group.user_')).map((event) => `${event.type} ${event.data.group.name} ${event.data.user.login}`);
      assert.deepEqual(members, ['group.user_added deck petra', 'group.user_removed deck petra', 'group.user_added bridge petra']);
    } finally {
      await app.close();
    }
  });
});
