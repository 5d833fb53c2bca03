/**
 * The Users pages of the console (issue 9), HTTP-level on both databases: search, filters and
 * paging; the managed-mode rules while SCIM is on (banner, Local badge, Create and Deactivate
 * greyed out, and the domain's refusal when a form is posted anyway); CSRF; a user's page.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { groupBody, startTestApp, userBody, type TestApp, SESSION_COOKIE } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { getPage, passwordSignIn, postForm, sessionFor, type ConsoleSession } from '../support/console.ts';

const MANAGED = 'Operation not allowed when the instance is externally managed.';
const cli = { kind: 'cli' } as const;

/** The <tr> of the users table whose login link is `login`. */
function rowOf(body: string, login: string): string {
  const row = body.split('<tr>').find((candidate) => candidate.includes(`">${login}</a>`));
  assert.ok(row !== undefined, `no row for ${login}`);
  return row;
}

async function idOf(app: TestApp, login: string): Promise<string> {
  const user = await app.services.accounts.findByLogin(login);
  assert.ok(user, login);
  return user.id;
}

eachDatabase('console: Users while SCIM is on', (database) => {
  let app: TestApp;
  let admin: ConsoleSession;
  let adaScimId = '';

  before(async () => {
    // Local users first (SCIM off), then SCIM on and users from the identity provider.
    app = await startTestApp({ database, scim: false });
    await app.services.accounts.create({ login: 'carol', name: 'Carol Local', email: 'carol@corp.example', local: false }, cli);
    await app.services.accounts.create({ login: 'dave', name: 'Dave Local', local: false }, cli);
    await app.services.provisioning.enable(cli);
    const ada = await app.request('POST', '/Users', userBody('ada@example.com', { displayName: 'Ada Lovelace', emails: [{ value: 'ada@example.com', primary: true }] }));
    assert.equal(ada.status, 201);
    adaScimId = ada.body.id;
    assert.equal((await app.request('POST', '/Groups', groupBody('engineers', [adaScimId]))).status, 201);
    admin = await sessionFor(app, app.adminId);
  });
  after(() => app.close());

  test('shows the managed banner, the Local badge on local users only, and Create user greyed out', async () => {
    const page = await getPage(app, '/admin/users', admin);
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /users are managed by your identity provider; only local users can be deactivated here/i);
    assert.match(rowOf(page.body, 'carol'), />Local</);
    assert.doesNotMatch(rowOf(page.body, 'ada@example.com'), />Local</);
    assert.match(page.body, /<span class="button primary" role="link" aria-disabled="true" aria-describedby="managed-note">Create user<\/span>/);
    assert.doesNotMatch(page.body, /href="\/admin\/users\/new"/);
  });

  test('Deactivate is offered only for active local users, with a confirmation naming the user', async () => {
    const page = await getPage(app, '/admin/users', admin);
    const carol = rowOf(page.body, 'carol');
    assert.match(carol, /<h2 id="deactivate-\d+-title">Deactivate carol\?<\/h2>/);
    assert.match(carol, /Deactivate carol<\/button>/);
    assert.match(rowOf(page.body, 'ada@example.com'), /<button type="submit" class="button danger" disabled aria-describedby="deactivate-\d+-why">Deactivate<span class="visually-hidden"> ada@example\.com<\/span><\/button><span class="visually-hidden" id="deactivate-\d+-why">Operation not allowed/);
    // Nobody deactivates themselves.
    assert.match(rowOf(page.body, 'admin'), /disabled[^>]*>Deactivate<span class="visually-hidden"> admin<\/span><\/button><span class="visually-hidden"[^>]*>Self-deactivation is not possible/);
  });

  test('searches login, name and email, and filters by source and status', async () => {
    const byEmail = await getPage(app, '/admin/users?q=CORP.example', admin);
    assert.match(byEmail.body, /">carol<\/a>/);
    assert.doesNotMatch(byEmail.body, /">dave<\/a>/);
    assert.match(byEmail.body, /Page 1 of 1 · 1 user</);
    const byName = await getPage(app, '/admin/users?q=lovelace', admin);
    assert.match(byName.body, /">ada@example\.com<\/a>/);
    assert.doesNotMatch(byName.body, /">carol<\/a>/);

    const fromIdp = await getPage(app, '/admin/users?source=idp', admin);
    assert.match(fromIdp.body, /">ada@example\.com<\/a>/);
    assert.doesNotMatch(fromIdp.body, /">carol<\/a>|">admin<\/a>/);
    assert.match(fromIdp.body, /<a href="\/admin\/users\?source=idp" aria-current="true">From IdP<\/a>/);
    const local = await getPage(app, '/admin/users?source=local', admin);
    assert.match(local.body, /">carol<\/a>/);
    assert.doesNotMatch(local.body, /">ada@example\.com<\/a>/);
    const none = await getPage(app, '/admin/users?status=deactivated', admin);
    assert.match(none.body, /No users\./);
  });

  test('pages on the server: a page of two, with Previous and Next', async () => {
    const first = await getPage(app, '/admin/users?size=2', admin);
    assert.match(first.body, /Page 1 of 2 · 4 users/);
    assert.equal((first.body.match(/<tr><td><a href="\/admin\/users\//g) ?? []).length, 2);
    assert.match(first.body, /<a class="button default" rel="next" href="\/admin\/users\?size=2&amp;page=2">Next<\/a>/);
    const second = await getPage(app, '/admin/users?size=2&page=2', admin);
    assert.match(second.body, /Page 2 of 2 · 4 users/);
    assert.equal((second.body.match(/<tr><td><a href="\/admin\/users\//g) ?? []).length, 2);
    // A page past the end (an old link) says so and leads back, rather than "No users." beside 4 users.
    const past = await getPage(app, '/admin/users?size=2&page=999', admin);
    assert.equal(past.statusCode, 200);
    assert.match(past.body, /Page 999 is past the end: 4 users fill 2 pages · <a href="\/admin\/users\?size=2&amp;page=2">Go to the last page<\/a>/);
    assert.match(past.body, /Nothing on this page: it is past the end of the list/);
    assert.doesNotMatch(past.body, /No users\./);
    assert.match(past.body, /<a class="button default" rel="prev" href="\/admin\/users\?size=2&amp;page=2">Previous<\/a>/);
  });

  test('a deactivation of a provisioned user sent anyway shows the domain refusal and changes nothing', async () => {
    const adaId = await idOf(app, 'ada@example.com');
    const response = await postForm(app, `/admin/users/${adaId}/deactivate`, {}, { session: admin });
    assert.equal(response.statusCode, 400);
    assert.match(response.body, new RegExp(MANAGED.replace(/\./g, '\\.')));
    assert.match(response.body, /role="alert"/);
    assert.equal((await app.services.accounts.get(adaId)).active, true);
  });

  test('a user creation sent anyway shows the domain refusal and creates nobody', async () => {
    const form = await getPage(app, '/admin/users/new', admin);
    assert.match(form.body, /<button type="submit" class="button primary" disabled aria-describedby="managed-note">Create user<\/button>/);
    // Not only the button: no field can be filled in for nothing.
    const controls = [...form.body.matchAll(/<(?:input|select) id="field-[^"]+"[^>]*>/g)].map(([tag]) => tag);
    assert.equal(controls.length, 5, controls.join('\n'));
    for (const control of controls) assert.match(control, / disabled/, control);
    const response = await postForm(app, '/admin/users', { login: 'mallory', name: 'Mallory', signIn: 'password', password: 'a-long-enough-password' }, { session: admin });
    assert.equal(response.statusCode, 400);
    assert.match(response.body, new RegExp(MANAGED.replace(/\./g, '\\.')));
    assert.match(response.body, /value="mallory"/, 'the form keeps what was typed');
    assert.equal(await app.services.accounts.findByLogin('mallory'), undefined);
  });

  test('a deactivation without the CSRF token is refused with 403 and changes nothing', async () => {
    const daveId = await idOf(app, 'dave');
    const response = await postForm(app, `/admin/users/${daveId}/deactivate`, {}, { session: admin, csrf: false });
    assert.equal(response.statusCode, 403);
    assert.equal((await app.services.accounts.get(daveId)).active, true);
  });

  test('deactivating a local user from the list comes back to the list, and is audited as the administrator', async () => {
    const daveId = await idOf(app, 'dave');
    const response = await postForm(app, `/admin/users/${daveId}/deactivate`, { back: '/admin/users?q=dave&confirm=deactivate-1' }, { session: admin });
    assert.equal(response.statusCode, 303);
    assert.equal(response.headers.location, '/admin/users?q=dave&notice=deactivated');
    assert.equal((await app.services.accounts.get(daveId)).active, false);
    const list = await getPage(app, String(response.headers.location), admin);
    assert.match(list.body, /The user was deactivated/);
    assert.match(rowOf(list.body, 'dave'), />Deactivated</);
    assert.doesNotMatch(rowOf(list.body, 'dave'), />Deactivate</, 'no button for a deactivated user');
    const event = await app.services.store.db.selectFrom('audit_events').select(['actor']).where('action', '=', 'user.deactivated').where('target_id', '=', daveId).executeTakeFirstOrThrow();
    assert.equal(event.actor, 'session:admin');
    // The "back" field only ever leads to the users list.
    const carolId = await idOf(app, 'carol');
    const elsewhere = await postForm(app, `/admin/users/${carolId}/deactivate`, { back: 'https://evil.example/' }, { session: admin });
    assert.equal(elsewhere.headers.location, `/admin/users/${carolId}?notice=deactivated`);
    // The same button on a page shown before (another tab, another administrator): said so, nothing done again.
    const again = await postForm(app, `/admin/users/${daveId}/deactivate`, { back: '/admin/users?q=dave' }, { session: admin });
    assert.equal(again.headers.location, '/admin/users?q=dave&notice=already-deactivated');
    assert.match((await getPage(app, String(again.headers.location), admin)).body, /The user was already deactivated \(by someone else, or from another page\): nothing was changed\./);
    const events = await app.services.store.db.selectFrom('audit_events').select(['seq']).where('action', '=', 'user.deactivated').where('target_id', '=', daveId).execute();
    assert.equal(events.length, 1);
  });

  test("a user's page: attributes, groups, tokens, sessions, the sign-in check, the SCIM document and the history", async () => {
    const adaId = await idOf(app, 'ada@example.com');
    await app.tokenFor(adaId, 'ada-script');
    await sessionFor(app, adaId);
    const page = await getPage(app, `/admin/users/${adaId}`, admin);
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /<title>ada@example\.com · Roster<\/title>/);
    assert.match(page.body, /Ada Lovelace/);
    assert.match(page.body, /Provisioned by your identity provider \(SCIM\)/);
    assert.match(page.body, /<a href="\/admin\/groups\/[^"]+">engineers<\/a>/);
    assert.match(page.body, /<td>ada-script<\/td>/);
    assert.match(page.body, /Revoke ada-script<\/button>/);
    assert.match(page.body, /<h2 id="sessions-title">Sessions<\/h2>\s*<div class="table-wrap">/);
    assert.match(page.body, /Can sign in<\/span>/);
    assert.match(page.body, /<code>user\.created<\/code>|<code>scim\.user\.created<\/code>|<code>user\.provisioned<\/code>/);
    // The SCIM document is what the SCIM API answers, byte for byte once unescaped, but for its
    // groups (listed above it: a user in 50,000 groups made the page 15 MB).
    const scim = await app.request('GET', `/Users/${adaScimId}?excludedAttributes=groups`);
    const shown = /<pre class="scim-document"><code>([\s\S]*?)<\/code><\/pre>/.exec(page.body)?.[1] ?? '';
    const unescaped = shown.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
    assert.deepEqual(JSON.parse(unescaped), scim.body);
    assert.match(page.body, /answers, but for its <code>groups<\/code>, listed under Groups above/);
  });

  test("a user's page lists the groups they joined and left, when and by whom, newest first", async () => {
    const grace = await app.request('POST', '/Users', userBody('grace@example.com'));
    assert.equal(grace.status, 201);
    const graceId = await idOf(app, 'grace@example.com');
    const before = await getPage(app, `/admin/users/${graceId}`, admin);
    assert.match(before.body, /<h2 id="membership-history-title">Group membership changes<\/h2>/);
    assert.match(before.body, /No change recorded\./);
    const pilots = await app.request('POST', '/Groups', groupBody('pilots', [grace.body.id]));
    assert.equal(pilots.status, 201);
    const removed = await app.request('PATCH', `/Groups/${pilots.body.id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'remove', path: `members[value eq "${grace.body.id}"]` }] });
    assert.equal(removed.status, 204);
    const page = await getPage(app, `/admin/users/${graceId}`, admin);
    const start = page.body.indexOf('id="membership-history-title"');
    const section = page.body.slice(start, page.body.indexOf('</table>', start));
    const rows = section.split('<tr>').slice(2).map((row) => row.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim());
    assert.equal(rows.length, 2, section.slice(0, 2000));
    assert.match(rows[0] ?? '', /token:test-idp Removed from pilots$/);
    assert.match(rows[1] ?? '', /token:test-idp Added to pilots$/);
    assert.match(section, /<a href="\/admin\/groups\/[^"]+">pilots<\/a>/);
    // Other users' changes are not theirs.
    const adaPage = await getPage(app, `/admin/users/${await idOf(app, 'ada@example.com')}`, admin);
    assert.doesNotMatch(adaPage.body.slice(adaPage.body.indexOf('id="membership-history-title"')), /pilots/);
  });

  test('the sign-in check says why a local user cannot sign in with SAML while SCIM is on', async () => {
    const page = await getPage(app, `/admin/users/${await idOf(app, 'carol')}`, admin);
    assert.match(page.body, /Cannot sign in<\/span>/);
    assert.match(page.body, /<li>SCIM provisioning is on and this user was not provisioned by the identity provider\.<\/li>/);
  });

  test("revoking a user's token from their page: confirmed, audited, and only that user's tokens", async () => {
    const adaId = await idOf(app, 'ada@example.com');
    const token = await app.tokenFor(adaId, 'ada-revoke-me');
    const response = await postForm(app, `/admin/users/${adaId}/tokens/revoke`, { name: 'ada-revoke-me' }, { session: admin });
    assert.equal(response.statusCode, 303);
    assert.equal(response.headers.location, `/admin/users/${adaId}?notice=revoked`);
    assert.equal(await app.services.tokens.verify(token), undefined);
    // Another user's token cannot be revoked through this page.
    const carolId = await idOf(app, 'carol');
    const other = await postForm(app, `/admin/users/${carolId}/tokens/revoke`, { name: 'test-idp' }, { session: admin });
    assert.equal(other.statusCode, 404);
    assert.notEqual(await app.services.tokens.verify(app.token), undefined);
  });

  test("editing a provisioned user is greyed out and, sent anyway, refused with the domain's message", async () => {
    const adaId = await idOf(app, 'ada@example.com');
    const page = await getPage(app, `/admin/users/${adaId}`, admin);
    assert.match(page.body, /Your identity provider manages this user: change them there\./);
    assert.match(page.body, /<button type="submit" class="button primary" disabled aria-describedby="edit-note">Save<\/button>/);
    const response = await postForm(app, `/admin/users/${adaId}`, { name: 'Someone Else' }, { session: admin });
    assert.equal(response.statusCode, 400);
    assert.match(response.body, new RegExp(MANAGED.replace(/\./g, '\\.')));
    assert.equal((await app.services.accounts.get(adaId)).displayName, 'Ada Lovelace');
  });

  test("a local user's name can change while SCIM is on, but not their login", async () => {
    const carolId = await idOf(app, 'carol');
    const renamed = await postForm(app, `/admin/users/${carolId}`, { name: 'Carol Renamed', email: 'carol@corp.example' }, { session: admin });
    assert.equal(renamed.statusCode, 303);
    assert.equal(renamed.headers.location, `/admin/users/${carolId}?notice=updated`);
    assert.equal((await app.services.accounts.get(carolId)).displayName, 'Carol Renamed');
    // Saved again as stored: nothing is written, and the page does not claim a change.
    const same = await postForm(app, `/admin/users/${carolId}`, { name: 'Carol Renamed', email: 'carol@corp.example' }, { session: admin });
    assert.equal(same.headers.location, `/admin/users/${carolId}?notice=unchanged`);
    assert.match((await getPage(app, `/admin/users/${carolId}?notice=unchanged`, admin)).body, /Nothing was changed: the form held the values the user already had\./);
    const relogin = await postForm(app, `/admin/users/${carolId}`, { login: 'caroline', name: 'Carol Renamed' }, { session: admin });
    assert.equal(relogin.statusCode, 400);
    assert.match(relogin.body, new RegExp(MANAGED.replace(/\./g, '\\.')));
    assert.equal((await app.services.accounts.get(carolId)).login, 'carol');
    await app.services.accounts.update(carolId, { name: 'Carol Local' }, cli);
  });

  test('a user the identity provider suspended is told from a deactivated one: badge, status, kept groups that grant nothing, member tables', async () => {
    const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
    const sid = await app.request('POST', '/Users', userBody('sid@example.com', { displayName: 'Sid Suspended' }));
    const del = await app.request('POST', '/Users', userBody('del@example.com', { displayName: 'Del Deleted' }));
    const team = await app.request('POST', '/Groups', groupBody('suspense', [sid.body.id, del.body.id]));
    assert.equal(team.status, 201);
    const off = await app.request('PATCH', `/Users/${sid.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] });
    assert.equal(off.status, 200, JSON.stringify(off.body));
    assert.equal((await app.request('DELETE', `/Users/${del.body.id}`)).status, 204);

    const list = await getPage(app, '/admin/users?status=deactivated', admin);
    assert.match(rowOf(list.body, 'sid@example.com'), />Suspended by IdP</);
    assert.doesNotMatch(rowOf(list.body, 'sid@example.com'), />Deactivated</);
    assert.match(rowOf(list.body, 'del@example.com'), />Deactivated</);

    const page = await getPage(app, `/admin/users/${await idOf(app, 'sid@example.com')}`, admin);
    assert.match(page.body, /<dt>Status<\/dt><dd><span class="badge badge-neutral">Suspended by IdP<\/span> Your identity provider has suspended this user/);
    assert.match(page.body, /Kept while your identity provider has suspended this user: they grant nothing until it enables them again\./);
    assert.match(page.body, /">suspense<\/a>/);
    const deleted = await getPage(app, `/admin/users/${await idOf(app, 'del@example.com')}`, admin);
    assert.match(deleted.body, /<dt>Status<\/dt><dd><span class="badge badge-neutral">Deactivated<\/span> They cannot sign in; deactivation removed/);

    const group = await app.services.groupManagement.list({ q: 'suspense' }, { offset: 0, limit: 1 });
    const members = await getPage(app, `/admin/groups/${group.groups[0]?.id}`, admin);
    assert.match(rowOf(members.body, 'sid@example.com'), /<\/a> <span class="badge badge-neutral">Suspended by IdP<\/span>/);
  });

  test('an unknown user is a 404 page; a non-administrator gets 403', async () => {
    assert.equal((await getPage(app, '/admin/users/nope', admin)).statusCode, 404);
    const ada = await sessionFor(app, await idOf(app, 'ada@example.com'));
    assert.equal((await getPage(app, '/admin/users', ada)).statusCode, 403);
    assert.equal((await postForm(app, `/admin/users/${await idOf(app, 'carol')}/deactivate`, {}, { session: ada })).statusCode, 403);
  });

  test('names are shown as text, never as markup', async () => {
    assert.equal((await app.request('POST', '/Users', userBody('eve@example.com', { displayName: '<b>Eve</b>' }))).status, 201);
    const page = await getPage(app, '/admin/users?q=eve', admin);
    assert.match(page.body, /&lt;b&gt;Eve&lt;\/b&gt;/);
    assert.doesNotMatch(page.body, /<b>Eve/);
  });
});

eachDatabase('console: Users while SCIM is off', (database) => {
  let app: TestApp;
  let admin: ConsoleSession;

  before(async () => {
    app = await startTestApp({ database, scim: false });
    admin = await sessionFor(app, app.adminId);
  });
  after(() => app.close());

  test('no managed banner, no Local badge, no source filter; Create user is a link', async () => {
    const page = await getPage(app, '/admin/users', admin);
    assert.doesNotMatch(page.body, /managed by your identity provider/);
    assert.doesNotMatch(page.body, />Local</);
    assert.doesNotMatch(page.body, />From IdP</);
    assert.match(page.body, /<a class="button primary" href="\/admin\/users\/new">Create user<\/a>/);
  });

  test('creates a local user with a password, who can then sign in with it', async () => {
    const response = await postForm(app, '/admin/users', { login: 'grace', name: 'Grace Hopper', email: 'grace@example.com', signIn: 'password', password: 'a-long-enough-password' }, { session: admin });
    assert.equal(response.statusCode, 303);
    const grace = await app.services.accounts.findByLogin('grace');
    assert.ok(grace);
    assert.equal(grace.local, true);
    assert.equal(response.headers.location, `/admin/users/${grace.id}?notice=created`);
    assert.equal((await app.services.passwordCheck.verify('grace', 'a-long-enough-password')) !== undefined, true);
    const page = await getPage(app, String(response.headers.location), admin);
    assert.match(page.body, /The user was created\./);
  });

  test('creates a SAML user without a password', async () => {
    const response = await postForm(app, '/admin/users', { login: 'linus@example.com', name: 'Linus', email: '', signIn: 'saml', password: '' }, { session: admin });
    assert.equal(response.statusCode, 303);
    const linus = await app.services.accounts.findByLogin('linus@example.com');
    assert.equal(linus?.local, false);
    assert.equal(linus?.email, null);
  });

  test('creating the login of a deactivated user says it was reactivated, not created', async () => {
    const first = await postForm(app, '/admin/users', { login: 'rita@example.com', name: 'Rita', email: '', signIn: 'saml', password: '' }, { session: admin });
    assert.equal(first.statusCode, 303);
    const rita = await app.services.accounts.findByLogin('rita@example.com');
    assert.ok(rita);
    await app.services.accounts.deactivate(rita.id, { kind: 'cli' });
    const again = await postForm(app, '/admin/users', { login: 'rita@example.com', name: 'Rita', email: '', signIn: 'saml', password: '' }, { session: admin });
    assert.equal(again.headers.location, `/admin/users/${rita.id}?notice=reactivated`);
    const page = await getPage(app, String(again.headers.location), admin);
    assert.match(page.body, /was reactivated\. Their former group memberships, tokens and sessions are not restored: add them to their groups again from the Groups page\./);
  });

  test("a refused creation says what is wrong beside the field, in the form's words, and keeps the form", async () => {
    const response = await postForm(app, '/admin/users', { login: 'short', name: 'Short', signIn: 'password', password: 'tiny' }, { session: admin });
    assert.equal(response.statusCode, 400);
    assert.match(response.body, /id="field-password"[^>]*aria-invalid="true"/);
    assert.match(response.body, /class="field-error"[^>]*>Must be at least 12 characters long\.</);
    assert.match(response.body, /<a href="#field-password">Password \(local users\)<\/a>: Must be at least 12 characters long\./, 'the error summary links to the field');
    assert.doesNotMatch(response.body, /for field password was rejected/, "the admin API's sentence names its field, not the form's label");
    const login = await postForm(app, '/admin/users', { login: 'two words', name: 'Two', signIn: 'saml' }, { session: admin });
    assert.equal(login.statusCode, 400);
    assert.match(login.body, /class="field-error"[^>]*>Must not contain spaces or control characters\.</);
    assert.match(response.body, /value="short"/);
    const taken = await postForm(app, '/admin/users', { login: 'admin', name: 'Again', signIn: 'saml' }, { session: admin });
    assert.equal(taken.statusCode, 409);
    assert.match(taken.body, /A user with login &#39;admin&#39; already exists/);
  });

  test("changes a user's login, name and email; a bad email is refused beside its field", async () => {
    const user = await app.services.accounts.create({ login: 'old-login', name: 'Old', local: false }, cli);
    const changed = await postForm(app, `/admin/users/${user.id}`, { login: 'new-login', name: 'New Name', email: 'new@example.com' }, { session: admin });
    assert.equal(changed.statusCode, 303);
    const after = await app.services.accounts.get(user.id);
    assert.deepEqual([after.login, after.displayName, after.email], ['new-login', 'New Name', 'new@example.com']);
    const bad = await postForm(app, `/admin/users/${user.id}`, { login: 'new-login', name: 'New Name', email: 'not-an-email' }, { session: admin });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.body, /class="field-error"[^>]*>Must be a well-formed email address\.</);
    assert.match(bad.body, /value="not-an-email"/);
  });

  test("signs a user out everywhere after confirmation; without the CSRF token nothing ends", async () => {
    const user = await app.services.accounts.create({ login: 'roaming', name: 'Roaming', local: false }, cli);
    const theirs = await sessionFor(app, user.id);
    const page = await getPage(app, `/admin/users/${user.id}`, admin);
    assert.match(page.body, /<h2 id="end-sessions-title">Sign roaming out everywhere\?<\/h2>/);
    assert.equal((await postForm(app, `/admin/users/${user.id}/sign-out-everywhere`, {}, { session: admin, csrf: false })).statusCode, 403);
    assert.equal((await getPage(app, '/account', theirs)).statusCode, 200);
    const ended = await postForm(app, `/admin/users/${user.id}/sign-out-everywhere`, {}, { session: admin });
    assert.equal(ended.statusCode, 303);
    assert.equal((await getPage(app, '/account', theirs)).statusCode, 303, 'their session is gone');
    const event = await app.services.store.db.selectFrom('audit_events').select(['actor']).where('action', '=', 'session.signed_out_everywhere').where('target_id', '=', user.id).executeTakeFirstOrThrow();
    assert.equal(event.actor, 'session:admin');
  });

  test('the sign-in check of an active local account says it signs in with its password', async () => {
    const page = await getPage(app, `/admin/users/${app.adminId}`, admin);
    assert.match(page.body, /Can sign in<\/span> with their password on the sign-in page: a local account\./);
    assert.match(page.body, /<p>Not through SAML:<\/p><ul><li>This is a local account with a password/);
  });

  test('a creation without the CSRF token is refused with 403', async () => {
    const response = await postForm(app, '/admin/users', { login: 'nocsrf', name: 'No', signIn: 'saml' }, { session: admin, csrf: false });
    assert.equal(response.statusCode, 403);
    assert.equal(await app.services.accounts.findByLogin('nocsrf'), undefined);
  });
});

describe('console: Users source filter', () => {
  test('is only offered while SCIM is on (the domain refuses it otherwise)', async () => {
    const app = await startTestApp({ scim: false });
    try {
      const admin = await sessionFor(app, app.adminId);
      const page = await getPage(app, '/admin/users?source=idp', admin);
      assert.equal(page.statusCode, 400);
      assert.match(page.body, /The &#39;managed&#39; parameter is only available for managed instances\./);
    } finally {
      await app.close();
    }
  });
});

eachDatabase('console: a local account the identity provider took over', (database) => {
  let app: TestApp;
  let admin: ConsoleSession;
  let erinId = '';
  const password = 'erin has a long local password';

  before(async () => {
    app = await startTestApp({ database, scim: false });
    erinId = (await app.services.accounts.create({ login: 'erin', name: 'Erin', local: true, password }, cli)).id;
    await app.services.provisioning.enable(cli);
    // The IdP provisions the same login: the local account is linked, its password kept but refused.
    assert.equal((await app.request('POST', '/Users', userBody('erin'))).status, 201);
    admin = await sessionFor(app, app.adminId);
  });
  after(() => app.close());

  test('is shown as signing in through SAML, as the sign-in page treats it, not with its password', async () => {
    assert.equal((await passwordSignIn(app, 'erin', password)).headers['set-cookie']?.toString().includes(`${SESSION_COOKIE}=`) ?? false, false, 'password sign-in refuses it');
    const page = await getPage(app, `/admin/users/${erinId}`, admin);
    assert.match(page.body, /SAML \(its local password is refused while your identity provider manages it\)/);
    assert.doesNotMatch(page.body, /A local password/);
    assert.doesNotMatch(page.body, /with their password on the sign-in page/);
    const own = await getPage(app, '/account', await sessionFor(app, erinId));
    assert.match(own.body, /Provisioned by your identity provider \(SCIM\): signs in with SAML/);
    assert.doesNotMatch(own.body, /Local account: signs in with a password/);
    const shown = (await app.request('GET', `/api/v2/users-management/users?q=erin`)).body.users[0];
    assert.deepEqual([shown.local, shown.managed, shown.externalProvider], [true, true, 'saml'], 'the admin API says the same');
  });
});
