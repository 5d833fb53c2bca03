/**
 * Two real Roster processes on one PostgreSQL database, driven at once, as behind a load
 * balancer. PostgreSQL only, by nature: SQLite serves one machine (two processes on one file
 * are covered by BEGIN IMMEDIATE, not by this deployment shape).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { decodeCursor } from '../../src/directory/event-feed.ts';
import { createServices } from '../../src/services.ts';
import { openStore } from '../../src/store/index.ts';
import { testCertificate } from '../support/app.ts';
import { appliedMigrations, createTestDatabase, MIGRATION_COUNT, POSTGRES_URL, type ScratchDatabase } from '../support/databases.ts';
import { ROOT, startInstance, stop, waitHealthy, type Instance } from '../support/process.ts';
import { rosterArgs } from '../support/roster-command.ts';

const SCIM = '/api/scim/v2';
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

describe('several Roster instances on one PostgreSQL database', { skip: POSTGRES_URL === undefined ? 'PostgreSQL skipped: set ROSTER_TEST_POSTGRES_URL to run it' : false }, () => {
  let scratch: ScratchDatabase;
  let instances: Instance[] = [];
  let token = '';
  const at = (i: number): Instance => instances[i % 2] as Instance;

  async function call(i: number, method: string, path: string, body?: unknown, bearer = token): Promise<{ status: number; body: any }> {
    const response = await fetch(`${at(i).base}${SCIM}${path}`, {
      method,
      headers: { authorization: `Bearer ${bearer}`, ...(body !== undefined ? { 'content-type': 'application/scim+json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
  }

  before(async () => {
    scratch = await createTestDatabase('postgres');
    // Both start at once on an EMPTY database: the migrations must run once, under the lock,
    // and both must then serve.
    instances = await Promise.all([startInstance(scratch.url), startInstance(scratch.url)]);
    await Promise.all(instances.map(waitHealthy));
    // Set up as an administrator would, from a third process's point of view.
    const store = await openStore(scratch.location);
    try {
      const services = createServices(store);
      const saml = await services.saml.configure({ providerId: 'https://idp.example.com', loginUrl: 'https://idp.example.com/sso', certificates: [testCertificate()] }, { kind: 'cli' });
      assert.ok(saml.ok);
      await services.provisioning.enable({ kind: 'cli' });
      // The instances created the administrator when they started.
      const admin = await services.accounts.findByLogin('admin');
      assert.ok(admin);
      token = (await services.tokens.create('idp', { kind: 'cli' }, admin.id)).token;
    } finally {
      await store.close();
    }
  });

  after(async () => {
    await Promise.all(instances.map(stop));
    await scratch?.drop();
  });

  test('both instances started on an empty database; the migrations ran once', async () => {
    const store = await openStore(scratch.location, { migrate: false });
    try {
      assert.equal(await appliedMigrations(store), MIGRATION_COUNT);
    } finally {
      await store.close();
    }
  });

  test('racing creates of one user through both instances: one 201, the rest 409', async () => {
    const responses = await Promise.all(Array.from({ length: 12 }, (_, i) => call(i, 'POST', '/Users', { schemas: [USER], userName: i % 2 ? 'Racer@Example.com' : 'racer@example.com' })));
    const statuses = responses.map((response) => response.status).sort();
    assert.deepEqual(statuses, [201, ...Array(11).fill(409)]);
    assert.equal(responses.find((response) => response.status === 409)?.body.scimType, 'uniqueness');
  });

  test('the provisioning activity of both instances is one list, read from either', async () => {
    // Written shortly after each answer: wait for the racing creates above to appear.
    const creates = async (i: number) => {
      const response = await fetch(`${at(i).base}/api/v2/provisioning-activity?pageSize=500`, { headers: { authorization: `Bearer ${token}` } });
      const body = (await response.json()) as { requests: { method: string; status: number; tokenName: string }[] };
      return body.requests.filter((entry) => entry.method === 'POST').map((entry) => `${entry.status} ${entry.tokenName}`).sort();
    };
    const expected = ['201 idp', ...Array<string>(11).fill('409 idp')];
    const deadline = Date.now() + 10_000;
    while ((await creates(0)).length < expected.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(await creates(0), expected);
    assert.deepEqual(await creates(1), expected);
  });

  test('parallel membership changes to one group through both instances give the exact members', async () => {
    const users: string[] = [];
    for (let i = 0; i < 24; i += 1) users.push((await call(i, 'POST', '/Users', { schemas: [USER], userName: `member${i}` })).body.id);
    const group = await call(0, 'POST', '/Groups', { schemas: [GROUP], displayName: 'Shared', members: users.slice(16).map((value) => ({ value })) });
    assert.equal(group.status, 201);
    const adds = users.slice(0, 16).map((id, i) => call(i, 'PATCH', `/Groups/${group.body.id}`, { schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: [{ value: id }] }] }));
    const removes = users.slice(16, 20).map((id, i) => call(i + 1, 'PATCH', `/Groups/${group.body.id}`, { schemas: [PATCH], Operations: [{ op: 'remove', path: `members[value eq "${id}"]` }] }));
    const statuses = (await Promise.all([...adds, ...removes])).map((response) => response.status);
    assert.ok(statuses.every((status) => status === 200 || status === 204), statuses.join());
    for (const i of [0, 1]) {
      const final = await call(i, 'GET', `/Groups/${group.body.id}`);
      const members = (final.body.members as { value: string }[]).map((member) => member.value).sort();
      assert.deepEqual(members, [...users.slice(0, 16), ...users.slice(20)].sort());
    }
  });

  test('ETags stay exact across instances: a write or a membership change through one makes the other refuse the old version (412)', async () => {
    const etagAt = async (i: number, path: string): Promise<string> => {
      const response = await fetch(`${at(i).base}${SCIM}${path}`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(response.status, 200);
      const etag = response.headers.get('etag');
      assert.ok(etag !== null);
      return etag;
    };
    const patchIfMatch = (i: number, path: string, etag: string, operations: unknown[]) =>
      fetch(`${at(i).base}${SCIM}${path}`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json', 'if-match': etag },
        body: JSON.stringify({ schemas: [PATCH], Operations: operations }),
      });
    const user = (await call(0, 'POST', '/Users', { schemas: [USER], userName: 'etag-across' })).body.id as string;
    const group = (await call(1, 'POST', '/Groups', { schemas: [GROUP], displayName: 'ETag group' })).body.id as string;
    // Both instances read the same version.
    const first = await etagAt(0, `/Users/${user}`);
    assert.equal(await etagAt(1, `/Users/${user}`), first);
    // The user joins a group through instance 1: its GET shows the group, so its version moves on both.
    assert.equal((await call(1, 'PATCH', `/Groups/${group}`, { schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: [{ value: user }] }] })).status, 204);
    const joined = await etagAt(0, `/Users/${user}`);
    assert.notEqual(joined, first);
    assert.equal(await etagAt(1, `/Users/${user}`), joined);
    const stale = await patchIfMatch(0, `/Users/${user}`, first, [{ op: 'replace', path: 'title', value: 'Stale' }]);
    assert.equal(stale.status, 412);
    assert.equal(((await stale.json()) as { status: string }).status, '412');
    // The current version is accepted by the other instance, and that write retires it on the first.
    assert.equal((await patchIfMatch(1, `/Users/${user}`, joined, [{ op: 'replace', path: 'title', value: 'Fresh' }])).status, 200);
    assert.equal((await patchIfMatch(0, `/Users/${user}`, joined, [{ op: 'replace', path: 'title', value: 'Late' }])).status, 412);
    // The same for a group's version, moved by a member change through the other instance.
    const groupVersion = await etagAt(0, `/Groups/${group}`);
    assert.equal((await call(1, 'PATCH', `/Groups/${group}`, { schemas: [PATCH], Operations: [{ op: 'remove', path: `members[value eq "${user}"]` }] })).status, 204);
    assert.equal((await patchIfMatch(0, `/Groups/${group}`, groupVersion, [{ op: 'replace', path: 'displayName', value: 'Renamed' }])).status, 412);
    assert.equal((await call(0, 'GET', `/Users/${user}`)).body.title, 'Fresh');
  });

  test('a token revoked elsewhere is refused at once by both instances', async () => {
    const store = await openStore(scratch.location);
    let second = '';
    try {
      const services = createServices(store);
      const admin = await services.accounts.findByLogin('admin');
      assert.ok(admin);
      second = (await services.tokens.create('second', { kind: 'cli' }, admin.id)).token;
    } finally {
      await store.close();
    }
    assert.equal((await call(0, 'GET', '/Users?count=1', undefined, second)).status, 200);
    assert.equal((await call(1, 'GET', '/Users?count=1', undefined, second)).status, 200);
    const revoke = spawnSync(process.execPath, rosterArgs('tokens', 'revoke', 'second'), {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, ROSTER_DATABASE_URL: scratch.url },
    });
    assert.equal(revoke.status, 0, revoke.stderr);
    assert.equal((await call(0, 'GET', '/Users?count=1', undefined, second)).status, 401);
    assert.equal((await call(1, 'GET', '/Users?count=1', undefined, second)).status, 401);
  });

  test('turning SCIM off through one instance takes effect on the other at once', async () => {
    const off = await fetch(`${at(0).base}/api/scim_management/disable`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ confirm: true }),
    });
    assert.ok(off.ok, await off.text());
    assert.equal((await call(1, 'GET', '/Users')).status, 403);
    const on = await fetch(`${at(1).base}/api/scim_management/enable`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    assert.ok(on.ok, await on.text());
    assert.equal((await call(0, 'GET', '/Users')).status, 200);
  });

  test('a deactivation through one instance ends, at once, a session the other instance accepts', async () => {
    const created = await call(0, 'POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'session-user@example.com' });
    assert.equal(created.status, 201);
    // A session as a SAML sign-in on any instance leaves it: a row in the shared database.
    const store = await openStore(scratch.location);
    let cookie = '';
    try {
      const services = createServices(store);
      const user = await services.accounts.findByLogin('session-user@example.com');
      assert.ok(user);
      cookie = `roster_session=${(await services.sessions.open(user.id)).value}`;
    } finally {
      await store.close();
    }
    const current = (i: number) => fetch(`${at(i).base}/api/users/current`, { headers: { cookie } });
    assert.equal((await current(0)).status, 200);
    assert.equal((await current(1)).status, 200);
    const off = await call(1, 'PATCH', `/Users/${created.body.id}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'replace', path: 'active', value: false }],
    });
    assert.equal(off.status, 200);
    assert.equal((await current(0)).status, 401);
    assert.equal((await current(1)).status, 401);
  });

  test('the event feed, written and read through both instances at once, has every event once, in one order', async () => {
    const feed = async (i: number, after: string): Promise<{ events: { id: string }[]; next: string }> => {
      const response = await fetch(`${at(i).base}/api/v2/events?limit=5${after === '' ? '' : `&after=${after}`}`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(response.status, 200);
      return (await response.json()) as { events: { id: string }[]; next: string };
    };
    let writing = true;
    const writers = Array.from({ length: 20 }, (_, i) => call(i, 'POST', '/Users', { schemas: [USER], userName: `feed-writer${i}` }));
    const readers = [0, 1, 0, 1].map(async (first) => {
      const seen: string[] = [];
      let next = '';
      for (let i = first; ; i += 1) {
        // Each page from the other instance than the last.
        const page = await feed(i, next);
        seen.push(...page.events.map((event) => event.id));
        next = page.next;
        if (page.events.length === 0) {
          if (!writing) return seen;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    });
    assert.ok((await Promise.all(writers)).every((response) => response.status === 201));
    const store = await openStore(scratch.location);
    try {
      const stored = await store.db.selectFrom('events').select(['tx', 'id']).orderBy('tx').orderBy('id').execute();
      const last = stored.at(-1);
      assert.ok(last);
      // The horizon passes the last event once no older writing transaction runs on the server
      // (other tests' databases share it); only then may an empty page mean "all seen".
      for (let turn = 0; ; turn += 1) {
        const horizon = decodeCursor((await feed(turn, 'now')).next);
        assert.ok(horizon);
        if (horizon.tx > Number(last.tx)) break;
        assert.ok(turn < 600, 'the feed did not catch up within 30 s');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      writing = false;
      const ids = stored.map((row) => String(row.id));
      for (const seen of await Promise.all(readers)) {
        assert.equal(new Set(seen).size, seen.length, 'a duplicate');
        assert.deepEqual(seen, ids, 'every event, in the one order');
      }
    } finally {
      await store.close();
    }
  });

  test('SIGTERM stops an instance cleanly, and the other keeps serving', async () => {
    const code = await stop(at(0));
    // Exit code 0 is what main.ts sets once in-flight requests finished and the pool closed.
    assert.equal(code, 0, at(0).output);
    assert.equal((await call(1, 'GET', '/Users?count=1')).status, 200);
  });
});
