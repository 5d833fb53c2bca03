/**
 * Edit forms opened before another administrator changed the same object (two tabs, two
 * administrators): saving sends only what was changed on the page, so that the other's change
 * stays. A stale form used to write back every value it showed: a group renamed to take rights
 * away was renamed back by someone else's description edit, an application's removed redirect
 * URI came back with a rename. A form refused before a page of its own could answer (its object
 * deleted meanwhile, its sender no administrator any more, a wrong CSRF token) answers as every
 * refused form does: "Error:" in the title and a focused summary saying nothing was done; a form
 * loaded before the latest sign-in goes back to its page instead, which says nothing was saved.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { BASE_URL, startTestApp, testCertificate, testKeyPair, TEST_IDP, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { getPage, postForm, sessionFor, type ConsoleSession } from '../support/console.ts';
import type { LightMyRequestResponse } from 'fastify';
import { findWebhook } from '../../src/store/webhooks.ts';

const cli = { kind: 'cli' } as const;
/** The summary of a refused form with no page of its own: focused, saying nothing was done. */
const SUMMARY = /<div class="banner banner-error" role="alert" id="error-summary" tabindex="-1" autofocus><p class="banner-title">Nothing was done<\/p>/;

/** The fields a browser sends for the page's form posting to `action`: its inputs and textareas, as shown. */
function fieldsOf(page: string, action: string): Record<string, string> {
  const start = page.indexOf(`method="post" action="${action}"`);
  assert.ok(start !== -1, `no form posting to ${action}`);
  const form = page.slice(start, page.indexOf('</form>', start));
  const decode = (text: string) => text.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  const fields: Record<string, string> = {};
  for (const input of form.matchAll(/<input([^>]*)>/g)) {
    const attributes = input[1] ?? '';
    const name = /\bname="([^"]*)"/.exec(attributes)?.[1];
    // A browser sends neither a disabled field nor a checkbox left unticked.
    if (name === undefined || /\bdisabled\b/.test(attributes) || (/type="checkbox"/.test(attributes) && !/\bchecked\b/.test(attributes))) continue;
    fields[decode(name)] = decode(/\bvalue="([^"]*)"/.exec(attributes)?.[1] ?? '');
  }
  for (const area of form.matchAll(/<textarea[^>]*\bname="([^"]*)"[^>]*>([^<]*)<\/textarea>/g)) fields[decode(area[1] ?? '')] = decode(area[2] ?? '').replace(/\n/g, '\r\n');
  return fields;
}

eachDatabase('console: a form opened before someone else changed the object', (database) => {
  let app: TestApp;
  let admin: ConsoleSession;

  before(async () => {
    app = await startTestApp({ database, scim: false, saml: false });
    admin = await sessionFor(app, app.adminId);
  });
  after(() => app.close());

  test('a group: the description edited on a stale page keeps the name another administrator gave it meanwhile', async () => {
    const group = await app.services.groupManagement.create({ name: 'platform', description: 'Runs things' }, cli);
    const path = `/admin/groups/${encodeURIComponent(group.id)}`;
    const fields = fieldsOf((await getPage(app, path, admin)).body, path);
    assert.equal(fields.name, 'platform');
    // Meanwhile, in another administrator's browser.
    await app.services.groupManagement.update(group.id, { name: 'former-platform' }, cli);
    const saved = await postForm(app, path, { ...fields, description: 'Runs fewer things' }, { session: admin });
    assert.equal(saved.statusCode, 303, saved.body);
    const after = await app.services.groupManagement.get(group.id);
    assert.deepEqual([after.name, after.description], ['former-platform', 'Runs fewer things']);
  });

  test("a user: the name edited on a stale page keeps the email another administrator set meanwhile", async () => {
    const user = await app.services.accounts.create({ login: 'stale-user', name: 'Stale', email: 'old@example.com', local: false }, cli);
    const path = `/admin/users/${encodeURIComponent(user.id)}`;
    const fields = fieldsOf((await getPage(app, path, admin)).body, path);
    assert.equal(fields.email, 'old@example.com');
    await app.services.accounts.update(user.id, { email: 'new@example.com' }, cli);
    const saved = await postForm(app, path, { ...fields, name: 'Fresh' }, { session: admin });
    assert.equal(saved.statusCode, 303, saved.body);
    const after = await app.services.accounts.get(user.id);
    assert.deepEqual([after.displayName, after.email, after.login], ['Fresh', 'new@example.com', 'stale-user']);
  });

  test('an application: a rename on a stale page keeps the redirect URI and group another administrator removed; lines added and removed on the page apply', async () => {
    await app.services.groupManagement.create({ name: 'contractors' }, cli);
    await app.services.groupManagement.create({ name: 'staff' }, cli);
    const { application } = await app.services.applications.create(
      { name: 'Wiki', redirectUris: ['https://old.example.com/cb', 'https://wiki.example.com/cb'], public: false, allowedGroups: ['contractors', 'staff'] },
      cli,
    );
    const path = `/admin/applications/${encodeURIComponent(application.clientId)}`;
    const fields = fieldsOf((await getPage(app, path, admin)).body, path);
    assert.equal(fields.redirectUris, 'https://old.example.com/cb\r\nhttps://wiki.example.com/cb');
    await app.services.applications.update(application.clientId, { redirectUris: ['https://wiki.example.com/cb'], allowedGroups: ['staff'] }, cli);
    const renamed = await postForm(app, path, { ...fields, name: 'Team wiki' }, { session: admin });
    assert.equal(renamed.statusCode, 303, renamed.body);
    let after = await app.services.applications.get(application.clientId);
    assert.deepEqual([after.name, after.redirectUris, after.allowedGroups], ['Team wiki', ['https://wiki.example.com/cb'], ['staff']]);

    // The same stale page again: a line added there is added, one removed there is removed,
    // and what it still shows but the other removed stays removed.
    const edited = await postForm(
      app,
      path,
      { ...fields, redirectUris: 'https://old.example.com/cb\r\nhttps://wiki.example.com/cb\r\nhttps://new.example.com/cb', allowedGroups: 'contractors' },
      { session: admin },
    );
    assert.equal(edited.statusCode, 303, edited.body);
    after = await app.services.applications.get(application.clientId);
    assert.deepEqual([after.name, after.redirectUris, after.allowedGroups], ['Team wiki', ['https://wiki.example.com/cb', 'https://new.example.com/cb'], []]);
  });

  test("the SAML configuration: a stale page's edit keeps the certificate added for a rollover and the option ticked meanwhile", async () => {
    const first = testCertificate();
    const rollover = testKeyPair('rollover-idp').certificate;
    assert.ok((await app.services.saml.configure({ ...TEST_IDP, providerName: 'Entra', certificates: [first] }, cli)).ok);
    const path = '/admin/authentication/saml';
    const fields = fieldsOf((await getPage(app, path, admin)).body, path);
    assert.equal(fields['shown.allowIdpInitiated'], 'false');
    assert.ok((await app.services.saml.configure({ ...TEST_IDP, providerName: 'Entra', certificates: [first, rollover], allowIdpInitiated: true }, cli)).ok);
    const saved = await postForm(app, path, { ...fields, providerName: 'Entra ID' }, { session: admin });
    assert.equal(saved.statusCode, 303, saved.body);
    const after = await app.services.saml.get();
    assert.equal(after?.providerName, 'Entra ID');
    assert.equal(after?.certificates.length, 2, 'the rollover certificate was dropped');
    assert.equal(after?.allowIdpInitiated, true);
    // Unticked on the page, it is unticked.
    const unticked = fieldsOf((await getPage(app, path, admin)).body, path);
    delete unticked.allowIdpInitiated;
    assert.equal((await postForm(app, path, unticked, { session: admin })).statusCode, 303);
    assert.equal((await app.services.saml.get())?.allowIdpInitiated, false);
  });

  test('a refused save shows the form again with the values first shown, so that the next save still sends only what was changed', async () => {
    const group = await app.services.groupManagement.create({ name: 'refused-once', description: 'First' }, cli);
    const path = `/admin/groups/${encodeURIComponent(group.id)}`;
    const fields = fieldsOf((await getPage(app, path, admin)).body, path);
    await app.services.groupManagement.update(group.id, { description: 'Changed by someone else' }, cli);
    const refused = await postForm(app, path, { ...fields, name: '   ' }, { session: admin });
    assert.equal(refused.statusCode, 400);
    const again = fieldsOf(refused.body, path);
    assert.deepEqual([again['shown.name'], again['shown.description']], ['refused-once', 'First']);
    const saved = await postForm(app, path, { ...again, name: 'accepted' }, { session: admin });
    assert.equal(saved.statusCode, 303, saved.body);
    const after = await app.services.groupManagement.get(group.id);
    assert.deepEqual([after.name, after.description], ['accepted', 'Changed by someone else']);
  });

  test("a webhook's secret rotated from two pages opened together: the second is refused, and the original secret keeps its overlap", async () => {
    const { webhook, secret: original } = await app.services.webhooks.create({ url: 'https://rotations.example.com/' }, cli);
    const path = `/admin/webhooks/${webhook.id}`;
    const action = `${path}/rotate-secret`;
    const first = fieldsOf((await getPage(app, path, admin)).body, action);
    const second = fieldsOf((await getPage(app, path, admin)).body, action);
    const rotated = await postForm(app, action, first, { session: admin });
    assert.equal(rotated.statusCode, 200, rotated.body);
    const shown = /<code id="webhook-secret">(whsec_[^<]+)<\/code>/.exec(rotated.body)?.[1];
    assert.ok(shown);

    const refused = await postForm(app, action, second, { session: admin });
    assert.equal(refused.statusCode, 409);
    assert.match(refused.body, SUMMARY);
    assert.match(refused.body, /The secret was rotated at \d{4}-\d\d-\d\d \d\d:\d\d UTC, after this page was shown/);
    assert.doesNotMatch(refused.body, /New signing secret/);
    const stored = await findWebhook(app.services.store.db, app.services.store.dialect, app.services.store.secrets, webhook.id);
    assert.deepEqual([stored?.secret, stored?.previousSecret], [shown, original]);

    // A page shown after the rotation rotates again, as asked.
    const fresh = fieldsOf((await getPage(app, path, admin)).body, action);
    assert.equal((await postForm(app, action, fresh, { session: admin })).statusCode, 200);
    const again = await findWebhook(app.services.store.db, app.services.store.dialect, app.services.store.secrets, webhook.id);
    assert.equal(again?.previousSecret, shown);
  });

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

  test('a form loaded before the latest sign-in (another tab) changes nothing and goes back (303) to its page, which says the form had expired and nothing was saved; a post from another site is refused as one', async () => {
    const group = await app.services.groupManagement.create({ name: 'stale-token' }, cli);
    const members = `/admin/groups/${group.id}/members`;
    // The page was loaded in the first session; the administrator signed in again since.
    const earlier = await sessionFor(app, app.adminId);
    const now = await sessionFor(app, app.adminId);
    const count = (body: string, text: RegExp) => body.match(new RegExp(text.source, 'g'))?.length ?? 0;
    const memberCount = async () => (await app.services.memberships.list({ groupId: group.id }, { offset: 0, limit: 5 })).total;
    const noMember = async () => assert.equal(await memberCount(), 0);
    const stale = (headers: Record<string, string>) =>
      postForm(app, members, { login: 'admin' }, { session: now, csrf: earlier.csrf, headers: { referer: `${BASE_URL}${members}`, ...headers } });
    for (const headers of [{ 'sec-fetch-site': 'same-origin' }, { origin: BASE_URL }]) {
      const sent = await stale(headers);
      // Back to the group's page (the address the form was posted to from its refused answer has no page).
      assert.equal(sent.statusCode, 303, JSON.stringify(headers));
      assert.equal(sent.headers.location, `/admin/groups/${group.id}?notice=form-expired`);
      await noMember();
      const page = await getPage(app, String(sent.headers.location), now);
      assert.equal(page.statusCode, 200);
      assert.doesNotMatch(page.body, /<title>Error:/);
      assert.equal(count(page.body, /The form you sent had expired \(it was loaded before your latest sign-in, in this tab or another\), so nothing was saved\./), 1);
      assert.match(page.body, /<div class="banner banner-warning" role="status" id="notice" tabindex="-1" autofocus>/);
      // The page's form now carries this session's token: sent again from there, it is done.
      assert.match(page.body, new RegExp(`name="_csrf" value="${now.csrf}"`));
    }
    // Without a Referer (stripped by a privacy setting): the page that holds the form all the same.
    const noReferer = await postForm(app, members, { login: 'admin' }, { session: now, csrf: earlier.csrf, headers: { 'sec-fetch-site': 'same-origin' } });
    assert.equal(noReferer.headers.location, `/admin/groups/${group.id}?notice=form-expired`);
    // The notice is the layout's: on another page, and with a query the page had.
    const fromSearch = await postForm(app, '/admin/groups', { name: 'never-made' }, { session: now, csrf: earlier.csrf, headers: { 'sec-fetch-site': 'same-origin', referer: `${BASE_URL}/admin/groups?q=stale` } });
    assert.equal(fromSearch.headers.location, '/admin/groups?q=stale&notice=form-expired');
    assert.match((await getPage(app, String(fromSearch.headers.location), now)).body, /so nothing was saved/);
    assert.equal((await app.services.groupManagement.list({ q: 'never-made' }, { offset: 0, limit: 5 })).groups.length, 0);
    await noMember();
    // From another site (or a sibling host): refused as such, said once, with no word of cookies.
    const forged: LightMyRequestResponse[] = [];
    for (const headers of [{ 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }, { origin: 'https://evil.example' }]) {
      forged.push(await stale(headers));
      forged.push(await postForm(app, members, { login: 'admin' }, { session: now, csrf: 'forged', headers }));
    }
    for (const refused of forged) {
      assert.equal(refused.statusCode, 403);
      assert.match(refused.body, /<title>Error: Request refused · Roster<\/title>/);
      assert.equal(count(refused.body, /sent from another site/), 1);
      assert.doesNotMatch(refused.body, /cookies|latest sign-in/);
    }
    await noMember();
    // The right token of the session still does.
    assert.equal((await postForm(app, members, { login: 'admin' }, { session: now, headers: { 'sec-fetch-site': 'same-origin' } })).statusCode, 303);
    assert.equal(await memberCount(), 1);
  });

  test("a form from Roster's own origin with no CSRF token at all: 403, saying it carried no token, with the way back to its page", async () => {
    const group = await app.services.groupManagement.create({ name: 'tokenless' }, cli);
    const members = `/admin/groups/${group.id}/members`;
    for (const headers of [{ 'sec-fetch-site': 'same-origin' }, { origin: BASE_URL }, {}]) {
      const refused = await postForm(app, members, { login: 'admin' }, { session: admin, csrf: false, headers: { referer: `${BASE_URL}${members}`, ...headers } });
      assert.equal(refused.statusCode, 403, JSON.stringify(headers));
      assert.match(refused.body, /<title>Error: Form not sent · Roster<\/title>/);
      assert.match(refused.body, SUMMARY);
      assert.equal(refused.body.match(/This form carried no security token/g)?.length, 1);
      assert.doesNotMatch(refused.body, /expired|another site/);
      assert.match(refused.body, new RegExp(`<a href="/admin/groups/${group.id}">Open the page again</a>`));
    }
    // From another site, no token is still a post from another site.
    const forged = await postForm(app, members, { login: 'admin' }, { session: admin, csrf: false, headers: { 'sec-fetch-site': 'same-site' } });
    assert.equal(forged.statusCode, 403);
    assert.match(forged.body, /sent from another site/);
    assert.equal((await app.services.memberships.list({ groupId: group.id }, { offset: 0, limit: 5 })).total, 0);
  });

  test('the sign-in form sent without its cookie says that Roster needs cookies, once', async () => {
    const refused = await postForm(app, '/sessions', { login: 'admin', password: 'whatever' }, { csrf: 'a-token-without-its-cookie', headers: { 'sec-fetch-site': 'same-origin' } });
    assert.equal(refused.statusCode, 403);
    assert.equal(refused.body.match(/Roster needs cookies to be allowed for this site/g)?.length, 1);
  });
});
