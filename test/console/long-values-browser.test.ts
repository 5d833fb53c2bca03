/**
 * Long values in the console's tables, in Chromium: a 255-character login or group name without
 * a break point wraps inside its cell instead of widening the table until the other columns and
 * the row's buttons are off-screen; buttons, badges and dates never break, and ordinary rows
 * keep their words whole. Checked at a desktop width and a phone's, where every cell has a greatest
 * width (the audit log's details wrap rather than make its table thousands of pixels wide).
 * Combining marks stacked on a letter stay in their cell.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { browserSkip, launchBrowser, openTab, signInWithPassword, startServedApp, type ServedApp, type Tab } from '../support/browser.ts';

const cli = { kind: 'cli' } as const;
const LONG_LOGIN = `${'l'.repeat(243)}@example.com`;
const LONG_GROUP = 'g'.repeat(255);
/** "a" with 60 acute accents stacked on it: drawn far above its line. */
const STACKED_NAME = `a${'\u0301'.repeat(60)} Stacked`;
/** Accents as names have them: above and below capitals, Vietnamese's two on one letter, a Thai tone mark. */
const ACCENTED_NAME = 'Ǻngström Nguyễn Ậu Ḍ ก่ำ';

/**
 * How far the page's first table sticks out of its box, in CSS pixels (0 when it fits), and the
 * width of the widest cell holding `value`. (Strings run in the page: the tests compile without the DOM's types.)
 */
async function measure(page: Page, value: string): Promise<{ overflow: number; cell: number }> {
  return page.evaluate<{ overflow: number; cell: number }>(`(() => {
    const wrap = document.querySelector('.table-wrap');
    const cells = [...wrap.querySelectorAll('td')].filter((cell) => cell.textContent.includes(${JSON.stringify(value)}));
    return { overflow: wrap.scrollWidth - wrap.clientWidth, cell: Math.max(0, ...cells.map((cell) => cell.getBoundingClientRect().width)) };
  })()`);
}

/** Whether the first element matching `selector` has no word broken across lines (each word's box is one rectangle). */
async function wordsWhole(page: Page, selector: string): Promise<boolean> {
  return page.evaluate<boolean>(`(() => {
    const walker = document.createTreeWalker(document.querySelector(${JSON.stringify(selector)}), NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node !== null; node = walker.nextNode()) {
      for (const match of node.textContent.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        if (range.getClientRects().length > 1) return false;
      }
    }
    return true;
  })()`);
}

describe('long values in the console tables, in Chromium', { skip: browserSkip() }, () => {
  let browser: Browser;
  let app: ServedApp;
  let tab: Tab;
  let groupId = '';

  before(async () => {
    [browser, app] = await Promise.all([launchBrowser(), startServedApp({ scim: false })]);
    await app.services.accounts.create({ login: LONG_LOGIN, name: 'Long Login', email: 'long@example.com', local: false }, cli);
    await app.services.accounts.create({ login: 'ada@example.com', name: 'Ada Lovelace', email: 'ada@example.com', local: false }, cli);
    const group = await app.services.groupManagement.create({ name: LONG_GROUP, description: 'A group with a very long name' }, cli);
    groupId = group.id;
    for (const login of [LONG_LOGIN, 'ada@example.com']) {
      const user = await app.services.accounts.findByLogin(login);
      await app.services.memberships.add({ groupId, userId: user?.id ?? '' }, cli);
    }
    // Names someone chose: combining marks stacked far above the line, and ordinary accents.
    await app.services.accounts.create({ login: 'stacked@example.com', name: STACKED_NAME, local: false }, cli);
    await app.services.accounts.create({ login: 'accents@example.com', name: ACCENTED_NAME, local: false }, cli);
    await app.services.accounts.create({ login: 'tail@example.com', name: 'Below Stacked', local: false }, cli);
    // A crowded table of ordinary values (six columns, two of them long codes, three buttons).
    await app.services.applications.create({ name: 'Grafana', redirectUris: ['https://grafana.example.com/login/generic_oauth'], public: false, allowedGroups: ['engineers', 'enginers'] }, cli);
    const password = await app.adminPassword();
    tab = await openTab(browser, app);
    await signInWithPassword(tab.page, 'admin', password);
  });
  after(async () => {
    await tab?.close();
    await browser?.close();
    await app?.close();
  });

  for (const [label, width, height] of [['desktop', 1280, 800], ['phone', 390, 844]] as const) {
    test(`${label} (${width} px): the users list, the groups list and a group's members fit beside a 255-character value`, async () => {
      const { page } = tab;
      await page.setViewportSize({ width, height });
      for (const [path, value] of [['/admin/users', LONG_LOGIN], ['/admin/groups', LONG_GROUP], [`/admin/groups/${groupId}`, LONG_LOGIN]] as const) {
        await page.goto(path);
        assert.equal(await page.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth'), true, `${path}: the page scrolls sideways`);
        const { overflow, cell } = await measure(page, value);
        if (label === 'desktop') {
          assert.equal(overflow, 0, `${path}: the table is ${overflow} px wider than its box`);
        } else {
          // On a phone the long value wraps at the cells' greatest width (24rem and padding); the
          // table scrolls in its box for the rest, as it did before.
          assert.ok(cell > 0 && cell <= 24 * 16 + 24 + 1, `${path}: the cell holding the long value is ${cell} px wide`);
        }
      }
      await page.goto('/admin/users');
      const row = page.getByRole('row').filter({ hasText: 'Long Login' });
      const button = await row.getByRole('button', { name: /Deactivate/ }).boundingBox();
      assert.ok(button !== null);
      if (label === 'desktop') assert.ok(button.x + button.width <= width, `the Deactivate button ends at ${button.x + button.width} px`);
      assert.equal(await wordsWhole(page, 'tbody button'), true, 'a button keeps its label whole');
      // Ordinary values keep their words whole, beside the long one.
      for (const column of [1, 2, 3]) assert.equal(await wordsWhole(page, `tbody tr:nth-child(1) td:nth-child(${column})`), true, `column ${column} of Ada's row breaks a word`);
      // A crowded table of ordinary values scrolls rather than breaking its words.
      await page.goto('/admin/applications');
      // (The client id and the URIs are <code>, which has always wrapped anywhere.)
      for (const column of [1, 4]) assert.equal(await wordsWhole(page, `tbody tr:nth-child(1) td:nth-child(${column})`), true, `column ${column} of the applications table breaks a word`);
      if (label === 'phone') {
        // Every other cell wraps at its greatest width too (20rem and padding): the audit log's
        // details (the long login's creation, cut to 300 characters) made its table 4,000 px wide.
        for (const path of ['/admin/audit', '/admin/applications']) {
          await page.goto(path);
          const widest = await page.evaluate<number>(`Math.max(...[...document.querySelectorAll('td:not(:first-child)')].map((cell) => cell.getBoundingClientRect().width))`);
          assert.ok(widest <= 20 * 16 + 24 + 1, `${path}: a cell is ${widest} px wide`);
          assert.equal(await page.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth'), true, `${path}: the page scrolls sideways`);
        }
      }
    });
  }

  test('stacked combining marks stay inside their cell, off the header and the rows around; ordinary accents are not cut', async () => {
    const { page } = tab;
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto('/admin/users');
    const rows = page.locator('tbody tr');
    const logins = await rows.locator('td:first-child').allTextContents();
    const stacked = logins.findIndex((login) => login.includes('stacked@example.com'));
    assert.ok(stacked > 0 && stacked < logins.length - 1, 'rows above and below the stacked name');
    const header = page.locator('thead');
    const above = rows.nth(stacked - 1);
    const below = rows.nth(stacked + 1);
    const shots = async () => Promise.all([header.screenshot(), above.screenshot(), below.screenshot()]);
    const drawn = await shots();
    // The same rows with the marks gone: the header and the rows around look the same.
    await page.evaluate(`(() => {
      const walker = document.createTreeWalker(document.querySelector('tbody'), NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node !== null; node = walker.nextNode()) node.textContent = node.textContent.replace(/\u0301/g, '');
    })()`);
    const without = await shots();
    for (const [index, part] of ['the header', 'the row above', 'the row below'].entries()) {
      assert.ok(drawn[index]?.equals(without[index] ?? Buffer.alloc(0)), `the stacked marks are drawn over ${part}`);
    }

    // Ordinary accents: the row looks the same whether its cells clip or not.
    await page.goto('/admin/users');
    const accented = page.getByRole('row').filter({ hasText: 'accents@example.com' });
    const clipped = await accented.screenshot();
    await page.evaluate(`document.querySelectorAll('td').forEach((cell) => { cell.style.overflow = 'visible'; })`);
    assert.ok(clipped.equals(await accented.screenshot()), 'an ordinary accent is cut');
  });

  test('320 px: the confirmation dialog of a 255-character group fits the window, its name wrapping', async () => {
    const { page } = tab;
    await page.setViewportSize({ width: 320, height: 640 });
    await page.goto('/admin/groups');
    const row = page.getByRole('row').filter({ hasText: LONG_GROUP.slice(0, 40) });
    await row.getByRole('button', { name: /Delete/ }).click();
    const dialog = page.getByRole('dialog', { name: /Delete the group/ });
    await dialog.waitFor();
    // Opened modal, a dialog whose own max-width replaced the browser's limit was as wide as the name.
    assert.equal(await page.evaluate<boolean>(`document.querySelector('dialog[open]').matches(':modal')`), true);
    for (const part of [dialog, dialog.getByRole('heading'), dialog.locator('.dialog-message'), dialog.getByRole('button', { name: /^Delete/ }), dialog.getByRole('button', { name: 'Cancel' })]) {
      const box = await part.boundingBox();
      assert.ok(box !== null);
      assert.ok(box.x >= 0 && box.x + box.width <= 320, `${String(part)} spans ${box.x} to ${box.x + box.width} px of 320`);
    }
    const overflowing = await page.evaluate<number>(`[...document.querySelectorAll('dialog[open] *')].filter((element) => element.scrollWidth > element.clientWidth + 1 && element.clientWidth > 0).length`);
    assert.equal(overflowing, 0, 'a part of the dialog overflows its box');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
  });
});
