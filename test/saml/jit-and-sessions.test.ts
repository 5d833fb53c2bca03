import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { BASE_URL, startTestApp, testCertificate, TEST_IDP, type TestApp, SESSION_COOKIE } from '../support/app.ts';
import { eachDatabase, type TestDatabase } from '../support/databases.ts';
import { buildResponse, postResponse, sessionCookieOf, signIn, startLogin } from './idp.ts';

const JIT_ATTRIBUTES = {
  userLoginAttribute: 'login',
  userNameAttribute: 'displayName',
  userEmailAttribute: 'mail',
  groupAttribute: 'groups',
} as const;

async function current(app: TestApp, cookie: string) {
  return app.app.inject({ method: 'GET', url: '/api/users/current', headers: { cookie: `${SESSION_COOKIE}=${cookie}` } });
}

/** A fresh instance in just-in-time mode with SAML configured to read JIT_ATTRIBUTES. */
async function startJitApp(database: TestDatabase): Promise<TestApp> {
  const app = await startTestApp({ database, scim: false });
  const configured = await app.services.saml.configure({ ...TEST_IDP, certificates: [testCertificate()], ...JIT_ATTRIBUTES }, { kind: 'cli' });
  assert.ok(configured.ok);
  return app;
}

eachDatabase('SAML sign-in in just-in-time mode', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startJitApp(database);
  });
  after(() => app.close());

  test('the first sign-in creates the user with name, email and groups from the attributes', async () => {
    const response = await signIn(app, { login: 'dave@example.com', attributes: { displayName: ['Dave'], mail: ['dave@example.com'], groups: ['developers', 'ops'] } });
    assert.equal(response.statusCode, 303, response.body);
    const me = (await current(app, sessionCookieOf(response) ?? '')).json();
    assert.deepEqual(me, { login: 'dave@example.com', name: 'Dave', email: 'dave@example.com', active: true, local: false, managed: false, passwordGenerated: false, groups: ['developers', 'ops'] });
  });

  test('a later sign-in updates name, email and group memberships', async () => {
    const response = await signIn(app, { login: 'Dave@example.com', attributes: { displayName: ['David'], mail: ['david@example.com'], groups: ['ops', 'admins'] } });
    assert.equal(response.statusCode, 303, response.body);
    const me = (await current(app, sessionCookieOf(response) ?? '')).json();
    assert.equal(me.login, 'dave@example.com');
    assert.equal(me.name, 'David');
    assert.equal(me.email, 'david@example.com');
    assert.deepEqual(me.groups, ['admins', 'ops']);
    // Matched regardless of case: still one Dave (beside the test administrator).
    const count = await app.services.store.db
      .selectFrom('users')
      .where((eb) => eb(eb.fn('lower', ['login']), '=', 'dave@example.com'))
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    assert.equal(Number(count.n), 1);
  });

  // Keycloak's group and role list mappers send one Attribute element per value unless told
  // otherwise; only the last one counted, and each sign-in took the user out of the others.
  test('an attribute sent as several elements of the same name counts with every value', async () => {
    const response = await signIn(app, {
      login: 'kim@example.com',
      attributes: { displayName: ['Kim'], groups: ['admins', 'developers', 'ops'] },
      attributePerValue: ['groups'],
    });
    assert.equal(response.statusCode, 303, response.body);
    const me = (await current(app, sessionCookieOf(response) ?? '')).json();
    assert.deepEqual(me.groups, ['admins', 'developers', 'ops']);
    assert.equal(me.name, 'Kim');
  });

  test('without a name in the assertion the first sign-in names the user by its login, and later ones leave name and email as they are', async () => {
    const first = await signIn(app, { login: 'nina@example.com', attributes: { groups: ['ops'] } });
    assert.equal(first.statusCode, 303, first.body);
    const created = (await app.request('GET', '/api/v2/users-management/users?q=nina')).body.users[0];
    assert.equal(created.name, 'nina@example.com', 'saml.md: the name defaults to the login');
    // An administrator names her and gives her an email; a sign-in that carries neither keeps them.
    const patched = await app.request('PATCH', `/api/v2/users-management/users/${created.id}`, { name: 'Nina', email: 'nina@corp.example' }, { 'content-type': 'application/merge-patch+json' });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal((await signIn(app, { login: 'nina@example.com', attributes: { groups: ['ops'] } })).statusCode, 303);
    const kept = (await app.request('GET', `/api/v2/users-management/users/${created.id}`)).body;
    assert.deepEqual([kept.name, kept.email], ['Nina', 'nina@corp.example']);
    // What the assertion carries still replaces it.
    assert.equal((await signIn(app, { login: 'nina@example.com', attributes: { displayName: ['Nina B'], groups: ['ops'] } })).statusCode, 303);
    assert.equal((await app.request('GET', `/api/v2/users-management/users/${created.id}`)).body.name, 'Nina B');
  });

  test('group and membership changes made at sign-in are each in the audit trail', async () => {
    const events = await app.services.store.db
      .selectFrom('audit_events')
      .select(['actor', 'action', 'details'])
      .where('actor', '=', 'saml:Dave@example.com')
      .where('action', 'in', ['group.created', 'membership.added', 'membership.removed'])
      .orderBy('seq')
      .execute();
    const seen = events.map((event) => `${event.action} ${JSON.parse(event.details ?? '{}').group ?? JSON.parse(event.details ?? '{}').after?.name}`);
    assert.deepEqual(seen, ['membership.removed developers', 'group.created admins', 'membership.added admins']);
    const first = await app.services.store.db.selectFrom('audit_events').select('action').where('actor', '=', 'saml:dave@example.com').orderBy('seq').execute();
    assert.deepEqual(
      first.map((event) => event.action),
      ['user.created', 'group.created', 'membership.added', 'group.created', 'membership.added', 'saml.signed_in'],
    );
  });

  test('a login that belongs to a local account (the administrator) is refused, and no session opens', async () => {
    const response = await signIn(app, { login: 'ADMIN', attributes: { displayName: ['Mallory'], groups: ['developers'] } });
    assert.equal(response.statusCode, 403);
    assert.match(response.body, /belongs to a local Roster account/);
    assert.equal(sessionCookieOf(response), undefined);
    const admin = await app.services.accounts.get(app.adminId);
    assert.equal(admin.displayName, 'Administrator');
    const check = await app.request('GET', `/api/v2/users-management/users/${app.adminId}/sign-in-check`);
    assert.ok(check.body.problems.some((problem: { code: string }) => problem.code === 'local_account'));
  });

  test("just-in-time sign-in follows the admin API's limits: an invalid login is refused, a long name is cut, a long group name is not synced and the audit says so", async () => {
    const lastAudit = async (action: string) =>
      JSON.parse((await app.services.store.db.selectFrom('audit_events').select('details').where('action', '=', action).orderBy('seq', 'desc').executeTakeFirstOrThrow()).details ?? '{}');
    const before = await app.services.store.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    for (const login of [`${'l'.repeat(3000)}@example.com`, 'two words@example.com']) {
      const refused = await signIn(app, { login, attributes: { displayName: ['Long'] } });
      assert.equal(refused.statusCode, 403, login.slice(0, 20));
      assert.match(refused.body, /which Roster cannot use as a login \((size must be between 2 and 255|must not contain spaces or control characters)\)/);
      assert.equal(sessionCookieOf(refused), undefined);
      const audited = await lastAudit('saml.sign_in_refused');
      assert.equal(audited.reason, 'invalid_login');
      assert.ok(audited.login.length <= 300);
    }
    const after = await app.services.store.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    assert.equal(Number(after.n), Number(before.n), 'no user created');

    const longGroup = `g${'x'.repeat(4999)}`;
    const response = await signIn(app, { login: 'olga@example.com', attributes: { displayName: ['O'.repeat(20_000)], groups: [longGroup, 'ops'] } });
    assert.equal(response.statusCode, 303, response.body);
    const me = (await current(app, sessionCookieOf(response) ?? '')).json();
    assert.equal(me.name, 'O'.repeat(200));
    assert.deepEqual(me.groups, ['ops']);
    const group = await app.services.store.db.selectFrom('groups').select('id').where('name', '=', longGroup).executeTakeFirst();
    assert.equal(group, undefined);
    const signedIn = await lastAudit('saml.signed_in');
    assert.match(signedIn.groups.skipped[0], /^gx+… \(\d+ more characters\): longer than 255 characters, not synced$/);
    // A group name with an invisible character would make a look-alike group: not created, and said.
    const hidden = await signIn(app, { login: 'olga@example.com', attributes: { groups: ['roster-administrators\u200b', 'ops'] } });
    assert.equal(hidden.statusCode, 303, hidden.body);
    assert.deepEqual((await current(app, sessionCookieOf(hidden) ?? '')).json().groups, ['ops']);
    assert.equal(await app.services.store.db.selectFrom('groups').select('id').where('name', 'like', 'roster-administrators_%').executeTakeFirst(), undefined);
    assert.match((await lastAudit('saml.signed_in')).groups.skipped[0], /^roster-administrators\\u\{200B\}: must not contain invisible or text-direction characters .*, not created$/);
    // So would one with a Cyrillic letter among Latin ones.
    const homoglyph = await signIn(app, { login: 'olga@example.com', attributes: { groups: ['roster-\u0430dministrators', 'ops'] } });
    assert.equal(homoglyph.statusCode, 303, homoglyph.body);
    assert.deepEqual((await current(app, sessionCookieOf(homoglyph) ?? '')).json().groups, ['ops']);
    assert.match((await lastAudit('saml.signed_in')).groups.skipped[0], /^roster-\u0430dministrators: must not mix Latin, Cyrillic or Greek letters in one word .*, not created$/);
    // A later sign-in with a name over the limit cuts it too.
    assert.equal((await signIn(app, { login: 'olga@example.com', attributes: { displayName: ['P'.repeat(300)], groups: ['ops'] } })).statusCode, 303);
    assert.equal((await app.request('GET', '/api/v2/users-management/users?q=olga')).body.users[0].name, 'P'.repeat(200));
  });

  test('a transient NameID used as the login is refused at every sign-in instead of creating a user each time, and the validation page says so', async () => {
    const TRANSIENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient';
    await app.services.saml.configure({ ...TEST_IDP, certificates: [testCertificate()], ...JIT_ATTRIBUTES, userLoginAttribute: null }, { kind: 'cli' });
    try {
      const count = async () => Number((await app.services.store.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
      const before = await count();
      for (const nameId of ['_7f3a9c21', '_b81d44e0']) {
        const response = await signIn(app, { login: nameId, nameIdFormat: TRANSIENT, attributes: { displayName: ['Tess'] } });
        assert.equal(response.statusCode, 403, response.body);
        assert.match(response.body, /sends a transient NameID, which changes at every sign-in.*persistent or email NameID, or configure a login attribute/);
        assert.equal(sessionCookieOf(response), undefined);
      }
      assert.equal(await count(), before);
      const { requestId } = await startLogin(app, '/saml/validation', { authorization: `Bearer ${app.token}` });
      const validation = await postResponse(app, buildResponse({ login: '_c0ffee', nameIdFormat: TRANSIENT, inResponseTo: requestId }));
      assert.equal(validation.statusCode, 200);
      assert.match(validation.body, /sign-in would be refused \(transient_name_id\): The identity provider sends a transient NameID/);
      // With a login attribute configured, the NameID's format does not matter.
      await app.services.saml.configure({ ...TEST_IDP, certificates: [testCertificate()], ...JIT_ATTRIBUTES }, { kind: 'cli' });
      assert.equal((await signIn(app, { login: 'tess@example.com', nameIdFormat: TRANSIENT })).statusCode, 303);
    } finally {
      await app.services.saml.configure({ ...TEST_IDP, certificates: [testCertificate()], ...JIT_ATTRIBUTES }, { kind: 'cli' });
    }
  });

  test('an assertion without the login attribute is refused with a message saying so', async () => {
    await app.services.saml.configure({ ...TEST_IDP, certificates: [testCertificate()], ...JIT_ATTRIBUTES, userLoginAttribute: 'upn' }, { kind: 'cli' });
    try {
      const response = await signIn(app, { login: 'erin@example.com' });
      assert.equal(response.statusCode, 403);
      assert.match(response.body, /did not send the attribute Roster uses as login/);
    } finally {
      await app.services.saml.configure({ ...TEST_IDP, certificates: [testCertificate()], ...JIT_ATTRIBUTES }, { kind: 'cli' });
    }
  });
});

eachDatabase('Roster sessions', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database, scim: false });
  });
  after(() => app.close());

  test('the session cookie is HttpOnly, SameSite=Lax, Secure on an https base URL, and only its hash is stored', async () => {
    const response = await signIn(app, { login: 'frank@example.com' });
    const header = String(response.headers['set-cookie']);
    assert.match(header, /^__Host-roster_session=[A-Za-z0-9_-]{43}; /);
    assert.match(header, /; HttpOnly/);
    assert.match(header, /; SameSite=Lax/);
    assert.match(header, /; Secure/);
    assert.match(header, /; Path=\//);
    const value = sessionCookieOf(response) ?? '';
    const rows = await app.services.store.db.selectFrom('sessions').select('id').execute();
    assert.ok(rows.some((row) => row.id === createHash('sha256').update(value).digest('hex')));
    assert.ok(rows.every((row) => row.id !== value));
  });

  test('a SAML sign-in records where the session came from: the client address and a short browser description', async () => {
    const { requestId } = await startLogin(app);
    const userAgent = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
    const response = await postResponse(app, buildResponse({ login: 'gina@example.com', inResponseTo: requestId }), undefined, { headers: { 'user-agent': userAgent }, remoteAddress: '198.51.100.7' });
    assert.equal(response.statusCode, 303, response.body);
    const id = createHash('sha256').update(sessionCookieOf(response) ?? '').digest('hex');
    const row = await app.services.store.db.selectFrom('sessions').select(['address', 'browser']).where('id', '=', id).executeTakeFirstOrThrow();
    assert.deepEqual(row, { address: '198.51.100.7', browser: 'Chrome on Windows' });
  });

  test('GET /api/users/current answers 401 without a session or with an unknown one', async () => {
    assert.equal((await app.app.inject({ method: 'GET', url: '/api/users/current' })).statusCode, 401);
    assert.equal((await current(app, 'x'.repeat(43))).statusCode, 401);
  });

  test('POST /saml/logout ends the session everywhere, clears the cookie and audits the sign-out', async () => {
    const value = sessionCookieOf(await signIn(app, { login: 'frank@example.com' })) ?? '';
    assert.equal((await current(app, value)).statusCode, 200);
    const logout = await app.app.inject({ method: 'POST', url: '/saml/logout', headers: { cookie: `${SESSION_COOKIE}=${value}` } });
    assert.equal(logout.statusCode, 303);
    assert.match(String(logout.headers['set-cookie']), /^__Host-roster_session=; .*Max-Age=0/);
    assert.equal((await current(app, value)).statusCode, 401);
    const entry = await app.services.store.db.selectFrom('audit_events').select(['actor', 'target_id']).where('action', '=', 'session.signed_out').orderBy('seq', 'desc').executeTakeFirst();
    assert.match(entry?.actor ?? '', /frank@example\.com/, 'signed out by the holder of the session');
    const frank = await app.services.store.db.selectFrom('users').select('id').where('login', '=', 'frank@example.com').executeTakeFirstOrThrow();
    assert.equal(entry?.target_id, frank.id);
  });

  test('POST /saml/logout from another site or a sibling host (Sec-Fetch-Site, Origin) is refused and leaves the session and its cookie alone', async () => {
    const value = sessionCookieOf(await signIn(app, { login: 'frank@example.com' })) ?? '';
    const forged = await app.app.inject({ method: 'POST', url: '/saml/logout', headers: { cookie: `${SESSION_COOKIE}=${value}`, 'sec-fetch-site': 'cross-site' } });
    assert.equal(forged.statusCode, 403);
    assert.equal(forged.headers['set-cookie'], undefined);
    assert.equal((await current(app, value)).statusCode, 200);
    // A sibling host of the same site (app.example.com beside Roster) gets the Lax cookie sent
    // with its form; a browser that sends no Sec-Fetch-Site still names the page's origin.
    for (const from of [{ 'sec-fetch-site': 'same-site' }, { origin: 'https://app.example.com' }, { origin: 'null' }]) {
      const sibling = await app.app.inject({ method: 'POST', url: '/saml/logout', headers: { cookie: `${SESSION_COOKIE}=${value}`, ...from } });
      assert.equal(sibling.statusCode, 403, JSON.stringify(from));
      assert.equal(sibling.headers['set-cookie'], undefined);
      assert.equal((await current(app, value)).statusCode, 200, JSON.stringify(from));
    }
    const own = await app.app.inject({ method: 'POST', url: '/saml/logout', headers: { cookie: `${SESSION_COOKIE}=${value}`, 'sec-fetch-site': 'same-origin', origin: new URL(BASE_URL).origin } });
    assert.equal(own.statusCode, 303);
    assert.equal((await current(app, value)).statusCode, 401);
  });

  test('an idle session expires', async () => {
    const value = sessionCookieOf(await signIn(app, { login: 'frank@example.com' })) ?? '';
    const id = createHash('sha256').update(value).digest('hex');
    await app.services.store.db.updateTable('sessions').set({ last_seen_at: '2000-01-01T00:00:00.000Z' }).where('id', '=', id).execute();
    assert.equal((await current(app, value)).statusCode, 401);
  });

  test('a session past its absolute expiry ends however busy', async () => {
    const value = sessionCookieOf(await signIn(app, { login: 'frank@example.com' })) ?? '';
    const id = createHash('sha256').update(value).digest('hex');
    await app.services.store.db.updateTable('sessions').set({ expires_at: '2000-01-01T00:00:00.000Z' }).where('id', '=', id).execute();
    assert.equal((await current(app, value)).statusCode, 401);
  });

  test("the identity provider's SessionNotOnOrAfter brings the session's end forward, never later", async () => {
    const bound = new Date(Date.now() + 60 * 60 * 1000);
    const response = await signIn(app, { login: 'frank@example.com', sessionNotOnOrAfter: bound });
    assert.equal(response.statusCode, 303, response.body);
    const value = sessionCookieOf(response) ?? '';
    // The clock tolerance (2 minutes) is added, as for the assertion's own NotOnOrAfter.
    const expected = new Date(bound.getTime() + 2 * 60 * 1000);
    assert.match(String(response.headers['set-cookie']), new RegExp(`Expires=${expected.toUTCString()}`));
    const id = createHash('sha256').update(value).digest('hex');
    const row = await app.services.store.db.selectFrom('sessions').select('expires_at').where('id', '=', id).executeTakeFirstOrThrow();
    assert.equal(row.expires_at, expected.toISOString());
    assert.equal((await current(app, value)).statusCode, 200);
    // Once that time has passed the session is over, whatever Roster's own week would allow.
    await app.services.store.db.updateTable('sessions').set({ expires_at: new Date(Date.now() - 1000).toISOString() }).where('id', '=', id).execute();
    assert.equal((await current(app, value)).statusCode, 401);

    // A bound beyond Roster's own week does not lengthen the session.
    const late = sessionCookieOf(await signIn(app, { login: 'frank@example.com', sessionNotOnOrAfter: new Date(Date.now() + 30 * 24 * 60 * 60 * 1000) })) ?? '';
    const lateRow = await app.services.store.db.selectFrom('sessions').select('expires_at').where('id', '=', createHash('sha256').update(late).digest('hex')).executeTakeFirstOrThrow();
    assert.ok(Date.parse(lateRow.expires_at) <= Date.now() + 7 * 24 * 60 * 60 * 1000);
  });

  test('an assertion whose SessionNotOnOrAfter has already passed opens no session and says why', async () => {
    const ended = new Date(Date.now() - 10 * 60 * 1000);
    const response = await signIn(app, { login: 'frank@example.com', sessionNotOnOrAfter: ended });
    assert.equal(response.statusCode, 403);
    assert.equal(sessionCookieOf(response), undefined);
    assert.match(response.body, new RegExp(`only until ${ended.toISOString()} \\(SessionNotOnOrAfter\\)`));
    const entry = await app.services.store.db.selectFrom('audit_events').select('details').where('action', '=', 'saml.sign_in_refused').orderBy('seq', 'desc').executeTakeFirst();
    assert.match(entry?.details ?? '', /session_ended/);
  });

  test('the last SAML sign-in attempt of each login is kept for the activity retention, then deleted', async () => {
    assert.equal((await signIn(app, { login: 'recent@example.com' })).statusCode, 303);
    assert.equal((await signIn(app, { login: 'long-ago@example.com' })).statusCode, 303);
    const { db } = app.services.store;
    await db.updateTable('saml_sign_in_attempts').set({ at: new Date(Date.now() - 31 * 24 * 60 * 60 * 1000).toISOString() }).where('login', '=', 'long-ago@example.com').execute();
    assert.equal(await app.services.signIn.purgeAttempts(30), 1);
    const left = (await db.selectFrom('saml_sign_in_attempts').select('login').execute()).map((row) => row.login);
    assert.ok(left.includes('recent@example.com') && !left.includes('long-ago@example.com'), left.join(', '));
  });

  test('deactivation ends the sessions even if their rows remained', async () => {
    const value = sessionCookieOf(await signIn(app, { login: 'grace@example.com' })) ?? '';
    assert.equal((await current(app, value)).statusCode, 200);
    await app.services.store.db.updateTable('users').set({ active: 0 }).where('login', '=', 'grace@example.com').execute();
    assert.equal((await current(app, value)).statusCode, 401);
  });

  test('GET /saml/login refuses a returnTo that leaves the server', async () => {
    for (const returnTo of ['https://evil.example.com/', '//evil.example.com/', '/\\evil.example.com']) {
      const response = await app.app.inject({ method: 'GET', url: `/saml/login?returnTo=${encodeURIComponent(returnTo)}` });
      assert.equal(response.statusCode, 400, returnTo);
    }
    const { location } = await startLogin(app, '/saml/login?returnTo=%2Fhome');
    assert.ok(location.startsWith(`${TEST_IDP.loginUrl}?SAMLRequest=`));
  });
});

// The admin API, the CLI and the console refuse to take the last administrator out of the
// administrators' group; a just-in-time sign-in whose groups no longer name it did so silently.
eachDatabase('SAML group sync and the last administrator', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startJitApp(database);
  });
  after(() => app.close());

  test('keeps the last administrator in the administrators\' group, signs it in and says why; removes it once another exists', async () => {
    const first = await signIn(app, { login: 'pat@example.com', attributes: { groups: ['roster-administrators'] } });
    assert.equal(first.statusCode, 303, first.body);
    const pat = (await app.services.accounts.findByLogin('pat@example.com'))!;
    // pat becomes the only administrator.
    assert.equal(await app.services.accounts.deactivate(app.adminId, { kind: 'cli' }), true);

    const second = await signIn(app, { login: 'pat@example.com', attributes: { groups: ['ops'] } });
    assert.equal(second.statusCode, 303, second.body);
    assert.deepEqual((await current(app, sessionCookieOf(second) ?? '')).json().groups, ['ops', 'roster-administrators']);
    assert.equal(await app.services.access.isAdministrator(pat.id), true);
    const entries = await app.services.store.db.selectFrom('audit_events').select(['action', 'details']).where('target_id', 'like', `%${pat.id}%`).orderBy('seq').execute();
    const signedIn = entries.filter((entry) => entry.action === 'saml.signed_in').at(-1);
    assert.match(String(signedIn?.details), /roster-administrators: kept, pat@example\.com is the last administrator/);
    // The audit names the user in the membership entries, as the admin API's do.
    const added = await app.services.store.db.selectFrom('audit_events').select('details').where('action', '=', 'membership.added').where('details', 'like', '%"group":"ops"%').executeTakeFirst();
    assert.match(String(added?.details), /"login":"pat@example\.com"/);

    // Another administrator: the next sign-in follows the IdP.
    await signIn(app, { login: 'quinn@example.com', attributes: { groups: ['roster-administrators'] } });
    const third = await signIn(app, { login: 'pat@example.com', attributes: { groups: ['ops'] } });
    assert.equal(third.statusCode, 303, third.body);
    assert.deepEqual((await current(app, sessionCookieOf(third) ?? '')).json().groups, ['ops']);
    assert.equal(await app.services.access.isAdministrator(pat.id), false);
  });
});
