import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ScimError } from '../../src/scim/errors.ts';
import { COMMON_ATTRIBUTES, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA, findAttribute } from '../../src/scim/schemas.ts';
import type { AttributeDefinition } from '../../src/scim/schemas.ts';
import { MAX_MULTI_VALUED_ELEMENTS, createValueContext, normaliseAttributeValue, normaliseResource } from '../../src/scim/validate.ts';

/** Asserts a ScimError with this status/scimType whose detail matches `detail`. */
function rejects(run: () => unknown, scimType: string, detail: RegExp, status = 400): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof ScimError, `expected a ScimError, got ${String(error)}`);
    assert.equal(error.status, status);
    assert.equal(error.scimType, scimType);
    assert.match(error.message, detail);
    return true;
  });
}

// The user Entra creates (MicrosoftDocs entra-docs, use-scim-to-provision-users-and-groups.md).
const entraCreateUser = {
  schemas: [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
  externalId: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef',
  userName: 'Test_User_00aa00aa@testuser.com',
  active: true,
  emails: [{ primary: true, type: 'work', value: 'Test_User_11bb11bb@testuser.com' }],
  meta: { resourceType: 'User' },
  name: { formatted: 'givenName familyName', familyName: 'familyName', givenName: 'givenName' },
  roles: [],
};

// The user Okta creates (okta-developer-docs, reference/scim/scim-20).
const oktaCreateUser = {
  schemas: [USER_SCHEMA],
  userName: 'test.user@okta.local',
  name: { givenName: 'Test', familyName: 'User' },
  emails: [{ primary: true, value: 'test.user@okta.local', type: 'work' }],
  displayName: 'Test User',
  locale: 'en-US',
  externalId: '00ujl29u0le5T6Aj10h7',
  groups: [],
  password: '1mz050nq',
  active: true,
};

test('Entra create-user body normalises: meta ignored, empty roles unassigned', () => {
  const ignored: string[] = [];
  const user = normaliseResource('User', entraCreateUser, 'create', { ignored });
  assert.deepEqual(user, {
    schemas: [USER_SCHEMA],
    externalId: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef',
    userName: 'Test_User_00aa00aa@testuser.com',
    name: { formatted: 'givenName familyName', familyName: 'familyName', givenName: 'givenName' },
    active: true,
    emails: [{ primary: true, type: 'work', value: 'Test_User_11bb11bb@testuser.com' }],
  });
  assert.deepEqual(ignored, ['meta']);
});

test('Okta create-user body keeps password and ignores the readOnly groups', () => {
  const ignored: string[] = [];
  const user = normaliseResource('User', oktaCreateUser, 'create', { ignored });
  assert.equal(user['password'], '1mz050nq');
  assert.equal(user['groups'], undefined);
  assert.equal(user['locale'], 'en-US');
  assert.deepEqual(ignored, ['groups']);
});

test('a body that is not an object is 400 invalidSyntax', () => {
  for (const body of [null, 'x', 42, [{ userName: 'a' }], undefined]) {
    rejects(() => normaliseResource('User', body, 'create'), 'invalidSyntax', /must be a JSON object/);
  }
});

test('attribute names are accepted in any case and output canonically, also inside complex values', () => {
  const user = normaliseResource(
    'User',
    {
      USERNAME: 'bjensen',
      Name: { GivenName: 'Barbara', FAMILYNAME: 'Jensen' },
      Emails: [{ VALUE: 'b@x.com', Type: 'work', PRIMARY: true }],
      'URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER': { EmployeeNumber: '701984', MANAGER: { Value: 'm1' } },
    },
    'replace',
  );
  assert.deepEqual(user, {
    schemas: [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
    userName: 'bjensen',
    name: { givenName: 'Barbara', familyName: 'Jensen' },
    emails: [{ value: 'b@x.com', type: 'work', primary: true }],
    [ENTERPRISE_USER_SCHEMA]: { employeeNumber: '701984', manager: { value: 'm1' } },
  });
});

test('dotted URN keys for extension attributes are accepted and merged with the extension object', () => {
  const user = normaliseResource(
    'User',
    {
      userName: 'bjensen',
      [`${ENTERPRISE_USER_SCHEMA}:employeeNumber`]: '1',
      [ENTERPRISE_USER_SCHEMA]: { department: 'Sales' },
      [`${ENTERPRISE_USER_SCHEMA}:manager.value`]: 'boss',
    },
    'create',
  );
  assert.deepEqual(user[ENTERPRISE_USER_SCHEMA], { employeeNumber: '1', department: 'Sales', manager: { value: 'boss' } });
  assert.deepEqual(user['schemas'], [USER_SCHEMA, ENTERPRISE_USER_SCHEMA]);
});

test('core attributes may be written fully qualified with the core schema URN (RFC 7644 §3.10)', () => {
  const user = normaliseResource('User', { [`${USER_SCHEMA}:userName`]: 'bjensen', [`${USER_SCHEMA}:name.givenName`]: 'B' }, 'create');
  assert.equal(user['userName'], 'bjensen');
  assert.deepEqual(user['name'], { givenName: 'B' });
});

test('an attribute given twice (another case, its full URN, its extension object, or whole beside a sub-attribute) is 400 invalidSyntax', () => {
  for (const body of [
    { userName: 'a', username: 'b' },
    { userName: 'a', [`${USER_SCHEMA}:userName`]: 'b' },
    { userName: 'a', [`${ENTERPRISE_USER_SCHEMA}:department`]: 'x', [ENTERPRISE_USER_SCHEMA]: { Department: 'y' } },
    { userName: 'a', name: { givenName: 'B' }, 'name.givenName': 'C' },
    { userName: 'a', 'name.familyName': 'J', NAME: { givenName: 'B' } },
  ]) {
    rejects(() => normaliseResource('User', body, 'create'), 'invalidSyntax', /gives .* twice, as ".*" and ".*"; send it once/);
  }
  // Two sub-attributes of one attribute are two attributes.
  assert.deepEqual(normaliseResource('User', { userName: 'a', 'name.givenName': 'B', 'name.familyName': 'J' }, 'create')['name'], { givenName: 'B', familyName: 'J' });
});

test('a sub-attribute given twice in a complex value, in another case, is 400 invalidSyntax naming both keys', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ name: { givenName: 'a', GivenName: 'b' } }, /gives name\.givenName twice, as "givenName" and "GivenName"; send it once/],
    [{ emails: [{ value: 'a@x.io', Value: 'b@x.io' }] }, /gives emails\[0\]\.value twice, as "value" and "Value"/],
    [{ emails: { type: 'work', TYPE: 'home', value: 'a@x.io' } }, /gives emails\[0\]\.type twice/],
    [{ [ENTERPRISE_USER_SCHEMA]: { manager: { value: 'm1', VALUE: 'm2' } } }, /gives urn:.*:enterprise:2\.0:User:manager\.value twice/],
  ];
  for (const [extra, detail] of cases) {
    rejects(() => normaliseResource('User', { userName: 'a', ...extra }, 'replace'), 'invalidSyntax', detail);
  }
  // A readOnly sub-attribute too: neither would be kept, but the body is as ambiguous.
  rejects(
    () => normaliseResource('Group', { displayName: 'g', members: [{ value: 'u1', display: 'A', Display: 'B' }] }, 'create'),
    'invalidSyntax',
    /gives members\[0\]\.display twice/,
  );
  // Distinct sub-attributes, and one name per element of a list, are fine.
  const user = normaliseResource('User', { userName: 'a', name: { givenName: 'a', familyName: 'b' }, emails: [{ Value: 'a@x.io' }, { value: 'b@x.io' }] }, 'create');
  assert.deepEqual(user['emails'], [{ value: 'a@x.io' }, { value: 'b@x.io' }]);
});

test('null values and empty arrays are unassigned and dropped (RFC 7643 §2.5)', () => {
  const user = normaliseResource(
    'User',
    { userName: 'a', nickName: null, emails: [], name: { givenName: null }, phoneNumbers: [null], [ENTERPRISE_USER_SCHEMA]: { department: null } },
    'create',
  );
  assert.deepEqual(user, { schemas: [USER_SCHEMA], userName: 'a' });
});

test('readOnly attributes sent by the client are ignored (RFC 7644 §3.5.1)', () => {
  const ignored: string[] = [];
  const user = normaliseResource(
    'User',
    {
      id: 'client-chosen',
      meta: { created: '2020-01-01T00:00:00Z' },
      userName: 'a',
      groups: [{ value: 'g1' }],
      [ENTERPRISE_USER_SCHEMA]: { manager: { value: 'm', displayName: 'The Boss' } },
    },
    'replace',
    { ignored },
  );
  assert.deepEqual(user, { schemas: [USER_SCHEMA, ENTERPRISE_USER_SCHEMA], userName: 'a', [ENTERPRISE_USER_SCHEMA]: { manager: { value: 'm' } } });
  assert.deepEqual(ignored.sort(), ['groups', 'id', 'meta', `${ENTERPRISE_USER_SCHEMA}:manager.displayName`].sort());
});

test('unknown schema URIs and unknown extension objects are ignored (Entra sends extra ones)', () => {
  const ignored: string[] = [];
  const user = normaliseResource(
    'User',
    {
      schemas: [USER_SCHEMA, 'urn:ietf:params:scim:schemas:extension:custom:2.0:User'],
      userName: 'a',
      'urn:ietf:params:scim:schemas:extension:custom:2.0:User': { employeeNumber: '99887766', worksiteId: '180' },
    },
    'create',
    { ignored },
  );
  assert.deepEqual(user, { schemas: [USER_SCHEMA], userName: 'a' });
  // Named attribute by attribute, as an IdP mapping names them (the audit trail shows these).
  assert.deepEqual(ignored, ['urn:ietf:params:scim:schemas:extension:custom:2.0:User:employeeNumber', 'urn:ietf:params:scim:schemas:extension:custom:2.0:User:worksiteId']);
});

test('Entra group create with the ADSCIM schema URI and readOnly meta is accepted', () => {
  const group = normaliseResource(
    'Group',
    {
      schemas: [GROUP_SCHEMA, 'http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group'],
      externalId: '8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159',
      displayName: 'displayName',
      meta: { resourceType: 'Group' },
    },
    'create',
  );
  assert.deepEqual(group, { schemas: [GROUP_SCHEMA], externalId: '8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159', displayName: 'displayName' });
});

test('unknown attributes of the core schema are ignored and reported, not rejected', () => {
  const ignored: string[] = [];
  const user = normaliseResource('User', { userName: 'a', favouriteColour: 'blue', name: { nickname: 'x', givenName: 'A' } }, 'create', { ignored });
  assert.deepEqual(user, { schemas: [USER_SCHEMA], userName: 'a', name: { givenName: 'A' } });
  assert.deepEqual(ignored, ['favouriteColour', 'name.nickname']);
});

test('a multi-valued element that is not understood is reported once, without its index', () => {
  const ignored: string[] = [];
  normaliseResource('User', { userName: 'a', emails: [{ value: 'a@x', foo: 1 }, { value: 'b@x', foo: 2 }] }, 'create', { ignored });
  assert.deepEqual(ignored, ['emails.foo']);
});

test('schemas naming another resource type is 400 invalidValue; a non-array schemas is invalidSyntax', () => {
  rejects(() => normaliseResource('User', { schemas: [GROUP_SCHEMA], userName: 'a' }, 'create'), 'invalidValue', /must use urn:ietf:params:scim:schemas:core:2.0:User/);
  rejects(() => normaliseResource('User', { schemas: USER_SCHEMA, userName: 'a' }, 'create'), 'invalidSyntax', /schemas must be an array/);
});

test('userName is required for a User and displayName for a Group', () => {
  rejects(() => normaliseResource('User', { name: { givenName: 'a' } }, 'create'), 'invalidValue', /^userName is required to create a User$/);
  rejects(() => normaliseResource('User', { userName: null }, 'replace'), 'invalidValue', /^userName is required to replace a User$/);
  rejects(() => normaliseResource('Group', { members: [] }, 'create'), 'invalidValue', /^displayName is required to create a Group$/);
  rejects(() => normaliseResource('User', { userName: '  ' }, 'create'), 'invalidValue', /userName must not be empty/);
});

test('values are type-checked, naming the attribute path', () => {
  const cases: [unknown, RegExp][] = [
    [{ userName: 42 }, /^userName must be a string, got number 42$/],
    [{ userName: 'a', active: 'yes' }, /^active must be a boolean, got the string "yes"$/],
    [{ userName: 'a', emails: [{ value: 'a@x', primary: 'maybe' }] }, /^emails\[0\]\.primary must be a boolean/],
    [{ userName: 'a', name: 'Barbara Jensen' }, /^name must be a complex value/],
    [{ userName: 'a', name: ['x'] }, /^name must be a complex value/],
    [{ userName: ['a'] }, /^userName must be a single string value/],
    [{ userName: 'a', emails: [{ value: 5 }] }, /^emails\[0\]\.value must be a string/],
    [{ userName: 'a', x509Certificates: [{ value: 'not base64!' }] }, /^x509Certificates\[0\]\.value must be base64/],
    [{ userName: 'a', [ENTERPRISE_USER_SCHEMA]: 'Sales' }, /must be an object of EnterpriseUser attributes/],
    [{ userName: 'a', [ENTERPRISE_USER_SCHEMA]: { employeeNumber: 701984 } }, /^urn:ietf:params:scim:schemas:extension:enterprise:2\.0:User:employeeNumber must be a string/],
  ];
  for (const [body, detail] of cases) rejects(() => normaliseResource('User', body, 'create'), 'invalidValue', detail);
});

test('a password of the wrong type is refused without repeating it: the message goes to the log and the provisioning activity', () => {
  for (const password of [12345678, true, 1.5]) {
    rejects(() => normaliseResource('User', { userName: 'a', password }, 'create'), 'invalidValue', new RegExp(`^password must be a string, got a ${typeof password}$`));
  }
  assert.throws(
    () => normaliseResource('User', { userName: 'a', password: 87654321 }, 'create'),
    (error: unknown) => error instanceof ScimError && !error.message.includes('87654321'),
  );
});

test('the strings "True"/"False" are coerced to booleans, also inside multi-valued complex values', () => {
  const user = normaliseResource(
    'User',
    {
      userName: 'a',
      active: 'False',
      roles: [{ value: 'Admin', primary: 'True', type: 'WindowsAzureActiveDirectoryRole' }],
      emails: [{ value: 'a@x', primary: 'true' }],
    },
    'create',
  );
  assert.equal(user['active'], false);
  assert.deepEqual(user['roles'], [{ value: 'Admin', primary: true, type: 'WindowsAzureActiveDirectoryRole' }]);
  assert.deepEqual(user['emails'], [{ value: 'a@x', primary: true }]);
});

test('a single object given for a multi-valued attribute is wrapped into an array', () => {
  const user = normaliseResource('User', { userName: 'a', emails: { value: 'a@x', type: 'work' } }, 'create');
  assert.deepEqual(user['emails'], [{ value: 'a@x', type: 'work' }]);
});

test('manager given as a bare id or a one-element list becomes {value} (Entra)', () => {
  for (const manager of ['m1', [{ value: 'm1' }], { value: 'm1' }]) {
    const user = normaliseResource('User', { userName: 'a', [ENTERPRISE_USER_SCHEMA]: { manager } }, 'create');
    assert.deepEqual(user[ENTERPRISE_USER_SCHEMA], { manager: { value: 'm1' } });
  }
  rejects(
    () => normaliseResource('User', { userName: 'a', [ENTERPRISE_USER_SCHEMA]: { manager: [{ value: 'a' }, { value: 'b' }] } }, 'create'),
    'invalidValue',
    /manager must be a single complex value/,
  );
});

test('more than one primary value in a multi-valued attribute is 400 invalidValue', () => {
  rejects(
    () => normaliseResource('User', { userName: 'a', emails: [{ value: 'a@x', primary: true }, { value: 'b@x', primary: 'True' }] }, 'create'),
    'invalidValue',
    /^emails has 2 values with primary set to true; at most one may be primary/,
  );
});

test('the same (type, value) twice in any multi-valued attribute is kept once, compared under its case rule (RFC 7643 §2.4)', () => {
  for (const name of ['emails', 'phoneNumbers', 'ims', 'entitlements', 'roles']) {
    for (const mode of ['create', 'replace'] as const) {
      const user = normaliseResource('User', { userName: 'a', [name]: [{ value: 'Same', type: 'work' }, { value: 'same', type: 'WORK' }, { value: 'same' }] }, mode);
      assert.deepEqual(user[name], [{ value: 'Same', type: 'work' }, { value: 'same' }], `${name} on ${mode}`);
    }
  }
  // References and binaries are case exact (RFC 7643 §2.3.6, §2.3.7), whatever the schema's caseExact says.
  const exact = normaliseResource('User', { userName: 'a', photos: [{ value: 'https://x/A' }, { value: 'https://x/a' }, { value: 'https://x/A' }], x509Certificates: [{ value: 'QUJD' }, { value: 'qujd' }, { value: 'QUJD' }] }, 'create');
  assert.deepEqual(exact['photos'], [{ value: 'https://x/A' }, { value: 'https://x/a' }]);
  assert.deepEqual(exact['x509Certificates'], [{ value: 'QUJD' }, { value: 'qujd' }]);
  const address = { type: 'work', streetAddress: '1 Main St' };
  const addresses = normaliseResource('User', { userName: 'a', addresses: [address, { ...address, streetAddress: '1 main st', primary: true }] }, 'create');
  assert.deepEqual(addresses['addresses'], [{ ...address, primary: true }]);
  // Group members: value is case-exact, so only the very same id collapses.
  const group = normaliseResource('Group', { displayName: 'g', members: [{ value: 'u1' }, { value: 'U1' }, { value: 'u1', display: 'x' }] }, 'replace');
  assert.deepEqual(group['members'], [{ value: 'u1' }, { value: 'U1' }]);
});

test('duplicates that disagree on primary or display merge into the first: primary if any was, the last display given', () => {
  const user = normaliseResource('User', {
    userName: 'a',
    emails: [
      { value: 'a@x', type: 'work', display: 'First' },
      { value: 'b@x', type: 'work' },
      { value: 'A@X', type: 'work', primary: true },
      { value: 'a@x', type: 'work', display: 'Last', primary: false },
    ],
  }, 'create');
  assert.deepEqual(user['emails'], [{ value: 'a@x', type: 'work', display: 'Last', primary: true }, { value: 'b@x', type: 'work' }]);
  const twoPrimaries = normaliseResource('User', { userName: 'a', emails: [{ value: 'a@x', primary: true }, { value: 'A@x', primary: 'True' }] }, 'create');
  assert.deepEqual(twoPrimaries['emails'], [{ value: 'a@x', primary: true }]);
});

test('canonicalValues are not enforced: custom email types are kept', () => {
  const user = normaliseResource('User', { userName: 'a', emails: [{ value: 'a@x', type: 'proxyAddress' }] }, 'create');
  assert.deepEqual(user['emails'], [{ value: 'a@x', type: 'proxyAddress' }]);
});

test('dateTime, integer and decimal values are type-checked by the shared value rules', () => {
  const context = createValueContext('User', false);
  const created = findAttribute(findAttribute(COMMON_ATTRIBUTES, 'meta')?.subAttributes ?? [], 'created');
  assert.ok(created);
  assert.equal(normaliseAttributeValue(context, created, '2024-05-01T12:00:00Z', 'meta.created'), '2024-05-01T12:00:00Z');
  assert.equal(normaliseAttributeValue(context, created, '2024-05-01T12:00:00.123+02:00', 'meta.created'), '2024-05-01T12:00:00.123+02:00');
  for (const bad of ['yesterday', '2024-05-01', '2024-13-01T00:00:00Z', 1714564800]) {
    rejects(() => normaliseAttributeValue(context, created, bad, 'meta.created'), 'invalidValue', /^meta\.created must be an ISO 8601 date-time|^meta\.created must be a string/);
  }
  const base = { multiValued: false, description: '', required: false, caseExact: false, mutability: 'readWrite', returned: 'default', uniqueness: 'none' } as const;
  const count: AttributeDefinition = { ...base, name: 'count', type: 'integer' };
  const ratio: AttributeDefinition = { ...base, name: 'ratio', type: 'decimal' };
  assert.equal(normaliseAttributeValue(context, count, 3, 'count'), 3);
  rejects(() => normaliseAttributeValue(context, count, 3.5, 'count'), 'invalidValue', /^count must be an integer/);
  rejects(() => normaliseAttributeValue(context, count, '3', 'count'), 'invalidValue', /^count must be an integer/);
  assert.equal(normaliseAttributeValue(context, ratio, 0.5, 'ratio'), 0.5);
  rejects(() => normaliseAttributeValue(context, ratio, 'NaN', 'ratio'), 'invalidValue', /^ratio must be a number/);
});

test('string values over 64 KiB are refused with a clear 400', () => {
  rejects(() => normaliseResource('User', { userName: 'a', title: 'x'.repeat(64 * 1024 + 1) }, 'create'), 'invalidValue', /title is longer than the 64 KiB/);
  const user = normaliseResource('User', { userName: 'a', title: 'x'.repeat(64 * 1024) }, 'create');
  assert.equal((user['title'] as string).length, 64 * 1024);
  // Bytes, not characters: 30k three-byte characters is ~90 KiB.
  rejects(() => normaliseResource('User', { userName: 'a', title: '€'.repeat(30_000) }, 'create'), 'invalidValue', /longer than/);
});

test('multi-valued attributes are limited to 1000 values, except Group.members', () => {
  const emails = Array.from({ length: MAX_MULTI_VALUED_ELEMENTS + 1 }, (_, i) => ({ value: `u${i}@x` }));
  rejects(() => normaliseResource('User', { userName: 'a', emails }, 'create'), 'invalidValue', /^emails has 1001 values; Roster accepts at most 1000/);
  const members = Array.from({ length: 20_000 }, (_, i) => ({ value: `user-${i}`, display: `User ${i}` }));
  const group = normaliseResource('Group', { displayName: 'big', members }, 'create');
  assert.equal((group['members'] as unknown[]).length, 20_000);
  assert.deepEqual((group['members'] as unknown[])[0], { value: 'user-0' });
});

test('Group members are normalised: readOnly display dropped, $ref null unassigned, value type-checked', () => {
  const ignored: string[] = [];
  const group = normaliseResource(
    'Group',
    { schemas: [GROUP_SCHEMA], displayName: 'Test SCIMv2', members: [{ value: 'u1', display: 'User One', $ref: null }, { VALUE: 'u2', Type: 'User' }] },
    'create',
    { ignored },
  );
  assert.deepEqual(group['members'], [{ value: 'u1' }, { value: 'u2', type: 'User' }]);
  assert.deepEqual(ignored, ['members.display']);
  rejects(() => normaliseResource('Group', { displayName: 'g', members: [{ value: 7 }] }, 'create'), 'invalidValue', /^members\[0\]\.value must be a string/);
});

test('the output lists the core schema plus only the extensions present, in canonical key order', () => {
  const user = normaliseResource('User', { [ENTERPRISE_USER_SCHEMA]: {}, title: 'T', userName: 'a', externalId: 'e' }, 'create');
  assert.deepEqual(Object.keys(user), ['schemas', 'externalId', 'userName', 'title']);
  assert.deepEqual(user['schemas'], [USER_SCHEMA]);
});

test('the input body is not modified', () => {
  const body = structuredClone(entraCreateUser);
  normaliseResource('User', body, 'create');
  assert.deepEqual(body, entraCreateUser);
});
