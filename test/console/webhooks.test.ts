/**
 * The console's Webhooks page through inject(), on both databases: list, create with the
 * secret shown once, enable/disable/delete/rotate behind CSRF, replay, the deliveries table.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestApp, userBody, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { getPage, postForm, sessionFor, type ConsoleSession } from '../support/console.ts';

eachDatabase('console: Webhooks', (database) => {
  let app: TestApp;
  let admin: ConsoleSession;

  before(async () => {
    app = await startTestApp({ database });
    admin = await sessionFor(app, app.adminId);
  });
  after(() => app.close());

  const idOf = (body: string): string => /href="\/admin\/webhooks\/([0-9a-f-]{36})"/.exec(body)?.[1] ?? '';

  test('an administrator adds a webhook and sees its secret once; the list shows it, never the secret', async () => {
    const empty = await getPage(app, '/admin/webhooks', admin);
    assert.equal(empty.statusCode, 200);
    assert.match(empty.body, /No webhooks yet\./);
    assert.match(empty.body, /<nav[^>]*>[\s\S]*href="\/admin\/webhooks"/, 'in the navigation');

    const created = await postForm(app, '/admin/webhooks', { url: 'https://app.example.com/hook?<b>', types: 'user.created' }, { session: admin });
    assert.equal(created.statusCode, 200);
    const secret = /<code id="webhook-secret">(whsec_[A-Za-z0-9+/=]+)<\/code>/.exec(created.body)?.[1];
    assert.ok(secret, 'the secret is on the page');
    assert.match(created.body, /shown only now/);
    assert.ok(!created.body.includes('<b>'), 'the URL is escaped');

    const list = await getPage(app, '/admin/webhooks', admin);
    assert.match(list.body, /app\.example\.com\/hook\?%3Cb%3E/);
    assert.match(list.body, /user\.created/);
    assert.ok(!list.body.includes(secret));
    const detail = await getPage(app, `/admin/webhooks/${idOf(list.body)}`, admin);
    assert.equal(detail.statusCode, 200);
    assert.ok(!detail.body.includes(secret));
    assert.match(detail.body, /No deliveries yet\./);
  });

  test('a refused URL is shown beside its field, and nothing is created', async () => {
    const before = (await app.services.webhooks.list()).length;
    const refused = await postForm(app, '/admin/webhooks', { url: 'ftp://x.example.com/' }, { session: admin });
    assert.equal(refused.statusCode, 400);
    assert.match(refused.body, /class="field-error"[^>]*>Must be an absolute http or https URL of at most \d+ characters\.</);
    assert.equal((await app.services.webhooks.list()).length, before);
  });

  test('disable, enable, rotate secret, replay and delete: each needs the CSRF token and is audited', async () => {
    const { webhook } = await app.services.webhooks.create({ url: 'https://actions.example.com/' }, { kind: 'cli' });
    const here = `/admin/webhooks/${webhook.id}`;
    assert.equal((await postForm(app, `${here}/disable`, {}, { session: admin, csrf: false })).statusCode, 403);
    assert.equal((await app.services.webhooks.get(webhook.id)).enabled, true);

    const confirm = await getPage(app, `${here}?confirm=disable`, admin);
    assert.match(confirm.body, /<dialog id="disable"[^>]* open>/);
    const disabled = await postForm(app, `${here}/disable`, {}, { session: admin });
    assert.equal(disabled.statusCode, 303);
    assert.equal(disabled.headers.location, `${here}?notice=disabled`);
    const page = await getPage(app, disabled.headers.location as string, admin);
    assert.match(page.body, /disabled by an administrator/);
    assert.equal((await postForm(app, `${here}/enable`, {}, { session: admin })).statusCode, 303);
    assert.equal((await app.services.webhooks.get(webhook.id)).enabled, true);

    const rotated = await postForm(app, `${here}/rotate-secret`, {}, { session: admin });
    assert.equal(rotated.statusCode, 200);
    assert.match(rotated.body, /New signing secret/);
    assert.match(rotated.body, /<code id="webhook-secret">whsec_/);

    const badReplay = await postForm(app, `${here}/replay`, { from: '999999' }, { session: admin });
    assert.equal(badReplay.statusCode, 400);
    assert.match(badReplay.body, /The event 999999 is not in the feed/);
    await app.request('POST', '/Users', userBody('replayed@example.com'));
    const event = await app.services.store.db.selectFrom('events').select('id').where('type', '=', 'user.created').executeTakeFirstOrThrow();
    const replayed = await postForm(app, `${here}/replay`, { from: String(event.id) }, { session: admin });
    assert.equal(replayed.statusCode, 303);

    // A logged attempt shows in the deliveries table.
    await app.services.store.db.insertInto('webhook_deliveries').values({ webhook_id: webhook.id, event_id: Number(event.id), event_type: 'user.created', attempt: 2, at: new Date().toISOString(), status: 503, latency_ms: 41, response: 'busy <now>', error: 'answered 503', outcome: 'retrying' }).execute();
    const withLog = await getPage(app, here, admin);
    assert.match(withLog.body, /answered 503 <code>busy &lt;now&gt;<\/code>/);
    assert.match(withLog.body, /41 ms/);

    const deleted = await postForm(app, `${here}/delete`, {}, { session: admin });
    assert.equal(deleted.statusCode, 303);
    assert.equal((await getPage(app, here, admin)).statusCode, 404);
    const audit = await app.services.store.db.selectFrom('audit_events').select(['action', 'actor']).where('target_id', '=', webhook.id).orderBy('seq').execute();
    assert.deepEqual(audit.map((row) => row.action), ['webhook.created', 'webhook.disabled', 'webhook.enabled', 'webhook.secret_rotated', 'webhook.replayed', 'webhook.deleted']);
    assert.equal(audit[1]?.actor, 'session:admin');
  });

  test('people who are not administrators get a 403', async () => {
    await app.request('POST', '/Users', userBody('member@example.com'));
    const member = await app.services.accounts.findByLogin('member@example.com');
    assert.ok(member);
    const page = await getPage(app, '/admin/webhooks', await sessionFor(app, member.id));
    assert.equal(page.statusCode, 403);
  });
});
