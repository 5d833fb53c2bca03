/**
 * The console's "Download personal data" on a user's page, HTTP-level on both databases: the
 * button posts a form (with the session's CSRF token), the answer is the same document as the
 * admin API's as a file to save, for administrators only, and the download is audited.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { getPage, postForm, sessionFor, type ConsoleSession } from '../support/console.ts';

const cli = { kind: 'cli' } as const;

eachDatabase('console: Download personal data', (database) => {
  let app: TestApp;
  let admin: ConsoleSession;
  let zoeId: string;

  before(async () => {
    app = await startTestApp({ database, scim: false });
    admin = await sessionFor(app, app.adminId);
    zoeId = (await app.services.accounts.create({ login: 'zoë@corp.example', name: 'Zoë Example', email: 'zoe@corp.example', local: false }, cli)).id;
  });
  after(() => app.close());

  /** The audit entries of downloads of `id`'s data. */
  async function exports(id: string): Promise<Array<{ actor: string }>> {
    return (await app.request('GET', `/api/v2/audit-logs?action=user.personal_data_exported&targetId=${id}`)).body.auditLogs;
  }

  test("a user's page offers the download as a form posting to the user's personal-data address", async () => {
    const page = await getPage(app, `/admin/users/${zoeId}`, admin);
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /<h2 id="personal-data-title">Personal data<\/h2>/);
    const form = /<form method="post" action="([^"]+)"[^>]*>(?:(?!<\/form>)[\s\S])*Download personal data<span class="visually-hidden"> zoë@corp.example<\/span><\/button><\/form>/.exec(page.body);
    assert.ok(form, 'a one-button form');
    assert.equal(form[1], `/admin/users/${zoeId}/personal-data`);
    assert.match(form[0], /name="_csrf"/);
  });

  test('the download is the document as a JSON file to save, named after the login and the day, and it is audited', async () => {
    const answer = await postForm(app, `/admin/users/${zoeId}/personal-data`, {}, { session: admin });
    assert.equal(answer.statusCode, 200, answer.body.slice(0, 300));
    assert.match(String(answer.headers['content-type']), /^application\/json; charset=utf-8/);
    const day = new Date().toISOString().slice(0, 10);
    // The login's ë is replaced: a header carries ASCII, and the name must be safe in any file system.
    assert.equal(answer.headers['content-disposition'], `attachment; filename="personal-data-zo_@corp.example-${day}.json"`);
    assert.equal(answer.headers['cache-control'], 'no-store');
    const data = JSON.parse(answer.body);
    const api = (await app.request('GET', `/api/v2/users-management/users/${zoeId}/personal-data`)).body;
    assert.deepEqual(Object.keys(data), Object.keys(api), 'the same document as the admin API');
    assert.deepEqual([data.account.login, data.account.name], ['zoë@corp.example', 'Zoë Example']);
    assert.deepEqual((await exports(zoeId)).map((entry) => entry.actor), ['token:test-idp', 'session:admin']);
  });

  test('refused without the session\'s CSRF token, to a user who is not an administrator, and for an unknown user; nothing is recorded', async () => {
    const before = (await exports(zoeId)).length;
    const forged = await postForm(app, `/admin/users/${zoeId}/personal-data`, {}, { session: admin, csrf: false });
    assert.equal(forged.statusCode, 403);
    assert.doesNotMatch(String(forged.headers['content-disposition'] ?? ''), /attachment/);

    const plain = await app.services.accounts.create({ login: 'walter', name: 'Walter', local: false }, cli);
    const walter = await sessionFor(app, plain.id);
    const refused = await postForm(app, `/admin/users/${zoeId}/personal-data`, {}, { session: walter });
    assert.equal(refused.statusCode, 403);
    assert.match(refused.body, /is not an administrator/);
    assert.equal((await getPage(app, `/admin/users/${zoeId}`, walter)).statusCode, 403);
    assert.equal((await exports(zoeId)).length, before);

    const unknown = await postForm(app, '/admin/users/no-such-user/personal-data', {}, { session: admin });
    assert.equal(unknown.statusCode, 404);
    assert.match(unknown.body, /User &#39;no-such-user&#39; not found|User 'no-such-user' not found/);
  });

  test('a reload of the address (a GET) goes back to the user\'s page', async () => {
    const reload = await getPage(app, `/admin/users/${zoeId}/personal-data`, admin);
    assert.equal(reload.statusCode, 303);
    assert.equal(reload.headers.location, `/admin/users/${zoeId}`);
  });
});
