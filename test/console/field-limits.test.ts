/**
 * The console's fields say their limits before a form is sent: each field whose value the domain
 * bounds carries `maxlength` (and `required` when it must be filled in), taken from the domain's
 * own limits, so that the browser stops typing at the limit instead of the server refusing the
 * form afterwards. A value at the limit is accepted and one past it refused: the page and the
 * rules agree.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { getPage, postForm, sessionFor, type ConsoleSession } from '../support/console.ts';
import { ACCOUNT_LIMITS } from '../../src/directory/accounts.ts';
import { GROUP_LIMITS } from '../../src/directory/group-management.ts';
import { APPLICATION_LIMITS } from '../../src/directory/applications.ts';
import { MAX_URL_LENGTH } from '../../src/directory/webhooks.ts';
import { MAX_TOKEN_NAME_LENGTH } from '../../src/auth/tokens.ts';
import { SAML_LIMITS } from '../../src/auth/saml-config.ts';

const cli = { kind: 'cli' } as const;

/** The attributes of the field named `name` in the page's form posting to `action`. */
function fieldOf(page: string, action: string, name: string): string {
  const start = page.indexOf(`method="post" action="${action}"`);
  assert.ok(start !== -1, `no form posting to ${action}`);
  const form = page.slice(start, page.indexOf('</form>', start));
  const field = new RegExp(`<(?:input|textarea)([^>]*\\bname="${name.replace(/\./g, '\\.')}"[^>]*)>`).exec(form)?.[1];
  assert.ok(field !== undefined, `no field ${name} in the form posting to ${action}`);
  return field;
}

/** The field's `maxlength`, and whether it is `required`. */
function limitsOf(page: string, action: string, name: string): { maxlength: number | undefined; required: boolean } {
  const field = fieldOf(page, action, name);
  const max = /\bmaxlength="(\d+)"/.exec(field)?.[1];
  return { maxlength: max === undefined ? undefined : Number(max), required: /\brequired\b/.test(field) };
}

eachDatabase('console: fields carry the limits of the domain', (database) => {
  let app: TestApp;
  let admin: ConsoleSession;

  before(async () => {
    app = await startTestApp({ database, scim: false, saml: false });
    admin = await sessionFor(app, app.adminId);
  });
  after(() => app.close());

  test('a new user: login, name and email bounded as accounts are; login and name required', async () => {
    const page = (await getPage(app, '/admin/users/new', admin)).body;
    assert.deepEqual(limitsOf(page, '/admin/users', 'login'), { maxlength: ACCOUNT_LIMITS.login.max, required: true });
    assert.deepEqual(limitsOf(page, '/admin/users', 'name'), { maxlength: ACCOUNT_LIMITS.name, required: true });
    assert.deepEqual(limitsOf(page, '/admin/users', 'email'), { maxlength: ACCOUNT_LIMITS.email, required: false });
    assert.equal(limitsOf(page, '/admin/users', 'password').maxlength, ACCOUNT_LIMITS.password.max);
  });

  test("a user's page: the edit form is bounded the same way, and a name at the limit is saved while one past it is refused", async () => {
    const user = await app.services.accounts.create({ login: 'limits-user', name: 'Limits', local: false }, cli);
    const path = `/admin/users/${encodeURIComponent(user.id)}`;
    const page = (await getPage(app, path, admin)).body;
    assert.deepEqual(limitsOf(page, path, 'login'), { maxlength: ACCOUNT_LIMITS.login.max, required: true });
    assert.deepEqual(limitsOf(page, path, 'name'), { maxlength: ACCOUNT_LIMITS.name, required: true });
    assert.deepEqual(limitsOf(page, path, 'email'), { maxlength: ACCOUNT_LIMITS.email, required: false });
    const at = 'n'.repeat(ACCOUNT_LIMITS.name);
    assert.equal((await postForm(app, path, { login: 'limits-user', name: at, email: '' }, { session: admin })).statusCode, 303);
    assert.equal((await app.services.accounts.get(user.id)).displayName, at);
    assert.equal((await postForm(app, path, { login: 'limits-user', name: `${at}n`, email: '' }, { session: admin })).statusCode, 400);
  });

  test('groups: name and description where a group is created and renamed, and the login of the member to add', async () => {
    const list = (await getPage(app, '/admin/groups', admin)).body;
    assert.deepEqual(limitsOf(list, '/admin/groups', 'name'), { maxlength: GROUP_LIMITS.name, required: true });
    assert.deepEqual(limitsOf(list, '/admin/groups', 'description'), { maxlength: GROUP_LIMITS.description, required: false });
    const at = 'g'.repeat(GROUP_LIMITS.name);
    assert.equal((await postForm(app, '/admin/groups', { name: at }, { session: admin })).statusCode, 303);
    assert.equal((await postForm(app, '/admin/groups', { name: `${at}g` }, { session: admin })).statusCode, 400);

    const group = await app.services.groupManagement.create({ name: 'limits-group' }, cli);
    const path = `/admin/groups/${encodeURIComponent(group.id)}`;
    const page = (await getPage(app, path, admin)).body;
    assert.deepEqual(limitsOf(page, path, 'name'), { maxlength: GROUP_LIMITS.name, required: true });
    assert.deepEqual(limitsOf(page, path, 'description'), { maxlength: GROUP_LIMITS.description, required: false });
    assert.deepEqual(limitsOf(page, `${path}/members`, 'login'), { maxlength: ACCOUNT_LIMITS.login.max, required: true });
  });

  test("an application's name, a token's name and the login it acts as, a webhook's URL", async () => {
    const applications = (await getPage(app, '/admin/applications', admin)).body;
    assert.deepEqual(limitsOf(applications, '/admin/applications', 'name'), { maxlength: APPLICATION_LIMITS.name, required: true });
    const scim = (await getPage(app, '/admin/scim', admin)).body;
    assert.deepEqual(limitsOf(scim, '/admin/scim/tokens', 'name'), { maxlength: MAX_TOKEN_NAME_LENGTH, required: true });
    assert.deepEqual(limitsOf(scim, '/admin/scim/tokens', 'user'), { maxlength: ACCOUNT_LIMITS.login.max, required: true });
    const webhooks = (await getPage(app, '/admin/webhooks', admin)).body;
    assert.deepEqual(limitsOf(webhooks, '/admin/webhooks', 'url'), { maxlength: MAX_URL_LENGTH, required: true });
  });

  test('the SAML form: the provider name, entity IDs, login URL and attribute names', async () => {
    const page = (await getPage(app, '/admin/authentication/saml', admin)).body;
    const action = '/admin/authentication/saml';
    assert.deepEqual(limitsOf(page, action, 'providerName'), { maxlength: SAML_LIMITS.providerName, required: false });
    assert.deepEqual(limitsOf(page, action, 'providerId'), { maxlength: SAML_LIMITS.providerId, required: true });
    assert.deepEqual(limitsOf(page, action, 'loginUrl'), { maxlength: SAML_LIMITS.loginUrl, required: true });
    for (const name of ['applicationId', 'userLoginAttribute', 'userNameAttribute', 'userEmailAttribute', 'groupAttribute']) {
      assert.deepEqual(limitsOf(page, action, name), { maxlength: SAML_LIMITS.providerId, required: false }, name);
    }
  });
});
