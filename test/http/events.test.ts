/**
 * The event feed (issue 11): every source of change gives its events exactly once, in the
 * transaction of the change; `GET /api/v2/events` pages them in one order that never skips,
 * with limits, a type filter and a retention that answers 410.
 */
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { createEventFeed, decodeCursor, encodeCursor } from '../../src/directory/event-feed.ts';
import { createJournal } from '../../src/journal/journal.ts';
import { openStore } from '../../src/store/index.ts';
import { createServices } from '../../src/services.ts';
import SQLite from 'better-sqlite3';
import { backupSqlite, restoreSqlite } from '../../src/store/backup.ts';
import { copyDatabase } from '../../src/store/copy.ts';
import { secondInstance, startTestApp, testCertificate, TEST_IDP, userBody, groupBody, type TestApp } from '../support/app.ts';
import { createTestDatabase, eachDatabase, type TestDatabase } from '../support/databases.ts';
import { ROOT } from '../support/process.ts';
import { signIn } from '../saml/idp.ts';
import { rosterArgs } from '../support/roster-command.ts';

const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const DAY = 24 * 60 * 60 * 1000;

type Event = { id: string; type: string; occurredAt: string; actor: any; data: any; previous?: any };

/** One line per event, naming what it is about: `group.user_added devs alice`. */
function line(event: Event): string {
  if (event.type.startsWith('user.')) return `${event.type} ${event.data.login}`;
  if (event.type === 'group.user_added' || event.type === 'group.user_removed') return `${event.type} ${event.data.group.name} ${event.data.user.login}`;
  if (event.type.startsWith('group.')) return `${event.type} ${event.data.name}`;
  return event.type;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The feed as a client reads it. */
async function read(app: TestApp, query: string): Promise<{ status: number; body: any }> {
  return app.request('GET', `/api/v2/events${query === '' ? '' : `?${query}`}`);
}

/** The current end of the feed, once what was written before is below it. */
async function mark(app: TestApp): Promise<string> {
  await settle(app);
  const answer = await read(app, 'after=now');
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.deepEqual(answer.body.events, []);
  return answer.body.next;
}

/** Waits until every event written so far lies below the feed's horizon (at once, since every committed event is). */
async function settle(app: TestApp): Promise<void> {
  const last = await app.services.store.db.selectFrom('events').select(['tx', 'id']).orderBy('tx', 'desc').orderBy('id', 'desc').executeTakeFirst();
  if (last === undefined) return;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const horizon = decodeCursor((await read(app, 'after=now')).body.next);
    assert.ok(horizon);
    if (horizon.tx > Number(last.tx) || (horizon.tx === Number(last.tx) && horizon.id > Number(last.id))) return;
    if (Date.now() > deadline) throw new Error('the feed did not catch up within 30 s');
    await sleep(50);
  }
}

/** Every event after `cursor`, page by page, once the feed has caught up. */
async function since(app: TestApp, cursor: string, query = ''): Promise<{ events: Event[]; next: string }> {
  await settle(app);
  const events: Event[] = [];
  let next = cursor;
  for (;;) {
    const page = await read(app, `after=${next}&limit=1000${query}`);
    assert.equal(page.status, 200, JSON.stringify(page.body));
    events.push(...page.body.events);
    next = page.body.next;
    if (page.body.events.length < 1000) return { events, next };
  }
}

async function lines(app: TestApp, cursor: string): Promise<string[]> {
  return (await since(app, cursor)).events.map(line);
}

const patch = (...operations: unknown[]) => ({ schemas: [PATCH_OP], Operations: operations });

eachDatabase('the event feed, source by source', (database) => {
  test('SCIM /Users: create, update, suspend, reactivate and delete give one event each, with previous', async () => {
    const app = await startTestApp({ database });
    try {
      const start = await mark(app);
      const alice = (await app.request('POST', '/Users', userBody('alice', { displayName: 'Alice' }))).body;
      assert.equal((await app.request('PUT', `/Users/${alice.id}`, userBody('alice', { displayName: 'Alice L' }))).status, 200);
      // Neither a change the admin API's shape does not show, nor a PUT that changes nothing, gives an event.
      assert.equal((await app.request('PATCH', `/Users/${alice.id}`, patch({ op: 'add', path: 'title', value: 'Engineer' }))).status, 200);
      assert.equal((await app.request('PUT', `/Users/${alice.id}`, userBody('alice', { displayName: 'Alice L', title: 'Engineer' }))).status, 200);
      const group = (await app.request('POST', '/Groups', groupBody('devs', [alice.id]))).body;
      assert.equal((await app.request('PATCH', `/Users/${alice.id}`, patch({ op: 'replace', path: 'active', value: false }))).status, 200);
      assert.equal((await app.request('PATCH', `/Users/${alice.id}`, patch({ op: 'replace', path: 'active', value: true }))).status, 200);
      assert.equal((await app.request('DELETE', `/Users/${alice.id}`)).status, 204);
      const { events } = await since(app, start);
      assert.deepEqual(events.map(line), [
        'user.created alice',
        'user.updated alice',
        'group.created devs',
        'group.user_added devs alice',
        // active=false keeps the memberships (the IdP owns them): no group.user_removed.
        'user.deactivated alice',
        'user.reactivated alice',
        // DELETE removes them, then deactivates.
        'group.user_removed devs alice',
        'user.deactivated alice',
      ]);
      const [created, updated, , added, suspended, reactivated, , deleted] = events as [Event, Event, Event, Event, Event, Event, Event, Event];
      const internalId = created.data.id;
      assert.deepEqual(created.data, {
        id: internalId, login: 'alice', name: 'Alice', email: null, active: true, local: false, managed: true,
        externalLogin: 'alice', externalProvider: 'saml', externalId: null, sonarQubeLastConnectionDate: null,
      });
      assert.equal(created.previous, undefined);
      // The same shape as the admin API answers.
      const shown = (await app.request('GET', `/api/v2/users-management/users/${internalId}`)).body;
      assert.deepEqual(deleted.data, shown);
      assert.deepEqual([updated.previous.name, updated.data.name], ['Alice', 'Alice L']);
      const devs = (await app.request('GET', '/api/v2/authorizations/groups?q=devs')).body.groups[0];
      assert.ok(group.id !== devs.id, 'events carry internal ids, as the admin API does');
      assert.deepEqual(added.data, { group: { id: devs.id, name: 'devs' }, user: { id: internalId, login: 'alice' } });
      assert.deepEqual([suspended.previous.active, suspended.data.active, reactivated.data.active], [true, false, true]);
      assert.deepEqual([deleted.previous.managed, deleted.data.managed, deleted.data.active], [true, false, false]);
      assert.deepEqual(created.actor, { kind: 'token', name: 'test-idp', userId: app.adminId, login: 'admin' });
      assert.ok(events.every((event) => /^\d{4}-\d\d-\d\dT.*Z$/.test(event.occurredAt) && /^\d+$/.test(event.id)));
    } finally {
      await app.close();
    }
  });

  test('SCIM /Groups: create, rename, add, remove, replace and delete give one event per change', async () => {
    const app = await startTestApp({ database });
    try {
      const ids: string[] = [];
      for (const name of ['u1', 'u2', 'u3', 'u4']) ids.push((await app.request('POST', '/Users', userBody(name))).body.id);
      const [u1, u2, u3, u4] = ids as [string, string, string, string];
      const start = await mark(app);
      const group = (await app.request('POST', '/Groups', groupBody('team', [u1, u2]))).body;
      assert.equal((await app.request('PATCH', `/Groups/${group.id}`, patch({ op: 'replace', path: 'displayName', value: 'team2' }))).status, 204);
      // u1 is a member already: only u3 is added.
      assert.equal((await app.request('PATCH', `/Groups/${group.id}`, patch({ op: 'add', path: 'members', value: [{ value: u3 }, { value: u1 }] }))).status, 204);
      assert.equal((await app.request('PATCH', `/Groups/${group.id}`, patch({ op: 'remove', path: `members[value eq "${u2}"]` }))).status, 204);
      // A PUT replacing the members gives the difference only: u1 goes, u4 comes, u3 stays.
      assert.equal((await app.request('PUT', `/Groups/${group.id}`, groupBody('team2', [u3, u4]))).status, 200);
      assert.equal((await app.request('PATCH', `/Groups/${group.id}`, patch({ op: 'remove', path: 'members' }))).status, 204);
      assert.equal((await app.request('DELETE', `/Groups/${group.id}`)).status, 204);
      const { events } = await since(app, start);
      assert.deepEqual(events.map(line), [
        'group.created team',
        'group.user_added team u1',
        'group.user_added team u2',
        'group.updated team2',
        'group.user_added team2 u3',
        'group.user_removed team2 u2',
        'group.user_removed team2 u1',
        'group.user_added team2 u4',
        'group.user_removed team2 u3',
        'group.user_removed team2 u4',
        'group.deleted team2',
      ]);
      const renamed = events[3] as Event;
      assert.deepEqual(renamed.previous, { id: renamed.data.id, name: 'team', description: null, managed: true, default: false });
      assert.equal(renamed.data.name, 'team2');
    } finally {
      await app.close();
    }
  });

  test('SCIM PUT /Groups: the same members give no event and move no version; a changed member gives its event and moves its version', async () => {
    const app = await startTestApp({ database });
    try {
      const ids: string[] = [];
      for (const name of ['s1', 's2', 's3']) ids.push((await app.request('POST', '/Users', userBody(name))).body.id);
      const [s1, s2, s3] = ids as [string, string, string];
      const group = (await app.request('POST', '/Groups', groupBody('steady', [s1, s2]))).body;
      const etag = async (path: string) => String((await app.request('GET', path)).headers.etag);
      const before = { group: await etag(`/Groups/${group.id}`), s1: await etag(`/Users/${s1}`), s2: await etag(`/Users/${s2}`), s3: await etag(`/Users/${s3}`) };
      const start = await mark(app);
      assert.equal((await app.request('PUT', `/Groups/${group.id}`, groupBody('steady', [s2, s1]))).status, 200);
      assert.deepEqual(await lines(app, start), []);
      assert.deepEqual({ group: await etag(`/Groups/${group.id}`), s1: await etag(`/Users/${s1}`), s2: await etag(`/Users/${s2}`), s3: await etag(`/Users/${s3}`) }, before);
      // s2 goes, s3 comes, s1 stays: two events, and s1's version alone does not move.
      assert.equal((await app.request('PUT', `/Groups/${group.id}`, groupBody('steady', [s1, s3]))).status, 200);
      assert.deepEqual(await lines(app, start), ['group.user_removed steady s2', 'group.user_added steady s3']);
      assert.notEqual(await etag(`/Groups/${group.id}`), before.group);
      assert.equal(await etag(`/Users/${s1}`), before.s1);
      assert.notEqual(await etag(`/Users/${s2}`), before.s2);
      assert.notEqual(await etag(`/Users/${s3}`), before.s3);
      // s2 back in the same group: its own event, and a version it never had (RFC 7644 §3.14).
      assert.equal((await app.request('PUT', `/Groups/${group.id}`, groupBody('steady', [s1, s2, s3]))).status, 200);
      assert.deepEqual((await lines(app, start)).slice(2), ['group.user_added steady s2']);
      assert.notEqual(await etag(`/Users/${s2}`), before.s2);
    } finally {
      await app.close();
    }
  });

  test('SCIM /Bulk: each operation gives the events of the same request made alone', async () => {
    const app = await startTestApp({ database });
    try {
      const start = await mark(app);
      const response = await app.request('POST', '/Bulk', {
        schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'],
        Operations: [
          { method: 'POST', path: '/Groups', bulkId: 'g', data: groupBody('bulk-team', ['bulkId:b1']) },
          { method: 'POST', path: '/Users', bulkId: 'b1', data: userBody('b1') },
          { method: 'POST', path: '/Users', bulkId: 'b2', data: userBody('b2') },
          { method: 'PATCH', path: '/Groups/bulkId:g', data: patch({ op: 'add', path: 'members', value: [{ value: 'bulkId:b2' }] }) },
          { method: 'PATCH', path: '/Users/bulkId:b1', data: patch({ op: 'replace', path: 'active', value: false }) },
          { method: 'DELETE', path: '/Users/bulkId:b2' },
        ],
      });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.deepEqual(response.body.Operations.map((entry: { status: string }) => entry.status), ['201', '201', '201', '204', '200', '204']);
      const { events } = await since(app, start);
      assert.deepEqual(events.map(line), [
        'user.created b1',
        'group.created bulk-team',
        'group.user_added bulk-team b1',
        'user.created b2',
        'group.user_added bulk-team b2',
        // active=false keeps b1 in the group; DELETE takes b2 out of it first.
        'user.deactivated b1',
        'group.user_removed bulk-team b2',
        'user.deactivated b2',
      ]);
      assert.ok(events.every((event) => event.actor.kind === 'token' && event.actor.name === 'test-idp'));
    } finally {
      await app.close();
    }
  });

  test('the admin API: users, groups and memberships give one event per change', async () => {
    const app = await startTestApp({ database, scim: false });
    try {
      const api = '/api/v2';
      const start = await mark(app);
      const user = (await app.request('POST', `${api}/users-management/users`, { login: 'ops', name: 'Ops', local: false })).body;
      assert.equal((await app.request('PATCH', `${api}/users-management/users/${user.id}`, { name: 'Ops team' }, { 'content-type': 'application/merge-patch+json' })).status, 200);
      const group = (await app.request('POST', `${api}/authorizations/groups`, { name: 'auditors' })).body;
      assert.equal((await app.request('PATCH', `${api}/authorizations/groups/${group.id}`, { description: 'read the logs' }, { 'content-type': 'application/merge-patch+json' })).status, 200);
      const membership = (await app.request('POST', `${api}/authorizations/group-memberships`, { groupId: group.id, userId: user.id })).body;
      assert.equal((await app.request('DELETE', `${api}/authorizations/group-memberships/${membership.id}`)).status, 204);
      assert.equal((await app.request('POST', `${api}/authorizations/group-memberships`, { groupId: group.id, userId: user.id })).status, 201);
      assert.equal((await app.request('DELETE', `${api}/users-management/users/${user.id}`)).status, 204);
      assert.equal((await app.request('POST', `${api}/users-management/users`, { login: 'ops', name: 'Ops again', local: false })).status, 200);
      assert.equal((await app.request('DELETE', `${api}/authorizations/groups/${group.id}`)).status, 204);
      const { events } = await since(app, start);
      assert.deepEqual(events.map(line), [
        'user.created ops',
        'user.updated ops',
        'group.created auditors',
        'group.updated auditors',
        'group.user_added auditors ops',
        'group.user_removed auditors ops',
        'group.user_added auditors ops',
        'group.user_removed auditors ops',
        'user.deactivated ops',
        'user.reactivated ops',
        'group.deleted auditors',
      ]);
      assert.deepEqual([events[1]?.previous.name, events[1]?.data.name], ['Ops', 'Ops team']);
      assert.deepEqual([events[3]?.previous.description, events[3]?.data.description], [null, 'read the logs']);
      assert.deepEqual(events[10]?.data, { id: group.id, name: 'auditors', description: 'read the logs', managed: false, default: false });
    } finally {
      await app.close();
    }
  });

  test('the CLI: users, groups and memberships give one event per change, by the cli', async () => {
    const app = await startTestApp({ database, scim: false });
    try {
      const start = await mark(app);
      const cli = (...args: string[]) => {
        const run = spawnSync(process.execPath, rosterArgs(...args), {
          cwd: ROOT,
          encoding: 'utf8',
          env: { ...process.env, ROSTER_DATABASE_URL: app.databaseUrl, ROSTER_BASE_URL: 'https://roster.test' },
        });
        assert.equal(run.status, 0, run.stderr);
      };
      cli('users', 'create', '--login', 'bea', '--name', 'Bea', '--saml');
      cli('groups', 'create', '--name', 'ops');
      cli('groups', 'add-member', '--group', 'ops', '--user', 'bea');
      cli('groups', 'remove-member', '--group', 'ops', '--user', 'bea');
      cli('groups', 'add-member', '--group', 'ops', '--user', 'bea');
      cli('users', 'deactivate', 'bea');
      cli('groups', 'delete', 'ops');
      cli('scim', 'enable');
      const { events } = await since(app, start);
      assert.deepEqual(events.map(line), [
        'user.created bea',
        'group.created ops',
        'group.user_added ops bea',
        'group.user_removed ops bea',
        'group.user_added ops bea',
        'group.user_removed ops bea',
        'user.deactivated bea',
        'group.deleted ops',
        'provisioning.enabled',
      ]);
      assert.ok(events.every((event) => event.actor.kind === 'cli'));
    } finally {
      await app.close();
    }
  });

  test('SAML just-in-time sign-in: the user, its groups and memberships give one event each', async () => {
    const app = await startTestApp({ database, scim: false });
    try {
      const configured = await app.services.saml.configure(
        { ...TEST_IDP, certificates: [testCertificate()], userLoginAttribute: 'login', userNameAttribute: 'displayName', userEmailAttribute: 'mail', groupAttribute: 'groups' },
        { kind: 'cli' },
      );
      assert.ok(configured.ok);
      const start = await mark(app);
      const first = await signIn(app, { login: 'dave', attributes: { displayName: ['Dave'], mail: ['dave@example.com'], groups: ['developers', 'ops'] } });
      assert.equal(first.statusCode, 303, first.body);
      const second = await signIn(app, { login: 'dave', attributes: { displayName: ['David'], mail: ['dave@example.com'], groups: ['ops', 'admins'] } });
      assert.equal(second.statusCode, 303, second.body);
      // The same assertion again changes nothing applications follow (only the last sign-in time).
      const third = await signIn(app, { login: 'dave', attributes: { displayName: ['David'], mail: ['dave@example.com'], groups: ['ops', 'admins'] } });
      assert.equal(third.statusCode, 303, third.body);
      const { events } = await since(app, start);
      assert.deepEqual(events.map(line), [
        'user.created dave',
        'group.created developers',
        'group.user_added developers dave',
        'group.created ops',
        'group.user_added ops dave',
        'user.updated dave',
        'group.user_removed developers dave',
        'group.created admins',
        'group.user_added admins dave',
      ]);
      assert.deepEqual([events[5]?.previous.name, events[5]?.data.name], ['Dave', 'David']);
      assert.ok(events.every((event) => event.actor.kind === 'saml' && event.actor.login === 'dave'));
    } finally {
      await app.close();
    }
  });

  test('the provisioning switch: enabled and disabled once each, a repeated switch nothing', async () => {
    const app = await startTestApp({ database, scim: false });
    try {
      const start = await mark(app);
      for (const path of ['enable', 'enable', 'disable', 'disable']) {
        const answer = await app.request('POST', `/api/scim_management/${path}`, path === 'disable' ? { confirm: true } : {}, { 'content-type': 'application/json' });
        assert.equal(answer.status, 204, JSON.stringify(answer.body));
      }
      const { events } = await since(app, start);
      assert.deepEqual(events.map((event) => [event.type, event.data]), [
        ['provisioning.enabled', { enabled: true }],
        ['provisioning.disabled', { enabled: false }],
      ]);
    } finally {
      await app.close();
    }
  });
});

eachDatabase('the event feed', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database });
  });
  after(() => app.close());

  test('a change and its events are one transaction: a write that fails leaves neither', async () => {
    const start = await mark(app);
    const user = (await app.request('POST', '/Users', userBody('member'))).body;
    // The group's event is written before its members are checked; the unknown member undoes both.
    const refused = await app.request('POST', '/Groups', groupBody('half-made', [user.id, 'no-such-user']));
    assert.equal(refused.status, 400);
    assert.equal((await app.request('GET', `/Groups?filter=${encodeURIComponent('displayName eq "half-made"')}`)).body.totalResults, 0);
    assert.deepEqual(await lines(app, start), ['user.created member']);
    const audit = await app.request('GET', '/api/v2/audit-logs?targetType=group');
    assert.ok(!audit.body.auditLogs.some((entry: any) => entry.details?.name === 'half-made'));
  });

  test('limit is 1 to 1000, 100 by default; pages of 1 walk the same feed', async () => {
    const start = await mark(app);
    for (let i = 0; i < 105; i += 1) assert.equal((await app.request('POST', '/Users', userBody(`paged${i}`))).status, 201);
    await settle(app);
    const first = await read(app, `after=${start}`);
    assert.equal(first.body.events.length, 100);
    const all = (await since(app, start)).events;
    assert.equal(all.length, 105);
    assert.deepEqual(first.body.events, all.slice(0, 100));
    const single: Event[] = [];
    let next = start;
    for (;;) {
      const page = await read(app, `after=${next}&limit=1`);
      assert.ok(page.body.events.length <= 1);
      single.push(...page.body.events);
      next = page.body.next;
      if (page.body.events.length === 0) break;
    }
    assert.deepEqual(single, all);
    // The route's schema checks it as it checks pageSize elsewhere in the admin API.
    for (const limit of ['0', '1001', '-1']) {
      const refused = await read(app, `limit=${limit}`);
      assert.equal(refused.status, 400, limit);
      assert.match(refused.body.message, /field limit .* must be between 1 and 1000/);
    }
    for (const limit of ['ten', '1.5']) {
      const refused = await read(app, `limit=${limit}`);
      assert.equal(refused.status, 400, limit);
      assert.match(refused.body.message, /field limit .* must be an integer/);
    }
  });

  test('types keeps only the events named; unknown types and cursors are 400', async () => {
    const start = await mark(app);
    const user = (await app.request('POST', '/Users', userBody('typed'))).body;
    await app.request('POST', '/Groups', groupBody('typed-group', [user.id]));
    const { events, next } = await since(app, start, '&types=group.created,group.user_added');
    assert.deepEqual(events.map(line), ['group.created typed-group', 'group.user_added typed-group typed']);
    // The cursor of a short filtered page is past the events it left out.
    await app.request('POST', '/Users', userBody('typed-later'));
    assert.deepEqual((await since(app, next, '&types=group.created')).events, []);
    assert.deepEqual((await since(app, next)).events.map(line), ['user.created typed-later']);
    for (const [query, field] of [['types=user.created,user.exploded', 'types'], ['types=', ''], ['after=not-a-cursor', 'after'], [`after=${start}x`, 'after'], ['after=MTox', 'after']] as const) {
      const answer = await read(app, query);
      if (field === '') {
        assert.equal(answer.status, 200, query);
        continue;
      }
      assert.equal(answer.status, 400, query);
      assert.match(answer.body.message, new RegExp(`field ${field} was rejected`), query);
    }
  });

  test('userId keeps the events about one user, its own and its memberships\', in feed order, with the same paging; an unknown id is 404', async () => {
    const start = await mark(app);
    const ada = (await app.request('POST', '/Users', userBody('one-ada'))).body;
    const bob = (await app.request('POST', '/Users', userBody('one-bob'))).body;
    const group = (await app.request('POST', '/Groups', groupBody('one-team', [ada.id, bob.id]))).body;
    assert.equal((await app.request('PATCH', `/Users/${ada.id}`, patch({ op: 'replace', path: 'userName', value: 'one-ada2' }))).status, 200);
    assert.equal((await app.request('PATCH', `/Groups/${group.id}`, patch({ op: 'remove', path: `members[value eq "${bob.id}"]` }))).status, 204);
    assert.equal((await app.request('DELETE', `/Users/${ada.id}`)).status, 204);
    const all = (await since(app, start)).events;
    const created = all.find((event) => event.type === 'user.created' && event.data.login === 'one-ada');
    assert.ok(created);
    const adaId: string = created.data.id;
    const about = (await since(app, start, `&userId=${adaId}`)).events;
    const expected = ['user.created one-ada', 'group.user_added one-team one-ada', 'user.updated one-ada2', 'group.user_removed one-team one-ada2', 'user.deactivated one-ada2'];
    assert.deepEqual(about.map(line), expected);
    // The very events of the whole feed, in its order.
    assert.deepEqual(about, all.filter((event) => about.some((mine) => mine.id === event.id)));
    // Pages of one walk the same list; the short page's cursor goes on after the end.
    const single: Event[] = [];
    let next = start;
    for (;;) {
      const page = await read(app, `after=${next}&limit=1&userId=${adaId}`);
      assert.equal(page.status, 200, JSON.stringify(page.body));
      single.push(...page.body.events);
      next = page.body.next;
      if (page.body.events.length === 0) break;
    }
    assert.deepEqual(single, about);
    assert.deepEqual((await since(app, start, `&userId=${adaId}&types=group.user_added,group.user_removed`)).events.map(line), expected.slice(1, 2).concat(expected.slice(3, 4)));
    assert.deepEqual((await since(app, next, `&userId=${adaId}`)).events, [], 'nothing after the end');
    // An id no user has is a mistake an empty page would hide; an overlong one is refused unread.
    const unknown = await read(app, 'userId=0192f0f0-0000-7000-8000-000000000000');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.message, "User '0192f0f0-0000-7000-8000-000000000000' not found");
    const long = await read(app, `userId=${'x'.repeat(101)}`);
    assert.equal(long.status, 400);
    assert.match(long.body.message, /field userId was rejected/);
  });

  test('only administrators read the feed', async () => {
    assert.equal((await app.request('POST', '/Users', userBody('reader'))).status, 201);
    const reader = (await app.request('GET', '/api/v2/users-management/users?q=reader')).body.users[0];
    const token = await app.tokenFor(reader.id, 'not-admin');
    const forbidden = await app.app.inject({ method: 'GET', url: '/api/v2/events', headers: { authorization: `Bearer ${token}` } });
    assert.equal(forbidden.statusCode, 403);
    const anonymous = await app.app.inject({ method: 'GET', url: '/api/v2/events' });
    assert.equal(anonymous.statusCode, 401);
  });

  test('a cursor older than the retention answers 410 and says to resynchronise; its next goes on', async () => {
    const start = await mark(app);
    await app.request('POST', '/Users', userBody('old-news'));
    await settle(app);
    const read1 = await read(app, `after=${start}&limit=1`);
    assert.equal(read1.body.events.length, 1);
    // Nothing is old yet: a clean-up now deletes nothing.
    assert.equal(await app.services.eventFeed.purge(), 0);
    const deleted = await app.services.eventFeed.purge(new Date(Date.now() + 31 * DAY));
    assert.ok(deleted > 0);
    const gone = await read(app, `after=${start}`);
    assert.equal(gone.status, 410);
    assert.match(gone.body.message, /older than the 30 days events are kept \(ROSTER_EVENT_RETENTION_DAYS\)/);
    assert.match(gone.body.message, /Resynchronise from the lists/);
    const resumed = await read(app, `after=${gone.body.next}`);
    assert.equal(resumed.status, 200);
    // A cursor taken at the end is still good, and so is starting over without one.
    const end = await read(app, `after=${read1.body.next}`);
    assert.equal(end.status, 200, JSON.stringify([decodeCursor(read1.body.next), decodeCursor(gone.body.next), await app.services.store.db.selectFrom('event_feed').selectAll().execute()]));
    await app.request('POST', '/Users', userBody('fresh-news'));
    assert.deepEqual(await lines(app, gone.body.next), ['user.created fresh-news']);
    const fromStart = await read(app, '');
    assert.equal(fromStart.status, 200);
    assert.deepEqual(fromStart.body.events.map(line), ['user.created fresh-news']);
  });

  test('a cursor ahead of the feed answers 410, saying the feed never reached it; the cursor at the end stays good', async () => {
    const start = await mark(app);
    await app.request('POST', '/Users', userBody('ahead-of-time'));
    const { next } = await since(app, start);
    // The cursor the feed just gave, at its end, is good; one beyond it the feed never gave.
    assert.equal((await read(app, `after=${next}`)).status, 200);
    const position = decodeCursor(next);
    assert.ok(position);
    for (const beyond of [{ tx: position.tx, id: position.id + 1000 }, { tx: position.tx + 1000, id: 0 }]) {
      const ahead = await read(app, `after=${encodeCursor(beyond)}`);
      assert.equal(ahead.status, 410, JSON.stringify(ahead.body));
      assert.match(ahead.body.message, /ahead of the feed: the feed never reached that position/);
      assert.match(ahead.body.message, /restored from a backup/);
      assert.match(ahead.body.message, /Resynchronise from the lists/);
      assert.equal(ahead.body.next, next, 'next is the end of the feed');
    }
  });

  test('the clean-up is done by one instance at a time', async () => {
    await app.request('POST', '/Users', userBody('to-expire'));
    await settle(app);
    const other = createEventFeed(app.services.store, { retentionDays: 30 });
    const later = new Date(Date.now() + 62 * DAY);
    const counts = await Promise.all([app.services.eventFeed.purge(later), other.purge(later)]);
    assert.equal(counts.filter((count) => count > 0).length, 1, String(counts));
    // The claim holds for the interval: asking again at once does nothing.
    await app.request('POST', '/Users', userBody('to-expire-too'));
    assert.equal(await other.purge(later), 0);
  });

  test('events come in commit order: a transaction that wrote first and commits last comes last, and is not skipped', async () => {
    const start = await mark(app);
    const journal = createJournal(app.services.store.dialect);
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    let written = () => {};
    const wrote = new Promise<void>((resolve) => (written = resolve));
    // BEGIN, write an event, wait, COMMIT.
    const slow = app.services.store.db.transaction().execute(async (trx) => {
      await journal.record(trx, { kind: 'system' }, { action: 'test.slow', targetType: 'user', events: [{ type: 'user.updated', data: { login: 'slow' } }] });
      written();
      await gate;
    });
    await wrote;
    // On PostgreSQL the fast one commits first, and readers see it at once; on SQLite it
    // waits for the write lock, so the slow one commits first.
    const fast = app.request('POST', '/Users', userBody('fast'));
    const seen: string[][] = [];
    if (database === 'postgres') {
      assert.equal((await fast).status, 201);
      for (let i = 0; i < 3; i += 1) {
        seen.push((await read(app, `after=${start}`)).body.events.map(line));
        await sleep(20);
      }
      assert.deepEqual(seen, [['user.created fast'], ['user.created fast'], ['user.created fast']], 'the later commit is not held back by the open transaction');
    }
    release();
    await slow;
    assert.equal((await fast).status, 201);
    const order = database === 'postgres' ? ['user.created fast', 'user.updated slow'] : ['user.updated slow', 'user.created fast'];
    assert.deepEqual(await lines(app, start), order);
    // A reader that had moved past the fast one still gets the slow one.
    if (database === 'postgres') {
      const after = (await read(app, `after=${start}&limit=1`)).body.next;
      assert.deepEqual((await read(app, `after=${after}`)).body.events.map(line), ['user.updated slow']);
    }
  });

  test('a transaction that waited for another one\'s rows comes after it, though it wrote its event first', async () => {
    const start = await mark(app);
    const journal = createJournal(app.services.store.dialect);
    const store = app.services.store;
    const held = (await app.request('POST', '/Users', userBody('held'))).body.id as string;
    const heldId = (await store.db.selectFrom('scim_users').select('user_id').where('scim_id', '=', held).executeTakeFirstOrThrow()).user_id;
    const after = await mark(app);
    let wrote = () => {};
    const waiterWrote = new Promise<void>((resolve) => (wrote = resolve));
    let releaseHolder = () => {};
    const holderMayCommit = new Promise<void>((resolve) => (releaseHolder = resolve));
    let locked = () => {};
    const holderLocked = new Promise<void>((resolve) => (locked = resolve));
    // `waiter` writes its event, then asks for the row `holder` has locked; `holder` locks
    // the row after `waiter` wrote (on PostgreSQL, `waiter` got its transaction id first),
    // writes its event and commits; only then can `waiter` go on and commit.
    const waiter = store.db.transaction().execute(async (trx) => {
      await journal.record(trx, { kind: 'system' }, { action: 'test.waiter', targetType: 'user', events: [{ type: 'user.updated', data: { login: 'waiter' } }] });
      wrote();
      if (database !== 'postgres') return;
      await holderLocked;
      await trx.selectFrom('users').select('id').where('id', '=', heldId).forUpdate().execute();
    });
    if (database === 'postgres') {
      await waiterWrote;
      const holder = store.db.transaction().execute(async (trx) => {
        await trx.selectFrom('users').select('id').where('id', '=', heldId).forUpdate().execute();
        locked();
        await journal.record(trx, { kind: 'system' }, { action: 'test.holder', targetType: 'user', events: [{ type: 'user.updated', data: { login: 'holder' } }] });
        await holderMayCommit;
      });
      // Let `waiter` reach the lock and queue behind `holder`.
      await sleep(100);
      releaseHolder();
      await holder;
      await waiter;
      assert.deepEqual(await lines(app, after), ['user.updated holder', 'user.updated waiter']);
    } else {
      await waiter;
      assert.deepEqual(await lines(app, after), ['user.updated waiter']);
    }
    assert.ok((await lines(app, start)).includes('user.created held'));
  });
});


eachDatabase('the event feed under concurrent writers and readers', (database) => {
  test('writers through two instances, readers walking at once: no gap, no duplicate, one order', async () => {
    const app = await startTestApp({ database });
    const second = await secondInstance(app, database);
    try {
      const start = await mark(app);
      const shared = (await app.request('POST', '/Groups', groupBody('everyone'))).body;
      const instances = [app.request, second.request];
      const WRITERS = 6;
      const UPDATES = 8;
      let writing = true;
      const writers = Array.from({ length: WRITERS }, async (_, w) => {
        const via = instances[w % 2] as TestApp['request'];
        const user = (await via('POST', '/Users', userBody(`writer${w}`))).body;
        for (let n = 1; n <= UPDATES; n += 1) {
          const put = await via('PUT', `/Users/${user.id}`, userBody(`writer${w}`, { displayName: `W${w} v${n}` }));
          assert.equal(put.status, 200);
          if (n % 3 === 0) assert.equal((await via('PATCH', `/Groups/${shared.id}`, patch({ op: 'add', path: 'members', value: [{ value: user.id }] }))).status, 204);
        }
      });
      const readers = [3, 17, 1000].map(async (limit, r) => {
        const via = instances[r % 2] as TestApp['request'];
        const seen: Event[] = [];
        let next = start;
        for (;;) {
          // Only a page asked for once every write was done may end the walk: an empty page
          // asked for before the last commit says nothing about it.
          const afterWrites = !writing;
          const page = await via('GET', `/api/v2/events?after=${next}&limit=${limit}`);
          assert.equal(page.status, 200);
          seen.push(...page.body.events);
          next = page.body.next;
          if (afterWrites && page.body.events.length === 0) return { seen, next };
          if (page.body.events.length < limit) await sleep(10);
        }
      });
      await Promise.all(writers);
      await settle(app);
      writing = false;
      const results = await Promise.all(readers);
      const stored = await app.services.store.db.selectFrom('events').select('id').orderBy('tx').orderBy('id').execute();
      const startAt = stored.findIndex((row) => String(row.id) === results[0]?.seen[0]?.id);
      const expected = stored.slice(startAt).map((row) => String(row.id));
      // The group, then per writer: created, its updates, and joining the group (joining again changes nothing).
      assert.equal(expected.length, 1 + WRITERS * (1 + UPDATES + 1));
      for (const { seen } of results) {
        const ids = seen.map((event) => event.id);
        assert.equal(new Set(ids).size, ids.length, 'a duplicate');
        assert.deepEqual(ids, expected, 'every reader sees every event, in one order');
      }
      // Each writer's changes come in the order it made them.
      const seen = results[0]?.seen ?? [];
      for (let w = 0; w < WRITERS; w += 1) {
        const names = seen.filter((event) => event.type.startsWith('user.') && event.data.login === `writer${w}`).map((event) => event.data.name);
        assert.deepEqual(names, [null, ...Array.from({ length: UPDATES }, (_, n) => `W${w} v${n + 1}`)]);
      }
    } finally {
      await second.close();
      await app.close();
    }
  });
});

describe('the event feed after a restore', () => {
  test('a cursor that read changes the restore undid answers 410, however many changes follow, and event ids are never given twice (SQLite: db backup and db restore)', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'roster-restore-'));
    const location = { kind: 'sqlite', path: join(directory, 'roster.db') } as const;
    const backup = join(directory, 'backup.db');
    try {
      const original = await startTestApp({ database: 'sqlite', location });
      const start = await mark(original);
      await original.request('POST', '/Users', userBody('in-the-backup'));
      await backupSqlite(location.path, backup);
      await original.request('POST', '/Users', userBody('lost-with-the-restore'));
      const { events, next } = await since(original, start);
      assert.deepEqual(events.map(line), ['user.created in-the-backup', 'user.created lost-with-the-restore']);
      const lostId = Number(events[1]?.id);
      await original.close();
      const report = await restoreSqlite(backup, location.path);
      assert.equal(report.undidEvents, true);
      // Started again on the restored database (`roster serve` would be: the same services).
      const store = await openStore(location);
      const services = createServices(store);
      try {
        const cli = { kind: 'cli' } as const;
        // More changes after the restore than it undid: the consumer's cursor, which read the
        // undone change, is still told so, however many changes follow.
        for (const name of ['after-1', 'after-2', 'after-3']) await services.groups.create({ displayName: name }, [], cli);
        const answer = await services.eventFeed.read({ after: decodeCursor(next), types: undefined, limit: 100 });
        assert.equal(answer.kind, 'expired', JSON.stringify(answer));
        assert.match(answer.kind === 'expired' ? answer.message : '', /^This cursor read changes that a restore undid/);
        // A cursor from before the backup's end is good: it reads what the backup holds, then the new changes.
        const good = await services.eventFeed.read({ after: decodeCursor(start), types: undefined, limit: 100 });
        assert.equal(good.kind, 'page', JSON.stringify(good));
        const after = good.kind === 'page' ? good.events : [];
        assert.deepEqual(after.map((event) => line(event as Event)), ['user.created in-the-backup', 'group.created after-1', 'group.created after-2', 'group.created after-3']);
        // No event id the replaced database handed out is given again (receivers skip ids they applied).
        for (const event of after.slice(1)) assert.ok(Number(event.id) > lostId, `${event.id} > ${lostId}`);
        // Resynchronised from the lists, the consumer goes on from next.
        await services.groups.create({ displayName: 'made-after-resynchronising' }, [], cli);
        const page = await services.eventFeed.read({ after: decodeCursor(answer.next), types: undefined, limit: 100 });
        assert.deepEqual(page.kind === 'page' ? page.events.map((event) => line(event as Event)) : page, ['group.created made-after-resynchronising']);
      } finally {
        await store.close();
      }
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});

describe('the event feed after a restore, in the cases an operator meets', () => {
  /** A database with events 1–2 in a backup and a third after it; returns the paths and the third's id. */
  async function restorable(directory: string): Promise<{ path: string; backup: string; lostId: number }> {
    const location = { kind: 'sqlite', path: join(directory, 'roster.db') } as const;
    const backup = join(directory, 'backup.db');
    const app = await startTestApp({ database: 'sqlite', location });
    try {
      const start = await mark(app);
      await app.request('POST', '/Users', userBody('in-the-backup'));
      await backupSqlite(location.path, backup);
      await app.request('POST', '/Users', userBody('undone'));
      const { events } = await since(app, start);
      return { path: location.path, backup, lostId: Number(events.at(-1)?.id) };
    } finally {
      await app.close();
    }
  }

  /** The id of the next event the database at `path` writes. */
  async function nextEventId(location: Parameters<typeof openStore>[0]): Promise<number> {
    const store = await openStore(location);
    try {
      const services = createServices(store);
      await services.groups.create({ displayName: `probe-${Math.random().toString(36).slice(2)}` }, [], { kind: 'cli' });
      const page = await services.eventFeed.read({ after: undefined, types: ['group.created'], limit: 1000 });
      return Number(page.kind === 'page' ? page.events.at(-1)?.id : Number.NaN);
    } finally {
      await store.close();
    }
  }

  test('a database damaged where its events are stored is still replaced, and the numbering still goes on', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'roster-restore-'));
    try {
      const { path, backup, lostId } = await restorable(directory);
      // Overwrite the events table's first page: the rows are unreadable, the file "malformed".
      const raw = new SQLite(path);
      const { rootpage } = raw.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'events'").get() as { rootpage: number };
      const pageSize = raw.pragma('page_size', { simple: true }) as number;
      raw.close();
      const fd = openSync(path, 'r+');
      writeSync(fd, Buffer.alloc(pageSize, 0xff), 0, pageSize, (rootpage - 1) * pageSize);
      closeSync(fd);
      const report = await restoreSqlite(backup, path);
      assert.equal(report.feedNotCarried, undefined);
      assert.equal(report.undidEvents, true);
      assert.ok((await nextEventId({ kind: 'sqlite', path })) > lostId);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  test('a restore with no database to replace says that the numbering could not go on', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'roster-restore-'));
    try {
      const { backup } = await restorable(directory);
      const report = await restoreSqlite(backup, join(directory, 'new-machine.db'));
      assert.match(report.feedNotCarried ?? '', /there was no database at .*new-machine\.db to replace/);
      assert.equal(report.undidEvents, false);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  eachDatabase('db copy of a restored database', (database) => {
    test('keeps the numbering after the ids the restore undid', async () => {
      const directory = mkdtempSync(join(tmpdir(), 'roster-restore-'));
      const target = await createTestDatabase(database);
      try {
        const { path, backup, lostId } = await restorable(directory);
        await restoreSqlite(backup, path);
        const source = await openStore({ kind: 'sqlite', path });
        const copy = await openStore(target.location);
        try {
          await copyDatabase(source, copy, () => {});
        } finally {
          await source.close();
          await copy.close();
        }
        assert.ok((await nextEventId(target.location)) > lostId, 'no id of an undone event is given again');
      } finally {
        await target.drop();
        rmSync(directory, { recursive: true, force: true });
      }
    });
  });
});

describe('the event feed', () => {
  test('cursors are opaque strings that round-trip only what the feed hands out', () => {
    assert.equal(decodeCursor('not a cursor'), undefined);
    assert.equal(decodeCursor(Buffer.from('1:12:-3').toString('base64url')), undefined);
    assert.equal(decodeCursor(Buffer.from('2:12:3').toString('base64url')), undefined);
    assert.deepEqual(decodeCursor(Buffer.from('1:12:3').toString('base64url')), { tx: 12, id: 3 });
  });
});
