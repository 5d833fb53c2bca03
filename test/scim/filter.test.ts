import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseFilter } from '../../src/scim/filter/index.ts';
import type { Filter } from '../../src/scim/filter/ast.ts';

function parsed(text: string): Filter {
  const result = parseFilter(text);
  if (!result.ok) assert.fail(`expected ${text} to parse, got: ${result.error.message}`);
  return result.value;
}

function failure(text: string): { message: string; position: number } {
  const result = parseFilter(text);
  if (result.ok) assert.fail(`expected ${text} to be rejected, got ${JSON.stringify(result.value)}`);
  return result.error;
}

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

describe('parseFilter: attribute expressions', () => {
  for (const op of ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le'] as const) {
    it(`parses the ${op} operator`, () => {
      assert.deepEqual(parsed(`userName ${op} "bjensen"`), {
        kind: 'compare',
        path: { attribute: 'userName' },
        op,
        value: 'bjensen',
      });
    });
  }

  it('reads an unquoted value that is no literal as a string (leniency), and literals as literals', () => {
    const value = (text: string) => {
      const filter = parsed(text);
      return filter.kind === 'compare' ? filter.value : assert.fail(`${text} is not a comparison`);
    };
    assert.equal(value('userName sw O'), 'O');
    assert.equal(value('name.familyName eq Employee'), 'Employee');
    assert.equal(value('meta.created gt 2015-10-10T14:38:21.8617979-07:00'), '2015-10-10T14:38:21.8617979-07:00');
    assert.equal(value('employeeNumber eq 01'), '01');
    assert.equal(value('title eq and'), 'and');
    assert.equal(value('active eq TRUE'), true);
    assert.equal(value('title eq null'), null);
    assert.equal(value('x eq 42'), 42);
    assert.deepEqual(parsed('userName sw O and title pr'), {
      kind: 'and',
      left: { kind: 'compare', path: { attribute: 'userName' }, op: 'sw', value: 'O' },
      right: { kind: 'present', path: { attribute: 'title' } },
    });
    assert.deepEqual(parsed('emails[type eq work]'), {
      kind: 'valuePath',
      path: { attribute: 'emails' },
      filter: { kind: 'compare', path: { attribute: 'type' }, op: 'eq', value: 'work' },
    });
  });

  it('parses pr', () => {
    assert.deepEqual(parsed('title pr'), { kind: 'present', path: { attribute: 'title' } });
  });

  it('lower-cases operators whatever the client wrote, and keeps names as written', () => {
    assert.deepEqual(parsed('USERNAME EQ "x"'), { kind: 'compare', path: { attribute: 'USERNAME' }, op: 'eq', value: 'x' });
    assert.deepEqual(parsed('title PR'), { kind: 'present', path: { attribute: 'title' } });
  });

  it('parses sub-attributes', () => {
    assert.deepEqual(parsed('name.familyName co "O\'Malley"'), {
      kind: 'compare',
      path: { attribute: 'name', subAttribute: 'familyName' },
      op: 'co',
      value: "O'Malley",
    });
  });

  it('splits fully qualified URN paths at the last colon', () => {
    assert.deepEqual(parsed('urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"'), {
      kind: 'compare',
      path: { schema: 'urn:ietf:params:scim:schemas:core:2.0:User', attribute: 'userName' },
      op: 'sw',
      value: 'J',
    });
    assert.deepEqual(parsed(`${ENTERPRISE}:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d"`), {
      kind: 'compare',
      path: { schema: ENTERPRISE, attribute: 'manager', subAttribute: 'value' },
      op: 'eq',
      value: '26118915-6090-4610-87e4-49d8ca9f808d',
    });
  });

  it('accepts $ref as a name', () => {
    assert.deepEqual(parsed('members.$ref pr'), { kind: 'present', path: { attribute: 'members', subAttribute: '$ref' } });
  });
});

describe('parseFilter: values', () => {
  it('decodes JSON string escapes', () => {
    assert.equal(
      (parsed(String.raw`x eq "a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00"`) as { value: unknown }).value,
      'a"b\\c/d\b\f\n\r\té😀',
    );
  });

  it('parses integers, decimals and exponents', () => {
    const value = (text: string) => (parsed(`x gt ${text}`) as { value: unknown }).value;
    assert.equal(value('0'), 0);
    assert.equal(value('42'), 42);
    assert.equal(value('-7'), -7);
    assert.equal(value('3.25'), 3.25);
    assert.equal(value('1e3'), 1000);
    assert.equal(value('-2.5E-2'), -0.025);
  });

  it('parses true, false and null in any case', () => {
    assert.equal((parsed('active eq true') as { value: unknown }).value, true);
    assert.equal((parsed('active eq FALSE') as { value: unknown }).value, false);
    assert.equal((parsed('title eq Null') as { value: unknown }).value, null);
  });
});

describe('parseFilter: logic', () => {
  const a = { kind: 'compare', path: { attribute: 'a' }, op: 'eq', value: 1 } as const;
  const b = { kind: 'compare', path: { attribute: 'b' }, op: 'eq', value: 2 } as const;
  const c = { kind: 'compare', path: { attribute: 'c' }, op: 'eq', value: 3 } as const;

  it('gives and precedence over or', () => {
    assert.deepEqual(parsed('a eq 1 or b eq 2 and c eq 3'), { kind: 'or', left: a, right: { kind: 'and', left: b, right: c } });
    assert.deepEqual(parsed('a eq 1 and b eq 2 or c eq 3'), { kind: 'or', left: { kind: 'and', left: a, right: b }, right: c });
  });

  it('associates to the left', () => {
    assert.deepEqual(parsed('a eq 1 and b eq 2 and c eq 3'), { kind: 'and', left: { kind: 'and', left: a, right: b }, right: c });
  });

  it('lets parentheses override precedence', () => {
    assert.deepEqual(parsed('(a eq 1 or b eq 2) and c eq 3'), { kind: 'and', left: { kind: 'or', left: a, right: b }, right: c });
  });

  it('binds not tighter than and', () => {
    assert.deepEqual(parsed('not (a eq 1) and b eq 2'), { kind: 'and', left: { kind: 'not', filter: a }, right: b });
    assert.deepEqual(parsed('NOT(a eq 1 or b eq 2)'), { kind: 'not', filter: { kind: 'or', left: a, right: b } });
  });

  it('accepts keywords in any case and extra whitespace', () => {
    assert.deepEqual(parsed('  a eq 1   OR\tb eq 2 '), { kind: 'or', left: a, right: b });
  });
});

describe('parseFilter: value filters', () => {
  it('parses a value filter whose paths are sub-attributes', () => {
    assert.deepEqual(parsed('emails[type eq "work" and value co "@example.com"]'), {
      kind: 'valuePath',
      path: { attribute: 'emails' },
      filter: {
        kind: 'and',
        left: { kind: 'compare', path: { attribute: 'type' }, op: 'eq', value: 'work' },
        right: { kind: 'compare', path: { attribute: 'value' }, op: 'co', value: '@example.com' },
      },
    });
  });

  it('combines value filters with other expressions', () => {
    assert.deepEqual(parsed('userType eq "Employee" and (emails[type eq "work"] or not (phoneNumbers pr))'), {
      kind: 'and',
      left: { kind: 'compare', path: { attribute: 'userType' }, op: 'eq', value: 'Employee' },
      right: {
        kind: 'or',
        left: { kind: 'valuePath', path: { attribute: 'emails' }, filter: { kind: 'compare', path: { attribute: 'type' }, op: 'eq', value: 'work' } },
        right: { kind: 'not', filter: { kind: 'present', path: { attribute: 'phoneNumbers' } } },
      },
    });
  });

  it('accepts not and parentheses inside brackets', () => {
    assert.deepEqual(parsed('emails[not (type eq "home")]'), {
      kind: 'valuePath',
      path: { attribute: 'emails' },
      filter: { kind: 'not', filter: { kind: 'compare', path: { attribute: 'type' }, op: 'eq', value: 'home' } },
    });
  });

  it('reads Entra ID\'s emails[type eq "work"].value eq "x" as one value filter', () => {
    assert.deepEqual(parsed('emails[type eq "work"].value eq "a@example.com"'), {
      kind: 'valuePath',
      path: { attribute: 'emails' },
      filter: {
        kind: 'and',
        left: { kind: 'compare', path: { attribute: 'type' }, op: 'eq', value: 'work' },
        right: { kind: 'compare', path: { attribute: 'value' }, op: 'eq', value: 'a@example.com' },
      },
    });
  });

  it('accepts a URN before the multi-valued attribute', () => {
    const filter = parsed('urn:ietf:params:scim:schemas:core:2.0:User:emails[primary eq true]');
    assert.equal(filter.kind, 'valuePath');
    assert.deepEqual(filter.kind === 'valuePath' && filter.path, { schema: 'urn:ietf:params:scim:schemas:core:2.0:User', attribute: 'emails' });
  });
});

describe('parseFilter: errors name the problem and its position', () => {
  const cases: readonly [string, RegExp, number][] = [
    ['', /^empty filter$/, 0],
    ['   ', /^empty filter$/, 0],
    ['userName', /expected an operator after 'userName'.* at position 8$/, 8],
    ['userName  "x"', /expected an operator after 'userName'/, 10],
    ['userName eq "bjensen', /^unterminated string starting at position 12$/, 12],
    ['userName eq "a\\qb"', /invalid escape '\\q'/, 14],
    ['userName eq "\\u12G4"', /invalid unicode escape/, 13],
    ['userName eq "a\\u0000"', /contains a NUL character/, 12],
    ['userName eq "\\ud800x"', /unpaired UTF-16 surrogate/, 12],
    ['members[value eq "\\udc00"]', /unpaired UTF-16 surrogate/, 17],
    ['userName eq', /expected a value .* after 'eq'/, 11],
    ["userName eq 'bjensen'", /double quotes/, 12],
    ['userName like "x"', /unknown operator 'like'/, 9],
    ['title pr "x"', /'pr' takes no value/, 9],
    ['title pr true', /'pr' takes no value/, 9],
    ['a pr)', /^unexpected '\)' at position 4$/, 4],
    [')', /^unexpected '\)' at position 0$/, 0],
    ['(a pr', /'\(' at position 0 is never closed: missing '\)'/, 5],
    ['(a pr b pr)', /expected 'and', 'or' or '\)' but found 'b'/, 6],
    ['a pr b pr', /expected 'and', 'or' or the end of the filter but found 'b'/, 5],
    ['a pr and', /expected an attribute name, 'not' or '\(' but found the end/, 8],
    ['and a pr', /expected an attribute name, 'not' or '\(' but found 'and'/, 0],
    ['not a pr', /expected '\(' after 'not'/, 4],
    ['()', /^unexpected '\)'/, 1],
    ['emails[type eq "work"', /'\[' at position 6 is never closed/, 21],
    ['emails[]', /unexpected '\]'/, 7],
    ['emails[type[value pr]]', /value filters cannot be nested/, 11],
    ['emails[value.x pr]', /name a sub-attribute of 'emails'/, 7],
    ['emails[urn:x:y:value pr]', /name a sub-attribute of 'emails'/, 7],
    ['name.familyName[value pr]', /not to the sub-attribute 'name.familyName'/, 15],
    ['emails[type eq "work"].value.x eq "x"', /more than one '\.'/, 22],
    ['emails[type eq "work"].value', /expected an operator after 'value'/, 28],
    ['a.b.c pr', /more than one '\.'/, 0],
    ['1abc pr', /invalid attribute name '1abc'/, 0],
    ['user@name pr', /invalid attribute name 'user@name'/, 0],
    ['name. pr', /missing attribute name/, 5],
    ['foo:bar pr', /must be a URN starting with 'urn:'/, 0],
    ['urn:ietf:params:scim:schemas:core:2.0:User: pr', /expected an attribute name after the schema URN/, 43],
    ['"userName" eq "x"', /expected an attribute name.*found the string "userName"/, 0],
    ['x eq 1e999', /out of range/, 5],
  ];
  for (const [text, message, position] of cases) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      const error = failure(text);
      assert.match(error.message, message);
      assert.equal(error.position, position, error.message);
    });
  }
});

describe('parseFilter: pathological input', () => {
  it('refuses deep nesting with a clear error instead of overflowing the stack', () => {
    const error = failure(`${'('.repeat(4000)}a pr${')'.repeat(4000)}`);
    assert.match(error.message, /nests more than 50 levels/);
    assert.equal(error.position, 50);
  });

  it('accepts 100 comparisons other than eq and pr, any number of eq and pr, and refuses the 101st naming it', () => {
    const scanning = (n: number) => Array.from({ length: n }, (_, i) => `emails[type eq "work" and value co "x${i}"]`).join(' or ');
    assert.equal(parsed(`${scanning(100)} or ${Array.from({ length: 100 }, (_, i) => `userName eq "u${i}" or id pr`).join(' or ')}`).kind, 'or');
    const text = `${scanning(100)} or title sw "x"`;
    const error = failure(text);
    assert.match(error.message, /more than 100 comparisons other than eq and pr \('sw' here\); at most 100 are accepted/);
    assert.equal(error.position, text.lastIndexOf('title'));
  });

  it('accepts nesting up to the limit', () => {
    assert.equal(parsed(`${'('.repeat(50)}a pr${')'.repeat(50)}`).kind, 'present');
    assert.equal(parsed(`${'not ('.repeat(50)}a pr${')'.repeat(50)}`).kind, 'not');
  });

  it('refuses deep not chains', () => {
    assert.match(failure(`${'not ('.repeat(51)}a pr${')'.repeat(51)}`).message, /nests more than 50/);
  });

  it('refuses filters longer than 10 000 characters', () => {
    const error = failure(`userName eq "${'x'.repeat(10_000)}"`);
    assert.match(error.message, /at most 10000 are accepted/);
  });

  it('handles long flat chains without recursion trouble', () => {
    const text = Array.from({ length: 1100 }, () => 'a pr').join(' or ');
    assert.ok(text.length < 10_000);
    assert.equal(parsed(text).kind, 'or');
  });
});
