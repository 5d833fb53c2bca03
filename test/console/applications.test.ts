/** Administration › Applications, through inject: registering, the secret shown once, refusals, editing, deleting. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { hashClientSecret } from '../../src/directory/applications.ts';
import { groupBody, startTestApp, userBody, type TestApp } from '../support/app.ts';
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
    assert.match(created.body, /No group is named “grafana-users”, “grafana-admins”: nobody can sign in to this application until one of its allowed groups exists\. Check the spelling/);
    // What is shown once carries a visible label, not only the Copy button's screen-reader text.
    assert.match(created.body, /<dt>Client id<\/dt><dd><div class="copyable"><code id="client-id">/);
    assert.match(created.body, /<dt>Client secret<\/dt><dd><div class="copyable"><code id="client-secret">/);

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
    assert.match(rotated.body, /<dt>Client secret<\/dt><dd><div class="copyable"><code id="client-secret">/);
    // The list's button rotates with the default overlap: the old secret keeps working.
    const until = (await app.services.applications.get(clientId)).previousSecretExpiresAt;
    assert.ok(until !== null);
    assert.match(rotated.body, new RegExp(`The old secret also works until <time datetime="${until}">`));

    const deleted = await postForm(app, `/admin/applications/${clientId}/delete`, {}, { session: admin });
    assert.equal(deleted.statusCode, 303);
    assert.equal(await app.services.applications.findForProvider(clientId), undefined);
  });

  test("the application's page issues a secret with a chosen overlap, shows until when the previous one works, stops it early, and refuses a rotation from a page shown before another", async () => {
    const { application, secret } = await app.services.applications.create({ name: 'Rotating', redirectUris: ['https://rotating.example.com/cb'], public: false, allowedGroups: [] }, { kind: 'cli' });
    const here = `/admin/applications/${application.clientId}`;
    const page = await getPage(app, here, admin);
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /<h2 id="secret-title">Client secret<\/h2>/);
    assert.match(page.body, /<dt>Previous secret works until<\/dt><dd>no previous secret<\/dd>/);
    assert.match(page.body, /<select id="field-overlapSeconds" name="overlapSeconds"[^>]*><option value="86400" selected>24 hours<\/option><option value="3600">1 hour<\/option><option value="604800">7 days<\/option><option value="0">None: the current secret stops at once<\/option><\/select>/);
    assert.doesNotMatch(page.body, /Stop the previous secret now/, 'no overlap to end');

    const none = await postForm(app, `${here}/secret`, { overlapSeconds: '0', 'shown.overlapUntil': '' }, { session: admin });
    assert.equal(none.statusCode, 200, none.body);
    assert.match(none.body, /The old secret no longer works\. Copy this one now/);
    assert.equal((await app.services.applications.findForProvider(application.clientId))?.previousSecretHash, null);
    const second = /<code id="client-secret">([^<]+)<\/code>/.exec(none.body)?.[1];
    assert.ok(second && second !== secret);

    const hour = await postForm(app, `${here}/secret`, { overlapSeconds: '3600', 'shown.overlapUntil': '' }, { session: admin });
    assert.equal(hour.statusCode, 200, hour.body);
    const until = (await app.services.applications.get(application.clientId)).previousSecretExpiresAt;
    assert.ok(until !== null && Math.abs(Date.parse(until) - Date.now() - 3_600_000) < 60_000);
    assert.equal((await app.services.applications.findForProvider(application.clientId))?.previousSecretHash, hashClientSecret(second));
    assert.match(hour.body, new RegExp(`The old secret also works until <time datetime="${until}">`));
    const listed = await getPage(app, '/admin/applications', admin);
    assert.match(listed.body, /<th scope="col">Previous secret works until<\/th>/);
    assert.match(listed.body, new RegExp(`<time datetime="${until}">`));
    const shown = await getPage(app, here, admin);
    assert.match(shown.body, new RegExp(`<dt>Previous secret works until</dt><dd><time datetime="${until}">`));
    assert.match(shown.body, new RegExp(`name="shown.overlapUntil" value="${until}"`));
    // Set apart from the rotation's form, and the button is described by when the secret stops.
    assert.match(shown.body, new RegExp(`<div class="apart">\\s*<p id="overlap-note">The previous secret works until <time datetime="${until}">`));
    assert.match(shown.body, /aria-describedby="overlap-note">Stop the previous secret now/);

    // A page shown before that rotation (no overlap then) may not rotate again: it would stop at once the secret the overlap keeps.
    const stale = await postForm(app, `${here}/secret`, { overlapSeconds: '86400', 'shown.overlapUntil': '' }, { session: admin });
    assert.equal(stale.statusCode, 409, stale.body);
    assert.match(stale.body, /The secret was rotated, after this page was shown; whoever rotated it was shown the new secret\. Rotating again would stop at once the older secret, which still works until \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    assert.doesNotMatch(stale.body, /id="client-secret"/);
    assert.equal((await app.services.applications.get(application.clientId)).previousSecretExpiresAt, until);

    const bad = await postForm(app, `${here}/secret`, { overlapSeconds: 'forever', 'shown.overlapUntil': until }, { session: admin });
    assert.equal(bad.statusCode, 400, bad.body);
    assert.match(bad.body, /overlapSeconds was rejected\. Error: must be a whole number of seconds from 0 \(the previous secret stops at once\) to 604800 \(7 days\)/);

    const ended = await postForm(app, `${here}/end-overlap`, {}, { session: admin });
    assert.equal(ended.statusCode, 303);
    assert.equal(ended.headers.location, `${here}?notice=overlapEnded`);
    assert.equal((await app.services.applications.findForProvider(application.clientId))?.previousSecretHash, null);
    assert.match((await getPage(app, `${here}?notice=overlapEnded`, admin)).body, /The previous secret no longer works: only the current one does\./);
    assert.equal((await postForm(app, `${here}/end-overlap`, {}, { session: admin })).headers.location, `${here}?notice=noOverlap`);

    const actions = await app.services.store.db.selectFrom('audit_events').select('action').where('target_id', '=', application.clientId).orderBy('seq').execute();
    assert.deepEqual(actions.map((row) => row.action), ['application.created', 'application.secret_rotated', 'application.secret_rotated', 'application.secret_overlap_ended']);
  });

  test('one missing allowed group beside one that exists: the warning names it without saying that nobody can sign in', async () => {
    assert.equal((await app.request('POST', '/Groups', groupBody('chat-users'))).status, 201);
    const created = await postForm(app, '/admin/applications', { name: 'Chat', redirectUris: 'https://chat.example.com/cb', allowedGroups: 'chat-users\r\nchat-admnis' }, { session: admin });
    assert.equal(created.statusCode, 201, created.body);
    assert.match(created.body, /That allowed group does not exist/);
    assert.match(created.body, /No group is named “chat-admnis”: only members of its other allowed groups can sign in to this application\. Check the spelling/);
    assert.doesNotMatch(created.body, /nobody can sign in/);
  });

  test('a registration with several wrong fields marks them all at once, and every refused redirect URI', async () => {
    const refused = await postForm(app, '/admin/applications', { name: '  ', redirectUris: 'http://one.example.com/cb\r\nhttps://two.example.com/cb#x\r\nhttps://fine.example.com/cb' }, { session: admin });
    assert.equal(refused.statusCode, 400);
    assert.match(refused.body, /class="field-error" id="field-name-error">An application&#39;s name must have 1 to 100 characters\./);
    assert.match(refused.body, /class="field-error" id="field-redirectUris-error">The redirect URI &quot;http:\/\/one.example.com\/cb&quot; must use https; http is allowed only for localhost\. The redirect URI &quot;https:\/\/two.example.com\/cb#x&quot; may not have a fragment/);
    assert.match(refused.body, /<a href="#field-name">Name<\/a>:[\s\S]*<a href="#field-redirectUris">Redirect URIs<\/a>:/, 'the summary links to both fields');
    // The admin API still answers with the first refusal only.
    const api = await app.request('POST', '/api/v2/applications', { name: ' ', redirectUris: ['http://one.example.com/cb'] }, { 'content-type': 'application/json' });
    assert.equal(api.status, 400);
    assert.match(api.body.message, /^An application's name must have 1 to 100 characters\.$/);
  });

  test('a refused registration shows the reason by the field and keeps what was typed', async () => {
    const refused = await postForm(app, '/admin/applications', { name: 'Plain', redirectUris: 'http://app.example.com/cb' }, { session: admin });
    assert.equal(refused.statusCode, 400);
    assert.match(refused.body, /class="field-error" id="field-redirectUris-error">The redirect URI &quot;http:\/\/app.example.com\/cb&quot; must use https/);
    assert.match(refused.body, /value="Plain"/);
  });

  test('an administrator edits an application on its page: the list links to it, the form holds its values, a save keeps the client id and the secret', async () => {
    const { application, secret } = await app.services.applications.create({ name: 'Wiki', redirectUris: ['https://wiki.example.com/cb'], public: false, allowedGroups: [] }, { kind: 'cli' });
    const page = `/admin/applications/${application.clientId}`;
    const listed = await getPage(app, '/admin/applications', admin);
    assert.match(listed.body, new RegExp(`<a href="${page}">Wiki</a>`));
    assert.match(listed.body, new RegExp(`<a class="button default" href="${page}">Edit<span class="visually-hidden"> Wiki</span></a>`));

    const form = await getPage(app, page, admin);
    assert.equal(form.statusCode, 200);
    assert.match(form.body, /<input id="field-name" name="name" type="text" value="Wiki"/);
    assert.match(form.body, /<textarea id="field-redirectUris" name="redirectUris" rows="3"[^>]*>https:\/\/wiki.example.com\/cb<\/textarea>/);
    assert.match(form.body, new RegExp(`<code>${application.clientId}</code>`));

    const saved = await postForm(app, page, { name: 'Team wiki', redirectUris: 'https://wiki.example.com/cb\r\nhttps://docs.example.com/cb\r\n', allowedGroups: 'wiki-readers' }, { session: admin });
    assert.equal(saved.statusCode, 303, saved.body);
    assert.equal(saved.headers.location, `${page}?notice=saved`);
    const stored = await app.services.applications.findForProvider(application.clientId);
    assert.equal(stored?.name, 'Team wiki');
    assert.deepEqual(stored?.redirectUris, ['https://wiki.example.com/cb', 'https://docs.example.com/cb']);
    assert.deepEqual(stored?.allowedGroups, ['wiki-readers']);
    assert.equal(stored?.secretHash, hashClientSecret(secret!), 'the secret is kept');

    const after = await getPage(app, `${page}?notice=saved`, admin);
    assert.match(after.body, /The application was saved\. Its client id and secret are unchanged/);
    // The group does not exist: the page says nobody can sign in until it does, as at registration.
    assert.match(after.body, /That allowed group does not exist/);
    const audit = await app.services.auditLog.list({ action: 'application.updated', targetId: application.clientId }, { offset: 0, limit: 10, ascending: true });
    assert.equal(audit.events[0]?.actor, 'session:admin');

    const again = await postForm(app, page, { name: 'Team wiki', redirectUris: 'https://wiki.example.com/cb\nhttps://docs.example.com/cb', allowedGroups: 'wiki-readers' }, { session: admin });
    assert.equal(again.headers.location, `${page}?notice=unchanged`);
  });

  test('a refused edit says "Nothing was saved", puts the reason beside the field, keeps what was typed, and changes nothing', async () => {
    const { application } = await app.services.applications.create({ name: 'Board', redirectUris: ['https://board.example.com/cb'], public: false, allowedGroups: ['staff'] }, { kind: 'cli' });
    const page = `/admin/applications/${application.clientId}`;
    const refused = await postForm(app, page, { name: 'Board 2', redirectUris: 'https://board.example.com/cb\nhttp://board.example.com/cb', allowedGroups: 'staff' }, { session: admin });
    assert.equal(refused.statusCode, 400);
    assert.match(refused.body, /Nothing was saved/);
    assert.match(refused.body, /<a href="#field-redirectUris">Redirect URIs<\/a>: The redirect URI/, 'the error summary links to the field');
    assert.match(refused.body, /class="field-error" id="field-redirectUris-error">The redirect URI &quot;http:\/\/board.example.com\/cb&quot; must use https; http is allowed only for localhost\.</);
    assert.match(refused.body, /value="Board 2"/, 'what was typed is kept');
    assert.match(refused.body, />https:\/\/board.example.com\/cb\nhttp:\/\/board.example.com\/cb<\/textarea>/);

    const empty = await postForm(app, page, { name: 'Board', redirectUris: '  \n', allowedGroups: '' }, { session: admin });
    assert.equal(empty.statusCode, 400);
    assert.match(empty.body, /id="field-redirectUris-error">An application needs at least one redirect URI\.</);
    assert.deepEqual(await app.services.applications.get(application.clientId), application, 'nothing changed');

    assert.equal((await getPage(app, '/admin/applications/no-such-client', admin)).statusCode, 404);
    assert.equal((await postForm(app, '/admin/applications/no-such-client', { name: 'X', redirectUris: 'https://x.example.com/cb' }, { session: admin })).statusCode, 404);
  });

  test('the back-channel logout URI: set at registration, shown and edited on the page, refused with the reason beside the field, removed by emptying it', async () => {
    const created = await postForm(app, '/admin/applications', {
      name: 'Logout app',
      redirectUris: 'https://logout.example.com/cb',
      allowedGroups: '',
      backchannelLogoutUri: 'https://logout.example.com/backchannel',
    }, { session: admin });
    assert.equal(created.statusCode, 201, created.body);
    const clientId = /<code id="client-id">([^<]+)<\/code>/.exec(created.body)?.[1];
    assert.ok(clientId);
    assert.equal((await app.services.applications.get(clientId)).backchannelLogoutUri, 'https://logout.example.com/backchannel');
    const page = `/admin/applications/${clientId}`;
    const form = await getPage(app, page, admin);
    assert.match(form.body, /<input id="field-backchannelLogoutUri" name="backchannelLogoutUri" type="url" value="https:\/\/logout.example.com\/backchannel"/);
    assert.match(form.body, /<h2 id="logouts-title">Back-channel logouts waiting<\/h2>/);
    assert.match(form.body, /None waiting\./);

    const refused = await postForm(app, page, {
      name: 'Logout app',
      redirectUris: 'https://logout.example.com/cb',
      allowedGroups: '',
      backchannelLogoutUri: 'http://logout.example.com/backchannel',
      'shown.backchannelLogoutUri': 'https://logout.example.com/backchannel',
    }, { session: admin });
    assert.equal(refused.statusCode, 400);
    assert.match(refused.body, /<a href="#field-backchannelLogoutUri">Back-channel logout URI<\/a>: The back-channel logout URI/);
    assert.match(refused.body, /id="field-backchannelLogoutUri-error">The back-channel logout URI &quot;http:\/\/logout.example.com\/backchannel&quot; must use https; http is allowed only for localhost\.</);
    assert.match(refused.body, /value="http:\/\/logout.example.com\/backchannel"/, 'what was typed is kept');
    assert.equal((await app.services.applications.get(clientId)).backchannelLogoutUri, 'https://logout.example.com/backchannel');

    const changed = await postForm(app, page, {
      name: 'Logout app',
      redirectUris: 'https://logout.example.com/cb',
      allowedGroups: '',
      backchannelLogoutUri: 'http://localhost:8081/logout?tenant=1',
      'shown.backchannelLogoutUri': 'https://logout.example.com/backchannel',
    }, { session: admin });
    assert.equal(changed.statusCode, 303, changed.body);
    assert.equal((await app.services.applications.get(clientId)).backchannelLogoutUri, 'http://localhost:8081/logout?tenant=1');
    const audit = await app.services.auditLog.list({ action: 'application.updated', targetId: clientId }, { offset: 0, limit: 10, ascending: true });
    assert.deepEqual((audit.events[0]?.details as Record<string, unknown> | undefined)?.['after'], { backchannelLogoutUri: 'http://localhost:8081/logout?tenant=1' });

    const removed = await postForm(app, page, {
      name: 'Logout app',
      redirectUris: 'https://logout.example.com/cb',
      allowedGroups: '',
      backchannelLogoutUri: '',
      'shown.backchannelLogoutUri': 'http://localhost:8081/logout?tenant=1',
    }, { session: admin });
    assert.equal(removed.statusCode, 303, removed.body);
    assert.equal((await app.services.applications.get(clientId)).backchannelLogoutUri, null);
    assert.match((await getPage(app, page, admin)).body, /<dt>Back-channel logout<\/dt><dd><span class="empty">none: the application learns of a sign-out at its next refresh<\/span><\/dd>/);
  });

  test('only administrators, and only with the CSRF token', async () => {
    await app.request('POST', '/Users', userBody('eve'));
    const eve = await sessionFor(app, (await app.services.accounts.findByLogin('eve'))!.id);
    assert.equal((await getPage(app, '/admin/applications', eve)).statusCode, 403);
    assert.equal((await postForm(app, '/admin/applications', { name: 'X', redirectUris: 'https://x.example.com/cb' }, { session: eve })).statusCode, 403);
    assert.equal((await postForm(app, '/admin/applications', { name: 'X', redirectUris: 'https://x.example.com/cb' }, { session: admin, csrf: false })).statusCode, 403);
    assert.deepEqual((await app.services.applications.list()).filter((item) => item.name === 'X'), []);
    const { application } = await app.services.applications.create({ name: 'Guarded', redirectUris: ['https://guarded.example.com/cb'], public: false, allowedGroups: [] }, { kind: 'cli' });
    const edit = { name: 'Guarded', redirectUris: 'https://evil.example.com/cb' };
    assert.equal((await getPage(app, `/admin/applications/${application.clientId}`, eve)).statusCode, 403);
    assert.equal((await postForm(app, `/admin/applications/${application.clientId}`, edit, { session: eve })).statusCode, 403);
    assert.equal((await postForm(app, `/admin/applications/${application.clientId}`, edit, { session: admin, csrf: false })).statusCode, 403);
    assert.deepEqual((await app.services.applications.get(application.clientId)).redirectUris, ['https://guarded.example.com/cb']);
  });
});
