/**
 * The buttons of a table's rows in Chromium, as a screen reader lists them by name: each says
 * what it acts on ("Deactivate carol", "Delete ops", "Revoke entra-id", "End the session of …,
 * signed in …"), where several rows read the same ("Deactivate", "Delete", "Revoke", and two
 * sessions of the same browser at the same address). Names are read from Chromium's
 * accessibility tree (ariaSnapshot). Skipped, saying why, without /usr/bin/chromium.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { browserSkip, expectAccessible, launchBrowser, openTab, signInWithPassword, startServedApp, type ServedApp, type Tab } from '../support/browser.ts';

const cli = { kind: 'cli' } as const;

/** The accessible names of the buttons in the page's tables, in order. */
async function rowButtons(page: Page): Promise<string[]> {
  const names: string[] = [];
  for (const table of await page.locator('main table').all()) {
    for (const match of (await table.ariaSnapshot()).matchAll(/- button "((?:[^"\\]|\\.)*)"/g)) names.push(match[1] ?? '');
  }
  return names;
}

/** The names that occur more than once. */
function repeated(names: readonly string[]): string[] {
  return [...new Set(names.filter((name, index) => names.indexOf(name) !== index))];
}

describe('the buttons of table rows in Chromium', { skip: browserSkip() }, () => {
  let browser: Browser;
  let app: ServedApp;
  let tab: Tab;

  before(async () => {
    [browser, app] = await Promise.all([launchBrowser(), startServedApp({ scim: false })]);
    for (const login of ['carol', 'dave']) await app.services.accounts.create({ login, name: login, password: 'a-long-enough-password' }, cli);
    for (const name of ['ops', 'sales']) await app.services.groupManagement.create({ name, description: null }, cli);
    for (const name of ['entra-id', 'okta']) await app.services.tokens.create(name, cli, app.adminId);
    for (const name of ['Wiki', 'Board']) await app.services.applications.create({ name, redirectUris: ['https://app.example.com/cb'], public: false, allowedGroups: [] }, cli);
    const password = await app.adminPassword();
    // Two other sessions of the administrator (after the new password, which ends the others), from the same browser at the same address.
    await app.services.sessions.open(app.adminId, { address: '127.0.0.1', browser: 'Chrome on Linux' });
    await sleep(1100);
    await app.services.sessions.open(app.adminId, { address: '127.0.0.1', browser: 'Chrome on Linux' });
    tab = await openTab(browser, app);
    await signInWithPassword(tab.page, 'admin', password);
  });
  after(async () => {
    await tab?.close();
    await browser?.close();
    await app?.close();
  });

  test('each row button names what it acts on: users, groups, tokens, applications, sessions', async () => {
    const { page } = tab;
    const pages: Array<{ path: string; expect: readonly string[] }> = [
      { path: '/admin/users', expect: ['Deactivate admin', 'Deactivate carol', 'Deactivate dave'] },
      { path: '/admin/groups', expect: ['Delete ops', 'Delete sales'] },
      { path: '/admin/scim', expect: ['Revoke entra-id', 'Revoke okta'] },
      { path: `/admin/users/${app.adminId}`, expect: ['Revoke entra-id', 'Revoke okta'] },
      { path: '/admin/applications', expect: ['New secret for Board', 'Delete Board', 'New secret for Wiki', 'Delete Wiki'] },
    ];
    for (const { path, expect } of pages) {
      await page.goto(path);
      const names = await rowButtons(page);
      assert.deepEqual(repeated(names), [], `${path}: ${JSON.stringify(names)}`);
      for (const name of expect) assert.ok(names.includes(name), `${path} has a button named "${name}": ${JSON.stringify(names)}`);
      await expectAccessible(page, path);
    }

    await page.goto('/account');
    const ends = (await rowButtons(page)).filter((name) => name.startsWith('End'));
    assert.equal(ends.length, 2, JSON.stringify(ends));
    assert.deepEqual(repeated(ends), [], JSON.stringify(ends));
    for (const name of ends) assert.match(name, /^End the session of Chrome on Linux at 127\.0\.0\.1, signed in \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    tab.expectNoProblems();
  });
});
