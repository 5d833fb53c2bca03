/**
 * A credential issued to a user at the moment a deactivation commits does not survive it (found
 * by a probe racing real sign-ins against SCIM `PATCH active=false` on two instances: sessions,
 * API tokens and OpenID refresh tokens escaped the deactivation and worked again after a
 * reactivation). Every write that issues one reads the user under a share lock in its own
 * transaction (store/users.ts `activity`): a deactivation in progress is waited for and then
 * seen, and nothing is stored for an inactive user.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { createOidcAdapter } from '../../src/auth/oidc-adapter.ts';
import { startTestApp, userBody, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';

const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const cli = { kind: 'cli' } as const;
const DEACTIVATED = /was deactivated while you were signing in, so no session was opened/;

eachDatabase('credentials issued as a deactivation commits', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database });
  });
  after(() => app.close());

  async function provisioned(login: string): Promise<{ userId: string; scimId: string }> {
    const created = await app.request('POST', '/Users', userBody(login, { displayName: login }));
    assert.equal(created.status, 201);
    return { userId: (await app.services.accounts.findByLogin(login))!.id, scimId: created.body.id as string };
  }

  async function oidcRows(userId: string): Promise<number> {
    return (await app.services.store.db.selectFrom('oidc_models').select('id').where('account_id', '=', userId).execute()).length;
  }

  test('for a user deactivated since its sign-in was checked: no session, no token, no OpenID row', async () => {
    const { userId, scimId } = await provisioned('late-racer@example.com');
    const off = await app.request('PATCH', `/Users/${scimId}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] });
    assert.equal(off.status, 200);
    await assert.rejects(app.services.sessions.open(userId), DEACTIVATED);
    assert.equal(await app.services.sessions.openIfActive(userId), undefined);
    assert.equal((await app.services.store.db.selectFrom('sessions').select('id').where('user_id', '=', userId).execute()).length, 0);
    await assert.rejects(app.services.tokens.create('late-token', cli, userId), /is deactivated/);
    const Adapter = createOidcAdapter(app.services.store);
    await new Adapter('RefreshToken').upsert('refresh-of-a-racer', { accountId: userId, grantId: 'g1' }, 3600);
    await new Adapter('Grant').upsert('g1', { accountId: userId }, 3600);
    assert.equal(await oidcRows(userId), 0, 'the provider hands them out, but none is stored: the first use is refused');
    // Rows of nobody in particular are stored as before.
    await new Adapter('Interaction').upsert('interaction-1', { uid: 'u1' }, 60);
    assert.notEqual(await new Adapter('Interaction').find('interaction-1'), undefined);
  });

  test('a sign-in writing while a deactivation holds the user waits for it, then opens nothing', { skip: database === 'sqlite' ? 'SQLite runs one write transaction at a time: nothing can write between the two' : false }, async () => {
    const { userId } = await provisioned('racer@example.com');
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const lockTaken = new Promise<void>((resolve) => (locked = resolve));
    // A deactivation as every path runs it: the user's row locked first, credentials ended, flag cleared.
    const deactivation = app.services.store.db.transaction().execute(async (trx) => {
      await trx.selectFrom('users').select('id').where('id', '=', userId).forNoKeyUpdate().execute();
      locked();
      await held;
      await trx.deleteFrom('sessions').where('user_id', '=', userId).execute();
      await trx.deleteFrom('oidc_models').where('account_id', '=', userId).execute();
      await trx.updateTable('users').set({ active: 0 }).where('id', '=', userId).execute();
    });
    await lockTaken;
    const settled: string[] = [];
    /** What `work` came to, its failure caught at once (an unhandled one would fail the test before its turn). */
    const outcome = (name: string, work: Promise<unknown>): Promise<string> =>
      work.then(() => 'done', (error: unknown) => (error instanceof Error ? error.message : String(error))).finally(() => settled.push(name));
    const session = outcome('session', app.services.sessions.open(userId));
    const token = outcome('token', app.services.tokens.create('racer-token', cli, userId));
    const refresh = outcome('refresh', new (createOidcAdapter(app.services.store))('RefreshToken').upsert('refresh-racing', { accountId: userId }, 3600));
    try {
      await sleep(300);
      assert.deepEqual(settled, [], 'each waits for the deactivation to commit');
    } finally {
      release();
      await deactivation;
    }
    assert.match(await session, DEACTIVATED);
    assert.match(await token, /is deactivated/);
    assert.equal(await refresh, 'done', 'the provider is not told: the row is simply not stored');
    assert.equal((await app.services.store.db.selectFrom('sessions').select('id').where('user_id', '=', userId).execute()).length, 0);
    assert.equal((await app.services.store.db.selectFrom('tokens').select('id').where('user_id', '=', userId).execute()).length, 0);
    assert.equal(await oidcRows(userId), 0);
  });
});
