/**
 * "Download personal data" in Chromium: the button on a user's page saves the person's data as
 * a JSON file, named after the login, and leaves the page as it was. On SQLite only: what is in
 * the file, and its audit entry, are checked on both databases by test/console/personal-data.test.ts
 * and test/http/personal-data.test.ts; here it is the browser's part, the download. Skipped,
 * saying why, without /usr/bin/chromium.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { browserSkip, expectAccessible, launchBrowser, openTab, signInWithPassword, startServedApp, type ServedApp, type Tab } from '../support/browser.ts';

const cli = { kind: 'cli' } as const;

describe('Download personal data in Chromium', { skip: browserSkip() }, () => {
  let browser: Browser;
  let app: ServedApp;
  let tab: Tab;
  let userId: string;

  before(async () => {
    [browser, app] = await Promise.all([launchBrowser(), startServedApp({ scim: false })]);
    userId = (await app.services.accounts.create({ login: 'grace', name: 'Grace Hopper', email: 'grace@corp.example', local: false }, cli)).id;
    const group = await app.services.groupManagement.create({ name: 'compilers', description: null }, cli);
    await app.services.memberships.add({ groupId: group.id, userId }, cli);
    const password = await app.adminPassword();
    tab = await openTab(browser, app);
    await signInWithPassword(tab.page, 'admin', password);
  });
  after(async () => {
    await tab?.close();
    await browser?.close();
    await app?.close();
  });

  test("the button on a user's page saves the person's data as a JSON file, and the page stays", async () => {
    const { page } = tab;
    const address = `${app.base}/admin/users/${userId}`;
    await page.goto(address);
    await expectAccessible(page, "a user's page with its Personal data section");
    const button = page.getByRole('button', { name: 'Download personal data grace' });
    const [download] = await Promise.all([page.waitForEvent('download'), button.click()]);
    assert.equal(download.suggestedFilename(), `personal-data-grace-${new Date().toISOString().slice(0, 10)}.json`);
    const path = await download.path();
    const data = JSON.parse(await readFile(path, 'utf8'));
    assert.deepEqual([data.account.login, data.account.name, data.account.email], ['grace', 'Grace Hopper', 'grace@corp.example']);
    assert.deepEqual(data.groupMemberships.items.map((item: { group: { name: string } }) => item.group.name), ['compilers']);
    assert.equal(page.url(), address, 'the browser stays on the page');
    await assert.doesNotReject(button.waitFor({ state: 'visible', timeout: 2000 }), 'and the button is there for another download');
    const entries = await app.services.auditLog.list({ action: 'user.personal_data_exported', targetId: userId }, { offset: 0, limit: 10, ascending: false });
    assert.deepEqual(entries.events.map((entry) => entry.actor), ['session:admin']);
    tab.expectNoProblems();
  });
});
