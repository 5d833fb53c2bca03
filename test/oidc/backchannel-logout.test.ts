/**
 * OpenID Connect Back-Channel Logout 1.0: when Roster ends a user's sign-in, each application
 * the user signed in to through the real authorization code flow (openid-client) and that
 * registered a back-channel logout URI gets a Logout Token at a real HTTP receiver, from the
 * worker `roster serve` runs, verified here against the provider's JWKS with jose, as an
 * application would. On SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import * as client from 'openid-client';
import { startLogoutDeliveries, type LogoutOutcome, type LogoutWorker } from '../../src/delivery/logouts.ts';
import { createServices } from '../../src/services.ts';
import { openStore } from '../../src/store/index.ts';
import { parseDatabaseArgument } from '../../src/config.ts';
import { BASE_URL, startTestApp, userBody, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { postForm, sessionFor } from '../support/console.ts';
import { CookieJar, follow, relyingParty } from '../support/oidc.ts';
import { startReceiver, type Receiver, type Received } from '../support/receiver.ts';

const REDIRECT = 'https://grafana.example.com/login/generic_oauth';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const cli = { kind: 'cli' } as const;
/** Fast retries: the worker takes its schedule as an option, so that these tests run in seconds. */
const FAST = [100, 150];

eachDatabase('back-channel logout on', (database) => {
  let app: TestApp;
  /** An instance without SCIM provisioning, whose administrators deactivate users themselves (managed instances refuse it). */
  let unmanaged: TestApp;
  let receiver: Receiver;
  let workers: LogoutWorker[] = [];
  let outcomes: LogoutOutcome[] = [];
  let seq = 0;

  before(async () => {
    app = await startTestApp({ database });
    unmanaged = await startTestApp({ database, scim: false });
    receiver = await startReceiver();
  });
  afterEach(async () => {
    for (const worker of workers) await worker.stop();
    workers = [];
    outcomes = [];
    receiver.received.length = 0;
    receiver.answer = () => ({ status: 204 });
  });
  after(async () => {
    await receiver.close();
    await app.close();
    await unmanaged.close();
  });

  /** The worker of `roster serve`, with fast retries. */
  function work(options: { schedule?: number[]; timeoutMs?: number; store?: TestApp['services']['store']; instance?: string } = {}, on: TestApp = app): LogoutWorker {
    const worker = startLogoutDeliveries(options.store ?? on.services.store, {
      issuer: BASE_URL,
      retrySchedule: options.schedule ?? FAST,
      pollMs: 30,
      leaseMs: 2000,
      timeoutMs: options.timeoutMs ?? 2000,
      observe: (outcome) => outcomes.push(outcome),
      ...(options.instance !== undefined ? { instance: options.instance } : {}),
    });
    workers.push(worker);
    return worker;
  }

  /** A receiver path of its own for each application, so that who got what is plain. */
  const uriOf = (name: string): string => receiver.url.replace(/\/hook$/, `/${name}`);
  const at = (name: string) => (requests: readonly Received[]) => requests.filter((request) => request.path === `/${name}`);

  /** An application with a back-channel logout URI at the receiver. */
  async function registered(name: string, backchannelLogoutUri: string | null = uriOf(name), on: TestApp = app) {
    const { application, secret } = await on.services.applications.create({ name, redirectUris: [REDIRECT], public: false, allowedGroups: [], backchannelLogoutUri }, cli);
    return { clientId: application.clientId, config: await relyingParty(on, application.clientId, secret) };
  }

  /** A user provisioned through SCIM. */
  async function provisioned(): Promise<{ userId: string; scimId: string; login: string }> {
    seq += 1;
    const login = `bcl-${seq}@example.com`;
    const created = await app.request('POST', '/Users', userBody(login, { displayName: login }));
    assert.equal(created.status, 201);
    return { userId: (await app.services.accounts.findByLogin(login))!.id, scimId: created.body.id as string, login };
  }

  /** A user an administrator manages (the IdP's users are deactivated through SCIM only). */
  async function local(): Promise<{ userId: string; scimId: string; login: string }> {
    seq += 1;
    const login = `bcl-local-${seq}@example.com`;
    const user = await unmanaged.services.accounts.create({ login, name: login, local: false }, cli);
    return { userId: user.id, scimId: '', login };
  }

  /** Signs `userId` in to the application through the browser and the code flow; returns the browser and the ID token's claims. */
  async function signIn(userId: string, config: client.Configuration, on: TestApp = app) {
    const jar = new CookieJar();
    const rosterSession = await sessionFor(on, userId);
    jar.add(rosterSession.cookie);
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid profile', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state });
    const landing = await follow(on, url, jar);
    assert.equal(`${landing.url.origin}${landing.url.pathname}`, REDIRECT, `ended at ${landing.url} (${landing.status}): ${landing.body.slice(0, 500)}`);
    const tokens = await client.authorizationCodeGrant(config, landing.url, { pkceCodeVerifier: verifier, expectedState: state });
    const claims = tokens.claims();
    assert.ok(claims);
    return { jar, claims, tokens, csrf: rosterSession.csrf };
  }

  /** Verifies a received logout token as an application does: signature against the JWKS, then the claims. */
  async function verified(request: Received, clientId: string, on: TestApp = app): Promise<JWTPayload> {
    assert.equal(request.headers['content-type'], 'application/x-www-form-urlencoded');
    const form = new URLSearchParams(request.body);
    assert.deepEqual([...form.keys()], ['logout_token']);
    const token = form.get('logout_token') ?? '';
    const jwks = (await on.app.inject({ method: 'GET', url: '/oidc/jwks' })).json();
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: BASE_URL, audience: clientId, typ: 'logout+jwt', algorithms: ['RS256'] });
    assert.equal(protectedHeader.typ, 'logout+jwt');
    assert.deepEqual(payload.events, { [EVENT]: {} });
    assert.equal(payload.nonce, undefined, 'a logout token carries no nonce');
    assert.equal(payload.sid, undefined, 'no sid: Roster ID tokens carry none');
    assert.equal(typeof payload.jti, 'string');
    assert.ok(typeof payload.iat === 'number' && Math.abs(payload.iat - Date.now() / 1000) < 60);
    assert.ok(typeof payload.exp === 'number' && payload.exp > payload.iat && payload.exp - payload.iat <= 120, 'short-lived');
    return payload;
  }

  async function outbox(on: TestApp = app): Promise<number> {
    return (await on.services.store.db.selectFrom('oidc_logouts').select('id').execute()).length;
  }

  test('discovery says back-channel logout is supported, without sessions (no sid)', async () => {
    const discovery = (await app.app.inject({ method: 'GET', url: '/.well-known/openid-configuration' })).json();
    assert.equal(discovery.backchannel_logout_supported, true);
    assert.equal(discovery.backchannel_logout_session_supported, false);
  });

  test('a SCIM deactivation sends the application the user signed in to a logout token signed with the JWKS key, whose sub is the ID token\'s', async () => {
    const grafana = await registered('grafana');
    const wiki = await registered('wiki');
    const { userId, scimId } = await provisioned();
    const { claims } = await signIn(userId, grafana.config);
    // Another user, signed in to the wiki only: nothing of theirs goes anywhere.
    const other = await provisioned();
    await signIn(other.userId, wiki.config);

    const off = await app.request('PATCH', `/Users/${scimId}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] });
    assert.equal(off.status, 200);
    // Committed with the deactivation, before any worker ran (as after a crash): it waits in the outbox.
    assert.equal(await outbox(), 1);
    work();
    await receiver.until((requests) => at('grafana')(requests).length === 1);
    const payload = await verified(at('grafana')(receiver.received)[0]!, grafana.clientId);
    assert.equal(payload.sub, claims.sub);
    assert.equal(payload.sub, userId);
    // The key is the one the ID tokens are signed with.
    const token = new URLSearchParams(at('grafana')(receiver.received)[0]!.body).get('logout_token') ?? '';
    const jwks = (await app.app.inject({ method: 'GET', url: '/oidc/jwks' })).json() as { keys: { kid: string }[] };
    assert.equal(decodeProtectedHeader(token).kid, jwks.keys[0]?.kid);
    // The user never signed in to the wiki: it hears nothing (waited for the outbox to empty).
    await waitFor(async () => (await outbox()) === 0);
    assert.equal(at('wiki')(receiver.received).length, 0);
    assert.deepEqual(outcomes, ['delivered']);
  });

  test('every way Roster ends a sign-in tells the application: SCIM DELETE, the admin API (with and without erasure), the CLI\'s service, Sign out everywhere, a password reset, RP-initiated logout', async () => {
    const managedApp = await registered('grafana-every');
    const unmanagedApp = await registered('grafana-every', uriOf('grafana-every'), unmanaged);
    work();
    work({}, unmanaged);
    type User = { userId: string; scimId: string; login: string };
    type Browser = { jar: CookieJar; idToken: string; csrf: string };
    const rpInitiated = (on: TestApp) => async (_user: User, { jar, idToken }: Browser) => {
      const end = new URL(`${BASE_URL}/oidc/session/end`);
      end.search = new URLSearchParams({ id_token_hint: idToken, post_logout_redirect_uri: REDIRECT }).toString();
      const question = await on.app.inject({ method: 'GET', url: `${end.pathname}${end.search}`, headers: { cookie: jar.header(), accept: 'text/html' } });
      jar.store(question.headers['set-cookie']);
      const action = /action="([^"]+)"/.exec(question.body)?.[1];
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(question.body)?.[1];
      assert.ok(action !== undefined && xsrf !== undefined, question.body.slice(0, 500));
      const yes = await on.app.inject({
        method: 'POST',
        url: new URL(action.replace(/&amp;/g, '&'), BASE_URL).pathname,
        headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
        payload: new URLSearchParams({ xsrf, logout: 'yes' }).toString(),
      });
      assert.equal(yes.statusCode, 303, yes.body.slice(0, 500));
    };
    // The IdP's users are deactivated through SCIM; an unmanaged instance's administrators deactivate theirs.
    const consoleSignOut = (on: TestApp) => async (_user: User, { jar, csrf }: Browser) => {
      const out = await postForm(on, '/sessions/sign-out', {}, { cookie: jar.header(), csrf });
      assert.equal(out.statusCode, 303, out.body.slice(0, 500));
    };
    const triggers: { name: string; on: TestApp; run: (user: User, browser: Browser) => Promise<void> }[] = [
      { name: 'SCIM DELETE', on: app, run: async (user) => assert.equal((await app.request('DELETE', `/Users/${user.scimId}`)).status, 204) },
      { name: 'RP-initiated logout', on: app, run: rpInitiated(app) },
      { name: 'admin API', on: unmanaged, run: async (user) => assert.equal((await unmanaged.request('DELETE', `/api/v2/users-management/users/${user.userId}`)).status, 204) },
      { name: 'admin API anonymize', on: unmanaged, run: async (user) => assert.equal((await unmanaged.request('DELETE', `/api/v2/users-management/users/${user.userId}?anonymize=true`)).status, 204) },
      { name: 'CLI', on: unmanaged, run: async (user) => void (await unmanaged.services.accounts.deactivate(user.userId, cli)) },
      { name: 'Sign out everywhere', on: unmanaged, run: async (user) => void (await unmanaged.services.sessions.signOutEverywhere(user.userId, cli)) },
      { name: 'RP-initiated logout, unmanaged', on: unmanaged, run: rpInitiated(unmanaged) },
      { name: 'console sign-out', on: unmanaged, run: consoleSignOut(unmanaged) },
      {
        name: 'SAML sign-out',
        on: app,
        run: async (_user, { jar }) => assert.equal((await app.app.inject({ method: 'POST', url: '/saml/logout', headers: { cookie: jar.header() } })).statusCode, 303),
      },
    ];
    for (const trigger of triggers) {
      const application = trigger.on === app ? managedApp : unmanagedApp;
      const user = trigger.on === app ? await provisioned() : await local();
      const { jar, tokens, csrf } = await signIn(user.userId, application.config, trigger.on);
      const before = at('grafana-every')(receiver.received).length;
      await trigger.run(user, { jar, idToken: tokens.id_token ?? '', csrf });
      await receiver.until((requests) => at('grafana-every')(requests).length === before + 1).catch(() => assert.fail(`${trigger.name}: no logout token`));
      const payload = await verified(at('grafana-every')(receiver.received)[before]!, application.clientId, trigger.on);
      assert.equal(payload.sub, user.userId, trigger.name);
    }
    // A password reset, of the administrator signed in to the application.
    await signIn(unmanaged.adminId, unmanagedApp.config, unmanaged);
    const before = at('grafana-every')(receiver.received).length;
    await unmanaged.services.administrators.resetPassword('admin', cli);
    await receiver.until((requests) => at('grafana-every')(requests).length === before + 1);
    assert.equal((await verified(at('grafana-every')(receiver.received)[before]!, unmanagedApp.clientId, unmanaged)).sub, unmanaged.adminId);
  });

  test('signing out of Roster in one browser tells the applications that browser signed in to, not those of the user\'s other browsers', async () => {
    const grafana = await registered('grafana-browser', undefined, unmanaged);
    const wiki = await registered('wiki-browser', undefined, unmanaged);
    const { userId } = await local();
    const here = await signIn(userId, grafana.config, unmanaged);
    const elsewhere = await signIn(userId, wiki.config, unmanaged);
    work({}, unmanaged);
    const out = await postForm(unmanaged, '/sessions/sign-out', {}, { cookie: here.jar.header(), csrf: here.csrf });
    assert.equal(out.statusCode, 303);
    await receiver.until((requests) => at('grafana-browser')(requests).length === 1);
    assert.equal((await verified(at('grafana-browser')(receiver.received)[0]!, grafana.clientId, unmanaged)).sub, userId);
    await waitFor(async () => (await outbox(unmanaged)) === 0);
    assert.equal(at('wiki-browser')(receiver.received).length, 0, 'the other browser stays signed in to the wiki');
    assert.equal(elsewhere.jar.header().includes('_session='), true, 'the provider keeps a session per browser, named by a cookie');
  });

  test('a deactivation refused and rolled back (the last administrator) sends nothing, and the sign-in still works', async () => {
    const grafana = await registered('grafana-refused', undefined, unmanaged);
    const { tokens } = await signIn(unmanaged.adminId, grafana.config, unmanaged);
    work({}, unmanaged);
    // The change runs (sessions, grants, the outbox row) and is then refused: all of it rolls back.
    await assert.rejects(unmanaged.services.accounts.deactivate(unmanaged.adminId, cli), /last administrator/);
    assert.equal(await outbox(unmanaged), 0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(at('grafana-refused')(receiver.received).length, 0);
    assert.ok(tokens.refresh_token === undefined || tokens.refresh_token.length > 0);
    const userinfo = await client.fetchUserInfo(grafana.config, tokens.access_token, unmanaged.adminId);
    assert.equal(userinfo.sub, unmanaged.adminId);
  });

  test('an application without a back-channel logout URI gets nothing, and none is queued for it', async () => {
    const quiet = await registered('quiet', null, unmanaged);
    const { userId } = await local();
    await signIn(userId, quiet.config, unmanaged);
    await unmanaged.services.accounts.deactivate(userId, cli);
    assert.equal(await outbox(unmanaged), 0);
  });

  test('a failed attempt (no answer within the timeout, then 503) is tried again with the same jti until the application answers 200', async () => {
    const grafana = await registered('grafana-retry', undefined, unmanaged);
    const { userId } = await local();
    await signIn(userId, grafana.config, unmanaged);
    receiver.answer = (_request, index) => (index === 0 ? 'hang' : index === 1 ? { status: 503 } : { status: 200 });
    work({ timeoutMs: 300, schedule: [100, 100, 100] }, unmanaged);
    await unmanaged.services.accounts.deactivate(userId, cli);
    await receiver.until((requests) => at('grafana-retry')(requests).length === 3);
    await waitFor(async () => (await outbox(unmanaged)) === 0);
    const tokens = await Promise.all(at('grafana-retry')(receiver.received).map((request) => verified(request, grafana.clientId, unmanaged)));
    assert.equal(new Set(tokens.map((token) => token.jti)).size, 1, 'one logout, tried three times');
    assert.deepEqual(outcomes, ['retrying', 'retrying', 'delivered']);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(at('grafana-retry')(receiver.received).length, 3, 'nothing after the 200');
  });

  test('after the last retry fails Roster gives up: the outbox row goes, and the audit log says which application, user and why', async () => {
    const grafana = await registered('grafana-down', undefined, unmanaged);
    const { userId } = await local();
    await signIn(userId, grafana.config, unmanaged);
    receiver.answer = () => ({ status: 500, body: 'down' });
    work({ schedule: [50, 50] }, unmanaged);
    await unmanaged.services.accounts.deactivate(userId, cli);
    await waitFor(async () => (await unmanaged.services.auditLog.list({ action: 'application.backchannel_logout_failed', targetId: grafana.clientId }, { offset: 0, limit: 10, ascending: true })).events.length === 1);
    const { events } = await unmanaged.services.auditLog.list({ action: 'application.backchannel_logout_failed', targetId: grafana.clientId }, { offset: 0, limit: 10, ascending: true });
    const details = events[0]?.details as Record<string, unknown>;
    assert.equal(details['userId'], userId);
    assert.equal(details['application'], 'grafana-down');
    assert.equal(details['cause'], 'deactivated');
    assert.equal(details['attempts'], 3);
    assert.equal(details['lastError'], 'answered 500');
    assert.equal(await outbox(unmanaged), 0);
    assert.equal(at('grafana-down')(receiver.received).length, 3);
    assert.deepEqual(outcomes, ['retrying', 'retrying', 'given_up']);
  });

  test('a logout for an application deleted before its turn is dropped, not sent', async () => {
    const grafana = await registered('grafana-gone', undefined, unmanaged);
    const { userId } = await local();
    await signIn(userId, grafana.config, unmanaged);
    await unmanaged.services.accounts.deactivate(userId, cli);
    assert.equal(await outbox(unmanaged), 1);
    await unmanaged.services.applications.delete(grafana.clientId, cli);
    work({}, unmanaged);
    await waitFor(async () => (await outbox(unmanaged)) === 0);
    assert.equal(at('grafana-gone')(receiver.received).length, 0);
    assert.deepEqual(outcomes, ['dropped']);
  });

  test('two instances on one database send each logout once', async () => {
    const grafana = await registered('grafana-two', undefined, unmanaged);
    const users = [];
    for (let i = 0; i < 6; i += 1) {
      const user = await local();
      await signIn(user.userId, grafana.config, unmanaged);
      users.push(user);
    }
    // On PostgreSQL the second worker has connections of its own, as a second `roster serve` does.
    const second = database === 'postgres' ? await openStore(parseDatabaseArgument(unmanaged.databaseUrl, 'database')) : undefined;
    try {
      receiver.answer = () => ({ status: 200, delayMs: 50 });
      work({ instance: 'one' }, unmanaged);
      work({ instance: 'two', ...(second !== undefined ? { store: createServices(second).store } : {}) }, unmanaged);
      for (const user of users) await unmanaged.services.accounts.deactivate(user.userId, cli);
      await receiver.until((requests) => at('grafana-two')(requests).length >= users.length);
      await waitFor(async () => (await outbox(unmanaged)) === 0);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const subjects = await Promise.all(at('grafana-two')(receiver.received).map(async (request) => (await verified(request, grafana.clientId, unmanaged)).sub));
      assert.deepEqual([...subjects].sort(), users.map((user) => user.userId).sort(), 'one token per logout');
    } finally {
      for (const worker of workers) await worker.stop();
      workers = [];
      await second?.close();
    }
  });
});

async function waitFor(condition: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
