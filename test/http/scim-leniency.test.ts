/**
 * Request shapes real SCIM clients send that stray from RFC 7644, and that Roster accepts
 * (docs/scim.md, "Leniency"): endpoint and parameter names in any case, unquoted filter values,
 * value filters in `attributes`, and a members value that is one id string.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eachDatabase } from '../support/databases.ts';
import { SCIM, groupBody, startTestApp, userBody, type TestApp } from '../support/app.ts';

const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

eachDatabase('SCIM leniency with real clients', (database) => {
  let roster: TestApp;
  let olivia = '';
  let oscar = '';
  let bob = '';
  let groupId = '';

  before(async () => {
    roster = await startTestApp({ database });
    const create = async (userName: string, extra: Record<string, unknown>) => {
      const created = await roster.request('POST', '/Users', userBody(userName, extra));
      assert.equal(created.status, 201, JSON.stringify(created.body));
      return created.body.id as string;
    };
    olivia = await create('Olivia', {
      name: { familyName: 'Employee', givenName: 'Olivia' },
      emails: [
        { value: 'olivia@work.example', type: 'work', primary: true },
        { value: 'olivia@home.example', type: 'home' },
        { value: 'o,livia@other.example', type: 'other' },
      ],
    });
    oscar = await create('Oscar', { name: { familyName: 'Manager' }, emails: [{ value: 'oscar@home.example', type: 'home' }] });
    bob = await create('bob', { name: { familyName: 'Employee' } });
    groupId = (await roster.request('POST', '/Groups', groupBody('Lenient', [olivia]))).body.id;
  });
  after(async () => {
    await roster.close();
  });

  const userNames = (body: { Resources: { userName: string }[] }) => body.Resources.map((user) => user.userName).sort();

  test('endpoint names match in any case; ids stay case-exact', async () => {
    for (const path of ['/users', '/USERS', '/groups', '/serviceproviderconfig', '/SCHEMAS', '/resourcetypes', '/ResourceTypes/user', `/users/${olivia}`, `/GROUPS/${groupId}`]) {
      const response = await roster.request('GET', path);
      assert.equal(response.status, 200, `${path}: ${JSON.stringify(response.body).slice(0, 200)}`);
    }
    assert.equal((await roster.request('GET', `/Users/${olivia.toUpperCase()}`)).status, 404);
    const search = await roster.request('POST', '/users/.SEARCH', { filter: 'userName eq "bob"' });
    assert.equal(search.status, 200, JSON.stringify(search.body));
    assert.deepEqual(userNames(search.body), ['bob']);
    assert.equal((await roster.request('POST', '/GROUPS/.search', {})).status, 200);
    const created = await roster.request('POST', '/users', userBody('lowercase-endpoint@example.com'));
    assert.equal(created.status, 201);
    // An unknown endpoint, spelt in capitals, still answers in the SCIM error shape.
    const unknown = await roster.request('GET', '/API/SCIM/V2/Widgets');
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.body.schemas, [ERROR_SCHEMA]);
  });

  test('a filter value without quotes is a string unless it is true, false, null or a number', async () => {
    const list = async (filter: string) => {
      const response = await roster.request('GET', `/Users?filter=${encodeURIComponent(filter)}`);
      assert.equal(response.status, 200, `${filter}: ${JSON.stringify(response.body)}`);
      return userNames(response.body);
    };
    assert.deepEqual(await list('userName sw O'), ['Olivia', 'Oscar']);
    assert.deepEqual(await list('name.familyName eq Employee'), ['Olivia', 'bob']);
    assert.equal((await list('meta.created gt 2015-10-10T14:38:21.8617979-07:00')).length, 4);
    assert.deepEqual(await list('meta.created lt 2015-10-10T14:38:21.8617979-07:00'), []);
    assert.deepEqual(await list('emails[type eq work]'), ['Olivia']);
    assert.deepEqual(await list('active eq true and userName sw o and name.familyName eq Manager'), ['Oscar']);
    // Literals stay literals: a boolean attribute compared with `true`, a string one with a number is a 400.
    const typed = await roster.request('GET', `/Users?filter=${encodeURIComponent('userName eq 42')}`);
    assert.equal(typed.status, 400);
    assert.equal(typed.body.scimType, 'invalidFilter');
  });

  test('attribute names in filters match in any case', async () => {
    const list = async (filter: string) => userNames((await roster.request('GET', `/Users?filter=${encodeURIComponent(filter)}`)).body);
    assert.deepEqual(await list('emails.Value eq "OLIVIA@work.example"'), ['Olivia']);
    assert.equal((await list('meta.Created gt "2015-01-01T00:00:00Z"')).length, 4);
    assert.deepEqual(await list('NAME.FAMILYNAME eq "manager"'), ['Oscar']);
    assert.deepEqual(await list('EMAILS[TYPE eq "home" and VALUE sw "oscar"]'), ['Oscar']);
  });

  test('attributes with a value filter return only the matching values of a multi-valued attribute', async () => {
    const one = await roster.request('GET', `/Users/${olivia}?attributes=${encodeURIComponent('emails[type eq "work"]')}`);
    assert.equal(one.status, 200, JSON.stringify(one.body));
    assert.deepEqual(one.body.emails, [{ value: 'olivia@work.example', type: 'work', primary: true }]);
    assert.equal(one.body.userName, undefined);

    const valuesOnly = await roster.request('GET', `/Users/${olivia}?attributes=${encodeURIComponent('userName,emails[type eq "work" or type eq "other"].value')}`);
    assert.deepEqual(valuesOnly.body.emails, [{ value: 'olivia@work.example' }, { value: 'o,livia@other.example' }]);
    assert.equal(valuesOnly.body.userName, 'Olivia');

    // A comma inside the filter does not split the list.
    const comma = await roster.request('GET', `/Users/${olivia}?attributes=${encodeURIComponent('emails[value co ","]')}`);
    assert.deepEqual(comma.body.emails, [{ value: 'o,livia@other.example', type: 'other' }]);

    const excluded = await roster.request('GET', `/Users/${olivia}?excludedAttributes=${encodeURIComponent('emails[type eq home]')}`);
    assert.deepEqual(excluded.body.emails.map((email: { type: string }) => email.type), ['work', 'other']);
    assert.equal(excluded.body.userName, 'Olivia');

    // In lists and searches too; a user with no matching value shows no emails.
    const listed = await roster.request('GET', `/Users?filter=${encodeURIComponent('userName sw "O"')}&attributes=${encodeURIComponent('emails[type eq "home"].value')}`);
    assert.deepEqual(
      listed.body.Resources.map((user: { emails?: unknown }) => user.emails).sort(),
      [[{ value: 'olivia@home.example' }], [{ value: 'oscar@home.example' }]].sort(),
    );
    const searched = await roster.request('POST', '/Users/.search', { filter: 'userName eq "bob"', attributes: ['userName', 'emails[type eq "work"]'] });
    assert.deepEqual(Object.keys(searched.body.Resources[0]).sort(), ['id', 'schemas', 'userName']);

    // Group members by id: is this user a member? (only that member is returned)
    const members = await roster.request('GET', `/Groups/${groupId}?attributes=${encodeURIComponent(`members[value eq "${olivia}"]`)}`);
    assert.deepEqual(members.body.members.map((member: { value: string }) => member.value), [olivia]);

    const singular = await roster.request('GET', `/Users/${olivia}?attributes=${encodeURIComponent('name[givenName eq "x"]')}`);
    assert.equal(singular.status, 400);
    assert.equal(singular.body.scimType, 'invalidValue');
  });

  test('PATCH add and remove of members take one id string as that one member', async () => {
    const add = await roster.request('PATCH', `/Groups/${groupId}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: oscar }] });
    assert.equal(add.status, 204, JSON.stringify(add.body));
    let members = (await roster.request('GET', `/Groups/${groupId}`)).body.members.map((member: { value: string }) => member.value).sort();
    assert.deepEqual(members, [olivia, oscar].sort());
    const remove = await roster.request('PATCH', `/Groups/${groupId}`, { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: 'members', value: olivia }] });
    assert.equal(remove.status, 204, JSON.stringify(remove.body));
    members = (await roster.request('GET', `/Groups/${groupId}`)).body.members.map((member: { value: string }) => member.value);
    assert.deepEqual(members, [oscar]);
    const unknown = await roster.request('PATCH', `/Groups/${groupId}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: 'no-such-user' }] });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.detail, /no-such-user/);
  });

  test('query parameter names match in any case; unknown ones are ignored; one name spelt twice is a 400', async () => {
    const filtered = await roster.request('GET', `/Users?Filter=${encodeURIComponent('userName eq "bob"')}`);
    assert.equal(filtered.status, 200);
    assert.deepEqual(userNames(filtered.body), ['bob']);
    const paged = await roster.request('GET', '/Users?SORTBY=userName&sortorder=descending&StartIndex=2&COUNT=1');
    assert.equal(paged.body.startIndex, 2);
    assert.deepEqual(paged.body.Resources.map((user: { userName: string }) => user.userName), ['Olivia']);
    // Entra ID's feature flags ride along in the query string.
    const flagged = await roster.request('GET', `/Users?aadOptscim062020&filter=${encodeURIComponent('userName eq "Oscar"')}`);
    assert.deepEqual(userNames(flagged.body), ['Oscar']);
    const projected = await roster.request('GET', `/Users/${bob}?ATTRIBUTES=userName`);
    assert.deepEqual(Object.keys(projected.body).sort(), ['id', 'schemas', 'userName']);
    const twice = await roster.request('GET', `/Users?filter=${encodeURIComponent('userName eq "bob"')}&FILTER=${encodeURIComponent('userName eq "Oscar"')}`);
    assert.equal(twice.status, 400);
    assert.equal(twice.body.scimType, 'invalidSyntax');
    // Discovery endpoints cannot be filtered, however the parameter is spelt.
    assert.equal((await roster.request('GET', '/Schemas?Filter=x')).status, 403);
  });

  test('attribute names match in any case, but one given twice in two cases is a 400 inside complex values too', async () => {
    const refused = async (method: 'POST' | 'PUT' | 'PATCH', path: string, body: unknown, detail: RegExp) => {
      const response = await roster.request(method, path, body);
      assert.equal(response.status, 400, `${method} ${JSON.stringify(body)}: ${JSON.stringify(response.body)}`);
      assert.deepEqual(response.body.schemas, [ERROR_SCHEMA]);
      assert.equal(response.body.scimType, 'invalidSyntax');
      assert.match(response.body.detail, detail);
    };
    const patch = (operation: unknown) => ({ schemas: [PATCH_OP], Operations: [operation] });
    const before = (await roster.request('GET', `/Users/${bob}`)).body;
    await refused('POST', '/Users', userBody('dupcase3', { name: { givenName: 'a', GivenName: 'b' } }), /gives name\.givenName twice, as "givenName" and "GivenName"; send it once/);
    await refused('POST', '/Users', userBody('dupcase4', { emails: [{ value: 'a@x.io', Value: 'b@x.io' }] }), /gives emails\[0\]\.value twice, as "value" and "Value"/);
    await refused('PUT', `/Users/${bob}`, userBody('bob', { name: { familyName: 'p1', familyname: 'p2' } }), /gives name\.familyName twice/);
    await refused('PATCH', `/Users/${bob}`, patch({ op: 'replace', value: { title: 't1', TITLE: 't2' } }), /gives title twice, as "title" and "TITLE"/);
    await refused('PATCH', `/Users/${bob}`, patch({ op: 'replace', path: 'name', value: { familyName: 'f1', FamilyName: 'f2' } }), /gives name\.familyName twice/);
    await refused('POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'dupcase', members: [{ value: olivia, VALUE: oscar }] }, /gives members\[0\]\.value twice/);
    await refused('PATCH', `/Groups/${groupId}`, patch({ op: 'add', path: 'members', value: [{ value: olivia, VALUE: oscar }] }), /gives members\[0\]\.value twice, as "value" and "VALUE"/);
    // Nothing was created or changed.
    assert.equal((await roster.request('GET', `/Users?filter=${encodeURIComponent('userName sw "dupcase"')}`)).body.totalResults, 0);
    assert.equal((await roster.request('GET', `/Groups?filter=${encodeURIComponent('displayName eq "dupcase"')}`)).body.totalResults, 0);
    assert.deepEqual((await roster.request('GET', `/Users/${bob}`)).body, before);
  });

  test('/Me matches in any case too', async () => {
    const response = await roster.app.inject({ method: 'GET', url: `${SCIM}/me`, headers: { authorization: `Bearer ${roster.token}` } });
    assert.equal(response.statusCode, 404, 'the administrator is a local account: no SCIM resource');
  });
});
