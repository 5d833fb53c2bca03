/**
 * A SCIM rename onto the userName of a user deleted through SCIM (Entra ID and Okta give a
 * leaver's name to another user): the deleted account, kept deactivated and unlinked, gives its
 * login up (moved to `<login>~released-<12 hex digits of its id>`) instead of answering a 409 the
 * identity provider can neither find nor fix. An active local account keeps its name, and the
 * 409 says who can free it; a linked user keeps its name as before (docs/scim.md).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { caseKey } from '../../src/text.ts';
import { secondInstance, startTestApp, userBody, type TestApp, SESSION_COOKIE } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { sessionCookieOf, signIn } from '../saml/idp.ts';

const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const BULK = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
const USERS = '/api/v2/users-management/users';

type Event = { type: string; data: { id: string; login: string; active: boolean }; previous?: { login: string } };

eachDatabase('SCIM rename onto the userName of a deleted or local user', (database) => {
  let roster: TestApp;
  let breakGlassId: string;
  before(async () => {
    // A local account made before SCIM was turned on, as a break-glass administrator would be.
    roster = await startTestApp({ database, scim: false });
    const created = await roster.request('POST', USERS, { login: 'break.glass', name: 'Break Glass', local: true, password: 'a-long-enough-password' }, { 'content-type': 'application/json' });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    breakGlassId = created.body.id;
    await roster.services.provisioning.enable({ kind: 'cli' });
  });
  after(async () => {
    await roster.close();
  });

  async function create(userName: string): Promise<string> {
    const created = await roster.request('POST', '/Users', userBody(userName));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    return created.body.id;
  }

  /** The internal id (admin API) of the one user whose login contains `text`. */
  async function internalId(text: string): Promise<string> {
    const listed = await roster.request('GET', `${USERS}?q=${encodeURIComponent(text)}`);
    assert.equal(listed.body.users.length, 1, JSON.stringify(listed.body));
    return listed.body.users[0].id;
  }

  /** Creates `leaver` and `mover`, deletes `leaver` through SCIM; the leaver's internal id and the mover's SCIM id. */
  async function leaverAndMover(leaver: string, mover: string): Promise<{ leaverId: string; moverId: string }> {
    const leaverScimId = await create(leaver);
    const moverId = await create(mover);
    const leaverId = await internalId(leaver);
    assert.equal((await roster.request('DELETE', `/Users/${leaverScimId}`)).status, 204);
    return { leaverId, moverId };
  }

  /** The end of the feed now, to read what follows. */
  async function feedEnd(): Promise<string> {
    return (await roster.request('GET', '/api/v2/events?after=now')).body.next;
  }

  async function eventsAfter(cursor: string): Promise<Event[]> {
    const answer = await roster.request('GET', `/api/v2/events?after=${encodeURIComponent(cursor)}`);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return answer.body.events;
  }

  async function userNameLookup(userName: string): Promise<string[]> {
    const found = await roster.request('GET', `/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}`);
    return found.body.Resources.map((user: { id: string }) => user.id);
  }

  const released = (login: string, id: string): string => `${login}~released-${id.replace(/-/g, '').slice(-12)}`;

  test('Entra ID: PATCH Replace of userName takes the name of a user deleted through SCIM; the deleted account keeps a released login', async () => {
    const { leaverId, moverId } = await leaverAndMover('jane.doe@x.example', 'jane.smith@x.example');
    const mark = await feedEnd();

    const renamed = await roster.request('PATCH', `/Users/${moverId}`, { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'userName', value: 'jane.doe@x.example' }] });
    assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
    assert.equal(renamed.body.userName, 'jane.doe@x.example');
    assert.deepEqual(await userNameLookup('jane.doe@x.example'), [moverId]);

    // The feed moves the old account aside first: a replaying application never sees two users with one login.
    const events = await eventsAfter(mark);
    const releasedLogin = released('jane.doe@x.example', leaverId);
    assert.deepEqual(
      events.map((event) => [event.type, event.data.login, event.previous?.login, event.data.active]),
      [
        ['user.updated', releasedLogin, 'jane.doe@x.example', false],
        ['user.updated', 'jane.doe@x.example', 'jane.smith@x.example', true],
      ],
    );
    assert.equal(events[0]!.data.id, leaverId);

    const audit = await roster.request('GET', `/api/v2/audit-logs?targetType=user&targetId=${leaverId}&pageSize=1`);
    const entry = audit.body.auditLogs[0];
    assert.equal(entry.action, 'user.login_released');
    assert.equal(entry.details.login, 'jane.doe@x.example');
    assert.equal(entry.details.releasedLogin, releasedLogin);
    assert.equal(entry.details.takenBy.scimId, moverId);
    assert.equal(entry.details.takenBy.previousLogin, 'jane.smith@x.example');

    // The old account is still there, under its released login, deactivated and unmanaged.
    const old = await roster.request('GET', `${USERS}/${leaverId}`);
    assert.equal(old.status, 200);
    assert.equal(old.body.login, releasedLogin);
    assert.equal(old.body.active, false);
    assert.equal(old.body.managed, false);
    assert.equal(await internalId(releasedLogin), leaverId);

    // A later create of the name meets the renamed user, as any create of a taken name does.
    const again = await roster.request('POST', '/Users', userBody('jane.doe@x.example'));
    assert.equal(again.status, 409);
    assert.equal(again.body.scimType, 'uniqueness');

    // The name signs in as the renamed user.
    const signedIn = await signIn(roster, { login: 'jane.doe@x.example' });
    assert.equal(signedIn.statusCode, 303, signedIn.body);
    const me = await roster.app.inject({ method: 'GET', url: '/api/users/current', headers: { cookie: `${SESSION_COOKIE}=${sessionCookieOf(signedIn) ?? ''}` } });
    assert.equal(me.json().login, 'jane.doe@x.example');
    assert.equal(me.json().managed, true);
    assert.equal(me.json().active, true);
  });

  test('Okta: PUT with the userName of a user deleted through SCIM takes it, in any case', async () => {
    const { leaverId, moverId } = await leaverAndMover('Max.Doe@x.example', 'max.smith@x.example');
    const current = (await roster.request('GET', `/Users/${moverId}`)).body;
    const put = await roster.request('PUT', `/Users/${moverId}`, { ...current, userName: 'max.doe@X.example' });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.body.userName, 'max.doe@X.example');
    assert.deepEqual(await userNameLookup('MAX.DOE@x.example'), [moverId]);
    const old = await roster.request('GET', `${USERS}/${leaverId}`);
    assert.equal(old.body.login, released('Max.Doe@x.example', leaverId));
    assert.equal(old.body.active, false);
  });

  test('a released login already taken (someone chose it) gives way to one with the whole id', async () => {
    const leaverScimId = await create('taken.doe@x.example');
    const leaverId = await internalId('taken.doe@x.example');
    await create(released('taken.doe@x.example', leaverId));
    const moverId = await create('taken.smith@x.example');
    assert.equal((await roster.request('DELETE', `/Users/${leaverScimId}`)).status, 204);
    const renamed = await roster.request('PATCH', `/Users/${moverId}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'userName', value: 'taken.doe@x.example' }] });
    assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
    assert.equal((await roster.request('GET', `${USERS}/${leaverId}`)).body.login, `taken.doe@x.example~released-${leaverId}`);
  });

  test('a PATCH inside /Bulk takes the name of a user deleted through SCIM', async () => {
    const { leaverId, moverId } = await leaverAndMover('bulk.doe@x.example', 'bulk.smith@x.example');
    const bulk = await roster.request('POST', '/Bulk', {
      schemas: [BULK],
      Operations: [{ method: 'PATCH', path: `/Users/${moverId}`, data: { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'userName', value: 'bulk.doe@x.example' }] } }],
    });
    assert.equal(bulk.status, 200, JSON.stringify(bulk.body));
    assert.equal(bulk.body.Operations[0].status, '200', JSON.stringify(bulk.body));
    assert.deepEqual(await userNameLookup('bulk.doe@x.example'), [moverId]);
    assert.equal((await roster.request('GET', `${USERS}/${leaverId}`)).body.login, released('bulk.doe@x.example', leaverId));
  });

  test('an active local account keeps its name: 409 uniqueness says which and how to free it; once deactivated, the rename takes it', async () => {
    const moverId = await create('glass.user@x.example');
    const patch = { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'userName', value: 'BREAK.glass' }] };
    const refused = await roster.request('PATCH', `/Users/${moverId}`, patch);
    assert.equal(refused.status, 409);
    assert.equal(refused.body.scimType, 'uniqueness');
    assert.match(refused.body.detail, /^userName "BREAK\.glass" is held by the local account "break\.glass", which the identity provider does not manage\./);
    assert.match(refused.body.detail, /a Roster administrator can deactivate that account \(console, admin API, or `roster users deactivate`\); the rename then takes the name\./);
    assert.equal((await roster.request('GET', `${USERS}/${breakGlassId}`)).body.login, 'break.glass');

    assert.equal((await roster.request('DELETE', `${USERS}/${breakGlassId}`)).status, 204);
    const renamed = await roster.request('PATCH', `/Users/${moverId}`, patch);
    assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
    const old = (await roster.request('GET', `${USERS}/${breakGlassId}`)).body;
    assert.equal(old.login, released('break.glass', breakGlassId));
    assert.equal(old.local, true);
    assert.equal(old.active, false);
  });

  test('a user linked to SCIM keeps its name, suspended or not: 409 uniqueness as before', async () => {
    const holderId = await create('kept.name@x.example');
    const moverId = await create('kept.mover@x.example');
    for (const active of [true, false]) {
      if (!active) assert.equal((await roster.request('PATCH', `/Users/${holderId}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] })).status, 200);
      const refused = await roster.request('PATCH', `/Users/${moverId}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'userName', value: 'kept.name@x.example' }] });
      assert.equal(refused.status, 409);
      assert.equal(refused.body.scimType, 'uniqueness');
      assert.equal(refused.body.detail, 'userName "kept.name@x.example" is already used by another user.');
    }
    assert.deepEqual(await userNameLookup('kept.name@x.example'), [holderId]);
  });

  test('a case-conflict set: no outsider joins it, a member may take the exact spelling of a deleted one', async () => {
    // "Émile" (deleted through SCIM) and "émile" (linked), kept apart by an upgrade (migration 011).
    const { leaverId } = await leaverAndMover('Émile', 'emile.other');
    const memberId = await create('emile.member');
    const memberInternalId = await internalId('emile.member');
    await roster.services.store.db.updateTable('users').set({ login: 'émile', login_key: caseKey('Émile'), login_conflict: 1 }).where('id', '=', memberInternalId).execute();
    const outsiderId = await create('emile.outsider');

    const outsider = await roster.request('PATCH', `/Users/${outsiderId}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'userName', value: 'ÉMILE' }] });
    assert.equal(outsider.status, 409);
    assert.equal(outsider.body.scimType, 'uniqueness');
    assert.equal((await roster.request('GET', `${USERS}/${leaverId}`)).body.login, 'Émile');

    const member = await roster.request('PATCH', `/Users/${memberId}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'userName', value: 'Émile' }] });
    assert.equal(member.status, 200, JSON.stringify(member.body));
    assert.deepEqual(await userNameLookup('émile'), [memberId]);
    assert.equal((await roster.request('GET', `${USERS}/${leaverId}`)).body.login, released('Émile', leaverId));
  });

  test('a POST reviving the deleted user and a rename taking its name, sent at once: one wins, and the other answers 409', async () => {
    const other = await secondInstance(roster, database);
    try {
      for (let round = 0; round < 4; round += 1) {
        const name = `race${round}.doe@x.example`;
        const { leaverId, moverId } = await leaverAndMover(name, `race${round}.smith@x.example`);
        const revive = () => roster.request('POST', '/Users', userBody(name));
        const rename = () => other.request('PATCH', `/Users/${moverId}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'userName', value: name }] });
        // Sent in turn one first, then the other.
        const [revived, renamed] = round % 2 === 0 ? await Promise.all([revive(), rename()]) : (await Promise.all([rename(), revive()])).reverse();
        assert.ok(revived !== undefined && renamed !== undefined);
        assert.ok(
          (revived.status === 201 && renamed.status === 409) || (revived.status === 409 && renamed.status === 200),
          `round ${round}: POST ${revived.status} ${JSON.stringify(revived.body)}, PATCH ${renamed.status} ${JSON.stringify(renamed.body)}`,
        );
        const holders = await userNameLookup(name);
        const old = (await roster.request('GET', `${USERS}/${leaverId}`)).body;
        if (revived.status === 201) {
          // The revived account is the deleted one, linked again under its own name.
          assert.deepEqual(holders, [revived.body.id]);
          assert.equal(old.login, name);
          assert.equal(old.managed, true);
        } else {
          assert.deepEqual(holders, [moverId]);
          assert.equal(old.login, released(name, leaverId));
          assert.equal(old.managed, false);
        }
      }
    } finally {
      await other.close();
    }
  });

  test('a POST of a deleted user\'s name with another externalId creates a new account (new id, so a new OpenID sub); the same or no externalId revives the old one', async () => {
    const post = async (userName: string, externalId?: string) => {
      const created = await roster.request('POST', '/Users', userBody(userName, externalId === undefined ? {} : { externalId }));
      assert.equal(created.status, 201, JSON.stringify(created.body));
      return created.body.id as string;
    };
    // A leaver, deleted; a newcomer given the same name by the IdP, known to it as someone else.
    const leaverScimId = await post('reused.name@x.example', 'okta-00u1leaver');
    const leaverId = await internalId('reused.name@x.example');
    assert.equal((await roster.request('DELETE', `/Users/${leaverScimId}`)).status, 204);
    const mark = await feedEnd();
    const newcomerScimId = await post('reused.name@x.example', 'okta-00u2newcomer');
    const newcomer = (await roster.request('GET', `${USERS}?q=${encodeURIComponent('reused.name@x.example')}`)).body.users.filter((user: { login: string }) => user.login === 'reused.name@x.example');
    assert.equal(newcomer.length, 1);
    assert.notEqual(newcomer[0].id, leaverId, 'the newcomer must not get the leaver\'s account (and its OpenID sub)');
    assert.equal(newcomer[0].externalId, 'okta-00u2newcomer');
    const old = (await roster.request('GET', `${USERS}/${leaverId}`)).body;
    assert.equal(old.login, released('reused.name@x.example', leaverId));
    assert.equal(old.active, false);
    assert.equal(old.externalId, 'okta-00u1leaver');
    // The leaver's account lets its name go first, then the newcomer is created.
    const events = await eventsAfter(mark);
    assert.deepEqual(events.map((event) => `${event.type} ${event.data.login}`), [`user.updated ${released('reused.name@x.example', leaverId)}`, 'user.created reused.name@x.example']);
    assert.deepEqual(await userNameLookup('reused.name@x.example'), [newcomerScimId]);
    const audit = (await roster.request('GET', `/api/v2/audit-logs?action=user.login_released&targetId=${leaverId}`)).body;
    assert.equal(JSON.stringify(audit).includes(newcomer[0].id), true, JSON.stringify(audit));

    // The same person provisioned again (same externalId), or an IdP that sends none: revived.
    for (const externalId of ['okta-00u3returning', undefined]) {
      const name = `returning${externalId === undefined ? '-plain' : ''}@x.example`;
      const firstScimId = await post(name, externalId);
      const accountId = await internalId(name);
      assert.equal((await roster.request('DELETE', `/Users/${firstScimId}`)).status, 204);
      await post(name, externalId);
      assert.equal(await internalId(name), accountId, `${name}: the same account, reactivated`);
      assert.equal((await roster.request('GET', `${USERS}/${accountId}`)).body.active, true);
    }
  });
});
