/**
 * The OpenID provider is loaded and built by the first request that needs it, not at start-up
 * (src/http/oidc/provider.ts): that request, and requests arriving together before it is
 * built, answer as any later one; a provider that cannot be built answers a 500 and is built
 * again by the next request instead of staying broken.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, BASE_URL, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { createSettingQueries } from '../../src/store/settings.ts';

const DISCOVERY = '/.well-known/openid-configuration';

eachDatabase('OpenID provider built on first use', (database) => {
  describe('a fresh instance', () => {
    let roster: TestApp;
    before(async () => {
      roster = await startTestApp({ database });
    });
    after(() => roster.close());

    test('the first discovery request after start answers the provider metadata', async () => {
      const response = await roster.app.inject({ method: 'GET', url: DISCOVERY });
      assert.equal(response.statusCode, 200, response.body);
      const metadata = response.json();
      assert.equal(metadata.issuer, BASE_URL);
      assert.equal(metadata.jwks_uri, `${BASE_URL}/oidc/jwks`);
      assert.equal(metadata.token_endpoint, `${BASE_URL}/oidc/token`);
    });
  });

  describe('requests that arrive together at a fresh instance', () => {
    let roster: TestApp;
    before(async () => {
      roster = await startTestApp({ database });
    });
    after(() => roster.close());

    test('all answer, with the same signing key', async () => {
      const responses = await Promise.all([
        roster.app.inject({ method: 'GET', url: DISCOVERY }),
        roster.app.inject({ method: 'GET', url: '/oidc/jwks' }),
        roster.app.inject({ method: 'GET', url: '/oidc/jwks' }),
        roster.app.inject({ method: 'GET', url: DISCOVERY }),
      ]);
      for (const response of responses) assert.equal(response.statusCode, 200, response.body);
      const kids = responses.slice(1, 3).map((response) => response.json().keys.map((key: { kid: string }) => key.kid).join());
      assert.equal(kids[0], kids[1]);
      assert.equal(responses[0]?.json().issuer, BASE_URL);
    });
  });

  describe('a provider that cannot be built', () => {
    let roster: TestApp;
    let stored: string | undefined;
    const settings = createSettingQueries();
    // The stored text replaced as is (no ROSTER_SECRET_KEY here: plaintext), as a hand edit would.
    const replaceKeys = (text: string) => roster.services.store.db.updateTable('settings').set({ value: text, updated_at: new Date().toISOString() }).where('key', '=', 'oidc.keys').execute();
    before(async () => {
      roster = await startTestApp({ database });
      // The key material created at first use, then replaced by a key the provider refuses.
      await roster.services.oidc.loadKeys();
      stored = await settings.read(roster.services.store.db, 'oidc.keys');
      const broken = { signingKeys: [{ jwk: { kty: 'RSA', kid: 'broken', alg: 'RS256', use: 'sig' }, createdAt: new Date().toISOString(), retiredAt: null }], cookieKeys: ['k'] };
      await replaceKeys(JSON.stringify(broken));
    });
    after(() => roster.close());

    test('answers a 500 that says so, and the next request after the keys are repaired is served', async () => {
      const failed = await roster.app.inject({ method: 'GET', url: DISCOVERY });
      assert.equal(failed.statusCode, 500);
      // OAuth's error object, as the provider's own failures (RFC 6749 §5.2).
      assert.equal(failed.json().error, 'server_error');
      assert.match(failed.json().error_description, /could not complete this request; the cause has been logged/);
      assert.ok(stored !== undefined);
      await replaceKeys(stored);
      const served = await roster.app.inject({ method: 'GET', url: DISCOVERY });
      assert.equal(served.statusCode, 200, served.body);
      assert.equal(served.json().issuer, BASE_URL);
    });
  });
});
