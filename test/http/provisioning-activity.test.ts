/**
 * The provisioning activity: every SCIM request is recorded after its answer (never its body
 * or its token), listed newest first by GET /api/v2/provisioning-activity, folded when it
 * comes without a valid token, deleted past its retention, and never able to fail a request.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { ANONYMOUS_SOURCES_PER_MINUTE, type ObservedRequest } from '../../src/directory/activity.ts';
import { buildApp } from '../../src/http/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { SCIM, startTestApp, userBody, type TestApp } from '../support/app.ts';

const ACTIVITY = '/api/v2/provisioning-activity';
const BODY_MARKER = 'body-marker-never-recorded';

interface Entry {
  id: number;
  at: string;
  method: string;
  path: string;
  filter: string | null;
  status: number;
  durationMs: number;
  tokenId: string | null;
  tokenName: string | null;
  tokenUser: string | null;
  source: string | null;
  scimType: string | null;
  detail: string | null;
  count: number;
}

/** A request observed by the HTTP layer, for tests that write through the service. */
function observedAt(at: Date, path: string): ObservedRequest {
  return {
    at,
    method: 'GET',
    path,
    query: '',
    filter: undefined,
    status: 200,
    durationMs: 3,
    token: { id: 'token-id', name: 'okta', login: 'admin' },
    source: '192.0.2.7',
    failure: null,
  };
}

eachDatabase('provisioning activity', (database) => {
  let roster: TestApp;
  before(async () => {
    roster = await startTestApp({ database });
  });
  after(async () => {
    await roster.close();
  });

  async function activity(query = ''): Promise<{ requests: Entry[]; page: { pageIndex: number; pageSize: number; total: number; next: string | null } }> {
    const answer = await roster.request('GET', `${ACTIVITY}${query}`);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return answer.body;
  }

  test('SCIM calls, failing ones included, are listed newest first without bodies or tokens', async () => {
    const created = await roster.request('POST', '/Users', userBody('ada@example.com', { displayName: BODY_MARKER }));
    assert.equal(created.status, 201);
    assert.equal((await roster.request('POST', '/Users', userBody('ADA@example.com', { displayName: BODY_MARKER }))).status, 409);
    assert.equal((await roster.request('GET', `/Users?filter=${encodeURIComponent('userName eq "ada@example.com"')}&count=5`)).status, 200);
    assert.equal((await roster.request('GET', `/Users?filter=${encodeURIComponent('userName eq')}`)).status, 400);

    const { requests } = await activity('?pageSize=4');
    assert.deepEqual(
      requests.map((entry) => [entry.method, entry.path, entry.status, entry.scimType]),
      [
        ['GET', `${SCIM}/Users`, 400, 'invalidFilter'],
        ['GET', `${SCIM}/Users`, 200, null],
        ['POST', `${SCIM}/Users`, 409, 'uniqueness'],
        ['POST', `${SCIM}/Users`, 201, null],
      ],
    );
    const [invalid, found, conflict, success] = requests as [Entry, Entry, Entry, Entry];
    assert.equal(found.filter, 'userName eq "ada@example.com"');
    assert.equal(invalid.filter, 'userName eq');
    assert.match(conflict.detail ?? '', /already/i);
    assert.match(invalid.detail ?? '', /filter/i);
    assert.equal(success.detail, null);
    const token = (await roster.services.tokens.list()).find((candidate) => candidate.name === 'test-idp');
    for (const entry of requests) {
      assert.equal(entry.tokenName, 'test-idp');
      assert.equal(entry.tokenId, token?.id);
      assert.equal(entry.tokenUser, 'admin');
      assert.equal(entry.count, 1);
      assert.ok(entry.durationMs >= 0 && Number.isInteger(entry.durationMs));
      assert.ok(Date.parse(entry.at) <= Date.now());
    }
    const text = JSON.stringify(requests);
    assert.ok(!text.includes(BODY_MARKER), 'no request or response body is recorded');
    assert.ok(!text.includes(roster.token), 'no token is recorded');
    assert.ok(!text.includes('count=5'), 'no query parameter other than filter is recorded');
  });

  test('status=failures lists only the requests answered with 400 or more', async () => {
    const all = await activity();
    const failures = await activity('?status=failures');
    assert.ok(failures.page.total >= 2);
    assert.equal(failures.page.total, all.requests.filter((entry) => entry.status >= 400).length);
    assert.ok(failures.requests.every((entry) => entry.status >= 400));
  });

  test('requests to the SCIM API are recorded whatever the spelling of their URL, the admin API never', async () => {
    const doubled = await roster.app.inject({ method: 'GET', url: `/${SCIM}//ServiceProviderConfig`, headers: { authorization: `Bearer ${roster.token}` } });
    assert.equal(doubled.statusCode, 200);
    await roster.app.scimActivity.settle();
    assert.equal((await roster.request('GET', `${SCIM}/Nope`)).status, 404);
    const { requests } = await activity('?pageSize=3');
    assert.deepEqual(
      requests.slice(0, 2).map((entry) => [entry.path, entry.status]),
      [
        [`${SCIM}/Nope`, 404],
        [`${SCIM}/ServiceProviderConfig`, 200],
      ],
    );
    assert.ok(requests.every((entry) => !entry.path.startsWith('/api/v2')));
    // A URL the router cannot decode never reaches a hook; it is recorded all the same.
    const malformed = await roster.app.inject({ method: 'GET', url: `${SCIM}/Users/%E0%A4%A`, remoteAddress: '192.0.2.99' });
    assert.equal(malformed.statusCode, 400);
    await roster.app.scimActivity.settle();
    const [entry] = (await activity('?pageSize=1')).requests;
    assert.deepEqual([entry?.path, entry?.status, entry?.source, entry?.tokenName], [`${SCIM}/Users/%E0%A4%A`, 400, '192.0.2.99', null]);
    assert.match(entry?.detail ?? '', /malformed percent-encoding/);
  });

  test('a token or a query string echoed in an error is not recorded', async () => {
    const answer = await roster.request('GET', `${SCIM}/Nope?access_token=${roster.token}&secret=hunter2`);
    assert.equal(answer.status, 404);
    const [entry] = (await activity('?pageSize=1')).requests;
    assert.equal(entry?.path, `${SCIM}/Nope`);
    assert.ok(entry?.detail !== null && !entry?.detail.includes(roster.token) && !entry?.detail.includes('hunter2'), entry?.detail ?? '');
    // Only the query string as sent is cut out, not its letters wherever they appear.
    const short = await roster.request('GET', `${SCIM}/Users/nobody?o`);
    assert.equal(short.status, 404);
    const [shortEntry] = (await activity('?pageSize=1')).requests;
    assert.equal(shortEntry?.detail, short.body.detail);
  });

  test('a token that may not call SCIM is named, and so is the refusal', async () => {
    assert.equal((await roster.request('POST', '/Users', userBody('not-admin'))).status, 201);
    const user = await roster.services.accounts.findByLogin('not-admin');
    assert.ok(user);
    const token = await roster.tokenFor(user.id, 'not-admin-token');
    assert.equal((await roster.request('GET', '/Users', undefined, { authorization: `Bearer ${token}` })).status, 403);
    const [entry] = (await activity('?pageSize=1')).requests;
    assert.deepEqual([entry?.status, entry?.tokenName, entry?.tokenUser], [403, 'not-admin-token', 'not-admin']);
    assert.equal(entry?.detail, 'Insufficient privileges');
  });

  test('pages follow one another by cursor, and bad parameters are refused', async () => {
    const first = await activity('?pageSize=2');
    assert.ok(first.page.next !== null);
    const second = await activity(`?pageSize=2&cursor=${encodeURIComponent(first.page.next ?? '')}`);
    const byIndex = await activity('?pageSize=2&pageIndex=2');
    assert.deepEqual(second.requests.map((entry) => entry.id), byIndex.requests.map((entry) => entry.id));
    assert.equal(new Set([...first.requests, ...second.requests].map((entry) => entry.id)).size, 4);
    const everything = await activity(`?pageSize=500`);
    assert.equal(everything.page.next, null);
    assert.equal(everything.requests.length, everything.page.total);
    for (const query of ['?status=errors', '?cursor=nonsense', '?pageSize=501']) {
      const refused = await roster.request('GET', `${ACTIVITY}${query}`);
      assert.equal(refused.status, 400, query);
      assert.equal(typeof refused.body.message, 'string');
    }
  });

  test('the retention clean-up deletes the requests older than the period, and only those', async () => {
    const now = new Date();
    const old = (days: number) => new Date(now.getTime() - days * 86_400_000);
    await roster.services.activity.record([
      ...Array.from({ length: 1205 }, () => observedAt(old(31), '/api/scim/v2/Users/old')),
      observedAt(old(29), '/api/scim/v2/Users/recent'),
    ]);
    const before = await activity('?pageSize=0');
    assert.equal(await roster.services.activity.purge(30, now), 1205);
    const after = await activity('?pageSize=500');
    assert.equal(after.page.total, before.page.total - 1205);
    assert.ok(after.requests.some((entry) => entry.path === '/api/scim/v2/Users/recent'));
    assert.ok(!after.requests.some((entry) => entry.path === '/api/scim/v2/Users/old'));
    assert.equal(await roster.services.activity.purge(30, now), 0);
  });

  test('two clean-ups at once (two instances) delete each old request once', async () => {
    const now = new Date();
    await roster.services.activity.record(Array.from({ length: 2500 }, () => observedAt(new Date(now.getTime() - 40 * 86_400_000), '/api/scim/v2/Users/old')));
    const deleted = await Promise.all([roster.services.activity.purge(30, now), roster.services.activity.purge(30, now)]);
    assert.equal(deleted[0] + deleted[1], 2500);
    assert.ok(!(await activity('?pageSize=500')).requests.some((entry) => entry.path === '/api/scim/v2/Users/old'));
  });
});

eachDatabase('provisioning activity of unauthenticated and failed writes', (database) => {
  test('requests without a valid token are folded by address and minute, within a budget of addresses', async () => {
    // A fresh instance: the budget is per minute, and other tests spend it too.
    const roster = await startTestApp({ database });
    try {
      const anonymous = async (remoteAddress: string, authorization?: string) => {
        const answer = await roster.app.inject({ method: 'GET', url: `${SCIM}/Users`, remoteAddress, headers: authorization === undefined ? {} : { authorization } });
        assert.equal(answer.statusCode, 401);
      };
      for (let i = 0; i < 5; i += 1) await anonymous('198.51.100.1', i % 2 === 0 ? undefined : 'Bearer roster_wrong');
      for (let i = 0; i < ANONYMOUS_SOURCES_PER_MINUTE + 5; i += 1) await anonymous(`203.0.113.${i + 1}`);
      await roster.app.scimActivity.settle();
      const unauthenticated = ((await roster.request('GET', `${ACTIVITY}?status=failures&pageSize=500`)).body.requests as Entry[]).filter((entry) => entry.status === 401);
      const total = unauthenticated.reduce((sum, entry) => sum + entry.count, 0);
      assert.equal(total, 5 + ANONYMOUS_SOURCES_PER_MINUTE + 5);
      // Unless the minute turned during the test, one row per address up to the budget, then one for the rest.
      assert.ok(unauthenticated.length <= 2 * (ANONYMOUS_SOURCES_PER_MINUTE + 1), String(unauthenticated.length));
      const first = unauthenticated.filter((entry) => entry.source === '198.51.100.1');
      assert.equal(first.reduce((sum, entry) => sum + entry.count, 0), 5);
      assert.equal(first[0]?.tokenName, null);
      assert.match(first[0]?.detail ?? '', /Authentication required|not valid/);
      if (new Set(unauthenticated.map((entry) => entry.at.slice(0, 16))).size === 1) {
        assert.equal(unauthenticated.length, ANONYMOUS_SOURCES_PER_MINUTE + 1);
        const rest = unauthenticated.find((entry) => entry.source === null);
        assert.equal(rest?.count, 6);
      }
      // A flood from one address adds a row a minute at most, and loses no count.
      const unauthorized = async () => ((await roster.request('GET', `${ACTIVITY}?status=failures&pageSize=500`)).body.requests as Entry[]).filter((entry) => entry.status === 401);
      const beforeFlood = await unauthorized();
      await Promise.all(Array.from({ length: 500 }, () => roster.app.inject({ method: 'GET', url: `${SCIM}/Groups`, remoteAddress: '198.51.100.50' })));
      await roster.app.scimActivity.settle();
      const afterFlood = await unauthorized();
      const counted = (entries: Entry[]) => entries.reduce((sum, entry) => sum + entry.count, 0);
      assert.equal(counted(afterFlood) - counted(beforeFlood), 500);
      assert.ok(afterFlood.length - beforeFlood.length <= 2, String(afterFlood.length - beforeFlood.length));
      // A burst written in one batch is folded before it reaches the database: one row.
      const at = new Date(Date.now() - 3 * 60_000);
      const burst = { ...observedAt(at, `${SCIM}/Users`), token: null, status: 401, source: '198.51.100.200' };
      await roster.services.activity.record(Array.from({ length: 300 }, () => burst));
      const rows = ((await roster.request('GET', `${ACTIVITY}?status=failures&pageSize=500`)).body.requests as Entry[]).filter((entry) => entry.source === '198.51.100.200');
      assert.deepEqual(rows.map((entry) => [entry.count, entry.at]), [[300, at.toISOString()]]);
    } finally {
      await roster.close();
    }
  });

  test('text no database stores (NUL, a lone surrogate) is replaced, and does not take the rest of its batch down', async () => {
    const roster = await startTestApp({ database });
    try {
      const headers = { authorization: `Bearer ${roster.token}` };
      // Written in one batch: the anonymous request with NULs first, then the IdP's.
      await Promise.all([
        roster.app.inject({ method: 'GET', url: `${SCIM}/Users/a%00b?filter=${encodeURIComponent('userName eq "\u0000"')}`, remoteAddress: '192.0.2.44' }),
        roster.app.inject({ method: 'GET', url: `${SCIM}/Users/x%ED%A0%80y`, headers }),
        roster.app.inject({ method: 'GET', url: `${SCIM}/Users`, headers }),
      ]);
      await roster.app.scimActivity.settle();
      const entries = (await roster.request('GET', `${ACTIVITY}?pageSize=10`)).body.requests as Entry[];
      const paths = entries.map((entry) => entry.path).sort();
      assert.deepEqual(paths, [`${SCIM}/Users`, `${SCIM}/Users/a\ufffdb`, `${SCIM}/Users/x%ED%A0%80y`]);
      assert.equal(entries.find((entry) => entry.source === '192.0.2.44')?.filter, 'userName eq "\ufffd"');
    } finally {
      await roster.close();
    }
  });

  test('a SCIM request still succeeds when its activity cannot be written, and the failure is logged', async () => {
    const roster = await startTestApp({ database });
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const app = await buildApp({ services: roster.services, baseUrl: 'https://roster.test', logger: { level: 'warn', stream } });
    try {
      await sql`DROP TABLE scim_activity`.execute(roster.services.store.db);
      const answer = await app.inject({ method: 'GET', url: `${SCIM}/Users`, headers: { authorization: `Bearer ${roster.token}` } });
      assert.equal(answer.statusCode, 200);
      const failing = await app.inject({ method: 'GET', url: `${SCIM}/Users/nobody`, headers: { authorization: `Bearer ${roster.token}` } });
      assert.equal(failing.statusCode, 404);
      await app.scimActivity.settle();
      assert.ok(lines.some((line) => line.includes('could not record SCIM requests')), lines.join(''));
      // Reading it is an ordinary error, not a crash.
      const list = await app.inject({ method: 'GET', url: ACTIVITY, headers: { authorization: `Bearer ${roster.token}` } });
      assert.equal(list.statusCode, 500);
    } finally {
      await app.close();
      await roster.close();
    }
  });
});

describe('provisioning activity without SCIM', () => {
  test('requests refused because SCIM is off are recorded with their token', async () => {
    const roster = await startTestApp({ scim: false });
    try {
      assert.equal((await roster.request('GET', '/Users')).status, 403);
      const answer = await roster.request('GET', ACTIVITY);
      const [entry] = answer.body.requests as Entry[];
      assert.deepEqual([entry?.status, entry?.tokenName], [403, 'test-idp']);
      assert.match(entry?.detail ?? '', /not enabled/);
    } finally {
      await roster.close();
    }
  });
});
