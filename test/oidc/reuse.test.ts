/**
 * An authorization code or a refresh token is good for one token request, also when two
 * requests present it at the same moment, on one instance or on two instances of one database:
 * one gets tokens, the other `invalid_grant`, and, as for a reuse one after the other, what the
 * grant issued is revoked (RFC 6749 §4.1.2, RFC 9700 §4.14.2). Driven by openid-client, and
 * by plain fetch against two `roster serve` processes on one SQLite file.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as client from 'openid-client';
import { buildApp } from '../../src/http/app.ts';
import { createServices } from '../../src/services.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { BASE_URL, startTestApp, userBody, type TestApp } from '../support/app.ts';
import { sessionFor } from '../support/console.ts';
import { eachDatabase } from '../support/databases.ts';
import { CookieJar, follow, relyingParty } from '../support/oidc.ts';
import { startInstance, stop, waitHealthy, type Instance } from '../support/process.ts';

const REDIRECT = 'https://wiki.example.com/callback';
const ROUNDS = 10;
const cli = { kind: 'cli' } as const;

type Outcome<T> = PromiseSettledResult<T>;

/** The one request of two that got tokens, after checking that the other got 400 invalid_grant. */
function oneWinner<T>(outcomes: readonly Outcome<T>[], round: number): T {
  const won = outcomes.filter((outcome): outcome is PromiseFulfilledResult<T> => outcome.status === 'fulfilled');
  const lost = outcomes.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
  assert.equal(won.length, 1, `round ${round}: ${won.length} of 2 requests got tokens`);
  const refusal = lost[0]?.reason as { error?: string; status?: number } | undefined;
  assert.equal(refusal?.error, 'invalid_grant', `round ${round}: ${String(lost[0]?.reason)}`);
  assert.equal(refusal?.status, 400);
  return won[0]!.value;
}

const isInvalidGrant = (error: { error?: string }) => error.error === 'invalid_grant';

// On PostgreSQL the two requests race within one process; on SQLite they cannot (see the
// processes below), and the same rounds check that nothing else changed.
eachDatabase('a code or refresh token presented twice at once', (database) => {
  let app: TestApp;
  let otherStore: Store;
  let other: TestApp['app'];
  let userId: string;

  before(async () => {
    app = await startTestApp({ database });
    assert.equal((await app.request('POST', '/Users', userBody('ada'))).status, 201);
    userId = (await app.services.accounts.findByLogin('ada'))!.id;
    // A second instance on the same database, as behind a load balancer.
    otherStore = await openStore(app.location);
    other = await buildApp({ services: createServices(otherStore, { baseUrl: BASE_URL }), baseUrl: BASE_URL });
  });
  after(async () => {
    await other.close();
    await otherStore.close();
    await app.close();
  });

  /** An application, its relying party on each instance, and ada's browser signed in to Roster. */
  async function adaAt(name: string) {
    const { application, secret } = await app.services.applications.create({ name, redirectUris: [REDIRECT], public: false, allowedGroups: [] }, cli);
    const here = await relyingParty(app, application.clientId, secret);
    const there = await relyingParty({ ...app, app: other }, application.clientId, secret);
    const jar = new CookieJar();
    jar.add((await sessionFor(app, userId)).cookie);
    return { here, there, jar, clientId: application.clientId };
  }

  /** What the audit log says of the reuses `clientId` presented (the application itself only hears invalid_grant). */
  async function reusesAudited(clientId: string) {
    const { events } = await app.services.auditLog.list({ action: 'application.token_reused', targetId: clientId }, { offset: 0, limit: 1000, ascending: true });
    return events.map((event) => event.details as { login: string | null; presented: string });
  }

  /** Where the browser comes back with a code, and what the exchange needs. */
  async function authorize(config: client.Configuration, jar: CookieJar) {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      scope: 'openid offline_access',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    });
    const landing = await follow(app, url, jar);
    assert.ok(landing.url.searchParams.get('code'), `ended at ${landing.url.href}`);
    return { callback: landing.url, checks: { pkceCodeVerifier: verifier, expectedState: state } };
  }

  test('the same authorization code in two token requests at once: one gets tokens, the other invalid_grant, and those tokens are revoked', async () => {
    const { here, there, jar, clientId } = await adaAt('Wiki codes');
    for (let round = 1; round <= ROUNDS; round += 1) {
      // Odd rounds on one instance, even rounds one request on each.
      const second = round % 2 === 0 ? there : here;
      const { callback, checks } = await authorize(here, jar);
      const tokens = oneWinner(await Promise.allSettled([client.authorizationCodeGrant(here, callback, checks), client.authorizationCodeGrant(second, callback, checks)]), round);
      assert.ok(tokens.access_token && tokens.refresh_token);
      // As for a code used a second time later: what the grant issued no longer works.
      await assert.rejects(client.refreshTokenGrant(here, tokens.refresh_token), isInvalidGrant, `round ${round}: the refresh token still works`);
      await assert.rejects(client.fetchUserInfo(here, tokens.access_token, userId), `round ${round}: the access token still works`);
    }
    // Each round's losing request is audited (later presentations of revoked tokens are not reuses).
    const audited = await reusesAudited(clientId);
    assert.ok(audited.length >= ROUNDS, `${audited.length} audited`);
    // A code's user is not known once the provider has revoked what it issued: the entry names the application.
    assert.ok(audited.every((entry) => (entry.login === 'ada' || entry.login === null) && ['authorization code', 'refresh token'].includes(entry.presented)), JSON.stringify(audited));
    assert.ok(audited.some((entry) => entry.presented === 'authorization code'));
  });

  test('the same refresh token in two refreshes at once: one gets new tokens, the other invalid_grant, and the whole family is revoked as for a reuse later', async () => {
    const { here, there, jar, clientId } = await adaAt('Wiki refresh');
    for (let round = 1; round <= ROUNDS; round += 1) {
      const second = round % 2 === 0 ? there : here;
      const { callback, checks } = await authorize(here, jar);
      const first = await client.authorizationCodeGrant(here, callback, checks);
      assert.ok(first.refresh_token);
      const refreshed = oneWinner(await Promise.allSettled([client.refreshTokenGrant(here, first.refresh_token), client.refreshTokenGrant(second, first.refresh_token)]), round);
      assert.ok(refreshed.refresh_token && refreshed.refresh_token !== first.refresh_token);
      // The chain does not split: the new refresh token and access token are revoked with the
      // old one, as when the old one is presented again after a refresh (see flow.test.ts).
      await assert.rejects(client.refreshTokenGrant(here, refreshed.refresh_token), isInvalidGrant, `round ${round}: the new refresh token still works`);
      await assert.rejects(client.refreshTokenGrant(here, first.refresh_token), isInvalidGrant);
      await assert.rejects(client.fetchUserInfo(here, refreshed.access_token, userId), `round ${round}: the new access token still works`);
    }
    const audited = await reusesAudited(clientId);
    assert.ok(audited.length >= ROUNDS, `${audited.length} audited`);
    assert.ok(audited.every((entry) => entry.login === 'ada' && entry.presented === 'refresh token'), JSON.stringify(audited));
  });

  test('a pushed authorization request signs in once; its request_uri again is refused', async () => {
    const { here, jar } = await adaAt('Wiki pushed');
    const verifier = client.randomPKCECodeVerifier();
    const url = await client.buildAuthorizationUrlWithPAR(here, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state: 's' });
    const callback = (await follow(app, url, jar)).url;
    const tokens = await client.authorizationCodeGrant(here, callback, { pkceCodeVerifier: verifier, expectedState: 's' });
    assert.equal((await client.fetchUserInfo(here, tokens.access_token, userId)).sub, userId);
    const again = (await follow(app, url, jar)).url;
    assert.equal(again.searchParams.get('error'), 'invalid_request_uri', again.href);
  });

  test('used one at a time, a code and each rotated refresh token work once', async () => {
    const { here, there, jar } = await adaAt('Wiki sequential');
    const { callback, checks } = await authorize(here, jar);
    let refreshToken = (await client.authorizationCodeGrant(there, callback, checks)).refresh_token;
    for (let refresh = 0; refresh < 3; refresh += 1) {
      assert.ok(refreshToken);
      const next = await client.refreshTokenGrant(refresh % 2 === 0 ? here : there, refreshToken);
      assert.equal((await client.fetchUserInfo(here, next.access_token, userId)).sub, userId);
      refreshToken = next.refresh_token;
    }
  });
});

interface TokenAnswer {
  readonly status: number;
  readonly body: { readonly error?: string; readonly refresh_token?: string };
}

/** A token request as an application sends it: the form, and the client secret in HTTP Basic. */
async function tokenRequest(base: string, clientId: string, secret: string, form: Record<string, string>): Promise<TokenAnswer> {
  const response = await fetch(`${base}/oidc/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams(form).toString(),
  });
  return { status: response.status, body: (await response.json()) as TokenAnswer['body'] };
}

/** The answers' statuses and errors, sorted: what exactly one success and one refusal look like. */
function outcomes(answers: readonly TokenAnswer[]): string[] {
  return answers.map((answer) => (answer.status === 200 ? '200' : `${answer.status} ${answer.body.error ?? ''}`)).sort();
}

// Within one process SQLite answers synchronously, so one token request runs from reading the
// code to consuming it before the other reads it: the race needs two processes on one file (a
// supported deployment, docs/deploy.md). PostgreSQL races within one process (above).
describe('two roster serve processes on one SQLite file, a code or refresh token presented to both at once', () => {
  let app: TestApp;
  const instances: Instance[] = [];

  before(async () => {
    app = await startTestApp();
    assert.equal((await app.request('POST', '/Users', userBody('ada'))).status, 201);
    for (let index = 0; index < 2; index += 1) instances.push(await startInstance(app.databaseUrl));
    await Promise.all(instances.map(waitHealthy));
  });
  after(async () => {
    await Promise.all(instances.map(stop));
    await app.close();
  });

  test('one of the two gets tokens, the other 400 invalid_grant, for a code and for a refresh token', async () => {
    const [first, second] = instances.map((instance) => instance.base) as [string, string];
    const userId = (await app.services.accounts.findByLogin('ada'))!.id;
    const { application, secret } = await app.services.applications.create({ name: 'Wiki processes', redirectUris: [REDIRECT], public: false, allowedGroups: [] }, cli);
    assert.ok(secret);
    const config = await relyingParty(app, application.clientId, secret);
    const jar = new CookieJar();
    jar.add((await sessionFor(app, userId)).cookie);
    /** A code for ada's browser, and its PKCE verifier. */
    async function authorize(): Promise<{ code: string; verifier: string; callback: URL }> {
      const verifier = client.randomPKCECodeVerifier();
      const url = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid offline_access', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state: 's' });
      const callback = (await follow(app, url, jar)).url;
      const code = callback.searchParams.get('code');
      assert.ok(code, `ended at ${callback.href}`);
      return { code, verifier, callback };
    }

    for (let round = 1; round <= ROUNDS; round += 1) {
      const { code, verifier } = await authorize();
      const exchange = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier };
      const exchanged: TokenAnswer[] = await Promise.all([tokenRequest(first, application.clientId, secret, exchange), tokenRequest(second, application.clientId, secret, exchange)]);
      assert.deepEqual(outcomes(exchanged), ['200', '400 invalid_grant'], `round ${round}: the code`);

      const fresh = await authorize();
      const again = (await client.authorizationCodeGrant(config, fresh.callback, { pkceCodeVerifier: fresh.verifier, expectedState: 's' })).refresh_token;
      assert.ok(again);
      const refresh = { grant_type: 'refresh_token', refresh_token: again };
      const refreshed: TokenAnswer[] = await Promise.all([tokenRequest(first, application.clientId, secret, refresh), tokenRequest(second, application.clientId, secret, refresh)]);
      assert.deepEqual(outcomes(refreshed), ['200', '400 invalid_grant'], `round ${round}: the refresh token`);
      const issued = refreshed.find((answer) => answer.status === 200)?.body.refresh_token;
      assert.ok(issued);
      assert.deepEqual(outcomes([await tokenRequest(first, application.clientId, secret, { grant_type: 'refresh_token', refresh_token: issued })]), ['400 invalid_grant']);
    }
  });
});
