/** The documentation served at /docs/ (http/docs.ts), which /ServiceProviderConfig names. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { BASE_URL, startTestApp, type TestApp } from '../support/app.ts';

// Serving files involves no database: SQLite only.
let roster: TestApp;
before(async () => {
  roster = await startTestApp();
});
after(async () => {
  await roster.close();
});

/** GET without any credentials. */
function fetchPublic(url: string) {
  return roster.app.inject({ method: 'GET', url });
}

test("/ServiceProviderConfig's documentationUri is a page this instance serves, without a token", async () => {
  const config = await roster.request('GET', '/ServiceProviderConfig');
  assert.equal(config.body.documentationUri, `${BASE_URL}/docs/scim.md`);
  const page = await fetchPublic(new URL(config.body.documentationUri).pathname);
  assert.equal(page.statusCode, 200);
  assert.equal(page.headers['content-type'], 'text/markdown; charset=utf-8');
  assert.equal(page.headers['x-content-type-options'], 'nosniff');
  assert.equal(page.body, readFileSync(new URL('../../docs/scim.md', import.meta.url), 'utf8'));
});

test('the pages of docs/ and docs/idp/ are served, so that their links between each other work', async () => {
  for (const path of ['/docs/operations.md', '/docs/idp/entra-id.md', '/docs/idp/okta.md']) {
    const page = await fetchPublic(path);
    assert.equal(page.statusCode, 200, path);
    assert.equal(page.body, readFileSync(new URL(`../..${path}`, import.meta.url), 'utf8'));
  }
});

test('nothing else is reachable under /docs/', async () => {
  const paths = [
    '/docs/', '/docs/nope.md', '/docs/images/console-admin.png', '/docs/../package.json', '/docs/%2e%2e/package.json',
    '/docs/..%2fpackage.json', '/docs/idp/..%2f..%2fpackage.json', '/docs/idp/../../README.md', '/docs/%2e%2e%2fsrc%2fconfig.ts',
    '/docs/scim.md%00', '/docs/idp', '/docs/idp/', '/docs/idp/nope.md', '/docs/scim.md/x',
  ];
  for (const path of paths) {
    const response = await fetchPublic(path);
    assert.equal(response.statusCode, 404, `${path}: ${response.body.slice(0, 100)}`);
  }
  const post = await roster.app.inject({ method: 'POST', url: '/docs/scim.md', headers: { 'content-type': 'application/json' }, payload: '{}' });
  assert.equal(post.statusCode, 404);
});
