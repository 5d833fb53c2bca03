/**
 * A person's data holds that person's data and no one else's: a login given again (to a new
 * account after an erasure, or to a user renamed into it after its holder was renamed away)
 * must not hand the new holder the audit entries or SAML attempts of the person who had it
 * before; the entries an administrator made about other users do not carry those users' names
 * and emails; and what names the person outside the document is said to be elsewhere.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createJournal } from '../../src/journal/journal.ts';
import { transact } from '../../src/store/transact.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { passwordSignIn, sessionOf } from '../support/console.ts';
import { signIn as samlSignIn } from '../saml/idp.ts';

const USERS = '/api/v2/users-management/users';
const PASSWORD = 'correct horse battery staple';

eachDatabase('a person\'s data: the audit entries of an earlier holder of the login', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database, scim: false });
  });
  after(() => app.close());

  async function localUser(login: string, name: string): Promise<string> {
    const created = await app.request('POST', USERS, { login, name, email: `${login}@corp.example`, password: PASSWORD });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    return created.body.id as string;
  }

  async function byUser(id: string): Promise<Array<{ at: string; action: string; actorUser: string }>> {
    const answer = await app.request('GET', `${USERS}/${id}/personal-data`);
    assert.equal(answer.status, 200, answer.raw.body);
    assert.equal(answer.body.auditEntries.byUser.total, answer.body.auditEntries.byUser.items.length);
    return answer.body.auditEntries.byUser.items;
  }

  test('a new account under an erased person\'s login is handed none of the erased person\'s sign-ins', async () => {
    const erased = await localUser('ada', 'Ada Erased');
    assert.ok(sessionOf(await passwordSignIn(app, 'ada', PASSWORD)));
    await passwordSignIn(app, 'ada', 'not the password at all');
    assert.equal((await app.request('DELETE', `${USERS}/${erased}?anonymize=true`)).status, 204);

    const id = await localUser('ada', 'Ada New');
    assert.notEqual(id, erased);
    assert.deepEqual(await byUser(id), [], 'the erased person\'s sign-ins are not the new person\'s');
    assert.ok(sessionOf(await passwordSignIn(app, 'ada', PASSWORD)));
    assert.deepEqual((await byUser(id)).map((entry) => entry.action), ['session.password_sign_in'], 'the new person\'s own sign-in is');
  });

  test('a user renamed into a login another user left is handed only what it did under that login', async () => {
    const first = await localUser('bob', 'Bob First');
    assert.ok(sessionOf(await passwordSignIn(app, 'bob', PASSWORD)));
    const renamed = await app.request('PATCH', `${USERS}/${first}`, { login: 'bobby' }, { 'content-type': 'application/merge-patch+json' });
    assert.equal(renamed.status, 200, renamed.raw.body);

    const other = await localUser('carl', 'Carl');
    assert.ok(sessionOf(await passwordSignIn(app, 'carl', PASSWORD)));
    assert.equal((await app.request('PATCH', `${USERS}/${other}`, { login: 'bob' }, { 'content-type': 'application/merge-patch+json' })).status, 200);
    assert.deepEqual(await byUser(other), [], 'Bob First\'s sign-in under "bob" is not Carl\'s');
    assert.ok(sessionOf(await passwordSignIn(app, 'bob', PASSWORD)));
    const mine = await byUser(other);
    assert.deepEqual(mine.map((entry) => [entry.action, entry.actorUser]), [['session.password_sign_in', 'bob']]);
  });

  test('a SAML sign-in attempt under another user\'s login is that user\'s: not in the export of a user whose email spells it, nor erased with it', async () => {
    const saml = await app.services.saml.get();
    assert.ok(saml);
    assert.ok((await app.services.saml.configure({ ...saml, userLoginAttribute: 'login', userEmailAttribute: 'email' }, { kind: 'cli' })).ok);
    await samlSignIn(app, { login: 'carol@corp.example', attributes: { email: ['carol.private@home.example'] } });
    assert.ok(await app.services.accounts.findByLogin('carol@corp.example'), 'the sign-in created carol');
    const attempts = () => app.services.store.db.selectFrom('saml_sign_in_attempts').select(['login', 'email']).where('login', '=', 'carol@corp.example').execute();
    assert.equal((await attempts()).length, 1);

    // Dave's email is carol's login (a typo, an alias given back): the attempt names carol, not him.
    const dave = (await app.request('POST', USERS, { login: 'dave', name: 'Dave', email: 'Carol@corp.example', password: PASSWORD })).body.id as string;
    const data = (await app.request('GET', `${USERS}/${dave}/personal-data`)).body;
    assert.deepEqual(data.samlSignInAttempts, { total: 0, items: [], rest: null });
    assert.doesNotMatch(JSON.stringify(data), /carol\.private/);
    assert.equal((await app.request('DELETE', `${USERS}/${dave}?anonymize=true`)).status, 204);
    assert.equal((await attempts()).length, 1, 'erasing dave leaves carol\'s attempt');
  });
});

eachDatabase('a person\'s data: what names the person outside the document is named in notIncluded', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database });
  });
  after(() => app.close());

  test('the audit entries of the user\'s tokens and of its groups\' member changes, which name its id, are said to be elsewhere', async () => {
    const created = await app.request('POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'zoe@corp.example' });
    assert.equal(created.status, 201);
    const group = await app.request('POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Zoe team', members: [{ value: created.body.id }] });
    assert.equal(group.status, 201);
    const id = (await app.services.accounts.findByLogin('zoe@corp.example'))!.id;
    await app.tokenFor(id, 'zoe-laptop');

    const data = (await app.request('GET', `${USERS}/${id}/personal-data`)).body;
    const listed = new Set([...data.auditEntries.aboutUser.items, ...data.auditEntries.byUser.items].map((entry: { seq: number }) => entry.seq));
    const elsewhere = (await app.services.store.db.selectFrom('audit_events').select(['seq', 'action', 'target_type', 'details']).orderBy('seq').execute())
      .filter((row) => !listed.has(Number(row.seq)) && [id, created.body.id as string].some((either) => (row.details ?? '').includes(either)));
    assert.deepEqual(elsewhere.map((row) => row.action).sort(), ['group.created', 'token.created']);
    for (const row of elsewhere) {
      const named = data.notIncluded.some((line: string) => line.includes(row.action) && line.includes(`targetType=${row.target_type}`));
      assert.ok(named, `notIncluded names ${row.action} entries: ${JSON.stringify(data.notIncluded)}`);
    }
  });
});

eachDatabase('a person\'s data: an administrator\'s entries about other users', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database, scim: false });
  });
  after(() => app.close());

  test('the administrator\'s document says what it did to whom (by id), without the other person\'s name or email; that person\'s document has them', async () => {
    const created = await app.request('POST', USERS, { login: 'grace', name: 'Grace Hopper', email: 'grace.private@home.example', password: PASSWORD });
    assert.equal(created.status, 200);
    const grace = created.body.id as string;
    const group = await app.request('POST', '/api/v2/authorizations/groups', { name: 'navy' });
    assert.equal((await app.request('POST', '/api/v2/authorizations/group-memberships', { groupId: group.body.id, userId: grace })).status, 201);
    await app.tokenFor(grace, 'grace-laptop');

    const admin = (await app.request('GET', `${USERS}/${app.adminId}/personal-data`)).body;
    const text = JSON.stringify(admin);
    assert.doesNotMatch(text, /Grace Hopper|grace\.private|"grace"/, 'none of grace\'s data in the administrator\'s document');
    const entries = admin.auditEntries.byUser.items as Array<{ action: string; targetType: string; targetId: string; details: unknown }>;
    const aboutGrace = entries.find((entry) => entry.action === 'user.created' && entry.targetId === grace);
    assert.deepEqual(aboutGrace?.details, null, 'the entry stays, without its details');
    const membership = entries.find((entry) => entry.action === 'membership.added');
    assert.ok(membership, 'the membership entry stays');
    assert.equal(membership.details, null);
    const own = entries.find((entry) => entry.action === 'user.personal_data_exported' && entry.targetId === app.adminId);
    assert.deepEqual(own?.details, { login: 'admin' }, 'an entry about the administrator itself keeps its details');
    assert.ok(entries.some((entry) => entry.targetType === 'group' && entry.details !== null), 'a group\'s entry keeps its details');

    // A sign-in refused under grace's login before the question of which user (throttled): no target, hers.
    await transact(app.services.store.db, (trx) => createJournal(app.services.store.dialect).record(trx, { kind: 'password', login: 'grace' }, {
      action: 'session.password_refused', targetType: 'user', targetId: null, details: { reason: 'throttled', login: 'grace', retryAfterSeconds: 2 },
    }));
    const mine = (await app.request('GET', `${USERS}/${grace}/personal-data`)).body;
    assert.match(JSON.stringify(mine.auditEntries.aboutUser), /Grace Hopper/);
    const refused = mine.auditEntries.byUser.items.find((entry: { action: string }) => entry.action === 'session.password_refused');
    assert.deepEqual(refused?.details, { reason: 'throttled', login: 'grace', retryAfterSeconds: 2 }, 'an entry of the user\'s own, without a target, keeps its details');
  });
});

eachDatabase('a person\'s data: the user who took a deactivated user\'s login', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database });
  });
  after(() => app.close());

  test('the holder\'s document says its login was taken, by which id, without the taker\'s previous login', async () => {
    const holder = await app.request('POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'hank@corp.example' });
    assert.equal(holder.status, 201);
    const holderId = (await app.services.accounts.findByLogin('hank@corp.example'))!.id;
    assert.equal((await app.request('DELETE', `/Users/${holder.body.id}`)).status, 204);
    const taker = await app.request('POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'tom.before@corp.example' });
    assert.equal(taker.status, 201);
    const renamed = await app.request('PATCH', `/Users/${taker.body.id}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'replace', path: 'userName', value: 'hank@corp.example' }],
    });
    assert.equal(renamed.status, 200, renamed.raw.body);
    const takerId = (await app.services.accounts.findByLogin('hank@corp.example'))!.id;
    assert.notEqual(takerId, holderId);

    const data = (await app.request('GET', `${USERS}/${holderId}/personal-data`)).body;
    const released = data.auditEntries.aboutUser.items.find((entry: { action: string }) => entry.action === 'user.login_released');
    assert.ok(released, 'the release is about the holder');
    assert.deepEqual(released.details.takenBy, { id: takerId });
    assert.doesNotMatch(JSON.stringify(data), /tom\.before/, 'the taker\'s previous login is the taker\'s data');
  });
});
