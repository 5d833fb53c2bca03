/**
 * A reload of a page that shows a secret once, or Back and resubmit, posts the same form again:
 * the console does not act again (no second application or token, no second rotation) and says
 * so, on both databases. Each form is posted as a browser does, with the one-time token of the
 * page it was loaded from.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { getPage, postForm, sessionFor, type ConsoleSession } from '../support/console.ts';

/** The `_once` token of the form that posts to `action` on a page. */
function onceOf(body: string, action: string): string {
  const form = body.split('<form').find((part) => part.includes(`action="${action}"`)) ?? '';
  const token = /name="_once" value="([^"]+)"/.exec(form)?.[1];
  assert.ok(token !== undefined, `no one-time token in the form posting to ${action}`);
  return token;
}

const ALREADY_DONE = /Already done: nothing was changed this time/;

eachDatabase('console: a repeated post of a form that shows a secret', (database) => {
  let app: TestApp;
  let admin: ConsoleSession;

  before(async () => {
    app = await startTestApp({ database });
    admin = await sessionFor(app, app.adminId);
  });
  after(() => app.close());

  const storedWebhookSecret = async (id: string) =>
    (await app.services.store.db.selectFrom('webhooks').select('secret').where('id', '=', id).executeTakeFirstOrThrow()).secret;
  const storedClientSecret = async (clientId: string) => (await app.services.applications.findForProvider(clientId))?.secretHash;

  test('Webhooks: adding and rotating the secret act once; the repeat shows no secret and says it was already done', async () => {
    const before = (await app.services.webhooks.list()).length;
    const fields = { url: 'https://once.example.com/hook', _once: onceOf((await getPage(app, '/admin/webhooks', admin)).body, '/admin/webhooks') };
    const created = await postForm(app, '/admin/webhooks', fields, { session: admin });
    assert.equal(created.statusCode, 200);
    assert.match(created.body, /<code id="webhook-secret">whsec_/);
    const again = await postForm(app, '/admin/webhooks', fields, { session: admin });
    assert.equal(again.statusCode, 409);
    assert.match(again.body, ALREADY_DONE);
    assert.doesNotMatch(again.body, /id="webhook-secret"/);
    assert.equal((await app.services.webhooks.list()).length, before + 1, 'one webhook added, not two');

    const id = (await app.services.webhooks.list()).find((webhook) => webhook.url === 'https://once.example.com/hook')?.id ?? '';
    const here = `/admin/webhooks/${id}`;
    const rotateFields = { _once: onceOf((await getPage(app, `${here}?confirm=rotate-secret`, admin)).body, `${here}/rotate-secret`) };
    const rotated = await postForm(app, `${here}/rotate-secret`, rotateFields, { session: admin });
    assert.equal(rotated.statusCode, 200);
    const shown = /<code id="webhook-secret">(whsec_[^<]+)<\/code>/.exec(rotated.body)?.[1];
    assert.ok(shown !== undefined);
    const afterFirst = await storedWebhookSecret(id);

    const reloaded = await postForm(app, `${here}/rotate-secret`, rotateFields, { session: admin });
    assert.equal(reloaded.statusCode, 409);
    assert.match(reloaded.body, ALREADY_DONE);
    assert.ok(!reloaded.body.includes(shown), 'the secret is not shown a second time');
    assert.equal(await storedWebhookSecret(id), afterFirst, 'the secret the receiver was given still signs');

    // A fresh page gives a fresh token: rotating again on purpose still works.
    const second = await postForm(app, `${here}/rotate-secret`, { _once: onceOf((await getPage(app, `${here}?confirm=rotate-secret`, admin)).body, `${here}/rotate-secret`) }, { session: admin });
    assert.equal(second.statusCode, 200);
    assert.notEqual(await storedWebhookSecret(id), afterFirst);
  });

  test('Applications: registering and issuing a new secret act once', async () => {
    const page = await getPage(app, '/admin/applications', admin);
    const fields = { name: 'Once', redirectUris: 'https://once.example.com/cb', _once: onceOf(page.body, '/admin/applications') };
    const created = await postForm(app, '/admin/applications', fields, { session: admin });
    assert.equal(created.statusCode, 201, created.body);
    const clientId = /<code id="client-id">([^<]+)<\/code>/.exec(created.body)?.[1] ?? '';
    const hash = await storedClientSecret(clientId);
    const again = await postForm(app, '/admin/applications', fields, { session: admin });
    assert.equal(again.statusCode, 409);
    assert.match(again.body, ALREADY_DONE);
    assert.doesNotMatch(again.body, /id="client-secret"/);
    assert.equal((await app.services.applications.list()).filter((item) => item.name === 'Once').length, 1, 'one application, not two');
    assert.equal(await storedClientSecret(clientId), hash);

    const action = `/admin/applications/${clientId}/secret`;
    const rotateFields = { _once: onceOf((await getPage(app, `/admin/applications?confirm=rotate-${clientId}`, admin)).body, action) };
    const rotated = await postForm(app, action, rotateFields, { session: admin });
    assert.equal(rotated.statusCode, 200);
    const shown = /<code id="client-secret">([^<]+)<\/code>/.exec(rotated.body)?.[1] ?? '';
    const afterFirst = await storedClientSecret(clientId);
    assert.notEqual(afterFirst, hash);
    const reloaded = await postForm(app, action, rotateFields, { session: admin });
    assert.equal(reloaded.statusCode, 409);
    assert.match(reloaded.body, ALREADY_DONE);
    assert.ok(!reloaded.body.includes(shown));
    assert.equal(await storedClientSecret(clientId), afterFirst, 'the secret just shown still works');
  });

  test('Back and send again, from the page loaded again with a fresh token and the same values: no second webhook or application; other values create', async () => {
    const freshOnce = async (path: string) => onceOf((await getPage(app, path, admin)).body, path);
    const hooks = (url: string) => app.services.webhooks.list().then((all) => all.filter((webhook) => webhook.url === url).length);
    const url = 'https://back.example.com/hook';
    assert.equal((await postForm(app, '/admin/webhooks', { url, _once: await freshOnce('/admin/webhooks') }, { session: admin })).statusCode, 200);
    // Back: the page is not cached, so it is loaded again (a new token), and the browser fills the field in again.
    const again = await postForm(app, '/admin/webhooks', { url, _once: await freshOnce('/admin/webhooks') }, { session: admin });
    assert.equal(again.statusCode, 409, again.body);
    assert.match(again.body, ALREADY_DONE);
    assert.doesNotMatch(again.body, /id="webhook-secret"/);
    assert.equal(await hooks(url), 1, 'one webhook, not two');
    const other = await postForm(app, '/admin/webhooks', { url: 'https://back.example.com/other', _once: await freshOnce('/admin/webhooks') }, { session: admin });
    assert.equal(other.statusCode, 200);

    const fields = { name: 'Back', redirectUris: 'https://back.example.com/cb' };
    assert.equal((await postForm(app, '/admin/applications', { ...fields, _once: await freshOnce('/admin/applications') }, { session: admin })).statusCode, 201);
    const twice = await postForm(app, '/admin/applications', { ...fields, _once: await freshOnce('/admin/applications') }, { session: admin });
    assert.equal(twice.statusCode, 409, twice.body);
    assert.match(twice.body, ALREADY_DONE);
    assert.equal((await app.services.applications.list()).filter((item) => item.name === 'Back').length, 1, 'one application, not two');
  });

  test('a refused post gives its token back: the corrected form sent with it acts', async () => {
    const token = onceOf((await getPage(app, '/admin/applications', admin)).body, '/admin/applications');
    const refused = await postForm(app, '/admin/applications', { name: 'Fixed', redirectUris: 'http://fixed.example.com/cb', _once: token }, { session: admin });
    assert.equal(refused.statusCode, 400);
    const fixed = await postForm(app, '/admin/applications', { name: 'Fixed', redirectUris: 'https://fixed.example.com/cb', _once: token }, { session: admin });
    assert.equal(fixed.statusCode, 201);
  });

  test('SCIM: creating a token acts once; the repeat says it was created, not that it failed', async () => {
    const fields = { name: 'once-idp', user: 'admin', _once: onceOf((await getPage(app, '/admin/scim', admin)).body, '/admin/scim/tokens') };
    const created = await postForm(app, '/admin/scim/tokens', fields, { session: admin });
    assert.equal(created.statusCode, 201, created.body);
    const again = await postForm(app, '/admin/scim/tokens', fields, { session: admin });
    assert.equal(again.statusCode, 409);
    assert.match(again.body, ALREADY_DONE);
    assert.doesNotMatch(again.body, /The token was not created/);
    assert.doesNotMatch(again.body, /id="new-token"/);
    assert.equal((await app.services.tokens.list()).filter((token) => token.name === 'once-idp').length, 1);
  });

  test('a form loaded more than 12 hours ago is refused, and nothing is created', async () => {
    const old = `${(Date.now() - 13 * 60 * 60 * 1000).toString(36)}.AAAAAAAAAAAAAAAAAAAAAA`;
    const refused = await postForm(app, '/admin/scim/tokens', { name: 'stale-idp', user: 'admin', _once: old }, { session: admin });
    assert.equal(refused.statusCode, 400);
    assert.match(refused.body, /This form is too old: nothing was changed/);
    assert.equal((await app.services.tokens.list()).filter((token) => token.name === 'stale-idp').length, 0);
  });
});
