import { X509Certificate } from 'node:crypto';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestApp, testCertificate, testKeyPair, userBody, TEST_IDP, BASE_URL, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { buildResponse, postResponse, signIn, startLogin } from './idp.ts';

const SETTINGS = '/api/v2/authentication/saml';

eachDatabase('GET/PUT /api/v2/authentication/saml', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database });
  });
  after(() => app.close());

  test('GET shows the configuration, the URLs to give the IdP and each certificate expiry', async () => {
    const response = await app.request('GET', SETTINGS);
    assert.equal(response.status, 200);
    assert.equal(response.body.providerId, TEST_IDP.providerId);
    assert.deepEqual(response.body.serviceProvider, { entityId: `${BASE_URL}/saml/metadata`, acsUrl: `${BASE_URL}/saml/acs`, metadataUrl: `${BASE_URL}/saml/metadata` });
    assert.equal(response.body.certificateDetails[0].expiresWithin30Days, false);
    assert.equal(response.body.spPrivateKeyConfigured, false);
    assert.equal('spPrivateKey' in response.body, false);
  });

  test('GET and PUT need authentication', async () => {
    const response = await app.app.inject({ method: 'GET', url: SETTINGS });
    assert.equal(response.statusCode, 401);
  });

  test('PUT stores the fields and reports a certificate expiring within 30 days', async () => {
    const soon = testKeyPair('expiring-idp', 10).certificate;
    const response = await app.request('PUT', SETTINGS, {
      applicationId: 'roster-test',
      providerName: 'Okta',
      providerId: TEST_IDP.providerId,
      loginUrl: TEST_IDP.loginUrl,
      certificate: testCertificate() + soon,
      userLoginAttribute: 'login',
      userNameAttribute: 'name',
      userEmailAttribute: 'email',
    });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.equal(response.body.certificates.length, 2);
    assert.equal(response.body.certificateDetails[1].expiresWithin30Days, true);
    assert.match(response.body.warnings[0].message, /expires on .* \(in \d+ days\)/);
    assert.equal(response.body.serviceProvider.entityId, 'roster-test');
  });

  test('PUT refuses invalid values with a message naming the field', async () => {
    const response = await app.request('PUT', SETTINGS, { providerId: TEST_IDP.providerId, loginUrl: 'http://idp.example.com/sso', certificate: 'not a certificate' });
    assert.equal(response.status, 400);
    assert.deepEqual(response.body.errors.map((e: { field: string }) => e.field), ['loginUrl', 'certificates']);
    assert.match(response.body.message, /field loginUrl/);
  });

  test('PUT accepts an SP key pair, keeps the key write-only, and metadata then offers signing and encryption', async () => {
    const sp = testKeyPair('roster-sp');
    const body = { providerId: TEST_IDP.providerId, loginUrl: TEST_IDP.loginUrl, certificates: [testCertificate()], spCertificate: sp.certificate, spPrivateKey: sp.privateKey, signRequests: true };
    const response = await app.request('PUT', SETTINGS, body);
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.equal(response.body.spPrivateKeyConfigured, true);
    assert.equal(JSON.stringify(response.body).includes('PRIVATE KEY'), false);
    // A later PUT without the key keeps it.
    const { spPrivateKey: _key, ...withoutKey } = body;
    assert.equal((await app.request('PUT', SETTINGS, withoutKey)).body.spPrivateKeyConfigured, true);
    const metadata = await app.app.inject({ method: 'GET', url: '/saml/metadata' });
    assert.equal(metadata.statusCode, 200);
    assert.match(metadata.body, /AuthnRequestsSigned="true"/);
    assert.match(metadata.body, /use="encryption"/);
    const { location } = await startLogin(app);
    assert.ok(new URL(location).searchParams.get('Signature'));
    const mismatched = await app.request('PUT', SETTINGS, { ...body, spPrivateKey: testKeyPair().privateKey });
    assert.equal(mismatched.status, 400);
    assert.equal(mismatched.body.errors[0].field, 'spPrivateKey');
  });

  test('GET /saml/metadata names our entity ID and ACS URL', async () => {
    await app.services.saml.configure({ ...TEST_IDP, certificates: [testCertificate()] }, { kind: 'cli' });
    const metadata = await app.app.inject({ method: 'GET', url: '/saml/metadata' });
    assert.match(metadata.body, new RegExp(`entityID="${BASE_URL}/saml/metadata"`));
    assert.match(metadata.body, new RegExp(`Location="${BASE_URL}/saml/acs"`));
  });
});

eachDatabase('GET /api/v2/users-management/users/{id}/sign-in-check', (database) => {
  let app: TestApp;
  const check = async (id: string) => app.request('GET', `/api/v2/users-management/users/${id}/sign-in-check`);
  before(async () => {
    app = await startTestApp({ database });
  });
  after(() => app.close());

  test('a provisioned active user can sign in', async () => {
    const created = await app.request('POST', '/Users', userBody('henry@example.com'));
    const response = await check(created.body.id);
    assert.equal(response.status, 200);
    assert.equal(response.body.canSignIn, true);
    assert.deepEqual(response.body.problems, []);
  });

  test('a login that differs from the last attempt is reported', async () => {
    const created = await app.request('POST', '/Users', userBody('ivy@example.com', { emails: [{ value: 'ivy@example.com', primary: true }] }));
    await app.services.saml.configure({ ...TEST_IDP, certificates: [testCertificate()], userLoginAttribute: 'login', userEmailAttribute: 'mail' }, { kind: 'cli' });
    const refused = await signIn(app, { login: 'ivy@corp.example.com', attributes: { mail: ['ivy@example.com'] } });
    assert.equal(refused.statusCode, 403);
    const response = await check(created.body.id);
    assert.equal(response.body.canSignIn, false);
    assert.equal(response.body.problems[0].code, 'login_mismatch');
    assert.match(response.body.problems[0].message, /"ivy@corp\.example\.com"/);
  });

  test("the last attempt is found for a non-ASCII login however the IdP cased or composed it (ß as SS, É decomposed)", async () => {
    for (const [userName, sent] of [['Straße@example.com', 'STRASSE@example.com'], ['Émile@example.com', 'E\u0301MILE@example.com']] as const) {
      const created = await app.request('POST', '/Users', userBody(userName));
      assert.equal(created.status, 201);
      assert.equal((await signIn(app, { login: sent })).statusCode, 303, sent);
      const response = await check(created.body.id);
      assert.equal(response.body.lastAttempt?.login, sent, userName);
      assert.equal(response.body.lastAttempt?.outcome, 'accepted');
      assert.deepEqual(response.body.problems, []);
    }
  });

  test('a deactivated user is reported', async () => {
    const created = await app.request('POST', '/Users', userBody('jack@example.com', { active: false }));
    const response = await check(created.body.id);
    assert.deepEqual(response.body.problems.map((p: { code: string }) => p.code), ['deactivated']);
  });

  test('a user not provisioned through SCIM is reported in SCIM mode', async () => {
    await app.services.provisioning.disable({ kind: 'cli' });
    assert.equal((await signIn(app, { login: 'kate@example.com' })).statusCode, 303);
    await app.services.provisioning.enable({ kind: 'cli' });
    const kate = await app.services.store.db.selectFrom('users').select('id').where('login', '=', 'kate@example.com').executeTakeFirstOrThrow();
    const response = await check(kate.id);
    assert.deepEqual(response.body.problems.map((p: { code: string }) => p.code), ['not_provisioned']);
  });

  test('every IdP certificate expired is reported, and one expiring within 30 days is a warning', async () => {
    const created = await app.request('POST', '/Users', userBody('mona@example.com'));
    const validTo = Date.parse(new X509Certificate(testCertificate()).validTo);
    const later = await app.services.signIn.check(created.body.id, new Date(validTo + 24 * 60 * 60 * 1000));
    assert.equal(later?.canSignIn, false);
    assert.deepEqual(later?.problems.map((p) => p.code), ['certificate_expired']);
    assert.match(later?.problems[0]?.message ?? '', /has expired/);
    const soon = await app.services.signIn.check(created.body.id, new Date(validTo - 10 * 24 * 60 * 60 * 1000));
    assert.equal(soon?.canSignIn, true);
    assert.match(soon?.warnings[0] ?? '', /expires on .* \(in 10 days\)/);
  });

  test('an unknown user is a 404', async () => {
    const response = await check('nope');
    assert.equal(response.status, 404);
    assert.equal(response.body.message, 'User not found.');
  });
});

eachDatabase('sign-in check without SAML', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database, saml: false, scim: false });
  });
  after(() => app.close());

  test('says SAML is not configured', async () => {
    await app.services.store.db
      .insertInto('users')
      .values({ id: 'u1', login: 'leo@example.com', login_key: 'leo@example.com', display_name: null, email: null, active: 1, local: 0, password_hash: null, external_id: null, scim_data: '{}', created_at: 'x', updated_at: 'x', version: 1, last_connection_at: null })
      .execute();
    const response = await app.request('GET', '/api/v2/users-management/users/u1/sign-in-check');
    assert.deepEqual(response.body.problems.map((p: { code: string }) => p.code), ['saml_not_configured']);
  });
});

eachDatabase('GET /saml/validation', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database });
  });
  after(() => app.close());

  test('is for administrators only', async () => {
    const response = await app.app.inject({ method: 'GET', url: '/saml/validation' });
    assert.equal(response.statusCode, 401);
  });

  test('shows what the IdP sent and what Roster would do, without signing in', async () => {
    const { requestId } = await startLogin(app, '/saml/validation', { authorization: `Bearer ${app.token}` });
    const response = await postResponse(app, buildResponse({ login: 'nobody@example.com', inResponseTo: requestId, attributes: { department: ['<b>R&D</b>'] } }));
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['set-cookie'], undefined);
    assert.match(response.body, /sign-in would be refused \(not_provisioned\)/);
    assert.match(response.body, /&lt;b&gt;R&amp;D&lt;\/b&gt;/);
    assert.doesNotMatch(response.body, /<b>R&D<\/b>/);
  });

  test('reports a response that would fail validation', async () => {
    const { requestId } = await startLogin(app, '/saml/validation', { authorization: `Bearer ${app.token}` });
    const response = await postResponse(app, buildResponse({ login: 'x@example.com', inResponseTo: requestId, audience: 'other' }));
    assert.equal(response.statusCode, 200);
    assert.match(response.body, /would be refused: The assertion is meant for another application/);
  });
});
