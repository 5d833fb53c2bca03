/**
 * Answers that show every member of a group are written while the members are read, a chunk at
 * a time (routes/scim/streamed.ts): what a client receives is exactly the JSON of the whole
 * answer (members in SCIM id order, the projection applied, the ETag of the version the members
 * belong to), sent without a Content-Length. A write while the answer is being read does not
 * change it; a failure after the first bytes cuts the connection rather than end a well-formed body.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { GROUP_SCHEMA, LIST_RESPONSE_SCHEMA } from '../../src/scim/schemas.ts';
import { BASE_URL, SCIM, groupBody, startTestApp, userBody, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { captureLog } from '../support/log-capture.ts';

const CHUNK = 4;
const SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2000];

interface Member {
  readonly value: string;
  readonly display: string;
}

/** What a client gets over a real connection: status, headers, the body as text. */
interface Received {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
}

function send(address: string, token: string, method: string, path: string, body?: unknown): Promise<Received> {
  return new Promise((resolve, reject) => {
    const request = http.request(`${address}${SCIM}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/scim+json' } : {}) },
    });
    request.on('error', reject);
    request.on('response', (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (piece: string) => (text += piece));
      response.on('error', reject);
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text }));
    });
    request.end(body !== undefined ? JSON.stringify(body) : undefined);
  });
}

/** The `members` of a group as JSON.stringify wrote them before: SCIM id order, value, $ref, display, type. */
function membersOf(members: readonly Member[]) {
  return [...members]
    .sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0))
    .map((member) => ({ value: member.value, $ref: `${BASE_URL}${SCIM}/Users/${member.value}`, display: member.display, type: 'User' }));
}

/** The whole representation of a group: `bare` (read with excludedAttributes=members) with its members before meta. */
function fullGroup(bare: Record<string, unknown>, members: readonly Member[]): Record<string, unknown> {
  const { meta, ...rest } = bare;
  return { ...rest, ...(members.length > 0 ? { members: membersOf(members) } : {}), meta };
}

eachDatabase('SCIM answers with every member of a group, written as they are read', (database) => {
  let app: TestApp;
  let address: string;
  const users: Member[] = [];
  const groups = new Map<number, { id: string; members: Member[] }>();

  async function bareGroup(id: string): Promise<Record<string, unknown>> {
    const answer = await send(address, app.token, 'GET', `/Groups/${id}?excludedAttributes=members`);
    assert.equal(answer.status, 200);
    return JSON.parse(answer.text) as Record<string, unknown>;
  }

  /** A streamed answer: chunked, no Content-Length, and exactly `expected` as JSON.stringify writes it. */
  function assertStreamed(answer: Received, expected: unknown, what: string): void {
    assert.equal(answer.status < 300, true, `${what}: ${answer.status} ${answer.text.slice(0, 200)}`);
    assert.equal(answer.headers['content-length'], undefined, `${what}: sent whole, not as it is read`);
    assert.equal(answer.headers['transfer-encoding'], 'chunked', what);
    assert.equal(answer.headers['content-type'], 'application/scim+json; charset=utf-8', what);
    assert.equal(answer.text, JSON.stringify(expected), what);
  }

  before(async () => {
    app = await startTestApp({ database, memberChunk: CHUNK });
    address = await app.app.listen({ port: 0, host: '127.0.0.1' });
    const actor = { kind: 'system' } as const;
    for (let i = 0; i < Math.max(...SIZES); i += 1) {
      const displayName = i % 7 === 0 ? undefined : `Member ${i}`;
      const created = await app.services.users.create({ userName: `member-${i}@example.com`, ...(displayName ? { displayName } : {}) }, actor);
      users.push({ value: created.scimId, display: displayName ?? `member-${i}@example.com` });
    }
    for (const size of SIZES) {
      const members = users.slice(0, size);
      const created = await app.services.groups.create({ displayName: `Size ${size}` }, members.map((member) => member.value), actor);
      groups.set(size, { id: created.scimId, members });
    }
  });
  after(() => app.close());

  test(`GET /Groups/{id} with 0, 1, ${CHUNK - 1}, ${CHUNK}, ${CHUNK + 1} and 2,000 members (chunks of ${CHUNK}) is the whole representation, its ETag the version shown`, async () => {
    for (const size of SIZES) {
      const { id, members } = groups.get(size)!;
      const bare = await bareGroup(id);
      const answer = await send(address, app.token, 'GET', `/Groups/${id}`);
      assertStreamed(answer, fullGroup(bare, members), `${size} members`);
      assert.equal(answer.headers.etag, (bare.meta as { version: string }).version);
    }
  });

  test('projections: attributes=members.display, excludedAttributes=meta, a members value filter on display, excluding some members', async () => {
    for (const size of SIZES) {
      const { id, members } = groups.get(size)!;
      const bare = await bareGroup(id);
      const full = fullGroup(bare, members);
      const shownMembers = (full.members ?? []) as Array<Record<string, string>>;
      const displays = shownMembers.map((member) => ({ display: member.display! }));
      assertStreamed(
        await send(address, app.token, 'GET', `/Groups/${id}?attributes=members.display`),
        { schemas: [GROUP_SCHEMA], id, ...(displays.length > 0 ? { members: displays } : {}) },
        `${size}: attributes=members.display`,
      );
      const { meta: _meta, ...withoutMeta } = full;
      assertStreamed(await send(address, app.token, 'GET', `/Groups/${id}?excludedAttributes=meta`), withoutMeta, `${size}: excludedAttributes=meta`);
      // Not a plain member check (display, sw): every member is read and the filter picks.
      const picked = shownMembers.filter((member) => member.display!.startsWith('Member 1'));
      assertStreamed(
        await send(address, app.token, 'GET', `/Groups/${id}?attributes=${encodeURIComponent('displayName,members[display sw "Member 1"]')}`),
        { schemas: [GROUP_SCHEMA], id, displayName: `Size ${size}`, ...(picked.length > 0 ? { members: picked } : {}) },
        `${size}: members[display sw …]`,
      );
      const first = shownMembers[0]?.value ?? 'nobody';
      const rest = shownMembers.filter((member) => member.value !== first);
      const { members: _members, meta, ...others } = full;
      assertStreamed(
        await send(address, app.token, 'GET', `/Groups/${id}?excludedAttributes=${encodeURIComponent(`members[value eq "${first}"]`)}`),
        { ...others, ...(rest.length > 0 ? { members: rest } : {}), meta },
        `${size}: excluding one member`,
      );
    }
  });

  test('excludedAttributes=members and a member check are answered whole, as before', async () => {
    const { id, members } = groups.get(2000)!;
    const bare = await bareGroup(id);
    const excluded = await send(address, app.token, 'GET', `/Groups/${id}?excludedAttributes=members`);
    assert.equal(excluded.headers['content-length'], String(Buffer.byteLength(excluded.text)));
    assert.equal(excluded.text, JSON.stringify(bare));
    const member = membersOf(members)[17]!;
    const check = await send(address, app.token, 'GET', `/Groups/${id}?attributes=${encodeURIComponent(`members[value eq "${member.value}"]`)}`);
    assert.equal(check.text, JSON.stringify({ schemas: [GROUP_SCHEMA], id, members: [member] }));
  });

  test('GET /Groups, POST /Groups/.search and POST /.search show every group of the page with all its members', async () => {
    const ordered = SIZES.map((size) => groups.get(size)!);
    const expected: Array<Record<string, unknown>> = [];
    for (const group of ordered) expected.push(fullGroup(await bareGroup(group.id), group.members));
    assertStreamed(
      await send(address, app.token, 'GET', '/Groups'),
      { schemas: [LIST_RESPONSE_SCHEMA], totalResults: SIZES.length, startIndex: 1, itemsPerPage: SIZES.length, Resources: expected },
      'GET /Groups',
    );
    assertStreamed(
      await send(address, app.token, 'POST', '/Groups/.search', { schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'], startIndex: 3, count: 2 }),
      { schemas: [LIST_RESPONSE_SCHEMA], totalResults: SIZES.length, startIndex: 3, itemsPerPage: 2, Resources: expected.slice(2, 4) },
      'POST /Groups/.search',
    );
    assertStreamed(
      await send(address, app.token, 'GET', `/Groups?filter=${encodeURIComponent('displayName eq "Nobody"')}`),
      { schemas: [LIST_RESPONSE_SCHEMA], totalResults: 0, startIndex: 1, itemsPerPage: 0, Resources: [] },
      'an empty page',
    );
    // The members of a page are read together, group after group in the order of the page: a
    // page in another order than the groups were created in (the large one amid the others).
    const byNameDescending = SIZES.map((size, index) => ({ name: `Size ${size}`, group: expected[index]! })).sort((a, b) => (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
    assertStreamed(
      await send(address, app.token, 'GET', '/Groups?sortBy=displayName&sortOrder=descending'),
      { schemas: [LIST_RESPONSE_SCHEMA], totalResults: SIZES.length, startIndex: 1, itemsPerPage: SIZES.length, Resources: byNameDescending.map((entry) => entry.group) },
      'GET /Groups sorted by displayName, descending',
    );
    const mixed = await send(address, app.token, 'POST', '/.search', {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'],
      filter: `displayName sw "Size" or id eq "${users[1]!.value}"`,
      sortBy: 'displayName',
      sortOrder: 'descending',
    });
    const mixedResources = (JSON.parse(mixed.text) as { Resources: Array<Record<string, unknown>> }).Resources;
    assert.deepEqual(
      mixedResources.filter((resource) => resource.id !== users[1]!.value),
      byNameDescending.map((entry) => entry.group),
      'POST /.search: the groups in the order of the page, each with all its members',
    );
    assertStreamed(mixed, { schemas: [LIST_RESPONSE_SCHEMA], totalResults: SIZES.length + 1, startIndex: 1, itemsPerPage: SIZES.length + 1, Resources: mixedResources }, 'POST /.search, sorted');
    const big = ordered[ordered.length - 1]!;
    const root = await send(address, app.token, 'POST', '/.search', {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'],
      filter: `id eq "${big.id}" or id eq "${users[0]!.value}"`,
      attributes: ['displayName', 'members'],
    });
    const resources = (JSON.parse(root.text) as { Resources: Array<Record<string, unknown>> }).Resources;
    const group = resources.find((resource) => resource.id === big.id)!;
    assert.deepEqual(group.members, membersOf(big.members));
    assertStreamed(root, { schemas: [LIST_RESPONSE_SCHEMA], totalResults: 2, startIndex: 1, itemsPerPage: 2, Resources: resources }, 'POST /.search');
  });

  test('POST /.search with a member check reads the ids named only, and shows them as GET /Groups/{id} does', async () => {
    const { id, members } = groups.get(2000)!;
    const member = membersOf(members)[5]!;
    const root = await send(address, app.token, 'POST', '/.search', {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'],
      filter: `id eq "${id}"`,
      attributes: [`members[value eq "${member.value}"]`],
    });
    assert.equal(root.text, JSON.stringify({ schemas: [LIST_RESPONSE_SCHEMA], totalResults: 1, startIndex: 1, itemsPerPage: 1, Resources: [{ schemas: [GROUP_SCHEMA], id, members: [member] }] }));
  });

  test('PUT, POST and PATCH ?attributes=members answer with every member, as they are read', async () => {
    const members = users.slice(0, 9);
    const created = await send(address, app.token, 'POST', '/Groups', groupBody('Written', members.map((member) => member.value)));
    const id = (JSON.parse(created.text) as { id: string }).id;
    assertStreamed(created, fullGroup(await bareGroup(id), members), 'POST');
    assert.equal(created.status, 201);
    assert.equal(created.headers.location, `${BASE_URL}${SCIM}/Groups/${id}`);
    const replaced = await send(address, app.token, 'PUT', `/Groups/${id}`, groupBody('Written', members.slice(2).map((member) => member.value)));
    const bare = await bareGroup(id);
    assertStreamed(replaced, fullGroup(bare, members.slice(2)), 'PUT');
    assert.equal(replaced.headers.etag, (bare.meta as { version: string }).version);
    const patched = await send(address, app.token, 'PATCH', `/Groups/${id}?attributes=members`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'add', path: 'members', value: [{ value: members[0]!.value }] }],
    });
    assertStreamed(patched, { schemas: [GROUP_SCHEMA], id, members: membersOf([members[0]!, ...members.slice(2)]) }, 'PATCH');
  });
});

/** A group whose answer is far larger than what the sockets buffer (about 9 MB), so that a client that stops reading stops the server mid-read. */
async function largeGroup(app: TestApp, count: number): Promise<{ id: string; members: Member[] }> {
  const actor = { kind: 'system' } as const;
  const members: Member[] = [];
  for (let i = 0; i < count; i += 1) {
    const display = `${'Long name '.repeat(600)}${i}`;
    const created = await app.services.users.create(userBody(`large-${i}@example.com`, { displayName: display }), actor);
    members.push({ value: created.scimId, display });
  }
  const group = await app.services.groups.create({ displayName: 'Large' }, members.map((member) => member.value), actor);
  return { id: group.scimId, members };
}

/** Starts a GET, and resolves once its first bytes arrived, with the response paused: the server then stops at full buffers. */
function startReading(address: string, token: string, path: string): Promise<{ response: http.IncomingMessage; first: string; rest(): Promise<{ text: string; complete: boolean }> }> {
  return new Promise((resolve, reject) => {
    const request = http.get(`${address}${SCIM}${path}`, { headers: { authorization: `Bearer ${token}` } });
    request.on('error', reject);
    request.on('response', (response) => {
      response.setEncoding('utf8');
      response.once('data', (first: string) => {
        response.pause();
        resolve({
          response,
          first,
          rest: () =>
            new Promise((done) => {
              let text = first;
              response.on('data', (piece: string) => (text += piece));
              // An aborted answer ends with 'close' (and an 'aborted' error), not 'end'.
              response.on('error', () => {});
              response.on('close', () => done({ text, complete: response.complete }));
              response.resume();
            }),
        });
      });
    });
  });
}

eachDatabase('a streamed group answer while the group changes', (database) => {
  let app: TestApp;
  let address: string;
  let group: { id: string; members: Member[] };

  before(async () => {
    app = await startTestApp({ database, memberChunk: 50 });
    address = await app.app.listen({ port: 0, host: '127.0.0.1' });
    group = await largeGroup(app, 1500);
  });
  after(() => app.close());

  test('members removed and added while the answer is read: the answer shows the members of the version in its ETag, the next read the new ones', async () => {
    const before = (await app.request('GET', `/Groups/${group.id}?excludedAttributes=members`)).body as { meta: { version: string } };
    const reading = await startReading(address, app.token, `/Groups/${group.id}`);
    assert.equal(reading.response.headers.etag, before.meta.version);
    const removed = membersOf(group.members).slice(-3).map((member) => member.value);
    // The write is not held back by the read (on SQLite too: the read has a connection of its own).
    const patch = await app.request('PATCH', `/Groups/${group.id}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'remove', path: `members[value eq "${removed[0]}" or value eq "${removed[1]}" or value eq "${removed[2]}"]` }],
    });
    assert.equal(patch.status, 204);
    assert.notEqual(patch.headers.etag, before.meta.version);
    const { text, complete } = await reading.rest();
    assert.equal(complete, true);
    const shown = JSON.parse(text) as { members: Array<{ value: string }>; meta: { version: string } };
    assert.equal(shown.meta.version, before.meta.version);
    assert.deepEqual(shown.members.map((member) => member.value), membersOf(group.members).map((member) => member.value));
    const now = (await app.request('GET', `/Groups/${group.id}?attributes=members.value`)).body as { members: Array<{ value: string }> };
    assert.deepEqual(now.members.map((member) => member.value), membersOf(group.members).map((member) => member.value).filter((value) => !removed.includes(value)));
    assert.equal((await app.request('GET', `/Groups/${group.id}`)).headers.etag, patch.headers.etag);
  });
});

// PostgreSQL only: a failure mid-read needs a database that can fail under a statement from
// outside (its backend ended); a SQLite read in this process has no such failure to cause.
eachDatabase('a streamed group answer whose database fails mid-read', (database) => {
  const skip = database === 'sqlite' ? 'needs PostgreSQL: SQLite offers no way to fail a read from outside' : false;
  test('the connection is cut: no complete body, no well-formed JSON; the failure is logged at error', { skip }, async () => {
    const log = captureLog();
    const app = await startTestApp({ database, memberChunk: 50, logger: { level: 'info', stream: log.stream } });
    try {
      const address = await app.app.listen({ port: 0, host: '127.0.0.1' });
      const group = await largeGroup(app, 1500);
      const reading = await startReading(address, app.token, `/Groups/${group.id}`);
      assert.equal(reading.response.statusCode, 200);
      const admin = new pg.Client({ connectionString: app.databaseUrl });
      await admin.connect();
      try {
        const database = new URL(app.databaseUrl).pathname.slice(1);
        const ended = await admin.query<{ pid: number }>(
          `SELECT pg_terminate_backend(pid) AS ended, pid FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'FETCH FORWARD%' AND pid <> pg_backend_pid()`,
          [database],
        );
        assert.equal(ended.rowCount, 1, 'the read holds one connection, mid-read');
      } finally {
        await admin.end();
      }
      const { text, complete } = await reading.rest();
      assert.equal(complete, false);
      assert.throws(() => JSON.parse(text));
      const failures = log.lines.map((line) => JSON.parse(line) as { level: number; msg: string }).filter((line) => line.level === 50 && line.msg.includes('after its first bytes'));
      assert.equal(failures.length, 1);
    } finally {
      await app.close();
    }
  });
});

eachDatabase('a streamed group answer its client stops reading', (database) => {
  test('the connection is closed after the stall deadline, the read snapshot given back, and a warning logged', async () => {
    const log = captureLog();
    const app = await startTestApp({ database, memberChunk: 50, logger: { level: 'info', stream: log.stream }, app: { streamStallMs: 2000 } });
    try {
      const address = await app.app.listen({ port: 0, host: '127.0.0.1' });
      const group = await largeGroup(app, 1500);
      const pooled = app.services.store.poolUse();
      const reading = await startReading(address, app.token, `/Groups/${group.id}`);
      assert.equal(reading.response.statusCode, 200);
      // The client takes nothing more; the server is stopped at full buffers, holding its snapshot.
      const started = Date.now();
      const stalled = () => log.lines.map((line) => JSON.parse(line) as { level: number; msg: string }).filter((line) => line.level === 40 && line.msg.includes('stopped reading'));
      while (stalled().length === 0 && Date.now() - started < 30_000) await new Promise((resolve) => setTimeout(resolve, 50));
      const waited = Date.now() - started;
      assert.equal(stalled().length, 1, 'one warning that the client stopped reading');
      assert.ok(waited >= 1500, `closed after ${waited} ms: not before the deadline`);
      // Nor long after it: the socket's inactivity timeout, used before, fired at about twice its setting.
      assert.ok(waited < 3400, `closed after ${waited} ms: well past the 2 s deadline`);
      // Reading again, the client finds the answer cut short.
      const { complete } = await reading.rest();
      assert.equal(complete, false);
      // The snapshot is given back: a write and a full read go through, and on PostgreSQL the
      // pool holds no connection for it any more.
      assert.equal((await app.request('PATCH', `/Groups/${group.id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'displayName', value: 'Renamed' }] })).status, 204);
      if (pooled !== undefined) {
        const deadline = Date.now() + 5000;
        while (Date.now() < deadline && app.services.store.poolUse()!.idle !== app.services.store.poolUse()!.total) await new Promise((resolve) => setTimeout(resolve, 20));
        const use = app.services.store.poolUse()!;
        assert.equal(use.idle, use.total, 'every pool connection idle again');
      }
    } finally {
      await app.close();
    }
  });
});
