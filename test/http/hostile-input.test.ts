/**
 * Hostile input against every endpoint: whatever a client sends, the answer is below 500, in
 * the endpoint's error shape (RFC 7644 §3.12 for SCIM, `{"message"}` for the admin API), the
 * process stays healthy, and data stored before the barrage reads back unchanged.
 *
 * Inputs are hand-written cases plus a seeded pseudo-random mix (deterministic: a failure
 * reproduces with the same seed; ROSTER_TEST_HOSTILE_SEED and ROSTER_TEST_HOSTILE_ROUNDS run
 * another mix, or a longer one). Requests that could legitimately change data are aimed at
 * "victim" resources; the "sentinel" resources only ever get reads and writes that must be
 * refused (an If-Match that never matches, or a body that is not valid).
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import type { HTTPMethods } from 'fastify';
import { eachDatabase } from '../support/databases.ts';
import { groupBody, SCIM, startTestApp, userBody, type TestApp, SESSION_COOKIE } from '../support/app.ts';

const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const SEARCH_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
const BULK_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
// A deeper run with other requests: ROSTER_TEST_HOSTILE_SEED=7 ROSTER_TEST_HOSTILE_ROUNDS=150.
const SEED = Number(process.env.ROSTER_TEST_HOSTILE_SEED ?? 20240601);
const ROUNDS = Number(process.env.ROSTER_TEST_HOSTILE_ROUNDS ?? 25);

/** mulberry32: a tiny seeded generator, so every run sends the same requests. */
function generator(seed: number) {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number): number => Math.floor(next() * n),
    pick<T>(items: readonly T[]): T {
      return items[Math.floor(next() * items.length)] as T;
    },
    chance: (p: number): boolean => next() < p,
  };
}
type Random = ReturnType<typeof generator>;

const MEGABYTE = 'x'.repeat(1024 * 1024);
const deepArray = (n: number): string => '['.repeat(n) + ']'.repeat(n);
const deepObject = (n: number): string => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
const json = (value: unknown): string => JSON.stringify(value);

// Raw JSON texts: values JSON.stringify cannot write (1e400, lone surrogates, duplicate keys).
const LEAVES: readonly string[] = [
  'null', 'true', 'false', '0', '-1', '1.5', '1e400', '-1e400', '9007199254740993', '1e9', '-0',
  '"NaN"', '"Infinity"', '"-1"', '"1e9"', '""', '" "', '"true"', '"True"', '"\\u0000"', '"a\\u0000b"',
  '"\\ud800"', '"x\\udfffy"', '"\\ud83d\\ude00"', '"__proto__"', '"constructor"', '"userName;DROP TABLE users"',
  `"' OR 1=1 --"`, '"%_\\\\"', '"\\u202eevil"', '"<script>alert(1)</script>"', '"2024-13-45T99:99:99Z"',
  json('y'.repeat(70_000)), '"../../etc/passwd"', '"urn:ietf:params:scim:schemas:core:2.0:User"',
];
const KEYS: readonly string[] = [
  'schemas', 'userName', 'displayName', 'name', 'givenName', 'emails', 'value', 'type', 'primary', 'active',
  'members', 'externalId', 'id', 'meta', 'groups', 'password', 'op', 'path', 'Operations', 'filter', 'count',
  'startIndex', 'sortBy', 'attributes', 'login', 'email', 'description', 'local', 'groupId', 'userId',
  'confirm', '__proto__', 'constructor', 'prototype', ENTERPRISE, 'manager', '', '\u0000', 'a'.repeat(300),
];

/** A random hostile JSON text, nested up to `depth` levels. */
function hostile(random: Random, depth = 3): string {
  const roll = random.next();
  if (depth <= 0 || roll < 0.55) return random.pick(LEAVES);
  if (roll < 0.7) return `[${Array.from({ length: random.int(4) }, () => hostile(random, depth - 1)).join(',')}]`;
  if (roll < 0.72) return random.chance(0.5) ? deepArray(10_000) : deepObject(10_000);
  const entries = Array.from({ length: 1 + random.int(4) }, () => `${json(random.pick(KEYS))}:${hostile(random, depth - 1)}`);
  return `{${entries.join(',')}}`;
}

/** An object text from [key, raw JSON text] pairs (duplicate keys allowed). */
const object = (entries: ReadonlyArray<readonly [string, string]>): string => `{${entries.map(([k, v]) => `${json(k)}:${v}`).join(',')}}`;

const PATHS: readonly string[] = [
  'userName', 'active', 'displayName', 'name.givenName', 'emails', 'emails[type eq "work"].value', 'emails[type eq "work"]',
  'members', 'members[value eq "x"]', 'members[display eq "x"]', 'members.value', 'members[value eq "x"].display',
  `${ENTERPRISE}:manager`, ENTERPRISE, 'meta.version', 'id', 'groups', 'emails[', '((((', 'a'.repeat(10_001), 'x[y eq 1].z',
  '"quoted"', 'urn:', 'emails[value co "\\u0000"]', 'emails[type eq "\\ud800"].value', 'name[givenName eq "x"]',
  'emails[type eq "work" and value pr].primary', '__proto__', 'constructor.prototype', 'emails[not(type eq "x")]',
];

/** A PATCH body with some fields right and the rest hostile. */
function patchBody(random: Random): string {
  const operation = (): string => {
    const entries: Array<readonly [string, string]> = [];
    entries.push(['op', random.chance(0.6) ? json(random.pick(['add', 'replace', 'remove', 'Add', 'REMOVE'])) : hostile(random, 1)]);
    if (random.chance(0.85)) entries.push(['path', random.chance(0.7) ? json(random.pick(PATHS)) : hostile(random, 1)]);
    if (random.chance(0.85)) entries.push(['value', hostile(random)]);
    if (random.chance(0.1)) entries.push(['op', hostile(random, 1)]);
    return object(entries);
  };
  const operations = random.chance(0.85) ? `[${Array.from({ length: 1 + random.int(3) }, operation).join(',')}]` : hostile(random);
  return object([
    ['schemas', random.chance(0.8) ? json([PATCH_OP]) : hostile(random, 1)],
    ['Operations', operations],
  ]);
}

/** A resource body (POST/PUT) with some attributes hostile. */
function resourceBody(random: Random, schema: string, nameKey: string): string {
  const entries: Array<readonly [string, string]> = [['schemas', random.chance(0.8) ? json([schema]) : hostile(random, 1)]];
  entries.push([nameKey, random.chance(0.5) ? json(`hostile-${random.int(1e9)}`) : hostile(random, 1)]);
  for (let i = random.int(4); i > 0; i -= 1) entries.push([random.pick(KEYS), hostile(random)]);
  return object(entries);
}

/**
 * A Bulk body: operations of every method with bulkId references, some parts hostile. Writes
 * reach the victims and the resources the request creates; a sentinel only with a version that
 * never matches. DELETE spares the victims, which the other requests keep exercising.
 */
function bulkBody(random: Random, resource: 'Users' | 'Groups', schema: string, nameKey: string, victimId: string, sentinelId: string): string {
  if (random.chance(0.1)) {
    return random.pick([deepArray(10_000), '[]', 'null', '{}', '{"Operations":{}}', `{"Operations":[${hostile(random)}]}`, `{"failOnErrors":${hostile(random, 1)},"Operations":[]}`]);
  }
  const count = 1 + random.int(6);
  const bulkIds = Array.from({ length: count }, (_unused, index) => `b${index}`);
  const reference = () => json(`bulkId:${random.pick(bulkIds)}`);
  const operation = (index: number): string => {
    const method = random.chance(0.92) ? random.pick(['POST', 'POST', 'PUT', 'PATCH', 'DELETE', 'post'] as const) : undefined;
    const entries: Array<readonly [string, string]> = [['method', method !== undefined ? json(method) : hostile(random, 1)]];
    if (random.chance(0.8)) entries.push(['bulkId', random.chance(0.97) ? json(bulkIds[index]) : hostile(random, 1)]);
    const targets = [`/${resource}/bulkId:${random.pick(bulkIds)}`, `/${resource}/${random.pick(IDS)}`, `/${resource}/${sentinelId}`, ...(method === 'DELETE' ? [] : [`/${resource}/${victimId}`])];
    const path = method === 'POST' || method === 'post' ? random.pick([`/${resource}`, `/${resource}`, `/${resource}`, resource.toLowerCase(), `/${resource}/x`]) : random.pick(targets);
    entries.push(['path', random.chance(0.95) ? json(path) : hostile(random, 1)]);
    if (path.endsWith(sentinelId)) entries.push(['version', json(random.pick(IF_MATCH))]);
    else if (random.chance(0.2)) entries.push(['version', hostile(random, 1)]);
    if (method === 'PATCH') {
      entries.push(['data', random.chance(0.5) ? patchBody(random) : object([['Operations', `[${object([['op', json('add')], ['path', json(random.pick(['members', `${ENTERPRISE}:manager`, 'members[value eq "bulkId:b0"]']))], ['value', `[{"value":${reference()}}]`]])}]`]])]);
    } else if (method !== 'DELETE' && random.chance(0.95)) {
      // Half of them valid, so that references resolve and later operations use what earlier ones made.
      const body = random.chance(0.6) ? object([['schemas', json([schema])], [nameKey, json(`bulk-${random.int(1e9)}`)]]) : resourceBody(random, schema, nameKey);
      const withReference = random.chance(0.5) ? `${body.slice(0, -1)},${json(random.pick(['members', 'manager']))}:[{"value":${reference()}}]}` : body;
      entries.push(['data', random.chance(0.95) ? withReference : hostile(random, 2)]);
    }
    return object(entries);
  };
  const envelope: Array<readonly [string, string]> = [['schemas', random.chance(0.9) ? json([BULK_REQUEST]) : hostile(random, 1)]];
  if (random.chance(0.3)) envelope.push(['failOnErrors', random.chance(0.7) ? json(1 + random.int(3)) : hostile(random, 1)]);
  envelope.push(['Operations', `[${Array.from({ length: count }, (_unused, index) => operation(index)).join(',')}]`]);
  return object(envelope);
}

const FILTERS: readonly string[] = [
  'userName eq "x"', `userName eq "' OR 1=1 --"`, 'userName eq "x"; DROP TABLE users; --', 'userName co "%_\\\\"',
  'userName eq "\u0000"', 'userName eq "\\u0000"', 'userName\u0000eq "x"', 'userName eq "\\ud800"', 'userName eq "😀"',
  'displayName sw "O\'Brien"', 'userName gt 1e400', 'userName eq 1e400', 'meta.lastModified gt "garbage"', 'meta.created eq 1',
  'emails[value co "@"]', 'emails[type eq "work"].value eq "x"', 'members[value eq "x"]', 'members.value eq "x"', 'groups.value eq "x"',
  'not (userName pr)', `${USER_SCHEMA}:userName eq "x"`, 'active eq "true"', 'active eq 1', 'userName eq true', 'id eq 5',
  'x eq "y"', 'userName[value eq "x"]', '(userName eq "x"', 'userName eq "x")', 'userName eq', 'eq "x"', 'and or not',
  '('.repeat(10_000) + 'userName pr' + ')'.repeat(10_000), '('.repeat(40) + 'userName pr' + ')'.repeat(40),
  'not ('.repeat(60) + 'userName pr' + ')'.repeat(60), `userName eq "${'z'.repeat(9_980)}"`, `userName eq "${MEGABYTE}"`,
  'userName eq "x" or '.repeat(400) + 'userName pr', 'id pr or '.repeat(1110) + 'id pr', 'id eq""or '.repeat(999) + 'id pr', 'name.familyName eq null', 'userName lt null', 'emails.primary gt true',
  'externalId eq "\\"\\\\"', 'displayName eq "%00"', 'userName eq "\u202e"', 'urn:x:y:z eq "x"', 'emails[type eq "work"][value pr]',
];
const SORT_BY: readonly string[] = [
  'userName;DROP TABLE users', 'userName', 'name.familyName', 'emails', 'emails.value', 'meta.created', 'members', 'urn:x:y',
  'a'.repeat(600), '__proto__', 'userName,displayName', 'userName desc', '"userName"', 'id', 'meta', 'groups', 'x[y eq 1]',
];
const NUMBERS: readonly string[] = ['-1', '0', '1e9', '1000000000', 'abc', '', ' ', '1.5', '0x10', '99999999999999999999', 'NaN', '-0', '+5', '%00', '1,2'];
const ATTRIBUTE_LISTS: readonly string[] = ['userName', 'members', 'emails[type eq "x"]', '', ',,,', 'x.y.z', 'urn:', 'a'.repeat(20_000), 'name.givenName,__proto__', '%00'];

/** A list query string: random parameters, sometimes repeated. */
function listQuery(random: Random): string {
  const parameters: string[] = [];
  const add = (name: string, value: string) => parameters.push(`${name}=${encodeURIComponent(value)}`);
  for (let i = 1 + random.int(4); i > 0; i -= 1) {
    switch (random.int(7)) {
      case 0: add('filter', random.pick(FILTERS)); break;
      case 1: add('sortBy', random.pick(SORT_BY)); break;
      case 2: add('sortOrder', random.pick(['descending', 'up', '', '1', 'ASCENDING'])); break;
      case 3: add('startIndex', random.pick(NUMBERS)); break;
      case 4: add('count', random.pick(NUMBERS)); break;
      case 5: add('attributes', random.pick(ATTRIBUTE_LISTS)); break;
      default: add('excludedAttributes', random.pick(ATTRIBUTE_LISTS)); break;
    }
  }
  if (random.chance(0.15)) parameters.push('filter=%ZZ', 'count=%E0%A4%A');
  return parameters.join('&');
}

/** A search body: the list parameters as JSON values of every type. */
function searchBody(random: Random): string {
  const entries: Array<readonly [string, string]> = [];
  // Mostly a valid SearchRequest, so that the parameters behind `schemas` get exercised too.
  if (random.chance(0.9)) entries.push(['schemas', random.chance(0.9) ? json([SEARCH_REQUEST]) : hostile(random, 2)]);
  for (const name of ['filter', 'sortBy', 'sortOrder', 'startIndex', 'count', 'attributes', 'excludedAttributes']) {
    if (!random.chance(0.5)) continue;
    const plausible = name === 'filter' ? random.pick(FILTERS) : name === 'sortBy' ? random.pick(SORT_BY) : random.pick(NUMBERS);
    entries.push([name, random.chance(0.5) ? json(plausible) : hostile(random, 2)]);
  }
  if (random.chance(0.2)) entries.push(['filter', json(random.pick(FILTERS))]);
  return object(entries);
}

// Path segments, already encoded for the URL.
const IDS: readonly string[] = [
  'a'.repeat(300), 'a'.repeat(600), '%2F..%2F..%2Fetc%2Fpasswd', '..', '.', '%2E%2E', '%00', 'x%00y', '%ED%A0%80', '%E0%A4%A', '%FF',
  'null', 'undefined', '__proto__', 'constructor', "1'%20OR%20'1'%3D'1", encodeURIComponent('😀'), '-1', '0', '%20', '%0A', 'x;y',
  encodeURIComponent('\u202e'), '%25', 'Users', '.search',
];
const IF_MATCH: readonly string[] = ['garbage', 'W/"abc"', '"', ',,,', 'W/', 'W/"-1"', `"${'9'.repeat(400)}"`, '"x", W/"y"', 'W/"1e400"'];
const CONTENT_TYPES: readonly string[] = [
  'text/plain', 'application/json; charset=latin1', 'application/scim+json; charset=utf-16', 'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x', 'application/json;;;', 'application/xml', 'application/scim+json; charset=utf-8; x=y',
  'APPLICATION/JSON', 'application/merge-patch+json',
];

type Kind = 'scim' | 'api' | 'html';

interface Sent {
  readonly method: HTTPMethods;
  readonly url: string;
  readonly payload?: string;
  readonly headers?: Record<string, string>;
}

eachDatabase('hostile input', (database) => {
  let roster: TestApp;
  let unmanaged: TestApp;
  const problems: string[] = [];
  const sentinel: { user?: string; user2?: string; group?: string; userInternal?: string; groupInternal?: string } = {};
  const victim: { user?: string; group?: string } = {};
  const before_: { user?: unknown; user2?: unknown; group?: unknown; apiUser?: unknown; apiGroup?: unknown } = {};

  /** Sends a request and records anything that breaks the rules for its kind. */
  async function send(roster_: TestApp, kind: Kind, sent: Sent): Promise<void> {
    const headers: Record<string, string> = { authorization: `Bearer ${roster_.token}`, ...sent.headers };
    if (sent.payload !== undefined && headers['content-type'] === undefined) {
      headers['content-type'] = kind === 'scim' ? 'application/scim+json' : 'application/json';
    }
    const response = await roster_.app.inject({
      method: sent.method,
      url: sent.url,
      headers,
      ...(sent.payload !== undefined ? { payload: sent.payload } : {}),
    });
    const what = `${sent.method} ${sent.url.slice(0, 160)} ${(sent.payload ?? '').slice(0, 160)} ${JSON.stringify(sent.headers ?? {}).slice(0, 100)}`;
    const status = response.statusCode;
    // Every SCIM endpoint is implemented now: nothing may answer 5xx.
    const unimplemented = false;
    if (status >= 500 && !unimplemented) {
      problems.push(`${status} for ${what}: ${response.body.slice(0, 300)}`);
      return;
    }
    // A Bulk request answers 200 with one status per operation: each must meet the same rules.
    if (status === 200 && kind === 'scim' && /\/Bulk(\?|$)/.test(sent.url)) {
      for (const entry of JSON.parse(response.body).Operations) {
        const code = Number(entry.status);
        const body = entry.response;
        if (!(code >= 200 && code < 500)) problems.push(`operation status ${entry.status} for ${what}: ${JSON.stringify(entry).slice(0, 300)}`);
        else if (code >= 400 && !(Array.isArray(body?.schemas) && body.schemas.includes(ERROR_SCHEMA) && body.status === entry.status && typeof body.detail === 'string')) {
          problems.push(`operation ${entry.status} not in the RFC 7644 error shape for ${what}: ${JSON.stringify(entry).slice(0, 300)}`);
        }
      }
      return;
    }
    if (status < 400) return;
    // A clear error names the problem; it does not echo a megabyte of the input back.
    if (response.body.length > 4096) problems.push(`${status} with a ${response.body.length}-character error for ${what}: ${response.body.slice(0, 200)}`);
    if (kind === 'html') return;

    let body: any;
    try {
      body = JSON.parse(response.body);
    } catch {
      problems.push(`${status} without a JSON body for ${what}: ${response.body.slice(0, 200)}`);
      return;
    }
    if (kind === 'scim') {
      const shaped = Array.isArray(body?.schemas) && body.schemas.includes(ERROR_SCHEMA) && body.status === String(status) && typeof body.detail === 'string' && body.detail !== '';
      if (!shaped) problems.push(`${status} not in the RFC 7644 error shape for ${what}: ${response.body.slice(0, 200)}`);
    } else if (typeof body?.message !== 'string' || body.message === '') {
      problems.push(`${status} without {"message"} for ${what}: ${response.body.slice(0, 200)}`);
    }
  }

  const scim = (sent: Sent) => send(roster, 'scim', { ...sent, url: SCIM + sent.url });

  before(async () => {
    roster = await startTestApp({ database });
    unmanaged = await startTestApp({ database, scim: false });
    const created = async (path: string, body: unknown): Promise<string> => {
      const response = await roster.request('POST', path, body);
      assert.equal(response.status, 201, JSON.stringify(response.body));
      return response.body.id;
    };
    sentinel.user = await created('/Users', userBody('sentinel@example.com', {
      externalId: 'ext-sentinel',
      name: { givenName: 'Sen', familyName: 'Tinel' },
      emails: [{ value: 'sentinel@example.com', type: 'work', primary: true }],
      active: true,
      [ENTERPRISE]: { employeeNumber: '42', department: 'Security' },
    }));
    sentinel.user2 = await created('/Users', userBody('sentinel-2@example.com', { displayName: 'Second Sentinel' }));
    victim.user = await created('/Users', userBody('victim@example.com', { emails: [{ value: 'victim@example.com', type: 'work' }] }));
    sentinel.group = await created('/Groups', groupBody('Sentinels', [sentinel.user, sentinel.user2]));
    victim.group = await created('/Groups', groupBody('Victims', [victim.user]));
    before_.user = (await roster.request('GET', `/Users/${sentinel.user}`)).body;
    before_.user2 = (await roster.request('GET', `/Users/${sentinel.user2}`)).body;
    before_.group = (await roster.request('GET', `/Groups/${sentinel.group}`)).body;
    const apiUsers = await roster.request('GET', '/api/v2/users-management/users?q=sentinel%40example.com');
    sentinel.userInternal = apiUsers.body.users[0].id;
    const apiGroups = await roster.request('GET', '/api/v2/authorizations/groups?q=Sentinels');
    sentinel.groupInternal = apiGroups.body.groups[0].id;
    before_.apiUser = (await roster.request('GET', `/api/v2/users-management/users/${sentinel.userInternal}`)).body;
    before_.apiGroup = (await roster.request('GET', `/api/v2/authorizations/groups/${sentinel.groupInternal}`)).body;
  });
  beforeEach(() => {
    problems.length = 0;
  });
  after(async () => {
    await roster?.close();
    await unmanaged?.close();
  });

  test('SCIM: hand-written hostile bodies, headers and ids answer below 500 with the RFC 7644 error body', async () => {
    const bodies = [
      deepArray(10_000), deepObject(10_000), `{"schemas":["${USER_SCHEMA}"],"userName":"deep","name":${deepObject(10_000)}}`,
      `{"schemas":["${USER_SCHEMA}"],"userName":${json(MEGABYTE)}}`, `{"schemas":["${USER_SCHEMA}"],"userName":"a\\u0000b"}`,
      `{"schemas":["${USER_SCHEMA}"],"userName":"lone\\ud800"}`, `{"schemas":["${USER_SCHEMA}"],"userName":"dup","userName":"dup2"}`,
      `{"__proto__":{"admin":true},"schemas":["${USER_SCHEMA}"],"userName":"proto"}`, `{"constructor":{"prototype":{"x":1}},"schemas":["${USER_SCHEMA}"],"userName":"ctor"}`,
      '[]', '"string"', '42', 'null', 'true', '{', '{"a":}', '\u0000', '{"a":1}garbage', '\ufeff{}', 'NaN', '{"userName":NaN}',
    ];
    for (const body of bodies) {
      await scim({ method: 'POST', url: '/Users', payload: body });
      await scim({ method: 'POST', url: '/Groups', payload: body });
      await scim({ method: 'POST', url: '/Users/.search', payload: body });
      await scim({ method: 'PUT', url: `/Users/${victim.user}`, payload: body });
      await scim({ method: 'PATCH', url: `/Groups/${victim.group}`, payload: body });
      await scim({ method: 'PUT', url: `/Users/${sentinel.user}`, payload: body, headers: { 'if-match': 'W/"never"' } });
    }
    for (const contentType of CONTENT_TYPES) {
      await scim({ method: 'POST', url: '/Users', payload: json(userBody(`ct-${contentType.length}@example.com`)), headers: { 'content-type': contentType } });
      await scim({ method: 'PATCH', url: `/Users/${sentinel.user}`, payload: 'userName=x', headers: { 'content-type': contentType } });
    }
    for (const method of ['POST', 'PUT', 'PATCH'] as const) {
      const url = method === 'POST' ? '/Users' : `/Users/${victim.user}`;
      await scim({ method, url });
      await scim({ method, url, headers: { 'content-type': 'application/scim+json' } });
      await scim({ method, url, payload: '', headers: { 'content-type': 'application/scim+json' } });
      await scim({ method, url, payload: '{"schemas":[]}', headers: { 'content-length': '3' } });
      await scim({ method, url, payload: '{}', headers: { 'content-length': '9999' } });
    }
    for (const ifMatch of [...IF_MATCH, '*']) {
      const headers = { 'if-match': ifMatch, 'if-none-match': ifMatch };
      await scim({ method: 'GET', url: `/Users/${sentinel.user}`, headers });
      await scim({ method: 'DELETE', url: `/Groups/${victim.group}x`, headers });
      if (ifMatch === '*') continue; // `*` matches: only ever aimed at victims.
      await scim({ method: 'DELETE', url: `/Users/${sentinel.user}`, headers });
      await scim({ method: 'PATCH', url: `/Users/${sentinel.user}`, payload: json({ schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] }), headers });
    }
    for (const id of IDS) {
      for (const endpoint of ['Users', 'Groups', 'Schemas', 'ResourceTypes']) {
        await scim({ method: 'GET', url: `/${endpoint}/${id}` });
      }
      await scim({ method: 'PUT', url: `/Users/${id}`, payload: json(userBody('put-odd-id@example.com')) });
      await scim({ method: 'PATCH', url: `/Groups/${id}`, payload: json({ schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'x' }] }) });
      await scim({ method: 'DELETE', url: `/Users/${id}` });
      await scim({ method: 'DELETE', url: `/Groups/${id}` });
    }
    for (const resource of ['Users', 'Groups']) {
      for (const filter of FILTERS) {
        await scim({ method: 'GET', url: `/${resource}?filter=${encodeURIComponent(filter)}` });
        await scim({ method: 'POST', url: `/${resource}/.search`, payload: json({ schemas: [SEARCH_REQUEST], filter }) });
      }
      for (const sortBy of SORT_BY) await scim({ method: 'GET', url: `/${resource}?sortBy=${encodeURIComponent(sortBy)}&sortOrder=descending` });
      for (const number of NUMBERS) await scim({ method: 'GET', url: `/${resource}?startIndex=${encodeURIComponent(number)}&count=${encodeURIComponent(number)}` });
      for (const list of ATTRIBUTE_LISTS) await scim({ method: 'GET', url: `/${resource}?attributes=${encodeURIComponent(list)}&excludedAttributes=${encodeURIComponent(list)}` });
      await scim({ method: 'GET', url: `/${resource}?filter=userName%20pr&filter=displayName%20pr&count=1&count=2` });
      await scim({ method: 'GET', url: `/${resource}?count=1e9&startIndex=-1` });
      for (const cursor of ['x', '.', 'a.b', '%00', 'W10.W10', '_'.repeat(5000), `${'A'.repeat(60)}.${'A'.repeat(43)}`]) {
        await scim({ method: 'GET', url: `/${resource}?cursor=${encodeURIComponent(cursor)}&count=1` });
      }
      await scim({ method: 'GET', url: `/${resource}?cursor=&cursor=&count=-1` });
    }
    // The search from the root compiles every filter for both resource types.
    for (const filter of FILTERS) await scim({ method: 'POST', url: '/.search', payload: json({ schemas: [SEARCH_REQUEST], filter }) });
    for (const sortBy of SORT_BY) await scim({ method: 'POST', url: '/.search', payload: json({ sortBy, sortOrder: 'descending', cursor: '' }) });
    // Every field of a PATCH operation wrong, one at a time and all together, on the victim group and user.
    const wrongOperations = [
      { op: 'add', value: { 'members[value eq "x"]': [{ value: 'x' }] } },
      { op: 'replace', value: { 'members[value eq "x"].value': 'y' } },
      { op: 'add', value: { 'emails[type eq "work"].value': 'a@example.com', 'members.value': 'x' } },
      { op: 'add', path: 'members', value: [{ value: null }, { value: 1 }, 'x', []] },
      { op: 'remove', path: 'members[display eq "x"]' },
      { op: 'remove', path: 'members[value gt 1e400]' },
      { op: 'replace', path: 'members', value: { value: { value: 'x' } } },
      { op: ['add'], path: ['members'], value: 'x' },
      { op: 'add', path: 'displayName', value: ['a', 'b'] },
      { op: 'replace', path: 'externalId', value: { value: 'x' } },
      { op: 'replace', value: [] },
      { op: 'replace', value: 'displayName' },
      { op: 'remove' },
      { op: 'remove', path: 'displayName' },
      { op: 'remove', path: 'urn:ietf:params:scim:schemas:core:2.0:Group:displayName' },
      { op: 'add', path: 'urn:ietf:params:scim:schemas:core:2.0:Group', value: { displayName: 1 } },
    ];
    for (const operation of wrongOperations) {
      for (const url of [`/Groups/${victim.group}`, `/Users/${victim.user}`]) {
        await scim({ method: 'PATCH', url, payload: json({ schemas: [PATCH_OP], Operations: [operation] }) });
        await scim({ method: 'PATCH', url: `${url}?attributes=members,groups`, payload: json({ schemas: [PATCH_OP], Operations: [operation] }) });
      }
      await scim({ method: 'PATCH', url: `/Groups/${sentinel.group}`, payload: json({ schemas: [PATCH_OP], Operations: [operation] }), headers: { 'if-match': 'W/"never"' } });
    }
    // The same endpoint however its URL is spelled: the router ignores duplicate slashes and decodes the path.
    for (const prefix of ['//api/scim/v2', '///api/scim/v2/', '/api//scim/v2', '/%61pi/scim/v2']) {
      for (const filter of FILTERS) await send(roster, 'scim', { method: 'GET', url: `${prefix}/Users?filter=${encodeURIComponent(filter)}` });
      for (const id of IDS) await send(roster, 'scim', { method: 'GET', url: `${prefix}/Groups/${id}` });
      await send(roster, 'scim', { method: 'POST', url: `${prefix}/Users`, payload: `{"schemas":["${USER_SCHEMA}"],"userName":"a\\u0000b"}` });
      await send(roster, 'scim', { method: 'GET', url: `${prefix}/Nope` });
    }
    for (const url of ['/ServiceProviderConfig?filter=x&filter=y', '/Schemas?count=-1&attributes=%00', '/ResourceTypes?filter=%00', '/Bulk', '/.search', '/Me', '/Nope', '/Users/x/y/z', '//Users', '/Users/.search/x']) {
      await scim({ method: 'GET', url });
      await scim({ method: 'POST', url, payload: '{"a":[' });
    }
    assert.deepEqual(problems.slice(0, 25), []);
  });

  test('SCIM: seeded random list queries, searches, creates, replaces and patches answer below 500', async () => {
    const random = generator(SEED);
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const resource of ['Users', 'Groups'] as const) {
        const [schema, nameKey, victimId, sentinelId] = resource === 'Users'
          ? [USER_SCHEMA, 'userName', victim.user, sentinel.user]
          : [GROUP_SCHEMA, 'displayName', victim.group, sentinel.group];
        await scim({ method: 'GET', url: `/${resource}?${listQuery(random)}` });
        await scim({ method: 'POST', url: `/${resource}/.search`, payload: searchBody(random) });
        await scim({ method: 'POST', url: '/.search', payload: searchBody(random) });
        await scim({ method: 'POST', url: `/${resource}?${listQuery(random)}`, payload: resourceBody(random, schema, nameKey) });
        await scim({ method: 'GET', url: `/${resource}/${sentinelId}?${listQuery(random)}` });
        await scim({ method: 'PUT', url: `/${resource}/${victimId}`, payload: resourceBody(random, schema, nameKey) });
        await scim({ method: 'PATCH', url: `/${resource}/${victimId}?${random.chance(0.3) ? listQuery(random) : ''}`, payload: patchBody(random) });
        const ifMatch = { 'if-match': random.pick(IF_MATCH) };
        await scim({ method: 'PATCH', url: `/${resource}/${sentinelId}`, payload: patchBody(random), headers: ifMatch });
        await scim({ method: 'PUT', url: `/${resource}/${sentinelId}`, payload: resourceBody(random, schema, nameKey), headers: ifMatch });
        await scim({ method: 'DELETE', url: `/${resource}/${random.pick(IDS)}` });
        await scim({ method: 'POST', url: '/Bulk', payload: bulkBody(random, resource, schema, nameKey, victimId ?? '', sentinelId ?? '') });
      }
    }
    assert.deepEqual(problems.slice(0, 25), []);
  });

  test('admin API: hostile bodies, queries and ids answer below 500 with {"message"}', async () => {
    const random = generator(SEED + 1);
    const paths = {
      users: '/api/v2/users-management/users',
      groups: '/api/v2/authorizations/groups',
      memberships: '/api/v2/authorizations/group-memberships',
    };
    const apiQuery = (): string => {
      const names = ['pageIndex', 'pageSize', 'q', 'active', 'managed', 'userId', 'groupId', 'sort', 'from', 'to', 'actor', 'targetType', 'targetId', 'confirm'];
      const values = [...NUMBERS, 'true', 'TRUE', '1', ...FILTERS.slice(0, 12), '2024-02-30', '9999-99-99T99:99', 'x'.repeat(5000), '%', '_'];
      return Array.from({ length: 1 + random.int(4) }, () => `${random.pick(names)}=${encodeURIComponent(random.pick(values))}`).join('&');
    };
    const apiBody = (): string => {
      if (random.chance(0.15)) return random.pick([deepArray(10_000), deepObject(10_000), '[]', 'null', '"x"', '{', `{"login":${json(MEGABYTE)}}`]);
      const keys = ['login', 'name', 'email', 'password', 'local', 'active', 'externalId', 'description', 'groupId', 'userId', 'confirm', '__proto__', 'constructor', 'id', 'managed', 'default'];
      const entries = Array.from({ length: 1 + random.int(5) }, () => [random.pick(keys), random.chance(0.3) ? json(`api-${random.int(1e9)}-value`) : hostile(random, 2)] as const);
      return object(entries);
    };
    const apiIds = [...IDS, sentinel.userInternal ?? '', `${sentinel.groupInternal}%00`];
    for (const target of [roster, unmanaged]) {
      const api = (sent: Sent) => send(target, 'api', sent);
      for (let round = 0; round < ROUNDS; round += 1) {
        for (const path of Object.values(paths)) {
          await api({ method: 'GET', url: `${path}?${apiQuery()}` });
          await api({ method: 'POST', url: path, payload: apiBody(), ...(random.chance(0.2) ? { headers: { 'content-type': random.pick(CONTENT_TYPES) } } : {}) });
          const id = random.pick(apiIds);
          await api({ method: 'GET', url: `${path}/${id}` });
          // Never the sentinels: on the unmanaged instance a merge patch may legitimately change them.
          const writable = random.pick(IDS);
          if (path !== paths.memberships) await api({ method: 'PATCH', url: `${path}/${writable}`, payload: apiBody(), headers: { 'content-type': 'application/merge-patch+json' } });
          await api({ method: 'DELETE', url: `${path}/${writable}` });
        }
        await api({ method: 'GET', url: `/api/v2/audit-logs?${apiQuery()}` });
        await api({ method: 'GET', url: `/api/v2/users-management/users/${random.pick(apiIds)}/sign-in-check` });
        await api({ method: 'POST', url: '/api/scim_management/disable', payload: object([['confirm', random.pick(['"true"', '1', '[true]', '{"confirm":true}', 'null', '"yes"'])]]) });
        await api({ method: 'POST', url: `/api/scim_management/disable?confirm=${random.pick(['TRUE', '1', 'yes', '%00', 'true%00'])}` });
        await api({ method: 'PUT', url: '/api/v2/authentication/saml', payload: object([
          ['providerId', hostile(random, 1)], ['loginUrl', hostile(random, 1)], ['certificate', hostile(random, 1)],
          ...(random.chance(0.5) ? [['signRequests', hostile(random, 1)] as const] : []),
        ]) });
      }
      // Users created on the unmanaged instance can then be patched with hostile merge patches.
      const local = await target.request('POST', paths.users, { login: `local-${database}`, name: 'Local', password: 'a-long-password-1', email: 'l@example.com' });
      if (local.status === 200) {
        for (let round = 0; round < ROUNDS; round += 1) {
          await api({ method: 'PATCH', url: `${paths.users}/${local.body.id}`, payload: apiBody(), headers: { 'content-type': 'application/merge-patch+json' } });
        }
      }
      for (const url of ['/api/scim_management/status', '/api/v2/authentication/saml', '/api/v2/audit-logs?pageSize=1e9&pageIndex=-1', '/api/v2/audit-logs?from=a&from=b']) {
        await api({ method: 'GET', url });
      }
      await api({ method: 'POST', url: '/api/scim_management/enable', payload: deepArray(10_000) });
      await send(target, 'api', { method: 'GET', url: '/api/users/current', headers: { cookie: `${SESSION_COOKIE}=%00; ${SESSION_COOKIE}=` + 'x'.repeat(5000) } });
    }
    assert.deepEqual(problems.slice(0, 25), []);
  });

  test('SAML: garbage forms and odd returnTo answer below 500', async () => {
    const random = generator(SEED + 2);
    const html = (sent: Sent) => send(roster, 'html', sent);
    const forms = [
      '', 'SAMLResponse=', 'SAMLResponse=%%%', 'SAMLResponse=not-base64!!', `SAMLResponse=${Buffer.from('<xml').toString('base64')}`,
      `SAMLResponse=${Buffer.from('\u0000\u0001garbage').toString('base64')}`, `SAMLResponse=${encodeURIComponent(Buffer.from(deepArray(5000).replace(/\[/g, '<a>').replace(/\]/g, '</a>')).toString('base64'))}`,
      'SAMLResponse=a&SAMLResponse=b', '__proto__=x&SAMLResponse=AAAA', 'RelayState=%2F%2Fevil.example&SAMLResponse=AAAA', `SAMLResponse=${'A'.repeat(900_000)}`,
      `SAMLResponse=${encodeURIComponent(Buffer.from('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&a;</samlp:Response>').toString('base64'))}`,
      // The XML parser's errors quote what they could not read: here 100,000 characters.
      `SAMLResponse=${encodeURIComponent(Buffer.from(`<r>&${'a'.repeat(100_000)};</r>`).toString('base64'))}`,
      `SAMLResponse=${encodeURIComponent(Buffer.from(`<r></r ${'a'.repeat(100_000)}>`).toString('base64'))}`,
    ];
    for (let i = 0; i < 15; i += 1) forms.push(`SAMLResponse=${encodeURIComponent(Buffer.from(hostile(random)).toString('base64'))}&RelayState=${encodeURIComponent(hostile(random, 1))}`);
    for (const form of forms) {
      await html({ method: 'POST', url: '/saml/acs', payload: form, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    }
    for (const contentType of CONTENT_TYPES) await html({ method: 'POST', url: '/saml/acs', payload: '{"SAMLResponse":1}', headers: { 'content-type': contentType } });
    await html({ method: 'POST', url: '/saml/acs', payload: 'x'.repeat(2 * 1024 * 1024), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    for (const returnTo of ['//evil.example', '/\\evil', 'https://evil.example', '/%00', '/ok%0d%0aSet-Cookie:x', 'javascript:alert(1)', '/' + 'a'.repeat(5000), '%ED%A0%80', '%E0%A4%A', '/ok&returnTo=/other']) {
      await html({ method: 'GET', url: `/saml/login?returnTo=${returnTo}` });
    }
    await html({ method: 'GET', url: '/saml/login?returnTo=/a&returnTo=//evil' });
    await html({ method: 'POST', url: '/saml/logout', headers: { cookie: `${SESSION_COOKIE}=%00\u00ff` } });
    await html({ method: 'GET', url: '/saml/validation', headers: { cookie: `${SESSION_COOKIE}=garbage` } });
    assert.deepEqual(problems.slice(0, 25), []);
  });

  test('afterwards the process is healthy and the sentinel user and group read back identical', async () => {
    assert.equal((await roster.request('GET', '/healthz')).status, 200);
    assert.equal((await unmanaged.request('GET', '/healthz')).status, 200);
    assert.deepEqual((await roster.request('GET', `/Users/${sentinel.user}`)).body, before_.user);
    assert.deepEqual((await roster.request('GET', `/Users/${sentinel.user2}`)).body, before_.user2);
    const group = (await roster.request('GET', `/Groups/${sentinel.group}`)).body;
    assert.deepEqual(group.members.map((member: any) => member.value).sort(), [sentinel.user, sentinel.user2].sort());
    assert.deepEqual(group, before_.group);
    assert.deepEqual((await roster.request('GET', `/api/v2/users-management/users/${sentinel.userInternal}`)).body, before_.apiUser);
    assert.deepEqual((await roster.request('GET', `/api/v2/authorizations/groups/${sentinel.groupInternal}`)).body, before_.apiGroup);
    // Whatever the barrage did manage to store still reads back as valid resources.
    for (const url of ['/Users?count=1000', '/Groups?count=1000', `/Users/${victim.user}`, `/Groups/${victim.group}`]) {
      const response = await roster.request('GET', url);
      assert.ok(response.status === 200 || response.status === 404, `${url}: ${response.status} ${JSON.stringify(response.body).slice(0, 300)}`);
    }
    assert.equal((await roster.request('GET', '/api/v2/audit-logs?pageSize=500')).status, 200);
  });
});
