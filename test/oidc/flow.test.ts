/**
 * Roster as an OpenID provider, driven by a real relying party (openid-client) through the
 * whole authorization code flow with PKCE, on SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';
import { inflateRawSync } from 'node:zlib';
import * as client from 'openid-client';
import { loadOidcKeys } from '../../src/auth/oidc-keys.ts';
import { buildApp } from '../../src/http/app.ts';
import { createServices } from '../../src/services.ts';
import { openStore } from '../../src/store/index.ts';
import { startTestApp, userBody, groupBody, BASE_URL, type TestApp, SESSION_COOKIE } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { passwordSignIn, sessionFor, sessionOf } from '../support/console.ts';
import { CookieJar, follow, relyingParty } from '../support/oidc.ts';
import { buildResponse, postResponse, sessionCookieOf, startLogin } from '../saml/idp.ts';

const REDIRECT = 'https://grafana.example.com/login/generic_oauth';
const SECOND_REDIRECT = 'https://grafana-eu.example.com/login/generic_oauth';
const cli = { kind: 'cli' } as const;

/**
 * What an application's page on another site posts to Roster: a form, without Roster's cookies
 * (the browser leaves SameSite=Lax cookies out of a cross-site post).
 */
function crossSiteFormPost(app: TestApp, path: string, fields: URLSearchParams) {
  return app.app.inject({
    method: 'POST',
    url: path,
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', origin: 'https://grafana.example.com', 'sec-fetch-site': 'cross-site' },
    payload: fields.toString(),
  });
}

/** Signs `jar`'s browser in to `config`'s application; returns where it landed and what the code exchange needs. */
async function authorize(app: TestApp, config: client.Configuration, jar: CookieJar, scope: string, redirectUri = REDIRECT) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
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

  /** A confidential application registered under `name`, its relying party, and ada's browser signed in to Roster. */
  async function adaSignedInTo(name: string, allowedGroups: string[]) {
    const { application, secret } = await app.services.applications.create({ name, redirectUris: [REDIRECT], public: false, allowedGroups }, cli);
    const config = await relyingParty(app, application.clientId, secret);
    const jar = new CookieJar();
    jar.add((await sessionFor(app, userId)).cookie);
    return { application, config, jar };
  }

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

  test('discovery advertises only what works: the code flow (response type code; authorization_code and refresh_token grants), no implicit or hybrid flow', async () => {
    const discovery = (await app.app.inject({ method: 'GET', url: '/.well-known/openid-configuration' })).json();
    assert.deepEqual(discovery.response_types_supported, ['code']);
    assert.deepEqual([...discovery.grant_types_supported].sort(), ['authorization_code', 'refresh_token']);
    // Bearer tokens only: no DPoP (RFC 9449), which the provider offered by default.
    assert.equal(discovery.dpop_signing_alg_values_supported, undefined);
    // A client that believed the old discovery and asks for an ID token directly is refused.
    const { application } = await app.services.applications.create({ name: 'Implicit', redirectUris: [REDIRECT], public: true, allowedGroups: [] }, cli);
    const jar = new CookieJar();
    jar.add((await sessionFor(app, userId)).cookie);
    const url = new URL(`${BASE_URL}/oidc/auth`);
    url.search = new URLSearchParams({ client_id: application.clientId, redirect_uri: REDIRECT, response_type: 'id_token', scope: 'openid', nonce: 'n', state: 's' }).toString();
    const landing = await follow(app, url, jar);
    assert.equal(`${landing.url.origin}${landing.url.pathname}`, REDIRECT);
    const answer = new URLSearchParams(landing.url.hash.slice(1) || landing.url.search.slice(1));
    assert.equal(answer.get('id_token'), null);
    assert.ok(['unsupported_response_type', 'unauthorized_client'].includes(answer.get('error') ?? ''), landing.url.href);
  });

  test('a signed-in user is sent back with a code; the exchange with PKCE gives a signed ID token with the claims, userinfo the groups, and a working refresh', async () => {
    const { application, secret } = await app.services.applications.create({ name: 'Grafana 2', redirectUris: [REDIRECT], public: false, allowedGroups: [] }, cli);
    const config = await relyingParty(app, application.clientId, secret);
    const jar = new CookieJar();
    jar.add((await sessionFor(app, userId)).cookie);
    const { landing, verifier, state, nonce } = await authorize(app, config, jar, 'openid profile email groups offline_access');
    assert.equal(`${landing.url.origin}${landing.url.pathname}`, REDIRECT, `ended at ${landing.url} (${landing.status}): ${landing.body.slice(0, 1500)}`);

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

  test('the database keeps no usable code or token: they are stored under their SHA-256, and still work', async () => {
    const { application, config, jar } = await adaSignedInTo('Grafana at rest', []);
    const { landing, verifier, state, nonce } = await authorize(app, config, jar, 'openid groups offline_access');
    const code = landing.url.searchParams.get('code');
    assert.ok(code);
    const tokens = await client.authorizationCodeGrant(config, landing.url, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    assert.ok(tokens.refresh_token);
    const rows = await app.services.store.db.selectFrom('oidc_models').select(['model', 'id', 'payload']).execute();
    const stored = JSON.stringify(rows);
    for (const value of [code, tokens.access_token, tokens.refresh_token]) assert.ok(!stored.includes(value), 'a code or token is in the database in the clear');
    const secretRows = rows.filter((row) => ['AccessToken', 'AuthorizationCode', 'RefreshToken'].includes(row.model));
    assert.ok(secretRows.length >= 3);
    assert.ok(secretRows.every((row) => /^sha256:[0-9a-f]{64}$/.test(row.id)));
    // Stored this way, they still do their work.
    assert.deepEqual((await client.fetchUserInfo(config, tokens.access_token, userId)).groups, ['engineers']);

    // A token an earlier version stored in the clear (id and jti the token) is found until it expires.
    const { createHash } = await import('node:crypto');
    const hashed = `sha256:${createHash('sha256').update(tokens.access_token).digest('hex')}`;
    const { db } = app.services.store;
    const row = await db.selectFrom('oidc_models').selectAll().where('model', '=', 'AccessToken').where('id', '=', hashed).executeTakeFirstOrThrow();
    await db.deleteFrom('oidc_models').where('model', '=', 'AccessToken').where('id', '=', hashed).execute();
    await db.insertInto('oidc_models').values({ ...row, id: tokens.access_token, payload: JSON.stringify({ ...JSON.parse(row.payload), jti: tokens.access_token }) }).execute();
    assert.deepEqual((await client.fetchUserInfo(config, tokens.access_token, userId)).groups, ['engineers']);

    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    assert.deepEqual((await client.fetchUserInfo(config, refreshed.access_token, userId)).groups, ['engineers']);
    // A refresh token used twice is refused, and revokes what its grant issued (the provider's replay defence).
    await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token), (error: { error?: string }) => error.error === 'invalid_grant');
    await assert.rejects(client.fetchUserInfo(config, refreshed.access_token, userId));
    // The application only hears invalid_grant; the audit log says why the user was signed out of it.
    const { events } = await app.services.auditLog.list({ action: 'application.token_reused', targetId: application.clientId }, { offset: 0, limit: 10, ascending: true });
    assert.deepEqual(events.map((event) => event.details), [{ application: 'Grafana at rest', userId, login: 'ada', presented: 'refresh token', revoked: 'the grant and every token it issued' }]);
  });

  test('a browser without a Roster session goes through the sign-in page and back to the application', async () => {
    const { application } = await app.services.applications.create({ name: 'SPA', redirectUris: [REDIRECT], public: true, allowedGroups: [] }, cli);
    const config = await relyingParty(app, application.clientId, undefined);
    const jar = new CookieJar();
    const { landing, verifier, state, nonce } = await authorize(app, config, jar, 'openid profile');
    assert.equal(landing.url.pathname, '/sessions/new');
    const returnTo = landing.url.searchParams.get('returnTo');
    assert.match(returnTo ?? '', /^\/oidc\/interaction\/[\w-]+$/);

    const { password } = await app.services.administrators.resetPassword('admin', cli);
    const signedIn = await passwordSignIn(app, 'admin', password, { returnTo: returnTo! });
    assert.equal(signedIn.statusCode, 303);
    assert.equal(signedIn.headers.location, returnTo);
    jar.add(sessionOf(signedIn).cookie);
    const back = await follow(app, returnTo!, jar);
    assert.equal(`${back.url.origin}${back.url.pathname}`, REDIRECT, `ended at ${back.url} (${back.status}): ${back.body.slice(0, 300)}`);
    const tokens = await client.authorizationCodeGrant(config, back.url, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    assert.equal(tokens.claims()?.sub, app.adminId);
    assert.equal(tokens.claims()?.preferred_username, 'admin');
  });

  // OpenID Connect Core 3.1.2.1: the authorization endpoint MUST take POST as well as GET; it
  // answered 404. The application's form post is cross-site, so the browser sends it without
  // Roster's cookies (SameSite=Lax): the 303 to the GET request is what brings them back.
  test('POST /oidc/auth (an authorization request by form post) goes on as the GET request does: signed in, through the sign-in page, and prompt=none', async () => {
    const { config, jar } = await adaSignedInTo('Form post', []);
    const post = async (browser: CookieJar, extra: Record<string, string> = {}) => {
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const nonce = client.randomNonce();
      const url = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid profile offline_access', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, nonce, ...extra });
      const posted = await crossSiteFormPost(app, '/oidc/auth', url.searchParams);
      assert.equal(posted.statusCode, 303, posted.body.slice(0, 300));
      const location = new URL(String(posted.headers.location), BASE_URL);
      assert.equal(location.pathname, '/oidc/auth');
      assert.equal(location.searchParams.get('state'), state);
      const landing = await follow(app, location, browser);
      return { landing, verifier, state, nonce };
    };

    const signedIn = await post(jar);
    assert.equal(`${signedIn.landing.url.origin}${signedIn.landing.url.pathname}`, REDIRECT, `ended at ${signedIn.landing.url} (${signedIn.landing.status})`);
    const tokens = await client.authorizationCodeGrant(config, signedIn.landing.url, { pkceCodeVerifier: signedIn.verifier, expectedState: signedIn.state, expectedNonce: signedIn.nonce });
    assert.equal(tokens.claims()?.sub, userId);
    assert.ok(tokens.refresh_token, 'offline_access is honoured as in a GET request');

    const silent = await post(jar, { prompt: 'none' });
    assert.ok(silent.landing.url.searchParams.get('code'), `prompt=none: ${silent.landing.url}`);

    const signedOut = new CookieJar();
    const asked = await post(signedOut);
    assert.equal(asked.landing.url.pathname, '/sessions/new');
    const returnTo = asked.landing.url.searchParams.get('returnTo')!;
    const { password } = await app.services.administrators.resetPassword('admin', cli);
    const answer = await passwordSignIn(app, 'admin', password, { returnTo });
    assert.equal(answer.headers.location, returnTo);
    signedOut.add(sessionOf(answer).cookie);
    const back = await follow(app, returnTo, signedOut);
    const adminTokens = await client.authorizationCodeGrant(config, back.url, { pkceCodeVerifier: asked.verifier, expectedState: asked.state, expectedNonce: asked.nonce });
    assert.equal(adminTokens.claims()?.sub, app.adminId);

    // Only a form, and only the size of a request that fits a URL.
    const json = await app.app.inject({ method: 'POST', url: '/oidc/auth', headers: { 'content-type': 'application/json', accept: 'text/html' }, payload: '{"client_id":"x"}' });
    assert.equal(json.statusCode, 415);
    const huge = await app.app.inject({ method: 'POST', url: '/oidc/auth', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' }, payload: `state=${'a'.repeat(9000)}` });
    assert.equal(huge.statusCode, 413);
  });

  test('a public application must use PKCE: an authorization request without a code challenge is refused', async () => {
    const { application } = await app.services.applications.create({ name: 'SPA 2', redirectUris: [REDIRECT], public: true, allowedGroups: [] }, cli);
    const config = await relyingParty(app, application.clientId, undefined);
    const jar = new CookieJar();
    jar.add((await sessionFor(app, userId)).cookie);
    const url = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', state: 's' });
    const landing = await follow(app, url, jar);
    assert.equal(`${landing.url.origin}${landing.url.pathname}`, REDIRECT);
    assert.equal(landing.url.searchParams.get('error'), 'invalid_request');
    assert.match(landing.url.searchParams.get('error_description') ?? '', /PKCE/);
  });

  test('allowed groups name groups as Roster compares their names, without regard to case', async () => {
    // ada is a member of "engineers"; group names are unique regardless of case.
    const { application, config, jar } = await adaSignedInTo('Wiki', ['ENGINEERS']);
    const { landing } = await authorize(app, config, jar, 'openid');
    assert.equal(landing.url.searchParams.get('error'), null, `refused: ${landing.url}`);
    assert.ok(landing.url.searchParams.get('code'));
  });

  test('an application limited to a group refuses anyone else at the authorization step, and the audit trail says who and why', async () => {
    const { application, config, jar } = await adaSignedInTo('Ops console', ['operators']);
    const { landing } = await authorize(app, config, jar, 'openid groups');
    assert.equal(`${landing.url.origin}${landing.url.pathname}`, REDIRECT);
    assert.equal(landing.url.searchParams.get('error'), 'access_denied');
    assert.match(landing.url.searchParams.get('error_description') ?? '', /Only members of "operators" may sign in to Ops console/);
    assert.equal(landing.url.searchParams.get('code'), null);
    const events = await app.services.auditLog.list({ action: 'application.access_refused', targetId: application.clientId }, { offset: 0, limit: 10, ascending: false });
    assert.equal(events.events.length, 1, 'one audit entry for the refusal');
    const details = events.events[0]?.details as { login?: string; reason?: string };
    assert.equal(details.login, 'ada');
    assert.match(String(details.reason), /operators/);

    // A member of the group gets in …
    const operators = await app.request('POST', '/Groups', groupBody('operators', [scimId]));
    const allowed = await authorize(app, config, jar, 'openid groups offline_access');
    assert.ok(allowed.landing.url.searchParams.get('code'), `no code: ${allowed.landing.url}`);
    const tokens = await client.authorizationCodeGrant(config, allowed.landing.url, { pkceCodeVerifier: allowed.verifier, expectedState: allowed.state, expectedNonce: allowed.nonce });
    // … until the IdP takes them out of the group: the next refresh is refused, and userinfo.
    await app.request('PATCH', `/Groups/${operators.body.id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'remove', path: `members[value eq "${scimId}"]` }] });
    await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token!), (error: { error?: string }) => error.error === 'invalid_grant');
    const userinfo = await app.app.inject({ method: 'GET', url: '/oidc/me', headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(userinfo.statusCode, 401);
    // Back in the group for the tests that follow.
    await app.request('PATCH', `/Groups/${operators.body.id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'add', path: 'members', value: [{ value: scimId }] }] });
  });

  test('an edit that leaves a user out of the allowed groups refuses them at the next refresh, userinfo and authorization', async () => {
    const { application, config, jar } = await adaSignedInTo('Narrowed', ['engineers']);
    const first = await authorize(app, config, jar, 'openid groups offline_access');
    const tokens = await client.authorizationCodeGrant(config, first.landing.url, { pkceCodeVerifier: first.verifier, expectedState: first.state, expectedNonce: first.nonce });
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    assert.ok(refreshed.refresh_token);

    // An administrator narrows the application to a group ada is not in.
    const { changed } = await app.services.applications.update(application.clientId, { allowedGroups: ['operators-only'] }, cli);
    assert.deepEqual(changed, ['allowedGroups']);
    await assert.rejects(client.refreshTokenGrant(config, refreshed.refresh_token), (error: { error?: string }) => error.error === 'invalid_grant');
    const userinfo = await app.app.inject({ method: 'GET', url: '/oidc/me', headers: { authorization: `Bearer ${refreshed.access_token}` } });
    assert.equal(userinfo.statusCode, 401);
    assert.equal((await client.tokenIntrospection(config, refreshed.access_token)).active, false);
    const again = await authorize(app, config, jar, 'openid');
    assert.equal(again.landing.url.searchParams.get('error'), 'access_denied');
    assert.match(again.landing.url.searchParams.get('error_description') ?? '', /Only members of "operators-only" may sign in to Narrowed/);

    // Widened again: ada signs in as before, with the same client id and secret.
    await app.services.applications.update(application.clientId, { allowedGroups: ['operators-only', 'engineers'] }, cli);
    const back = await authorize(app, config, jar, 'openid');
    assert.ok(back.landing.url.searchParams.get('code'), `no code: ${back.landing.url}`);
  });

  test('a redirect URI an edit removes is refused at once by another instance that used it, also for a code already issued to it; the client id and secret still work', async () => {
    const store = await openStore(app.location);
    const other = await buildApp({ services: createServices(store, { baseUrl: BASE_URL }), baseUrl: BASE_URL });
    try {
      const { application, secret } = await app.services.applications.create({ name: 'Two regions', redirectUris: [REDIRECT, SECOND_REDIRECT], public: false, allowedGroups: [] }, cli);
      const there = await relyingParty({ ...app, app: other }, application.clientId, secret);
      const otherApp = { ...app, app: other };
      const jar = new CookieJar();
      jar.add((await sessionFor(app, userId)).cookie);
      // The other instance signs ada in through the second URI, so its provider has seen the client.
      const used = await authorize(otherApp, there, jar, 'openid', SECOND_REDIRECT);
      await client.authorizationCodeGrant(there, used.landing.url, { pkceCodeVerifier: used.verifier, expectedState: used.state, expectedNonce: used.nonce });
      const pending = await authorize(otherApp, there, jar, 'openid', SECOND_REDIRECT);
      assert.equal(`${pending.landing.url.origin}${pending.landing.url.pathname}`, SECOND_REDIRECT);

      // This instance removes the second URI.
      await app.services.applications.update(application.clientId, { redirectUris: [REDIRECT] }, cli);

      await assert.rejects(
        client.authorizationCodeGrant(there, pending.landing.url, { pkceCodeVerifier: pending.verifier, expectedState: pending.state, expectedNonce: pending.nonce }),
        (error: { error?: string }) => error.error === 'invalid_grant',
      );
      const refused = await authorize(otherApp, there, jar, 'openid', SECOND_REDIRECT);
      assert.equal(refused.landing.url.origin, BASE_URL, 'the browser is not sent to the removed URI');
      assert.equal(refused.landing.status, 400);
      assert.match(refused.landing.body, /redirect_uri did not match any of the client&#39;s registered redirect_uris|redirect_uri did not match/);
      const signOut = await follow(otherApp, client.buildEndSessionUrl(there, { post_logout_redirect_uri: SECOND_REDIRECT, client_id: application.clientId }), new CookieJar());
      assert.equal(signOut.url.origin, BASE_URL, 'nor sent there after signing out');
      assert.equal(signOut.status, 400);

      const kept = await authorize(otherApp, there, jar, 'openid', REDIRECT);
      const tokens = await client.authorizationCodeGrant(there, kept.landing.url, { pkceCodeVerifier: kept.verifier, expectedState: kept.state, expectedNonce: kept.nonce });
      assert.ok(tokens.id_token);
    } finally {
      await other.close();
      await store.close();
    }
  });

  test('deactivation through SCIM revokes at once: the refresh fails, introspection says inactive, userinfo answers 401', async () => {
    const created = await app.request('POST', '/Users', userBody('grace', { displayName: 'Grace Hopper' }));
    const graceId = (await app.services.accounts.findByLogin('grace'))!.id;
    const { application, secret } = await app.services.applications.create({ name: 'Wiki', redirectUris: [REDIRECT], public: false, allowedGroups: [] }, cli);
    const config = await relyingParty(app, application.clientId, secret);
    const jar = new CookieJar();
    jar.add((await sessionFor(app, graceId)).cookie);
    const { landing, verifier, state, nonce } = await authorize(app, config, jar, 'openid profile offline_access');
    const tokens = await client.authorizationCodeGrant(config, landing.url, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    assert.ok(tokens.refresh_token);
    assert.equal((await client.tokenIntrospection(config, tokens.access_token)).active, true);

    const patched = await app.request('PATCH', `/Users/${created.body.id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'active', value: false }] });
    assert.equal(patched.status, 200);

    await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token), (error: { error?: string }) => error.error === 'invalid_grant');
    assert.equal((await client.tokenIntrospection(config, tokens.access_token)).active, false);
    assert.equal((await client.tokenIntrospection(config, tokens.refresh_token)).active, false);
    const userinfo = await app.app.inject({ method: 'GET', url: '/oidc/me', headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(userinfo.statusCode, 401);
  });

  // What a stolen session obtained through an application must end with "Sign out everywhere":
  // the refresh token used to keep rotating for its 14 days.
  test('"Sign out everywhere" ends the applications\' grants too: the refresh fails, introspection says inactive', async () => {
    await app.request('POST', '/Users', userBody('linnea', { displayName: 'Linnea' }));
    const linneaId = (await app.services.accounts.findByLogin('linnea'))!.id;
    const { application, secret } = await app.services.applications.create({ name: 'Board', redirectUris: [REDIRECT], public: false, allowedGroups: [] }, cli);
    const config = await relyingParty(app, application.clientId, secret);
    const jar = new CookieJar();
    jar.add((await sessionFor(app, linneaId)).cookie);
    const { landing, verifier, state, nonce } = await authorize(app, config, jar, 'openid profile offline_access');
    const tokens = await client.authorizationCodeGrant(config, landing.url, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    assert.ok(tokens.refresh_token);

    assert.equal(await app.services.sessions.signOutEverywhere(linneaId, { kind: 'session', userId: linneaId, login: 'linnea' }), 1);
    await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token), (error: { error?: string }) => error.error === 'invalid_grant');
    assert.equal((await client.tokenIntrospection(config, tokens.access_token)).active, false);
    const entry = await app.services.store.db.selectFrom('audit_events').select('details').where('action', '=', 'session.signed_out_everywhere').where('target_id', '=', linneaId).executeTakeFirstOrThrow();
    const details = (typeof entry.details === 'string' ? JSON.parse(entry.details) : entry.details) as { sessions: number; applicationRows: number };
    assert.equal(details.sessions, 1);
    assert.ok(details.applicationRows > 0, JSON.stringify(details));
  });

  test('a rotated key is published ahead: the old key keeps signing, the JWKS lists both', async () => {
    const { application, secret } = await app.services.applications.create({ name: 'Ahead', redirectUris: [REDIRECT], public: false, allowedGroups: [] }, cli);
    const config = await relyingParty(app, application.clientId, secret);
    const jar = new CookieJar();
    jar.add((await sessionFor(app, userId)).cookie);
    const kidOf = (token: string | undefined): string => JSON.parse(Buffer.from(token!.split('.')[0]!, 'base64url').toString()).kid;
    const first = await authorize(app, config, jar, 'openid');
    const signer = kidOf((await client.authorizationCodeGrant(config, first.landing.url, { pkceCodeVerifier: first.verifier, expectedState: first.state, expectedNonce: first.nonce })).id_token);
    const rotation = await app.services.oidc.rotateKeys(cli);
    assert.equal(rotation.alreadyWaiting, false);
    const jwks = JSON.parse((await app.app.inject({ method: 'GET', url: '/oidc/jwks' })).body) as { keys: { kid: string }[] };
    assert.deepEqual(jwks.keys.map((key) => key.kid), [signer, rotation.kid]);
    const second = await authorize(app, config, jar, 'openid');
    assert.equal(kidOf((await client.authorizationCodeGrant(config, second.landing.url, { pkceCodeVerifier: second.verifier, expectedState: second.state, expectedNonce: second.nonce })).id_token), signer);
    // Made to sign at once (the next test goes on from there).
    assert.equal((await app.services.oidc.rotateKeys(cli, { now: true })).kid, rotation.kid);
  });

  test('a key rotated with now signs at once, and an ID token of the old key still verifies during the grace period', async () => {
    const { application, secret } = await app.services.applications.create({ name: 'Rotated', redirectUris: [REDIRECT], public: false, allowedGroups: [] }, cli);
    const config = await relyingParty(app, application.clientId, secret);
    const jar = new CookieJar();
    jar.add((await sessionFor(app, userId)).cookie);
    const first = await authorize(app, config, jar, 'openid');
    const before = await client.authorizationCodeGrant(config, first.landing.url, { pkceCodeVerifier: first.verifier, expectedState: first.state, expectedNonce: first.nonce });
    const oldKid = JSON.parse(Buffer.from(before.id_token!.split('.')[0]!, 'base64url').toString()).kid;

    const { kid } = await app.services.oidc.rotateKeys(cli, { now: true });
    assert.notEqual(kid, oldKid);
    const jwks = JSON.parse((await app.app.inject({ method: 'GET', url: '/oidc/jwks' })).body) as { keys: { kid: string; d?: string }[] };
    // The new key first (it signs), the one it replaced next; keys retired by earlier tests after them.
    assert.deepEqual(jwks.keys.map((key) => key.kid).slice(0, 2), [kid, oldKid]);
    assert.ok(jwks.keys.every((key) => key.d === undefined), 'the JWKS publishes public keys only');

    // A fresh relying party (no cached keys) verifies a token of the new key …
    const fresh = await relyingParty(app, application.clientId, secret);
    const second = await authorize(app, fresh, jar, 'openid');
    const after = await client.authorizationCodeGrant(fresh, second.landing.url, { pkceCodeVerifier: second.verifier, expectedState: second.state, expectedNonce: second.nonce });
    assert.equal(JSON.parse(Buffer.from(after.id_token!.split('.')[0]!, 'base64url').toString()).kid, kid);
    // … and the old key's token still verifies against the published JWKS.
    const { createPublicKey, verify } = await import('node:crypto');
    const [header, payload, signature] = before.id_token!.split('.') as [string, string, string];
    const oldKey = createPublicKey({ key: jwks.keys.find((key) => key.kid === oldKid) as never, format: 'jwk' });
    assert.ok(verify('sha256', Buffer.from(`${header}.${payload}`), oldKey, Buffer.from(signature, 'base64url')));
  });

  test('the provider\'s cookie keys turn with the signing key: the one before still verifies a sign-in\'s cookies, --now drops it', async () => {
    const { application, secret } = await app.services.applications.create({ name: 'Cookies', redirectUris: [REDIRECT], public: false, allowedGroups: [] }, cli);
    const config = await relyingParty(app, application.clientId, secret);
    const jar = new CookieJar();
    jar.add((await sessionFor(app, userId)).cookie);
    const cookie = (name: string): string | undefined => jar.header().split('; ').find((pair) => pair.startsWith(`${name}=`))?.slice(name.length + 1);
    /** Whether the cookie `name`'s signature cookie is the HMAC of `key` (how koa signs cookies). */
    const signedWith = (name: string, key: string): boolean => cookie(`${name}.sig`) === createHmac('sha1', key).update(`${name}=${cookie(name) ?? ''}`).digest('base64url');
    const cookieKeys = async (): Promise<readonly string[]> => (await loadOidcKeys(app.services.store)).material.cookieKeys;
    const signIn = async (): Promise<void> => {
      const { landing, verifier, state, nonce } = await authorize(app, config, jar, 'openid');
      assert.ok((await client.authorizationCodeGrant(config, landing.url, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce })).id_token);
    };

    await signIn();
    const [before] = await cookieKeys();
    const session = cookie('_session');
    assert.ok(session !== undefined && before !== undefined && signedWith('_session', before), jar.header());

    // A rotation: a new key signs the cookies; the provider session signed with the one before goes on.
    assert.equal((await app.services.oidc.rotateKeys(cli)).alreadyWaiting, false);
    const turned = await cookieKeys();
    assert.equal(turned.length, 2);
    assert.equal(turned[1], before, 'the key before still verifies');
    await signIn();
    assert.equal(cookie('_session'), session, 'the same provider session');
    assert.ok(signedWith('_session', turned[0]!), 'signed again with the new key');

    // --now (key material thought leaked): only a new key; a cookie signed with an earlier one is not trusted.
    await app.services.oidc.rotateKeys(cli, { now: true });
    const fresh = await cookieKeys();
    assert.equal(fresh.length, 1);
    assert.ok(!turned.includes(fresh[0]!));
    await signIn();
    assert.notEqual(cookie('_session'), session, 'a new provider session: the old cookie no longer verifies');
    assert.ok(signedWith('_session', fresh[0]!));
    const audit = await app.services.store.db.selectFrom('audit_events').select('details').where('action', '=', 'oidc.keys_rotated').orderBy('seq', 'desc').limit(2).execute();
    assert.deepEqual(audit.map((row) => (typeof row.details === 'string' ? JSON.parse(row.details) : row.details).previousCookieKeyKept), [false, true]);
    assert.ok(turned.every((key) => !audit.some((row) => JSON.stringify(row.details).includes(key))), 'no cookie key in the audit log');
  });

  test('two instances share everything: authorize on one, exchange the code, refresh and ask userinfo on the other', async () => {
    const store = await openStore(app.location);
    const services = createServices(store, { baseUrl: BASE_URL });
    const other = await buildApp({ services, baseUrl: BASE_URL });
    try {
      const { application, secret } = await app.services.applications.create({ name: 'Shared', redirectUris: [REDIRECT], public: false, allowedGroups: [] }, cli);
      const jar = new CookieJar();
      jar.add((await sessionFor(app, userId)).cookie);
      const here = await relyingParty(app, application.clientId, secret);
      const there = await relyingParty({ ...app, app: other }, application.clientId, secret);
      const { landing, verifier, state, nonce } = await authorize(app, here, jar, 'openid groups offline_access');
      const tokens = await client.authorizationCodeGrant(there, landing.url, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
      assert.ok((tokens.claims()?.groups as string[]).includes('engineers'));
      const refreshed = await client.refreshTokenGrant(there, tokens.refresh_token!);
      assert.equal((await client.fetchUserInfo(here, refreshed.access_token, userId)).sub, userId);
    } finally {
      await other.close();
      await store.close();
    }
  });

  test('RP-initiated logout ends the provider session and the Roster session: the next authorization asks to sign in again', async () => {
    const { application, secret } = await app.services.applications.create({ name: 'Logout', redirectUris: [REDIRECT], public: false, allowedGroups: [] }, cli);
    const config = await relyingParty(app, application.clientId, secret);
    const jar = new CookieJar();
    jar.add((await sessionFor(app, userId)).cookie);
    const first = await authorize(app, config, jar, 'openid');
    const tokens = await client.authorizationCodeGrant(config, first.landing.url, { pkceCodeVerifier: first.verifier, expectedState: first.state, expectedNonce: first.nonce });

    const end = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: REDIRECT, state: 'bye' });
    const confirm = await follow(app, end, jar);
    assert.equal(confirm.status, 200);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(confirm.body)?.[1];
    assert.ok(xsrf, confirm.body.slice(0, 500));
    const posted = await app.app.inject({
      method: 'POST',
      url: '/oidc/session/end/confirm',
      headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ xsrf, logout: 'yes' }).toString(),
    });
    assert.equal(posted.statusCode, 303);
    assert.equal(posted.headers.location, `${REDIRECT}?state=bye`);
    jar.store(posted.headers['set-cookie']);
    assert.doesNotMatch(jar.header(), /__Host-roster_session=/);

    const again = await authorize(app, config, jar, 'openid');
    assert.equal(again.landing.url.pathname, '/sessions/new');
  });

  // Someone else signs in on the same browser: the provider posts logout=yes itself to end the
  // previous user's provider session. That used to end the new user's Roster session as well.
  test('another user signing in on the same browser stays signed in to Roster through the first application sign-in', async () => {
    await app.request('POST', '/Users', userBody('dave', { displayName: 'Dave' }));
    await app.request('POST', '/Users', userBody('mallory', { displayName: 'Mallory' }));
    const daveId = (await app.services.accounts.findByLogin('dave'))!.id;
    const malloryId = (await app.services.accounts.findByLogin('mallory'))!.id;
    const { application, secret } = await app.services.applications.create({ name: 'Shared desk', redirectUris: [REDIRECT], public: false, allowedGroups: [] }, cli);
    const config = await relyingParty(app, application.clientId, secret);
    const jar = new CookieJar();
    jar.add((await sessionFor(app, daveId)).cookie);
    assert.ok((await authorize(app, config, jar, 'openid')).landing.url.searchParams.get('code'));
    // Mallory signs in to Roster on this browser (Dave's provider session is still there).
    const mallory = await sessionFor(app, malloryId);
    jar.add(mallory.cookie);
    const second = await authorize(app, config, jar, 'openid');
    // The provider's own page, posting logout=yes to end Dave's provider session: as the browser does.
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(second.landing.body)?.[1];
    assert.ok(xsrf, second.landing.body.slice(0, 300));
    const posted = await app.app.inject({ method: 'POST', url: '/oidc/session/end/confirm', headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ xsrf, logout: 'yes' }).toString() });
    assert.equal(posted.statusCode, 303);
    jar.store(posted.headers['set-cookie']);
    assert.match(jar.header(), /__Host-roster_session=/, "Mallory's Roster cookie is kept");
    assert.equal((await app.services.sessions.find(mallory.cookie.slice(`${SESSION_COOKIE}=`.length)))?.userId, malloryId);
    // And the sign-in under way goes on, for Mallory, without signing in to Roster again (the
    // revocation of Dave's grant used to delete this interaction too).
    const landing = await follow(app, String(posted.headers.location), jar);
    assert.ok(landing.url.searchParams.get('code'), `${landing.url.toString()} ${landing.status} ${landing.body.slice(0, 300)}`);
    const tokens = await client.authorizationCodeGrant(config, landing.url, { pkceCodeVerifier: second.verifier, expectedState: second.state, expectedNonce: second.nonce });
    assert.equal(tokens.claims()?.sub, malloryId);
  });

  test('a link to /oidc/session/end from another site does not sign a Roster user out: the user is asked, and only a yes ends the session (audited)', async () => {
    // A browser signed in to Roster (the console, forward auth) that never used an application:
    // the provider holds no session for it, and would post `logout=yes` on its own.
    const jar = new CookieJar();
    const { cookie } = await sessionFor(app, userId);
    jar.add(cookie);
    const value = cookie.slice(`${SESSION_COOKIE}=`.length);
    const asked = await follow(app, '/oidc/session/end', jar);
    assert.equal(asked.status, 200);
    assert.match(asked.body, /Yes, sign me out/);
    assert.doesNotMatch(asked.body, /name="logout"[^>]*type="hidden"|type="hidden"[^>]*name="logout"|value="yes"[^>]*type="hidden"/, 'no self-submitting logout=yes');
    assert.doesNotMatch(asked.body, /\.submit\(\)/, 'nothing submits the form on its own');
    assert.equal((await app.services.sessions.find(value))?.userId, userId, 'the Roster session is still open');

    // Saying no keeps it; saying yes ends it, audited as a sign-out by its holder.
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(asked.body)?.[1];
    assert.ok(xsrf, asked.body.slice(0, 500));
    const no = await app.app.inject({ method: 'POST', url: '/oidc/session/end/confirm', headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ xsrf }).toString() });
    assert.equal(no.statusCode, 303);
    assert.ok(await app.services.sessions.find(value), 'no keeps the Roster session');
    jar.store(no.headers['set-cookie']);
    assert.match((await follow(app, String(no.headers.location), jar)).body, /You are still signed in to Roster/);
    const again = await follow(app, '/oidc/session/end', jar);
    const secondXsrf = /name="xsrf" value="([^"]+)"/.exec(again.body)?.[1];
    assert.ok(secondXsrf);
    const before = (await app.services.auditLog.list({ action: 'session.signed_out', targetId: userId }, { offset: 0, limit: 10, ascending: false })).events.length;
    const yes = await app.app.inject({ method: 'POST', url: '/oidc/session/end/confirm', headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ xsrf: secondXsrf, logout: 'yes' }).toString() });
    assert.equal(yes.statusCode, 303);
    assert.equal(await app.services.sessions.find(value), undefined, 'yes ends the Roster session');
    const audited = (await app.services.auditLog.list({ action: 'session.signed_out', targetId: userId }, { offset: 0, limit: 10, ascending: false })).events;
    assert.equal(audited.length, before + 1, 'the sign-out is in the audit trail');
    jar.store(yes.headers['set-cookie']);
    assert.match((await follow(app, String(yes.headers.location), jar)).body, /You are signed out of Roster/);

    // A browser without a Roster session has nothing to lose: the provider's own shortcut stands.
    const stranger = await app.app.inject({ method: 'GET', url: '/oidc/session/end', headers: { accept: 'text/html' } });
    assert.equal(stranger.statusCode, 200);
    assert.doesNotMatch(stranger.body, /Yes, sign me out/);
  });

  // RP-Initiated Logout 1.0 §2: the end_session_endpoint MUST take POST as well as GET; it
  // answered 404. The application's form post is cross-site, so it carries no Roster cookie
  // (SameSite=Lax): the 303 to the GET request brings them back, and with them the question.
  test('POST /oidc/session/end (a logout request by form post) goes on as the GET request does: the question, then yes signs out and returns to post_logout_redirect_uri with state', async () => {
    const { application, config, jar } = await adaSignedInTo('Logout by form post', []);
    const first = await authorize(app, config, jar, 'openid');
    const tokens = await client.authorizationCodeGrant(config, first.landing.url, { pkceCodeVerifier: first.verifier, expectedState: first.state, expectedNonce: first.nonce });
    const rosterSession = jar.header().match(/__Host-roster_session=([^;]+)/)![1]!;
    const post = async (parameters: Record<string, string>) => {
      const end = client.buildEndSessionUrl(config, parameters);
      const posted = await crossSiteFormPost(app, '/oidc/session/end', end.searchParams);
      assert.equal(posted.statusCode, 303, posted.body.slice(0, 300));
      assert.equal(posted.headers['set-cookie'], undefined, 'the post itself changes nothing');
      const location = new URL(String(posted.headers.location), BASE_URL);
      assert.equal(location.pathname, '/oidc/session/end');
      assert.deepEqual([...location.searchParams].sort(), [...end.searchParams].sort(), 'the same parameters, as a GET request');
      return location;
    };

    const location = await post({ id_token_hint: tokens.id_token!, post_logout_redirect_uri: REDIRECT, state: 'bye', logout_hint: 'ada', ui_locales: 'en' });
    assert.equal(location.searchParams.get('client_id'), application.clientId);
    const asked = await follow(app, location, jar);
    assert.equal(asked.status, 200);
    assert.match(asked.body, /Sign out of Roster and the applications you signed in to through it\?/);
    // It does not promise more than it does: grants with offline access outlive it.
    assert.match(asked.body, /allowed to stay connected while you are away \(offline access\) keep that access; <strong>Sign out everywhere<\/strong>/);
    assert.ok(await app.services.sessions.find(rosterSession), 'nothing is signed out before the answer');
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(asked.body)?.[1];
    assert.ok(xsrf, asked.body.slice(0, 500));
    const yes = await app.app.inject({ method: 'POST', url: '/oidc/session/end/confirm', headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ xsrf, logout: 'yes' }).toString() });
    assert.equal(yes.statusCode, 303);
    assert.equal(yes.headers.location, `${REDIRECT}?state=bye`);
    assert.equal(await app.services.sessions.find(rosterSession), undefined, 'yes ends the Roster session');
    jar.store(yes.headers['set-cookie']);
    assert.equal((await authorize(app, config, jar, 'openid')).landing.url.pathname, '/sessions/new');

    // A post_logout_redirect_uri the application did not register is refused as in a GET request.
    const elsewhere = await follow(app, await post({ client_id: application.clientId, post_logout_redirect_uri: 'https://attacker.example.com/', state: 'x' }), new CookieJar());
    assert.equal(elsewhere.url.origin, BASE_URL, 'the browser is not sent to an unregistered URI');
    assert.equal(elsewhere.status, 400);
    assert.match(elsewhere.body, /post_logout_redirect_uri/);

    // Only a form, and only the size of a request that fits a URL.
    const json = await app.app.inject({ method: 'POST', url: '/oidc/session/end', headers: { 'content-type': 'application/json', accept: 'text/html' }, payload: '{"client_id":"x"}' });
    assert.equal(json.statusCode, 415);
    assert.match(json.body, /logout request is posted as an application\/x-www-form-urlencoded form/);
    const huge = await app.app.inject({ method: 'POST', url: '/oidc/session/end', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' }, payload: `state=${'a'.repeat(9000)}` });
    assert.equal(huge.statusCode, 413);
    assert.match(huge.body, /logout request is larger than 8 KiB/);
  });

  test('a provisioned user signs in through the SAML IdP from the sign-in page and lands back in the application', async () => {
    const { application, secret } = await app.services.applications.create({ name: 'Via SAML', redirectUris: [REDIRECT], public: false, allowedGroups: ['engineers'] }, cli);
    const config = await relyingParty(app, application.clientId, secret);
    const jar = new CookieJar();
    const { landing, verifier, state, nonce } = await authorize(app, config, jar, 'openid groups');
    assert.equal(landing.url.pathname, '/sessions/new');
    const returnTo = landing.url.searchParams.get('returnTo')!;
    const { requestId } = await startLogin(app, `/saml/login?returnTo=${encodeURIComponent(returnTo)}`);
    const acs = await postResponse(app, buildResponse({ login: 'ada', inResponseTo: requestId }));
    assert.equal(acs.statusCode, 303, acs.body);
    assert.equal(acs.headers.location, returnTo);
    jar.add(`${SESSION_COOKIE}=${sessionCookieOf(acs)}`);
    const back = await follow(app, returnTo, jar);
    const tokens = await client.authorizationCodeGrant(config, back.url, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    assert.equal(tokens.claims()?.sub, userId);
    assert.ok((tokens.claims()?.groups as string[]).includes('engineers'));
  });

  // RFC 7662 §4: the provider's default let any application with a secret introspect any token,
  // and learn whose it is (sub), its scopes and the application it was issued to.
  test('an application introspects only its own tokens: another application\'s token answers {"active": false}', async () => {
    const { config: mine } = await adaSignedInTo('Introspected', []);
    const jar = new CookieJar();
    jar.add((await sessionFor(app, userId)).cookie);
    const { landing, verifier, state, nonce } = await authorize(app, mine, jar, 'openid groups offline_access');
    const tokens = await client.authorizationCodeGrant(mine, landing.url, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    assert.ok(tokens.refresh_token);
    const own = await client.tokenIntrospection(mine, tokens.access_token);
    assert.equal(own.active, true);
    assert.equal(own.sub, userId);

    const other = await app.services.applications.create({ name: 'Nosy', redirectUris: [REDIRECT], public: false, allowedGroups: [] }, cli);
    const nosy = await relyingParty(app, other.application.clientId, other.secret);
    for (const token of [tokens.access_token, tokens.refresh_token]) assert.deepEqual(await client.tokenIntrospection(nosy, token), { active: false });
    const nosyPublic = await app.services.applications.create({ name: 'Nosy SPA', redirectUris: [REDIRECT], public: true, allowedGroups: [] }, cli);
    assert.deepEqual(await client.tokenIntrospection(await relyingParty(app, nosyPublic.application.clientId, undefined), tokens.access_token), { active: false });
    // Asking did not spoil the token for its own application.
    assert.equal((await client.tokenIntrospection(mine, tokens.refresh_token)).active, true);
  });

  test('the stored hash of a client secret is no credential, in the header or the form body, at every endpoint; the secret works in both', async () => {
    const { application, secret } = await app.services.applications.create({ name: 'Hash is no key', redirectUris: [REDIRECT], public: false, allowedGroups: [] }, cli);
    const row = await app.services.store.db.selectFrom('oidc_applications').select('secret_hash').where('client_id', '=', application.clientId).executeTakeFirstOrThrow();
    assert.ok(row.secret_hash !== null && secret !== undefined);
    const stored: string = row.secret_hash;
    const real: string = secret;
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const basic = (value: string) => ({ ...form, authorization: `Basic ${Buffer.from(`${encodeURIComponent(application.clientId)}:${encodeURIComponent(value)}`).toString('base64')}` });
    const inBody = (value: string) => `client_secret=${encodeURIComponent(value)}`;
    const par = `client_id=${encodeURIComponent(application.clientId)}&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(REDIRECT)}&code_challenge=${'a'.repeat(43)}&code_challenge_method=S256`;
    const calls = [
      { url: '/oidc/token/introspection', payload: `client_id=${encodeURIComponent(application.clientId)}&token=unknown`, ok: 200 },
      { url: '/oidc/request', payload: par, ok: 201 },
    ];
    for (const { url, payload, ok } of calls) {
      for (const [label, value] of [['the stored hash', stored], ['the secret', real]] as const) {
        const viaHeader = await app.app.inject({ method: 'POST', url, headers: basic(value), payload });
        const viaBody = await app.app.inject({ method: 'POST', url, headers: form, payload: `${payload}&${inBody(value)}` });
        for (const [how, response] of [['header', viaHeader], ['body', viaBody]] as const) {
          if (label === 'the secret') assert.equal(response.statusCode, ok, `${url}, ${label} in the ${how}: ${response.body}`);
          else assert.deepEqual([response.statusCode, response.json().error], [401, 'invalid_client'], `${url}, ${label} in the ${how}`);
        }
      }
    }
    // Discovery advertises what applications can use: a secret, or none (PKCE).
    const discovery = (await app.app.inject({ method: 'GET', url: '/.well-known/openid-configuration' })).json();
    assert.deepEqual([...discovery.token_endpoint_auth_methods_supported].sort(), ['client_secret_basic', 'client_secret_post', 'none']);
  });

  /** An authorization request of `config` with `extra` parameters, followed in `jar`'s browser. */
  async function ask(config: client.Configuration, jar: CookieJar, extra: Record<string, string>) {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, ...extra });
    return { landing: await follow(app, url, jar), verifier, state };
  }

  /** A Roster session of `user` that signed in an hour ago: its cookie value and its sign-in time (seconds). */
  async function hourOldSession(user: string) {
    const openedFrom = new Date(Date.now() - 1000).toISOString();
    const session = await app.services.sessions.open(user);
    const hourAgo = new Date(Date.now() - 3_600_000);
    await app.services.store.db.updateTable('sessions').set({ created_at: hourAgo.toISOString() }).where('user_id', '=', user).where('created_at', '>=', openedFrom).execute();
    return { value: session.value, signedInAt: Math.floor(hourAgo.getTime() / 1000) };
  }

  test('auth_time is when the browser signed in to Roster; prompt=none with a max_age it is older than answers login_required', async () => {
    const { config } = await adaSignedInTo('Step-up', []);
    const jar = new CookieJar();
    const { value, signedInAt } = await hourOldSession(userId);
    jar.add(`${SESSION_COOKIE}=${value}`);
    for (const extra of [{}, { max_age: '7200' }]) {
      const { landing, verifier, state } = await ask(config, jar, extra);
      const tokens = await client.authorizationCodeGrant(config, landing.url, { pkceCodeVerifier: verifier, expectedState: state, ...(extra.max_age ? { maxAge: Number(extra.max_age) } : {}) });
      assert.equal(tokens.claims()?.auth_time, signedInAt, `auth_time ${JSON.stringify(extra)}`);
    }
    // A silent request cannot show the sign-in page: OpenID Connect Core 3.1.2.1.
    const { landing } = await ask(config, jar, { prompt: 'none', max_age: '60' });
    assert.equal(landing.url.searchParams.get('error'), 'login_required', landing.url.toString());
    assert.ok(await app.services.sessions.find(value), 'the Roster session is untouched');
  });

  // OpenID Connect Core 3.1.2.1: prompt=login and max_age ask for the user to be authenticated
  // again; Roster answered login_required instead, telling the user to sign out and in.
  test('prompt=login, or a max_age the sign-in is older than, shows the sign-in page again; signed in anew, the ID token has the new auth_time and the old session has ended', async () => {
    const { application, secret } = await app.services.applications.create({ name: 'Step-up again', redirectUris: [REDIRECT], public: false, allowedGroups: [] }, cli);
    const config = await relyingParty(app, application.clientId, secret);
    const { password } = await app.services.administrators.resetPassword('admin', cli);
    const signOuts = async () => (await app.services.auditLog.list({ action: 'session.signed_out', targetId: app.adminId }, { offset: 0, limit: 50, ascending: false })).events.length;
    const signOutsBefore = await signOuts();
    for (const extra of [{ prompt: 'login' }, { max_age: '0' }]) {
      const jar = new CookieJar();
      const old = await hourOldSession(app.adminId);
      jar.add(`${SESSION_COOKIE}=${old.value}`);
      const askedAt = Math.floor(Date.now() / 1000);
      const { landing, verifier, state } = await ask(config, jar, extra);
      assert.equal(landing.url.pathname, '/sessions/new', `${JSON.stringify(extra)}: ended at ${landing.url}`);
      assert.equal(landing.url.searchParams.get('reauthenticate'), '1');
      assert.equal(landing.status, 200, 'the sign-in page is shown to the signed-in browser');
      assert.match(landing.body, /asks you to sign in again/);
      assert.match(landing.body, /name="login"[^>]* value="admin"/, 'the signed-in login is filled in');
      const returnTo = landing.url.searchParams.get('returnTo')!;
      assert.match(returnTo, /^\/oidc\/interaction\/[\w-]+$/);

      const signedIn = await passwordSignIn(app, 'admin', password, { returnTo });
      assert.equal(signedIn.headers.location, returnTo);
      jar.add(sessionOf(signedIn).cookie);
      const back = await follow(app, returnTo, jar);
      assert.equal(`${back.url.origin}${back.url.pathname}`, REDIRECT, `${JSON.stringify(extra)}: ended at ${back.url} (${back.status}): ${back.body.slice(0, 300)}`);
      const tokens = await client.authorizationCodeGrant(config, back.url, { pkceCodeVerifier: verifier, expectedState: state, ...(extra.max_age ? { maxAge: 3600 } : {}) });
      const authTime = tokens.claims()?.auth_time ?? 0;
      assert.equal(tokens.claims()?.sub, app.adminId);
      assert.ok(authTime >= askedAt && authTime > old.signedInAt, `${JSON.stringify(extra)}: auth_time ${authTime}, asked at ${askedAt}`);
      assert.equal(await app.services.sessions.find(old.value), undefined, 'the session signed in an hour ago has ended');

      // The new sign-in is what the next request carries.
      const next = await ask(config, jar, {});
      const again = await client.authorizationCodeGrant(config, next.landing.url, { pkceCodeVerifier: next.verifier, expectedState: next.state });
      assert.equal(again.claims()?.auth_time, authTime);
    }
    assert.equal(await signOuts(), signOutsBefore, 'the same user signing in again is no sign-out');
  });

  test('the new sign-in answers prompt=login and max_age=0 even when the instance that opened it has a clock seconds behind', async () => {
    const { application, secret } = await app.services.applications.create({ name: 'Step-up, clocks apart', redirectUris: [REDIRECT], public: false, allowedGroups: [] }, cli);
    const config = await relyingParty(app, application.clientId, secret);
    const { password } = await app.services.administrators.resetPassword('admin', cli);
    for (const extra of [{ prompt: 'login' }, { max_age: '0' }]) {
      const jar = new CookieJar();
      jar.add(`${SESSION_COOKIE}=${(await hourOldSession(app.adminId)).value}`);
      const { landing, verifier, state } = await ask(config, jar, extra);
      assert.equal(landing.url.pathname, '/sessions/new');
      const returnTo = landing.url.searchParams.get('returnTo')!;
      const signedIn = await passwordSignIn(app, 'admin', password, { returnTo });
      const fresh = sessionOf(signedIn);
      jar.add(fresh.cookie);
      // As another instance 5 s behind this one would have written it: before the request began.
      const behind = new Date(Date.now() - 5_000).toISOString();
      await app.services.store.db.updateTable('sessions').set({ created_at: behind }).where('id', '=', app.services.sessions.idOf(fresh.cookie.slice(`${SESSION_COOKIE}=`.length))).execute();
      const back = await follow(app, returnTo, jar);
      assert.equal(`${back.url.origin}${back.url.pathname}`, REDIRECT, `${JSON.stringify(extra)}: sent round again, to ${back.url}`);
      const tokens = await client.authorizationCodeGrant(config, back.url, { pkceCodeVerifier: verifier, expectedState: state, ...(extra.max_age ? { maxAge: 3600 } : {}) });
      assert.equal(tokens.claims()?.sub, app.adminId);
      // auth_time stays what the session says: Roster does not invent a later one.
      assert.equal(tokens.claims()?.auth_time, Math.floor(Date.parse(behind) / 1000));
    }
  });

  test('a forced re-authentication through SAML asks the IdP with ForceAuthn="true"; when someone else signs in, the first user\'s Roster session ends, audited as a sign-out', async () => {
    const { application, secret } = await app.services.applications.create({ name: 'Step-up by SAML', redirectUris: [REDIRECT], public: false, allowedGroups: [] }, cli);
    const config = await relyingParty(app, application.clientId, secret);
    const jar = new CookieJar();
    const old = await hourOldSession(app.adminId);
    jar.add(`${SESSION_COOKIE}=${old.value}`);
    const first = await ask(config, jar, {});
    assert.ok(first.landing.url.searchParams.get('code'), 'admin signed in to the application once: the provider has its session');
    const signOuts = async () => (await app.services.auditLog.list({ action: 'session.signed_out', targetId: app.adminId }, { offset: 0, limit: 50, ascending: false })).events.length;
    const before = await signOuts();

    const asked = await ask(config, jar, { prompt: 'login' });
    assert.equal(asked.landing.url.pathname, '/sessions/new');
    const returnTo = asked.landing.url.searchParams.get('returnTo')!;
    const samlLink = /href="(\/saml\/login[^"]*)"/.exec(asked.landing.body)?.[1]?.replace(/&amp;/g, '&');
    assert.ok(samlLink, asked.landing.body.slice(0, 500));
    const authnRequest = (location: string) => inflateRawSync(Buffer.from(new URL(location).searchParams.get('SAMLRequest') ?? '', 'base64')).toString('utf8');
    const { requestId, location } = await startLogin(app, samlLink);
    assert.match(authnRequest(location), /ForceAuthn="true"/);
    assert.doesNotMatch(authnRequest((await startLogin(app, `/saml/login?returnTo=${encodeURIComponent(returnTo)}`)).location), /ForceAuthn/, 'an ordinary sign-in lets the IdP use its own session');

    const acs = await postResponse(app, buildResponse({ login: 'ada', inResponseTo: requestId }));
    assert.equal(acs.statusCode, 303, acs.body);
    assert.equal(acs.headers.location, returnTo);
    const adaSession = sessionCookieOf(acs)!;
    jar.add(`${SESSION_COOKIE}=${adaSession}`);
    const back = await follow(app, returnTo, jar);
    // The provider ends admin's provider session with its own form posting logout=yes, as a browser does.
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(back.body)?.[1];
    assert.ok(xsrf, `${back.url} ${back.status} ${back.body.slice(0, 300)}`);
    const posted = await app.app.inject({ method: 'POST', url: '/oidc/session/end/confirm', headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ xsrf, logout: 'yes' }).toString() });
    jar.store(posted.headers['set-cookie']);
    const landing = await follow(app, String(posted.headers.location), jar);
    const tokens = await client.authorizationCodeGrant(config, landing.url, { pkceCodeVerifier: asked.verifier, expectedState: asked.state });
    assert.equal(tokens.claims()?.sub, userId);
    assert.ok((tokens.claims()?.auth_time ?? 0) > old.signedInAt);
    assert.equal(await app.services.sessions.find(old.value), undefined, "admin's Roster session has ended");
    assert.equal(await signOuts(), before + 1, "admin's sign-out is in the audit trail");
    assert.equal((await app.services.sessions.find(adaSession))?.userId, userId, "ada's new session is open");
  });

  // OpenID Connect Core 3.1.2.6: a silent request the user must sign in for gets login_required
  // (a client renewing silently acts on it); it got interaction_required.
  test('after the Roster session ends, a silent request (prompt=none) answers login_required', async () => {
    await app.request('POST', '/Users', userBody('silent', { displayName: 'Silent' }));
    const silentId = (await app.services.accounts.findByLogin('silent'))!.id;
    const { application, secret } = await app.services.applications.create({ name: 'Silent renew', redirectUris: [REDIRECT], public: false, allowedGroups: [] }, cli);
    const config = await relyingParty(app, application.clientId, secret);
    const jar = new CookieJar();
    const session = await sessionFor(app, silentId);
    jar.add(session.cookie);
    const first = await authorize(app, config, jar, 'openid');
    assert.ok(first.landing.url.searchParams.get('code'), 'signed in once: the provider has a session in this browser');
    // Sign out of Roster (this browser only): the provider's own session is still there.
    assert.equal(await app.services.sessions.signOut(session.cookie.slice(`${SESSION_COOKIE}=`.length)), true);
    const url = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256', state: client.randomState(), prompt: 'none' });
    const landing = await follow(app, url, jar);
    assert.equal(landing.url.searchParams.get('error'), 'login_required', landing.url.toString());
  });

  test('offline_access gives a refresh token whatever else the request prompts for', async () => {
    const { config } = await adaSignedInTo('Offline prompts', []);
    const jar = new CookieJar();
    const session = await app.services.sessions.open(userId);
    jar.add(`${SESSION_COOKIE}=${session.value}`);
    // As if the browser had signed in during this request, so that prompt=login is satisfied.
    await app.services.store.db.updateTable('sessions').set({ created_at: new Date(Date.now() + 5_000).toISOString() }).where('user_id', '=', userId).execute();
    for (const prompt of [undefined, 'login', 'consent', 'login consent']) {
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const url = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid offline_access', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, ...(prompt ? { prompt } : {}) });
      const landing = await follow(app, url, jar);
      const tokens = await client.authorizationCodeGrant(config, landing.url, { pkceCodeVerifier: verifier, expectedState: state });
      assert.ok(tokens.refresh_token, `prompt=${prompt}`);
      assert.match(tokens.scope ?? '', /offline_access/, `prompt=${prompt}`);
    }
  });

  test('hostile ids (a NUL, a lone surrogate) are answered as unknown, never with a 500', async () => {
    for (const bad of ['%00', '%ED%A0%80', 'a%00b']) {
      for (const url of [
        `/oidc/auth?client_id=${bad}&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(REDIRECT)}`,
        `/oidc/session/end?client_id=${bad}`,
        `/oidc/interaction/${bad}`,
      ]) {
        const response = await app.app.inject({ method: 'GET', url });
        assert.ok(response.statusCode < 500, `${url}: ${response.statusCode} ${response.body.slice(0, 200)}`);
      }
      const { application, secret } = await app.services.applications.create({ name: `Hostile ${bad}`, redirectUris: [REDIRECT], public: false, allowedGroups: [] }, cli);
      const basic = `Basic ${Buffer.from(`${application.clientId}:${secret}`).toString('base64')}`;
      for (const payload of [`grant_type=authorization_code&code=${bad}&redirect_uri=${encodeURIComponent(REDIRECT)}&code_verifier=${'a'.repeat(43)}`, `grant_type=refresh_token&refresh_token=${bad}`]) {
        const response = await app.app.inject({ method: 'POST', url: '/oidc/token', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, payload });
        assert.equal(response.statusCode, 400, response.body);
      }
      for (const url of ['/oidc/token/introspection', '/oidc/token/revocation']) {
        const response = await app.app.inject({ method: 'POST', url, headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, payload: `token=${bad}` });
        assert.equal(response.statusCode, 200, `${url}: ${response.body}`);
      }
      const userinfo = await app.app.inject({ method: 'GET', url: '/oidc/me', headers: { authorization: `Bearer a${decodeURIComponent(bad === '%ED%A0%80' ? '%00' : bad)}b` } });
      assert.ok(userinfo.statusCode < 500, `userinfo: ${userinfo.statusCode}`);
    }
  });

  test('SCIM DELETE (deactivation, as the admin API and the CLI do it) revokes the refresh token too', async () => {
    const linus = await app.request('POST', '/Users', userBody('linus'));
    const linusId = (await app.services.accounts.findByLogin('linus'))!.id;
    const { application, secret } = await app.services.applications.create({ name: 'Deactivated', redirectUris: [REDIRECT], public: false, allowedGroups: [] }, cli);
    const config = await relyingParty(app, application.clientId, secret);
    const jar = new CookieJar();
    jar.add((await sessionFor(app, linusId)).cookie);
    const { landing, verifier, state, nonce } = await authorize(app, config, jar, 'openid offline_access');
    const tokens = await client.authorizationCodeGrant(config, landing.url, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    assert.ok(tokens.refresh_token);
    const removed = await app.request('DELETE', `/Users/${linus.body.id}`);
    assert.equal(removed.status, 204, JSON.stringify(removed.body));
    await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token), (error: { error?: string }) => error.error === 'invalid_grant');
    assert.equal((await client.tokenIntrospection(config, tokens.access_token)).active, false);
    const rows = await app.services.store.db.selectFrom('oidc_models').select('id').where('account_id', '=', linusId).execute();
    assert.deepEqual(rows, []);
  });
});
