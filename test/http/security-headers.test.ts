/**
 * The security headers of each kind of answer (src/http/security-headers.ts): APIs, answers
 * holding a secret, console pages, SAML refusal pages, the OpenID provider's endpoints and pages,
 * assets. Headers do not depend on the database: SQLite only.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, userBody, type TestApp } from '../support/app.ts';
import { sessionFor } from '../support/console.ts';

const HSTS = 'max-age=31536000';

function assertHtmlHeaders(headers: Record<string, unknown>, what: string): void {
  assert.match(String(headers['content-security-policy']), /default-src 'none'.*frame-ancestors 'none'|frame-ancestors 'none'.*default-src 'none'/, `${what}: a CSP`);
  assert.equal(headers['x-frame-options'], 'DENY', `${what}: never framed`);
  assert.ok(['same-origin', 'no-referrer'].includes(String(headers['referrer-policy'])), `${what}: a Referrer-Policy (${String(headers['referrer-policy'])})`);
  assert.equal(headers['x-content-type-options'], 'nosniff', `${what}: nosniff`);
  assert.equal(headers['strict-transport-security'], HSTS, `${what}: HSTS on an https base URL`);
}

describe('security headers (https base URL)', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp();
  });
  after(async () => app.close());

  test('SCIM and admin API answers: nosniff, no-store and HSTS', async () => {
    for (const response of [
      await app.request('POST', '/Users', userBody('headers-ada')),
      await app.request('GET', '/Users'),
      await app.request('GET', '/api/v2/users-management/users'),
      await app.request('GET', '/api/scim/v2/Nope'),
    ]) {
      assert.equal(response.headers['x-content-type-options'], 'nosniff');
      assert.equal(response.headers['cache-control'], 'no-store');
      assert.equal(response.headers['strict-transport-security'], HSTS);
    }
  });

  test('an admin API answer holding a secret (an application\'s client secret) is no-store', async () => {
    const created = await app.request('POST', '/api/v2/applications', { name: 'Headers app', redirectUris: ['https://app.example.com/cb'] }, { 'content-type': 'application/json' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.ok(created.body.clientSecret);
    assert.equal(created.headers['cache-control'], 'no-store');
    const rotated = await app.request('POST', `/api/v2/applications/${created.body.application.clientId}/secret`);
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    assert.equal(rotated.headers['cache-control'], 'no-store');
  });

  test('console pages (the sign-in page, a signed-in page) carry the console CSP, no-store and the HTML headers', async () => {
    const signIn = await app.app.inject({ method: 'GET', url: '/sessions/new', headers: { accept: 'text/html' } });
    assert.equal(signIn.statusCode, 200);
    assertHtmlHeaders(signIn.headers, 'sign-in page');
    assert.match(String(signIn.headers['content-security-policy']), /script-src 'self'/);
    assert.equal(signIn.headers['cache-control'], 'no-store');
    const session = await sessionFor(app, app.adminId);
    const home = await app.app.inject({ method: 'GET', url: '/account', headers: { accept: 'text/html', cookie: session.cookie } });
    assert.equal(home.statusCode, 200);
    assertHtmlHeaders(home.headers, 'console home');
  });

  test('SAML refusal pages carry the HTML headers and no-store', async () => {
    const refused = await app.app.inject({ method: 'POST', url: '/saml/acs', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'SAMLResponse=bm90IHhtbA%3D%3D' });
    assert.equal(refused.statusCode >= 400, true);
    assert.match(String(refused.headers['content-type']), /^text\/html/);
    assertHtmlHeaders(refused.headers, 'SAML refusal');
    assert.equal(refused.headers['cache-control'], 'no-store');
  });

  test('the OpenID provider: its error page and interaction page carry the HTML headers; the token endpoint is no-store', async () => {
    const error = await app.app.inject({ method: 'GET', url: '/oidc/auth?client_id=nobody&response_type=code&scope=openid&redirect_uri=https://x.example/cb' });
    assert.equal(error.statusCode, 400);
    assert.match(String(error.headers['content-type']), /^text\/html/);
    assertHtmlHeaders(error.headers, 'OpenID error page');
    const interaction = await app.app.inject({ method: 'GET', url: '/oidc/interaction/unknown', headers: { accept: 'text/html' } });
    assert.match(String(interaction.headers['content-type']), /^text\/html/);
    assertHtmlHeaders(interaction.headers, 'OpenID interaction page');
    const token = await app.app.inject({ method: 'POST', url: '/oidc/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'grant_type=authorization_code&code=nope&client_id=nobody' });
    assert.equal(token.headers['cache-control'], 'no-store');
    assert.equal(token.headers['x-content-type-options'], 'nosniff');
    assert.equal(token.headers['strict-transport-security'], HSTS);
  });

  test('assets keep their own caching', async () => {
    const home = await app.app.inject({ method: 'GET', url: '/sessions/new', headers: { accept: 'text/html' } });
    const css = /href="(\/assets\/console\.css[^"]*)"/.exec(home.body)?.[1]?.replace(/&amp;/g, '&');
    assert.ok(css, 'the page links its stylesheet');
    const asset = await app.app.inject({ method: 'GET', url: css });
    assert.equal(asset.statusCode, 200);
    assert.notEqual(asset.headers['cache-control'], 'no-store');
    assert.equal(asset.headers['x-content-type-options'], 'nosniff');
  });
});

describe('security headers (http base URL)', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ baseUrl: 'http://localhost:8080' });
  });
  after(async () => app.close());

  test('no Strict-Transport-Security over plain http', async () => {
    const response = await app.request('GET', '/Users');
    assert.equal(response.headers['strict-transport-security'], undefined);
    const page = await app.app.inject({ method: 'GET', url: '/sessions/new', headers: { accept: 'text/html' } });
    assert.equal(page.headers['strict-transport-security'], undefined);
    assert.equal(page.headers['x-frame-options'], 'DENY');
  });
});
