/**
 * The Groups pages of the console (issue 9), HTTP-level on both databases: search, filters,
 * the Local badge and Delete for local groups only while SCIM is on, every change refused with
 * the domain's message when posted anyway, CSRF; and while SCIM is off: create, rename, delete,
 * members searched and paged on the server, added and removed.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { groupBody, startTestApp, userBody, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { getPage, postForm, sessionFor, type ConsoleSession } from '../support/console.ts';

const MANAGED = /Operation not allowed when the instance is externally managed\./;
const cli = { kind: 'cli' } as const;

/** The <tr> whose link text is `name`. */
function rowOf(body: string, name: string): string {
  const row = body.split('<tr>').find((candidate) => candidate.includes(`">${name}</a>`));
  assert.ok(row !== undefined, `no row for ${name}`);
  return row;
}

async function groupId(app: TestApp, name: string): Promise<string> {
  const { groups } = await app.services.groupManagement.list({ q: name }, { offset: 0, limit: 10 });
  const group = groups.find((candidate) => candidate.name === name);
  assert.ok(group, name);
  return group.id;
}

eachDatabase('console: Groups while SCIM is on', (database) => {
  let app: TestApp;
  let admin: ConsoleSession;
  let engineers = '';
  let locals = '';

  before(async () => {
    app = await startTestApp({ database, scim: false });
    const carol = await app.services.accounts.create({ login: 'carol', name: 'Carol', local: false }, cli);
    const local = await app.services.groupManagement.create({ name: 'local-team', description: 'Made here' }, cli);
    await app.services.memberships.add({ groupId: local.id, userId: carol.id }, cli);
    await app.services.provisioning.enable(cli);
    const ada = await app.request('POST', '/Users', userBody('ada@example.com'));
    assert.equal((await app.request('POST', '/Groups', groupBody('engineers', [ada.body.id]))).status, 201);
    engineers = await groupId(app, 'engineers');
    locals = local.id;
    admin = await sessionFor(app, app.adminId);
  });
  after(() => app.close());

  test('the list: managed banner, Local badge on local groups, Delete only for them, Create greyed out', async () => {
    const page = await getPage(app, '/admin/groups', admin);
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /Groups and their members are managed by your identity provider; only local groups can be deleted here\./);
    assert.match(rowOf(page.body, 'local-team'), />Local</);
    assert.match(rowOf(page.body, 'local-team'), /<h2 id="delete-\d+-title">Delete the group local-team\?<\/h2>/);
    assert.doesNotMatch(rowOf(page.body, 'engineers'), />Local</);
    assert.match(rowOf(page.body, 'engineers'), /disabled aria-describedby="delete-\d+-why">Delete<span class="visually-hidden"> engineers<\/span><\/button>/);
    assert.match(page.body, /disabled aria-describedby="managed-note">Create group<\/button>/);
  });

  test('searches by name and filters by source', async () => {
    const found = await getPage(app, '/admin/groups?q=ENGIN', admin);
    assert.match(found.body, /">engineers<\/a>/);
    assert.doesNotMatch(found.body, /">local-team<\/a>/);
    const local = await getPage(app, '/admin/groups?source=local', admin);
    assert.match(local.body, /">local-team<\/a>/);
    assert.doesNotMatch(local.body, /">engineers<\/a>/);
    const idp = await getPage(app, '/admin/groups?source=idp', admin);
    assert.match(idp.body, /">engineers<\/a>/);
    assert.doesNotMatch(idp.body, /">local-team<\/a>/);
  });

  test("a group's page greys out rename and member changes, and lists the members", async () => {
    const page = await getPage(app, `/admin/groups/${engineers}`, admin);
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /">ada@example\.com<\/a>/);
    assert.match(page.body, /disabled aria-describedby="managed-note">Save<\/button>/);
    assert.match(page.body, /disabled aria-describedby="managed-note">Add<\/button>/);
    assert.match(page.body, /disabled aria-describedby="managed-note">Remove<span class="visually-hidden"> ada@example\.com<\/span><\/button>/);
  });

  test('each change sent anyway shows the domain refusal and changes nothing', async () => {
    const adaId = (await app.services.accounts.findByLogin('ada@example.com'))?.id ?? '';
    const attempts: Array<[string, Record<string, string>]> = [
      ['/admin/groups', { name: 'new-group' }],
      [`/admin/groups/${engineers}`, { name: 'renamed', description: '' }],
      [`/admin/groups/${engineers}/delete`, {}],
      [`/admin/groups/${engineers}/members`, { login: 'carol' }],
      [`/admin/groups/${engineers}/members/remove`, { userId: adaId }],
      [`/admin/groups/${locals}`, { name: 'local-renamed', description: '' }],
    ];
    for (const [url, fields] of attempts) {
      const response = await postForm(app, url, fields, { session: admin });
      assert.equal(response.statusCode, 400, url);
      assert.match(response.body, MANAGED, url);
      assert.match(response.body, /role="alert"/, url);
    }
    assert.equal((await app.services.groupManagement.get(engineers)).name, 'engineers');
    assert.equal((await app.services.groupManagement.get(locals)).name, 'local-team');
    assert.equal((await app.services.memberships.list({ groupId: engineers }, { offset: 0, limit: 10 })).total, 1);
    assert.equal((await app.services.groupManagement.list({ q: 'new-group' }, { offset: 0, limit: 1 })).total, 0);
  });

  test('a delete without the CSRF token is refused with 403; with it, a local group is deleted', async () => {
    const refused = await postForm(app, `/admin/groups/${locals}/delete`, {}, { session: admin, csrf: false });
    assert.equal(refused.statusCode, 403);
    assert.equal((await app.services.groupManagement.get(locals)).name, 'local-team');
    const deleted = await postForm(app, `/admin/groups/${locals}/delete`, {}, { session: admin });
    assert.equal(deleted.statusCode, 303);
    assert.equal(deleted.headers.location, '/admin/groups?notice=deleted');
    assert.equal((await getPage(app, `/admin/groups/${locals}`, admin)).statusCode, 404);
    const event = await app.services.store.db.selectFrom('audit_events').select(['actor']).where('action', '=', 'group.deleted').where('target_id', '=', locals).executeTakeFirstOrThrow();
    assert.equal(event.actor, 'session:admin');
  });
});

eachDatabase('console: Groups while SCIM is off', (database) => {
  let app: TestApp;
  let admin: ConsoleSession;

  before(async () => {
    app = await startTestApp({ database, scim: false });
    admin = await sessionFor(app, app.adminId);
    for (const login of ['m1', 'm2', 'm3', 'm4', 'm5']) await app.services.accounts.create({ login: `${login}@example.com`, name: `Member ${login}`, local: false }, cli);
  });
  after(() => app.close());

  test("the administrators' group is marked in the list, on its page and on its members' pages; no other group is", async () => {
    const admins = await app.services.groupManagement.create({ name: 'Roster-Administrators' }, cli);
    const helpers = await app.services.groupManagement.create({ name: 'roster-administrators-helpers' }, cli);
    const m1 = await app.services.accounts.findByLogin('m1@example.com');
    await app.services.memberships.add({ groupId: admins.id, userId: m1?.id ?? '' }, cli);
    await app.services.memberships.add({ groupId: helpers.id, userId: m1?.id ?? '' }, cli);
    const list = await getPage(app, '/admin/groups?q=roster', admin);
    assert.match(rowOf(list.body, 'Roster-Administrators'), /<\/a> <span class="badge badge-warning">Administrators<\/span>/);
    assert.doesNotMatch(rowOf(list.body, 'roster-administrators-helpers'), />Administrators</);
    const page = await getPage(app, `/admin/groups/${admins.id}`, admin);
    assert.match(page.body, /<h1>Roster-Administrators <span class="badge badge-warning">Administrators<\/span>/);
    assert.match(page.body, /<dt>Grants<\/dt><dd>Administration of Roster: its active members are administrators/);
    const other = await getPage(app, `/admin/groups/${helpers.id}`, admin);
    assert.doesNotMatch(other.body, /<dt>Grants<\/dt>|badge-warning">Administrators/);
    const user = await getPage(app, `/admin/users/${m1?.id}`, admin);
    assert.match(rowOf(user.body, 'Roster-Administrators'), /badge-warning">Administrators</);
    assert.doesNotMatch(rowOf(user.body, 'roster-administrators-helpers'), />Administrators</);
    await app.services.groupManagement.delete(admins.id, cli);
    await app.services.groupManagement.delete(helpers.id, cli);
  });

  test('creates a group, renames it, and refuses a taken name with the domain message', async () => {
    const created = await postForm(app, '/admin/groups', { name: 'builders', description: 'They build' }, { session: admin });
    assert.equal(created.statusCode, 303);
    const id = await groupId(app, 'builders');
    assert.equal(created.headers.location, `/admin/groups/${id}?notice=created`);
    const renamed = await postForm(app, `/admin/groups/${id}`, { name: 'makers', description: '' }, { session: admin });
    assert.equal(renamed.statusCode, 303);
    assert.equal(renamed.headers.location, `/admin/groups/${id}?notice=renamed`);
    // Sent again as stored: nothing is written, and the page does not claim a change.
    const same = await postForm(app, `/admin/groups/${id}`, { name: 'makers', description: '' }, { session: admin });
    assert.equal(same.headers.location, `/admin/groups/${id}?notice=unchanged`);
    assert.match((await getPage(app, `/admin/groups/${id}?notice=unchanged`, admin)).body, /Nothing was changed: the form held the values the group already had\./);
    const group = await app.services.groupManagement.get(id);
    assert.equal(group.name, 'makers');
    assert.equal(group.description, null);
    await app.services.groupManagement.create({ name: 'taken' }, cli);
    const clash = await postForm(app, '/admin/groups', { name: 'taken' }, { session: admin });
    assert.equal(clash.statusCode, 409);
    assert.match(clash.body, /Group &#39;taken&#39; already exists/);
    // A rejected value is shown beside the field of the form that sent it.
    const long = await postForm(app, `/admin/groups/${id}`, { name: 'x'.repeat(300), description: '' }, { session: admin });
    assert.equal(long.statusCode, 400);
    assert.match(long.body, /id="rename-name"[^>]*aria-invalid="true"/);
    assert.match(long.body, /id="rename-name-error">Must be at most 255 characters long\.</);
    assert.match(long.body, /<a href="#rename-name">Name<\/a>: Must be at most 255 characters long\./, 'the error summary links to the field');
    assert.doesNotMatch(long.body, /id="create-name"[^>]*aria-invalid/);
    const list = await getPage(app, '/admin/groups', admin);
    assert.doesNotMatch(list.body, /managed by your identity provider/);
    assert.doesNotMatch(list.body, />Local</);
  });

  test('adds members by login, searches and pages them on the server, and removes one', async () => {
    const group = await app.services.groupManagement.create({ name: 'crowd' }, cli);
    for (const login of ['m1', 'm2', 'm3', 'm4', 'm5']) {
      const added = await postForm(app, `/admin/groups/${group.id}/members`, { login: `${login}@example.com` }, { session: admin });
      assert.equal(added.statusCode, 303, login);
    }
    const unknown = await postForm(app, `/admin/groups/${group.id}/members`, { login: 'nobody' }, { session: admin });
    assert.equal(unknown.statusCode, 404);
    assert.match(unknown.body, /No user has the login &#39;nobody&#39;\./);
    const again = await postForm(app, `/admin/groups/${group.id}/members`, { login: 'm1@example.com' }, { session: admin });
    assert.equal(again.statusCode, 409);
    assert.match(again.body, /is already a member of group/);
    // Said beside the field, which is marked and linked from the summary, as the unknown login is.
    assert.match(again.body, /<input id="add-login"[^>]* aria-invalid="true" aria-describedby="add-login-error">/);
    assert.match(again.body, /<p class="field-error" id="add-login-error">[^<]*is already a member of group/);
    assert.match(again.body, /href="#add-login"/);

    const first = await getPage(app, `/admin/groups/${group.id}?size=2`, admin);
    assert.match(first.body, /Page 1 of 3 · 5 members/);
    assert.equal((first.body.match(/<tr><td><a href="\/admin\/users\//g) ?? []).length, 2);
    // The count comes from the group's memberships, the last page is read from the end (store/users.ts).
    const last = await getPage(app, `/admin/groups/${group.id}?size=2&page=3`, admin);
    assert.match(last.body, /Page 3 of 3 · 5 members/);
    assert.deepEqual([...last.body.matchAll(/<tr><td><a href="\/admin\/users\/[^"]+">([^<]+)<\/a>/g)].map((match) => match[1]), ['m5@example.com']);
    // Its page's Delete says how many memberships go with it (the list's rows do not count them).
    const confirm = await getPage(app, `/admin/groups/${group.id}?confirm=delete-group`, admin);
    assert.match(confirm.body, /The group <strong>crowd<\/strong> and its 5 memberships are deleted\./);
    const searched = await getPage(app, `/admin/groups/${group.id}?q=M3`, admin);
    assert.match(searched.body, /Page 1 of 1 · 1 member</);
    assert.match(searched.body, /">m3@example\.com<\/a>/);

    const m3 = await app.services.accounts.findByLogin('m3@example.com');
    const removed = await postForm(app, `/admin/groups/${group.id}/members/remove`, { userId: m3?.id ?? '' }, { session: admin });
    assert.equal(removed.statusCode, 303);
    assert.equal((await app.services.memberships.list({ groupId: group.id }, { offset: 0, limit: 0 })).total, 4);
    const none = await postForm(app, `/admin/groups/${group.id}/members/remove`, { userId: m3?.id ?? '' }, { session: admin });
    assert.equal(none.statusCode, 404);
  });

  test('Remove asks first, keeping the search; removing yourself from the administrators\' group says what you lose', async () => {
    const group = await app.services.groupManagement.create({ name: 'roster-administrators' }, cli);
    await app.services.memberships.add({ groupId: group.id, userId: app.adminId }, cli);
    const path = `/admin/groups/${group.id}`;
    const page = await getPage(app, `${path}?q=adm`, admin);
    assert.match(page.body, new RegExp(`<form method="get" class="inline" id="remove-${app.adminId}-ask" data-confirm="remove-${app.adminId}"><input type="hidden" name="q" value="adm"><input type="hidden" name="confirm" value="remove-${app.adminId}">`), 'the Remove button only opens the confirmation');
    assert.doesNotMatch(page.body, new RegExp(`<dialog id="remove-${app.adminId}"[^>]* open>`));

    const asking = await getPage(app, `${path}?q=adm&confirm=remove-${app.adminId}`, admin);
    assert.match(asking.body, new RegExp(`<dialog id="remove-${app.adminId}"[^>]* open>`));
    assert.match(asking.body, /Remove admin from roster-administrators\?/);
    assert.match(asking.body, /You are removing yourself from the administrators' group/);
    assert.match(asking.body, /<button type="submit" class="button default" autofocus>Cancel<\/button>/, 'Cancel has the focus');
    assert.match(asking.body, new RegExp(`<form method="get" action="${path}#remove-${app.adminId}-ask" class="inline"><input type="hidden" name="q" value="adm">`), 'Cancel goes back to the button that asked');
    assert.equal((await app.services.memberships.list({ groupId: group.id }, { offset: 0, limit: 0 })).total, 1, 'nothing removed by asking');
  });

  test('member changes without the CSRF token are refused with 403', async () => {
    const group = await app.services.groupManagement.create({ name: 'guarded' }, cli);
    const response = await postForm(app, `/admin/groups/${group.id}/members`, { login: 'm1@example.com' }, { session: admin, csrf: false });
    assert.equal(response.statusCode, 403);
    assert.equal((await app.services.memberships.list({ groupId: group.id }, { offset: 0, limit: 0 })).total, 0);
  });
});
