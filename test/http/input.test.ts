import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { toScimError } from '../../src/http/errors.ts';
import { MAX_JSON_DEPTH, checkStorableText, jsonTooDeep } from '../../src/http/input.ts';
import { ScimError } from '../../src/scim/errors.ts';
import { eachDatabase } from '../support/databases.ts';
import { SCIM, startTestApp, userBody, type TestApp } from '../support/app.ts';

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
});
