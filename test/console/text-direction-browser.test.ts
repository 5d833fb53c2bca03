/**
 * Names that hold right-to-left text or a direction control, in Chromium: a display name sent by
 * the identity provider with a right-to-left override (`Eve\u202Egnp.exe`, which shows as
 * `Eveexe.png`) must not turn the rest of a confirmation backwards, and a Hebrew login with its
 * name must not move the words, parentheses and numbers around them. The name reads as a unit
 * (`<bdi>`, `strong` isolated); administrators cannot type such controls (test/http).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { userBody } from '../support/app.ts';
import { browserSkip, launchBrowser, openTab, signInWithPassword, startServedApp, type ServedApp, type Tab } from '../support/browser.ts';

const cli = { kind: 'cli' } as const;

/** The left edge, in CSS pixels, of each of `words` in the open dialog's message (first occurrence). */
async function wordPositions(page: Page, words: readonly string[]): Promise<number[]> {
  return page.evaluate<number[]>(`(() => {
    const message = document.querySelector('dialog[open] .dialog-message p');
    const walker = document.createTreeWalker(message, NodeFilter.SHOW_TEXT);
    const found = {};
    for (let node = walker.nextNode(); node !== null; node = walker.nextNode()) {
      for (const word of ${JSON.stringify(words)}) {
        const at = node.textContent.indexOf(word);
        if (at < 0 || word in found) continue;
        const range = document.createRange();
        range.setStart(node, at);
        range.setEnd(node, at + word.length);
        found[word] = range.getClientRects()[0].left;
      }
    }
    return ${JSON.stringify(words)}.map((word) => found[word]);
  })()`);
}

describe('names with right-to-left text in confirmations, in Chromium', { skip: browserSkip() }, () => {
  let browser: Browser;
  let app: ServedApp;
  let tab: Tab;
  const ids: Record<string, string> = {};

  before(async () => {
    [browser, app] = await Promise.all([launchBrowser(), startServedApp()]);
    // From the identity provider (which keeps its spelling), then local once SCIM is off, so that
    // the console offers to deactivate them.
    for (const [login, displayName] of [['eve', 'Eve\u202Egnp.exe'], ['שלום', 'שלום עליכם 123']] as const) {
      const created = await app.request('POST', '/Users', userBody(login, { displayName }));
      assert.equal(created.status, 201, JSON.stringify(created.body));
      ids[login] = (await app.services.accounts.findByLogin(login))?.id ?? '';
    }
    await app.services.provisioning.disable(cli);
    tab = await openTab(browser, app);
    await signInWithPassword(tab.page, 'admin', await app.adminPassword());
    await tab.page.setViewportSize({ width: 1280, height: 800 });
  });
  after(async () => {
    await tab?.close();
    await browser?.close();
    await app?.close();
  });

  test('a right-to-left override in a display name does not turn the sentence after it backwards', async () => {
    await tab.page.goto(`/admin/users/${ids.eve}?confirm=deactivate-user`);
    const [will, longer, sign] = await wordPositions(tab.page, ['will', 'longer', 'sign']);
    assert.ok(will !== undefined && longer !== undefined && sign !== undefined, 'the words are in the dialog');
    assert.ok(will < longer && longer < sign, `the words read left to right (will ${will}, longer ${longer}, sign ${sign})`);
    tab.expectNoProblems();
  });

  test('a Hebrew login and name keep the words around them in place', async () => {
    await tab.page.goto(`/admin/users/${ids['שלום']}?confirm=deactivate-user`);
    const [open, name, number, close, will] = await wordPositions(tab.page, ['(', 'עליכם', '123', ')', 'will']);
    assert.ok([open, name, number, close, will].every((x) => x !== undefined), 'the parts are in the dialog');
    // The parenthesis opens before the name and closes after it, and the sentence goes on to the right.
    assert.ok(open! < name! && open! < number! && close! > name! && close! > number! && will! > close!, `(${open}) name ${name} 123 ${number} ) ${close} will ${will}`);
  });
});
