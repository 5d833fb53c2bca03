/**
 * A sign-in checks the account in one transaction and opens its session in another: whatever
 * commits in between (the identity provider taking the account over, a password reset) must be
 * seen by the opening, or the session outlives the change that was meant to end it.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import pg from 'pg';
import { startTestApp, userBody } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { passwordSignIn, setCookieOf } from '../support/console.ts';
import { waitForLockWaits } from '../support/lock-waits.ts';

const cli = { kind: 'cli' } as const;

eachDatabase('a password sign-in racing a change of the account', (database) => {
  test('the identity provider takes the account over while its password is checked: no session opens', async () => {
    const roster = await startTestApp({ database });
    try {
      await roster.services.provisioning.disable(cli);
      await roster.services.accounts.create({ login: 'alice', name: 'Alice', password: 'alice-password-1', local: true }, cli);
      await roster.services.provisioning.enable(cli);
      const check = roster.services.passwordCheck;
      const verify = check.verify.bind(check);
      // The link commits after the password was found right, before the session opens.
      check.verify = async (login, password) => {
        const user = await verify(login, password);
        const linked = await roster.request('POST', '/Users', userBody('alice'));
        assert.equal(linked.status, 201, JSON.stringify(linked.body));
        return user;
      };
      const response = await passwordSignIn(roster, 'alice', 'alice-password-1');
      const alice = await roster.services.accounts.findByLogin('alice');
      assert.equal(alice?.scimId !== null, true, 'the identity provider manages alice');
      const sessions = await roster.services.store.db.selectFrom('sessions').select('id').where('user_id', '=', alice?.id ?? '').execute();
      assert.deepEqual(sessions, [], 'no session of the account the identity provider took over');
      assert.equal(response.statusCode, 403, response.body.slice(0, 300));
      assert.match(response.body, /changed while you were signing in/);
      const cookie = setCookieOf(response, '__Host-roster_session');
      assert.ok(cookie === undefined || cookie.endsWith('='), 'no session cookie');
    } finally {
      await roster.close();
    }
  });

  test('the password is reset while the old one is checked: no session opens with the old one', async () => {
    const roster = await startTestApp({ database, scim: false });
    try {
      const old = (await roster.services.administrators.resetPassword('admin', cli)).password;
      const check = roster.services.passwordCheck;
      const verify = check.verify.bind(check);
      // `roster admin reset-password` ends whoever signed in with the old password.
      check.verify = async (login, password) => {
        const user = await verify(login, password);
        await roster.services.administrators.resetPassword('admin', cli);
        return user;
      };
      const response = await passwordSignIn(roster, 'admin', old);
      const sessions = await roster.services.store.db.selectFrom('sessions').select('id').where('user_id', '=', roster.adminId).execute();
      assert.deepEqual(sessions, [], 'no session opened with the password the reset replaced');
      assert.equal(response.statusCode, 403, response.body.slice(0, 300));
    } finally {
      await roster.close();
    }
  });

  test('a session opening while a link holds the account waits for it, then opens nothing', { skip: database === 'sqlite' ? 'SQLite runs one write transaction at a time: nothing can write between the two' : false }, async () => {
    const roster = await startTestApp({ database });
    const observer = new pg.Client({ connectionString: roster.databaseUrl });
    await observer.connect();
    try {
      await roster.services.provisioning.disable(cli);
      await roster.services.accounts.create({ login: 'alice', name: 'Alice', password: 'alice-password-1', local: true }, cli);
      await roster.services.provisioning.enable(cli);
      const result = await roster.services.passwordSignIn.signIn({ login: 'alice', password: 'alice-password-1', source: '192.0.2.7' });
      assert.equal(result.ok, true);
      if (!result.ok) return;
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let locked!: () => void;
      const lockTaken = new Promise<void>((resolve) => (locked = resolve));
      // The rows a SCIM create that takes the account over writes: the user's, then its link.
      const link = roster.services.store.db.transaction().execute(async (trx) => {
        await trx.updateTable('users').set({ updated_at: new Date().toISOString() }).where('id', '=', result.user.id).execute();
        await trx.insertInto('scim_users').values({ scim_id: randomUUID(), user_id: result.user.id }).execute();
        locked();
        await held;
      });
      await lockTaken;
      const opening = roster.services.sessions.openIfActive(result.user.id, undefined, undefined, result.password);
      await waitForLockWaits(observer);
      release();
      await link;
      assert.equal(await opening, undefined, 'no session for the account the identity provider took over');
      assert.deepEqual(await roster.services.store.db.selectFrom('sessions').select('id').where('user_id', '=', result.user.id).execute(), []);
    } finally {
      await observer.end();
      await roster.close();
    }
  });
});
