/**
 * The reminder to choose one's own password, in Chromium: a user signed in with a password
 * Roster generated (the first start's `admin`, `roster admin reset-password`, `roster users
 * create`, run as an operator runs them) sees it on every page, with a link to My account ›
 * Password, until they choose their own; a password an administrator typed shows none.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { INITIAL_PASSWORD_FILE } from '../../src/directory/initial-password.ts';
import { browserSkip, expectAccessible, launchBrowser, openTab, signInWithPassword, startServedApp, type ServedApp } from '../support/browser.ts';
import { runRoster } from '../support/cli.ts';
import { createTestDatabase, type ScratchDatabase } from '../support/databases.ts';

const REMINDER = 'You are signed in with a password Roster generated';

/** The reminder banner of the page, as a screen reader finds it (a status region). */
function reminder(page: Page) {
  return page.getByRole('status').filter({ hasText: REMINDER });
}

/** GET /api/users/current with the page's session. */
async function currentUser(page: Page): Promise<{ passwordGenerated: boolean }> {
  const response = await page.request.get('/api/users/current');
  assert.equal(response.status(), 200);
  return (await response.json()) as { passwordGenerated: boolean };
}

/** Runs a `roster` command on the app's database and returns the password it printed last. */
function printedPassword(database: ScratchDatabase, args: readonly string[]): string {
  const run = runRoster(database.url, args);
  assert.equal(run.status, 0, run.stderr);
  return run.lastLine;
}

describe('the generated-password reminder in Chromium', { skip: browserSkip() }, () => {
  let browser: Browser;
  let database: ScratchDatabase;
  let app: ServedApp;
  let firstStartPassword = '';

  before(async () => {
    database = await createTestDatabase('sqlite');
    // The first start, as the CLI does it on a new database: stderr is no terminal here, so the
    // password goes to the initial-password file beside the database.
    const start = runRoster(database.url, ['users', 'list']);
    assert.equal(start.status, 0, start.stderr);
    assert.match(start.stderr, /Created the local administrator "admin"/);
    if (database.location.kind !== 'sqlite') throw new Error('a SQLite scratch database');
    firstStartPassword = readFileSync(join(dirname(database.location.path), INITIAL_PASSWORD_FILE), 'utf8').trim();
    [browser, app] = await Promise.all([launchBrowser(), startServedApp({ location: database.location, scim: false })]);
  });
  after(async () => {
    await browser?.close();
    await app?.close();
    await database?.drop();
  });

  test("the first start's admin sees the reminder on every page, accessible, with a link to the password form", async () => {
    const tab = await openTab(browser, app);
    await signInWithPassword(tab.page, 'admin', firstStartPassword);
    for (const path of ['/admin', '/admin/users', '/account']) {
      await tab.page.goto(path);
      assert.equal(await reminder(tab.page).count(), 1, path);
    }
    await expectAccessible(tab.page, 'My account with the reminder');
    assert.equal((await currentUser(tab.page)).passwordGenerated, true, '/api/users/current says it too');
    await tab.page.goto('/admin');
    await reminder(tab.page).getByRole('link', { name: 'My account › Password' }).click();
    await tab.page.waitForURL('**/account#password');
    assert.equal(await tab.page.getByRole('region', { name: 'Password' }).getByLabel('Current password').isVisible(), true);
    tab.expectNoProblems();
    await tab.close();
  });

  test('choosing a new password ends the reminder, on every page', async () => {
    const tab = await openTab(browser, app);
    await signInWithPassword(tab.page, 'admin', firstStartPassword);
    await tab.page.goto('/account#password');
    await tab.page.getByLabel('Current password').fill(firstStartPassword);
    await tab.page.getByLabel('New password', { exact: true }).fill('admin chose this password');
    await tab.page.getByLabel('New password again').fill('admin chose this password');
    await Promise.all([tab.page.waitForURL('**/account?changed=password'), tab.page.getByRole('button', { name: 'Change password' }).click()]);
    assert.equal(await reminder(tab.page).count(), 0, 'My account');
    await tab.page.goto('/admin/users');
    assert.equal(await reminder(tab.page).count(), 0, 'users');
    assert.equal((await currentUser(tab.page)).passwordGenerated, false);
    tab.expectNoProblems();
    await tab.close();
  });

  test('`roster admin reset-password` brings it back', async () => {
    const password = printedPassword(database, ['admin', 'reset-password']);
    const tab = await openTab(browser, app);
    await signInWithPassword(tab.page, 'admin', password);
    await tab.page.goto('/admin');
    assert.equal(await reminder(tab.page).count(), 1);
    tab.expectNoProblems();
    await tab.close();
  });

  test('a user created with `roster users create` sees it; one whose password an administrator typed does not', async () => {
    const password = printedPassword(database, ['users', 'create', '--login', 'grace', '--name', 'Grace Hopper']);
    const grace = await openTab(browser, app);
    await signInWithPassword(grace.page, 'grace', password);
    await grace.page.goto('/account');
    assert.equal(await reminder(grace.page).count(), 1);
    await expectAccessible(grace.page, "a member's My account with the reminder");
    grace.expectNoProblems();
    await grace.close();

    await app.services.accounts.create({ login: 'alan', name: 'Alan Turing', password: 'typed by the admin' }, { kind: 'cli' });
    const alan = await openTab(browser, app);
    await signInWithPassword(alan.page, 'alan', 'typed by the admin');
    await alan.page.goto('/account');
    await alan.page.getByRole('heading', { name: 'My account' }).waitFor();
    assert.equal(await reminder(alan.page).count(), 0);
    alan.expectNoProblems();
    await alan.close();
  });
});
