import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { toScimError } from '../../src/http/errors.ts';
import { DEFAULT_BODY_LIMIT, MAX_JSON_DEPTH, checkStorableText, firstInvalidUtf8, jsonTooDeep } from '../../src/http/input.ts';
import { apiOfPath, routedPath } from '../../src/http/routing.ts';
import { ScimError } from '../../src/scim/errors.ts';
import { eachDatabase } from '../support/databases.ts';
import { SCIM, startTestApp, userBody, type TestApp } from '../support/app.ts';
import type { LightMyRequestResponse } from 'fastify';

const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const SEARCH_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';

const nested = (levels: number, inner = '1'): string => '['.repeat(levels) + inner + ']'.repeat(levels);

test('jsonTooDeep counts brackets outside strings only, escaped quotes included', () => {
  assert.equal(jsonTooDeep(nested(MAX_JSON_DEPTH), MAX_JSON_DEPTH), false);
  assert.equal(jsonTooDeep(nested(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH), true);
  assert.equal(jsonTooDeep(`{"a":"${'['.repeat(100)}"}`, MAX_JSON_DEPTH), false);
  assert.equal(jsonTooDeep(`["\\"${'{'.repeat(100)}"]`, MAX_JSON_DEPTH), false);
  assert.equal(jsonTooDeep(`["\\\\", ${nested(MAX_JSON_DEPTH)}]`, MAX_JSON_DEPTH), true);
});

test('checkStorableText refuses NUL and unpaired surrogates in values and keys, and accepts surrogate pairs', () => {
  checkStorableText({ userName: '😀 ok', emails: [{ value: 'a@example.com' }] }, 'The request body');
  for (const bad of [{ userName: 'a\u0000b' }, { emails: [{ value: '\ud800' }] }, { 'x\udc00': 1 }, ['ok', '\udfffz']]) {
    assert.throws(() => checkStorableText(bad, 'The request body'), (error: unknown) => error instanceof ScimError && error.status === 400 && error.scimType === 'invalidValue');
  }
  assert.throws(() => checkStorableText({ emails: [{ value: 'a\u0000' }] }, 'The request body'), /The request body\.emails\[0\]\.value contains a NUL character/);
});

test('an unknown error still becomes a 500 that says nothing of the internals', () => {
  const error = toScimError(new RangeError('Maximum call stack size exceeded'));
  assert.equal(error.status, 500);
  assert.doesNotMatch(error.message, /stack/);
});

test('firstInvalidUtf8 agrees with the platform\'s UTF-8 validator, and points at the first bad byte', () => {
  assert.equal(firstInvalidUtf8(Buffer.from('René 😀 ✓', 'utf8')), -1);
  assert.equal(firstInvalidUtf8(Buffer.from('René', 'latin1')), 3);
  for (const [bytes, offset] of [[[0x61, 0xc0, 0x80], 1], [[0xe0, 0x80, 0x80], 0], [[0xed, 0xa0, 0x80], 0], [[0xf4, 0x90, 0x80, 0x80], 0], [[0xf5], 0], [[0x61, 0xe2, 0x82], 1], [[0x80], 0]] as const) {
    assert.equal(firstInvalidUtf8(Uint8Array.from(bytes)), offset, bytes.join(','));
  }
  // Short random byte strings biased towards the edges of the ranges that matter.
  let state = 7;
  const next = (): number => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 8;
  const edges = [0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff];
  for (let round = 0; round < 20_000; round += 1) {
    const bytes = Buffer.from(Array.from({ length: 1 + (next() % 6) }, () => edges[next() % edges.length] ?? 0));
    const offset = firstInvalidUtf8(bytes);
    assert.equal(offset === -1, isUtf8(bytes), bytes.toString('hex'));
    if (offset !== -1) assert.ok(isUtf8(bytes.subarray(0, offset)), `${bytes.toString('hex')}: everything before ${offset} is UTF-8`);
  }
});

test('routedPath reads a URL as the router does, so that every spelling of a path belongs to the same API', () => {
  for (const url of ['/api/scim/v2/Users', '//api/scim/v2/Users', '///api//scim/v2/Users/', '/%61pi/scim/v2/Users?x=/api/', 'http://roster.test/api/scim/v2/Users/%E0%A4%A', '/api/scim/v2']) {
    assert.equal(apiOfPath(routedPath(url)), 'scim', url);
  }
  for (const url of ['//api/v2/users-management/users?q=%00', '/api', '/api/scim/v2x/Users']) assert.equal(apiOfPath(routedPath(url)), 'admin', url);
  for (const url of ['/saml/metadata', '//healthz', '/api%2Fscim/v2/Users', '/?/api/scim/v2', '/apis/x', '/%FF/api/scim/v2']) assert.equal(apiOfPath(routedPath(url)), 'other', url);
});

test('the default body limit holds the largest real request: a 100 000-member group PUT, compact or pretty-printed', () => {
  // Okta's group push sends every member as {"value", "display"}; a client that reads a group and
  // writes it back sends Roster's own representation, which adds "type". 100 000 members is the
  // largest group docs/performance.md measures.
  const id = '01a22c42-f0e8-73e5-b689-e3a4a1f0f1bd';
  const display = 'firstname.lastname-with-a-long-name@subsidiary.example.com'.padEnd(60, 'x');
  const members = Array.from({ length: 100_000 }, () => ({ value: id, display, type: 'User' }));
  const group = { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], id, displayName: 'Everyone', members };
  assert.ok(Buffer.byteLength(JSON.stringify(group)) < DEFAULT_BODY_LIMIT);
  assert.ok(Buffer.byteLength(JSON.stringify(group, null, 2)) < DEFAULT_BODY_LIMIT);
  assert.ok(DEFAULT_BODY_LIMIT <= 32 * 1024 * 1024, 'sized from the request, not generous by default');
});

eachDatabase('request parsing limits', (database) => {
  let roster: TestApp;
  before(async () => {
    roster = await startTestApp({ database });
  });
  after(async () => {
    await roster.close();
  });

  function assertScimError(response: { status: number; body: any }, status: number, scimType?: string): void {
    assert.equal(response.status, status, JSON.stringify(response.body));
    assert.deepEqual(response.body.schemas, [ERROR_SCHEMA]);
    assert.equal(response.body.status, String(status));
    assert.equal(typeof response.body.detail, 'string');
    if (scimType !== undefined) assert.equal(response.body.scimType, scimType);
  }

  test('a JSON body nested 10 000 levels deep is 400 invalidSyntax (it was a 500: stack overflow)', async () => {
    const deep = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000);
    const user = (await roster.request('POST', '/Users', userBody('deep@example.com'))).body;
    const patch = await roster.request('PATCH', `/Users/${user.id}`, `{"schemas":["${PATCH_OP}"],"Operations":[{"op":${deep}}]}`);
    assertScimError(patch, 400, 'invalidSyntax');
    assert.match(patch.body.detail, /more than 32 levels/);
    const api = await roster.request('POST', '/api/v2/authorizations/groups', deep, { 'content-type': 'application/json' });
    assert.equal(api.status, 400);
    assert.match(api.body.message, /more than 32 levels/);
  });

  test('a body at the nesting limit, with brackets in its strings, is still accepted', async () => {
    const body = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"[[[{{{@example.com","urn:example:unknown":${nested(MAX_JSON_DEPTH - 1)}}`;
    const response = await roster.request('POST', '/Users', body);
    assert.equal(response.status, 201, JSON.stringify(response.body));
    assert.equal(response.body.userName, '[[[{{{@example.com');
  });

  test('NUL characters and unpaired surrogates in a body, a filter or an id are 400 invalidValue (they were 500s on PostgreSQL)', async () => {
    assertScimError(await roster.request('POST', '/Users', userBody('a\u0000b@example.com')), 400, 'invalidValue');
    assertScimError(await roster.request('POST', '/Users', '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"lone\\ud800"}'), 400, 'invalidValue');
    assertScimError(await roster.request('GET', `/Users?filter=${encodeURIComponent('userName eq "\u0000"')}`), 400, 'invalidValue');
    assertScimError(await roster.request('POST', '/Groups/.search', { schemas: [SEARCH_REQUEST], filter: 'displayName eq "\\u0000"' }), 400, 'invalidFilter');
    assertScimError(await roster.request('GET', '/Users/x%00y'), 400, 'invalidValue');
    assertScimError(await roster.request('DELETE', '/Groups/%00'), 400, 'invalidValue');
    const api = await roster.request('GET', '/api/v2/authorizations/groups/x%00y');
    assert.equal(api.status, 400);
    assert.match(api.body.message, /The id in the URL contains a NUL character/);
    const lookup = await roster.request('GET', `/Users?filter=${encodeURIComponent('userName sw "a"')}`);
    assert.equal(lookup.body.totalResults, 0, 'nothing was stored');
  });

  test('a surrogate pair (an emoji) is stored and read back exactly', async () => {
    const created = await roster.request('POST', '/Users', userBody('emoji-😀@example.com', { displayName: '😀 Smile' }));
    assert.equal(created.status, 201);
    const read = await roster.request('GET', `/Users/${created.body.id}`);
    assert.equal(read.body.displayName, '😀 Smile');
  });

  test('an error that quotes a megabyte of input stays short and says how long the input was', async () => {
    const scim = await roster.request('GET', `/Users?attributes=${'a'.repeat(20_000)}`);
    assertScimError(scim, 400, 'invalidValue');
    assert.ok(scim.body.detail.length <= 1000, scim.body.detail);
    assert.match(scim.body.detail, /^attributes: "a{79}…\(20002 characters\) is not an attribute path/);
    const api = await roster.request('POST', '/api/v2/users-management/users', { login: 'x'.repeat(1024 * 1024), name: 'Big' }, { 'content-type': 'application/json' });
    assert.equal(api.status, 400);
    assert.match(api.body.message, /^Value x{80}…\(1048576 characters\) for field login was rejected/);
  });

  test('a malformed percent-encoding or an over-long id answers in the error shape of its API', async () => {
    assertScimError(await roster.request('GET', `${SCIM}/Users/%E0%A4%A`), 400, 'invalidSyntax');
    const long = await roster.request('GET', `${SCIM}/Groups/${'a'.repeat(600)}`);
    assertScimError(long, 414);
    assert.match(long.body.detail, /longer than the 500 characters/);
    const api = await roster.request('GET', '/api/v2/users-management/users/%FF');
    assert.equal(api.status, 400);
    assert.match(api.body.message, /malformed percent-encoding/);
  });

  /** Sends exactly what it is given (URL spelling, bytes, headers) with the token; parses a JSON answer. */
  async function send(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; body: any; raw: LightMyRequestResponse }> {
    const raw = await roster.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${roster.token}`, ...(payload !== undefined ? { 'content-type': 'application/scim+json' } : {}), ...headers },
      ...(payload !== undefined ? { payload } : {}),
    });
    let body: unknown;
    try {
      body = raw.body === '' ? undefined : JSON.parse(raw.body);
    } catch {
      body = raw.body;
    }
    return { status: raw.statusCode, body, raw };
  }

  async function countUsers(prefix: string): Promise<number> {
    return (await roster.request('GET', `/Users?filter=${encodeURIComponent(`userName sw "${prefix}"`)}`)).body.totalResults;
  }

  test('a NUL in a query or a body is refused whatever the spelling of the URL (it listed everyone, or was stored, through //api/...)', async () => {
    for (const path of ['//api/v2/users-management/users', '///api/v2/users-management/users', '/api//v2/users-management/users', '/api/v2/users-management//users', '/%61pi/v2/users-management/users']) {
      const listed = await send('GET', `${path}?q=%00`);
      assert.equal(listed.status, 400, `${path}: ${JSON.stringify(listed.body).slice(0, 200)}`);
      assert.match(listed.body.message, /Query parameter q contains a NUL character/);
    }
    for (const path of ['//api/scim/v2/Users', '///api/scim/v2/Users', '/api//scim/v2/Users', '/api/scim/v2//Users', '/api/%73cim/v2/Users', '/%61pi/scim/v2/%55sers']) {
      assertScimError(await send('POST', path, JSON.stringify(userBody('spelled-\u0000@example.com'))), 400, 'invalidValue');
      assertScimError(await send('GET', `${path}?filter=${encodeURIComponent('userName eq "\u0000"')}`), 400, 'invalidValue');
      assertScimError(await send('GET', `${path}/x%00y`), 400, 'invalidValue');
    }
    assert.equal(await countUsers('spelled-'), 0, 'nothing was stored');
  });

  test('a malformed URL, an over-long id or an unknown path under the SCIM endpoint answers in the SCIM error shape, whatever the spelling', async () => {
    assertScimError(await send('GET', '//api/scim/v2/Users/%E0%A4%A'), 400, 'invalidSyntax');
    assertScimError(await send('GET', '/%61pi/scim/v2/Users/%FF'), 400, 'invalidSyntax');
    assertScimError(await send('GET', `/api//scim/v2/Groups/${'a'.repeat(600)}`), 414);
    assertScimError(await send('GET', '//api/scim/v2/Nope'), 404);
    assertScimError(await send('GET', '/api/scim//v2/Nope'), 404);
    const api = await send('GET', '//api/v2/users-management/users/%FF');
    assert.equal(api.status, 400);
    assert.match(api.body.message, /malformed percent-encoding/);
    const unknown = await send('GET', `//nowhere/${'x'.repeat(5000)}`);
    assert.equal(unknown.status, 404);
    assert.ok(unknown.body.message.length <= 1000, 'a 404 does not echo kilobytes of URL');
  });

  test('//api/scim/v2/Users still needs a token', async () => {
    const response = await roster.app.inject({ method: 'GET', url: '//api/scim/v2/Users' });
    assert.equal(response.statusCode, 401);
  });

  test(`a body one byte over the ${DEFAULT_BODY_LIMIT / 1024 / 1024} MiB limit is 413 in the API's error shape; one at the limit is accepted`, async () => {
    const padded = (json: string, size: number): string => json + ' '.repeat(size - Buffer.byteLength(json));
    const user = JSON.stringify(userBody('at-the-limit@example.com'));
    const atLimit = await send('POST', `${SCIM}/Users`, padded(user, DEFAULT_BODY_LIMIT));
    assert.equal(atLimit.status, 201, JSON.stringify(atLimit.body).slice(0, 300));
    const over = await send('POST', `${SCIM}/Users`, padded(JSON.stringify(userBody('over-the-limit@example.com')), DEFAULT_BODY_LIMIT + 1));
    assertScimError(over, 413);
    assert.match(over.body.detail, /larger than the 20 MiB Roster accepts/);
    assert.equal(await countUsers('over-the-limit'), 0);
    const group = JSON.stringify({ name: 'Big' });
    const apiAtLimit = await send('POST', '/api/v2/authorizations/groups', padded(group, DEFAULT_BODY_LIMIT), { 'content-type': 'application/json' });
    assert.match(apiAtLimit.body.message, /externally managed/, 'parsed, then refused for what it asks');
    const apiOver = await send('POST', '/api/v2/authorizations/groups', padded(group, DEFAULT_BODY_LIMIT + 1), { 'content-type': 'application/json' });
    assert.equal(apiOver.status, 413);
    assert.match(apiOver.body.message, /larger than the 20 MiB Roster accepts/);
  });

  test('a body that is not UTF-8 (René in ISO-8859-1) is 400 invalidSyntax and nothing is stored (it was stored as Ren\\uFFFD)', async () => {
    const latin1 = Buffer.from(JSON.stringify(userBody('René-latin1@example.com')), 'latin1');
    const scim = await send('POST', `${SCIM}/Users`, latin1);
    assertScimError(scim, 400, 'invalidSyntax');
    assert.match(scim.body.detail, /not valid UTF-8: byte 0xE9 at offset 73/);
    const surrogate = Buffer.concat([Buffer.from('{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"Ren-surrogate'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]);
    assertScimError(await send('POST', `${SCIM}/Users`, surrogate), 400, 'invalidSyntax');
    const truncated = Buffer.concat([Buffer.from('{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"Ren-truncated'), Buffer.from([0xc3])]);
    assertScimError(await send('POST', `${SCIM}/Users`, truncated), 400, 'invalidSyntax');
    assert.equal(await countUsers('Ren'), 0);
    const api = await send('POST', '/api/v2/authorizations/groups', Buffer.from('{"name":"René"}', 'latin1'), { 'content-type': 'application/json' });
    assert.equal(api.status, 400);
    assert.match(api.body.message, /not valid UTF-8/);
  });

  test('a declared charset other than UTF-8 is 415 in the error shape of its API', async () => {
    const body = JSON.stringify(userBody('charset@example.com'));
    for (const contentType of ['application/scim+json; charset=ISO-8859-1', 'application/json; charset=latin1', 'application/scim+json; charset=utf-16', 'application/scim+json; charset="windows-1252"']) {
      const response = await send('POST', `${SCIM}/Users`, body, { 'content-type': contentType });
      assertScimError(response, 415);
      assert.match(response.body.detail, /UTF-8/);
    }
    const api = await send('POST', '/api/v2/authorizations/groups', '{"name":"x"}', { 'content-type': 'application/json; charset=iso-8859-1' });
    assert.equal(api.status, 415);
    assert.match(api.body.message, /UTF-8/);
    assert.equal(await countUsers('charset'), 0);
  });

  test('a JSON body sent as text/plain is 415 like any other type that is not JSON, in SCIM and the admin API', async () => {
    const user = JSON.stringify(userBody('plain@example.com'));
    for (const contentType of ['text/plain', 'text/plain; charset=utf-8', 'application/xml']) {
      for (const [method, url] of [['POST', `${SCIM}/Users`], ['POST', `${SCIM}/Users/.search`], ['POST', `${SCIM}/Bulk`]] as const) {
        const response = await send(method, url, user, { 'content-type': contentType });
        assertScimError(response, 415);
        assert.equal(response.body.detail, 'Send request bodies as application/scim+json or application/json.', `${contentType} ${url}`);
      }
      const api = await send('POST', '/api/v2/authorizations/groups', '{"name":"Plain"}', { 'content-type': contentType });
      assert.equal(api.status, 415, contentType);
      assert.equal(api.body.message, 'Send request bodies as application/json (PATCH: application/merge-patch+json).');
    }
    assert.equal(await countUsers('plain'), 0);
  });

  test('a body in a content coding (gzip, an unknown one) is 415 naming it, in the shape of each API; identity is read as it is', async () => {
    const json = JSON.stringify(userBody('coded@example.com'));
    const refused = (response: { raw: LightMyRequestResponse }, coding: string) => {
      assert.equal(response.raw.statusCode, 415, response.raw.body);
      assert.equal(response.raw.headers['accept-encoding'], 'identity', 'RFC 9110 §15.5.16: what the request may use');
      assert.equal(response.raw.headers.connection, 'close', 'the unread body is not read');
      assert.ok(response.raw.body.includes(`Content-Encoding: ${coding}`), response.raw.body);
    };
    // It read the gzip bytes as JSON text: 400 "not valid UTF-8: byte 0x8B at offset 1".
    const gzip = await send('POST', `${SCIM}/Users`, gzipSync(json), { 'content-encoding': 'gzip' });
    assertScimError(gzip, 415);
    assert.equal(gzip.body.scimType, undefined, 'RFC 7644 has no scimType for it');
    refused(gzip, 'gzip');
    // It took plain JSON labelled with a coding as if it had none: 201.
    for (const coding of ['x-foo', 'GZIP', 'identity, br']) {
      const labelled = await send('POST', `${SCIM}/Users`, json, { 'content-encoding': coding });
      assertScimError(labelled, 415);
      refused(labelled, coding.toLowerCase().replace('identity, ', ''));
    }
    const user = (await roster.request('POST', '/Users', userBody('coded-patch@example.com'))).body;
    const patch = await send('PATCH', `${SCIM}/Users/${user.id}`, gzipSync(JSON.stringify({ schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'x' }] })), { 'content-encoding': 'deflate' });
    assertScimError(patch, 415);
    assert.equal(await countUsers('coded@'), 0);
    const api = await send('POST', '/api/v2/authorizations/groups', gzipSync('{"name":"coded"}'), { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    refused(api, 'gzip');
    assert.deepEqual(Object.keys(api.body), ['message']);
    // The pages answer it as a page, the OpenID provider as an OAuth error: not "accepts only forms".
    const form = { 'content-type': 'application/x-www-form-urlencoded', 'content-encoding': 'gzip' };
    for (const url of ['/sessions', '/saml/acs', '/oidc/auth']) {
      const page = await send('POST', url, gzipSync('a=b'), { ...form, accept: 'text/html' });
      refused(page, 'gzip');
      assert.match(String(page.raw.headers['content-type']), /text\/html/, url);
    }
    const token = await send('POST', '/oidc/token', gzipSync('grant_type=client_credentials'), form);
    refused(token, 'gzip');
    assert.equal(token.body.error, 'invalid_request');
    // No coding, or only identity, is the body as it is; a coding on a request without a body is no matter.
    assert.equal((await send('POST', `${SCIM}/Users`, json, { 'content-encoding': 'identity' })).status, 201);
    assert.equal((await send('GET', `${SCIM}/Users/${user.id}`, undefined, { 'content-encoding': 'gzip' })).status, 200);
  });

  test('UTF-8 however the charset is spelled is accepted and stored exactly', async () => {
    const spellings = ['application/scim+json; charset=utf-8', 'application/scim+json;charset=UTF-8', 'application/json; charset="utf-8"', 'application/scim+json; Charset="Utf-8"', 'application/json; charset=utf8', 'application/scim+json'];
    for (const [index, contentType] of spellings.entries()) {
      const created = await send('POST', `${SCIM}/Users`, Buffer.from(JSON.stringify(userBody(`rené-${index}@example.com`, { displayName: 'René Ærø 😀' })), 'utf8'), { 'content-type': contentType });
      assert.equal(created.status, 201, `${contentType}: ${JSON.stringify(created.body)}`);
      const read = await roster.request('GET', `/Users/${created.body.id}`);
      assert.equal(read.body.userName, `rené-${index}@example.com`);
      assert.equal(read.body.displayName, 'René Ærø 😀');
    }
  });

  test('every response says X-Content-Type-Options: nosniff: JSON, errors, 404s, framework errors and the SAML metadata', async () => {
    const responses: Array<[string, LightMyRequestResponse]> = [
      ['healthz', (await send('GET', '/healthz')).raw],
      ['SCIM list', (await send('GET', `${SCIM}/Users`)).raw],
      ['SCIM 404', (await send('GET', `${SCIM}/Users/nope`)).raw],
      ['SCIM unknown path', (await send('GET', `${SCIM}/Nope`)).raw],
      ['SCIM without a token', await roster.app.inject({ method: 'GET', url: `${SCIM}/Users` })],
      ['SCIM bad JSON', (await send('POST', `${SCIM}/Users`, '{')).raw],
      ['admin API list', (await send('GET', '/api/v2/users-management/users')).raw],
      ['admin API bad URL', (await send('GET', '/api/v2/users-management/users/%FF')).raw],
      ['SCIM bad URL', (await send('GET', `${SCIM}/Users/%FF`)).raw],
      ['root 404', (await send('GET', '/nope')).raw],
      ['SAML metadata', (await send('GET', '/saml/metadata')).raw],
    ];
    for (const [what, response] of responses) assert.equal(response.headers['x-content-type-options'], 'nosniff', `${what} (${response.statusCode})`);
  });
});
