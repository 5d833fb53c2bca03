/**
 * `schemas` in a filter, RFC 7644 §3.4.2.2's own example (`filter=schemas eq
 * "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`): it was 400 "unknown attribute
 * 'schemas'". A resource matches the URNs its `schemas` lists: its core schema always, an
 * extension when it holds a value of it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eachDatabase } from '../support/databases.ts';
import { groupBody, startTestApp, userBody, type TestApp } from '../support/app.ts';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';

eachDatabase('SCIM filters on schemas', (database) => {
  let roster: TestApp;

  before(async () => {
    roster = await startTestApp({ database });
    assert.equal((await roster.request('POST', '/Users', userBody('plain@example.com'))).status, 201);
    const employee = await roster.request('POST', '/Users', userBody('employee@example.com', { schemas: [USER, ENTERPRISE], [ENTERPRISE]: { department: 'Sales' } }));
    assert.equal(employee.status, 201, JSON.stringify(employee.body));
    assert.deepEqual(employee.body.schemas, [USER, ENTERPRISE]);
    assert.equal((await roster.request('POST', '/Groups', groupBody('Sales'))).status, 201);
  });
  after(() => roster.close());

  async function userNames(filter: string): Promise<string[]> {
    const response = await roster.request('GET', `/Users?filter=${encodeURIComponent(filter)}`);
    assert.equal(response.status, 200, JSON.stringify(response.body));
    for (const resource of response.body.Resources as Array<{ schemas: string[] }>) assert.ok(resource.schemas.length > 0);
    return (response.body.Resources as Array<{ userName: string }>).map((resource) => resource.userName).sort();
  }

  test("the RFC's example finds the users that have enterprise attributes, and only them", async () => {
    assert.deepEqual(await userNames(`schemas eq "${ENTERPRISE}"`), ['employee@example.com']);
    assert.deepEqual(await userNames(`SCHEMAS eq "${ENTERPRISE.toUpperCase()}"`), ['employee@example.com'], 'names and URNs regardless of case');
    assert.deepEqual(await userNames(`not (schemas eq "${ENTERPRISE}")`), ['plain@example.com']);
  });

  test('the core schema is listed by every resource; ne and pr as on any multi-valued attribute', async () => {
    assert.deepEqual(await userNames(`schemas eq "${USER}"`), ['employee@example.com', 'plain@example.com']);
    assert.deepEqual(await userNames('schemas pr'), ['employee@example.com', 'plain@example.com']);
    // Some listed URN other than the one named: the core one is always there, an extension only sometimes.
    assert.deepEqual(await userNames(`schemas ne "${ENTERPRISE}"`), ['employee@example.com', 'plain@example.com']);
    assert.deepEqual(await userNames(`schemas ne "${USER}"`), ['employee@example.com']);
    assert.deepEqual(await userNames(`schemas eq "urn:example:unknown"`), []);
    assert.deepEqual(await userNames(`schemas eq "${GROUP}"`), []);
    assert.deepEqual(await userNames(`schemas eq "${ENTERPRISE}" and userName sw "emp"`), ['employee@example.com']);
  });

  test('other comparisons of schemas are 400 invalidFilter saying which work', async () => {
    const response = await roster.request('GET', `/Users?filter=${encodeURIComponent('schemas co "enterprise"')}`);
    assert.equal(response.status, 400);
    assert.equal(response.body.scimType, 'invalidFilter');
    assert.match(response.body.detail, /'co' cannot test 'schemas'; use eq, ne or pr/);
  });

  test('across resource types (POST /.search at the root), schemas tells users and groups apart', async () => {
    const search = async (filter: string) => {
      const response = await roster.request('POST', '/.search', { schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'], filter });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return (response.body.Resources as Array<{ schemas: string[] }>).map((resource) => resource.schemas[0]);
    };
    assert.deepEqual(await search(`schemas eq "${GROUP}"`), [GROUP]);
    assert.deepEqual(await search(`schemas eq "${USER}"`), [USER, USER]);
  });
});
