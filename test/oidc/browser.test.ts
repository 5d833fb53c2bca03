/**
 * Roster's OpenID provider in Chromium, over the network: an administrator registers an
 * application in the console, then a signed-out browser follows the application's
 * authorization request through the sign-in page and lands on its redirect URI with a code,
 * which a real relying party (openid-client) exchanges. Skipped without Chromium.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import * as client from 'openid-client';
import { browserSkip, expectAccessible, launchBrowser, openTab, screenshot, signInWithPassword, startServedApp, type ServedApp } from '../support/browser.ts';


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
    application = createServer((_request, response) => response.writeHead(200, { 'content-type': 'text/plain' }).end('application'));
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
});
