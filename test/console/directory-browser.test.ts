/**
 * The Users and Groups pages in a real browser (issue 9): the administrator walks the users
 * list (search, filters), deactivates a local user through the confirmation dialog, opens a
 * user's page, the groups list and a group's page; managed-mode buttons are disabled while
 * SCIM is on. axe-core runs on every page (and the open dialog), and no console error occurs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { groupBody, userBody } from '../support/app.ts';
import { browserSkip, expectAccessible, launchBrowser, openTab, screenshot, signInWithPassword, startServedApp, type ServedApp, type Tab } from '../support/browser.ts';

const cli = { kind: 'cli' } as const;

describe('the Users and Groups pages in Chromium', { skip: browserSkip() }, () => {
  let browser: Browser;
  let app: ServedApp;
  let tab: Tab;

  before(async () => {
    [browser, app] = await Promise.all([launchBrowser(), startServedApp({ scim: false })]);
    // Local users and a local group first, then SCIM on and what the identity provider sends.
    await app.services.accounts.create({ login: 'carol', name: 'Carol Local', email: 'carol@corp.example', local: false }, cli);
    await app.services.accounts.create({ login: 'build-bot', name: 'Build robot', password: 'a-long-robot-password', local: true }, cli);
    const ops = await app.services.groupManagement.create({ name: 'local-ops', description: 'Made in Roster' }, cli);
    const carol = await app.services.accounts.findByLogin('carol');
    await app.services.memberships.add({ groupId: ops.id, userId: carol?.id ?? '' }, cli);
    await app.services.provisioning.enable(cli);
    const ids: string[] = [];
    for (const [login, name] of [['ada@example.com', 'Ada Lovelace'], ['alan@example.com', 'Alan Turing'], ['grace@example.com', 'Grace Hopper']] as const) {
      const created = await app.request('POST', '/Users', userBody(login, { displayName: name, emails: [{ value: login, primary: true }] }));
      assert.equal(created.status, 201);
      ids.push(created.body.id);
    }
    assert.equal((await app.request('POST', '/Groups', groupBody('engineers', ids))).status, 201);
    assert.equal((await app.request('POST', '/Groups', groupBody('roster-administrators', ids.slice(0, 1)))).status, 201);
    const password = await app.adminPassword();
    tab = await openTab(browser, app);
    await signInWithPassword(tab.page, 'admin', password);
    assert.equal(new URL(tab.page.url()).pathname, '/admin/users');
  });
  after(async () => {
    await tab?.close();
    await browser?.close();
    await app?.close();
  });

  test('the users list: banner, Local badges, disabled Create user, search and filters', async () => {
    const { page } = tab;
    await page.goto('/admin/users');
    assert.equal(await page.title(), 'Users · Roster');
    await page.getByText('Users are managed by your identity provider; only local users can be deactivated here.').waitFor();
    assert.equal(await page.locator('span.button[aria-disabled="true"]', { hasText: 'Create user' }).count(), 1);
    assert.equal(await page.getByRole('row').filter({ hasText: 'carol' }).getByText('Local', { exact: true }).count(), 1);
    assert.equal(await page.getByRole('row').filter({ hasText: 'Ada Lovelace' }).getByText('Local', { exact: true }).count(), 0);
    assert.equal(await page.getByRole('row').filter({ hasText: 'Ada Lovelace' }).getByRole('button', { name: 'Deactivate' }).isDisabled(), true);
    await expectAccessible(page, 'the users list');
    await screenshot(page, 'users');

    await page.getByLabel('Search users').fill('turing');
    await Promise.all([page.waitForURL('**/admin/users?q=turing'), page.getByRole('button', { name: 'Search' }).click()]);
    assert.equal(await page.getByRole('row').count(), 2, 'the header and Alan');
    await page.getByRole('navigation', { name: 'Source' }).getByRole('link', { name: 'Local' }).click();
    await page.waitForURL('**/admin/users?q=turing&source=local');
    await page.getByText('No user matches “turing”.').waitFor();
    await expectAccessible(page, 'the users list, filtered to nothing');
    tab.expectNoProblems();
  });

  test('deactivating a local user asks for confirmation naming the user, then says it is done', async () => {
    const { page } = tab;
    await page.goto('/admin/users?source=local');
    const row = page.getByRole('row').filter({ hasText: 'Carol Local' });
    await row.getByRole('button', { name: 'Deactivate' }).click();
    const dialog = page.getByRole('dialog', { name: 'Deactivate carol?' });
    await dialog.waitFor();
    assert.match((await dialog.textContent()) ?? '', /Carol Local/);
    await expectAccessible(page, 'the deactivate dialog', 'dialog[open]');
    await screenshot(page, 'users-deactivate');
    // Cancel first: nothing happens.
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.equal(await dialog.isVisible(), false);
    assert.equal((await app.services.accounts.findByLogin('carol'))?.active, true);

    await row.getByRole('button', { name: 'Deactivate' }).click();
    await Promise.all([page.waitForURL('**/admin/users?source=local&notice=deactivated'), dialog.getByRole('button', { name: 'Deactivate carol' }).click()]);
    await page.getByText('The user was deactivated').waitFor();
    assert.equal(await page.getByRole('row').filter({ hasText: 'Carol Local' }).getByText('Deactivated', { exact: true }).count(), 1);
    assert.equal((await app.services.accounts.findByLogin('carol'))?.active, false);
    await expectAccessible(page, 'the users list after a deactivation');
    // The address forgets the notice once shown: a reload does not say it again, and keeps the filter.
    await page.waitForFunction("!location.search.includes('notice')");
    assert.equal(new URL(page.url()).search, '?source=local');
    await page.reload();
    await page.getByRole('row').filter({ hasText: 'Carol Local' }).waitFor();
    assert.equal(await page.getByText('The user was deactivated').count(), 0);
    tab.expectNoProblems();
  });

  test("a user's page: attributes, sign-in check, groups, SCIM document, history", async () => {
    const { page } = tab;
    await page.goto('/admin/users?q=ada');
    await page.getByRole('link', { name: 'ada@example.com' }).click();
    await page.getByRole('heading', { level: 1, name: 'ada@example.com' }).waitFor();
    for (const heading of ['Attributes', 'Can this person sign in now?', 'Groups', 'Tokens', 'Sessions', 'As your identity provider sees it (SCIM)', 'History', 'Group membership changes']) {
      assert.equal(await page.getByRole('heading', { level: 2, name: heading }).count(), 1, heading);
    }
    await page.getByText('Can sign in', { exact: true }).waitFor();
    const section = (name: string) => page.getByRole('region', { name });
    assert.equal(await section('Groups').getByRole('link', { name: 'engineers' }).count(), 1);
    assert.equal(await section('Group membership changes').getByRole('row', { name: /Added to\s*engineers/ }).count(), 1);
    assert.match((await page.locator('pre.scim-document').textContent()) ?? '', /"userName": "ada@example.com"/);
    assert.equal(await page.getByRole('button', { name: 'Deactivate' }).isDisabled(), true);
    await expectAccessible(page, "a user's page");
    await screenshot(page, 'user');
    tab.expectNoProblems();
  });

  test('the groups list and a group: Delete for local groups only, members searched and paged', async () => {
    const { page } = tab;
    await page.goto('/admin/groups');
    await page.getByText('only local groups can be deleted here').waitFor();
    assert.equal(await page.getByRole('row').filter({ hasText: 'local-ops' }).getByRole('button', { name: 'Delete' }).isDisabled(), false);
    assert.equal(await page.getByRole('row').filter({ hasText: 'engineers' }).getByRole('button', { name: 'Delete' }).isDisabled(), true);
    assert.equal(await page.getByRole('button', { name: 'Create group' }).isDisabled(), true);
    await expectAccessible(page, 'the groups list');
    await screenshot(page, 'groups');

    await page.getByRole('link', { name: 'engineers' }).click();
    await page.getByRole('heading', { level: 1, name: 'engineers' }).waitFor();
    await page.getByText('Page 1 of 1 · 3 members').waitFor();
    // SCIM owns the members: the add field is disabled, and looks it (not white like the search).
    assert.equal(await page.getByLabel('Add a member by login').isDisabled(), true);
    assert.notEqual(await page.evaluate<string>('getComputedStyle(document.getElementById("add-login")).backgroundColor'), 'rgb(255, 255, 255)');
    await page.getByLabel('Search members').fill('hopper');
    await Promise.all([page.waitForURL(/q=hopper/), page.getByRole('search').getByRole('button', { name: 'Search' }).click()]);
    await page.getByText('Page 1 of 1 · 1 member', { exact: true }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Remove grace@example.com' }).isDisabled(), true);
    assert.equal(await page.getByRole('button', { name: 'Save' }).isDisabled(), true);
    await expectAccessible(page, "a group's page");
    await screenshot(page, 'group');

    // Deleting the local group: confirmed, then gone.
    await page.goto('/admin/groups');
    await page.getByRole('row').filter({ hasText: 'local-ops' }).getByRole('button', { name: 'Delete' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete the group local-ops?' });
    await dialog.waitFor();
    await expectAccessible(page, 'the delete dialog', 'dialog[open]');
    await Promise.all([page.waitForURL('**/admin/groups?notice=deleted'), dialog.getByRole('button', { name: 'Delete local-ops' }).click()]);
    assert.equal(await page.getByRole('link', { name: 'local-ops' }).count(), 0);
    tab.expectNoProblems();
  });
  test('narrow and wide windows: no page scrolls sideways, even for a 200-character login; a table that scrolls in its box can be scrolled by keyboard', async () => {
    const { page } = tab;
    const long = await app.request('POST', '/Users', userBody(`${'x'.repeat(196)}.com`, { displayName: 'Long Login' }));
    assert.equal(long.status, 201);
    const pages = ['/admin/users', `/admin/users/${await app.services.accounts.findByLogin(`${'x'.repeat(196)}.com`).then((user) => user?.id ?? '')}`, '/admin/groups'];
    try {
      for (const width of [400, 1280]) {
        await page.setViewportSize({ width, height: 800 });
        for (const path of pages) {
          await page.goto(path);
          // Strings, not functions: the test files compile without the DOM's types.
          const scrollWidth = await page.evaluate<number>('document.documentElement.scrollWidth');
          const culprits = await page.evaluate<string[]>(`[...document.querySelectorAll('body *')].filter((el) => el.getBoundingClientRect().right > ${width + 1}).slice(0, 5).map((el) => el.tagName + '.' + el.className)`);
          assert.ok(scrollWidth <= width, `${path} is ${scrollWidth} px wide in a ${width} px window: ${culprits.join(', ')}`);
        }
      }
      // At 400 px the users table scrolls inside its box: the box takes the keyboard focus,
      // named by the caption, and the arrow keys scroll it; at 1280 px it needs no focus.
      await page.setViewportSize({ width: 400, height: 800 });
      await page.goto('/admin/users');
      const box = page.locator('.table-wrap').first();
      assert.equal(await box.getAttribute('tabindex'), '0');
      assert.match((await box.getAttribute('aria-label')) ?? '', /scrolls sideways/);
      await box.focus();
      await page.keyboard.press('ArrowRight');
      await page.keyboard.press('ArrowRight');
      assert.ok(await box.evaluate((element) => element.scrollLeft > 0), 'the arrow keys scroll the table');
      await page.setViewportSize({ width: 1280, height: 800 });
      await page.goto('/admin/groups');
      assert.equal(await page.locator('.table-wrap').first().getAttribute('tabindex'), null);
    } finally {
      await page.setViewportSize({ width: 1280, height: 720 });
    }
  });
  test('the focus ring stands out from the page (3:1), and fields the identity provider owns look disabled', async () => {
    const { page } = tab;
    const luminance = (rgb: string): number => {
      const [r = 0, g = 0, b = 0] = (rgb.match(/\d+/g) ?? []).map((part) => Number(part) / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const contrast = (a: string, b: string): number => (Math.max(luminance(a), luminance(b)) + 0.05) / (Math.min(luminance(a), luminance(b)) + 0.05);
    await page.goto('/admin/users');
    await page.getByLabel('Search users').focus();
    const ring = await page.evaluate<string>('getComputedStyle(document.activeElement).outlineColor');
    const canvas = await page.evaluate<string>('getComputedStyle(document.body).backgroundColor === "rgba(0, 0, 0, 0)" ? getComputedStyle(document.documentElement).backgroundColor : getComputedStyle(document.body).backgroundColor');
    for (const background of [canvas, 'rgb(255, 255, 255)']) {
      assert.ok(contrast(ring, background) >= 3, `focus ring ${ring} on ${background}: ${contrast(ring, background).toFixed(2)}:1`);
    }

    await page.goto(`/admin/users/${(await app.services.accounts.findByLogin('ada@example.com'))?.id ?? ''}`);
    assert.equal(await page.getByLabel('Login', { exact: true }).isDisabled(), true);
    const disabledBackground = await page.evaluate<string>('getComputedStyle(document.querySelector("input[name=login]")).backgroundColor');
    assert.notEqual(disabledBackground, 'rgb(255, 255, 255)', 'a disabled field is not white like an editable one');
  });
});
