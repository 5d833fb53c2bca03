/**
 * Refused forms in Chromium: every form the console refuses answers with the same error summary
 * at the top of the page (an alert that takes the keyboard focus, with a link to each field at
 * fault), and the page's title starts with "Error: ", so that a screen reader announces the
 * refusal and a sighted user sees it even when the form is below the fold (My account's
 * Password section at 1280x800). Skipped, saying why, without /usr/bin/chromium.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Locator, Page } from 'playwright-core';
import { browserSkip, expectAccessible, focused, launchBrowser, openTab, screenshot, signInWithPassword, startServedApp, type ServedApp, type Tab } from '../support/browser.ts';

/** What a refused page shows: its title, where the focus is, and the summary's links (text → target). */
async function refusal(page: Page): Promise<{ title: string; focus: string; links: Array<[string, string]>; summaryInView: boolean }> {
  const summary = page.locator('#error-summary');
  const box = await summary.boundingBox();
  const viewport = page.viewportSize();
  const links = await summary.getByRole('link').evaluateAll((anchors) => anchors.map((anchor) => [anchor.textContent ?? '', anchor.getAttribute('href') ?? ''] as [string, string]));
  return { title: await page.title(), focus: (await focused(page)).id, links, summaryInView: box !== null && viewport !== null && box.y >= 0 && box.y + box.height <= viewport.height };
}

/** Clicks `trigger` (a form's button) and says what the refused page that answers shows. */
async function refusedAfter(page: Page, trigger: Locator): Promise<Awaited<ReturnType<typeof refusal>>> {
  await trigger.click();
  await page.waitForLoadState('load');
  return refusal(page);
}

/** Follows the summary's link named `label` and says which element has the focus then. */
async function followLink(page: Page, label: string): Promise<string> {
  await page.locator('#error-summary').getByRole('link', { name: label }).click();
  return (await focused(page)).id;
}

describe('refused forms in Chromium', { skip: browserSkip() }, () => {
  let browser: Browser;
  let app: ServedApp;
  let tab: Tab;
  let password = '';

  before(async () => {
    [browser, app] = await Promise.all([launchBrowser(), startServedApp({ scim: false })]);
    password = await app.adminPassword();
    tab = await openTab(browser, app);
    await tab.page.setViewportSize({ width: 1280, height: 800 });
    await signInWithPassword(tab.page, 'admin', password);
  });
  after(async () => {
    await tab?.close();
    await browser?.close();
    await app?.close();
  });

  test('a stale page whose group another administrator deleted: the save is summarised at the top, focused, saying it may have been deleted meanwhile', async () => {
    const { page } = tab;
    const group = await app.services.groupManagement.create({ name: 'deleted-meanwhile' }, { kind: 'cli' });
    await page.goto(`/admin/groups/${group.id}`);
    await app.services.groupManagement.delete(group.id, { kind: 'cli' });
    await page.locator('#rename-description').fill('Changed on a stale page');
    const shown = await refusedAfter(page, page.getByRole('button', { name: 'Save' }));
    assert.equal(shown.title, 'Error: Not found · Roster');
    assert.equal(shown.focus, 'error-summary');
    assert.ok(shown.summaryInView);
    assert.match(await page.locator('#error-summary').innerText(), /Nothing was done[\s\S]*not found\. It may have been deleted meanwhile, by someone else\./);
    assert.equal(await page.getByRole('link', { name: 'Back to the list' }).getAttribute('href'), '/admin/groups');
    await expectAccessible(page, 'the refusal of a stale form');
    await screenshot(page, 'stale-form-refused');
  });

  test("a webhook's Rotate secret on a page shown before another rotation: summarised at the top, focused, nothing done, the older secret's end shown", async () => {
    const { page } = tab;
    const { webhook } = await app.services.webhooks.create({ url: 'https://rotated.example.com/roster' }, { kind: 'cli' });
    await page.goto(`/admin/webhooks/${webhook.id}`);
    // Meanwhile, another administrator rotates it.
    await app.services.webhooks.rotateSecret(webhook.id, { kind: 'cli' });
    await page.getByRole('button', { name: 'Rotate secret' }).click();
    const dialog = page.getByRole('dialog', { name: 'Issue a new signing secret?' });
    await dialog.waitFor();
    const shown = await refusedAfter(page, dialog.getByRole('button', { name: 'Rotate secret' }));
    assert.equal(shown.title, 'Error: Webhook https://rotated.example.com/roster · Roster');
    assert.equal(shown.focus, 'error-summary');
    assert.ok(shown.summaryInView);
    assert.match(await page.locator('#error-summary').innerText(), /Nothing was done[\s\S]*The secret was rotated at .*, after this page was shown/);
    assert.equal(await page.getByText('New signing secret', { exact: true }).count(), 0, 'no secret shown');
    await expectAccessible(page, 'a stale rotation refused');
    await screenshot(page, 'stale-rotation-refused');
    tab.expectNoProblems();
  });

  test('Deactivate on a page shown before someone else deactivated the user: the list says it was already done', async () => {
    const { page } = tab;
    await app.services.accounts.create({ login: 'gone-already', name: 'Gone Already', password: 'a long local password' }, { kind: 'cli' });
    await page.goto('/admin/users?q=gone-already');
    const user = await app.services.accounts.findByLogin('gone-already');
    assert.ok(user);
    await app.services.accounts.deactivate(user.id, { kind: 'cli' });
    await page.getByRole('button', { name: 'Deactivate gone-already' }).click();
    const dialog = page.getByRole('dialog', { name: 'Deactivate gone-already?' });
    await dialog.waitFor();
    await Promise.all([page.waitForURL('**notice=already-deactivated'), dialog.getByRole('button', { name: 'Deactivate gone-already' }).click()]);
    assert.match(await page.locator('main').innerText(), /The user was already deactivated \(by someone else, or from another page\): nothing was changed\./);
    await expectAccessible(page, 'a stale deactivation');
    await screenshot(page, 'stale-deactivation');
    tab.expectNoProblems();
  });

  test('My account › Password: a wrong current password, a short or a repeated-wrong new one is summarised at the top, focused, linked to its field', async () => {
    const { page } = tab;
    const cases = [
      { current: 'not-my-password', next: 'a-long-enough-new-password', repeat: 'a-long-enough-new-password', label: 'Current password', field: 'field-current' },
      { current: password, next: 'short', repeat: 'short', label: 'New password', field: 'field-next' },
      { current: password, next: 'a-long-enough-new-password', repeat: 'another-long-password', label: 'New password again', field: 'field-repeat' },
    ];
    for (const sent of cases) {
      await page.goto('/account');
      await page.getByLabel('Current password').fill(sent.current);
      await page.getByLabel('New password', { exact: true }).fill(sent.next);
      await page.getByLabel('New password again').fill(sent.repeat);
      await page.getByRole('button', { name: 'Change password' }).click();
      await page.waitForLoadState('load');
      const shown = await refusal(page);
      assert.equal(shown.title, 'Error: My account · Roster', sent.label);
      assert.equal(shown.focus, 'error-summary', sent.label);
      assert.equal(shown.summaryInView, true, `${sent.label}: the summary is in the window without scrolling`);
      assert.deepEqual(shown.links, [[sent.label, `#${sent.field}`]]);
      await page.locator('#error-summary').getByText('Your password was not changed').waitFor();
      await expectAccessible(page, `My account refusing ${sent.label}`);
      assert.equal(await followLink(page, sent.label), sent.field);
    }
    tab.expectNoProblems();
  });

  test('Register an application with a refused redirect URI', async () => {
    const { page } = tab;
    await page.goto('/admin/applications');
    await page.getByLabel('Name').fill('Wiki');
    await page.getByLabel('Redirect URIs').fill('ftp://wiki.example.com/callback');
    const shown = await refusedAfter(page, page.getByRole('button', { name: 'Register' }));
    assert.equal(shown.title, 'Error: Applications · Roster');
    assert.equal(shown.focus, 'error-summary');
    assert.deepEqual(shown.links, [['Redirect URIs', '#field-redirectUris']]);
    await expectAccessible(page, 'a refused registration');
    assert.equal(await followLink(page, 'Redirect URIs'), 'field-redirectUris');
    tab.expectNoProblems();
  });

  test('Add a webhook to ftp://x, and replay from "not-an-id"', async () => {
    const { page } = tab;
    await page.goto('/admin/webhooks');
    await page.getByLabel('URL').fill('ftp://x');
    let shown = await refusedAfter(page, page.getByRole('button', { name: 'Add webhook' }));
    assert.equal(shown.title, 'Error: Webhooks · Roster');
    assert.equal(shown.focus, 'error-summary');
    assert.deepEqual(shown.links, [['URL', '#field-url']]);
    await expectAccessible(page, 'a refused webhook');

    const { webhook } = await app.services.webhooks.create({ url: 'https://hooks.example.com/roster' }, { kind: 'cli' });
    await page.goto(`/admin/webhooks/${webhook.id}`);
    await page.getByLabel('From event id').fill('not-an-id');
    shown = await refusedAfter(page, page.getByRole('button', { name: 'Replay' }));
    assert.equal(shown.title, 'Error: Webhook https://hooks.example.com/roster · Roster');
    assert.equal(shown.focus, 'error-summary');
    assert.deepEqual(shown.links, [['From event id', '#field-from']]);
    // Beside the field and in the summary, in the form's words rather than the admin API's "Value … for field from".
    assert.equal(await page.locator('#field-from-error').textContent(), 'Must be the id of an event of the feed.');
    await expectAccessible(page, 'a refused replay');
    tab.expectNoProblems();
  });

  test('Create user: the refusal is summarised, focused, with "Error: " in the title', async () => {
    const { page } = tab;
    await page.goto('/admin/users/new');
    await page.getByLabel('Login').fill('bad login');
    await page.getByLabel('Name').fill('Bad Login');
    await page.getByLabel('Password (local users)').fill('a-long-enough-password');
    const shown = await refusedAfter(page, page.getByRole('button', { name: 'Create user' }));
    assert.equal(shown.title, 'Error: Create user · Roster');
    assert.equal(shown.focus, 'error-summary');
    assert.deepEqual(shown.links, [['Login', '#field-login']]);
    tab.expectNoProblems();
  });

  test('Create and Edit user: every wrong field at once, in plain words, beside each field and linked from the summary', async () => {
    const { page } = tab;
    await page.goto('/admin/users/new');
    // What the browser's own checks would stop (an empty required name, a malformed email) is sent
    // anyway, as by a browser without them: the server's answer must hold on its own.
    await page.locator('form[aria-label="Create user"]').evaluate((form) => form.setAttribute('novalidate', ''));
    await page.getByLabel('Login').fill('bad login');
    await page.getByLabel('Email').fill('bad');
    await page.getByLabel('Password (local users)').fill('short');
    let shown = await refusedAfter(page, page.getByRole('button', { name: 'Create user' }));
    assert.equal(shown.focus, 'error-summary');
    assert.deepEqual(shown.links, [['Login', '#field-login'], ['Name', '#field-name'], ['Email', '#field-email'], ['Password (local users)', '#field-password']]);
    const beside = async (): Promise<Record<string, string | null>> => {
      const notes: Record<string, string | null> = {};
      for (const field of ['login', 'name', 'email', 'password']) {
        notes[field] = (await page.locator(`#field-${field}-error`).count()) === 0 ? null : await page.locator(`#field-${field}-error`).textContent();
      }
      return notes;
    };
    assert.deepEqual(await beside(), {
      login: 'Must not contain spaces or control characters.',
      name: 'Must not be empty.',
      email: 'Must be a well-formed email address.',
      password: 'Must be at least 12 characters long.',
    });
    assert.equal(await page.locator('#field-login').inputValue(), 'bad login', 'what was typed is kept');
    await expectAccessible(page, 'Create user refusing four fields');

    const { id } = await app.services.accounts.create({ login: 'dora', name: 'Dora', password: 'a-long-enough-password' }, { kind: 'cli' });
    await page.goto(`/admin/users/${id}`);
    await page.locator('form[aria-label="Edit dora"]').evaluate((form) => form.setAttribute('novalidate', ''));
    await page.getByLabel('Login', { exact: true }).fill('');
    await page.getByLabel('Name', { exact: true }).fill('');
    shown = await refusedAfter(page, page.getByRole('button', { name: 'Save' }));
    assert.equal(shown.title, 'Error: dora · Roster');
    assert.equal(shown.focus, 'error-summary');
    assert.deepEqual(shown.links, [['Login', '#field-login'], ['Name', '#field-name']]);
    assert.deepEqual(await beside(), { login: 'Must be 2 to 255 characters long.', name: 'Must not be empty.', email: null, password: null });
    tab.expectNoProblems();
  });

  test('a group: adding an unknown login is marked on the field, linked from the summary', async () => {
    const { page } = tab;
    const group = await app.services.groupManagement.create({ name: 'ops', description: null }, { kind: 'cli' });
    await page.goto(`/admin/groups/${group.id}`);
    await page.getByLabel('Add a member by login').fill('nobody-here');
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await page.waitForLoadState('load');
    const shown = await refusal(page);
    assert.equal(shown.title, 'Error: ops · Roster');
    assert.equal(shown.focus, 'error-summary');
    assert.deepEqual(shown.links, [['Add a member by login', '#add-login']]);
    assert.equal(await page.locator('#add-login').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.locator('#add-login-error').textContent(), "No user has the login 'nobody-here'.");
    await expectAccessible(page, 'a refused member');
    tab.expectNoProblems();
  });

  test('Audit log: every filter refused is marked on its field and linked from the summary, in the form\'s order', async () => {
    const { page } = tab;
    await page.goto('/admin/audit');
    await page.getByLabel('Action').fill('*');
    await page.getByLabel('From', { exact: true }).fill('yesterday');
    await page.getByLabel('To', { exact: true }).fill('soon');
    const shown = await refusedAfter(page, page.getByRole('button', { name: 'Filter' }));
    assert.equal(shown.title, 'Error: Audit log · Roster');
    assert.equal(shown.focus, 'error-summary');
    assert.deepEqual(shown.links, [['Action', '#field-action'], ['From', '#field-from'], ['To', '#field-to']]);
    for (const field of ['action', 'from', 'to']) {
      assert.equal(await page.locator(`#field-${field}`).getAttribute('aria-invalid'), 'true', field);
      assert.match((await page.locator(`#field-${field}`).getAttribute('aria-describedby')) ?? '', new RegExp(`field-${field}-error`), field);
    }
    assert.match((await page.locator('#field-from-error').textContent()) ?? '', /^Must be an ISO 8601 date or date-time/);
    await expectAccessible(page, 'the audit log refusing its filters');
    tab.expectNoProblems();
  });

  test('without JavaScript, the summary takes the focus all the same (autofocus)', async () => {
    const context = await browser.newContext({ baseURL: app.base, javaScriptEnabled: false });
    try {
      const page = await context.newPage();
      await signInWithPassword(page, 'admin', password);
      await page.goto('/admin/groups');
      // A name of spaces only: the field's maxlength stops an over-long one in the browser.
      await page.getByLabel('Name', { exact: true }).fill('   ');
      await page.getByRole('button', { name: 'Create group' }).click();
      await page.waitForLoadState('load');
      const shown = await refusal(page);
      assert.equal(shown.title, 'Error: Groups · Roster');
      assert.equal(shown.focus, 'error-summary');
      assert.deepEqual(shown.links, [['Name', '#create-name']]);
    } finally {
      await context.close();
    }
  });

  test('without JavaScript, a confirmation asked from a table row is shown whole, not cut off by the table\'s scroll box; the outcome takes the focus', async () => {
    await app.services.accounts.create({ login: 'confirm-me', name: 'Confirm Me', password: 'a-long-password-1', local: true }, { kind: 'cli' });
    const context = await browser.newContext({ baseURL: app.base, javaScriptEnabled: false, viewport: { width: 1280, height: 800 } });
    try {
      const page = await context.newPage();
      await signInWithPassword(page, 'admin', password);
      for (const width of [1280, 320]) {
        await page.setViewportSize({ width, height: 800 });
        await page.goto('/admin/users');
        await page.getByRole('button', { name: 'Deactivate confirm-me' }).click();
        await page.waitForLoadState('load');
        const heading = page.locator('dialog[open] h2');
        assert.match((await heading.textContent()) ?? '', /confirm-me/);
        // What is drawn at the heading's centre is the heading: nothing clips or covers it.
        const seen = await heading.evaluate((element) => {
          const box = element.getBoundingClientRect();
          const hit = element.ownerDocument.elementFromPoint(box.left + Math.min(box.width / 2, 40), box.top + box.height / 2);
          return { top: box.top, hit: hit !== null && element.contains(hit) };
        });
        assert.ok(seen.top >= 0 && seen.hit, `at ${width} px the heading is not visible: ${JSON.stringify(seen)}`);
        assert.equal((await focused(page)).text.trim(), 'Cancel');
      }
      // Confirmed, the page that says it was done takes the focus on its notice, so that a screen
      // reader says the outcome (a status region present at load is not announced).
      await page.locator('dialog[open]').getByRole('button', { name: 'Deactivate' }).click();
      await page.waitForLoadState('load');
      const notice = await focused(page);
      assert.equal(notice.id, 'notice');
      assert.match(notice.text, /deactivated/i);
    } finally {
      await context.close();
    }
  });

  test('without JavaScript, Tab and Shift+Tab stay in an open confirmation, as in a modal; Cancel goes back to the page, which takes the keyboard again', async () => {
    const user = await app.services.accounts.create({ login: 'tab-trap', name: 'Tab Trap', password: 'a-long-password-1', local: true }, { kind: 'cli' });
    const context = await browser.newContext({ baseURL: app.base, javaScriptEnabled: false, viewport: { width: 1280, height: 800 } });
    try {
      const page = await context.newPage();
      await signInWithPassword(page, 'admin', password);
      await page.goto('/admin/users?q=tab-trap');
      await page.getByRole('button', { name: 'Deactivate tab-trap' }).click();
      await page.waitForLoadState('load');
      assert.equal((await focused(page)).text.trim(), 'Cancel');
      // Where the focus is after each key: inside the dialog, or out of the page (the browser's own controls).
      const where = () => page.evaluate<string>(`(() => {
        const active = document.activeElement;
        if (active === null || active === document.body) return 'outside the page';
        return active.closest('dialog[open]') !== null ? 'dialog' : 'behind: ' + (active.textContent || active.outerHTML).trim().slice(0, 60);
      })()`);
      const stops = new Set<string>();
      for (const key of [...Array<string>(6).fill('Tab'), ...Array<string>(6).fill('Shift+Tab')]) {
        await page.keyboard.press(key);
        const stop = await where();
        assert.ok(stop === 'dialog' || stop === 'outside the page', `${key} reached the page behind the dialog (${stop})`);
        if (stop === 'dialog') stops.add((await focused(page)).text.trim());
      }
      assert.deepEqual([...stops].sort(), ['Cancel', 'Deactivate tab-trap']);
      // Cancel: the page again, its search kept, nothing done, and its controls in reach.
      await page.locator('dialog[open]').getByRole('button', { name: 'Cancel' }).click();
      await page.waitForLoadState('load');
      assert.equal(new URL(page.url()).search, '?q=tab-trap');
      assert.equal(await page.locator('dialog[open]').count(), 0);
      // The keyboard goes on from the button that asked, not from the top of the page.
      await page.keyboard.press('Tab');
      assert.equal((await focused(page)).text.trim(), 'Deactivate tab-trap');
      assert.equal((await app.services.accounts.get(user.id)).active, true);
    } finally {
      await context.close();
    }
  });

  test('sign-in: a wrong password keeps the focus on Password, which is described by the refusal', async () => {
    const page = (await openTab(browser, app)).page;
    try {
      await page.goto('/sessions/new');
      await page.getByLabel('Login').fill('admin');
      await page.getByLabel('Password').fill('not-the-password');
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.waitForLoadState('load');
      assert.equal(await page.title(), 'Error: Sign in · Roster');
      assert.equal((await focused(page)).id, 'field-password');
      const described = await page.locator('#field-password').getAttribute('aria-describedby');
      const texts = await Promise.all((described ?? '').split(' ').filter((id) => id !== '').map((id) => page.locator(`#${id}`).textContent()));
      assert.ok(texts.includes('The login or password is incorrect.'), `Password is described by: ${JSON.stringify(texts)}`);
      assert.equal(await page.locator('#field-password').getAttribute('aria-invalid'), 'true');
      assert.deepEqual((await refusal(page)).links, [['Password', '#field-password']]);
      await expectAccessible(page, 'the sign-in page after a wrong password');
    } finally {
      await page.context().close();
    }
  });
});
