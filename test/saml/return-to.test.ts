/**
 * Where the browser lands after sign-in (security review, issue 15, finding 4): a return path
 * is checked and percent-encoded when /saml/login accepts it, so that the Location header of
 * the ACS's answer can always be sent, and the session opens only once that answer is certain.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestApp, testCertificate, userBody, TEST_IDP, type TestApp, SESSION_COOKIE } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { buildResponse, postResponse, sessionCookieOf, startLogin } from './idp.ts';

eachDatabase('returnTo beyond ASCII', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database });
    assert.equal((await app.request('POST', '/Users', userBody('alice@example.com'))).status, 201);
  });
  after(() => app.close());

  async function sessions(): Promise<number> {
    const rows = await app.services.store.db.selectFrom('sessions').select('id').execute();
    return rows.length;
  }

  test('a return path with characters above U+00FF signs in and lands there, percent-encoded', async () => {
    const { requestId } = await startLogin(app, `/saml/login?returnTo=${encodeURIComponent('/café/∕x?q=ü&r=1')}`);
    const response = await postResponse(app, buildResponse({ login: 'alice@example.com', inResponseTo: requestId }));
    assert.equal(response.statusCode, 303, response.body);
    assert.equal(response.headers.location, '/caf%C3%A9/%E2%88%95x?q=%C3%BC&r=1');
    const current = await app.app.inject({ method: 'GET', url: '/api/users/current', headers: { cookie: `${SESSION_COOKIE}=${sessionCookieOf(response) ?? ''}` } });
    assert.equal(current.statusCode, 200);
  });

  test('a return path that is already percent-encoded is kept as it is', async () => {
    const { requestId } = await startLogin(app, `/saml/login?returnTo=${encodeURIComponent('/caf%C3%A9?q=a%20b')}`);
    const response = await postResponse(app, buildResponse({ login: 'alice@example.com', inResponseTo: requestId }));
    assert.equal(response.headers.location, '/caf%C3%A9?q=a%20b');
  });

  test('a raw return path stored by an earlier version is encoded at the ACS, not answered with a 500', async () => {
    const { requestId } = await startLogin(app, '/saml/login?returnTo=%2Fplaceholder');
    await app.services.store.db.updateTable('saml_requests').set({ return_to: '/café/∕x' }).where('id', '=', requestId).execute();
    const before_ = await sessions();
    const response = await postResponse(app, buildResponse({ login: 'alice@example.com', inResponseTo: requestId }));
    assert.equal(response.statusCode, 303, response.body);
    assert.equal(response.headers.location, '/caf%C3%A9/%E2%88%95x');
    assert.equal(await sessions(), before_ + 1);
  });

  test('a stored return path that leads elsewhere sends the browser to /', async () => {
    const { requestId } = await startLogin(app, '/saml/login?returnTo=%2Fplaceholder');
    await app.services.store.db.updateTable('saml_requests').set({ return_to: '/\\evil.example.com' }).where('id', '=', requestId).execute();
    const response = await postResponse(app, buildResponse({ login: 'alice@example.com', inResponseTo: requestId }));
    assert.equal(response.statusCode, 303, response.body);
    assert.equal(response.headers.location, '/');
  });

  test('GET /saml/login refuses return paths that are not paths on this server, or too long once encoded', async () => {
    for (const returnTo of ['https://evil.example.com/', '//evil.example.com/', '/\\evil.example.com', '/.//evil.example.com', '/a/..//evil.example.com', '/%2e//evil.example.com', '/a\u0000b', '/a\r\nSet-Cookie: x=1', `/${'é'.repeat(1000)}`]) {
      const response = await app.app.inject({ method: 'GET', url: `/saml/login?returnTo=${encodeURIComponent(returnTo)}` });
      assert.equal(response.statusCode, 400, JSON.stringify(returnTo));
    }
  });
});

eachDatabase('IdP-initiated RelayState beyond ASCII', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database });
    await app.services.saml.configure({ ...TEST_IDP, certificates: [testCertificate()], allowIdpInitiated: true }, { kind: 'cli' });
    await app.request('POST', '/Users', userBody('carol@example.com'));
  });
  after(() => app.close());

  test('a RelayState with characters above U+00FF is followed, percent-encoded', async () => {
    const response = await postResponse(app, buildResponse({ login: 'carol@example.com' }), '/tableau/∕x', { cookie: null });
    assert.equal(response.statusCode, 303, response.body);
    assert.equal(response.headers.location, '/tableau/%E2%88%95x');
  });
});
