/**
 * While SCIM is on, nobody who was not provisioned signs in (docs/saml.md "Who gets in"). A
 * just-in-time sign-in takes turns with the switch: one under way when SCIM is turned on, on any
 * instance, is wholly before the switch, its session included, or it is refused.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import pg from 'pg';
import { startTestApp, userBody } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { waitForLockWaits } from '../support/lock-waits.ts';
import { sessionCookieOf, signIn } from './idp.ts';

const cli = { kind: 'cli' } as const;

eachDatabase('a just-in-time SAML sign-in while SCIM is turned on', (database) => {
  test('opens no session after the switch for a user the identity provider did not provision', async () => {
    const roster = await startTestApp({ database, scim: false });
    try {
      const original = roster.services.signIn.signIn.bind(roster.services.signIn);
      let enabledAt = '';
      // Another instance's switch commits the moment this sign-in's decision has; a moment later
      // this instance answers the browser.
      roster.services.signIn.signIn = async (...args) => {
        const outcome = await original(...args);
        await roster.services.provisioning.enable(cli);
        enabledAt = (await roster.services.store.db.selectFrom('audit_events').select('at').where('action', '=', 'provisioning.enabled').executeTakeFirstOrThrow()).at;
        await sleep(5);
        return outcome;
      };
      const response = await signIn(roster, { login: 'erin@example.com' });
      assert.ok(enabledAt !== '', 'SCIM was turned on during the sign-in');
      const erin = await roster.services.accounts.findByLogin('erin@example.com');
      assert.ok(erin !== undefined && erin.scimId === null, 'erin was not provisioned');
      const sessions = await roster.services.store.db.selectFrom('sessions').select('created_at').where('user_id', '=', erin.id).execute();
      const late = sessions.filter((session) => session.created_at > enabledAt);
      assert.deepEqual(late, [], `a session of erin opened after SCIM was turned on (${enabledAt}); the answer was ${response.statusCode}`);
      if (sessionCookieOf(response) !== undefined && sessionCookieOf(response) !== '') assert.equal(sessions.length, 1, 'the session the browser got was opened before the switch');
    } finally {
      await roster.close();
    }
  });

  test('a sign-in that reaches a user while a deactivation holds it keeps nothing and is refused', { skip: database === 'sqlite' ? 'SQLite runs one write transaction at a time: nothing can write between the two' : false }, async () => {
    const roster = await startTestApp({ database });
    const observer = new pg.Client({ connectionString: roster.databaseUrl });
    await observer.connect();
    try {
      assert.equal((await roster.request('POST', '/Users', userBody('fay@example.com'))).status, 201);
      const fay = await roster.services.accounts.findByLogin('fay@example.com');
      assert.ok(fay !== undefined);
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let locked!: () => void;
      const lockTaken = new Promise<void>((resolve) => (locked = resolve));
      // A deactivation as every path runs it: the user's row locked first, credentials ended, flag cleared.
      const deactivation = roster.services.store.db.transaction().execute(async (trx) => {
        await trx.selectFrom('users').select('id').where('id', '=', fay.id).forNoKeyUpdate().execute();
        locked();
        await held;
        await trx.deleteFrom('sessions').where('user_id', '=', fay.id).execute();
        await trx.updateTable('users').set({ active: 0 }).where('id', '=', fay.id).execute();
      });
      await lockTaken;
      const response = signIn(roster, { login: 'fay@example.com' });
      await waitForLockWaits(observer);
      release();
      await deactivation;
      const answer = await response;
      assert.equal(answer.statusCode, 403);
      // The sign-in takes the user's row first, so it waits for the deactivation holding it and
      // then refuses as for any deactivated user: in SCIM mode, as for a stranger.
      assert.match(answer.body, /You have no account on Roster/);
      assert.deepEqual(await roster.services.store.db.selectFrom('sessions').select('id').where('user_id', '=', fay.id).execute(), []);
      const trail = await roster.services.store.db.selectFrom('audit_events').select(['action', 'details']).where('target_id', '=', fay.id).where('action', 'like', 'saml.%').execute();
      assert.deepEqual(trail.map((entry) => [entry.action, JSON.parse(entry.details ?? '{}').reason]), [['saml.sign_in_refused', 'deactivated']]);
    } finally {
      await observer.end();
      await roster.close();
    }
  });
});
