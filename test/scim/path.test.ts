import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseAttributePath, parsePatchPath } from '../../src/scim/path.ts';
import type { AttributePath, ParseResult, PatchPath } from '../../src/scim/filter/ast.ts';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

function ok<T>(result: ParseResult<T>): T {
  if (!result.ok) assert.fail(`expected success, got: ${result.error.message}`);
  return result.value;
}

function error<T>(result: ParseResult<T>): { message: string; position: number } {
  if (result.ok) assert.fail(`expected an error, got ${JSON.stringify(result.value)}`);
  return result.error;
}

describe('parsePatchPath (RFC 7644 §3.5.2)', () => {
  const cases: readonly [string, PatchPath][] = [
    ['userName', { attribute: { attribute: 'userName' } }],
    ['name.givenName', { attribute: { attribute: 'name', subAttribute: 'givenName' } }],
    [`${ENTERPRISE}:manager`, { attribute: { schema: ENTERPRISE, attribute: 'manager' } }],
    [`${ENTERPRISE}:manager.value`, { attribute: { schema: ENTERPRISE, attribute: 'manager', subAttribute: 'value' } }],
    [
      'members[value eq "2819c223-7f76-453a-919d-413861904646"]',
      {
        attribute: { attribute: 'members' },
        filter: { kind: 'compare', path: { attribute: 'value' }, op: 'eq', value: '2819c223-7f76-453a-919d-413861904646' },
      },
    ],
    [
      'emails[type eq "work"].value',
      {
        attribute: { attribute: 'emails' },
        filter: { kind: 'compare', path: { attribute: 'type' }, op: 'eq', value: 'work' },
        subAttribute: 'value',
      },
    ],
    [
      'addresses[type eq "work" and primary eq true].streetAddress',
      {
        attribute: { attribute: 'addresses' },
        filter: {
          kind: 'and',
          left: { kind: 'compare', path: { attribute: 'type' }, op: 'eq', value: 'work' },
          right: { kind: 'compare', path: { attribute: 'primary' }, op: 'eq', value: true },
        },
        subAttribute: 'streetAddress',
      },
    ],
    [
      'urn:ietf:params:scim:schemas:core:2.0:User:emails[value ew "@example.com"]',
      {
        attribute: { schema: 'urn:ietf:params:scim:schemas:core:2.0:User', attribute: 'emails' },
        filter: { kind: 'compare', path: { attribute: 'value' }, op: 'ew', value: '@example.com' },
      },
    ],
  ];
  for (const [text, expected] of cases) {
    it(`parses ${text}`, () => {
      assert.deepEqual(ok(parsePatchPath(text)), expected);
    });
  }

  it('tolerates surrounding whitespace', () => {
    assert.deepEqual(ok(parsePatchPath('  displayName ')), { attribute: { attribute: 'displayName' } });
  });

  const errors: readonly [string, RegExp, number][] = [
    ['', /^empty path$/, 0],
    ['"userName"', /expected an attribute name but found a string/, 0],
    ['[value eq "x"]', /expected an attribute name but found '\['/, 0],
    ['members[value eq "x"', /'\[' at position 7 is never closed/, 20],
    ['members[value eq]', /expected a value/, 16],
    ['members[value[type pr]]', /value filters cannot be nested/, 13],
    ['emails[type eq "work"].value.display', /more than one '\.'/, 22],
    ['emails[type eq "work"].', /missing attribute name/, 23],
    ['emails[type eq "work"] value', /unexpected 'value' after the path/, 23],
    ['userName eq "x"', /unexpected 'eq' after the path/, 9],
    ['name.givenName[value pr]', /not to the sub-attribute/, 14],
    ['a.b.c', /more than one '\.'/, 0],
    ['emails[type eq "work"]]', /unexpected '\]'/, 22],
  ];
  for (const [text, message, position] of errors) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      const failure = error(parsePatchPath(text));
      assert.match(failure.message, message);
      assert.equal(failure.position, position, failure.message);
    });
  }
});

describe('parseAttributePath (attributes, excludedAttributes, sortBy)', () => {
  const cases: readonly [string, AttributePath][] = [
    ['userName', { attribute: 'userName' }],
    ['name.familyName', { attribute: 'name', subAttribute: 'familyName' }],
    ['emails.value', { attribute: 'emails', subAttribute: 'value' }],
    ['meta.lastModified', { attribute: 'meta', subAttribute: 'lastModified' }],
    [`${ENTERPRISE}:employeeNumber`, { schema: ENTERPRISE, attribute: 'employeeNumber' }],
    [`${ENTERPRISE}:manager.displayName`, { schema: ENTERPRISE, attribute: 'manager', subAttribute: 'displayName' }],
  ];
  for (const [text, expected] of cases) {
    it(`parses ${text}`, () => {
      assert.deepEqual(ok(parseAttributePath(text)), expected);
    });
  }

  const errors: readonly [string, RegExp, number][] = [
    ['', /^empty attribute path$/, 0],
    ['emails[type eq "work"]', /value filter is not allowed/, 6],
    ['userName displayName', /unexpected 'displayName' after the attribute path/, 9],
    ['name..familyName', /more than one '\.'/, 0],
    ['na me', /unexpected 'me'/, 3],
    ['-name', /invalid attribute name/, 0],
  ];
  for (const [text, message, position] of errors) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      const failure = error(parseAttributePath(text));
      assert.match(failure.message, message);
      assert.equal(failure.position, position, failure.message);
    });
  }
});
