/**
 * Rotating an application's client secret with an overlap, seen from a real relying party
 * (openid-client) at the token endpoint, on SQLite and PostgreSQL: both secrets work during the
 * overlap, in the Basic header and in the form body; the old one is refused once the stored
 * expiry has passed, by every instance on the database; an overlap of 0 stops it at once.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import * as client from 'openid-client';
import { buildApp } from '../../src/http/app.ts';
import { createServices } from '../../src/services.ts';
import { openStore } from '../../src/store/index.ts';
import { BASE_URL, startTestApp, userBody, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { sessionFor } from '../support/console.ts';
import { CookieJar, injectFetch, tokensThroughBrowser } from '../support/oidc.ts';

const REDIRECT = 'https://grafana.example.com/login/generic_oauth';
const cli = { kind: 'cli' } as const;

/** openid-client's configuration for `clientId` on `app`, sending `secret` in the Basic header or in the form body. */
function relyingParty(app: FastifyInstance, clientId: string, secret: string, how: 'basic' | 'post'): Promise<client.Configuration> {
  const auth = how === 'basic' ? client.ClientSecretBasic(secret) : client.ClientSecretPost(secret);
  return client.discovery(new URL(BASE_URL), clientId, undefined, auth, { [client.customFetch]: injectFetch(app), execute: [] });
}

/** Whether openid-client's error is the provider's `invalid_client` (a 401 with a challenge, or a body). */
function invalidClient(error: unknown): boolean {
  const { error: code, cause } = error as { error?: string; cause?: unknown };
  const challenged = Array.isArray(cause) && cause.some((challenge: { parameters?: { error?: string } }) => challenge.parameters?.error === 'invalid_client');
  return code === 'invalid_client' || challenged;
}

eachDatabase('client secret rotation on', (database) => {
  let app: TestApp;
  let userId: string;

  before(async () => {
    app = await startTestApp({ database });
    assert.equal((await app.request('POST', '/Users', userBody('ada'))).status, 201);
    userId = (await app.services.accounts.findByLogin('ada'))!.id;
  });
  after(async () => app.close());

  /** A confidential application, its secret, and a refresh token ada's sign-in gave it. */
  async function signedInApplication(name: string) {
    const { application, secret } = await app.services.applications.create({ name, redirectUris: [REDIRECT], public: false, allowedGroups: [] }, cli);
    assert.ok(secret !== undefined);
    const jar = new CookieJar();
    jar.add((await sessionFor(app, userId)).cookie);
    const tokens = await tokensThroughBrowser(app, await relyingParty(app.app, application.clientId, secret, 'basic'), jar, REDIRECT, 'openid offline_access');
    assert.ok(tokens.refresh_token);
    return { clientId: application.clientId, secret, refreshToken: tokens.refresh_token };
  }

  /** Refreshes `refreshToken` as `config`; returns the next refresh token (each works once). */
  async function refresh(config: client.Configuration, refreshToken: string): Promise<string> {
    const tokens = await client.refreshTokenGrant(config, refreshToken);
    assert.ok(tokens.refresh_token);
    return tokens.refresh_token;
  }

  test('during the overlap the old and the new secret both work, in the header and the body, on two instances; once the stored expiry has passed the old one gets invalid_client on both', async () => {
    const { clientId, secret: old, refreshToken } = await signedInApplication('Overlap');
    const rotation = await app.services.applications.rotateSecret(clientId, cli);
    assert.notEqual(rotation.secret, old);
    const expiresAt = rotation.application.previousSecretExpiresAt;
    assert.ok(expiresAt !== null);
    // The default overlap: 24 hours from now.
    assert.ok(Math.abs(Date.parse(expiresAt) - Date.now() - 24 * 3600_000) < 60_000, expiresAt);

    const store = await openStore(app.location);
    const other = await buildApp({ services: createServices(store, { baseUrl: BASE_URL }), baseUrl: BASE_URL });
    try {
      let token = refreshToken;
      for (const instance of [app.app, other]) {
        for (const how of ['basic', 'post'] as const) {
          token = await refresh(await relyingParty(instance, clientId, old, how), token);
          token = await refresh(await relyingParty(instance, clientId, rotation.secret, how), token);
        }
      }

      // The overlap ends: the stored expiry is moved into the past, as time would.
      await app.services.store.db.updateTable('oidc_applications').set({ previous_secret_expires_at: new Date(Date.now() - 1000).toISOString() }).where('client_id', '=', clientId).execute();
      for (const instance of [app.app, other]) {
        for (const how of ['basic', 'post'] as const) {
          await assert.rejects(refresh(await relyingParty(instance, clientId, old, how), token), invalidClient, `the old secret (${how}) after the overlap`);
          token = await refresh(await relyingParty(instance, clientId, rotation.secret, how), token);
        }
      }
      assert.equal((await app.services.applications.get(clientId)).previousSecretExpiresAt, null);
    } finally {
      await other.close();
      await store.close();
    }
  });

  test('with an overlap of 0 the old secret is refused at once; the new one works', async () => {
    const { clientId, secret: old, refreshToken } = await signedInApplication('No overlap');
    const rotation = await app.services.applications.rotateSecret(clientId, cli, { overlapSeconds: 0 });
    assert.equal(rotation.application.previousSecretExpiresAt, null);
    const row = await app.services.store.db.selectFrom('oidc_applications').select(['previous_secret_hash', 'previous_secret_expires_at']).where('client_id', '=', clientId).executeTakeFirstOrThrow();
    assert.deepEqual(row, { previous_secret_hash: null, previous_secret_expires_at: null });
    await assert.rejects(refresh(await relyingParty(app.app, clientId, old, 'basic'), refreshToken), invalidClient);
    await refresh(await relyingParty(app.app, clientId, rotation.secret, 'basic'), refreshToken);
  });

  test('one previous secret at a time: a second rotation stops the first secret at once and keeps the second; ending the overlap stops the second too', async () => {
    const { clientId, secret: first, refreshToken } = await signedInApplication('Twice');
    const second = await app.services.applications.rotateSecret(clientId, cli, { overlapSeconds: 3600 });
    assert.equal(second.stoppedOverlapUntil, null);
    const third = await app.services.applications.rotateSecret(clientId, cli);
    assert.equal(third.stoppedOverlapUntil, second.application.previousSecretExpiresAt, 'says until when the first secret would have worked');
    let token = refreshToken;
    await assert.rejects(refresh(await relyingParty(app.app, clientId, first, 'basic'), token), invalidClient, 'the first secret');
    token = await refresh(await relyingParty(app.app, clientId, second.secret, 'basic'), token);
    token = await refresh(await relyingParty(app.app, clientId, third.secret, 'post'), token);

    const ended = await app.services.applications.endSecretOverlap(clientId, cli);
    assert.deepEqual([ended.ended, ended.application.previousSecretExpiresAt], [true, null]);
    await assert.rejects(refresh(await relyingParty(app.app, clientId, second.secret, 'basic'), token), invalidClient, 'the second secret after the overlap ended');
    await refresh(await relyingParty(app.app, clientId, third.secret, 'basic'), token);
    // Nothing left to end: nothing changes, nothing is recorded.
    assert.equal((await app.services.applications.endSecretOverlap(clientId, cli)).ended, false);

    const audit = await app.services.store.db.selectFrom('audit_events').select(['action', 'details']).where('target_id', '=', clientId).orderBy('seq').execute();
    assert.deepEqual(audit.map((row) => row.action), ['application.created', 'application.secret_rotated', 'application.secret_rotated', 'application.secret_overlap_ended']);
    const details = audit.map((row) => (typeof row.details === 'string' ? JSON.parse(row.details) : row.details) as Record<string, unknown>);
    assert.deepEqual(details[1], { name: 'Twice', overlapSeconds: 3600, previousSecretExpiresAt: second.application.previousSecretExpiresAt, stoppedOverlapUntil: null });
    assert.deepEqual(details[2], { name: 'Twice', overlapSeconds: 86400, previousSecretExpiresAt: third.application.previousSecretExpiresAt, stoppedOverlapUntil: second.application.previousSecretExpiresAt });
    assert.deepEqual(details[3], { name: 'Twice', previousSecretExpiresAt: third.application.previousSecretExpiresAt });
    const text = JSON.stringify(audit);
    for (const secret of [first, second.secret, third.secret]) assert.ok(!text.includes(secret), 'no secret in the audit log');
  });
});
