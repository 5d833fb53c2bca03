/**
 * Roster's OpenID provider in Chromium, over the network: an administrator registers an
 * application in the console, then a signed-out browser follows the application's
 * authorization request through the sign-in page and lands on its redirect URI with a code,
 * which a real relying party (openid-client) exchanges; an administrator edits an application's
 * redirect URIs in the console, and the change counts at the next authorization. Skipped
 * without Chromium.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import * as client from 'openid-client';
import { escapeHtml } from '../../src/http/console/html.ts';
import { axeViolations, browserSkip, expectAccessible, focused, launchBrowser, openTab, screenshot, signInWithPassword, startServedApp, type ServedApp } from '../support/browser.ts';


describe('OpenID Connect in Chromium', { skip: browserSkip() }, () => {
  let browser: Browser;
  let app: ServedApp;
  let password = '';
  // The application: a server that answers its callback, so that the browser can land there.
  let application: Server;
  let CALLBACK = '';

  before(async () => {
    [browser, app] = await Promise.all([launchBrowser(), startServedApp()]);
    password = await app.adminPassword();
    // GET /form?… (or /logout-form?…) is the application's page with a form posting those
    // parameters to Roster's authorization (or end-session) endpoint.
    const forms: Record<string, { readonly action: string; readonly button: string }> = {
      '/form': { action: '/oidc/auth', button: 'Sign in with Roster' },
      '/logout-form': { action: '/oidc/session/end', button: 'Sign out with Roster' },
    };
    application = createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://application');
      const form = forms[url.pathname];
      if (form === undefined) return void response.writeHead(200, { 'content-type': 'text/plain' }).end('application');
      const fields = [...url.searchParams].map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`).join('');
      response.writeHead(200, { 'content-type': 'text/html' }).end(`<!DOCTYPE html><title>Application</title><form method="post" action="${escapeHtml(app.base)}${form.action}">${fields}<button>${form.button}</button></form>`);
    });
    await new Promise<void>((resolve) => application.listen(0, '127.0.0.1', resolve));
    CALLBACK = `http://127.0.0.1:${(application.address() as AddressInfo).port}/callback`;
  });
  after(async () => {
    await new Promise((resolve) => application?.close(resolve));
    await browser?.close();
    await app?.close();
  });

  test('register in the console, then sign in to the application through the sign-in page and back', async () => {
    const admin = await openTab(browser, app);
    await signInWithPassword(admin.page, 'admin', password, '/admin/applications');
    assert.equal(new URL(admin.page.url()).pathname, '/admin/applications');
    await expectAccessible(admin.page, 'the applications page');
    await admin.page.getByLabel('Name').fill('Grafana');
    await admin.page.getByLabel('Redirect URIs').fill(CALLBACK);
    await admin.page.getByRole('button', { name: 'Register' }).click();
    await admin.page.waitForLoadState('load');
    const clientId = (await admin.page.locator('#client-id').textContent()) ?? '';
    const secret = (await admin.page.locator('#client-secret').textContent()) ?? '';
    assert.match(clientId, /^[\w-]{22}$/);
    await expectAccessible(admin.page, 'the applications page with a new secret');
    await screenshot(admin.page, 'applications');
    admin.expectNoProblems();
    await admin.close();

    const config = await client.discovery(new URL(app.base), clientId, undefined, client.ClientSecretBasic(secret), { execute: [client.allowInsecureRequests] });
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: CALLBACK,
      scope: 'openid profile groups',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    });

    const user = await openTab(browser, app);
    await user.page.goto(url.href);
    assert.equal(new URL(user.page.url()).pathname, '/sessions/new');
    await user.page.getByLabel('Login').fill('admin');
    await user.page.getByLabel('Password').fill(password);
    await Promise.all([user.page.waitForURL(`${CALLBACK}?**`), user.page.getByRole('button', { name: 'Sign in', exact: true }).click()]);
    const tokens = await client.authorizationCodeGrant(config, new URL(user.page.url()), { pkceCodeVerifier: verifier, expectedState: state });
    assert.equal(tokens.claims()?.preferred_username, 'admin');
    assert.equal(tokens.claims()?.sub, app.adminId);
    await user.close();
  });

  // OpenID Connect Core 3.1.2.1: the authorization request by form post, from a page of another
  // site (localhost is not 127.0.0.1's site): Chromium leaves Roster's SameSite=Lax cookies out
  // of that post, and sends them with the GET the 303 leads to.
  test('a form post from the application\'s page on another site signs a signed-in browser in, also with prompt=none', async (t) => {
    const { application: registered, secret } = await app.services.applications.create({ name: 'Form post', redirectUris: [CALLBACK], public: false, allowedGroups: [] }, { kind: 'cli' });
    const config = await client.discovery(new URL(app.base), registered.clientId, undefined, client.ClientSecretBasic(secret!), { execute: [client.allowInsecureRequests] });
    const tab = await openTab(browser, app);
    await signInWithPassword(tab.page, 'admin', password);
    // What Chromium sends to /oidc/auth, for the record: the cookies' names, by method.
    const cookiesSent: string[] = [];
    tab.page.on('request', (request) => {
      if (new URL(request.url()).pathname !== '/oidc/auth') return;
      void request.allHeaders().then((headers) => cookiesSent.push(`${request.method()}: ${(headers['cookie'] ?? '').split('; ').map((pair) => pair.split('=')[0]).join(' ')}`));
    });
    const formOf = new URL(CALLBACK.replace('127.0.0.1', 'localhost'));
    for (const prompt of [undefined, 'none']) {
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const url = client.buildAuthorizationUrl(config, { redirect_uri: CALLBACK, scope: 'openid profile', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, ...(prompt ? { prompt } : {}) });
      await tab.page.goto(`${formOf.origin}/form${url.search}`);
      await Promise.all([tab.page.waitForURL(`${CALLBACK}?**`), tab.page.getByRole('button', { name: 'Sign in with Roster' }).click()]);
      const landed = new URL(tab.page.url());
      assert.equal(landed.searchParams.get('error'), null, `prompt=${prompt}: ${landed.href}`);
      const tokens = await client.authorizationCodeGrant(config, landed, { pkceCodeVerifier: verifier, expectedState: state });
      assert.equal(tokens.claims()?.sub, app.adminId, `prompt=${prompt}`);
    }
    t.diagnostic(`cookies Chromium sent to /oidc/auth: ${cookiesSent.join(' | ')}`);
    await tab.close();
  });

  test('edit in the console: a refused value is shown beside its field, a saved redirect URI counts at the next authorization and the removed one is refused', async () => {
    const { application, secret } = await app.services.applications.create({ name: 'Wiki', redirectUris: [CALLBACK], public: false, allowedGroups: [] }, { kind: 'cli' });
    const moved = CALLBACK.replace('/callback', '/moved');
    const admin = await openTab(browser, app);
    await signInWithPassword(admin.page, 'admin', password, '/admin/applications');
    await Promise.all([admin.page.waitForURL(`**/admin/applications/${application.clientId}`), admin.page.getByRole('link', { name: 'Edit Wiki' }).click()]);
    assert.equal(await admin.page.getByLabel('Redirect URIs').inputValue(), CALLBACK);
    await expectAccessible(admin.page, 'the edit page of an application');

    await admin.page.getByLabel('Redirect URIs').fill(`${moved}\nhttp://wiki.example.com/callback`);
    await Promise.all([admin.page.waitForLoadState('load'), admin.page.getByRole('button', { name: 'Save' }).click()]);
    await admin.page.getByText('Nothing was saved').waitFor();
    assert.match((await admin.page.locator('#field-redirectUris-error').textContent()) ?? '', /"http:\/\/wiki.example.com\/callback" must use https/);
    assert.equal(await admin.page.getByLabel('Redirect URIs').getAttribute('aria-invalid'), 'true');
    await expectAccessible(admin.page, 'a refused edit');
    assert.deepEqual((await app.services.applications.get(application.clientId)).redirectUris, [CALLBACK]);

    await admin.page.getByLabel('Redirect URIs').fill(moved);
    await Promise.all([admin.page.waitForURL('**?notice=saved'), admin.page.getByRole('button', { name: 'Save' }).click()]);
    await admin.page.getByText('The application was saved.').waitFor();
    admin.expectNoProblems();

    // The admin's browser is signed in to Roster: it goes straight to the redirect URI, or is refused there.
    const config = await client.discovery(new URL(app.base), application.clientId, undefined, client.ClientSecretBasic(secret!), { execute: [client.allowInsecureRequests] });
    const authorization = async (redirectUri: string) => {
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const url = client.buildAuthorizationUrl(config, { redirect_uri: redirectUri, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state });
      return { url, verifier, state };
    };
    const old = await authorization(CALLBACK);
    const refused = await admin.page.goto(old.url.href);
    assert.equal(new URL(admin.page.url()).origin, app.base, 'the browser is not sent to the removed URI');
    assert.equal(refused?.status(), 400);
    const fresh = await authorization(moved);
    await admin.page.goto(fresh.url.href);
    await admin.page.waitForURL(`${moved}?**`);
    const tokens = await client.authorizationCodeGrant(config, new URL(admin.page.url()), { pkceCodeVerifier: fresh.verifier, expectedState: fresh.state });
    assert.equal(tokens.claims()?.sub, app.adminId);
    await admin.close();
  });

  test('the sign-out question opens with "No, stay signed in" focused: Enter keeps the session', async () => {
    const tab = await openTab(browser, app);
    await signInWithPassword(tab.page, 'admin', password);
    await tab.page.goto('/oidc/session/end');
    await tab.page.getByText('Sign out of Roster and the applications you signed in to through it?').waitFor();
    assert.equal((await focused(tab.page)).text, 'No, stay signed in');
    await Promise.all([tab.page.waitForLoadState('load'), tab.page.keyboard.press('Enter')]);
    await tab.page.getByRole('heading', { name: 'Still signed in' }).waitFor();
    assert.ok((await tab.context.cookies(app.base)).some((cookie) => cookie.name === 'roster_session'), 'Enter did not sign out');
    await tab.close();
  });

  test('the plain pages (the sign-out question, "Still signed in", "Signed out", "Sign-in failed", SAML "Sign-in refused") each have one main landmark', async () => {
    const tab = await openTab(browser, app);
    const landmarks = async (label: string): Promise<void> => {
      const missing = (await axeViolations(tab.page)).filter((violation) => violation.id === 'landmark-one-main' || violation.id === 'region');
      assert.deepEqual(missing.map((violation) => `${violation.id} at ${violation.targets.join(', ')}`), [], label);
      await expectAccessible(tab.page, label);
    };
    await signInWithPassword(tab.page, 'admin', password);
    await tab.page.goto('/oidc/session/end');
    await landmarks('the sign-out question');
    await tab.page.getByRole('button', { name: 'No, stay signed in' }).click();
    await tab.page.getByRole('heading', { name: 'Still signed in' }).waitFor();
    await landmarks('"Still signed in"');

    await tab.page.goto('/oidc/session/end');
    await tab.page.getByRole('button', { name: 'Yes, sign me out' }).click();
    await tab.page.getByRole('heading', { name: 'Signed out' }).waitFor();
    await landmarks('"Signed out"');

    await tab.page.goto('/oidc/auth?client_id=no-such-application&response_type=code&scope=openid&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb');
    await tab.page.getByRole('heading', { name: 'Sign-in failed' }).waitFor();
    await landmarks('"Sign-in failed"');

    await tab.page.goto('/saml/login?returnTo=javascript%3Aalert(1)');
    await tab.page.getByRole('heading', { name: 'Sign-in refused' }).waitFor();
    await landmarks('SAML "Sign-in refused"');
    await tab.close();
  });

  // RP-Initiated Logout 1.0 §2: the logout request by form post, from a page of another site.
  // The post carries no Roster cookie; the GET the 303 leads to does, so the user is asked.
  test('a logout form post from the application\'s page on another site asks the signed-in user, and yes signs out and returns to the application with state', async (t) => {
    const { application: registered, secret } = await app.services.applications.create({ name: 'Logout form post', redirectUris: [CALLBACK], public: false, allowedGroups: [] }, { kind: 'cli' });
    const config = await client.discovery(new URL(app.base), registered.clientId, undefined, client.ClientSecretBasic(secret!), { execute: [client.allowInsecureRequests] });
    const tab = await openTab(browser, app);
    await signInWithPassword(tab.page, 'admin', password);
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    await tab.page.goto(client.buildAuthorizationUrl(config, { redirect_uri: CALLBACK, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state }).href);
    await tab.page.waitForURL(`${CALLBACK}?**`);
    const tokens = await client.authorizationCodeGrant(config, new URL(tab.page.url()), { pkceCodeVerifier: verifier, expectedState: state });

    // What Chromium sends to /oidc/session/end: whether the Roster cookie came, by method.
    const cookiesSent: string[] = [];
    tab.page.on('request', (request) => {
      if (new URL(request.url()).pathname !== '/oidc/session/end') return;
      void request.allHeaders().then((headers) => cookiesSent.push(`${request.method()} ${/(^|; )roster_session=/.test(headers['cookie'] ?? '') ? 'with' : 'without'} roster_session`));
    });
    const end = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: CALLBACK, state: 'bye' });
    const formOf = new URL(CALLBACK.replace('127.0.0.1', 'localhost'));
    await tab.page.goto(`${formOf.origin}/logout-form${end.search}`);
    await tab.page.getByRole('button', { name: 'Sign out with Roster' }).click();
    await tab.page.getByText('Sign out of Roster and the applications you signed in to through it?').waitFor();
    assert.equal(new URL(tab.page.url()).pathname, '/oidc/session/end');
    await expectAccessible(tab.page, 'the sign-out question after a logout form post');
    await Promise.all([tab.page.waitForURL(`${CALLBACK}?**`), tab.page.getByRole('button', { name: 'Yes, sign me out' }).click()]);
    assert.equal(new URL(tab.page.url()).searchParams.get('state'), 'bye');
    const cookies = await tab.context.cookies(app.base);
    assert.equal(cookies.find((cookie) => cookie.name === 'roster_session'), undefined, 'the Roster session cookie is gone');
    assert.deepEqual(cookiesSent, ['POST without roster_session', 'GET with roster_session']);
    t.diagnostic(`cookies Chromium sent to /oidc/session/end: ${cookiesSent.join(' | ')}`);
    // The provider's pages name no icon: Chromium's /favicon.ico on Roster is answered.
    assert.deepEqual(tab.problems.filter((problem) => problem.includes(`${app.base}/favicon.ico`)), []);
    await tab.close();
  });
});
