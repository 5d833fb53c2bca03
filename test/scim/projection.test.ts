import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AttributePath } from '../../src/scim/filter/ast.ts';
import type { JsonObject } from '../../src/scim/json.ts';
import { parseAttributePath, parseProjectionPath } from '../../src/scim/path.ts';
import { isRequested, isShownBy, planProjection, project, projectWith, valuesNamedBy } from '../../src/scim/projection.ts';
import type { ProjectedPath } from '../../src/scim/projection.ts';
import type { ProjectionOptions } from '../../src/scim/projection.ts';
import { ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA } from '../../src/scim/schemas.ts';

const EXT = ENTERPRISE_USER_SCHEMA;

/** Parses request-parameter names with the real path parser, as the HTTP layer does. */
function paths(...names: string[]): AttributePath[] {
  return names.map((name) => {
    const parsed = parseAttributePath(name);
    if (!parsed.ok) throw new Error(`${name}: ${parsed.error.message}`);
    return parsed.value;
  });
}

function attributes(...names: string[]): ProjectionOptions {
  return { attributes: paths(...names) };
}

function excluded(...names: string[]): ProjectionOptions {
  return { excludedAttributes: paths(...names) };
}

function barbara(): JsonObject {
  return {
    schemas: [USER_SCHEMA, EXT],
    id: '2819c223-7f76-453a-919d-413861904646',
    externalId: 'bjensen',
    userName: 'bjensen',
    name: { givenName: 'Barbara', familyName: 'Jensen', formatted: 'Ms. Barbara J Jensen' },
    password: 't1meMa$heen',
    emails: [
      { value: 'bjensen@example.com', type: 'work', primary: true },
      { value: 'babs@jensen.org', type: 'home' },
    ],
    groups: [{ value: 'e9e30dba', display: 'Tour Guides', type: 'direct' }],
    [EXT]: { employeeNumber: '701984', manager: { value: '26118915', displayName: 'John Smith' } },
    meta: { resourceType: 'User', created: '2010-01-23T04:56:22Z', lastModified: '2011-05-13T04:42:34Z', version: 'W/"3"' },
  };
}

function tourGuides(): JsonObject {
  return {
    schemas: [GROUP_SCHEMA],
    id: 'e9e30dba-f08f-4109-8486-d5c6a331660a',
    displayName: 'Tour Guides',
    members: [{ value: '2819c223', display: 'Babs Jensen', $ref: 'https://example.com/v2/Users/2819c223' }],
    meta: { resourceType: 'Group' },
  };
}

test('by default every attribute is shown except returned=never (password)', () => {
  const { password, ...expected } = barbara();
  assert.equal(password, 't1meMa$heen');
  assert.deepEqual(project('User', barbara(), {}), expected);
});

test('attributes limits the response to the listed attributes plus returned=always (id, schemas)', () => {
  assert.deepEqual(project('User', barbara(), attributes('userName')), {
    schemas: [USER_SCHEMA],
    id: '2819c223-7f76-453a-919d-413861904646',
    userName: 'bjensen',
  });
});

test('attributes=name.givenName selects one sub-attribute of a complex attribute', () => {
  assert.deepEqual(project('User', barbara(), attributes('name.givenName')), {
    schemas: [USER_SCHEMA],
    id: '2819c223-7f76-453a-919d-413861904646',
    name: { givenName: 'Barbara' },
  });
});

test('attributes=emails.value selects the sub-attribute in every value of a multi-valued attribute', () => {
  const user = project('User', barbara(), attributes('emails.value', 'meta.lastModified'));
  assert.deepEqual(user['emails'], [{ value: 'bjensen@example.com' }, { value: 'babs@jensen.org' }]);
  assert.deepEqual(user['meta'], { lastModified: '2011-05-13T04:42:34Z' });
});

test('attribute names are case-insensitive and the output uses canonical names', () => {
  const user = project('User', barbara(), attributes('USERNAME', 'Name.GIVENNAME', EXT.toLowerCase() + ':EmployeeNumber'));
  assert.deepEqual(user, {
    schemas: [USER_SCHEMA, EXT],
    id: '2819c223-7f76-453a-919d-413861904646',
    userName: 'bjensen',
    name: { givenName: 'Barbara' },
    [EXT]: { employeeNumber: '701984' },
  });
});

test('returned=always attributes cannot be excluded, returned=never ones cannot be requested', () => {
  const user = project('User', barbara(), { attributes: paths('password', 'userName'), excludedAttributes: paths('id', 'schemas') });
  assert.equal(user['id'], '2819c223-7f76-453a-919d-413861904646');
  assert.deepEqual(user['schemas'], [USER_SCHEMA]);
  assert.equal(user['password'], undefined);
});

test('excludedAttributes removes attributes and sub-attributes from the default set', () => {
  const user = project('User', barbara(), excluded('emails', 'name.familyName', 'meta'));
  assert.equal(user['emails'], undefined);
  assert.equal(user['meta'], undefined);
  assert.deepEqual(user['name'], { givenName: 'Barbara', formatted: 'Ms. Barbara J Jensen' });
  assert.equal(user['userName'], 'bjensen');
});

test('an extension URN selects or excludes the whole extension, and schemas follows', () => {
  const only = project('User', barbara(), attributes(EXT));
  assert.deepEqual(only, {
    schemas: [USER_SCHEMA, EXT],
    id: '2819c223-7f76-453a-919d-413861904646',
    [EXT]: { employeeNumber: '701984', manager: { value: '26118915', displayName: 'John Smith' } },
  });
  const without = project('User', barbara(), excluded(EXT));
  assert.equal(without[EXT], undefined);
  assert.deepEqual(without['schemas'], [USER_SCHEMA]);
  assert.equal(without['userName'], 'bjensen');
});

test('extension attributes by URN path, including sub-attributes, and unqualified manager', () => {
  assert.deepEqual(project('User', barbara(), attributes(`${EXT}:manager.value`))[EXT], { manager: { value: '26118915' } });
  assert.deepEqual(project('User', barbara(), excluded(`${EXT}:employeeNumber`))[EXT], {
    manager: { value: '26118915', displayName: 'John Smith' },
  });
  assert.deepEqual(project('User', barbara(), attributes('manager'))[EXT], { manager: { value: '26118915', displayName: 'John Smith' } });
});

test('the core schema URN selects every core attribute', () => {
  const user = project('User', barbara(), attributes(USER_SCHEMA));
  assert.equal(user['userName'], 'bjensen');
  assert.equal(user['password'], undefined);
  assert.equal(user[EXT], undefined);
  assert.equal(user['meta'], undefined, 'meta is a common attribute, outside the core schema');
});

test('names that match no attribute select nothing and are not an error', () => {
  assert.deepEqual(project('User', barbara(), attributes('shoeSize')), { schemas: [USER_SCHEMA], id: '2819c223-7f76-453a-919d-413861904646' });
  assert.deepEqual(project('User', barbara(), excluded('shoeSize')), project('User', barbara(), {}));
});

test('attributes and excludedAttributes together: select, then remove', () => {
  const user = project('User', barbara(), { attributes: paths('name', 'userName'), excludedAttributes: paths('name.formatted') });
  assert.deepEqual(user['name'], { givenName: 'Barbara', familyName: 'Jensen' });
  assert.equal(user['userName'], 'bjensen');
});

test('excludedAttributes=members hides the members of a Group (Entra)', () => {
  assert.deepEqual(project('Group', tourGuides(), excluded('members')), {
    schemas: [GROUP_SCHEMA],
    id: 'e9e30dba-f08f-4109-8486-d5c6a331660a',
    displayName: 'Tour Guides',
    meta: { resourceType: 'Group' },
  });
  assert.deepEqual(project('Group', tourGuides(), attributes('members.value'))['members'], [{ value: '2819c223' }]);
});

test('keys the schemas do not know are not shown', () => {
  const user = project('User', { ...barbara(), internalFlag: true }, {});
  assert.equal(user['internalFlag'], undefined);
});

test('project never modifies the resource it is given', () => {
  const resource = barbara();
  project('User', resource, attributes('name.givenName'));
  assert.deepEqual(resource, barbara());
});

test('isRequested tells whether Group members will be shown', () => {
  const members = { attribute: 'members' };
  assert.equal(isRequested('Group', members, {}), true);
  assert.equal(isRequested('Group', members, excluded('members')), false);
  assert.equal(isRequested('Group', members, excluded('Members')), false);
  assert.equal(isRequested('Group', members, attributes('displayName')), false);
  assert.equal(isRequested('Group', members, attributes('members.value')), true);
  assert.equal(isRequested('Group', members, attributes(`${GROUP_SCHEMA}:members`)), true);
});

test('isRequested tells whether User groups will be shown, and handles sub-attributes and extensions', () => {
  assert.equal(isRequested('User', { attribute: 'groups' }, {}), true);
  assert.equal(isRequested('User', { attribute: 'groups' }, attributes('userName')), false);
  assert.equal(isRequested('User', { attribute: 'groups' }, excluded('groups')), false);
  assert.equal(isRequested('User', { attribute: 'id' }, excluded('id')), true);
  assert.equal(isRequested('User', { attribute: 'password' }, attributes('password')), false);
  assert.equal(isRequested('User', { attribute: 'name', subAttribute: 'givenName' }, excluded('name.givenName')), false);
  assert.equal(isRequested('User', { attribute: 'name', subAttribute: 'familyName' }, excluded('name.givenName')), true);
  assert.equal(isRequested('User', paths(EXT)[0] ?? { attribute: '' }, excluded(EXT)), false);
  assert.equal(isRequested('User', paths(EXT)[0] ?? { attribute: '' }, attributes('manager')), true);
  assert.equal(isRequested('User', { attribute: 'shoeSize' }, {}), false);
});

test('a plan made once shows every resource as project does, and a name repeated selects nothing more', () => {
  const options = attributes('userName', 'emails.value', 'userName', 'EMAILS.VALUE', `${EXT}:employeeNumber`);
  const plan = planProjection('User', options);
  const other: JsonObject = { ...barbara(), id: 'other', userName: 'other', emails: [{ value: 'other@example.com', type: 'home' }] };
  for (const resource of [barbara(), other]) {
    assert.deepEqual(projectWith(plan, resource), project('User', resource, options));
    assert.deepEqual(projectWith(plan, resource), project('User', resource, attributes('userName', 'emails.value', `${EXT}:employeeNumber`)));
  }
  assert.equal(isShownBy(plan, { attribute: 'groups' }), isRequested('User', { attribute: 'groups' }, options));
  assert.equal(isShownBy(plan, { attribute: 'emails', subAttribute: 'value' }), true);
});

/** Parses items of `attributes` / `excludedAttributes`, value filters allowed, as the HTTP layer does. */
function projected(...names: string[]): ProjectedPath[] {
  return names.map((name) => {
    const parsed = parseProjectionPath(name);
    if (!parsed.ok) throw new Error(`${name}: ${parsed.error.message}`);
    return parsed.value;
  });
}

test('valuesNamedBy: the member ids a member check names, so that only they are read; undefined whenever other members could be shown', () => {
  const members = { attribute: 'members' };
  const named = (options: ProjectionOptions, type: 'User' | 'Group' = 'Group', path: AttributePath = members) => valuesNamedBy(planProjection(type, options), path);
  assert.deepEqual(named({ attributes: projected('members[value eq "a"]') }), ['a']);
  assert.deepEqual(named({ attributes: projected('members[value eq "a" or VALUE eq "b" or value eq "a"]', 'displayName') }), ['a', 'b']);
  assert.deepEqual(named({ attributes: projected('members[value eq "a"].display', 'members[value eq "c"]') }), ['a', 'c']);
  assert.deepEqual(named({ attributes: projected('members[value eq "a"]'), excludedAttributes: projected('members[value eq "a"]') }), ['a']);
  for (const options of [
    {},
    { excludedAttributes: projected('displayName') },
    { attributes: projected('members') },
    { attributes: projected('members[value eq "a"]', 'members.display') },
    { attributes: projected('members[display eq "a"]') },
    { attributes: projected('members[value eq "a" and type eq "User"]') },
    { attributes: projected('members[value sw "a"]') },
    { attributes: projected('members[value eq "a"]', 'members[type eq "User"]') },
  ]) {
    assert.equal(named(options), undefined, JSON.stringify(options));
  }
  // emails.value compares regardless of case: a lookup by exact value could miss some.
  assert.equal(named({ attributes: projected('emails[value eq "a@example.com"]') }, 'User', { attribute: 'emails' }), undefined);
});
