/** Administration › Applications, through inject: registering, the secret shown once, refusals, deleting. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { hashClientSecret } from '../../src/directory/applications.ts';
import { startTestApp, userBody, type TestApp } from '../support/app.ts';
import { getPage, postForm, sessionFor, type ConsoleSession } from '../support/console.ts';
import { eachDatabase } from '../support/databases.ts';

eachDatabase('console applications on', (database) => {
  let app: TestApp;
  let admin: ConsoleSession;
  before(async () => {
    app = await startTestApp({ database });
    admin = await sessionFor(app, app.adminId);
  });
  after(async () => app.close());

  test('an administrator registers an application: the page shows its client id and its secret once, and lists it', async () => {
    const created = await postForm(app, '/admin/applications', {
      name: 'Grafana',
      redirectUris: 'https://grafana.example.com/login/generic_oauth\r\n',
      allowedGroups: 'grafana-users\r\ngrafana-admins',
    }, { session: admin });
    assert.equal(created.statusCode, 201, created.body);
    const clientId = /<code id="client-id">([^<]+)<\/code>/.exec(created.body)?.[1];
    const secret = /<code id="client-secret">([^<]+)<\/code>/.exec(created.body)?.[1];
    assert.ok(clientId && secret);
    const stored = await app.services.applications.findForProvider(clientId);
    assert.equal(stored?.secretHash, hashClientSecret(secret));
    assert.deepEqual(stored?.allowedGroups, ['grafana-users', 'grafana-admins']);
    // Neither group exists yet: the page says nobody can sign in until one does, and the list flags them.
    assert.match(created.body, /Those allowed groups do not exist/);
    assert.match(created.body, /No group is named “grafana-users”, “grafana-admins”\./);

    const listed = await getPage(app, '/admin/applications', admin);
    assert.equal(listed.statusCode, 200);
    assert.equal((listed.body.match(/No such group/g) ?? []).length, 2);
    assert.match(listed.body, /<th scope="col"><span class="visually-hidden">Actions<\/span><\/th>/, 'the buttons\' column has a name for screen readers');
    assert.match(listed.body, new RegExp(clientId));
    assert.doesNotMatch(listed.body, new RegExp(secret));

    const rotated = await postForm(app, `/admin/applications/${clientId}/secret`, {}, { session: admin });
    assert.equal(rotated.statusCode, 200);
    const fresh = /<code id="client-secret">([^<]+)<\/code>/.exec(rotated.body)?.[1];
    assert.ok(fresh && fresh !== secret);

    const deleted = await postForm(app, `/admin/applications/${clientId}/delete`, {}, { session: admin });
    assert.equal(deleted.statusCode, 303);
    assert.equal(await app.services.applications.findForProvider(clientId), undefined);
  });

  test('a refused registration shows the reason by the field and keeps what was typed', async () => {
    const refused = await postForm(app, '/admin/applications', { name: 'Plain', redirectUris: 'http://app.example.com/cb' }, { session: admin });
    assert.equal(refused.statusCode, 400);
    assert.match(refused.body, /class="field-error" id="field-redirectUris-error">The redirect URI &quot;http:\/\/app.example.com\/cb&quot; must use https/);
    assert.match(refused.body, /value="Plain"/);
  });

  test('only administrators, and only with the CSRF token', async () => {
    await app.request('POST', '/Users', userBody('eve'));
    const eve = await sessionFor(app, (await app.services.accounts.findByLogin('eve'))!.id);
    assert.equal((await getPage(app, '/admin/applications', eve)).statusCode, 403);
    assert.equal((await postForm(app, '/admin/applications', { name: 'X', redirectUris: 'https://x.example.com/cb' }, { session: eve })).statusCode, 403);
    assert.equal((await postForm(app, '/admin/applications', { name: 'X', redirectUris: 'https://x.example.com/cb' }, { session: admin, csrf: false })).statusCode, 403);
    assert.deepEqual((await app.services.applications.list()).filter((item) => item.name === 'X'), []);
  });
});
