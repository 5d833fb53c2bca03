/**
 * Expired SAML requests and remembered assertions are deleted without a sign-in paying for a
 * backlog: a sign-in start deletes a few, the periodic clean-up the rest, in batches
 * (migration 024 indexes their expiry).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';

const EXPIRED = 12_000;

eachDatabase('expired SAML bookkeeping', (database) => {
  test('a sign-in start deletes a few expired rows; the clean-up deletes every one, and nothing still valid', async () => {
    const app = await startTestApp({ database, saml: true });
    try {
      const db = app.services.store.db;
      const past = new Date(Date.now() - 60_000).toISOString();
      const future = new Date(Date.now() + 10 * 60_000).toISOString();
      for (let start = 0; start < EXPIRED; start += 1000) {
        const rows = Array.from({ length: 1000 }, (_, i) => `expired-${start + i}`);
        await db.insertInto('saml_requests').values(rows.map((id) => ({ id, created_at: past, expires_at: past, return_to: null, browser_hash: null }))).execute();
        await db.insertInto('saml_assertions').values(rows.map((id) => ({ id, expires_at: past }))).execute();
      }
      await db.insertInto('saml_assertions').values({ id: 'still-remembered', expires_at: future }).execute();
      const count = async (table: 'saml_requests' | 'saml_assertions') =>
        Number((await db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

      const redirect = await app.services.samlSp.loginRedirect(null, undefined);
      assert.ok(redirect, 'SAML is configured');
      // The sign-in start's own request, plus the expired ones it did not get to.
      const leftAfterSignIn = await count('saml_requests');
      assert.ok(leftAfterSignIn > EXPIRED - 100 && leftAfterSignIn <= EXPIRED + 1, `${leftAfterSignIn} requests left after one sign-in start`);

      const assertionsAfterSignIn = await count('saml_assertions');
      assert.ok(assertionsAfterSignIn > EXPIRED - 100, `${assertionsAfterSignIn} assertions left after one sign-in start`);
      const deleted = await app.services.samlSp.purgeExpired();
      assert.equal(deleted, leftAfterSignIn - 1 + assertionsAfterSignIn - 1);
      assert.equal(await count('saml_requests'), 1, 'the request the sign-in start issued is still valid');
      assert.equal(await count('saml_assertions'), 1, 'the assertion still remembered stays');
      assert.equal(await app.services.samlSp.purgeExpired(), 0);
    } finally {
      await app.close();
    }
  });
});
