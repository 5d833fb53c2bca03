/**
 * What a SCIM write answers is what a later read shows. A user create or update, and a group
 * PATCH, no longer read the resource back (they build the answer from what they read and
 * wrote), and an update rewrites the email index only when the emails changed (issue 13,
 * writes): these tests hold the answers to what GET and filters show, on both databases.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eachDatabase } from '../support/databases.ts';
import { startTestApp, userBody, type TestApp } from '../support/app.ts';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

eachDatabase('SCIM user and member writes answer what a read shows', (database) => {
  let roster: TestApp;
  before(async () => {
    roster = await startTestApp({ database });
  });
  after(async () => {
    await roster.close();
  });

  /** Creates a user and checks that the answer, its ETag included, is the same as a GET of it right after. */
  async function createAndCompare(body: Record<string, unknown>): Promise<Record<string, any>> {
    const created = await roster.request('POST', '/Users', body);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const read = await roster.request('GET', `/Users/${created.body.id}`);
    assert.equal(read.status, 200);
    assert.deepEqual(created.body, read.body);
    assert.equal(created.headers.etag, read.headers.etag);
    assert.equal(created.headers.etag, created.body.meta.version);
    assert.equal(created.headers.location, read.body.meta.location);
    return created.body;
  }

  test('POST /Users answers what GET then shows: attributes, emails, meta and ETag', async () => {
    const created = await createAndCompare(
      userBody('Answer.Same@example.com', {
        externalId: 'ext-answer',
        name: { givenName: 'Ann', familyName: 'Swer', formatted: 'Ann Swer' },
        displayName: 'Ann Swer',
        title: 'Tester',
        emails: [
          { value: 'answer.same@example.com', type: 'work', primary: true },
          { value: 'ann@home.example', type: 'home' },
        ],
        phoneNumbers: [{ value: '+33 1 23 45 67 89', type: 'work' }],
        active: true,
      }),
    );
    assert.equal(created.meta.created, created.meta.lastModified);
    const byEmail = await roster.request('GET', `/Users?filter=${encodeURIComponent('emails.value eq "ANN@HOME.EXAMPLE"')}`);
    assert.deepEqual(byEmail.body.Resources.map((user: { id: string }) => user.id), [created.id]);
  });

  test('POST /Users of an inactive user with an enterprise extension but no manager answers what GET shows', async () => {
    await createAndCompare(userBody('no.manager@example.com', { active: false, schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', ENTERPRISE], [ENTERPRISE]: { employeeNumber: '42', department: 'R&D' } }));
  });

  test('POST /Users naming a manager answers the version and manager.displayName GET shows, which follow the manager', async () => {
    const boss = await createAndCompare(userBody('boss@example.com', { displayName: 'The Boss' }));
    const managed = await createAndCompare(
      userBody('managed@example.com', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', ENTERPRISE], [ENTERPRISE]: { manager: { value: boss.id } } }),
    );
    assert.equal(managed[ENTERPRISE].manager.displayName, 'The Boss');
    // The manager's own version is the fourth part: a write of the manager changes this user's version.
    assert.notEqual(managed.meta.version, boss.meta.version);
    const renamed = await roster.request('PATCH', `/Users/${boss.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'New Boss' }] });
    assert.equal(renamed.status, 200);
    const after = await roster.request('GET', `/Users/${managed.id}`);
    assert.notEqual(after.body.meta.version, managed.meta.version);
    assert.equal(after.body[ENTERPRISE].manager.displayName, 'New Boss');
  });

  test('POST /Users naming a manager that does not exist answers what GET shows', async () => {
    await createAndCompare(userBody('orphan@example.com', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', ENTERPRISE], [ENTERPRISE]: { manager: { value: 'no-such-user' } } }));
  });

  test('racing creates of one userName in different Unicode cases: one 201, the rest 409 uniqueness, none 500', async () => {
    const spellings = ['ÉLODIE@example.com', 'élodie@example.com', 'Élodie@Example.com', 'ÉLODIE@EXAMPLE.COM', 'élodie@EXAMPLE.com', 'Élodie@example.COM'];
    const answers = await Promise.all(spellings.map((userName) => roster.request('POST', '/Users', userBody(userName))));
    const statuses = answers.map((answer) => answer.status).sort();
    assert.deepEqual(statuses, [201, 409, 409, 409, 409, 409], JSON.stringify(answers.map((answer) => answer.body)));
    for (const answer of answers.filter((candidate) => candidate.status === 409)) assert.equal(answer.body.scimType, 'uniqueness');
    const found = await roster.request('GET', `/Users?filter=${encodeURIComponent('userName eq "élodie@example.com"')}`);
    assert.equal(found.body.totalResults, 1);
  });

  test('PATCH and PUT answer what GET shows; the email filter follows changed emails and keeps unchanged ones', async () => {
    const created = await createAndCompare(userBody('mailer@example.com', { emails: [{ value: 'first@mail.example', type: 'work', primary: true }] }));
    const byEmail = async (value: string): Promise<string[]> => {
      const response = await roster.request('GET', `/Users?filter=${encodeURIComponent(`emails.value eq "${value}"`)}`);
      return response.body.Resources.map((user: { id: string }) => user.id);
    };
    // A change that leaves the emails as they are.
    const titled = await roster.request('PATCH', `/Users/${created.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'Postmaster' }] });
    assert.equal(titled.status, 200);
    assert.deepEqual(titled.body, (await roster.request('GET', `/Users/${created.id}`)).body);
    assert.deepEqual(await byEmail('first@mail.example'), [created.id]);
    // A change of the emails.
    const moved = await roster.request('PATCH', `/Users/${created.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'replace', path: 'emails', value: [{ value: 'second@mail.example', type: 'work', primary: true }] }],
    });
    assert.equal(moved.status, 200);
    assert.deepEqual(moved.body, (await roster.request('GET', `/Users/${created.id}`)).body);
    assert.deepEqual(await byEmail('first@mail.example'), []);
    assert.deepEqual(await byEmail('SECOND@mail.example'), [created.id]);
    // Only the type changes: the index keeps the value and learns the type.
    const retyped = await roster.request('PUT', `/Users/${created.id}`, userBody('mailer@example.com', { emails: [{ value: 'second@mail.example', type: 'home', primary: true }] }));
    assert.equal(retyped.status, 200);
    assert.deepEqual(retyped.body, (await roster.request('GET', `/Users/${created.id}`)).body);
    const byType = await roster.request('GET', `/Users?filter=${encodeURIComponent('emails[type eq "home" and value eq "second@mail.example"]')}`);
    assert.deepEqual(byType.body.Resources.map((user: { id: string }) => user.id), [created.id]);
  });

  test('PATCH of a member of renamed groups answers the groups and version GET shows', async () => {
    const member = await createAndCompare(userBody('grouped@example.com'));
    const group = await roster.request('POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Before', members: [{ value: member.id }] });
    assert.equal(group.status, 201);
    const renamed = await roster.request('PATCH', `/Groups/${group.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'After' }] });
    assert.ok(renamed.status === 200 || renamed.status === 204, JSON.stringify(renamed.body));
    const patched = await roster.request('PATCH', `/Users/${member.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'nickName', value: 'Grouped' }] });
    assert.equal(patched.status, 200);
    const read = await roster.request('GET', `/Users/${member.id}`);
    assert.deepEqual(patched.body, read.body);
    assert.equal(patched.headers.etag, read.headers.etag);
    assert.deepEqual(patched.body.groups.map((entry: { display: string }) => entry.display), ['After']);
    // If-Match with the answered version is accepted: it is the version GET shows.
    const next = await roster.request('PATCH', `/Users/${member.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'nickName', value: 'Again' }] }, { 'if-match': patched.headers.etag as string });
    assert.equal(next.status, 200);
    assert.deepEqual(next.body, (await roster.request('GET', `/Users/${member.id}`)).body);
  });

  test('PATCH that sets, then removes, a manager answers what GET shows', async () => {
    const boss = await createAndCompare(userBody('chief@example.com', { displayName: 'Chief' }));
    const report = await createAndCompare(userBody('report@example.com'));
    const managed = await roster.request('PATCH', `/Users/${report.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: `${ENTERPRISE}:manager`, value: { value: boss.id } }] });
    assert.equal(managed.status, 200, JSON.stringify(managed.body));
    assert.deepEqual(managed.body, (await roster.request('GET', `/Users/${report.id}`)).body);
    assert.equal(managed.body[ENTERPRISE].manager.displayName, 'Chief');
    const unmanaged = await roster.request('PATCH', `/Users/${report.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: `${ENTERPRISE}:manager` }] });
    assert.equal(unmanaged.status, 200, JSON.stringify(unmanaged.body));
    const read = await roster.request('GET', `/Users/${report.id}`);
    assert.deepEqual(unmanaged.body, read.body);
    assert.equal(unmanaged.headers.etag, read.headers.etag);
  });

  test('a member PATCH answers the ETag GET then shows: members added, nothing changed, renamed and added at once', async () => {
    const first = await createAndCompare(userBody('member.one@example.com'));
    const second = await createAndCompare(userBody('member.two@example.com'));
    const created = await roster.request('POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Answered' });
    assert.equal(created.status, 201);
    const id = created.body.id as string;
    const patch = async (operations: unknown[]) => {
      const answer = await roster.request('PATCH', `/Groups/${id}`, { schemas: [PATCH_OP], Operations: operations });
      assert.equal(answer.status, 204, JSON.stringify(answer.body));
      const read = await roster.request('GET', `/Groups/${id}`);
      assert.equal(answer.headers.etag, read.headers.etag);
      assert.equal(answer.headers.etag, read.body.meta.version);
      return read.body;
    };
    const added = await patch([{ op: 'add', path: 'members', value: [{ value: first.id }] }]);
    assert.notEqual(added.meta.version, created.body.meta.version);
    const unchanged = await patch([{ op: 'add', path: 'members', value: [{ value: first.id }] }]);
    assert.equal(unchanged.meta.version, added.meta.version);
    const both = await patch([
      { op: 'replace', path: 'displayName', value: 'Answered again' },
      { op: 'add', path: 'members', value: [{ value: second.id }] },
    ]);
    assert.equal(both.displayName, 'Answered again');
    assert.deepEqual(both.members.map((member: { value: string }) => member.value).sort(), [first.id, second.id].sort());
    // With attributes asked for, the answer is the group as GET shows it.
    const shown = await roster.request('PATCH', `/Groups/${id}?attributes=displayName,members`, { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: `members[value eq "${first.id}"]` }] });
    assert.equal(shown.status, 200, JSON.stringify(shown.body));
    const read = await roster.request('GET', `/Groups/${id}?attributes=displayName,members`);
    assert.deepEqual(shown.body, read.body);
    assert.equal(shown.headers.etag, read.headers.etag);
  });

  test('a create is recorded with its audit entry', async () => {
    const created = await createAndCompare(userBody('journaled@example.com', { displayName: 'Journaled' }));
    const audit = await roster.request('GET', '/api/v2/audit-logs?action=user.created&pageSize=100');
    assert.equal(audit.status, 200, JSON.stringify(audit.body));
    const entries = audit.body.auditLogs.filter((entry: { details: { scimId?: string } }) => entry.details.scimId === created.id);
    assert.equal(entries.length, 1);
    assert.equal(entries[0].details.after.userName, 'journaled@example.com');
  });
});
