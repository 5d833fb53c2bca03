/**
 * The console's first pages in a real browser (issue 9): password sign-in and its refusals,
 * SAML sign-in through the test IdP landing on My account, My account and "sign out
 * everywhere", sign-out, keyboard use, and on every page: the CSP header, no console error
 * (which a CSP violation would be), and no serious or critical axe-core violation.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Response } from 'playwright-core';
import { userBody } from '../support/app.ts';
import {
  BROWSER_IDP_NAME,
  browserSkip,
  expectAccessible,
  focused,
  focusedDescription,
  launchBrowser,
  openTab,
  screenshot,
  signInWithPassword,
  startServedApp,
  startBrowserIdp,
  type BrowserIdp,
  type ServedApp,
} from '../support/browser.ts';

/** Asserts that a page answer carries the console's CSP. */
function expectCsp(response: Response | null, label: string): void {
  const csp = response?.headers()['content-security-policy'] ?? '';
  assert.match(csp, /frame-ancestors 'none'/, `${label}: CSP with frame-ancestors 'none'`);
  assert.match(csp, /script-src 'self'/, label);
  assert.doesNotMatch(csp, /unsafe-inline/, label);
}

describe('the console in Chromium', { skip: browserSkip() }, () => {
  let browser: Browser;
  let app: ServedApp;
  let idp: BrowserIdp;
  let adminPassword = '';

  before(async () => {
    [browser, app] = await Promise.all([launchBrowser(), startServedApp()]);
    idp = await startBrowserIdp(app, () => ({ login: 'ada@example.com' }));
    adminPassword = await app.adminPassword();
    assert.equal((await app.request('POST', '/Users', userBody('ada@example.com', { displayName: 'Ada Lovelace', emails: [{ value: 'ada@example.com', primary: true }] }))).status, 201);
    await app.request('POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'engineers', members: [{ value: (await app.request('GET', '/Users?filter=userName%20eq%20%22ada@example.com%22')).body.Resources[0].id }] });
  });
  after(async () => {
    await browser?.close();
    await idp?.close();
    await app?.close();
  });

  test('the sign-in page: CSP, no console error, accessible, and / leads there', async () => {
    const tab = await openTab(browser, app);
    const response = await tab.page.goto('/');
    expectCsp(response, 'sign-in page');
    assert.equal(new URL(tab.page.url()).pathname, '/sessions/new');
    assert.equal(await tab.page.title(), 'Sign in · Roster');
    await expectAccessible(tab.page, 'the sign-in page');
    await screenshot(tab.page, 'sign-in');
    tab.expectNoProblems();
    await tab.close();
  });

  test('a wrong password shows the refusal on the page, accessible, and signs nobody in', async () => {
    const tab = await openTab(browser, app);
    await signInWithPassword(tab.page, 'admin', 'not-the-password');
    assert.equal(new URL(tab.page.url()).pathname, '/sessions');
    await assert.doesNotReject(tab.page.getByRole('alert').filter({ hasText: 'The login or password is incorrect.' }).waitFor());
    assert.equal(await tab.page.getByLabel('Login').inputValue(), 'admin');
    await expectAccessible(tab.page, 'the sign-in page with an error');
    assert.deepEqual((await tab.context.cookies()).filter((cookie) => cookie.name === 'roster_session'), []);
    tab.expectNoProblems();
    await tab.close();
  });

  test('the sign-in page after a form not sent: the focused login field is described by the notice, so a screen reader says why', async () => {
    const tab = await openTab(browser, app);
    await tab.page.goto('/sessions/new?returnTo=%2Fadmin%2Fgroups&notice=form-not-sent');
    assert.equal((await focused(tab.page)).id, 'field-login');
    assert.match(await focusedDescription(tab.page), /^Your session ended before the form was sent, so nothing was changed\./);
    await expectAccessible(tab.page, 'the sign-in page with a notice');
    // Without a notice the field has no description to say.
    await tab.page.goto('/sessions/new');
    assert.equal(await focusedDescription(tab.page), '');
    tab.expectNoProblems();
    await tab.close();
  });

  test('the skip link\'s focus ring stays inside the dark header, where its colour has the contrast (the sign-in page\'s header is the lowest)', async () => {
    const tab = await openTab(browser, app);
    for (const [path, width] of [['/sessions/new', 1280], ['/sessions/new', 320], ['/admin', 1280]] as const) {
      if (path === '/admin') await signInWithPassword(tab.page, 'admin', adminPassword);
      await tab.page.setViewportSize({ width, height: 700 });
      await tab.page.goto(path);
      // The sign-in page focuses the login field: back from there to the page's first link.
      await tab.page.keyboard.press(path === '/admin' ? 'Tab' : 'Shift+Tab');
      for (let step = 0; step < 5 && (await focused(tab.page)).text !== 'Skip to main content'; step++) await tab.page.keyboard.press('Shift+Tab');
      assert.equal((await focused(tab.page)).text, 'Skip to main content', path);
      const ring = await tab.page.evaluate<{ top: number; bottom: number; header: number }>(`(() => {
        const link = document.activeElement.getBoundingClientRect();
        const style = getComputedStyle(document.activeElement);
        const outside = parseFloat(style.outlineWidth) + parseFloat(style.outlineOffset);
        return { top: link.top - outside, bottom: link.bottom + outside, header: document.querySelector('header').getBoundingClientRect().bottom };
      })()`);
      assert.ok(ring.top >= 0 && ring.bottom <= ring.header, `${path} at ${width} px: the ring spans ${ring.top} to ${ring.bottom} px, the header ends at ${ring.header} px`);
    }
    tab.expectNoProblems();
    await tab.close();
  });

  test('a provisioned user trying a password is told to use the SAML button', async () => {
    const tab = await openTab(browser, app);
    await signInWithPassword(tab.page, 'ada@example.com', 'whatever');
    await tab.page.getByRole('alert').filter({ hasText: `Everyone else signs in with ${BROWSER_IDP_NAME}` }).waitFor();
    assert.equal(await tab.page.getByRole('link', { name: `Sign in with ${BROWSER_IDP_NAME}` }).count(), 1);
    tab.expectNoProblems();
    await tab.close();
  });

  test('the administrator signs in with the password, by keyboard alone, and lands in the administration', async () => {
    const tab = await openTab(browser, app);
    await tab.page.goto('/sessions/new');
    assert.equal((await focused(tab.page)).id, 'field-login', 'the login field has the focus');
    await tab.page.keyboard.type('admin');
    await tab.page.keyboard.press('Tab');
    await tab.page.keyboard.type(adminPassword);
    await Promise.all([tab.page.waitForURL('**/admin/users'), tab.page.keyboard.press('Enter')]);
    assert.equal(await tab.page.getByRole('link', { name: 'My account: admin' }).count(), 1, 'the header says who is signed in');
    assert.equal(await tab.page.getByRole('navigation', { name: 'Administration' }).getByRole('link', { name: 'Users' }).getAttribute('aria-current'), 'page');
    await expectAccessible(tab.page, 'the Users placeholder');

    const landing = await tab.page.goto('/admin');
    expectCsp(landing, '/admin');
    await tab.page.keyboard.press('Tab');
    assert.equal((await focused(tab.page)).text, 'Skip to main content');
    await tab.page.keyboard.press('Enter');
    assert.equal((await focused(tab.page)).id, 'main', 'the skip link moves the focus to the content');
    for (const section of ['Users', 'Groups', 'Authentication', 'SCIM', 'Audit log']) {
      assert.equal(await tab.page.getByRole('main').getByRole('link', { name: section }).count(), 1, section);
    }
    await expectAccessible(tab.page, 'the administration overview');
    await screenshot(tab.page, 'admin');

    const missing = await tab.page.goto('/admin/nothing-here');
    assert.equal(missing?.status(), 404);
    expectCsp(missing, 'the 404 page');
    await expectAccessible(tab.page, 'the 404 page');
    tab.expectNoProblems();
    await tab.close();
  });

  test('SAML sign-in through the test IdP lands on My account, which shows the person, groups and session', async () => {
    const tab = await openTab(browser, app);
    await tab.page.goto('/');
    await tab.page.getByRole('link', { name: `Sign in with ${BROWSER_IDP_NAME}` }).click();
    await tab.page.getByRole('button', { name: 'Continue to Roster' }).click();
    await tab.page.waitForURL('**/account');
    const main = tab.page.getByRole('main');
    await main.getByRole('heading', { name: 'My account' }).waitFor();
    assert.match(await main.textContent() ?? '', /ada@example\.com/);
    assert.match(await main.textContent() ?? '', /Ada Lovelace/);
    assert.equal(await main.getByRole('listitem').filter({ hasText: 'engineers' }).count(), 1);
    assert.equal(await main.getByText('This session').count(), 1);
    assert.equal(await tab.page.getByRole('navigation', { name: 'Administration' }).count(), 0, 'no administration for Ada');
    await expectAccessible(tab.page, 'My account');
    await screenshot(tab.page, 'account');

    const forbidden = await tab.page.goto('/admin');
    assert.equal(forbidden?.status(), 403);
    await expectAccessible(tab.page, 'the 403 page');
    tab.expectNoProblems();
    await tab.close();
  });

  test('sign out everywhere asks in a dialog, then ends the sessions of every browser', async () => {
    const password = 'frank-password-1';
    await app.services.provisioning.disable({ kind: 'cli' });
    await app.services.accounts.create({ login: 'frank', name: 'Frank', password, local: true }, { kind: 'cli' });
    const [first, second] = [await openTab(browser, app), await openTab(browser, app)];
    await signInWithPassword(first.page, 'frank', password);
    await signInWithPassword(second.page, 'frank', password);
    await first.page.goto('/account');
    assert.equal(await first.page.getByRole('main').getByRole('row').count(), 3, 'a header row and two sessions');

    await first.page.getByRole('button', { name: 'Sign out everywhere' }).first().click();
    const dialog = first.page.getByRole('dialog', { name: 'Sign out everywhere?' });
    await dialog.waitFor();
    assert.equal((await focused(first.page)).text, 'Cancel', 'Enter does not confirm by accident');
    assert.match(await dialog.textContent() ?? '', /all 2 of your sessions/);
    await expectAccessible(first.page, 'the confirmation dialog', 'dialog[open]');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });

    await first.page.getByRole('button', { name: 'Sign out everywhere' }).first().click();
    await Promise.all([first.page.waitForURL('**/sessions/new?notice=signed-out-everywhere'), dialog.getByRole('button', { name: 'Sign out everywhere' }).click()]);
    await first.page.getByRole('status').filter({ hasText: 'You are signed out everywhere' }).waitFor();
    await expectAccessible(first.page, 'the sign-in page after signing out everywhere');

    await second.page.goto('/account');
    assert.equal(new URL(second.page.url()).pathname, '/sessions/new', 'the other browser is signed out too');
    assert.equal(new URL(second.page.url()).searchParams.get('returnTo'), '/account');
    first.expectNoProblems();
    second.expectNoProblems();
    await first.close();
    await second.close();
  });

  test('the header\'s Sign out ends the session', async () => {
    const tab = await openTab(browser, app);
    await signInWithPassword(tab.page, 'admin', adminPassword, '/account');
    assert.equal(new URL(tab.page.url()).pathname, '/account');
    await Promise.all([tab.page.waitForURL('**/sessions/new?notice=signed-out'), tab.page.getByRole('banner').getByRole('button', { name: 'Sign out' }).click()]);
    await tab.page.getByRole('status').filter({ hasText: 'You are signed out.' }).waitFor();
    await tab.page.goto('/account');
    assert.equal(new URL(tab.page.url()).pathname, '/sessions/new');
    tab.expectNoProblems();
    await tab.close();
  });

  test('after 5 wrong passwords the page says to wait, with status 429', async () => {
    await app.services.accounts.create({ login: 'grace', name: 'Grace', password: 'grace-password-1', local: true }, { kind: 'cli' });
    const tab = await openTab(browser, app);
    for (let i = 1; i <= 5; i += 1) await signInWithPassword(tab.page, 'grace', `guess-${i}`);
    await tab.page.getByLabel('Login').fill('grace');
    await tab.page.getByLabel('Password').fill('grace-password-1');
    const [response] = await Promise.all([tab.page.waitForResponse((answer) => answer.url().endsWith('/sessions') && answer.request().method() === 'POST'), tab.page.getByRole('button', { name: 'Sign in', exact: true }).click()]);
    assert.equal(response.status(), 429);
    assert.ok(Number(response.headers()['retry-after']) > 0);
    await tab.page.getByRole('alert').filter({ hasText: 'Too many failed sign-in attempts' }).waitFor();
    await expectAccessible(tab.page, 'the sign-in page while held back');
    tab.expectNoProblems();
    await tab.close();
  });
});
