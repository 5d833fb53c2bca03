/**
 * Login CSRF (security review, issue 15, finding 5): a response opens a session only in the
 * browser that started its AuthnRequest. /saml/login gives the browser a random value in a
 * short-lived cookie, the request stores its hash, and the ACS compares the two.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestApp, userBody, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { buildResponse, postResponse, samlCookieOf, sessionCookieOf, sign, startLogin } from './idp.ts';
import { randomUUID } from 'node:crypto';
import { TEST_IDP } from '../support/app.ts';

eachDatabase('SAML sign-in bound to the browser that started it', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database });
    for (const login of ['alice@example.com', 'mallory@example.com']) {
      assert.equal((await app.request('POST', '/Users', userBody(login))).status, 201);
    }
  });
  after(() => app.close());

  async function lastRefusal(): Promise<Record<string, unknown>> {
    const row = await app.services.store.db
      .selectFrom('audit_events')
      .select('details')
      .where('action', '=', 'saml.sign_in_refused')
      .orderBy('seq', 'desc')
      .executeTakeFirstOrThrow();
    return JSON.parse(row.details ?? '{}') as Record<string, unknown>;
  }

  test('GET /saml/login sets a __Host- cookie that is HttpOnly, Secure, SameSite=None and short-lived', async () => {
    const response = await app.app.inject({ method: 'GET', url: '/saml/login' });
    assert.equal(response.statusCode, 302);
    const header = String(response.headers['set-cookie']);
    assert.match(header, /^__Host-roster_saml=[A-Za-z0-9_-]{43}; /);
    assert.match(header, /; Path=\/(;|$)/);
    assert.match(header, /; HttpOnly/);
    assert.match(header, /; Secure/);
    assert.match(header, /; SameSite=None/);
    assert.match(header, /; Max-Age=900/);
    assert.doesNotMatch(header, /Domain=/);
  });

  test('a second sign-in started in the same browser keeps its value, so both tabs can finish', async () => {
    const first = await startLogin(app);
    const second = await startLogin(app);
    assert.equal(second.cookie, first.cookie);
    assert.equal((await postResponse(app, buildResponse({ login: 'alice@example.com', inResponseTo: first.requestId }))).statusCode, 303);
    assert.equal((await postResponse(app, buildResponse({ login: 'alice@example.com', inResponseTo: second.requestId }))).statusCode, 303);
  });

  test("the attacker's own response, posted from the victim's browser, is refused and audited, and opens no session", async () => {
    const victim = (await startLogin(app)).cookie;
    assert.ok(victim !== undefined);
    // The victim's browser carries its own cookie, or none if it never started a sign-in.
    for (const victimCookie of [victim, null]) {
      // The attacker starts a sign-in in their own browser and signs in at the IdP as themselves...
      const attacker = await startLogin(app, '/saml/login', { cookie: '' });
      assert.ok(attacker.cookie !== undefined && attacker.cookie !== victim);
      const xml = buildResponse({ login: 'mallory@example.com', inResponseTo: attacker.requestId });
      // ...then has the victim's browser post that response (an auto-submitting form).
      const sessionsBefore = (await app.services.store.db.selectFrom('sessions').select('id').execute()).length;
      const response = await postResponse(app, xml, undefined, { cookie: victimCookie });
      assert.equal(response.statusCode, 403, response.body);
      assert.match(response.body, /started in another browser/);
      assert.equal(sessionCookieOf(response), undefined);
      assert.equal((await app.services.store.db.selectFrom('sessions').select('id').execute()).length, sessionsBefore);
      const refusal = await lastRefusal();
      assert.equal(refusal['reason'], 'wrong_browser');
      assert.match(String(refusal['message']), /started in another browser/);
    }
  });

  test('a response posted without the cookie is refused with reason wrong_browser', async () => {
    const { requestId } = await startLogin(app);
    const response = await postResponse(app, buildResponse({ login: 'alice@example.com', inResponseTo: requestId }), undefined, { cookie: null });
    assert.equal(response.statusCode, 403);
    assert.match(response.body, /started in another browser/);
    assert.equal((await lastRefusal())['reason'], 'wrong_browser');
  });

  test('a forged cookie value is refused the same way', async () => {
    const { requestId } = await startLogin(app);
    const response = await postResponse(app, buildResponse({ login: 'alice@example.com', inResponseTo: requestId }), undefined, { cookie: `__Host-roster_saml=${'A'.repeat(43)}` });
    assert.equal(response.statusCode, 403);
    assert.equal((await lastRefusal())['reason'], 'wrong_browser');
  });

  test('only a hash of the cookie value is stored with the request', async () => {
    const { requestId, cookie } = await startLogin(app);
    const value = (cookie ?? '').split('=')[1] ?? '';
    const row = await app.services.store.db.selectFrom('saml_requests').selectAll().where('id', '=', requestId).executeTakeFirstOrThrow();
    assert.ok(!Object.values(row).includes(value));
    assert.ok(value.length === 43);
  });

  test('the browser that started the sign-in signs in', async () => {
    const { requestId } = await startLogin(app);
    const response = await postResponse(app, buildResponse({ login: 'alice@example.com', inResponseTo: requestId }));
    assert.equal(response.statusCode, 303, response.body);
    assert.ok(sessionCookieOf(response) !== undefined);
  });

  test("an error response's StatusMessage is shown as the IdP's words only when it is signed or comes from the browser that started the sign-in", async () => {
    const errorResponse = (inResponseTo: string, message: string): string =>
      `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r${randomUUID()}" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="https://roster.test/saml/acs" InResponseTo="${inResponseTo}">` +
      `<saml:Issuer>${TEST_IDP.providerId}</saml:Issuer>` +
      `<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"/><samlp:StatusMessage>${message}</samlp:StatusMessage></samlp:Status>` +
      `</samlp:Response>`;
    const forged = 'Your account is locked, call +1 555 0100 to unlock it';

    // Unsigned, posted from a browser that did not start the request (the victim's, by the attacker's form).
    const unbound = await postResponse(app, errorResponse((await startLogin(app)).requestId, forged), undefined, { cookie: null });
    assert.equal(unbound.statusCode, 403);
    assert.match(unbound.body, /The identity provider refused the sign-in: urn:oasis:names:tc:SAML:2\.0:status:Responder\./);
    assert.doesNotMatch(unbound.body, /locked|555/);
    assert.doesNotMatch(JSON.stringify(await lastRefusal()), /locked/);

    // The browser that started the sign-in: the IdP's words are shown.
    const bound = await postResponse(app, errorResponse((await startLogin(app)).requestId, 'The user is not assigned to this application'));
    assert.equal(bound.statusCode, 403);
    assert.match(bound.body, /refused the sign-in: urn:oasis:names:tc:SAML:2\.0:status:Responder: The user is not assigned to this application/);

    // Signed by the IdP: its words, whoever posts it.
    const signed = sign(errorResponse((await startLogin(app)).requestId, 'The user is not assigned to this application'), 'Response');
    const fromElsewhere = await postResponse(app, signed, undefined, { cookie: null });
    assert.equal(fromElsewhere.statusCode, 403);
    assert.match(fromElsewhere.body, /refused the sign-in: urn:oasis:names:tc:SAML:2\.0:status:Responder: The user is not assigned to this application/);
  });
});

eachDatabase('the SAML request cookie on a plain http base URL', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database, baseUrl: 'http://localhost:8080' });
  });
  after(() => app.close());

  test('has no __Host- prefix, no Secure and no SameSite attribute (browsers drop SameSite=None without Secure)', async () => {
    const response = await app.app.inject({ method: 'GET', url: '/saml/login' });
    assert.equal(response.statusCode, 302);
    const cookie = samlCookieOf(response) ?? '';
    assert.match(cookie, /^roster_saml=[A-Za-z0-9_-]{43}$/);
    const header = String(response.headers['set-cookie']);
    assert.match(header, /; HttpOnly/);
    assert.doesNotMatch(header, /Secure|SameSite/);
  });

});
