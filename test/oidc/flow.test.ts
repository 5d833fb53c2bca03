/**
 * Roster as an OpenID provider, driven by a real relying party (openid-client) through the
 * whole authorization code flow with PKCE, on SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as client from 'openid-client';
import { startTestApp, userBody, groupBody, BASE_URL, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { sessionFor } from '../support/console.ts';
import { CookieJar, follow, relyingParty } from '../support/oidc.ts';

const REDIRECT = 'https://grafana.example.com/login/generic_oauth';
const cli = { kind: 'cli' } as const;

/** Signs `jar`'s browser in to `config`'s application; returns the tokens. */
async function authorize(app: TestApp, config: client.Configuration, jar: CookieJar, scope: string) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT,
    scope,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  const landing = await follow(app, url, jar);
  return { landing, verifier, state, nonce };
}

eachDatabase('OpenID Connect provider on', (database) => {
  let app: TestApp;
  let userId: string;
  let scimId: string;

  before(async () => {
    app = await startTestApp({ database });
    const created = await app.request('POST', '/Users', userBody('ada', { displayName: 'Ada Lovelace', emails: [{ value: 'ada@example.com', primary: true }] }));
    assert.equal(created.status, 201);
    scimId = created.body.id;
    const group = await app.request('POST', '/Groups', groupBody('engineers', [scimId]));
    assert.equal(group.status, 201);
    userId = (await app.services.accounts.findByLogin('ada'))!.id;
  });
  after(async () => app.close());

  test('discovery names Roster as issuer and its endpoints under /oidc', async () => {
    const { application, secret } = await app.services.applications.create({ name: 'Grafana', redirectUris: [REDIRECT], public: false, allowedGroups: [] }, cli);
    const config = await relyingParty(app, application.clientId, secret);
    const metadata = config.serverMetadata();
    assert.equal(metadata.issuer, BASE_URL);
    assert.equal(metadata.authorization_endpoint, `${BASE_URL}/oidc/auth`);
    assert.equal(metadata.token_endpoint, `${BASE_URL}/oidc/token`);
    assert.equal(metadata.jwks_uri, `${BASE_URL}/oidc/jwks`);
    assert.deepEqual(metadata.code_challenge_methods_supported, ['S256']);
    assert.ok(metadata.scopes_supported?.includes('groups'));
  });

  test('a signed-in user is sent back with a code; the exchange with PKCE gives a signed ID token with the claims, userinfo the groups, and a working refresh', async () => {
    const { application, secret } = await app.services.applications.create({ name: 'Grafana 2', redirectUris: [REDIRECT], public: false, allowedGroups: [] }, cli);
    const config = await relyingParty(app, application.clientId, secret);
    const jar = new CookieJar();
    jar.add((await sessionFor(app, userId)).cookie);
    const { landing, verifier, state, nonce } = await authorize(app, config, jar, 'openid profile email groups offline_access');
    assert.equal(`${landing.url.origin}${landing.url.pathname}`, REDIRECT, `ended at ${landing.url} (${landing.status}): ${landing.body.slice(0, 300)}`);

    const tokens = await client.authorizationCodeGrant(config, landing.url, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    const claims = tokens.claims();
    assert.ok(claims);
    assert.equal(claims.sub, userId);
    assert.equal(claims.preferred_username, 'ada');
    assert.equal(claims.name, 'Ada Lovelace');
    assert.equal(claims.email, 'ada@example.com');
    assert.deepEqual(claims.groups, ['engineers']);
    assert.ok(tokens.expires_in !== undefined && tokens.expires_in <= 300);

    const info = await client.fetchUserInfo(config, tokens.access_token, userId);
    assert.deepEqual(info.groups, ['engineers']);
    assert.equal(info.preferred_username, 'ada');

    assert.ok(tokens.refresh_token);
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    assert.ok(refreshed.access_token);
    // Rotation: the refresh token used is spent.
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
    await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token), (error: { error?: string }) => error.error === 'invalid_grant');
  });
});
