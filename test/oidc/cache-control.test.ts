/**
 * The discovery document and the JWKS say how long they may be cached (without Cache-Control,
 * a relying party or a CDN between guessed, up to a day): five minutes for discovery, which does
 * not change with the keys; one minute for the JWKS, since a new key signs as soon as `roster
 * keys rotate` publishes it (src/http/oidc/provider.ts). Answers with tokens keep no-store.
 *
 * SQLite only: headers of answers, the same on both databases.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.ts';

let roster: TestApp;
before(async () => {
  roster = await startTestApp();
});
after(() => roster.close());

test('GET /.well-known/openid-configuration may be cached for five minutes, by anyone', async () => {
  for (const method of ['GET', 'HEAD'] as const) {
    const response = await roster.app.inject({ method, url: '/.well-known/openid-configuration' });
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.headers['cache-control'], 'public, max-age=300', method);
  }
});

test('GET /oidc/jwks may be cached for one minute, by anyone', async () => {
  for (const method of ['GET', 'HEAD'] as const) {
    const response = await roster.app.inject({ method, url: '/oidc/jwks' });
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.headers['cache-control'], 'public, max-age=60', method);
  }
});

test('the provider\'s other answers are not made cacheable: a refused token request keeps no-store', async () => {
  const response = await roster.app.inject({
    method: 'POST',
    url: '/oidc/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'grant_type=authorization_code&code=nope&client_id=nobody',
  });
  assert.ok(response.statusCode >= 400, response.body);
  assert.equal(response.headers['cache-control'], 'no-store');
});
