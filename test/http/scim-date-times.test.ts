import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eachDatabase } from '../support/databases.ts';
import { startTestApp, userBody, type TestApp } from '../support/app.ts';

const ACME = 'urn:ietf:params:scim:schemas:extension:acme:2.0:User';
const HIRED = `${ACME}:hired`;
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

const ACME_SCHEMA = {
  id: ACME,
  name: 'AcmeUser',
  extends: 'User',
  attributes: [{ name: 'hired', type: 'dateTime' }],
};

eachDatabase('SCIM dateTime values (RFC 7643 §2.3.5)', (database) => {
  let roster: TestApp;

  before(async () => {
    roster = await startTestApp({ database });
    assert.equal((await roster.request('POST', '/api/v2/scim-schemas', ACME_SCHEMA)).status, 201);
  });
  after(async () => {
    await roster.close();
  });

  async function userNames(filter: string): Promise<string[]> {
    const response = await roster.request('GET', `/Users?filter=${encodeURIComponent(filter)}`);
    assert.equal(response.status, 200, JSON.stringify(response.body));
    return response.body.Resources.map((user: { userName: string }) => user.userName).sort();
  }

  test('a date that does not exist is a 400 invalidValue, and nothing is written', async () => {
    const created = await roster.request('POST', '/Users', userBody('feb30@x.example', { [ACME]: { hired: '2020-02-30T00:00:00Z' } }));
    assert.equal(created.status, 400);
    assert.equal(created.body.scimType, 'invalidValue');
    assert.match(created.body.detail, /hired must be an ISO 8601 date-time .*: February 2020 has 29 days/);
    assert.deepEqual(await userNames('userName eq "feb30@x.example"'), []);

    const user = await roster.request('POST', '/Users', userBody('valid@x.example', { [ACME]: { hired: '2020-02-29T00:00:00Z' } }));
    assert.equal(user.status, 201);
    const replaced = await roster.request('PUT', `/Users/${user.body.id}`, userBody('valid@x.example', { [ACME]: { hired: '2021-04-31T09:00:00Z' } }));
    assert.equal(replaced.status, 400);
    assert.match(replaced.body.detail, /April 2021 has 30 days/);
    const patched = await roster.request('PATCH', `/Users/${user.body.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'replace', path: HIRED, value: '2020-01-01T24:30:00Z' }],
    });
    assert.equal(patched.status, 400);
    assert.equal(patched.body.scimType, 'invalidValue');
    const unchanged = await roster.request('GET', `/Users/${user.body.id}`);
    assert.equal(unchanged.body[ACME].hired, '2020-02-29T00:00:00Z');
  });

  test('a filter comparing with a date that does not exist is a 400 invalidFilter', async () => {
    for (const filter of ['meta.created gt "2020-02-30T00:00:00Z"', `${HIRED} eq "2021-02-29"`, 'meta.lastModified lt "2024-01-01T10:00:00+15:00"']) {
      const response = await roster.request('GET', `/Users?filter=${encodeURIComponent(filter)}`);
      assert.equal(response.status, 400, filter);
      assert.equal(response.body.scimType, 'invalidFilter', filter);
    }
    const response = await roster.request('GET', `/Users?filter=${encodeURIComponent('meta.created gt "2020-02-30T00:00:00Z"')}`);
    assert.match(response.body.detail, /February 2020 has 29 days/);
  });
});
