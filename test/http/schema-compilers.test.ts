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
import Fastify from 'fastify';
import { createLazySchemaCompilers } from '../../src/http/schema-compilers.ts';
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

describe('the lazy schema compilers in a bare Fastify app', () => {
  test('a route declaring a headers schema fails the start, naming the route', async () => {
    const app = Fastify({ schemaController: { compilersFactory: createLazySchemaCompilers().compilersFactory } });
    app.get('/probe', { schema: { headers: { type: 'object', properties: { 'X-Probe': { type: 'string' } }, required: ['X-Probe'] } } }, async () => ({}));
    await assert.rejects(async () => app.ready(), /GET \/probe: route schemas do not declare headers/);
  });

  test('a schema that does not compile fails its first request with a 500, and the others still answer', async () => {
    const compilers = createLazySchemaCompilers();
    const app = Fastify({ schemaController: { compilersFactory: compilers.compilersFactory } });
    app.post('/broken', { schema: { body: { type: 'object', properties: { a: { type: 'no-such-type' } } } } }, async () => ({}));
    app.post('/fine', { schema: { body: { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] } } }, async () => ({ ok: true }));
    await app.ready();
    const broken = await app.inject({ method: 'POST', url: '/broken', payload: { a: 'x' } });
    assert.equal(broken.statusCode, 500);
    assert.equal((await app.inject({ method: 'POST', url: '/fine', payload: { a: 'x' } })).json().ok, true);
    assert.equal((await app.inject({ method: 'POST', url: '/fine', payload: { b: 'x' } })).statusCode, 400);
    assert.throws(() => compilers.compilePending(), /no-such-type|type/);
    await app.close();
  });
});
