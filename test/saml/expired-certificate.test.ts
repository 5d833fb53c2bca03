/**
 * An IdP certificate that expired after it was configured (issue 14): xml-crypto checks a
 * signature against the certificate's key only, so Roster leaves expired certificates out and,
 * when one of them signed the response, says so: which certificate, and when it expired.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { validateSamlConfig, samlSetting } from '../../src/auth/saml-config.ts';
import { createSettings } from '../../src/settings.ts';
import { expiredTestKeyPair, startTestApp, testCertificate, testKeyPair, userBody, TEST_IDP, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { buildEncryptedResponse, buildResponse, postResponse, startLogin } from './idp.ts';

eachDatabase('SAML responses signed with an expired IdP certificate', (database) => {
  const expired = expiredTestKeyPair();
  const sp = testKeyPair('roster-sp');
  let app: TestApp;

  /** Stores `certificates` as an administrator did in January 2020, when `expired` was still valid. */
  async function configuredIn2020(certificates: string[]): Promise<void> {
    const result = validateSamlConfig({ ...TEST_IDP, certificates, spCertificate: sp.certificate, spPrivateKey: sp.privateKey }, new Date('2020-01-15T00:00:00Z'));
    assert.ok(result.ok, JSON.stringify(result));
    await createSettings(app.services.store).set(samlSetting, result.config, { kind: 'cli' });
  }

  async function lastRefusal(): Promise<{ reason: string; message: string }> {
    const event = await app.services.store.db.selectFrom('audit_events').select('details').where('action', '=', 'saml.sign_in_refused').orderBy('seq', 'desc').executeTakeFirstOrThrow();
    return JSON.parse(event.details ?? '{}');
  }

  before(async () => {
    app = await startTestApp({ database });
    await app.request('POST', '/Users', userBody('alice@example.com'));
  });
  after(() => app.close());

  test('a valid signature by the only, expired certificate is refused, naming the certificate and its expiry, and audited', async () => {
    await configuredIn2020([expired.certificate]);
    const { requestId } = await startLogin(app);
    const response = await postResponse(app, buildResponse({ login: 'alice@example.com', inResponseTo: requestId, keyPair: expired }));
    assert.equal(response.statusCode, 403, response.body);
    assert.match(response.body, /signed with the identity provider certificate CN=expired-idp, which expired on 2020-02-01 00:00 UTC/);
    assert.equal(response.headers['set-cookie'], undefined);
    const audited = await lastRefusal();
    assert.equal(audited.reason, 'certificate_expired');
    assert.match(audited.message, /expired on 2020-02-01/);
  });

  test('during a rollover the expired certificate is refused and the current one still signs in', async () => {
    await configuredIn2020([expired.certificate, testCertificate()]);
    const refused = await postResponse(app, buildResponse({ login: 'alice@example.com', inResponseTo: (await startLogin(app)).requestId, keyPair: expired, sign: 'response' }));
    assert.equal(refused.statusCode, 403);
    assert.equal((await lastRefusal()).reason, 'certificate_expired');
    const accepted = await postResponse(app, buildResponse({ login: 'alice@example.com', inResponseTo: (await startLogin(app)).requestId }));
    assert.equal(accepted.statusCode, 303, accepted.body);
  });

  test('an encrypted assertion signed with the expired certificate is refused the same way', async () => {
    await configuredIn2020([expired.certificate, testCertificate()]);
    const xml = await buildEncryptedResponse({ login: 'alice@example.com', inResponseTo: (await startLogin(app)).requestId, keyPair: expired, encryptTo: sp.certificate });
    const response = await postResponse(app, xml);
    assert.equal(response.statusCode, 403);
    assert.equal((await lastRefusal()).reason, 'certificate_expired');
  });

  test('a response signed by an unknown key still reads as an untrusted signature', async () => {
    await configuredIn2020([expired.certificate]);
    const response = await postResponse(app, buildResponse({ login: 'alice@example.com', inResponseTo: (await startLogin(app)).requestId, keyPair: testKeyPair('stranger') }));
    assert.equal(response.statusCode, 403);
    assert.match(response.body, /not signed by a certificate Roster trusts/);
    assert.equal((await lastRefusal()).reason, 'signature');
  });

  test('settings holding a certificate that expired since can be PUT back as GET returned them, or with one field changed; an expired certificate being added is refused', async () => {
    await configuredIn2020([expired.certificate, testCertificate()]);
    const shown = await app.request('GET', '/api/v2/authentication/saml');
    assert.equal(shown.status, 200);
    const unchanged = await app.request('PUT', '/api/v2/authentication/saml', shown.body);
    assert.equal(unchanged.status, 200, JSON.stringify(unchanged.body));
    assert.equal(unchanged.body.certificates.length, 2);
    assert.match(unchanged.body.warnings[0].message, /CN=expired-idp expired on 2020-02-01 00:00 UTC: sign-in refuses responses it signs; remove it/);
    const renamed = await app.request('PUT', '/api/v2/authentication/saml', { ...shown.body, providerName: 'Entra ID' });
    assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
    assert.equal(renamed.body.providerName, 'Entra ID');
    assert.equal(renamed.body.spPrivateKeyConfigured, true);

    await configuredIn2020([testCertificate()]);
    const added = await app.request('PUT', '/api/v2/authentication/saml', { ...shown.body, certificates: [testCertificate(), expired.certificate] });
    assert.equal(added.status, 400);
    assert.match(added.body.message, /the certificate CN=expired-idp expired on 2020-02-01/);
  });
});
