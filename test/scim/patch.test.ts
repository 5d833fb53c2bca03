import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ScimError } from '../../src/scim/errors.ts';
import type { JsonObject } from '../../src/scim/json.ts';
import { applyPatch, parsePatchRequest, splitGroupMemberOperations } from '../../src/scim/patch.ts';
import type { PatchOperation } from '../../src/scim/patch.ts';
import { ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, PATCH_OP_SCHEMA, USER_SCHEMA } from '../../src/scim/schemas.ts';

const EXT = ENTERPRISE_USER_SCHEMA;

function rejects(run: () => unknown, scimType: string, detail: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof ScimError, `expected a ScimError, got ${String(error)}`);
    assert.equal(error.status, 400);
    assert.equal(error.scimType, scimType);
    assert.match(error.message, detail);
    return true;
  });
}

/** A PatchOp message as clients send it. */
function message(...operations: unknown[]): unknown {
  return { schemas: [PATCH_OP_SCHEMA], Operations: operations };
}

function patchUser(resource: JsonObject, ...operations: unknown[]): JsonObject {
  return applyPatch('User', resource, parsePatchRequest(message(...operations)));
}

function barbara(): JsonObject {
  return {
    schemas: [USER_SCHEMA, EXT],
    userName: 'bjensen',
    name: { givenName: 'Barbara', familyName: 'Jensen' },
    active: true,
    emails: [{ value: 'bjensen@example.com', type: 'work', primary: true }],
    [EXT]: { employeeNumber: '701984', manager: { value: '26118915-6090-4610-87e4-49d8ca9f808d' } },
  };
}

function plainUser(): JsonObject {
  return { schemas: [USER_SCHEMA], userName: 'plain' };
}

// ---- parsePatchRequest

test('Entra op names "Replace", "Add", "Remove" are accepted case-insensitively', () => {
  const operations = parsePatchRequest(
    message(
      { op: 'Replace', path: 'displayName', value: 'x' },
      { op: 'Add', path: 'nickName', value: 'Babs' },
      { op: 'Remove', path: 'title' },
    ),
  );
  assert.deepEqual(operations.map((operation) => operation.op), ['replace', 'add', 'remove']);
  assert.equal(operations[0]?.path?.text, 'displayName');
});

test('a PatchOp without schemas is tolerated; one with the wrong schemas is 400 invalidSyntax', () => {
  assert.equal(parsePatchRequest({ Operations: [{ op: 'replace', path: 'active', value: false }] }).length, 1);
  rejects(() => parsePatchRequest({ schemas: [USER_SCHEMA], Operations: [] }), 'invalidSyntax', /schemas must be \["urn:ietf:params:scim:api:messages:2\.0:PatchOp"\]/);
  rejects(() => parsePatchRequest({ schemas: PATCH_OP_SCHEMA, Operations: [] }), 'invalidSyntax', /schemas must be/);
});

test('a PatchOp body that is not an object, or has no Operations array, is 400 invalidSyntax', () => {
  rejects(() => parsePatchRequest([]), 'invalidSyntax', /must be a JSON object/);
  rejects(() => parsePatchRequest({ schemas: [PATCH_OP_SCHEMA] }), 'invalidSyntax', /Operations must be an array/);
  rejects(() => parsePatchRequest({ schemas: [PATCH_OP_SCHEMA], Operations: { op: 'add' } }), 'invalidSyntax', /Operations must be an array/);
  rejects(() => parsePatchRequest(message('replace')), 'invalidSyntax', /^Operations\[0\] must be an object/);
});

test('an empty Operations array is valid and changes nothing', () => {
  const operations = parsePatchRequest(message());
  assert.deepEqual(operations, []);
  assert.deepEqual(applyPatch('User', barbara(), operations), barbara());
});

test('an unknown or missing op is 400 invalidSyntax', () => {
  rejects(() => parsePatchRequest(message({ op: 'move', path: 'title', value: 'x' })), 'invalidSyntax', /^Operations\[0\]\.op is "move"; it must be "add", "remove" or "replace"$/);
  rejects(() => parsePatchRequest(message({ path: 'title', value: 'x' })), 'invalidSyntax', /op is missing/);
});

test('remove without a path is 400 noTarget (RFC 7644 §3.5.2.2)', () => {
  rejects(() => parsePatchRequest(message({ op: 'remove' })), 'noTarget', /remove needs a path/);
  rejects(() => parsePatchRequest(message({ op: 'remove', path: '' })), 'noTarget', /remove needs a path/);
});

test("a malformed path is 400 invalidPath with the parser's message", () => {
  rejects(() => parsePatchRequest(message({ op: 'replace', path: 'emails[type eq ', value: 'x' })), 'invalidPath', /^Operations\[0\]: the path "emails\[type eq " is not valid: .+/);
  rejects(() => parsePatchRequest(message({ op: 'replace', path: 42, value: 'x' })), 'invalidPath', /path must be a string/);
});

test('add and replace need a value; without a path it must be an object', () => {
  rejects(() => parsePatchRequest(message({ op: 'add', path: 'title' })), 'invalidValue', /add needs a "value"/);
  rejects(() => parsePatchRequest(message({ op: 'replace', value: 'x' })), 'invalidValue', /without a path, the value of replace must be an object/);
});

test('structural member names are case-insensitive (operations, Op, Path, Value)', () => {
  const operations = parsePatchRequest({ schemas: [PATCH_OP_SCHEMA], operations: [{ Op: 'replace', Path: 'title', Value: 'Boss' }] });
  assert.equal(applyPatch('User', plainUser(), operations)['title'], 'Boss');
});

// ---- applyPatch: Entra's requests (application-provisioning-config-problem-scim-compatibility.md)

test("Entra's replace of several attributes (default dialect) applies every operation", () => {
  const user = patchUser(
    barbara(),
    { op: 'Replace', path: 'displayName', value: 'Pvlo' },
    { op: 'Replace', path: 'emails[type eq "work"].value', value: 'TestBcwqnm@test.microsoft.com' },
    { op: 'Replace', path: 'name.givenName', value: 'Gtfd' },
    { op: 'Replace', path: 'name.familyName', value: 'Pkqf' },
    { op: 'Replace', path: 'externalId', value: 'Eqpj' },
    { op: 'Replace', path: `${EXT}:employeeNumber`, value: 'Eqpj' },
  );
  assert.equal(user['displayName'], 'Pvlo');
  assert.equal(user['externalId'], 'Eqpj');
  assert.deepEqual(user['name'], { givenName: 'Gtfd', familyName: 'Pkqf' });
  assert.deepEqual(user['emails'], [{ value: 'TestBcwqnm@test.microsoft.com', type: 'work', primary: true }]);
  assert.deepEqual(user[EXT], { employeeNumber: 'Eqpj', manager: { value: '26118915-6090-4610-87e4-49d8ca9f808d' } });
});

test("Entra's replace without a path takes dotted and URN-qualified keys (aadOptscim062020 dialect)", () => {
  const user = patchUser(
    barbara(),
    { op: 'replace', path: 'emails[type eq "work"].value', value: 'TestMhvaes@test.microsoft.com' },
    {
      op: 'replace',
      value: { displayName: 'Bjfe', 'name.givenName': 'Kkom', 'name.familyName': 'Unua', [`${EXT}:employeeNumber`]: 'Aklq' },
    },
  );
  assert.equal(user['displayName'], 'Bjfe');
  assert.deepEqual(user['name'], { givenName: 'Kkom', familyName: 'Unua' });
  assert.equal((user[EXT] as JsonObject)['employeeNumber'], 'Aklq');
  assert.equal((user['emails'] as JsonObject[])[0]?.['value'], 'TestMhvaes@test.microsoft.com');
});

test('replace on emails[type eq "work"].value creates the work email when missing', () => {
  const user = patchUser(plainUser(), { op: 'Replace', path: 'emails[type eq "work"].value', value: 'new@example.com' });
  assert.deepEqual(user['emails'], [{ type: 'work', value: 'new@example.com' }]);
});

test('add on emails[type eq "work"].value creates the work email next to other emails', () => {
  const start = { ...plainUser(), emails: [{ value: 'home@example.com', type: 'home', primary: true }] };
  const user = patchUser(start, { op: 'Add', path: 'emails[type eq "work"].value', value: 'work@example.com' });
  assert.deepEqual(user['emails'], [
    { value: 'home@example.com', type: 'home', primary: true },
    { type: 'work', value: 'work@example.com' },
  ]);
});

test('roles[primary eq "True"].display/.value/.type build ONE role: the string "True" matches the created primary', () => {
  const user = patchUser(
    plainUser(),
    { op: 'Add', path: 'roles[primary eq "True"].display', value: 'Admin' },
    { op: 'Add', path: 'roles[primary eq "True"].value', value: 'admin' },
    { op: 'Add', path: 'roles[primary eq "True"].type', value: 'WindowsAzureActiveDirectoryRole' },
  );
  assert.deepEqual(user['roles'], [{ primary: true, display: 'Admin', value: 'admin', type: 'WindowsAzureActiveDirectoryRole' }]);
});

test('replace on emails[type eq "work"].value changes only the work email and keeps its primary flag', () => {
  const start = { ...barbara(), emails: [{ value: 'w@x', type: 'work', primary: true }, { value: 'h@x', type: 'home' }] };
  const user = patchUser(start, { op: 'replace', path: 'emails[type eq "work"].value', value: 'w2@x' });
  assert.deepEqual(user['emails'], [{ value: 'w2@x', type: 'work', primary: true }, { value: 'h@x', type: 'home' }]);
});

test('replace on addresses[type eq "work"].formatted creates the work address when missing', () => {
  const user = patchUser(
    plainUser(),
    { op: 'Replace', path: 'addresses[type eq "work"].formatted', value: '1 Main St' },
    { op: 'Replace', path: 'addresses[type eq "work"].postalCode', value: '12345' },
    { op: 'Replace', path: 'phoneNumbers[type eq "mobile"].value', value: '+1 555 0100' },
  );
  assert.deepEqual(user['addresses'], [{ type: 'work', formatted: '1 Main St', postalCode: '12345' }]);
  assert.deepEqual(user['phoneNumbers'], [{ type: 'mobile', value: '+1 555 0100' }]);
});

test('a value filter with several eq conditions joined by and seeds all of them', () => {
  const user = patchUser(plainUser(), { op: 'replace', path: 'emails[type eq "work" and primary eq true].value', value: 'a@x' });
  assert.deepEqual(user['emails'], [{ type: 'work', primary: true, value: 'a@x' }]);
});

test('add/replace on a value path matching nothing, with a filter that is not eq-and-only, is 400 noTarget', () => {
  rejects(() => patchUser(plainUser(), { op: 'replace', path: 'emails[value co "example"].type', value: 'work' }), 'noTarget', /matches no value/);
  rejects(() => patchUser(plainUser(), { op: 'replace', path: 'emails[type eq "work" or type eq "home"].value', value: 'a@x' }), 'noTarget', /matches no value/);
});

test('value-path filters compare case-insensitively for caseExact=false sub-attributes', () => {
  const start = { ...plainUser(), emails: [{ value: 'w@x', type: 'Work' }] };
  const user = patchUser(start, { op: 'replace', path: 'emails[type eq "work"].value', value: 'w2@x' });
  assert.deepEqual(user['emails'], [{ value: 'w2@x', type: 'Work' }]);
});

test('replace of emails[type eq "work"] with an object changes the sub-attributes it names and leaves the others (RFC 7644 §3.5.2.3)', () => {
  const start = { ...plainUser(), emails: [{ value: 'w@x', type: 'work', display: 'old' }, { value: 'h@x', type: 'home' }] };
  const user = patchUser(start, { op: 'replace', path: 'emails[type eq "work"]', value: { value: 'w2@x' } });
  assert.deepEqual(user['emails'], [{ value: 'w2@x', type: 'work', display: 'old' }, { value: 'h@x', type: 'home' }]);
  // Wholesale, the address itself was lost: only the filter's own condition was kept.
  const primary = patchUser(start, { op: 'replace', path: 'emails[type eq "home"]', value: { primary: true } });
  assert.deepEqual(primary['emails'], [{ value: 'w@x', type: 'work', display: 'old' }, { value: 'h@x', type: 'home', primary: true }]);
  // The RFC's own example gives the whole value: every sub-attribute it names is the new one.
  const whole = patchUser(start, { op: 'replace', path: 'emails[type eq "work"]', value: { type: 'work', value: 'w3@x', display: 'new', primary: true } });
  assert.deepEqual((whole['emails'] as JsonObject[])[0], { value: 'w3@x', type: 'work', display: 'new', primary: true });
  const merged = patchUser(start, { op: 'add', path: 'emails[type eq "work"]', value: { display: 'new' } });
  assert.deepEqual((merged['emails'] as JsonObject[])[0], { value: 'w@x', type: 'work', display: 'new' });
});

test('remove with a value filter removes the matching elements; no match is a no-op', () => {
  const start = { ...plainUser(), emails: [{ value: 'w@x', type: 'work' }, { value: 'h@x', type: 'home' }] };
  const user = patchUser(start, { op: 'remove', path: 'emails[type eq "work"]' });
  assert.deepEqual(user['emails'], [{ value: 'h@x', type: 'home' }]);
  assert.deepEqual(patchUser(start, { op: 'remove', path: 'emails[type eq "other"]' }), { ...start, schemas: [USER_SCHEMA] });
  const none = patchUser(user, { op: 'remove', path: 'emails[type eq "home"]' });
  assert.equal(none['emails'], undefined);
});

test('remove of a sub-attribute through a value path removes it from the matches only', () => {
  const start = { ...plainUser(), emails: [{ value: 'w@x', type: 'work', display: 'W' }, { value: 'h@x', type: 'home', display: 'H' }] };
  const user = patchUser(start, { op: 'remove', path: 'emails[type eq "work"].display' });
  assert.deepEqual(user['emails'], [{ value: 'w@x', type: 'work' }, { value: 'h@x', type: 'home', display: 'H' }]);
});

test('remove of an element\'s value (Entra ID clearing the work email) removes the element, as it would mean nothing', () => {
  const start = { ...plainUser(), emails: [{ value: 'w@x', type: 'work', primary: true }, { value: 'h@x', type: 'home' }], phoneNumbers: [{ value: '+1 555', type: 'work' }] };
  const user = patchUser(start, { op: 'Remove', path: 'emails[type eq "work"].value' });
  assert.deepEqual(user['emails'], [{ value: 'h@x', type: 'home' }]);
  const noPhone = patchUser(start, { op: 'remove', path: 'phoneNumbers[type eq "work"].value' });
  assert.equal(noPhone['phoneNumbers'], undefined);
  // Every element's value, without a filter: the attribute goes.
  assert.equal(patchUser(start, { op: 'remove', path: 'emails.value' })['emails'], undefined);
});

test('a value filter on a single-valued attribute is 400 invalidPath', () => {
  rejects(() => patchUser(barbara(), { op: 'replace', path: 'name[givenName eq "B"].familyName', value: 'x' }), 'invalidPath', /not a multi-valued complex attribute/);
  rejects(() => patchUser(barbara(), { op: 'replace', path: 'emails[type eq "work"].nope', value: 'x' }), 'invalidPath', /emails has no sub-attribute nope/);
});

test('a sub-attribute of a multi-valued attribute without a filter applies to every value', () => {
  const start = { ...plainUser(), emails: [{ value: 'a@x' }, { value: 'b@x' }] };
  const user = patchUser(start, { op: 'replace', path: 'emails.type', value: 'work' });
  assert.deepEqual(user['emails'], [{ value: 'a@x', type: 'work' }, { value: 'b@x', type: 'work' }]);
  const removed = patchUser(user, { op: 'remove', path: 'emails.type' });
  assert.deepEqual(removed['emails'], [{ value: 'a@x' }, { value: 'b@x' }]);
});

// ---- applyPatch: booleans, singular and complex attributes

test('{"op":"replace","path":"active","value":"False"} deactivates (Entra default dialect)', () => {
  assert.equal(patchUser(barbara(), { op: 'Replace', path: 'active', value: 'False' })['active'], false);
  assert.equal(patchUser(barbara(), { op: 'replace', path: 'active', value: false })['active'], false);
  assert.equal(patchUser({ ...barbara(), active: false }, { op: 'Replace', path: 'active', value: 'True' })['active'], true);
});

test('{"op":"replace","value":{"active":false}} deactivates (Okta)', () => {
  assert.equal(patchUser(barbara(), { op: 'replace', value: { active: false } })['active'], false);
  assert.equal(patchUser(barbara(), { op: 'replace', value: { active: 'False' } })['active'], false);
});

test('a value of the wrong type is 400 invalidValue naming the path', () => {
  rejects(() => patchUser(barbara(), { op: 'replace', path: 'active', value: 'nope' }), 'invalidValue', /^active must be a boolean/);
  rejects(() => patchUser(barbara(), { op: 'replace', path: 'emails[type eq "work"].primary', value: 'maybe' }), 'invalidValue', /^emails\[type eq "work"\]\.primary must be a boolean/);
  rejects(() => patchUser(barbara(), { op: 'replace', value: { name: 'Barbara' } }), 'invalidValue', /^name must be a complex value/);
  rejects(() => patchUser(barbara(), { op: 'add', path: 'roles', value: [{ value: 'a', primary: 'yes' }] }), 'invalidValue', /^roles\[0\]\.primary must be a boolean/);
});

test('"True"/"False" are coerced inside multi-valued complex values such as roles[].primary', () => {
  const user = patchUser(plainUser(), { op: 'Add', path: 'roles', value: [{ value: 'Admin', primary: 'True', type: 'WindowsAzureActiveDirectoryRole' }] });
  assert.deepEqual(user['roles'], [{ value: 'Admin', primary: true, type: 'WindowsAzureActiveDirectoryRole' }]);
});

test('"Add" of a single-valued string attribute sets it (Entra nickName)', () => {
  assert.equal(patchUser(barbara(), { op: 'Add', path: 'nickName', value: 'Babs' })['nickName'], 'Babs');
  assert.equal(patchUser({ ...barbara(), nickName: 'Old' }, { op: 'add', path: 'nickName', value: 'Babs' })['nickName'], 'Babs');
});

test('replace of a singular attribute with null, or remove, unassigns it', () => {
  const start = { ...barbara(), title: 'Boss' };
  assert.equal(patchUser(start, { op: 'replace', path: 'title', value: null })['title'], undefined);
  assert.equal(patchUser(start, { op: 'remove', path: 'title' })['title'], undefined);
  assert.equal(patchUser(start, { op: 'replace', value: { title: null } })['title'], undefined);
});

test('remove of name.givenName keeps the rest of name; removing the last sub-attribute removes name', () => {
  const user = patchUser(barbara(), { op: 'remove', path: 'name.givenName' });
  assert.deepEqual(user['name'], { familyName: 'Jensen' });
  assert.equal(patchUser(user, { op: 'remove', path: 'name.familyName' })['name'], undefined);
});

test('add and replace of a complex attribute merge the given sub-attributes (RFC 7644 §3.5.2.1, §3.5.2.3)', () => {
  assert.deepEqual(patchUser(barbara(), { op: 'replace', path: 'name', value: { middleName: 'Jane' } })['name'], {
    givenName: 'Barbara',
    familyName: 'Jensen',
    middleName: 'Jane',
  });
  assert.deepEqual(patchUser(barbara(), { op: 'add', value: { name: { givenName: 'Babs' } } })['name'], { givenName: 'Babs', familyName: 'Jensen' });
});

test('add to a multi-valued attribute appends, skipping values already present; replace replaces', () => {
  const added = patchUser(barbara(), {
    op: 'add',
    path: 'emails',
    value: [{ value: 'bjensen@example.com', type: 'work', primary: true }, { value: 'babs@home.example', type: 'home' }],
  });
  assert.deepEqual(added['emails'], [
    { value: 'bjensen@example.com', type: 'work', primary: true },
    { value: 'babs@home.example', type: 'home' },
  ]);
  const replaced = patchUser(barbara(), { op: 'replace', path: 'emails', value: [{ value: 'only@x' }] });
  assert.deepEqual(replaced['emails'], [{ value: 'only@x' }]);
  const single = patchUser(barbara(), { op: 'add', path: 'phoneNumbers', value: { type: 'work', value: '1234567890' } });
  assert.deepEqual(single['phoneNumbers'], [{ type: 'work', value: '1234567890' }]);
});

test('a new primary value makes the previous primary non-primary (RFC 7644 §3.5.2)', () => {
  const added = patchUser(barbara(), { op: 'add', path: 'emails', value: [{ value: 'new@x', type: 'home', primary: true }] });
  assert.deepEqual(added['emails'], [
    { value: 'bjensen@example.com', type: 'work', primary: false },
    { value: 'new@x', type: 'home', primary: true },
  ]);
  const start = { ...plainUser(), emails: [{ value: 'w@x', type: 'work', primary: true }, { value: 'h@x', type: 'home' }] };
  const switched = patchUser(start, { op: 'replace', path: 'emails[type eq "home"].primary', value: 'True' });
  assert.deepEqual(switched['emails'], [{ value: 'w@x', type: 'work', primary: false }, { value: 'h@x', type: 'home', primary: true }]);
});

test('two primary values in one PATCH value are 400 invalidValue', () => {
  rejects(
    () => patchUser(plainUser(), { op: 'replace', path: 'emails', value: [{ value: 'a@x', primary: true }, { value: 'b@x', primary: true }] }),
    'invalidValue',
    /^emails has 2 values with primary set to true/,
  );
});

test('remove of a multi-valued attribute with a value list removes just those values', () => {
  const start = { ...plainUser(), emails: [{ value: 'a@x' }, { value: 'B@x' }, { value: 'c@x' }] };
  const user = patchUser(start, { op: 'Remove', path: 'emails', value: [{ value: 'a@x' }, { value: 'b@x' }] });
  assert.deepEqual(user['emails'], [{ value: 'c@x' }]);
  assert.equal(patchUser(start, { op: 'remove', path: 'emails' })['emails'], undefined);
});

test('several operations on the same attribute apply in order', () => {
  const user = patchUser(
    plainUser(),
    { op: 'add', path: 'title', value: 'One' },
    { op: 'replace', path: 'title', value: 'Two' },
    { op: 'add', path: 'emails', value: [{ value: 'a@x', type: 'work' }] },
    { op: 'replace', path: 'emails[type eq "work"].value', value: 'b@x' },
    { op: 'remove', path: 'emails[value eq "b@x"]' },
    { op: 'add', path: 'emails', value: [{ value: 'c@x' }] },
  );
  assert.equal(user['title'], 'Two');
  assert.deepEqual(user['emails'], [{ value: 'c@x' }]);
});

test('the multi-valued size limit is re-checked after an add', () => {
  const start = { ...plainUser(), emails: Array.from({ length: 1000 }, (_, i) => ({ value: `u${i}@x` })) };
  rejects(() => patchUser(start, { op: 'add', path: 'emails', value: [{ value: 'one-more@x' }] }), 'invalidValue', /^emails has 1001 values/);
});

test('removing or nulling a required attribute is 400 invalidValue', () => {
  rejects(() => patchUser(barbara(), { op: 'remove', path: 'userName' }), 'invalidValue', /^userName is required and cannot be removed from a User$/);
  rejects(() => patchUser(barbara(), { op: 'replace', value: { userName: null } }), 'invalidValue', /userName is required/);
  rejects(() => applyPatch('Group', { schemas: [GROUP_SCHEMA], displayName: 'g' }, parsePatchRequest(message({ op: 'remove', path: 'displayName' }))), 'invalidValue', /displayName is required/);
});

// ---- applyPatch: manager and the enterprise extension

test('manager sent with path manager and a string value becomes {value}', () => {
  const user = patchUser(plainUser(), { op: 'Add', path: 'manager', value: 'boss-id' });
  assert.deepEqual(user[EXT], { manager: { value: 'boss-id' } });
  assert.deepEqual(user['schemas'], [USER_SCHEMA, EXT]);
});

test('manager as [{"value":id}], {"value":id} or via the URN path is normalised to {value}', () => {
  for (const [path, value] of [
    ['manager', [{ value: 'boss-id' }]],
    ['manager', { value: 'boss-id' }],
    [`${EXT}:manager`, 'boss-id'],
    [`${EXT}:manager`, [{ value: 'boss-id' }]],
    [`${EXT}:manager.value`, 'boss-id'],
  ] as const) {
    const user = patchUser(barbara(), { op: 'replace', path, value });
    assert.deepEqual((user[EXT] as JsonObject)['manager'], { value: 'boss-id' }, `${path} ${JSON.stringify(value)}`);
  }
});

test('manager removal unassigns it and drops an emptied extension', () => {
  const user = patchUser(barbara(), { op: 'Remove', path: `${EXT}:manager`, value: [{ value: '26118915-6090-4610-87e4-49d8ca9f808d' }] });
  assert.deepEqual(user[EXT], { employeeNumber: '701984' });
  const bare = patchUser(user, { op: 'remove', path: `${EXT}:employeeNumber` });
  assert.equal(bare[EXT], undefined);
  assert.deepEqual(bare['schemas'], [USER_SCHEMA]);
});

test('manager.displayName is readOnly: a path to it is 400 mutability', () => {
  rejects(() => patchUser(barbara(), { op: 'replace', path: `${EXT}:manager.displayName`, value: 'x' }), 'mutability', /readOnly/);
});

test('an extension URN path or value object adds, replaces and removes extension attributes', () => {
  const added = patchUser(plainUser(), { op: 'add', path: EXT, value: { department: 'Sales', costCenter: '42' } });
  assert.deepEqual(added[EXT], { costCenter: '42', department: 'Sales' });
  const replaced = patchUser(added, { op: 'replace', value: { [EXT]: { department: 'R&D' } } });
  assert.deepEqual(replaced[EXT], { costCenter: '42', department: 'R&D' });
  assert.equal(patchUser(replaced, { op: 'remove', path: EXT })[EXT], undefined);
  rejects(() => patchUser(plainUser(), { op: 'add', path: EXT, value: 'Sales' }), 'invalidValue', /must be an object of EnterpriseUser attributes/);
});

test('the core schema URN as a path is 400 invalidPath', () => {
  rejects(() => patchUser(plainUser(), { op: 'add', path: USER_SCHEMA, value: { title: 'x' } }), 'invalidPath', /is not an extension/);
});

// ---- applyPatch: duplicates in multi-valued attributes (RFC 7643 §2.4)

test('add of an email that differs only in case from one present adds nothing (emails.value is not case-exact)', () => {
  const start = { ...plainUser(), emails: [{ value: 'carol@x.example', type: 'work' }] };
  const user = patchUser(start, { op: 'add', path: 'emails', value: [{ value: 'CAROL@x.example', type: 'work' }] });
  assert.deepEqual(user['emails'], [{ value: 'carol@x.example', type: 'work' }]);
});

test('the same (type, value) twice collapses to one after every kind of operation', () => {
  const phone = { value: '+1 555 0100', type: 'work' };
  for (const operation of [
    { op: 'add', path: 'phoneNumbers', value: [phone, phone] },
    { op: 'replace', path: 'phoneNumbers', value: [phone, { ...phone, type: 'WORK' }] },
    { op: 'replace', value: { phoneNumbers: [phone, phone] } },
    { op: 'add', value: { [`${USER_SCHEMA}:phoneNumbers`]: [phone, phone] } },
  ]) {
    assert.deepEqual(patchUser(plainUser(), operation)['phoneNumbers'], [phone], JSON.stringify(operation));
  }
  const start = { ...plainUser(), emails: [{ value: 'a@x', type: 'work' }, { value: 'b@x', type: 'work' }, { value: 'a@x' }] };
  const renamed = patchUser(start, { op: 'replace', path: 'emails[value eq "b@x"].value', value: 'A@X' });
  assert.deepEqual(renamed['emails'], [{ value: 'a@x', type: 'work' }, { value: 'a@x' }]);
  const untyped = patchUser(start, { op: 'remove', path: 'emails[type eq "work"].type' });
  assert.deepEqual(untyped['emails'], [{ value: 'a@x' }, { value: 'b@x' }]);
  const replaced = patchUser(start, { op: 'replace', path: 'emails[value eq "b@x"]', value: { value: 'a@x', type: 'Work' } });
  assert.deepEqual(replaced['emails'], [{ value: 'a@x', type: 'work' }, { value: 'a@x' }]);
});

test('the same value with another type is not a duplicate', () => {
  const user = patchUser(plainUser(), { op: 'add', path: 'emails', value: [{ value: 'a@x', type: 'work' }, { value: 'A@x', type: 'home' }, { value: 'a@x' }] });
  assert.deepEqual(user['emails'], [{ value: 'a@x', type: 'work' }, { value: 'A@x', type: 'home' }, { value: 'a@x' }]);
});

test('duplicates that disagree merge: primary if any was, the display of the last that has one; one primary survives', () => {
  const start = {
    ...plainUser(),
    emails: [{ value: 'carol@x.example', type: 'work', display: 'Carol' }, { value: 'bob@x.example', type: 'work', primary: true }],
  };
  const user = patchUser(start, { op: 'add', path: 'emails', value: [{ value: 'CAROL@x.example', type: 'work', primary: true, display: 'Carol (work)' }] });
  assert.deepEqual(user['emails'], [
    { value: 'carol@x.example', type: 'work', display: 'Carol (work)', primary: true },
    { value: 'bob@x.example', type: 'work', primary: false },
  ]);
  const kept = patchUser(user, { op: 'add', path: 'emails', value: { value: 'Carol@X.example', type: 'work' } });
  assert.deepEqual(kept['emails'], user['emails'], 'a duplicate without primary or display changes neither');
  const both = patchUser(plainUser(), { op: 'replace', path: 'emails', value: [{ value: 'a@x', primary: true }, { value: 'A@X', primary: true }] });
  assert.deepEqual(both['emails'], [{ value: 'a@x', primary: true }]);
});

test('duplicates follow each attribute\'s case rule: addresses by every component, binary and reference values exactly', () => {
  const address = { type: 'work', streetAddress: '1 Main St', locality: 'Redmond' };
  const addresses = patchUser(plainUser(), { op: 'add', path: 'addresses', value: [address, { ...address, streetAddress: '1 MAIN ST', primary: true }] });
  assert.deepEqual(addresses['addresses'], [{ ...address, primary: true }]);
  const other = patchUser(plainUser(), { op: 'add', path: 'addresses', value: [address, { ...address, postalCode: '98052' }] });
  assert.equal((other['addresses'] as unknown[]).length, 2);
  // RFC 7643 §2.3.6: "A binary is case exact"; §2.3.7: "A reference is case exact".
  const certificates = patchUser(plainUser(), { op: 'add', path: 'x509Certificates', value: [{ value: 'TUlJQg==' }, { value: 'tuliqg==' }, { value: 'TUlJQg==' }] });
  assert.deepEqual(certificates['x509Certificates'], [{ value: 'TUlJQg==' }, { value: 'tuliqg==' }]);
  const photos = patchUser(plainUser(), { op: 'add', path: 'photos', value: [{ value: 'https://x.example/A.jpg' }, { value: 'https://x.example/a.jpg' }] });
  assert.equal((photos['photos'] as unknown[]).length, 2);
  // A value path naming one of them selects that one only (both were removed, or both changed).
  const removed = patchUser(photos, { op: 'remove', path: 'photos[value eq "https://x.example/A.jpg"]' });
  assert.deepEqual(removed['photos'], [{ value: 'https://x.example/a.jpg' }]);
  const changed = patchUser(photos, { op: 'replace', path: 'photos[value eq "https://x.example/a.jpg"].display', value: 'small' });
  assert.deepEqual(changed['photos'], [{ value: 'https://x.example/A.jpg' }, { value: 'https://x.example/a.jpg', display: 'small' }]);
});

// ---- applyPatch: readOnly, unknown, id

test("Okta's group rename repeating the group's own id is accepted; a different id is 400 mutability", () => {
  const group = { schemas: [GROUP_SCHEMA], displayName: 'Test SCIMv2' };
  const operations = parsePatchRequest(message({ op: 'replace', value: { id: 'abf4dd94-a4c0-4f67-89c9-76b03340cb9b', displayName: 'Test SCIMv20' } }));
  const renamed = applyPatch('Group', group, operations, { id: 'abf4dd94-a4c0-4f67-89c9-76b03340cb9b' });
  assert.deepEqual(renamed, { schemas: [GROUP_SCHEMA], displayName: 'Test SCIMv20' });
  assert.deepEqual(applyPatch('Group', group, operations), renamed, 'without options.id, id is just ignored');
  rejects(() => applyPatch('Group', group, operations, { id: 'another-id' }), 'mutability', /id is readOnly/);
});

test('readOnly attributes in a no-path value are ignored and reported', () => {
  const ignored: string[] = [];
  const user = applyPatch(
    'User',
    barbara(),
    parsePatchRequest(message({ op: 'replace', value: { meta: { resourceType: 'User' }, groups: [{ value: 'g' }], title: 'T', shoeSize: 9 } })),
    { ignored },
  );
  assert.equal(user['title'], 'T');
  assert.equal(user['groups'], undefined);
  assert.deepEqual(ignored.sort(), ['groups', 'meta', 'shoeSize']);
});

test('a path to id, meta, meta.* or groups is 400 mutability', () => {
  for (const path of ['id', 'meta', 'meta.lastModified', 'groups', 'groups[value eq "g"]']) {
    rejects(() => patchUser(barbara(), { op: 'replace', path, value: 'x' }), 'mutability', /readOnly and cannot be changed/);
  }
  rejects(() => patchUser(barbara(), { op: 'remove', path: 'id' }), 'mutability', /readOnly/);
});

test('a path to an unknown attribute is 400 invalidPath', () => {
  rejects(() => patchUser(barbara(), { op: 'replace', path: 'shoeSize', value: 9 }), 'invalidPath', /^The path "shoeSize" names no attribute of a User$/);
  rejects(() => patchUser(barbara(), { op: 'replace', path: 'name.nickname', value: 'x' }), 'invalidPath', /names no attribute/);
  // A core schema of another resource type is no unknown extension to ignore: a User has no displayName of a Group's.
  rejects(() => patchUser(barbara(), { op: 'replace', path: `${GROUP_SCHEMA}:displayName`, value: 'x' }), 'invalidPath', /names no attribute of a User/);
  rejects(() => patchUser(barbara(), { op: 'replace', path: 'URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:GROUP:members', value: [] }), 'invalidPath', /names no attribute of a User/);
});

test('a path into an extension Roster does not know is ignored and reported; the other operations apply', () => {
  const CUSTOM = 'urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User';
  const ignored: string[] = [];
  const user = applyPatch(
    'User',
    barbara(),
    parsePatchRequest(message(
      { op: 'Add', path: `${CUSTOM}:customAttribute`, value: '701984' },
      { op: 'replace', path: 'title', value: 'Lead' },
      { op: 'Replace', path: `${CUSTOM}:customAttribute`, value: 'x' },
      { op: 'remove', path: `${CUSTOM}:customAttribute` },
      { op: 'replace', path: `${CUSTOM}:emails[type eq "work"].value`, value: 'x@x' },
      { op: 'add', path: CUSTOM, value: { customAttribute: 'y' } },
      { op: 'add', value: { [`${CUSTOM}:customAttribute`]: 'z', [`${CUSTOM}:emails[type eq "work"].value`]: 'z@x', [CUSTOM]: { a: 1 }, nickName: 'Babs' } },
    )),
    { ignored },
  );
  assert.equal(user['title'], 'Lead');
  assert.equal(user['nickName'], 'Babs');
  assert.deepEqual(user['emails'], barbara()['emails']);
  assert.equal(user[CUSTOM], undefined);
  assert.ok(ignored.length > 0 && ignored.every((path) => path.startsWith(CUSTOM)), ignored.join(', '));
  const group = applyPatch('Group', { schemas: [GROUP_SCHEMA], displayName: 'G' }, parsePatchRequest(message(
    { op: 'replace', path: 'urn:ietf:params:scim:schemas:extension:Custom:2.0:Group:tag', value: 'x' },
    { op: 'replace', path: 'displayName', value: 'H' },
  )));
  assert.deepEqual(group, { schemas: [GROUP_SCHEMA], displayName: 'H' });
});

test('an unknown attribute of a schema Roster implements stays 400 invalidPath, with or without its URN', () => {
  for (const path of [`${EXT}:shoeSize`, `${USER_SCHEMA}:shoeSize`, 'shoeSize', `${EXT}:manager.shoeSize`]) {
    rejects(() => patchUser(barbara(), { op: 'replace', path, value: 'x' }), 'invalidPath', /names no attribute of a User/);
  }
});

test('a value path used as a key of a no-path value is applied like a path', () => {
  const user = patchUser(plainUser(), { op: 'replace', value: { 'emails[type eq "work"].value': 'w@x' } });
  assert.deepEqual(user['emails'], [{ type: 'work', value: 'w@x' }]);
});

test('an attribute or sub-attribute given twice in another case in a PATCH value is 400 invalidSyntax naming both keys', () => {
  const cases: [unknown, RegExp][] = [
    [{ op: 'replace', value: { title: 't1', TITLE: 't2' } }, /gives title twice, as "title" and "TITLE"; send it once/],
    [{ op: 'add', value: { name: { givenName: 'a' }, 'NAME.givenName': 'b' } }, /gives name\.givenName twice/],
    [{ op: 'replace', value: { [EXT]: { department: 'a', Department: 'b' } } }, /gives urn:.*:User:department twice/],
    [{ op: 'replace', value: { [`${EXT}:department`]: 'a', [EXT]: { department: 'b' } } }, /gives urn:.*:User:department twice/],
    [{ op: 'replace', path: EXT, value: { employeeNumber: '1', EMPLOYEENUMBER: '2' } }, /gives urn:.*:User:employeeNumber twice/],
    [{ op: 'replace', path: 'name', value: { familyName: 'f1', FamilyName: 'f2' } }, /gives name\.familyName twice, as "familyName" and "FamilyName"/],
    [{ op: 'add', path: 'emails', value: [{ value: 'a@x.io', Value: 'b@x.io' }] }, /gives emails\[0\]\.value twice/],
    [{ op: 'replace', path: 'emails[type eq "work"]', value: { value: 'a@x.io', VALUE: 'b@x.io' } }, /\.value twice/],
    [{ op: 'replace', value: { name: { givenName: 'a', GIVENNAME: 'b' } } }, /gives name\.givenName twice/],
  ];
  for (const [operation, detail] of cases) rejects(() => patchUser(barbara(), operation), 'invalidSyntax', detail);
});

test('a Group PATCH giving members, or a member\'s value, twice in another case is 400 invalidSyntax', () => {
  rejects(() => split({ op: 'add', path: 'members', value: [{ value: 'u1', VALUE: 'u2' }] }), 'invalidSyntax', /gives members\[0\]\.value twice, as "value" and "VALUE"/);
  rejects(() => split({ op: 'remove', path: 'members', value: [{ Value: 'u1', value: 'u2' }] }), 'invalidSyntax', /gives members\[0\]\.value twice/);
  rejects(() => split({ op: 'replace', value: { members: [{ value: 'u1' }], Members: [{ value: 'u2' }] } }), 'invalidSyntax', /gives members twice, as "members" and "Members"/);
});

test('applyPatch returns a new document and never mutates its input', () => {
  const start = barbara();
  const frozen = structuredClone(start);
  const user = patchUser(start, { op: 'replace', path: 'name.givenName', value: 'B' }, { op: 'add', path: 'emails', value: [{ value: 'x@y' }] });
  assert.deepEqual(start, frozen);
  assert.notEqual(user, start);
});

test('applyPatch refuses Group member operations that were not split out (a programming error)', () => {
  const group = { schemas: [GROUP_SCHEMA], displayName: 'g' };
  assert.throws(
    () => applyPatch('Group', group, parsePatchRequest(message({ op: 'add', path: 'members', value: [{ value: 'u1' }] }))),
    /splitGroupMemberOperations/,
  );
});

// ---- splitGroupMemberOperations

function split(...operations: unknown[]): ReturnType<typeof splitGroupMemberOperations> {
  return splitGroupMemberOperations(parsePatchRequest(message(...operations)));
}

test("Okta's membership update: remove members[value eq] then add members, in order", () => {
  const { memberChanges, otherOperations } = split(
    { op: 'remove', path: 'members[value eq "89bb1940-b905-4575-9e7f-6f887cfb368e"]' },
    { op: 'add', path: 'members', value: [{ value: '23a35c27-23d3-4c03-b4c5-6443c09e7173', display: 'test.user@okta.local' }] },
  );
  assert.deepEqual(memberChanges, [
    { kind: 'remove', ids: ['89bb1940-b905-4575-9e7f-6f887cfb368e'] },
    { kind: 'add', ids: ['23a35c27-23d3-4c03-b4c5-6443c09e7173'] },
  ]);
  assert.deepEqual(otherOperations, []);
});

test("Okta's full membership push with replace path members", () => {
  const { memberChanges } = split({
    op: 'replace',
    path: 'members',
    value: [{ value: '23a35c27', display: 'a' }, { value: '89bb1940', display: 'b' }],
  });
  assert.deepEqual(memberChanges, [{ kind: 'replace', ids: ['23a35c27', '89bb1940'] }]);
  assert.deepEqual(split({ op: 'replace', path: 'members', value: [] }).memberChanges, [{ kind: 'removeAll' }]);
});

test("Entra's Add members with $ref null, and its old Remove with a value list", () => {
  assert.deepEqual(split({ op: 'Add', path: 'members', value: [{ $ref: null, value: 'f648f8d5ea4e4cd38e9c' }] }).memberChanges, [
    { kind: 'add', ids: ['f648f8d5ea4e4cd38e9c'] },
  ]);
  assert.deepEqual(split({ op: 'Remove', path: 'members', value: [{ $ref: null, value: 'f648f8d5ea4e4cd38e9c' }, { value: 'u1091' }] }).memberChanges, [
    { kind: 'remove', ids: ['f648f8d5ea4e4cd38e9c', 'u1091'] },
  ]);
  assert.deepEqual(split({ op: 'Remove', path: 'members', value: [] }).memberChanges, [], 'removing an empty list removes nobody');
});

test('remove path members without a value removes every member', () => {
  assert.deepEqual(split({ op: 'remove', path: 'members' }).memberChanges, [{ kind: 'removeAll' }]);
  assert.deepEqual(split({ op: 'remove', path: 'Members' }).memberChanges, [{ kind: 'removeAll' }]);
});

test('remove members[value eq "a" or value eq "b"] lists the ids; other filters become removeWhere', () => {
  assert.deepEqual(split({ op: 'remove', path: 'members[value eq "a" or VALUE eq "b"]' }).memberChanges, [{ kind: 'remove', ids: ['a', 'b'] }]);
  const { memberChanges } = split({ op: 'remove', path: 'members[value sw "a"]' });
  assert.equal(memberChanges[0]?.kind, 'removeWhere');
  assert.deepEqual(memberChanges[0]?.kind === 'removeWhere' && memberChanges[0].filter, {
    kind: 'compare',
    path: { attribute: 'value' },
    op: 'sw',
    value: 'a',
  });
  assert.equal(split({ op: 'remove', path: 'members[value eq "a" and type eq "User"]' }).memberChanges[0]?.kind, 'removeWhere');
});

test('remove members[value eq "x"].value is a remove of that member; .display is 400 mutability', () => {
  assert.deepEqual(split({ op: 'remove', path: 'members[value eq "x"].value' }).memberChanges, [{ kind: 'remove', ids: ['x'] }]);
  rejects(() => split({ op: 'remove', path: 'members[value eq "x"].display' }), 'mutability', /members\.display cannot be changed/);
});

test('add or replace on a filtered members path, or on members.value, is 400 invalidPath', () => {
  rejects(() => split({ op: 'add', path: 'members[value eq "x"]', value: { value: 'x' } }), 'invalidPath', /to add members use/);
  rejects(() => split({ op: 'replace', path: 'members.value', value: 'x' }), 'invalidPath', /name the members themselves/);
});

test('a members value path used as a key of a no-path value is split out too (400 invalidPath, not a 500)', () => {
  rejects(() => split({ op: 'add', value: { 'members[value eq "x"]': [{ value: 'x' }] } }), 'invalidPath', /to add members use/);
  rejects(() => split({ op: 'replace', value: { 'members[value eq "x"].value': 'y' } }), 'invalidPath', /to add members use/);
  const { otherOperations } = split({ op: 'add', value: { 'emails[type eq "work"].value': 'a@example.com' } });
  assert.equal(otherOperations.length, 1, 'other value-path keys still reach applyPatch');
});

test('members inside a no-path add are split out; the other attributes stay an operation', () => {
  const { memberChanges, otherOperations } = split({ op: 'add', value: { displayName: 'Renamed', members: [{ value: 'u1' }, { value: 'u2' }] } });
  assert.deepEqual(memberChanges, [{ kind: 'add', ids: ['u1', 'u2'] }]);
  assert.deepEqual(otherOperations, [{ op: 'add', value: { displayName: 'Renamed' } }]);
  const group = applyPatch('Group', { schemas: [GROUP_SCHEMA], displayName: 'g' }, otherOperations);
  assert.equal(group['displayName'], 'Renamed');
});

test('members inside a no-path replace are a full replace; null or [] removes all', () => {
  assert.deepEqual(split({ op: 'replace', value: { members: [{ value: 'u1' }] } }), {
    memberChanges: [{ kind: 'replace', ids: ['u1'] }],
    otherOperations: [],
  });
  assert.deepEqual(split({ op: 'replace', value: { members: null } }).memberChanges, [{ kind: 'removeAll' }]);
  assert.deepEqual(split({ op: 'replace', value: { [`${GROUP_SCHEMA}:members`]: [] } }).memberChanges, [{ kind: 'removeAll' }]);
});

test('member ids must be non-empty strings in objects: 400 invalidValue otherwise', () => {
  rejects(() => split({ op: 'add', path: 'members', value: [{ value: 42 }] }), 'invalidValue', /^members\[0\]\.value must be the member's id/);
  rejects(() => split({ op: 'add', path: 'members', value: [{ display: 'x' }] }), 'invalidValue', /^members\[0\]\.value must be the member's id/);
  rejects(() => split({ op: 'add', path: 'members', value: [{ value: '' }] }), 'invalidValue', /non-empty string/);
  rejects(() => split({ op: 'add', path: 'members', value: ['u1'] }), 'invalidValue', /^members\[0\] must be an object/);
});

test('a members value that is one id string is that one member, on add and on remove (leniency)', () => {
  assert.deepEqual(split({ op: 'add', path: 'members', value: 'u1' }).memberChanges, [{ kind: 'add', ids: ['u1'] }]);
  assert.deepEqual(split({ op: 'remove', path: 'members', value: 'u2' }).memberChanges, [{ kind: 'remove', ids: ['u2'] }]);
  assert.deepEqual(split({ op: 'add', value: { members: 'u3' } }).memberChanges, [{ kind: 'add', ids: ['u3'] }]);
  rejects(() => split({ op: 'add', path: 'members', value: '' }), 'invalidValue', /must be an object/);
});

test('member ids are kept exactly as sent (no trimming), duplicates once', () => {
  assert.deepEqual(split({ op: 'add', path: 'members', value: [{ value: ' u1 ' }, { value: ' u1 ' }, { value: 'U1' }] }).memberChanges, [
    { kind: 'add', ids: [' u1 ', 'U1'] },
  ]);
});

test("Okta's rename stays an operation for applyPatch, and mixed requests keep member order", () => {
  const operations: PatchOperation[] = parsePatchRequest(
    message(
      { op: 'replace', value: { id: 'g1', displayName: 'New' } },
      { op: 'add', path: 'members', value: [{ value: 'a' }] },
      { op: 'remove', path: 'members[value eq "b"]' },
      { op: 'add', path: 'members', value: [{ value: 'b' }] },
      { op: 'Replace', path: 'externalId', value: 'ext' },
    ),
  );
  const { memberChanges, otherOperations } = splitGroupMemberOperations(operations);
  assert.deepEqual(memberChanges, [
    { kind: 'add', ids: ['a'] },
    { kind: 'remove', ids: ['b'] },
    { kind: 'add', ids: ['b'] },
  ]);
  assert.equal(otherOperations.length, 2);
  const group = applyPatch('Group', { schemas: [GROUP_SCHEMA], displayName: 'Old' }, otherOperations, { id: 'g1' });
  assert.deepEqual(group, { schemas: [GROUP_SCHEMA], externalId: 'ext', displayName: 'New' });
});
