/**
 * Roster's SP key pair end to end (issue 14): the metadata publishes the SP certificate for
 * signing and for encryption; the test IdP encrypts assertions to that certificate and Roster
 * decrypts them with its SP key; AuthnRequests signed with the SP key verify, as an IdP checks
 * them (SAML Bindings §3.4.4.1), with the certificate taken from Roster's metadata.
 */
import assert from 'node:assert/strict';
import { verify } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startTestApp, testCertificate, testKeyPair, userBody, TEST_IDP, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { buildEncryptedResponse, buildResponse, pemOf, postResponse, publishedCertificates, startLogin } from './idp.ts';

const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';

/** The certificates Roster's metadata publishes, by KeyDescriptor use, as PEM. */
async function metadataCertificates(app: TestApp): Promise<Record<string, string[]>> {
  return Object.fromEntries(Object.entries(await publishedCertificates(app)).map(([use, certificates]) => [use, certificates.map(pemOf)]));
}

eachDatabase('SAML with Roster\'s SP key pair', (database) => {
  const sp = testKeyPair('roster-sp');
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database });
    const configured = await app.services.saml.configure(
      { ...TEST_IDP, certificates: [testCertificate()], spCertificate: sp.certificate, spPrivateKey: sp.privateKey, signRequests: true },
      { kind: 'cli' },
    );
    assert.ok(configured.ok);
    await app.request('POST', '/Users', userBody('alice@example.com'));
  });
  after(() => app.close());

  async function lastRefusal(): Promise<{ reason: string; message: string }> {
    const event = await app.services.store.db.selectFrom('audit_events').select('details').where('action', '=', 'saml.sign_in_refused').orderBy('seq', 'desc').executeTakeFirstOrThrow();
    return JSON.parse(event.details ?? '{}');
  }

  test('the metadata publishes the SP certificate for signing and for encryption', async () => {
    const published = await metadataCertificates(app);
    const normalise = (pem: string) => pem.replace(/\s+/g, '');
    assert.deepEqual(published['signing']?.map(normalise), [normalise(sp.certificate)]);
    assert.deepEqual(published['encryption']?.map(normalise), [normalise(sp.certificate)]);
  });

  test('an assertion signed by the IdP and encrypted to the SP certificate signs the user in', async () => {
    const { requestId } = await startLogin(app);
    const xml = await buildEncryptedResponse({ login: 'alice@example.com', inResponseTo: requestId, encryptTo: sp.certificate });
    assert.match(xml, /EncryptedAssertion/);
    assert.doesNotMatch(xml, /alice@example\.com/, 'the login travels encrypted');
    const response = await postResponse(app, xml);
    assert.equal(response.statusCode, 303, response.body);
    assert.match(String(response.headers['set-cookie']), /__Host-roster_session=/);
  });

  test('an encrypted assertion whose response, not assertion, is signed signs in too', async () => {
    const { requestId } = await startLogin(app);
    const xml = await buildEncryptedResponse({ login: 'alice@example.com', inResponseTo: requestId, encryptTo: sp.certificate, sign: 'response' });
    assert.equal((await postResponse(app, xml)).statusCode, 303);
  });

  test('an assertion encrypted to another certificate is refused, saying so, and audited', async () => {
    const { requestId } = await startLogin(app);
    const other = testKeyPair('someone-elses-sp');
    const xml = await buildEncryptedResponse({ login: 'alice@example.com', inResponseTo: requestId, encryptTo: other.certificate });
    const response = await postResponse(app, xml);
    assert.equal(response.statusCode, 403);
    assert.match(response.body, /encrypted to a key none of Roster&#39;s SP key pairs holds/);
    assert.equal(response.headers['set-cookie'], undefined);
    assert.equal((await lastRefusal()).reason, 'decryption_failed');
  });

  // XML Encryption 1.1's RSA-OAEP identifier, which xml-encryption does not read: the refusal
  // said the assertion was encrypted to another key, sending administrators after certificates.
  test('an assertion whose key is wrapped with an algorithm Roster cannot read is refused, naming the algorithm and what to use', async () => {
    const { requestId } = await startLogin(app);
    const xml = (await buildEncryptedResponse({ login: 'alice@example.com', inResponseTo: requestId, encryptTo: sp.certificate })).replace(
      'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
      'http://www.w3.org/2009/xmlenc11#rsa-oaep',
    );
    const response = await postResponse(app, xml);
    assert.equal(response.statusCode, 403);
    assert.match(response.body, /The assertion is encrypted with an algorithm Roster cannot decrypt \([^)]*xmlenc11#rsa-oaep[^)]*\)/);
    assert.match(response.body, /Set the identity provider to RSA-OAEP key transport/);
    assert.doesNotMatch(response.body, /another key/);
    assert.equal((await lastRefusal()).reason, 'decryption_failed');
  });

  test('an encrypted assertion that is not signed is refused', async () => {
    const { requestId } = await startLogin(app);
    const xml = await buildEncryptedResponse({ login: 'alice@example.com', inResponseTo: requestId, encryptTo: sp.certificate, sign: 'none' });
    const response = await postResponse(app, xml);
    assert.equal(response.statusCode, 403);
    assert.equal((await lastRefusal()).reason, 'signature');
  });

  test('the AuthnRequest is signed (redirect binding) and verifies with the certificate from the metadata', async () => {
    const { location } = await startLogin(app, '/saml/login?returnTo=%2Fprojects');
    const query = new URL(location).search.slice(1);
    const parts = new Map(query.split('&').map((part) => [part.slice(0, part.indexOf('=')), part] as const));
    assert.equal(decodeURIComponent(parts.get('SigAlg')?.split('=')[1] ?? ''), RSA_SHA256);
    const signature = parts.get('Signature');
    assert.ok(signature !== undefined, `no Signature in ${location}`);
    // Bindings §3.4.4.1: the signed octets are SAMLRequest, RelayState (if present) and SigAlg
    // as they appear, URL-encoded, in the query string, joined with "&".
    const signed = ['SAMLRequest', 'RelayState', 'SigAlg'].flatMap((name) => parts.get(name) ?? []).join('&');
    const signatureBytes = Buffer.from(decodeURIComponent(signature.split('=')[1] ?? ''), 'base64');
    const [certificate] = (await metadataCertificates(app))['signing'] ?? [];
    assert.ok(certificate !== undefined);
    assert.equal(verify('RSA-SHA256', Buffer.from(signed), certificate, signatureBytes), true);
    // Any change to the request breaks it: the IdP would refuse a tampered AuthnRequest.
    const tampered = signed.replace('SAMLRequest=', 'SAMLRequest=x');
    assert.equal(verify('RSA-SHA256', Buffer.from(tampered), certificate, signatureBytes), false);
  });

  test('without signRequests the AuthnRequest carries no signature', async () => {
    const configured = await app.services.saml.configure(
      { ...TEST_IDP, certificates: [testCertificate()], spCertificate: sp.certificate, spPrivateKey: sp.privateKey, signRequests: false },
      { kind: 'cli' },
    );
    assert.ok(configured.ok);
    const { location } = await startLogin(app);
    assert.doesNotMatch(location, /[?&](Signature|SigAlg)=/);
  });

  test('a response signed with SHA-1 is refused, whatever was signed, saying to set the IdP to SHA-256, and audited; the validation page says so too', async () => {
    const sha1 = { login: 'alice@example.com', hash: 'sha1' } as const;
    for (const xml of [
      buildResponse({ ...sha1, inResponseTo: (await startLogin(app)).requestId }),
      buildResponse({ ...sha1, inResponseTo: (await startLogin(app)).requestId, sign: 'response' }),
      await buildEncryptedResponse({ ...sha1, inResponseTo: (await startLogin(app)).requestId, encryptTo: sp.certificate }),
    ]) {
      const response = await postResponse(app, xml);
      assert.equal(response.statusCode, 403, response.body);
      assert.match(response.body, /signed with SHA-1 \(http:\/\/www\.w3\.org\/2000\/09\/xmldsig#(rsa-)?sha1\), which Roster refuses: set the identity provider to sign with SHA-256/);
      assert.equal(response.headers['set-cookie'], undefined);
      assert.equal((await lastRefusal()).reason, 'weak_signature');
    }
    const { requestId } = await startLogin(app, '/saml/validation', { authorization: `Bearer ${app.token}` });
    const validation = await postResponse(app, buildResponse({ ...sha1, inResponseTo: requestId }));
    assert.equal(validation.statusCode, 200);
    assert.match(validation.body, /would be refused: The SAML response is signed with SHA-1/);
    // SHA-256, as Entra ID and Okta sign by default, still signs in.
    assert.equal((await postResponse(app, buildResponse({ login: 'alice@example.com', inResponseTo: (await startLogin(app)).requestId }))).statusCode, 303);
  });

  test('an assertion encrypted with 3DES or with RSA PKCS#1 v1.5 key transport is refused before decryption, saying what to set, and audited', async () => {
    const cases = [
      { cipher: { content: 'http://www.w3.org/2001/04/xmlenc#tripledes-cbc' }, algorithm: /tripledes-cbc/ },
      { cipher: { keyTransport: 'http://www.w3.org/2001/04/xmlenc#rsa-1_5' }, algorithm: /rsa-1_5/ },
    ] as const;
    for (const { cipher, algorithm } of cases) {
      const xml = await buildEncryptedResponse({ login: 'alice@example.com', inResponseTo: (await startLogin(app)).requestId, encryptTo: sp.certificate, cipher });
      const response = await postResponse(app, xml);
      assert.equal(response.statusCode, 403, response.body);
      assert.match(response.body, /The assertion is encrypted with http:\/\/www\.w3\.org\/2001\/04\/xmlenc#\S+, which Roster refuses as insecure: set the identity provider to encrypt with AES-GCM or AES-CBC and RSA-OAEP/);
      assert.match(response.body, algorithm);
      assert.equal(response.headers['set-cookie'], undefined);
      const audited = await lastRefusal();
      assert.equal(audited.reason, 'weak_encryption');
      assert.match(audited.message, algorithm);
    }
    const cbc = await buildEncryptedResponse({ login: 'alice@example.com', inResponseTo: (await startLogin(app)).requestId, encryptTo: sp.certificate, cipher: { content: 'http://www.w3.org/2001/04/xmlenc#aes256-cbc' } });
    assert.equal((await postResponse(app, cbc)).statusCode, 303, 'AES-CBC with RSA-OAEP still signs in');
  });
});

eachDatabase('SAML without an SP key pair', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database });
    await app.request('POST', '/Users', userBody('alice@example.com'));
  });
  after(() => app.close());

  test('an encrypted assertion is refused: Roster has no key to decrypt it', async () => {
    const { requestId } = await startLogin(app);
    const xml = await buildEncryptedResponse({ login: 'alice@example.com', inResponseTo: requestId, encryptTo: testKeyPair('roster-sp').certificate });
    const response = await postResponse(app, xml);
    assert.equal(response.statusCode, 403);
    assert.match(response.body, /encrypted but Roster has no SP private key/);
  });

  test('the metadata publishes no key', async () => {
    assert.deepEqual(await metadataCertificates(app), {});
  });
});
