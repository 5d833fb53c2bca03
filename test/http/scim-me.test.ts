/** SCIM /Me (RFC 7644 §3.11): a user reads its own resource, by session or by its own token, and changes nothing. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { HTTPMethods } from 'fastify';
import { eachDatabase } from '../support/databases.ts';
import { SCIM, groupBody, startTestApp, userBody, type TestApp, SESSION_COOKIE } from '../support/app.ts';

const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';
const cli = { kind: 'cli' } as const;

eachDatabase('SCIM /Me', (database) => {
  let roster: TestApp;
  let scimId = '';
  let userId = '';
  let token = '';
  let cookie = '';

  before(async () => {
    roster = await startTestApp({ database });
    const created = await roster.request('POST', '/Users', userBody('ada@example.com', { displayName: 'Ada Lovelace', title: 'Analyst' }));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    scimId = created.body.id;
    assert.equal((await roster.request('POST', '/Groups', groupBody('Engines', [scimId]))).status, 201);
    const account = await roster.services.accounts.findByLogin('ada@example.com');
    assert.ok(account);
    userId = account.id;
    token = await roster.tokenFor(userId, 'ada-own');
    cookie = `${SESSION_COOKIE}=${(await roster.services.sessions.open(userId)).value}`;
  });
  after(async () => {
    await roster.close();
  });

  async function me(method: HTTPMethods, headers: Record<string, string>, query = '', body?: unknown) {
    const response = await roster.app.inject({
      method,
      url: `${SCIM}/Me${query}`,
      headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/scim+json' } : {}) },
      ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
    });
    return { status: response.statusCode, headers: response.headers, body: response.body === '' ? undefined : JSON.parse(response.body) };
  }

  test('GET /Me with a session cookie is the signed-in user\'s SCIM resource', async () => {
    const response = await me('GET', { cookie });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.equal(response.body.id, scimId);
    assert.equal(response.body.userName, 'ada@example.com');
    assert.equal(response.body.title, 'Analyst');
    assert.deepEqual(response.body.groups.map((group: { display: string }) => group.display), ['Engines']);
    assert.equal(response.headers.etag, response.body.meta.version);
    assert.equal(response.headers['content-location'], response.body.meta.location);
    assert.match(response.body.meta.location, new RegExp(`/api/scim/v2/Users/${scimId}$`));
  });

  test('GET /Me with the user\'s own token, though it is no administrator, honours attributes and If-None-Match', async () => {
    const response = await me('GET', { authorization: `Bearer ${token}` }, '?attributes=userName');
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.deepEqual(Object.keys(response.body).sort(), ['id', 'schemas', 'userName']);
    const unchanged = await me('GET', { authorization: `Bearer ${token}`, 'if-none-match': String(response.headers.etag) });
    assert.equal(unchanged.status, 304);
  });

  test('the same token may not call the rest of the SCIM endpoint', async () => {
    for (const url of ['/Users', `/Users/${scimId}`, '/Groups', '/ServiceProviderConfig']) {
      const response = await roster.app.inject({ method: 'GET', url: `${SCIM}${url}`, headers: { authorization: `Bearer ${token}` } });
      assert.equal(response.statusCode, 403, url);
    }
    // Nor does a session open the rest of the endpoint.
    assert.equal((await roster.app.inject({ method: 'GET', url: `${SCIM}/Users`, headers: { cookie } })).statusCode, 401);
  });

  test('changes through /Me are refused with 403 and change nothing', async () => {
    const before = await me('GET', { cookie });
    const patch = { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'title', value: 'Boss' }] };
    for (const [method, body] of [
      ['PATCH', patch],
      ['PUT', userBody('ada@example.com', { title: 'Boss' })],
      ['POST', userBody('eve@example.com')],
      ['DELETE', undefined],
    ] as const) {
      for (const headers of [{ cookie }, { authorization: `Bearer ${token}` }]) {
        const response = await me(method, headers, '', body);
        assert.equal(response.status, 403, `${method} ${JSON.stringify(response.body)}`);
        assert.deepEqual(response.body.schemas, [ERROR_SCHEMA]);
        assert.match(response.body.detail, /identity provider/);
      }
    }
    const after_ = await me('GET', { cookie });
    assert.deepEqual(after_.body, before.body);
  });

  test('an administrator\'s token reads its own user: a local account has no SCIM resource, 404 saying why', async () => {
    const response = await roster.request('GET', '/Me');
    assert.equal(response.status, 404);
    assert.deepEqual(response.body.schemas, [ERROR_SCHEMA]);
    assert.match(response.body.detail, /"admin".*not provisioned through SCIM/);
  });

  test('without a session or token /Me is 401; a garbage session too', async () => {
    assert.equal((await me('GET', {})).status, 401);
    assert.equal((await me('GET', { cookie: `${SESSION_COOKIE}=garbage` })).status, 401);
    assert.equal((await me('PATCH', {}, '', {})).status, 401);
  });

  test('a deactivated user\'s session and token no longer read /Me', async () => {
    const other = await roster.request('POST', '/Users', userBody('bob@example.com'));
    const account = await roster.services.accounts.findByLogin('bob@example.com');
    assert.ok(account);
    const bobToken = await roster.tokenFor(account.id, 'bob-own');
    const bobCookie = `${SESSION_COOKIE}=${(await roster.services.sessions.open(account.id)).value}`;
    assert.equal((await me('GET', { cookie: bobCookie })).status, 200);
    await roster.services.users.update(other.body.id, (current) => ({ ...current, active: false }), () => true, cli);
    assert.equal((await me('GET', { cookie: bobCookie })).status, 401);
    assert.equal((await me('GET', { authorization: `Bearer ${bobToken}` })).status, 401);
  });
});
