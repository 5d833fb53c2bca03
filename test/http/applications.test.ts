/** The admin API's applications (/api/v2/applications), on SQLite and PostgreSQL. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { groupBody, startTestApp, userBody, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';

const PATH = '/api/v2/applications';

eachDatabase('admin API applications on', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database });
  });
  after(async () => app.close());

  const json = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown, token?: string) =>
    app.request(method, url, body === undefined ? undefined : JSON.stringify(body), { 'content-type': 'application/json', ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}) });

  test('create names the allowed groups that do not exist, by case key', async () => {
    assert.equal((await app.request('POST', '/Groups', groupBody('Ops'))).status, 201);
    const created = await json('POST', PATH, { name: 'Typo', redirectUris: ['https://typo.example.com/cb'], allowedGroups: ['ops', 'opps'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body.missingAllowedGroups, ['opps']);
    assert.equal((await json('DELETE', `${PATH}/${created.body.application.clientId}`)).status, 204);
  });

  test('create answers the application and its secret once; list and get never show it; rotate gives a new one; delete removes it', async () => {
    const created = await json('POST', PATH, { name: 'Grafana', redirectUris: ['https://grafana.example.com/login/generic_oauth'], allowedGroups: ['grafana-users'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const { application, clientSecret } = created.body;
    assert.match(clientSecret, /^[\w-]{43}$/);
    assert.deepEqual(application.allowedGroups, ['grafana-users']);
    assert.equal(application.public, false);
    // No group of that name exists: registered anyway (the IdP may provision it later), and said.
    assert.deepEqual(created.body.missingAllowedGroups, ['grafana-users']);

    const listed = await json('GET', PATH);
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body.applications.map((item: { clientId: string }) => item.clientId), [application.clientId]);
    assert.equal(listed.body.page.total, 1);
    assert.doesNotMatch(listed.raw.body, new RegExp(clientSecret));
    const got = await json('GET', `${PATH}/${application.clientId}`);
    assert.deepEqual(got.body, application);

    const rotated = await json('POST', `${PATH}/${application.clientId}/secret`);
    assert.equal(rotated.status, 200);
    assert.notEqual(rotated.body.clientSecret, clientSecret);
    // The previous secret works for the default overlap, 24 hours.
    assert.ok(Math.abs(Date.parse(rotated.body.previousSecretExpiresAt) - Date.now() - 86_400_000) < 60_000, rotated.body.previousSecretExpiresAt);

    assert.equal((await json('DELETE', `${PATH}/${application.clientId}`)).status, 204);
    const gone = await json('GET', `${PATH}/${application.clientId}`);
    assert.equal(gone.status, 404);
    assert.match(gone.body.message, /No application has the client id/);
  });

  test('the back-channel logout URI: set at creation, shown by GET, replaced and removed (null) by PATCH; a plain-http, relative or fragment URI is a 400 whose message names the field', async () => {
    const created = await json('POST', PATH, { name: 'Listening', redirectUris: ['https://listening.example.com/cb'], backchannelLogoutUri: 'https://listening.example.com/logout?tenant=a' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const { clientId } = created.body.application;
    assert.equal(created.body.application.backchannelLogoutUri, 'https://listening.example.com/logout?tenant=a');
    assert.equal((await json('GET', `${PATH}/${clientId}`)).body.backchannelLogoutUri, 'https://listening.example.com/logout?tenant=a');
    const none = await json('POST', PATH, { name: 'Quiet', redirectUris: ['https://quiet.example.com/cb'] });
    assert.equal(none.body.application.backchannelLogoutUri, null);

    for (const [uri, reason] of [
      ['http://listening.example.com/logout', /must use https; http is allowed only for localhost/],
      ['/logout', /is not an absolute URL/],
      ['https://listening.example.com/logout#frag', /may not have a fragment/],
      ['ftp://listening.example.com/logout', /must use https/],
    ] as const) {
      const refused = await json('PATCH', `${PATH}/${clientId}`, { backchannelLogoutUri: uri });
      assert.equal(refused.status, 400, uri);
      assert.match(refused.body.message, reason, uri);
      assert.match(refused.body.message, /^The back-channel logout URI/, 'the message names the field');
    }
    const loopback = await json('PATCH', `${PATH}/${clientId}`, { backchannelLogoutUri: 'http://127.0.0.1:9000/logout' });
    assert.equal(loopback.status, 200, JSON.stringify(loopback.body));
    assert.equal(loopback.body.application.backchannelLogoutUri, 'http://127.0.0.1:9000/logout');
    const removed = await json('PATCH', `${PATH}/${clientId}`, { backchannelLogoutUri: null });
    assert.equal(removed.status, 200);
    assert.equal(removed.body.application.backchannelLogoutUri, null);
    const wrongCreate = await json('POST', PATH, { name: 'Bad', redirectUris: ['https://bad.example.com/cb'], backchannelLogoutUri: 'http://bad.example.com/logout' });
    assert.equal(wrongCreate.status, 400);
  });

  test('POST …/secret takes the overlap: the answer keeps clientId and clientSecret and says until when the previous secret works; DELETE …/previous-secret ends it; bad overlaps are a 400', async () => {
    const created = await json('POST', PATH, { name: 'Overlapping', redirectUris: ['https://overlapping.example.com/cb'] });
    assert.equal(created.status, 201);
    const { clientId } = created.body.application;
    assert.equal(created.body.application.previousSecretExpiresAt, null);
    const url = `${PATH}/${clientId}/secret`;

    const hour = await json('POST', url, { overlapSeconds: 3600 });
    assert.equal(hour.status, 200, JSON.stringify(hour.body));
    assert.deepEqual(Object.keys(hour.body).sort(), ['application', 'clientId', 'clientSecret', 'previousSecretExpiresAt', 'stoppedOverlapUntil']);
    assert.equal(hour.body.clientId, clientId);
    assert.match(hour.body.clientSecret, /^[\w-]{43}$/);
    const until = hour.body.previousSecretExpiresAt;
    assert.ok(Math.abs(Date.parse(until) - Date.now() - 3_600_000) < 60_000, until);
    assert.equal(hour.body.stoppedOverlapUntil, null);
    assert.equal(hour.body.application.previousSecretExpiresAt, until);
    const got = await json('GET', `${PATH}/${clientId}`);
    assert.equal(got.body.previousSecretExpiresAt, until);
    assert.equal((await json('GET', PATH)).body.applications.find((item: { clientId: string }) => item.clientId === clientId).previousSecretExpiresAt, until);
    // A GET answer sent back as a merge patch is accepted, the expiry ignored.
    assert.equal((await json('PATCH', `${PATH}/${clientId}`, got.body)).status, 200);

    const again = await json('POST', url, {});
    assert.equal(again.status, 200);
    assert.equal(again.body.stoppedOverlapUntil, until, 'one previous secret at a time: the older one stopped');

    for (const overlapSeconds of [-1, 1.5, 604_801, '3600', null]) {
      const refused = await json('POST', url, { overlapSeconds });
      assert.equal(refused.status, 400, `${JSON.stringify(overlapSeconds)}: ${JSON.stringify(refused.body)}`);
      assert.match(refused.body.message, /overlapSeconds/);
    }
    assert.equal((await json('POST', url, { overlap: 60 })).status, 400);

    const ended = await json('DELETE', `${PATH}/${clientId}/previous-secret`);
    assert.equal(ended.status, 200, JSON.stringify(ended.body));
    assert.deepEqual([ended.body.ended, ended.body.application.previousSecretExpiresAt], [true, null]);
    assert.equal((await json('DELETE', `${PATH}/${clientId}/previous-secret`)).body.ended, false);
    const none = await json('POST', url, { overlapSeconds: 0 });
    assert.deepEqual([none.status, none.body.previousSecretExpiresAt, none.body.application.previousSecretExpiresAt], [200, null, null]);
    assert.equal((await json('DELETE', `${PATH}/nobody/previous-secret`)).status, 404);

    const audit = await app.services.store.db.selectFrom('audit_events').select(['action', 'details']).where('target_id', '=', clientId).orderBy('seq').execute();
    assert.deepEqual(audit.map((row) => row.action), ['application.created', 'application.secret_rotated', 'application.secret_rotated', 'application.secret_overlap_ended', 'application.secret_rotated']);
    assert.deepEqual(audit.filter((row) => row.action === 'application.secret_rotated').map((row) => JSON.parse(row.details ?? '{}').overlapSeconds), [3600, 86400, 0]);
    for (const secret of [created.body.clientSecret, hour.body.clientSecret, again.body.clientSecret, none.body.clientSecret]) assert.ok(!JSON.stringify(audit).includes(secret));
  });

  test('a public application has no secret, and rotating one is refused', async () => {
    const created = await json('POST', PATH, { name: 'SPA', redirectUris: ['http://localhost:3000/callback'], public: true });
    assert.equal(created.status, 201);
    assert.equal(created.body.clientSecret, undefined);
    const rotated = await json('POST', `${PATH}/${created.body.application.clientId}/secret`);
    assert.equal(rotated.status, 400);
    assert.match(rotated.body.message, /is public: it has no secret/);
  });

  test('redirect URIs: http only for localhost, no fragment; unknown fields are refused', async () => {
    const plain = await json('POST', PATH, { name: 'Plain', redirectUris: ['http://app.example.com/cb'] });
    assert.equal(plain.status, 400);
    assert.match(plain.body.message, /must use https; http is allowed only for localhost/);
    const fragment = await json('POST', PATH, { name: 'Fragment', redirectUris: ['https://app.example.com/cb#x'] });
    assert.equal(fragment.status, 400);
    assert.match(fragment.body.message, /fragment/);
    const unknown = await json('POST', PATH, { name: 'X', redirectUris: ['https://app.example.com/cb'], secret: 'mine' });
    assert.equal(unknown.status, 400);
  });

  test('PATCH changes the redirect URIs, the allowed groups and the name in place: same client id, the secret still authenticates, fields absent are kept', async () => {
    const created = await json('POST', PATH, { name: 'Grafana', redirectUris: ['https://grafana.example.com/login/generic_oauth'], allowedGroups: ['grafana-users'] });
    const { application, clientSecret } = created.body;
    const url = `${PATH}/${application.clientId}`;

    const patched = await app.request('PATCH', url, JSON.stringify({ redirectUris: ['https://grafana.example.com/login/generic_oauth', 'https://grafana-eu.example.com/login/generic_oauth'] }), { 'content-type': 'application/merge-patch+json' });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.application.clientId, application.clientId);
    assert.deepEqual(patched.body.application.redirectUris, ['https://grafana.example.com/login/generic_oauth', 'https://grafana-eu.example.com/login/generic_oauth']);
    assert.equal(patched.body.application.name, 'Grafana');
    assert.deepEqual(patched.body.application.allowedGroups, ['grafana-users']);
    assert.deepEqual(patched.body.missingAllowedGroups, ['grafana-users'], 'the warning of registration, for the groups after the edit');
    assert.equal(patched.body.clientSecret, undefined, 'an edit never shows a secret');

    // A GET answer sent back with a change: the read-only fields holding their values are accepted.
    const got = (await json('GET', url)).body;
    const renamed = await json('PATCH', url, { ...got, name: 'Grafana (prod)', allowedGroups: [] });
    assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
    assert.equal(renamed.body.application.name, 'Grafana (prod)');
    assert.deepEqual(renamed.body.application.allowedGroups, []);
    assert.deepEqual(renamed.body.missingAllowedGroups, []);
    assert.deepEqual((await json('GET', url)).body, renamed.body.application);

    const introspected = await app.app.inject({
      method: 'POST',
      url: '/oidc/token/introspection',
      headers: { authorization: `Basic ${Buffer.from(`${application.clientId}:${clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'token=not-a-token',
    });
    assert.equal(introspected.statusCode, 200, 'the secret still authenticates');
    const audited = await app.services.auditLog.list({ action: 'application.updated', targetId: application.clientId }, { offset: 0, limit: 10, ascending: true });
    assert.equal(audited.events.length, 2);
  });

  test('PATCH refuses bad input with 400 and the messages of registration, and an unknown client id with 404', async () => {
    const { application } = (await json('POST', PATH, { name: 'Strict', redirectUris: ['https://strict.example.com/cb'] })).body;
    const url = `${PATH}/${application.clientId}`;
    const refusals: Array<[unknown, RegExp]> = [
      [{ redirectUris: ['http://strict.example.com/cb'] }, /^The redirect URI "http:\/\/strict.example.com\/cb" must use https; http is allowed only for localhost\.$/],
      [{ redirectUris: ['https://strict.example.com/cb#x'] }, /may not have a fragment/],
      [{ redirectUris: [] }, /redirectUris/],
      [{ name: '  ' }, /^An application's name must have 1 to 100 characters\.$/],
      [{ clientId: 'another' }, /^Value another for field clientId was rejected\. Error: is read-only: it must be the client id in the URL\.$/],
      [{ public: true }, /^Value true for field public was rejected\. Error: is read-only: register a new application to change it\.$/],
      [{ secret: 'mine' }, /secret/],
      [{ allowedGroups: 'ops' }, /allowedGroups/],
    ];
    for (const [body, message] of refusals) {
      const refused = await json('PATCH', url, body);
      assert.equal(refused.status, 400, JSON.stringify(body));
      assert.match(refused.body.message, message);
    }
    assert.deepEqual((await json('GET', url)).body, application, 'nothing was changed');

    const unknown = await json('PATCH', `${PATH}/no-such-client`, { name: 'X' });
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.message, /No application has the client id 'no-such-client'/);
  });

  test('only administrators may manage applications', async () => {
    await app.request('POST', '/Users', userBody('mallory'));
    const mallory = (await app.services.accounts.findByLogin('mallory'))!;
    const token = await app.tokenFor(mallory.id, 'mallory');
    const refused = await json('POST', PATH, { name: 'Sneaky', redirectUris: ['https://evil.example.com/cb'] }, token);
    assert.equal(refused.status, 403);
    assert.equal((await json('GET', PATH, undefined, token)).status, 403);
    const { application } = (await json('POST', PATH, { name: 'Guarded', redirectUris: ['https://guarded.example.com/cb'] })).body;
    assert.equal((await json('PATCH', `${PATH}/${application.clientId}`, { redirectUris: ['https://evil.example.com/cb'] }, token)).status, 403);
    assert.deepEqual((await json('GET', `${PATH}/${application.clientId}`)).body.redirectUris, ['https://guarded.example.com/cb']);
  });
});
