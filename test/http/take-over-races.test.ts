/**
 * While SCIM is on, an administrator may still delete a *local* group, never one the identity
 * provider manages (docs/managed-mode.md). The identity provider takes a local group over by
 * creating one of its name: a deletion that reached the group while the take-over held it must
 * see the group as the take-over left it, linked, and be refused; a take-over that reached it
 * while the deletion held it finds the name free. The same holds for `roster admin
 * reset-password` of an administrator the identity provider takes over at that moment.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import pg from 'pg';
import { groupBody, startTestApp, userBody } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { waitForLockWaits } from '../support/lock-waits.ts';

const GROUPS = '/api/v2/authorizations/groups';
const cli = { kind: 'cli' } as const;

eachDatabase('a local group deleted while the identity provider takes it over', (database) => {
  test('the deletion waits for the take-over, then is refused: the group stays, managed', { skip: database === 'sqlite' ? 'SQLite runs one write transaction at a time: nothing can write between the two' : false }, async () => {
    const roster = await startTestApp({ database });
    const holder = new pg.Client({ connectionString: roster.databaseUrl });
    await holder.connect();
    try {
      await roster.services.provisioning.disable(cli);
      const local = (await roster.request('POST', GROUPS, { name: 'Engineering' })).body.id as string;
      await roster.services.provisioning.enable(cli);
      const member = (await roster.request('POST', '/Users', userBody('member@example.com'))).body.id as string;

      // The take-over links the group, then waits on its member's SCIM link, which this holds:
      // it is caught holding the group's row with the link written, not yet committed.
      await holder.query('BEGIN');
      await holder.query('SELECT scim_id FROM scim_users WHERE scim_id = $1 FOR UPDATE', [member]);
      const takeOver = roster.request('POST', '/Groups', groupBody('Engineering', [member]));
      await waitForLockWaits(holder, 1);
      const deletion = roster.request('DELETE', `${GROUPS}/${local}`);
      await waitForLockWaits(holder, 2);
      await holder.query('COMMIT');

      const taken = await takeOver;
      assert.equal(taken.status, 201, JSON.stringify(taken.body));
      const deleted = await deletion;
      assert.equal(deleted.status, 400, `a managed group was deleted: ${deleted.status} ${JSON.stringify(deleted.body)}`);
      assert.deepEqual(deleted.body, { message: 'Operation not allowed when the instance is externally managed.' });
      const after = await roster.request('GET', `${GROUPS}/${local}`);
      assert.equal(after.status, 200);
      assert.equal(after.body.managed, true);
      assert.equal((await roster.request('GET', `/Groups/${taken.body.id}`)).status, 200, 'the identity provider still finds its group');
    } finally {
      await holder.end();
      await roster.close();
    }
  });

  test('a take-over that reaches the group while its deletion commits creates the group anew (201), not a 500', { skip: database === 'sqlite' ? 'SQLite runs one write transaction at a time: nothing can write between the two' : false }, async () => {
    const roster = await startTestApp({ database });
    const holder = new pg.Client({ connectionString: roster.databaseUrl });
    await holder.connect();
    try {
      await roster.services.provisioning.disable(cli);
      const local = (await roster.request('POST', GROUPS, { name: 'Research' })).body.id as string;
      await roster.services.provisioning.enable(cli);

      // The deletion is held at its commit, where it numbers its events (event_tickets' one
      // row, which this holds): the group's row deleted and still locked.
      await holder.query('BEGIN');
      await holder.query('SELECT last_ticket FROM event_tickets FOR UPDATE');
      const deletion = roster.request('DELETE', `${GROUPS}/${local}`);
      await waitForLockWaits(holder, 1);
      const takeOver = roster.request('POST', '/Groups', groupBody('Research'));
      await waitForLockWaits(holder, 2);
      await holder.query('COMMIT');

      assert.equal((await deletion).status, 204);
      const taken = await takeOver;
      assert.equal(taken.status, 201, JSON.stringify(taken.body));
      const found = await roster.request('GET', `/Groups/${taken.body.id}`);
      assert.equal(found.status, 200);
      assert.equal(found.body.displayName, 'Research');
      assert.equal((await roster.request('GET', `${GROUPS}/${local}`)).status, 404, 'the deleted group stays deleted');
    } finally {
      await holder.end();
      await roster.close();
    }
  });
});

eachDatabase('a password reset while the identity provider takes the administrator over', (database) => {
  test('waits for the take-over, then refuses: no password is set for an account that signs in through SAML only', { skip: database === 'sqlite' ? 'SQLite runs one write transaction at a time: nothing can write between the two' : false }, async () => {
    const roster = await startTestApp({ database });
    const observer = new pg.Client({ connectionString: roster.databaseUrl });
    await observer.connect();
    try {
      const before = (await roster.services.store.db.selectFrom('users').select('password_hash').where('id', '=', roster.adminId).executeTakeFirstOrThrow()).password_hash;
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let locked!: () => void;
      const lockTaken = new Promise<void>((resolve) => (locked = resolve));
      // The rows a SCIM create of `admin` writes as it takes the account over: the user's, then its link.
      const link = roster.services.store.db.transaction().execute(async (trx) => {
        await trx.updateTable('users').set({ updated_at: new Date().toISOString() }).where('id', '=', roster.adminId).execute();
        await trx.insertInto('scim_users').values({ scim_id: randomUUID(), user_id: roster.adminId }).execute();
        locked();
        await held;
      });
      await lockTaken;
      const reset = roster.services.administrators.resetPassword('admin', cli).then(
        () => 'a password was printed',
        (error: unknown) => (error instanceof Error ? error.message : String(error)),
      );
      await waitForLockWaits(observer);
      release();
      await link;
      assert.match(await reset, /is managed by your identity provider \(SCIM\), so it signs in through SAML, not with a password: no password was set/);
      const after = (await roster.services.store.db.selectFrom('users').select('password_hash').where('id', '=', roster.adminId).executeTakeFirstOrThrow()).password_hash;
      assert.equal(after, before, 'the password is unchanged');
    } finally {
      await observer.end();
      await roster.close();
    }
  });
});
