/**
 * Route schemas are compiled on their route's first request, not at start-up
 * (src/http/schema-compilers.ts). Checked here: every schema the app registers compiles (what
 * `ready()` used to prove), and the first requests after a start are validated and serialized
 * by their schemas exactly as later ones.
 *
 * SQLite only: schemas do not depend on the database.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.ts';

const USERS = '/api/v2/users-management/users';

describe('route schemas compiled on first use', () => {
  let roster: TestApp;
  before(async () => {
    roster = await startTestApp({ scim: false });
  });
  after(() => roster.close());

  test('the first requests of a fresh app are refused and answered by their schemas', async () => {
    const unknownField = await roster.request('POST', USERS, { login: 'bob', name: 'Bob', local: false, nickname: 'B' });
    assert.equal(unknownField.status, 400);
    assert.match(unknownField.body.message, /^Unknown field\(s\): nickname\b/);
    const wrongType = await roster.request('POST', USERS, { login: 5, name: 'Bob', local: false });
    assert.equal(wrongType.status, 400);
    assert.match(wrongType.body.message, /login/);

    const created = await roster.request('POST', USERS, { login: 'bob', name: 'Bob', local: false });
    assert.equal(created.status, 200);
    const listed = await roster.request('GET', `${USERS}?pageSize=1`);
    assert.equal(listed.status, 200);
    // Typed from the querystring schema, and serialized by the response schema (page first, its three fields).
    assert.deepEqual(listed.body.page, { pageIndex: 1, pageSize: 1, total: 2 });
    assert.deepEqual(Object.keys(listed.body.users[0]).sort(), Object.keys(created.body).sort());
    const tooBig = await roster.request('GET', `${USERS}?pageSize=100000`);
    assert.equal(tooBig.status, 400);
  });

  test('every route schema the app registers compiles', () => {
    // The routes no request has reached yet are still pending: compiling them must not throw.
    const compiled = roster.app.routeSchemas.compilePending();
    assert.ok(compiled > 50, `only ${compiled} schemas were pending`);
    assert.equal(roster.app.routeSchemas.compilePending(), 0, 'each schema is compiled once');
  });

  test('after every schema is compiled the routes answer as before', async () => {
    const unknownField = await roster.request('POST', USERS, { login: 'carol', name: 'Carol', local: false, nickname: 'C' });
    assert.equal(unknownField.status, 400);
    assert.match(unknownField.body.message, /^Unknown field\(s\): nickname\b/);
    const docs = await roster.request('GET', '/api/v2/api-docs');
    assert.equal(docs.status, 200);
    assert.equal(docs.body.openapi, '3.1.0');
  });
});
