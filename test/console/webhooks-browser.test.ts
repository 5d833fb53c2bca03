/**
 * The Webhooks page in Chromium: an administrator adds a webhook and copies its secret, a real
 * receiver gets the change that follows (the delivery worker runs beside the served app), the
 * deliveries table shows it, and disabling asks in a dialog. Accessible, no console error.
 * Skipped, saying why, without /usr/bin/chromium.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { startDeliveries, type DeliveryWorker } from '../../src/delivery/worker.ts';
import { browserSkip, expectAccessible, launchBrowser, openTab, screenshot, signInWithPassword, startServedApp, type ServedApp } from '../support/browser.ts';
import { startReceiver, type Receiver } from '../support/receiver.ts';

describe('the Webhooks page in Chromium', { skip: browserSkip() }, () => {
  let browser: Browser;
  let app: ServedApp;
  let receiver: Receiver;
  let worker: DeliveryWorker;
  let password = '';

  before(async () => {
    [browser, app, receiver] = await Promise.all([launchBrowser(), startServedApp({ scim: false }), startReceiver()]);
    worker = startDeliveries(app.services.store, app.services.eventFeed, { retrySchedule: [100], pollMs: 50, retentionDays: 30 });
    password = await app.adminPassword();
  });
  after(async () => {
    await worker?.stop();
    await browser?.close();
    await receiver?.close();
    await app?.close();
  });

  test('add a webhook, see the secret once, receive a change, read its delivery, disable through the dialog', async () => {
    const tab = await openTab(browser, app);
    await signInWithPassword(tab.page, 'admin', password, '/admin/webhooks');
    await tab.page.waitForURL('**/admin/webhooks');
    await expectAccessible(tab.page, 'the Webhooks page');

    await tab.page.getByLabel('URL').fill(receiver.url);
    await tab.page.getByLabel('group.created').check();
    await tab.page.getByRole('button', { name: 'Add webhook' }).click();
    await tab.page.getByRole('heading', { name: 'Signing secret' }).waitFor();
    const secret = (await tab.page.locator('#webhook-secret').textContent()) ?? '';
    assert.match(secret, /^whsec_/);
    receiver.secrets = [secret];
    await expectAccessible(tab.page, 'the secret shown once');
    await screenshot(tab.page, 'webhooks-created');

    await app.services.groupManagement.create({ name: 'from-the-browser-test' }, { kind: 'cli' });
    await receiver.until(() => receiver.acceptedIds().length === 1);
    assert.equal(receiver.received[0]?.payload.data.name, 'from-the-browser-test');

    await tab.page.getByRole('link', { name: 'Go to the webhook' }).click();
    await tab.page.getByRole('cell', { name: '204' }).waitFor();
    assert.ok(!(await tab.page.content()).includes(secret), 'the secret is not shown again');
    await expectAccessible(tab.page, 'a webhook with its deliveries');
    await screenshot(tab.page, 'webhooks');

    await tab.page.getByRole('button', { name: 'Disable' }).click();
    const dialog = tab.page.getByRole('dialog', { name: 'Disable this webhook?' });
    await dialog.waitFor();
    await expectAccessible(tab.page, 'the disable dialog', 'dialog[open]');
    await Promise.all([tab.page.waitForURL('**?notice=disabled'), dialog.getByRole('button', { name: 'Disable webhook' }).click()]);
    await tab.page.getByRole('button', { name: 'Enable' }).waitFor();
    tab.expectNoProblems();
    await tab.close();
  });
});
