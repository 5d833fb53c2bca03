/**
 * The Authentication, SCIM and Audit log pages in a real browser (issue 9): each page walked
 * with the axe-core check and no console error (a CSP violation would be one), the provisioning
 * switch with its confirmation, a token's secret shown once, the provisioning activity after
 * SCIM calls including a failing one, and the audit filters. Screenshots for docs/console.md.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { userBody } from '../support/app.ts';
import { browserSkip, expectAccessible, focused, launchBrowser, openTab, screenshot, signInWithPassword, startServedApp, type ServedApp, type Tab } from '../support/browser.ts';

describe('the Authentication, SCIM and Audit log pages in Chromium', { skip: browserSkip() }, () => {
  let browser: Browser;
  let app: ServedApp;
  let adminPassword = '';

  before(async () => {
    [browser, app] = await Promise.all([launchBrowser(), startServedApp()]);
    adminPassword = await app.adminPassword();
  });
  after(async () => {
    await browser?.close();
    await app?.close();
  });

  async function adminTab(path: string): Promise<Tab> {
    const tab = await openTab(browser, app);
    await signInWithPassword(tab.page, 'admin', adminPassword, path);
    assert.equal(new URL(tab.page.url()).pathname, path.split('?')[0]);
    return tab;
  }

  test('Authentication shows the SAML configuration and the URLs for the identity provider', async () => {
    const tab = await adminTab('/admin/authentication');
    const main = tab.page.getByRole('main');
    await main.getByRole('heading', { name: 'SAML', exact: true }).waitFor();
    assert.match((await tab.page.locator('#sp-metadata-url').textContent()) ?? '', /\/saml\/metadata$/);
    assert.equal(await main.getByRole('link', { name: /Test configuration/ }).getAttribute('href'), '/saml/validation');
    assert.equal(await main.getByRole('button', { name: 'Delete', exact: true }).isDisabled(), true, 'SAML cannot be deleted while SCIM is on');
    await expectAccessible(tab.page, 'the Authentication page');
    await screenshot(tab.page, 'authentication');
    tab.expectNoProblems();
    await tab.close();
  });

  test('the SAML form saves an edit and is accessible', async () => {
    const tab = await adminTab('/admin/authentication/saml');
    await expectAccessible(tab.page, 'the SAML form');
    await tab.page.getByLabel('Provider name').fill('Acme <SSO>');
    await Promise.all([tab.page.waitForURL('**/admin/authentication?notice=saml-saved'), tab.page.getByRole('button', { name: 'Save' }).click()]);
    await tab.page.getByRole('status').filter({ hasText: 'The SAML configuration is saved.' }).waitFor();
    assert.equal((await app.services.saml.get())?.providerName, 'Acme <SSO>');
    await tab.page.getByRole('definition').filter({ hasText: 'Acme <SSO>' }).waitFor();
    tab.expectNoProblems();
    await tab.close();
  });

  test('Enter in a field of the SAML form saves it (not Read metadata, the first button on the page)', async () => {
    const tab = await adminTab('/admin/authentication/saml');
    const field = tab.page.getByLabel('User login attribute');
    await field.fill('upn');
    await Promise.all([tab.page.waitForURL('**/admin/authentication?notice=saml-saved'), field.press('Enter')]);
    assert.equal((await app.services.saml.get())?.userLoginAttribute, 'upn');
    tab.expectNoProblems();
    await tab.close();
  });

  test('switching provisioning asks for confirmation saying the consequence, and Cancel changes nothing', async () => {
    const tab = await adminTab('/admin/authentication');
    const page = tab.page;
    await page.getByRole('button', { name: 'Switch to just-in-time' }).click();
    const toJit = page.getByRole('dialog', { name: 'Switch to just-in-time provisioning?' });
    await toJit.waitFor();
    assert.match((await toJit.textContent()) ?? '', /Every SCIM link is removed, and that cannot be undone/);
    await expectAccessible(page, 'the switch-to-JIT dialog', 'dialog[open]');
    await screenshot(page, 'provisioning-switch');
    await toJit.getByRole('button', { name: 'Cancel' }).click();
    await toJit.waitFor({ state: 'hidden' });
    assert.equal(await app.services.provisioning.isScimEnabled(), true);

    await page.getByRole('button', { name: 'Switch to just-in-time' }).click();
    await Promise.all([page.waitForURL('**/admin/authentication?notice=scim-disabled'), toJit.getByRole('button', { name: 'Remove every SCIM link and switch' }).click()]);
    assert.equal(await app.services.provisioning.isScimEnabled(), false);
    await page.getByRole('status').filter({ hasText: 'SCIM provisioning is off' }).waitFor();

    await page.getByRole('button', { name: 'Switch to SCIM' }).click();
    const toScim = page.getByRole('dialog', { name: 'Switch to SCIM provisioning?' });
    assert.match((await toScim.textContent()) ?? '', /read-only here/);
    await Promise.all([page.waitForURL('**/admin/authentication?notice=scim-enabled'), toScim.getByRole('button', { name: 'Switch to SCIM' }).click()]);
    assert.equal(await app.services.provisioning.isScimEnabled(), true);
    await expectAccessible(page, 'the Authentication page after switching');
    tab.expectNoProblems();
    await tab.close();
  });

  test('a token is created with its secret shown once, listed, then revoked after a confirmation', async () => {
    const tab = await adminTab('/admin/scim');
    const page = tab.page;
    await page.getByLabel('Name').fill('entra-id');
    await page.getByRole('button', { name: 'Create token' }).click();
    await page.getByRole('status').filter({ hasText: 'Token entra-id created' }).waitFor();
    const secret = ((await page.locator('#new-token').textContent()) ?? '').trim();
    assert.match(secret, /^roster_[A-Za-z0-9_-]{40,}$/);
    assert.equal((await app.request('GET', '/Users', undefined, { authorization: `Bearer ${secret}` })).status, 200, 'the secret shown works');
    await page.getByRole('button', { name: 'Copy the new token' }).waitFor();
    // The outcome takes the focus, so that a screen reader says it and the next Tab reaches its Copy button.
    assert.equal((await focused(page)).id, 'outcome');
    await page.keyboard.press('Tab');
    assert.match((await focused(page)).text, /Copy/);
    await expectAccessible(page, 'the SCIM page with a new token');
    await screenshot(page, 'scim-token');

    await page.goto('/admin/scim');
    assert.ok(!(await page.content()).includes(secret), 'the secret is never shown again');
    const row = page.getByRole('row').filter({ hasText: 'entra-id' });
    await row.getByRole('button', { name: 'Revoke' }).click();
    const dialog = page.getByRole('dialog', { name: 'Revoke the token entra-id?' });
    await dialog.waitFor();
    await Promise.all([page.waitForURL('**/admin/scim?notice=token-revoked'), dialog.getByRole('button', { name: 'Revoke entra-id' }).click()]);
    assert.equal((await app.request('GET', '/Users', undefined, { authorization: `Bearer ${secret}` })).status, 401);
    tab.expectNoProblems();
    await tab.close();
  });

  test('the provisioning activity shows the SCIM calls, the failing one with its message, and filters failures', async () => {
    assert.equal((await app.request('POST', '/Users', userBody('grace@example.com', { displayName: 'Grace Hopper' }))).status, 201);
    assert.equal((await app.request('POST', '/Users', userBody('GRACE@example.com'))).status, 409);
    assert.equal((await app.request('GET', `/Users?filter=${encodeURIComponent('userName eq "grace@example.com"')}`)).status, 200);
    const tab = await adminTab('/admin/scim');
    const page = tab.page;
    const activity = page.getByRole('table', { name: 'SCIM requests' });
    const failed = activity.getByRole('row').filter({ hasText: '409' });
    assert.equal(await failed.count(), 1);
    assert.match((await failed.textContent()) ?? '', /POST.*\/Users.*test-idp.*uniqueness/s);
    await expectAccessible(page, 'the SCIM page');
    await page.locator('#activity-title').scrollIntoViewIfNeeded();
    await screenshot(page, 'scim');
    await page.getByRole('navigation', { name: 'Which requests' }).getByRole('link', { name: 'Failures' }).click();
    await page.waitForURL('**/admin/scim?show=failures');
    const failures = page.getByRole('table', { name: 'Failed SCIM requests' });
    assert.equal(await failures.getByRole('row').filter({ hasText: '201' }).count(), 0);
    assert.equal(await failures.getByRole('row').filter({ hasText: '409' }).count(), 1);
    await expectAccessible(page, 'the SCIM page, failures only');
    tab.expectNoProblems();
    await tab.close();
  });

  test('the audit log filters by action and offers the filtered export', async () => {
    const tab = await adminTab('/admin/audit');
    const page = tab.page;
    await expectAccessible(page, 'the Audit log page');
    await page.getByLabel('Action').fill('token.*');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/\/admin\/audit\?.*action=token\.\*/);
    const rows = page.getByRole('main').getByRole('row');
    assert.ok((await rows.count()) >= 3, 'a header and the token entries');
    assert.equal(await rows.filter({ hasText: 'user.created' }).count(), 0);
    assert.ok((await rows.filter({ hasText: 'token.created' }).count()) >= 1);
    assert.equal(await page.getByRole('link', { name: 'CSV' }).getAttribute('href'), '/api/v2/audit-logs/export?format=csv&action=token.*');
    const exported = await page.request.get('/api/v2/audit-logs/export?format=jsonl&action=token.*');
    assert.equal(exported.status(), 200);
    assert.match(await exported.text(), /token\.revoked/);
    await expectAccessible(page, 'the filtered Audit log page');
    await page.goto('/admin/audit');
    await screenshot(page, 'audit');
    tab.expectNoProblems();
    await tab.close();
  });

  test('with SCIM off, SAML is deleted after a confirmation, and the SCIM choice is then disabled, saying why', async () => {
    await app.services.provisioning.disable({ kind: 'cli' });
    const tab = await adminTab('/admin/authentication');
    const page = tab.page;
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete the SAML configuration?' });
    await dialog.waitFor();
    await expectAccessible(page, 'the delete-SAML dialog', 'dialog[open]');
    await Promise.all([page.waitForURL('**/admin/authentication?notice=saml-deleted'), dialog.getByRole('button', { name: 'Delete the SAML configuration' }).click()]);
    assert.equal(await app.services.saml.get(), undefined);
    const scimChoice = page.getByRole('button', { name: 'Switch to SCIM' });
    assert.equal(await scimChoice.isDisabled(), true);
    assert.match((await scimChoice.getAttribute('aria-describedby')) ?? '', /scim-choice-why/);
    await page.getByText('Configure SAML first').waitFor();
    await expectAccessible(page, 'the Authentication page without SAML');
    await page.getByRole('link', { name: 'Configure SAML' }).click();
    await page.waitForURL('**/admin/authentication/saml');
    await expectAccessible(page, 'the empty SAML form');
    tab.expectNoProblems();
    await tab.close();
  });
});
