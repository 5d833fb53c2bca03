/**
 * Start-up leaves out what most instances never use: the OpenID Connect provider
 * (oidc-provider, with Koa and jose), the SAML and XML libraries, and the route schemas'
 * compilers (Ajv, fast-json-stringify) are loaded by the first request that needs them
 * (docs/performance.md, "Start-up"). Checked here: a started instance serves SCIM without
 * them, and its first SAML, OpenID Connect and admin API requests load them and answer.
 *
 * SQLite only: which libraries load does not depend on the database (the test helpers load
 * pg themselves, so that one cannot be checked here).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { watchLoadedPackages } from '../support/loaded-packages.ts';

// Before the application's modules are imported, so that their imports are seen.
const loadedPackages = watchLoadedPackages();
const { startTestApp, TEST_IDP, userBody } = await import('../support/app.ts');
type TestApp = Awaited<ReturnType<typeof startTestApp>>;

const OIDC = ['oidc-provider', 'koa', 'jose'];
const SAML = ['@node-saml/node-saml', 'xml-crypto', 'xml-encryption', '@xmldom/xmldom', 'xml2js'];
// Fastify loads fast-json-stringify's small runtime for its own errors; the compiler is the rest.
const SCHEMAS = ['ajv', '@fastify/ajv-compiler', '@fastify/fast-json-stringify-compiler'];

function loadedOf(names: readonly string[]): string[] {
  const loaded = loadedPackages();
  return names.filter((name) => loaded.has(name));
}

describe('optional subsystems loaded on first use', () => {
  let roster: TestApp;
  before(async () => {
    roster = await startTestApp();
  });
  after(() => roster.close());

  test('a started instance serves SCIM without the OpenID Connect, SAML and schema libraries', async () => {
    const created = await roster.request('POST', '/Users', userBody('ada'));
    assert.equal(created.status, 201);
    const found = await roster.request('GET', `/Users?filter=${encodeURIComponent('userName eq "ada"')}`);
    assert.equal(found.body.totalResults, 1);
    assert.equal((await roster.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    assert.deepEqual(loadedOf([...OIDC, ...SAML, ...SCHEMAS]), []);
  });

  test('the first SAML requests load the SAML libraries and answer', async () => {
    const metadata = await roster.app.inject({ method: 'GET', url: '/saml/metadata' });
    assert.equal(metadata.statusCode, 200, metadata.body);
    assert.match(metadata.body, /<(md:)?EntityDescriptor\b/);
    const login = await roster.app.inject({ method: 'GET', url: '/saml/login' });
    assert.equal(login.statusCode, 302, login.body);
    assert.ok(String(login.headers.location).startsWith(`${TEST_IDP.loginUrl}?SAMLRequest=`), String(login.headers.location));
    assert.deepEqual(loadedOf(['@node-saml/node-saml', '@xmldom/xmldom']), ['@node-saml/node-saml', '@xmldom/xmldom']);
  });

  test('the first OpenID Connect request loads the provider and answers', async () => {
    const discovery = await roster.app.inject({ method: 'GET', url: '/.well-known/openid-configuration' });
    assert.equal(discovery.statusCode, 200, discovery.body);
    assert.equal(discovery.json().issuer, 'https://roster.test');
    assert.deepEqual(loadedOf(['oidc-provider']), ['oidc-provider']);
  });

  test('the first admin API request compiles its schemas and answers', async () => {
    const users = await roster.request('GET', '/api/v2/users-management/users?pageSize=1');
    assert.equal(users.status, 200);
    assert.equal(users.body.page.pageSize, 1);
    assert.deepEqual(loadedOf(SCHEMAS), SCHEMAS);
  });
});
