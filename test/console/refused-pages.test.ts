/**
 * A form refused before any page of its own could answer it (the object it is about is gone, its
 * CSRF token is wrong, its sender is no administrator any more) answers like every other refused
 * form: "Error:" in the title and a summary that takes the focus (role=alert), saying that nothing
 * was done. A page that was only asked for keeps its plain title.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { getPage, postForm, sessionFor, type ConsoleSession } from '../support/console.ts';

const cli = { kind: 'cli' } as const;
const SUMMARY = /<div class="banner banner-error" role="alert" id="error-summary" tabindex="-1" autofocus><p class="banner-title">Nothing was done<\/p>/;

eachDatabase('console: refused forms without a page of their own', (database) => {
  let app: TestApp;
  let admin: ConsoleSession;

  before(async () => {
    app = await startTestApp({ database, scim: false, saml: false });
    admin = await sessionFor(app, app.adminId);
  });
  after(() => app.close());

  test('a form about a group deleted meanwhile: 404 with the error summary, saying it may have been deleted', async () => {
    const group = await app.services.groupManagement.create({ name: 'gone-soon' }, cli);
    await app.services.groupManagement.delete(group.id, cli);
    const refused = await postForm(app, `/admin/groups/${group.id}`, { name: 'renamed' }, { session: admin });
    assert.equal(refused.statusCode, 404);
    assert.match(refused.body, /<title>Error: Not found · Roster<\/title>/);
    assert.match(refused.body, SUMMARY);
    assert.match(refused.body, /not found\. It may have been deleted meanwhile, by someone else\./);
    assert.match(refused.body, /<p><a href="\/admin\/groups">Back to the list<\/a><\/p>/);
    const asked = await getPage(app, `/admin/groups/${group.id}`, admin);
    assert.equal(asked.statusCode, 404);
    assert.match(asked.body, /<title>Not found · Roster<\/title>/);
    assert.doesNotMatch(asked.body, /role="alert"/);
  });

  test('a form with a wrong CSRF token, and one sent by someone who is no administrator: 403 with the error summary', async () => {
    const forged = await postForm(app, '/admin/groups', { name: 'forged' }, { session: admin, csrf: 'not-the-token' });
    assert.equal(forged.statusCode, 403);
    assert.match(forged.body, /<title>Error: Request refused · Roster<\/title>/);
    assert.match(forged.body, SUMMARY);

    const user = await app.services.accounts.create({ login: 'not-admin', name: 'Not admin', password: 'a long local password' }, cli);
    const session = await sessionFor(app, user.id);
    const refused = await postForm(app, '/admin/groups', { name: 'by-a-user' }, { session });
    assert.equal(refused.statusCode, 403);
    assert.match(refused.body, /<title>Error: Administrators only · Roster<\/title>/);
    assert.match(refused.body, SUMMARY);
    assert.match(refused.body, /Your account, not-admin, is not an administrator \(any more\): the form was not sent\./);
    assert.equal((await app.services.groupManagement.list({ q: 'by-a-user' }, { offset: 0, limit: 5 })).groups.length, 0);
  });
});
