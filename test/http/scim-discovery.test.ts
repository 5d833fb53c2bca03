import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eachDatabase } from '../support/databases.ts';
import { startTestApp, type TestApp } from '../support/app.ts';

eachDatabase('SCIM discovery', (database) => {
  let roster: TestApp;
  before(async () => {
    roster = await startTestApp({ database });
  });
  after(async () => {
    await roster.close();
  });

  test('GET /ServiceProviderConfig describes what is implemented', async () => {
    const response = await roster.request('GET', '/ServiceProviderConfig');
    assert.equal(response.status, 200);
    assert.equal(response.body.patch.supported, true);
    assert.deepEqual(response.body.bulk, { supported: true, maxOperations: 1000, maxPayloadSize: 20 * 1024 * 1024 });
    assert.equal(response.body.filter.supported, true);
    assert.equal(response.body.filter.maxResults, 1000);
    assert.equal(response.body.sort.supported, true);
    assert.equal(response.body.etag.supported, true);
    assert.equal(response.body.changePassword.supported, false);
    // RFC 9865 §4: both paging methods, index by default (what clients of RFC 7644 expect).
    assert.equal(response.body.pagination.cursor, true);
    assert.equal(response.body.pagination.index, true);
    assert.equal(response.body.pagination.defaultPaginationMethod, 'index');
    assert.equal(response.body.pagination.maxPageSize, 1000);
  });

  test('/Schemas marks what Roster computes as readOnly, manager.$ref included', async () => {
    const enterprise = await roster.request('GET', '/Schemas/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User');
    const manager = enterprise.body.attributes.find((a: any) => a.name === 'manager');
    const mutability = Object.fromEntries(manager.subAttributes.map((a: any) => [a.name, a.mutability]));
    assert.deepEqual(mutability, { value: 'readWrite', $ref: 'readOnly', displayName: 'readOnly' });
  });

  test('GET /ResourceTypes lists User (with the enterprise extension) and Group', async () => {
    const response = await roster.request('GET', '/ResourceTypes');
    assert.equal(response.body.totalResults, 2);
    const user = response.body.Resources.find((type: any) => type.id === 'User');
    assert.equal(user.endpoint, '/Users');
    assert.deepEqual(user.schemaExtensions, [{ schema: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User', required: false }]);
    assert.equal((await roster.request('GET', '/ResourceTypes/Group')).body.endpoint, '/Groups');
  });

  test('GET /Schemas and /Schemas/{urn} describe attribute characteristics', async () => {
    const all = await roster.request('GET', '/Schemas');
    assert.equal(all.body.totalResults, 3);
    const user = await roster.request('GET', '/Schemas/urn:ietf:params:scim:schemas:core:2.0:User');
    assert.equal(user.status, 200);
    const userName = user.body.attributes.find((a: any) => a.name === 'userName');
    assert.equal(userName.uniqueness, 'server');
    assert.equal(userName.required, true);
    const password = user.body.attributes.find((a: any) => a.name === 'password');
    assert.equal(password.returned, 'never');
    assert.equal((await roster.request('GET', '/Schemas/urn:nope')).status, 404);
  });
});
