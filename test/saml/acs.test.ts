import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SignedXml } from 'xml-crypto';
import { NO_ACCOUNT_MESSAGE } from '../../src/directory/sign-in.ts';
import { startTestApp, testKeyPair, userBody, TEST_IDP, testCertificate, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { assertionXml, buildResponse, postResponse, responseXml, sign, signIn, startLogin } from './idp.ts';

const HOUR = 60 * 60 * 1000;

eachDatabase('POST /saml/acs in SCIM mode', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database });
    const created = await app.request('POST', '/Users', userBody('alice@example.com', { displayName: 'Alice' }));
    assert.equal(created.status, 201);
  });
  after(() => app.close());

  /** Posts `xml` and expects a refusal page containing `pattern`, audited with `reason`. */
  /** Posts `xml`, expects the refusal page and its audit entry; returns the entry's message. */
  async function expectRefused(xml: string, pattern: RegExp, reason: string): Promise<string> {
    const response = await postResponse(app, xml);
    assert.equal(response.statusCode, 403, response.body);
    assert.match(String(response.headers['content-type']), /^text\/html/);
    assert.match(response.body, pattern);
    assert.equal(response.headers['set-cookie'], undefined);
    const event = await app.services.store.db
      .selectFrom('audit_events')
      .select(['actor', 'details'])
      .where('action', '=', 'saml.sign_in_refused')
      .orderBy('seq', 'desc')
      .executeTakeFirstOrThrow();
    const details = JSON.parse(event.details ?? '{}') as { reason: string; message: string };
    assert.equal(details.reason, reason);
    return details.message;
  }

  async function requestId(): Promise<string> {
    return (await startLogin(app)).requestId;
  }

  test('a provisioned user signs in (login matched regardless of case) and is sent back to returnTo', async () => {
    const { requestId: id } = await startLogin(app, '/saml/login?returnTo=%2Fprojects%3Fq%3D1');
    const response = await postResponse(app, buildResponse({ login: 'ALICE@example.com', inResponseTo: id }));
    assert.equal(response.statusCode, 303, response.body);
    assert.equal(response.headers.location, '/projects?q=1');
    const cookie = String(response.headers['set-cookie']);
    const current = await app.app.inject({ method: 'GET', url: '/api/users/current', headers: { cookie: cookie.split(';')[0] ?? '' } });
    assert.equal(current.statusCode, 200);
    const body = current.json();
    assert.equal(body.login, 'alice@example.com');
    assert.equal(body.managed, true);
    assert.equal(body.active, true);
    const user = await app.services.store.db.selectFrom('users').select('last_connection_at').where('login', '=', 'alice@example.com').executeTakeFirstOrThrow();
    assert.ok(user.last_connection_at !== null);
  });

  test('a response signed instead of the assertion is accepted too', async () => {
    const response = await postResponse(app, buildResponse({ login: 'alice@example.com', inResponseTo: await requestId(), sign: 'response' }));
    assert.equal(response.statusCode, 303, response.body);
  });

  test('a user who is not provisioned is refused with SonarQube\'s message, and nobody is created', async () => {
    await expectRefused(buildResponse({ login: 'mallory@example.com', inResponseTo: await requestId() }), new RegExp(NO_ACCOUNT_MESSAGE.replace(/\./g, '\\.')), 'not_provisioned');
    const row = await app.services.store.db.selectFrom('users').select('id').where('login', '=', 'mallory@example.com').executeTakeFirst();
    assert.equal(row, undefined);
  });

  test('an unsigned response is refused', async () => {
    await expectRefused(buildResponse({ login: 'alice@example.com', inResponseTo: await requestId(), sign: 'none' }), /not signed by a certificate Roster trusts/, 'signature');
  });

  test('a response signed by another key is refused', async () => {
    const other = testKeyPair('someone-else');
    await expectRefused(buildResponse({ login: 'alice@example.com', inResponseTo: await requestId(), keyPair: other }), /not signed by a certificate Roster trusts/, 'signature');
  });

  test('an assertion altered after signing is refused', async () => {
    const signed = buildResponse({ login: 'mallory@example.com', inResponseTo: await requestId() });
    const altered = signed.replaceAll('mallory@example.com', 'alice@example.com');
    assert.notEqual(altered, signed);
    await expectRefused(altered, /not signed by a certificate Roster trusts/, 'signature');
  });

  test('signature wrapping: an unsigned assertion beside the signed one is refused', async () => {
    const id = await requestId();
    const signedAssertion = sign(assertionXml({ login: 'mallory@example.com', inResponseTo: id }), 'Assertion');
    const evil = assertionXml({ login: 'alice@example.com', inResponseTo: id });
    await expectRefused(responseXml(evil + signedAssertion, { inResponseTo: id }), /not signed by a certificate Roster trusts/, 'signature');
  });

  test('signature wrapping: the signed assertion hidden in Extensions, an unsigned one in its place, is refused', async () => {
    const id = await requestId();
    const signedAssertion = sign(assertionXml({ login: 'mallory@example.com', inResponseTo: id }), 'Assertion');
    const evil = assertionXml({ login: 'alice@example.com', inResponseTo: id });
    const wrapped = responseXml(evil, { inResponseTo: id }).replace('<samlp:Status>', `<samlp:Extensions>${signedAssertion}</samlp:Extensions><samlp:Status>`);
    await expectRefused(wrapped, /not signed by a certificate Roster trusts/, 'signature');
  });

  test('signature wrapping: the signed assertion duplicated under another ID with other content is refused', async () => {
    for (const copyFirst of [true, false]) {
      const id = await requestId();
      const signedAssertion = sign(assertionXml({ login: 'mallory@example.com', inResponseTo: id, assertionId: '_signed' }), 'Assertion');
      const copy = signedAssertion.replace('ID="_signed"', 'ID="_copy"').replace(/mallory@example\.com/g, 'alice@example.com');
      const xml = responseXml(copyFirst ? copy + signedAssertion : signedAssertion + copy, { inResponseTo: id });
      await expectRefused(xml, /not signed by a certificate Roster trusts/, 'signature');
    }
  });

  test('signature wrapping: an unsigned assertion carrying a signature that references the original, hidden in ds:Object, is refused', async () => {
    const id = await requestId();
    const signedAssertion = sign(assertionXml({ login: 'mallory@example.com', inResponseTo: id, assertionId: '_signed' }), 'Assertion');
    const signature = /<Signature[\s\S]*<\/Signature>/.exec(signedAssertion)?.[0] ?? '';
    assert.notEqual(signature, '');
    const hidden = signature.replace('</Signature>', `<Object>${signedAssertion}</Object></Signature>`);
    const evil = assertionXml({ login: 'alice@example.com', inResponseTo: id, assertionId: '_evil' }).replace('</saml:Issuer>', `</saml:Issuer>${hidden}`);
    await expectRefused(responseXml(evil, { inResponseTo: id }), /not signed by a certificate Roster trusts/, 'signature');
  });

  test('signature wrapping: a Response signature that references the assertion, not the Response, does not count', async () => {
    const id = await requestId();
    const xml = responseXml(assertionXml({ login: 'alice@example.com', inResponseTo: id, assertionId: '_only' }), { inResponseTo: id });
    const signer = new SignedXml({ privateKey: testKeyPair().privateKey, publicCert: testKeyPair().certificate, signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256', canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#' });
    signer.addReference({ xpath: "//*[local-name(.)='Assertion']", transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'], digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256' });
    // The signature sits in the Response (after its Issuer) but signs the assertion by reference.
    signer.computeSignature(xml, { location: { reference: "/*[local-name(.)='Response']/*[local-name(.)='Issuer']", action: 'after' } });
    await expectRefused(signer.getSignedXml(), /not signed by a certificate Roster trusts/, 'signature');
  });

  test('an expired assertion is refused', async () => {
    const past = new Date(Date.now() - 2 * HOUR);
    const xml = buildResponse({ login: 'alice@example.com', inResponseTo: await requestId(), notBefore: new Date(past.getTime() - HOUR), notOnOrAfter: past });
    const message = await expectRefused(xml, /expired at/, 'expired');
    // The page and the audit entry say when it expired, what Roster's clock read, and the tolerance.
    assert.match(message, new RegExp(`^The assertion expired at ${past.toISOString().replace(/\./g, '\\.')}; Roster's clock read \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z, and it tolerates 2 minutes of difference between the clocks\\.`));
  });

  test('an assertion that is not yet valid is refused', async () => {
    const future = new Date(Date.now() + HOUR);
    const xml = buildResponse({ login: 'alice@example.com', inResponseTo: await requestId(), notBefore: future, notOnOrAfter: new Date(future.getTime() + HOUR) });
    const message = await expectRefused(xml, /valid only from/, 'not_yet_valid');
    assert.match(message, new RegExp(`^The assertion is valid only from ${future.toISOString().replace(/\./g, '\\.')}; Roster's clock read .*tolerates 2 minutes`));
  });

  test('an assertion for another audience is refused', async () => {
    await expectRefused(buildResponse({ login: 'alice@example.com', inResponseTo: await requestId(), audience: 'https://other.example.com' }), /meant for another application/, 'wrong_audience');
  });

  test('a response whose status is not Success is refused, though it carries a valid assertion (SAML Core §3.2.2.2)', async () => {
    const failed = (xml: string) =>
      xml.replace(
        '<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>',
        '<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"/></samlp:StatusCode><samlp:StatusMessage>denied by policy</samlp:StatusMessage>',
      );
    // The assertion signed (the status outside any signature), and the whole response signed by the IdP.
    const assertionSigned = failed(buildResponse({ login: 'alice@example.com', inResponseTo: await requestId() }));
    await expectRefused(assertionSigned, /refused the sign-in: urn:oasis:names:tc:SAML:2.0:status:Responder \(urn:oasis:names:tc:SAML:2.0:status:AuthnFailed\): denied by policy/, 'idp_error');
    const id = await requestId();
    const responseSigned = sign(failed(responseXml(assertionXml({ login: 'alice@example.com', inResponseTo: id }), { inResponseTo: id })), 'Response');
    await expectRefused(responseSigned, /refused the sign-in/, 'idp_error');
  });

  test('an assertion without Conditions is refused as naming no audience, in words', async () => {
    const id = await requestId();
    const bare = assertionXml({ login: 'alice@example.com', inResponseTo: id }).replace(/<saml:Conditions[^>]*>.*<\/saml:Conditions>/, '');
    const response = await postResponse(app, responseXml(sign(bare, 'Assertion'), { inResponseTo: id }));
    assert.equal(response.statusCode, 403);
    assert.match(response.body, /meant for another application \(it names no audience\)/);
    assert.doesNotMatch(response.body, /Cannot read properties/);
  });

  test('a response with another Destination is refused', async () => {
    await expectRefused(buildResponse({ login: 'alice@example.com', inResponseTo: await requestId(), destination: 'https://other.example.com/acs' }), /sent to &quot;https:\/\/other\.example\.com\/acs&quot;/, 'wrong_destination');
  });

  test('an assertion whose Recipient is another ACS is refused', async () => {
    await expectRefused(buildResponse({ login: 'alice@example.com', inResponseTo: await requestId(), recipient: 'https://other.example.com/acs' }), /not to this Roster&#39;s ACS URL/, 'wrong_destination');
  });

  test('an assertion from another issuer, even signed by the trusted key, is refused', async () => {
    await expectRefused(buildResponse({ login: 'alice@example.com', inResponseTo: await requestId(), issuer: 'https://evil.example.com' }), /not by the configured identity provider/, 'wrong_issuer');
  });

  test('an unknown InResponseTo is refused', async () => {
    await expectRefused(buildResponse({ login: 'alice@example.com', inResponseTo: '_never-issued' }), /did not issue/, 'unknown_request');
  });

  test('a reused InResponseTo is refused', async () => {
    const id = await requestId();
    assert.equal((await postResponse(app, buildResponse({ login: 'alice@example.com', inResponseTo: id }))).statusCode, 303);
    await expectRefused(buildResponse({ login: 'alice@example.com', inResponseTo: id }), /already used/, 'unknown_request');
  });

  test('the same response posted twice is refused the second time, as a replay (its request is used up too)', async () => {
    const xml = buildResponse({ login: 'alice@example.com', inResponseTo: await requestId() });
    assert.equal((await postResponse(app, xml)).statusCode, 303);
    await expectRefused(xml, /This assertion was already used to sign in/, 'replayed');
    // A response to a used-up request that was never accepted is still an unknown request.
    const id = await requestId();
    assert.equal((await postResponse(app, buildResponse({ login: 'alice@example.com', inResponseTo: id }))).statusCode, 303);
    await expectRefused(buildResponse({ login: 'alice@example.com', inResponseTo: id }), /did not issue, that expired, or that was already used/, 'unknown_request');
  });

  test('an IdP-initiated response is refused while the setting is off', async () => {
    await expectRefused(buildResponse({ login: 'alice@example.com' }), /IdP-initiated sign-in is turned off/, 'unsolicited');
  });

  test('a post without SAMLResponse is a 400 page', async () => {
    const response = await app.app.inject({ method: 'POST', url: '/saml/acs', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'RelayState=%2F' });
    assert.equal(response.statusCode, 400);
  });

  test('a deactivated user is refused the same way, and their earlier session stops working', async () => {
    await app.request('POST', '/Users', userBody('bob@example.com'));
    const bob = (await app.request('GET', '/Users?filter=userName%20eq%20%22bob@example.com%22')).body.Resources[0];
    const first = await signIn(app, { login: 'bob@example.com' });
    assert.equal(first.statusCode, 303);
    const cookie = String(first.headers['set-cookie']).split(';')[0] ?? '';
    assert.equal((await app.app.inject({ method: 'GET', url: '/api/users/current', headers: { cookie } })).statusCode, 200);

    const patched = await app.request('PATCH', `/Users/${bob.id}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'replace', value: { active: false } }],
    });
    assert.equal(patched.status, 200);
    assert.equal((await app.app.inject({ method: 'GET', url: '/api/users/current', headers: { cookie } })).statusCode, 401);
    await expectRefused(buildResponse({ login: 'bob@example.com', inResponseTo: await requestId() }), new RegExp(NO_ACCOUNT_MESSAGE.replace(/\./g, '\\.')), 'deactivated');
  });
});

eachDatabase('POST /saml/acs with IdP-initiated sign-in allowed', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database });
    await app.services.saml.configure({ ...TEST_IDP, certificates: [testCertificate()], allowIdpInitiated: true }, { kind: 'cli' });
    await app.request('POST', '/Users', userBody('carol@example.com'));
  });
  after(() => app.close());

  test('an IdP-initiated response signs in and follows a local RelayState', async () => {
    const response = await postResponse(app, buildResponse({ login: 'carol@example.com' }), '/dashboard');
    assert.equal(response.statusCode, 303, response.body);
    assert.equal(response.headers.location, '/dashboard');
  });

  test('a RelayState pointing elsewhere is ignored', async () => {
    const response = await postResponse(app, buildResponse({ login: 'carol@example.com' }), '//evil.example.com/');
    assert.equal(response.headers.location, '/');
  });

  test('the same assertion posted twice is refused by the replay cache', async () => {
    const xml = buildResponse({ login: 'carol@example.com' });
    assert.equal((await postResponse(app, xml)).statusCode, 303);
    const again = await postResponse(app, xml);
    assert.equal(again.statusCode, 403);
    assert.match(again.body, /already used to sign in/);
  });
});
