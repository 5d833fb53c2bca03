/**
 * The console's claims on what a form was sent with (directory/form-submissions.ts), on both
 * databases: a one-time token acts once; a creation's values count as a repeat for their window
 * only, even while the expired claim is still stored (the clean-up runs every few minutes).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createFormSubmissions, FORM_TOKEN_LIFETIME_MS, SAME_VALUES_WINDOW_MS } from '../../src/directory/form-submissions.ts';
import type { Store } from '../../src/store/index.ts';
import { eachDatabase, openTestStore } from '../support/databases.ts';

eachDatabase('form submissions', (database) => {
  let store: Store;
  let clock = Date.parse('2026-12-02T10:00:00Z');
  before(async () => {
    store = await openTestStore(database);
  });
  after(() => store.close());

  test('a token acts once, and a token older than its lifetime is stale', async () => {
    const submissions = createFormSubmissions(store, () => clock);
    const token = submissions.issue();
    assert.equal(await submissions.claim(token), 'act');
    assert.equal(await submissions.claim(token), 'repeat');
    clock += FORM_TOKEN_LIFETIME_MS + 1;
    assert.equal(await submissions.claim(token), 'stale');
  });

  test('the same values are a repeat within their window, a new creation after it (the expired claim still stored), and again after a release', async () => {
    const submissions = createFormSubmissions(store, () => clock);
    const values = JSON.stringify(['admin', '/admin/webhooks', [['url', 'https://hooks.example.com/a']]]);
    assert.equal(await submissions.claimValues(values), true);
    assert.equal(await submissions.claimValues(values), false);
    assert.equal(await submissions.claimValues(`${values} `), true, 'other values are another creation');
    clock += SAME_VALUES_WINDOW_MS - 1000;
    assert.equal(await submissions.claimValues(values), false);
    clock += 2000;
    assert.equal(await submissions.claimValues(values), true);
    assert.equal(await submissions.claimValues(values), false);
    await submissions.releaseValues(values);
    assert.equal(await submissions.claimValues(values), true);
  });
});
