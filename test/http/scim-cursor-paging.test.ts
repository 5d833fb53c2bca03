/**
 * Cursor paging (RFC 9865) on /Users, /Groups and their /.search: walks that see every resource
 * once while others are created and deleted, the previousCursor walk back, and the errors.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { buildApp } from '../../src/http/app.ts';
import { createListCursors } from '../../src/directory/list-cursors.ts';
import { encodeCursor, queryDigest } from '../../src/scim/cursor.ts';
import { createServices } from '../../src/services.ts';
import { eachDatabase } from '../support/databases.ts';
import { BASE_URL, SCIM, groupBody, startTestApp, userBody, type TestApp, type TestResponse } from '../support/app.ts';

const SEARCH_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';
const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const cli = { kind: 'cli' } as const;

function assertScimError(response: TestResponse, scimType: string, detail?: RegExp): void {
  assert.equal(response.status, 400, JSON.stringify(response.body));
  assert.deepEqual(response.body.schemas, [ERROR_SCHEMA]);
  assert.equal(response.body.status, '400');
  assert.equal(response.body.scimType, scimType);
  if (detail !== undefined) assert.match(response.body.detail, detail);
}

interface Listed {
  id: string;
  userName: string;
  title?: string;
}

/** `query` with its cursor parameter set to `cursor`. */
function withCursor(query: string, cursor: string): string {
  return `${query}&cursor=${encodeURIComponent(cursor)}`;
}

eachDatabase('SCIM cursor paging (RFC 9865)', (database) => {
  let roster: TestApp;
  /** SCIM id → userName of every user that exists, kept as the tests create and delete them. */
  const existing = new Map<string, { userName: string; title: string | undefined }>();
  let created = 0;

  async function createUser(userName: string, title: string | undefined): Promise<string> {
    const user = await roster.services.users.create({ schemas: [USER_SCHEMA], userName, ...(title !== undefined ? { title } : {}) }, cli);
    existing.set(user.scimId, { userName, title });
    return user.scimId;
  }

  async function deleteUser(id: string): Promise<void> {
    await roster.services.users.remove(id, () => true, cli);
    existing.delete(id);
  }

  /** One of seven titles (many ties) for two users in three, none for the third. */
  const titleOf = (i: number): string | undefined => (i % 3 === 0 ? undefined : `Title ${i % 7}`);

  before(async () => {
    roster = await startTestApp({ database });
    // 2,500 users, seeded through the directory (the code SCIM writes run), not over HTTP.
    for (let i = 0; i < 2500; i += 1) await createUser(`walk-${String(i).padStart(5, '0')}@example.com`, titleOf(i));
    created = 2500;
  });
  after(async () => {
    await roster.close();
  });

  /** Creates a few users (matching `walk` and not) and deletes a few random existing ones. */
  async function churn(round: number): Promise<string[]> {
    const deleted: string[] = [];
    for (let k = 0; k < 3; k += 1) {
      created += 1;
      await createUser(`${k === 2 ? 'other' : 'walk'}-new-${created}@example.com`, titleOf(created));
    }
    const candidates = [...existing.keys()];
    for (let k = 0; k < 4; k += 1) {
      const victim = candidates[(round * 7919 + k * 104729) % candidates.length];
      if (victim === undefined || deleted.includes(victim)) continue;
      await deleteUser(victim);
      deleted.push(victim);
    }
    return deleted;
  }

  /**
   * Walks `query` page by page with nextCursor while `churn` runs beside every page request;
   * checks that every user that existed throughout and matches `matches` is seen exactly once.
   */
  async function walkWithChurn(query: string, matches: (user: { userName: string; title: string | undefined }) => boolean): Promise<Listed[]> {
    const before = new Set([...existing].filter(([, user]) => matches(user)).map(([id]) => id));
    const deleted = new Set<string>();
    const seen: Listed[] = [];
    let cursor = '';
    for (let round = 0; ; round += 1) {
      assert.ok(round < 100, 'the walk does not end');
      const [page, gone] = await Promise.all([roster.request('GET', `/Users?${withCursor(query, cursor)}`), churn(round)]);
      for (const id of gone) deleted.add(id);
      assert.equal(page.status, 200, JSON.stringify(page.body));
      assert.equal(page.body.startIndex, undefined);
      assert.equal(page.body.itemsPerPage, page.body.Resources.length);
      assert.ok(page.body.Resources.length <= 100);
      seen.push(...page.body.Resources);
      if (page.body.nextCursor === undefined) break;
      assert.match(page.body.nextCursor, /^[A-Za-z0-9._~-]+$/, 'cursors use only unreserved characters (RFC 3986 §2.3)');
      cursor = page.body.nextCursor;
    }
    const ids = seen.map((user) => user.id);
    assert.equal(new Set(ids).size, ids.length, 'no user is seen twice');
    const survivors = [...before].filter((id) => !deleted.has(id));
    const missing = survivors.filter((id) => !ids.includes(id));
    assert.deepEqual(missing, [], 'every user that existed throughout the walk is seen');
    assert.ok(survivors.length > 2000, `${survivors.length} survivors`);
    assert.ok(deleted.size > 50, `${deleted.size} users deleted during the walk`);
    return seen;
  }

  test('a walk with a filter sees every surviving user once while users are created and deleted', async () => {
    const seen = await walkWithChurn('filter=userName%20sw%20%22walk-%22&count=100', (user) => user.userName.startsWith('walk-'));
    assert.ok(seen.every((user) => user.userName.startsWith('walk-')));
  });

  test('a walk sorted by userName descending sees every surviving user once, in order', async () => {
    const seen = await walkWithChurn('sortBy=userName&sortOrder=descending&count=100', () => true);
    const names = seen.map((user) => user.userName.toLowerCase());
    assert.deepEqual(names, [...names].sort().reverse());
  });

  test('a walk sorted by a nullable attribute with ties sees every surviving user once, NULLs last', async () => {
    const seen = await walkWithChurn('sortBy=title&count=100', () => true);
    const titles = seen.map((user) => user.title ?? null);
    const firstNull = titles.indexOf(null);
    assert.ok(firstNull > 0);
    assert.ok(titles.slice(firstNull).every((title) => title === null), 'users without a title come last ascending');
    const valued = titles.slice(0, firstNull) as string[];
    assert.deepEqual(valued, [...valued].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase())));
  });

  test('a walk sorted by a nullable attribute descending puts NULLs first and sees everyone once', async () => {
    const seen = await walkWithChurn('sortBy=title&sortOrder=descending&count=100', () => true);
    const titles = seen.map((user) => user.title ?? null);
    const lastNull = titles.lastIndexOf(null);
    assert.ok(titles.slice(0, lastNull + 1).every((title) => title === null), 'users without a title come first descending');
  });

  test('previousCursor walks back over the same pages; the first page has none, the last no nextCursor', async () => {
    const query = 'filter=userName%20sw%20%22walk-000%22&sortBy=title&count=7';
    const forward: string[][] = [];
    let page = await roster.request('GET', `/Users?${withCursor(query, '')}`);
    assert.equal(page.body.previousCursor, undefined);
    for (;;) {
      assert.equal(page.status, 200, JSON.stringify(page.body));
      forward.push(page.body.Resources.map((user: Listed) => user.id));
      if (page.body.nextCursor === undefined) break;
      page = await roster.request('GET', `/Users?${withCursor(query, page.body.nextCursor)}`);
      assert.equal(typeof page.body.previousCursor, 'string');
    }
    assert.ok(forward.length >= 5, `${forward.length} pages`);
    const backward: string[][] = [forward[forward.length - 1] ?? []];
    while (page.body.previousCursor !== undefined) {
      page = await roster.request('GET', `/Users?${withCursor(query, page.body.previousCursor)}`);
      assert.equal(page.status, 200, JSON.stringify(page.body));
      assert.equal(typeof page.body.nextCursor, 'string', 'a page reached backwards has a next page');
      backward.unshift(page.body.Resources.map((user: Listed) => user.id));
    }
    assert.deepEqual(backward, forward);
  });

  test('previousCursor from the second page gives the whole first page even after users before it were deleted', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 9; i += 1) ids.push(await createUser(`back-${i}@example.com`, undefined));
    const query = 'filter=userName%20sw%20%22back-%22&sortBy=userName&count=4';
    const first = await roster.request('GET', `/Users?${withCursor(query, '')}`);
    const second = await roster.request('GET', `/Users?${withCursor(query, first.body.nextCursor)}`);
    await deleteUser(ids[1] ?? '');
    const back = await roster.request('GET', `/Users?${withCursor(query, second.body.previousCursor)}`);
    assert.equal(back.status, 200);
    assert.deepEqual(back.body.Resources.map((user: Listed) => user.userName), ['back-0@example.com', 'back-2@example.com', 'back-3@example.com', 'back-4@example.com']);
    assert.equal(back.body.previousCursor, undefined);
    assert.equal(typeof back.body.nextCursor, 'string');
  });

  test('a walk sorted by meta.lastModified, computed from memberships too, follows the same order as index paging', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i += 1) ids.push(await createUser(`lm-${i}@example.com`, undefined));
    // Joining a group moves a user's lastModified (resource-versions.ts), not its own row; a
    // later millisecond than the last creation, so that the order has no tie.
    await new Promise((resolve) => setTimeout(resolve, 5));
    const group = await roster.request('POST', '/Groups', groupBody('Last modified', [ids[2] ?? '', ids[5] ?? '']));
    assert.equal(group.status, 201);
    for (const order of ['ascending', 'descending']) {
      const query = `filter=userName%20sw%20%22lm-%22&sortBy=meta.lastModified&sortOrder=${order}&count=2`;
      const indexed = await roster.request('GET', `/Users?${query.replace('count=2', 'count=100')}`);
      const walked: string[] = [];
      let cursor = '';
      do {
        const page = await roster.request('GET', `/Users?${withCursor(query, cursor)}`);
        assert.equal(page.status, 200, JSON.stringify(page.body));
        walked.push(...page.body.Resources.map((user: Listed) => user.id));
        cursor = page.body.nextCursor ?? '';
      } while (cursor !== '');
      assert.deepEqual(walked, indexed.body.Resources.map((user: Listed) => user.id));
      const last = order === 'ascending' ? walked.slice(-2) : walked.slice(0, 2);
      assert.deepEqual([...last].sort(), [ids[2], ids[5]].sort(), 'the members changed last');
    }
  });

  test('POST /Users/.search takes cursor and count in the body, and continues with the returned cursor', async () => {
    for (let i = 0; i < 10; i += 1) await createUser(`search-${i}@example.com`, undefined);
    const body = { schemas: [SEARCH_REQUEST], filter: 'userName sw "search-"', sortBy: 'userName', cursor: '', count: 4, attributes: ['userName'] };
    const first = await roster.request('POST', '/Users/.search', body);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.totalResults, 10);
    assert.deepEqual(Object.keys(first.body.Resources[0]).sort(), ['id', 'schemas', 'userName']);
    const second = await roster.request('POST', '/Users/.search', { ...body, Cursor: first.body.nextCursor, cursor: undefined });
    assert.equal(second.status, 200, JSON.stringify(second.body));
    const third = await roster.request('POST', '/Users/.search', { ...body, cursor: second.body.nextCursor });
    const names = [...first.body.Resources, ...second.body.Resources, ...third.body.Resources].map((user: Listed) => user.userName);
    assert.deepEqual(names, Array.from({ length: 10 }, (_, i) => `search-${i}@example.com`));
    assert.equal(third.body.nextCursor, undefined);
  });

  test('GET /Groups and POST /Groups/.search page by cursor', async () => {
    for (let i = 0; i < 11; i += 1) {
      assert.equal((await roster.request('POST', '/Groups', groupBody(`Cursor team ${String(i).padStart(2, '0')}`))).status, 201);
    }
    const query = 'filter=displayName%20sw%20%22Cursor%20team%22&sortBy=displayName&sortOrder=descending&count=5&excludedAttributes=members';
    const names: string[] = [];
    let cursor = '';
    do {
      const page = await roster.request('GET', `/Groups?${withCursor(query, cursor)}`);
      assert.equal(page.status, 200, JSON.stringify(page.body));
      assert.equal(page.body.totalResults, 11);
      names.push(...page.body.Resources.map((group: { displayName: string }) => group.displayName));
      cursor = page.body.nextCursor ?? '';
    } while (cursor !== '');
    assert.deepEqual(names, Array.from({ length: 11 }, (_, i) => `Cursor team ${String(10 - i).padStart(2, '0')}`));
    const search = await roster.request('POST', '/Groups/.search', { schemas: [SEARCH_REQUEST], filter: 'displayName sw "Cursor team"', cursor: '', count: 10 });
    assert.equal(search.body.Resources.length, 10);
    const rest = await roster.request('POST', '/Groups/.search', { schemas: [SEARCH_REQUEST], filter: 'displayName sw "Cursor team"', cursor: search.body.nextCursor });
    assert.equal(rest.body.Resources.length, 1);
    assert.equal(rest.body.nextCursor, undefined);
  });

  test('index paging stays the default: no cursor parameter, no cursors in the answer', async () => {
    const page = await roster.request('GET', '/Users?count=2');
    assert.equal(page.body.startIndex, 1);
    assert.equal(page.body.nextCursor, undefined);
    assert.equal(page.body.previousCursor, undefined);
  });

  describe('errors', () => {
    async function firstCursor(query = 'count=5'): Promise<string> {
      const page = await roster.request('GET', `/Users?${withCursor(query, '')}`);
      assert.equal(typeof page.body.nextCursor, 'string', JSON.stringify(page.body).slice(0, 300));
      return page.body.nextCursor;
    }

    test('a tampered, truncated or made-up cursor is 400 invalidCursor', async () => {
      const cursor = await firstCursor();
      const [payload = '', mac = ''] = cursor.split('.');
      const flip = (text: string, at: number) => text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1);
      const forgedKey = encodeCursor(
        { resourceType: 'User', query: queryDigest('User', undefined, undefined, false), direction: 'next', position: { key: null, id: '' }, count: 5, expiresAt: 2 ** 40 },
        { secret: randomBytes(32) },
      );
      for (const bad of [flip(payload, 3) + '.' + mac, payload + '.' + flip(mac, mac.length - 1), payload, cursor.slice(0, -1), 'abc', '.', forgedKey]) {
        assertScimError(await roster.request('GET', `/Users?${withCursor('count=5', bad)}`), 'invalidCursor', /cursor/);
      }
    });

    test('a cursor used with another filter, sort or endpoint is 400 invalidCursor', async () => {
      const cursor = await firstCursor('count=5&sortBy=userName');
      assertScimError(await roster.request('GET', `/Users?${withCursor('count=5&sortBy=title', cursor)}`), 'invalidCursor', /another query/);
      assertScimError(await roster.request('GET', `/Users?${withCursor('count=5&sortBy=userName&sortOrder=descending', cursor)}`), 'invalidCursor');
      assertScimError(await roster.request('GET', `/Users?${withCursor('count=5&sortBy=userName&filter=title%20pr', cursor)}`), 'invalidCursor');
      assertScimError(await roster.request('GET', `/Groups?${withCursor('count=5&sortBy=userName', cursor)}`), 'invalidCursor');
      // Attribute names are case-insensitive: the same sort spelt differently is the same walk.
      assert.equal((await roster.request('GET', `/Users?${withCursor('count=5&sortBy=USERNAME', cursor)}`)).status, 200);
    });

    test('count beyond maxPageSize, not an integer, or different from the walk\'s is 400 invalidCount', async () => {
      assertScimError(await roster.request('GET', `/Users?${withCursor('count=1001', '')}`), 'invalidCount', /between 0 and 1000/);
      assertScimError(await roster.request('GET', `/Users?${withCursor('count=ten', '')}`), 'invalidCount');
      assertScimError(await roster.request('POST', '/Users/.search', { cursor: '', count: 2.5 }), 'invalidCount');
      const cursor = await firstCursor('count=5');
      assertScimError(await roster.request('GET', `/Users?${withCursor('count=6', cursor)}`), 'invalidCount', /must stay 5/);
      // Left out, count stays the walk's.
      const next = await roster.request('GET', `/Users?${withCursor('', cursor)}`);
      assert.equal(next.body.Resources.length, 5);
      // 1000 is the largest page; a negative count reads as 0: totalResults only.
      assert.equal((await roster.request('GET', `/Users?${withCursor('count=1000', '')}`)).status, 200);
      const none = await roster.request('GET', `/Users?${withCursor('count=-3', '')}`);
      assert.equal(none.status, 200);
      assert.ok(none.body.totalResults > 2000);
      assert.deepEqual(none.body.Resources, []);
      assert.equal(none.body.nextCursor, undefined);
    });

    test('startIndex together with cursor is a 400', async () => {
      assertScimError(await roster.request('GET', `/Users?${withCursor('startIndex=1', '')}`), 'invalidValue', /startIndex and cursor/);
      assertScimError(await roster.request('POST', '/Users/.search', { cursor: '', startIndex: 3 }), 'invalidValue', /startIndex and cursor/);
    });

    test('a cursor that is not a string is 400 invalidCursor', async () => {
      assertScimError(await roster.request('POST', '/Users/.search', { cursor: 5 }), 'invalidCursor');
    });
  });

  test('another instance on the same database continues the walk: the signing key is shared', async () => {
    for (let i = 0; i < 10; i += 1) await createUser(`shared-${i}@example.com`, undefined);
    const query = 'filter=userName%20sw%20%22shared-%22&sortBy=userName&count=6';
    const first = await roster.request('GET', `/Users?${withCursor(query, '')}`);
    const other = await buildApp({ services: createServices(roster.services.store, { baseUrl: BASE_URL }), baseUrl: BASE_URL });
    try {
      const response = await other.inject({
        method: 'GET',
        url: `${SCIM}/Users?${withCursor(query, first.body.nextCursor)}`,
        headers: { authorization: `Bearer ${roster.token}` },
      });
      assert.equal(response.statusCode, 200, response.body);
      assert.deepEqual(JSON.parse(response.body).Resources.map((user: Listed) => user.userName), Array.from({ length: 4 }, (_, i) => `shared-${i + 6}@example.com`));
    } finally {
      await other.close();
    }
  });
});

eachDatabase('SCIM cursor keys and expiry', (database) => {
  let roster: TestApp;
  before(async () => {
    roster = await startTestApp({ database, scimCursorTimeout: 1 });
    for (let i = 0; i < 3; i += 1) assert.equal((await roster.request('POST', '/Users', userBody(`expiry-${i}`))).status, 201);
  });
  after(async () => {
    await roster.close();
  });

  test('instances that make the key at the same moment end up with the same one', async () => {
    const instances = Array.from({ length: 4 }, () => createListCursors(roster.services.store));
    const keys = await Promise.all(instances.map((instance) => instance.key()));
    const texts = new Set(keys.map((key) => Buffer.from(key.secret).toString('hex')));
    assert.equal(texts.size, 1);
    assert.deepEqual(Buffer.from((await roster.services.listCursors.key()).secret), Buffer.from(keys[0]?.secret ?? []));
  });

  test('a cursor past cursorTimeout is 400 expiredCursor; ServiceProviderConfig says the timeout', async () => {
    const config = await roster.request('GET', '/ServiceProviderConfig');
    assert.deepEqual(config.body.pagination, {
      cursor: true,
      index: true,
      defaultPaginationMethod: 'index',
      defaultPageSize: 100,
      maxPageSize: 1000,
      cursorTimeout: 1,
    });
    const first = await roster.request('GET', '/Users?cursor=&count=1');
    assert.equal(typeof first.body.nextCursor, 'string');
    await new Promise((resolve) => setTimeout(resolve, 2100));
    assertScimError(await roster.request('GET', `/Users?count=1&cursor=${first.body.nextCursor}`), 'expiredCursor', /expired/);
  });
});
