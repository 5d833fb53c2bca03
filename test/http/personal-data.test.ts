/**
 * A person's data on request (GDPR Art. 15): `GET /api/v2/users-management/users/{id}/personal-data`
 * answers one document of what Roster holds of the user, each section named, never a secret, and
 * records the access; for an active, a deactivated and an erased user; bounded for a user in
 * 1,200 groups. What an administrator (and the person handed the document) observes, on both
 * databases.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import * as client from 'openid-client';
import { groupBody, startTestApp, userBody, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { passwordSignIn, sessionOf, setCookieOf } from '../support/console.ts';
import { CookieJar, follow, relyingParty } from '../support/oidc.ts';
import { signIn as samlSignIn } from '../saml/idp.ts';

const USERS = '/api/v2/users-management/users';
const BULK_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
const REDIRECT = 'https://grafana.example.com/login/generic_oauth';
const PASSWORD = 'correct horse battery staple';
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
const cli = { kind: 'cli' } as const;

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

eachDatabase('a person\'s data on request', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database, scim: false });
  });
  after(() => app.close());

  /** Creates a local user with a password and returns its id. */
  async function localUser(login: string, name: string, email: string): Promise<string> {
    const created = await app.request('POST', USERS, { login, name, email, password: PASSWORD });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    return created.body.id as string;
  }

  /** The user's browser signed in to an OpenID application through Roster: its grant, tokens and provider session. */
  async function grantTo(name: string, sessionCookie: string): Promise<client.TokenEndpointResponse> {
    const { application, secret } = await app.services.applications.create({ name, redirectUris: [REDIRECT], public: false, allowedGroups: [] }, cli);
    const config = await relyingParty(app, application.clientId, secret);
    const jar = new CookieJar();
    jar.add(sessionCookie);
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      scope: 'openid profile email offline_access',
      prompt: 'consent',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    });
    const landing = await follow(app, url, jar);
    assert.equal(`${landing.url.origin}${landing.url.pathname}`, REDIRECT, `ended at ${landing.url} (${landing.status}): ${landing.body.slice(0, 500)}`);
    return client.authorizationCodeGrant(config, landing.url, { pkceCodeVerifier: verifier, expectedState: state });
  }

  test('GET …/personal-data: every section of a user with a group, a token, a session, a known browser, a grant, a sign-in attempt and audit entries; never a secret', async () => {
    const id = await localUser('ada', 'Ada Lovelace', 'ada@corp.example');
    const group = await app.request('POST', '/api/v2/authorizations/groups', { name: 'pilots' });
    assert.equal((await app.request('POST', '/api/v2/authorizations/group-memberships', { groupId: group.body.id, userId: id })).status, 201);
    const token = await app.tokenFor(id, 'ada-laptop');
    const signedIn = await passwordSignIn(app, 'ada', PASSWORD, { headers: { 'user-agent': FIREFOX }, remoteAddress: '192.0.2.44' });
    assert.equal(signedIn.statusCode, 303, signedIn.body);
    const session = sessionOf(signedIn);
    const knownBrowser = setCookieOf(signedIn, '__Host-roster_browser') ?? setCookieOf(signedIn, 'roster_browser');
    assert.ok(knownBrowser, 'the password sign-in makes the browser known');
    const oidcTokens = await grantTo('Grafana', session.cookie);
    assert.ok(oidcTokens.refresh_token);
    await samlSignIn(app, { login: 'ADA' });

    const answer = await app.request('GET', `${USERS}/${id}/personal-data`);
    assert.equal(answer.status, 200, answer.raw.body);
    assert.match(String(answer.headers['content-type']), /^application\/json/);
    assert.equal(answer.headers['cache-control'], 'no-store');
    const data = answer.body;
    assert.deepEqual(Object.keys(data), [
      'format', 'exportedAt', 'listLimit', 'account', 'scim', 'groupMemberships', 'apiTokens', 'browserSessions', 'knownBrowsers',
      'openIdConnect', 'samlSignInAttempts', 'auditEntries', 'events', 'notIncluded',
    ]);
    assert.equal(data.format, 'roster-personal-data/1');
    const { createdAt, updatedAt, lastSignInAt, ...account } = data.account;
    assert.deepEqual(account, {
      id, login: 'ada', name: 'Ada Lovelace', email: 'ada@corp.example', externalId: null,
      local: true, managed: false, active: true, administrator: false, anonymized: false,
    });
    assert.ok(createdAt <= updatedAt && typeof lastSignInAt === 'string', 'the password sign-in is the last sign-in');
    assert.equal(data.scim, null, 'a local user the identity provider never provisioned has no SCIM document');

    assert.deepEqual(data.groupMemberships.items.map((item: any) => item.group), [{ id: group.body.id, name: 'pilots' }]);
    assert.equal(data.groupMemberships.total, 1);
    assert.equal(data.groupMemberships.rest, null);
    assert.match(data.groupMemberships.items[0].since, /^\d{4}-\d\d-\d\dT/);
    assert.deepEqual(data.apiTokens.items.map((item: any) => [item.name, item.revokedAt]), [['ada-laptop', null]]);
    assert.ok(data.browserSessions.items.some((item: any) => item.address === '192.0.2.44' && item.browser === 'Firefox on Linux'), JSON.stringify(data.browserSessions));
    assert.equal(data.knownBrowsers.total, 1);
    assert.match(data.knownBrowsers.items[0].knownUntil, /^\d{4}-/);

    const [grant] = data.openIdConnect.grants.items;
    assert.equal(data.openIdConnect.grants.total, 1);
    assert.equal(grant.application.name, 'Grafana');
    assert.deepEqual([...grant.scopes].sort(), ['email', 'offline_access', 'openid', 'profile']);
    assert.ok(grant.issued.accessTokens >= 1 && grant.issued.refreshTokens >= 1, JSON.stringify(grant.issued));
    assert.ok(data.openIdConnect.sessions.items.some((item: any) => item.applications.some((application: any) => application.name === 'Grafana')));

    assert.deepEqual(data.samlSignInAttempts.items.map((item: any) => item.login), ['ADA'], 'the attempt made with its login, in any case');

    const about = data.auditEntries.aboutUser.items.map((entry: any) => entry.action);
    assert.ok(about.includes('user.created'), about.join());
    assert.equal(about[0], 'user.personal_data_exported', 'the export itself is recorded, and listed first');
    assert.ok(data.auditEntries.byUser.items.every((entry: any) => entry.actorUser === 'ada'));
    assert.ok(data.auditEntries.byUser.total >= 1, 'the password sign-in names the user as actor');
    const events = data.events.items.map((event: any) => event.type);
    assert.deepEqual(events, ['group.user_added', 'user.created'], 'the feed events about the user, newest first');
    assert.ok(data.notIncluded.some((line: string) => /provisioning activity/.test(line)));

    // Nothing that signs in or stands for what does: the serialized answer holds no secret.
    const { db } = app.services.store;
    const stored = await db.selectFrom('users').select('password_hash').where('id', '=', id).executeTakeFirstOrThrow();
    const secrets: Array<[string, string | null | undefined]> = [
      ['password', PASSWORD],
      ['password hash', stored.password_hash],
      ['API token', token],
      ["API token's hash", sha256(token)],
      ['session cookie', session.cookie.split('=')[1]],
      ['known browser cookie', knownBrowser.split('=')[1]],
      ['access token', oidcTokens.access_token],
      ['refresh token', oidcTokens.refresh_token],
    ];
    for (const row of await db.selectFrom('sessions').select('id').where('user_id', '=', id).execute()) secrets.push(['session id', row.id]);
    for (const row of await db.selectFrom('known_browsers').select('id').where('user_id', '=', id).execute()) secrets.push(['known browser id', row.id]);
    for (const row of await db.selectFrom('oidc_models').select(['model', 'id']).where('account_id', '=', id).execute()) secrets.push([`OpenID ${row.model} id`, row.id]);
    assert.ok(secrets.length >= 12, 'a session, a browser, a grant and its tokens were stored');
    for (const [what, value] of secrets) {
      assert.ok(typeof value === 'string' && value.length >= 10, `${what} is known to the test`);
      assert.ok(!answer.raw.body.includes(value), `the document holds no ${what}`);
    }
    assert.doesNotMatch(answer.raw.body, /"(hash|password|passwordHash|secret|jti)"/);
  });

  test('404 for an unknown id, as the other user routes', async () => {
    const answer = await app.request('GET', `${USERS}/no-such-user/personal-data`);
    assert.equal(answer.status, 404);
    assert.deepEqual(answer.body, { message: "User 'no-such-user' not found" });
  });

  test('refused to a user who is not an administrator, and nothing is recorded', async () => {
    const id = await localUser('eve', 'Eve', 'eve@corp.example');
    const target = await localUser('bob', 'Bob', 'bob@corp.example');
    const token = await app.tokenFor(id, 'eve-script');
    for (const whose of [target, id]) {
      const refused = await app.request('GET', `${USERS}/${whose}/personal-data`, undefined, { authorization: `Bearer ${token}` });
      assert.equal(refused.status, 403);
      assert.deepEqual(refused.body, { message: 'Insufficient privileges' });
    }
    const unauthenticated = await app.app.inject({ method: 'GET', url: `${USERS}/${target}/personal-data` });
    assert.equal(unauthenticated.statusCode, 401);
    const entries = await app.request('GET', `/api/v2/audit-logs?action=user.personal_data_exported&targetId=${target}`);
    assert.equal(entries.body.page.total, 0);
  });

  test('each export is one audit entry naming the administrator and the user, without the data', async () => {
    const id = await localUser('carol', 'Carol Danvers', 'carol@corp.example');
    assert.equal((await app.request('GET', `${USERS}/${id}/personal-data`)).status, 200);
    assert.equal((await app.request('GET', `${USERS}/${id}/personal-data`)).status, 200);
    const entries = (await app.request('GET', `/api/v2/audit-logs?action=user.personal_data_exported&targetId=${id}`)).body.auditLogs;
    assert.equal(entries.length, 2);
    for (const entry of entries) {
      assert.deepEqual(
        { actor: entry.actor, actorUser: entry.actorUser, targetType: entry.targetType, targetId: entry.targetId, details: entry.details },
        { actor: 'token:test-idp', actorUser: 'admin', targetType: 'user', targetId: id, details: { login: 'carol' } },
      );
    }
    assert.doesNotMatch(JSON.stringify(entries), /Danvers|carol@corp/);
  });

  test('a deactivated user, then the same user erased: the document shows what is kept, then what is left', async () => {
    const id = await localUser('dora', 'Dora Explorer', 'dora@corp.example');
    await app.tokenFor(id, 'dora-cli');
    assert.equal((await app.request('DELETE', `${USERS}/${id}`)).status, 204);

    const deactivated = (await app.request('GET', `${USERS}/${id}/personal-data`)).body;
    assert.deepEqual([deactivated.account.login, deactivated.account.name, deactivated.account.active, deactivated.account.anonymized], ['dora', 'Dora Explorer', false, false]);
    assert.deepEqual(deactivated.apiTokens.items.map((item: any) => item.name), ['dora-cli'], 'a deactivation revokes tokens and keeps their names');
    assert.ok(deactivated.apiTokens.items[0].revokedAt !== null);
    assert.deepEqual(deactivated.events.items.map((event: any) => event.type), ['user.deactivated', 'user.created']);

    // A SAML sign-in attempt under another login whose NameID is the person's email: the export
    // lists it; the erasure must delete it too.
    const saml = await app.services.saml.get();
    assert.ok(saml);
    const configured = await app.services.saml.configure({ ...saml, userLoginAttribute: 'login', userEmailAttribute: 'email' }, cli);
    assert.ok(configured.ok, JSON.stringify(configured));
    await samlSignIn(app, { login: 'someone.else', attributes: { email: ['Dora@Corp.Example'] } });
    const attempts = () => app.services.store.db.selectFrom('saml_sign_in_attempts').select(['login', 'name_id', 'email']).execute();
    const naming = (await attempts()).filter((row) => [row.login, row.name_id, row.email].some((name) => name?.toLowerCase() === 'dora@corp.example'));
    assert.equal(naming.length, 1, JSON.stringify(await attempts()));
    assert.notEqual(naming[0]?.login.toLowerCase(), 'dora@corp.example', 'recorded under another login');
    const listed = (await app.request('GET', `${USERS}/${id}/personal-data`)).body;
    assert.equal(listed.samlSignInAttempts.total, 1);

    assert.equal((await app.request('DELETE', `${USERS}/${id}?anonymize=true`)).status, 204);
    assert.deepEqual((await attempts()).filter((row) => [row.login, row.name_id, row.email].some((name) => name?.toLowerCase() === 'dora@corp.example')), [], 'the erasure deletes every attempt the export listed');
    const erased = (await app.request('GET', `${USERS}/${id}/personal-data`)).body;
    const login = `anonymized-${id.replace(/-/g, '')}`;
    assert.deepEqual(
      [erased.account.login, erased.account.name, erased.account.email, erased.account.active, erased.account.anonymized, erased.account.lastSignInAt],
      [login, null, null, false, true, null],
    );
    assert.equal(erased.scim, null);
    assert.equal(erased.apiTokens.total, 0, 'the erasure deleted its tokens');
    // What was recorded before the erasure stays until its retention: the document shows it.
    assert.deepEqual(erased.events.items.map((event: any) => event.type), ['user.anonymized', 'user.deactivated', 'user.created']);
    const actions = erased.auditEntries.aboutUser.items.map((entry: any) => entry.action);
    assert.deepEqual(actions.slice(0, 3), ['user.personal_data_exported', 'user.anonymized', 'user.personal_data_exported']);
    assert.ok(actions.includes('user.created'));
    assert.match(JSON.stringify(erased.auditEntries.aboutUser), /Dora Explorer/, 'the entries recorded before the erasure keep what they held');
  });

  test('a user whose login spells an actor (cli) is handed its own entries, never the command line\'s; the audit log\'s actorUser filter is the same', async () => {
    const id = await localUser('cli', 'Cli Person', 'cli.person@corp.example');
    // A change made from the command line: its entry's actor is `cli`, no user behind it.
    await app.services.applications.create({ name: 'Made from the command line', redirectUris: [REDIRECT], public: false, allowedGroups: [] }, cli);
    const signedIn = await passwordSignIn(app, 'cli', PASSWORD);
    assert.ok(sessionOf(signedIn) !== undefined, 'the user cli signs in with its password');

    const data = (await app.request('GET', `${USERS}/${id}/personal-data`)).body;
    const mine = data.auditEntries.byUser.items as Array<{ actor: string; actorUser: string | null; action: string }>;
    assert.ok(mine.length >= 1, 'the sign-in names the user as actor');
    assert.deepEqual(mine.filter((entry) => entry.actorUser !== 'cli'), [], 'no entry of the command line');
    assert.equal(data.auditEntries.byUser.total, mine.length);

    const byFilter = await app.request('GET', '/api/v2/audit-logs?actorUser=cli&pageSize=500');
    assert.equal(byFilter.status, 200);
    assert.deepEqual(byFilter.body.auditLogs.map((entry: { seq: number }) => entry.seq).sort(), mine.map((entry) => (entry as unknown as { seq: number }).seq).sort());
    const byActor = await app.request('GET', '/api/v2/audit-logs?actor=cli&pageSize=500');
    assert.ok(byActor.body.auditLogs.some((entry: { actor: string; action: string }) => entry.actor === 'cli' && entry.action === 'application.created'), 'actor= still takes in the command line');
  });
});

eachDatabase('a person\'s data on request: bounded lists', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database });
  });
  after(() => app.close());

  test('a user in 1,200 groups: the newest 1,000 of each long list, how many there are, and where the rest is', async () => {
    const created = await app.request('POST', '/Users', userBody('many@corp.example', { displayName: 'Many Groups' }));
    assert.equal(created.status, 201);
    const scimId = created.body.id as string;
    const id = (await app.services.accounts.findByLogin('many@corp.example'))!.id;
    for (let batch = 0; batch < 2; batch++) {
      const operations = Array.from({ length: 600 }, (_, i) => ({ method: 'POST', path: '/Groups', bulkId: `g${batch}-${i}`, data: groupBody(`team-${batch}-${i}`, [scimId]) }));
      const bulk = await app.request('POST', '/Bulk', { schemas: [BULK_REQUEST], Operations: operations });
      assert.equal(bulk.status, 200);
      assert.ok(bulk.body.Operations.every((operation: any) => operation.status === '201'));
    }

    const answer = await app.request('GET', `${USERS}/${id}/personal-data`);
    assert.equal(answer.status, 200);
    const data = answer.body;
    assert.equal(data.listLimit, 1000);
    assert.deepEqual([data.groupMemberships.total, data.groupMemberships.items.length], [1200, 1000]);
    assert.match(data.groupMemberships.rest, new RegExp(`GET /api/v2/authorizations/groups\\?userId=${id}`));
    assert.deepEqual([data.events.total, data.events.items.length], [1201, 1000], 'the 1,200 memberships and the creation');
    // The rest is where it says: every event about the user, oldest first, page after page.
    const feed = /GET (\/api\/v2\/events\?userId=[^&\s]+&limit=1000)/.exec(data.events.rest)?.[1];
    assert.ok(feed, data.events.rest);
    const events: { id: string }[] = [];
    for (let after = ''; ;) {
      const page = await app.request('GET', `${feed}${after}`);
      assert.equal(page.status, 200, JSON.stringify(page.body));
      events.push(...page.body.events);
      after = `&after=${page.body.next}`;
      if (page.body.events.length < 1000) break;
    }
    assert.equal(events.length, 1201);
    assert.deepEqual(events.slice(-1000).reverse().map((event) => event.id), data.events.items.map((event: { id: string }) => event.id), 'the newest 1,000 are the document\'s');
    assert.deepEqual([data.scim.id, data.scim.document.userName, data.scim.document.displayName], [scimId, 'many@corp.example', 'Many Groups']);
    assert.equal(data.scim.document.groups, undefined, 'the groups are listed once, under groupMemberships');
    assert.ok(answer.raw.body.length < 2_000_000, `${answer.raw.body.length} bytes`);

    // The administrator whose token the identity provider uses is the actor of every SCIM change.
    const admin = (await app.request('GET', `${USERS}/${app.adminId}/personal-data`)).body;
    const byAdmin = admin.auditEntries.byUser;
    assert.ok(byAdmin.total > 1200 && byAdmin.items.length === 1000, `${byAdmin.total} entries, ${byAdmin.items.length} listed`);
    const next = /GET (\/api\/v2\/audit-logs\?actorUser=admin&from=[^&\s]+&cursor=\d+)/.exec(byAdmin.rest)?.[1];
    assert.ok(next, byAdmin.rest);
    assert.match(byAdmin.rest, /roster audit export --actor-user 'admin'/);
    const older = await app.request('GET', `${next}&pageSize=500`);
    assert.equal(older.status, 200);
    assert.ok(older.body.auditLogs.length > 0);
    assert.ok(older.body.auditLogs[0].seq < byAdmin.items.at(-1).seq, 'the rest goes on where the document stops');
    assert.equal(older.body.page.total, byAdmin.total, 'the rest counts the same entries as the document');
  });
});
