/** `/api/v2/webhooks`: the admin API over the same webhook management as the CLI and the console. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';

const JSON_TYPE = { 'content-type': 'application/json' };

eachDatabase('admin API /api/v2/webhooks', (database) => {
  let roster: TestApp;
  const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown) => roster.request(method, url, body, body !== undefined ? JSON_TYPE : {});

  before(async () => {
    roster = await startTestApp({ database, scim: false });
  });
  after(async () => roster?.close());

  test('POST creates an endpoint and answers its secret once; GET never shows it', async () => {
    const created = await call('POST', '/api/v2/webhooks', { url: 'https://app.example.com/hooks', types: ['user.created', 'group.user_added'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.match(created.body.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    assert.equal(created.body.enabled, true);
    assert.deepEqual(created.body.types, ['user.created', 'group.user_added']);
    const id = created.body.id as string;
    const one = await call('GET', `/api/v2/webhooks/${id}`);
    assert.equal(one.status, 200);
    assert.equal(one.body.secret, undefined);
    assert.equal(one.body.url, 'https://app.example.com/hooks');
    const list = await call('GET', '/api/v2/webhooks');
    assert.deepEqual(list.body.webhooks.map((webhook: { id: string }) => webhook.id), [id]);
    assert.ok(!JSON.stringify(list.body).includes('whsec_'));
  });

  test('PATCH changes the URL and types, disables and enables; a GET answer can be sent back', async () => {
    const { body: created } = await call('POST', '/api/v2/webhooks', { url: 'https://a.example.com/' });
    const id = created.id as string;
    const disabled = await call('PATCH', `/api/v2/webhooks/${id}`, { enabled: false, url: 'https://b.example.com/x', types: null });
    assert.equal(disabled.status, 200, JSON.stringify(disabled.body));
    assert.equal(disabled.body.enabled, false);
    assert.equal(disabled.body.disabledReason, 'disabled by an administrator');
    assert.equal(disabled.body.url, 'https://b.example.com/x');
    const { body: current } = await call('GET', `/api/v2/webhooks/${id}`);
    const back = await call('PATCH', `/api/v2/webhooks/${id}`, { ...current, enabled: true });
    assert.equal(back.status, 200, JSON.stringify(back.body));
    assert.equal(back.body.enabled, true);
    assert.equal(back.body.disabledReason, null);
    assert.equal((await call('PATCH', `/api/v2/webhooks/${id}`, { id: 'other' })).status, 400);
  });

  test('rotate-secret answers the new secret; the previous one signs until previousSecretExpiresAt', async () => {
    const { body: created } = await call('POST', '/api/v2/webhooks', { url: 'https://rotate.example.com/' });
    const rotated = await call('POST', `/api/v2/webhooks/${created.id}/rotate-secret`);
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    assert.match(rotated.body.secret, /^whsec_/);
    assert.notEqual(rotated.body.secret, created.secret);
    const expires = Date.parse(rotated.body.previousSecretExpiresAt) - Date.now();
    assert.ok(expires > 23.9 * 3600_000 && expires <= 24 * 3600_000, `${expires}`);
  });

  test('deliveries, replay and DELETE; unknown ids are 404, bad input 400 naming the field', async () => {
    const { body: created } = await call('POST', '/api/v2/webhooks', { url: 'https://replay.example.com/' });
    const id = created.id as string;
    const deliveries = await call('GET', `/api/v2/webhooks/${id}/deliveries?limit=10`);
    assert.equal(deliveries.status, 200);
    assert.deepEqual(deliveries.body, { deliveries: [], next: null });
    await roster.services.groupManagement.create({ name: 'replay-me' }, { kind: 'cli' });
    const event = await roster.services.store.db.selectFrom('events').select('id').where('type', '=', 'group.created').executeTakeFirstOrThrow();
    const replayed = await call('POST', `/api/v2/webhooks/${id}/replay`, { from: String(event.id) });
    assert.equal(replayed.status, 200, JSON.stringify(replayed.body));
    assert.equal(replayed.body.enabled, true);
    const missing = await call('POST', `/api/v2/webhooks/${id}/replay`, { from: '987654' });
    assert.equal(missing.status, 400);
    assert.match(missing.body.message, /not in the feed/);
    assert.equal((await call('DELETE', `/api/v2/webhooks/${id}`)).status, 204);
    assert.equal((await call('GET', `/api/v2/webhooks/${id}`)).status, 404);
    assert.equal((await call('GET', `/api/v2/webhooks/${id}/deliveries`)).status, 404);
    for (const body of [{ url: 'ftp://x.example.com/' }, { url: 'https://user:pw@x.example.com/' }, { url: 'https://x.example.com/', types: ['user.exploded'] }, { url: 'https://x.example.com/', secret: 'whsec_mine' }, {}]) {
      const refused = await call('POST', '/api/v2/webhooks', body);
      assert.equal(refused.status, 400, JSON.stringify(body));
      assert.ok(typeof refused.body.message === 'string');
    }
    const audit = await roster.services.store.db.selectFrom('audit_events').select('action').where('target_type', '=', 'webhook').where('target_id', '=', id).orderBy('seq').execute();
    assert.deepEqual(audit.map((row) => row.action), ['webhook.created', 'webhook.replayed', 'webhook.deleted']);
  });

  test("the audit log keeps a webhook URL without its query string, where receivers take a token; a change of it still shows", async () => {
    const { body: created } = await call('POST', '/api/v2/webhooks', { url: 'https://hooks.example.com/roster?token=s3cr3t-receiver-token' });
    assert.equal(created.url, 'https://hooks.example.com/roster?token=s3cr3t-receiver-token', 'the admin API shows it whole');
    const changed = await call('PATCH', `/api/v2/webhooks/${created.id as string}`, { url: 'https://hooks.example.com/roster?token=another-token' });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    const rows = await roster.services.store.db.selectFrom('audit_events').select(['action', 'details']).where('target_id', '=', created.id as string).orderBy('seq').execute();
    const text = rows.map((row) => row.details).join('\n');
    assert.doesNotMatch(text, /s3cr3t|another-token/);
    const details = rows.map((row) => JSON.parse(row.details ?? '{}') as { url?: string; before?: { url: string }; after?: { url: string } });
    assert.match(details[0]?.url ?? '', /^https:\/\/hooks\.example\.com\/roster\?\[query hidden, sha256 [0-9a-f]{12}\]$/);
    assert.notEqual(details[1]?.before?.url, details[1]?.after?.url, 'two queries give two fingerprints');
  });
});
