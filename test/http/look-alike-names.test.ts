/**
 * Names that look like other names (name-rules.ts): a group name with surrounding spaces, a
 * control character or an invisible or direction-changing one is refused by the admin API and
 * the console (the CLI calls the same code), so that nobody can make a second
 * `roster-administrators` that an administrator cannot tell from the real one; SCIM's
 * displayName and every login follow the character rules. Names that need joiners stay allowed.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestApp, userBody, groupBody, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { postForm, sessionFor } from '../support/console.ts';

const GROUPS = '/api/v2/authorizations/groups';
const USERS = '/api/v2/users-management/users';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

/** Names an administrator could not tell from `roster-administrators` or `ops`, and why each is refused. */
const LOOK_ALIKES: ReadonlyArray<[string, RegExp]> = [
  ['roster-administrators ', /must not begin or end with white space/],
  [' ops', /must not begin or end with white space/],
  ['roster-administrators\u00a0', /must not begin or end with white space/],
  ['roster-\u200badministrators', /invisible or text-direction characters/],
  ['\u202esrotartsinimda-retsor', /invisible or text-direction characters/],
  ['roster-administrators\u2066', /invisible or text-direction characters/],
  ['ro\u00adster-administrators', /invisible or text-direction characters/],
  ['\ufeffops', /invisible or text-direction characters/],
  ['ops\tteam', /must not contain control characters/],
  ['ops\nteam', /must not contain control characters/],
  ['roster\u00a0administrators', /must use ordinary spaces: it holds U\+00A0, drawn like a space/],
  ['roster\u2009administrators', /must use ordinary spaces: it holds U\+2009/],
  ['roster-\u0430dministrators', /must not mix Latin, Cyrillic or Greek letters in one word \("\u0430dministrators"\)/],
  ['r\u03bfster-administrators', /must not mix Latin, Cyrillic or Greek letters in one word/],
];

/** Names real groups have: inner spaces, an emoji family (zero-width joiners), Persian with a zero-width non-joiner. */
const FINE = ['Platform Team', 'Family \u{1F468}\u200d\u{1F469}\u200d\u{1F467}', 'می\u200cخواهم', 'Русская группа', 'Ελληνική ομάδα', 'Ops Греция', '東京\u3000チーム', 'Café naïve'];

eachDatabase('look-alike names', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database, scim: false });
  });
  after(() => app.close());

  async function groupNames(): Promise<string[]> {
    return (await app.services.store.db.selectFrom('groups').select('name').orderBy('name').execute()).map((row) => row.name);
  }

  test('the admin API refuses a group name with surrounding spaces or a control, invisible or direction-changing character, on create and on rename, and stores nothing', async () => {
    const admins = await app.request('POST', GROUPS, { name: 'roster-administrators' });
    assert.equal(admins.status, 201, JSON.stringify(admins.body));
    const ops = await app.request('POST', GROUPS, { name: 'ops' });
    const before = await groupNames();
    for (const [name, rule] of LOOK_ALIKES) {
      const created = await app.request('POST', GROUPS, { name });
      assert.equal(created.status, 400, JSON.stringify(name));
      assert.match(created.body.message, rule);
      const renamed = await app.request('PATCH', `${GROUPS}/${ops.body.id}`, { name }, { 'content-type': 'application/merge-patch+json' });
      assert.equal(renamed.status, 400, JSON.stringify(name));
      assert.match(renamed.body.message, rule);
    }
    assert.deepEqual(await groupNames(), before);
    // The message shows the hidden character, so the administrator sees what was wrong.
    const hidden = await app.request('POST', GROUPS, { name: 'roster-\u200badministrators' });
    assert.match(hidden.body.message, /^Value roster-\\u\{200B\}administrators for field name was rejected\./);
    const control = await app.request('POST', GROUPS, { name: 'ops\nteam' });
    assert.match(control.body.message, /^Value ops\\u\{000A\}team for field name/);
    for (const name of FINE) assert.equal((await app.request('POST', GROUPS, { name })).status, 201, name);
  });

  test('the console refuses a look-alike group name beside the field, saying why', async () => {
    const admin = await sessionFor(app, app.adminId);
    const before = await groupNames();
    const refused = await postForm(app, '/admin/groups', { name: 'roster-administrators\u200b' }, { session: admin });
    assert.equal(refused.statusCode, 400);
    assert.match(refused.body, /id="create-name-error">Must not contain invisible or text-direction characters/);
    const spaced = await postForm(app, '/admin/groups', { name: 'roster-administrators ' }, { session: admin });
    assert.equal(spaced.statusCode, 400);
    assert.match(spaced.body, /id="create-name-error">Must not begin or end with white space/);
    assert.deepEqual(await groupNames(), before);
  });

  test('logins refuse invisible and direction-changing characters on the admin API and in SCIM', async () => {
    for (const login of ['ad\u200bmin', '\u202eada', 'ada\u2060']) {
      const created = await app.request('POST', USERS, { login, name: 'Look Alike', password: 'a long local password' });
      assert.equal(created.status, 400, JSON.stringify(login));
      assert.match(created.body.message, /for field login was rejected\. Error: must not contain invisible or text-direction characters/);
    }
    const users = await app.services.store.db.selectFrom('users').select('login').execute();
    assert.ok(users.every((user) => !/[\u200b\u202e\u2060]/u.test(user.login)));
  });

  test('a login an administrator types may not mix Latin, Cyrillic or Greek letters in one word; words of two scripts side by side are fine', async () => {
    for (const login of ['\u0430dmin', 'j\u043ehn@example.com', 'r\u03bfot']) {
      const created = await app.request('POST', USERS, { login, name: 'Look Alike', password: 'a long local password' });
      assert.equal(created.status, 400, JSON.stringify(login));
      assert.match(created.body.message, /for field login was rejected\. Error: must not mix Latin, Cyrillic or Greek letters in one word/);
    }
    for (const login of ['john@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444', '\u0438\u0432\u0430\u043d']) {
      assert.equal((await app.request('POST', USERS, { login, name: 'Fine', local: false })).status, 200, login);
    }
  });

  test('a display name or a group description an administrator types may not hold a direction control, which would read a confirmation backwards; right-to-left text is fine', async () => {
    const refusedName = await app.request('POST', USERS, { login: 'eve', name: 'Eve\u202Egnp.exe', local: false });
    assert.equal(refusedName.status, 400);
    assert.equal(refusedName.body.message, 'Value Eve\\u{202E}gnp.exe for field name was rejected. Error: must not contain text-direction controls (such as a right-to-left override), which reorder how the text reads.');
    const created = await app.request('POST', USERS, { login: 'shalom', name: 'שלום עליכם 123', local: false });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    assert.equal((await app.request('PATCH', `${USERS}/${created.body.id}`, { name: 'A\u2067B' }, { 'content-type': 'application/merge-patch+json' })).status, 400);
    const group = await app.request('POST', '/api/v2/authorizations/groups', { name: 'direction', description: 'Team \u202Dleads' });
    assert.equal(group.status, 400);
    assert.match(group.body.message, /for field description was rejected\. Error: must not contain text-direction controls/);
    assert.equal((await app.request('POST', '/api/v2/authorizations/groups', { name: 'direction', description: 'צוות מובילים' })).status, 201);
  });
});

eachDatabase('look-alike names in SCIM', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database });
  });
  after(() => app.close());

  test('SCIM refuses a displayName or userName with a control, invisible or direction-changing character (400 invalidValue, revealed in the detail); surrounding spaces stay the IdP\'s spelling', async () => {
    for (const displayName of ['Sales\u200b', '\u202eselaS', 'Sales\u0007']) {
      const created = await app.request('POST', '/Groups', groupBody(displayName));
      assert.equal(created.status, 400, JSON.stringify(displayName));
      assert.equal(created.body.scimType, 'invalidValue');
      assert.match(created.body.detail, /^displayName "[^"]*\\u\{[0-9A-F]{4}\}[^"]*" must not contain/);
    }
    const sales = await app.request('POST', '/Groups', groupBody('Sales'));
    assert.equal(sales.status, 201);
    const renamed = await app.request('PATCH', `/Groups/${sales.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'Sa\u200bles' }] });
    assert.equal(renamed.status, 400);
    assert.equal((await app.request('GET', `/Groups/${sales.body.id}`)).body.displayName, 'Sales');
    const replaced = await app.request('PUT', `/Groups/${sales.body.id}`, groupBody('Sales\u202e'));
    assert.equal(replaced.status, 400);
    // The identity provider owns its spelling: a name with a trailing space is its to keep.
    assert.equal((await app.request('POST', '/Groups', groupBody('Support '))).status, 201);

    const user = await app.request('POST', '/Users', userBody('ka\u200bte@example.com'));
    assert.equal(user.status, 400);
    assert.equal(user.body.scimType, 'invalidValue');
    assert.match(user.body.detail, /^userName "ka\\u\{200B\}te@example\.com" must not contain invisible or text-direction characters/);
  });

  test('a group whose name was stored before the rule still takes member changes', async () => {
    const group = await app.request('POST', '/Groups', groupBody('Legacy'));
    await app.services.store.db.updateTable('groups').set({ name: 'Leg\u200bacy', name_key: 'leg\u200bacy' }).where('name', '=', 'Legacy').execute();
    const member = await app.request('POST', '/Users', userBody('lee@example.com'));
    const patched = await app.request('PATCH', `/Groups/${group.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: member.body.id }] }] });
    assert.equal(patched.status, 204, JSON.stringify(patched.body));
    assert.equal((await app.request('GET', `/Groups/${group.body.id}`)).body.members.length, 1);
  });
});
