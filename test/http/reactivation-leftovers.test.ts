/**
 * A reactivated user comes back without its old tokens and sessions, even those issued in the
 * moment its deactivation ran: a sign-in that checked the user just before the deactivation
 * committed and wrote its session, token or OpenID grant just after it left that credential
 * behind (refused while the user was inactive). Found by a probe with real sign-ins racing a
 * SCIM `PATCH active=false` on two instances; the race's outcome is written here directly, then
 * the user is reactivated by SCIM and by the admin API.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestApp, userBody, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';

const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const cli = { kind: 'cli' } as const;

eachDatabase('reactivation ends credentials left by a racing sign-in', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database });
  });
  after(() => app.close());

  /**
   * Deactivates the user with `deactivate`, then writes back what a sign-in racing it would have
   * left: the session opened just before (its row as it was), the token's revocation undone, an
   * OpenID refresh token. Returns the session's cookie value.
   */
  async function leaveCredentials(userId: string, tokenId: string, deactivate: () => Promise<void>): Promise<string> {
    const db = app.services.store.db;
    const session = await app.services.sessions.open(userId, undefined);
    const rows = await db.selectFrom('sessions').selectAll().where('user_id', '=', userId).execute();
    await deactivate();
    await db.insertInto('sessions').values(rows).execute();
    await db.updateTable('tokens').set({ revoked_at: null }).where('id', '=', tokenId).execute();
    const expires = new Date(Date.now() + 86_400_000).toISOString();
    await db.insertInto('oidc_models').values({ model: 'RefreshToken', id: `raced-${userId}`, payload: '{}', grant_id: null, uid: null, user_code: null, account_id: userId, expires_at: expires, consumed_at: null }).execute();
    return session.value;
  }

  async function assertNoneWork(userId: string, session: string, token: string): Promise<void> {
    assert.equal(await app.services.sessions.find(session), undefined, 'the session left behind no longer works');
    assert.equal(await app.services.tokens.verify(token), undefined, 'the token left behind no longer works');
    const rows = await app.services.store.db.selectFrom('oidc_models').select('id').where('account_id', '=', userId).execute();
    assert.deepEqual(rows, [], 'the OpenID rows left behind are gone');
  }

  async function reactivationEntry(userId: string): Promise<Record<string, unknown>> {
    const entries = (await app.request('GET', `/api/v2/audit-logs?targetId=${userId}&action=user.reactivated`)).body.auditLogs;
    return entries[0].details;
  }

  test('SCIM PATCH active=true', async () => {
    const created = await app.request('POST', '/Users', userBody('racer@example.com', { displayName: 'Racer' }));
    assert.equal(created.status, 201);
    const userId = (await app.services.accounts.findByLogin('racer@example.com'))!.id;
    const { token, record } = await app.services.tokens.create('racer-token', cli, userId);
    const patch = (active: boolean) => app.request('PATCH', `/Users/${created.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: active }] });
    const session = await leaveCredentials(userId, record.id, async () => assert.equal((await patch(false)).status, 200));
    assert.equal((await patch(true)).status, 200);
    await assertNoneWork(userId, session, token);
    const details = await reactivationEntry(userId);
    assert.deepEqual([details.leftoverTokens, details.leftoverSessions], [[record.id], 1]);
  });

  test('the admin API reactivating a deactivated local user', async () => {
    await app.services.provisioning.disable(cli);
    try {
      const created = await app.request('POST', '/api/v2/users-management/users', { login: 'late', name: 'Late', local: false });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      const userId = created.body.id as string;
      const { token, record } = await app.services.tokens.create('late-token', cli, userId);
      const session = await leaveCredentials(userId, record.id, async () => assert.equal((await app.request('DELETE', `/api/v2/users-management/users/${userId}`)).status, 204));
      const again = await app.request('POST', '/api/v2/users-management/users', { login: 'late', name: 'Late', local: false });
      assert.equal(again.status, 200, JSON.stringify(again.body));
      await assertNoneWork(userId, session, token);
      const details = await reactivationEntry(userId);
      assert.deepEqual([details.leftoverTokens, details.leftoverSessions], [[record.id], 1]);
    } finally {
      await app.services.provisioning.enable(cli);
    }
  });
});
