import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateFilter, normaliseDateTime, parseFilter } from '../../src/scim/filter/index.ts';
import { COMMON_ATTRIBUTES, USER_SCHEMA_DEFINITION, findAttribute, type AttributeDefinition } from '../../src/scim/schemas.ts';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const USER_ATTRIBUTES: readonly AttributeDefinition[] = [...COMMON_ATTRIBUTES, ...USER_SCHEMA_DEFINITION.attributes];
const EMAIL_ATTRIBUTES = findAttribute(USER_SCHEMA_DEFINITION.attributes, 'emails')?.subAttributes ?? [];

const user = {
  id: 'AbC-1',
  externalId: 'Ext-9',
  userName: 'BJensen',
  name: { familyName: 'Jensen', givenName: 'Barbara', middleName: '' },
  title: null,
  nickName: '',
  active: true,
  emails: [
    { value: 'bjensen@Example.com', type: 'work', primary: true },
    { value: 'babs@home.example', type: 'home' },
  ],
  phoneNumbers: [],
  meta: { created: '2024-01-15T10:00:00.000Z', lastModified: '2024-03-01T08:30:00.000Z', resourceType: 'User' },
  [ENTERPRISE]: { employeeNumber: '701984', manager: { value: 'mgr-1' } },
};

function matches(text: string, value: Record<string, unknown> = user, attributes = USER_ATTRIBUTES): boolean {
  const parsed = parseFilter(text);
  if (!parsed.ok) assert.fail(parsed.error.message);
  return evaluateFilter(parsed.value, value, attributes);
}

describe('evaluateFilter: strings', () => {
  it('compares case-insensitively unless the attribute is caseExact', () => {
    assert.equal(matches('userName eq "bjensen"'), true);
    assert.equal(matches('USERNAME EQ "BJENSEN"'), true);
    assert.equal(matches('externalId eq "ext-9"'), false);
    assert.equal(matches('externalId eq "Ext-9"'), true);
    assert.equal(matches('id eq "abc-1"'), false);
  });

  it('supports co, sw, ew and ordering', () => {
    assert.equal(matches('userName co "jen"'), true);
    assert.equal(matches('userName sw "bj"'), true);
    assert.equal(matches('userName ew "SEN"'), true);
    assert.equal(matches('userName ew "bj"'), false);
    assert.equal(matches('userName gt "a"'), true);
    assert.equal(matches('userName lt "a"'), false);
    assert.equal(matches('userName ge "bjensen"'), true);
    assert.equal(matches('userName le "bjensen"'), true);
    assert.equal(matches('externalId co "ext"'), false);
  });

  it('reads sub-attributes and extension attributes', () => {
    assert.equal(matches('name.familyName eq "jensen"'), true);
    assert.equal(matches(`${ENTERPRISE}:employeeNumber eq "701984"`), true);
    assert.equal(matches(`${ENTERPRISE}:manager.value eq "mgr-1"`), true);
    assert.equal(matches(`${ENTERPRISE}:manager.value eq "MGR-1"`), false, 'manager.value is caseExact');
    assert.equal(matches('urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bjensen"'), true);
  });
});

describe('evaluateFilter: other types', () => {
  it('compares booleans', () => {
    assert.equal(matches('active eq true'), true);
    assert.equal(matches('active eq false'), false);
    assert.equal(matches('active ne false'), true);
  });

  it('reads "True"/"False" as booleans, as Entra ID writes them in PATCH value paths', () => {
    assert.equal(matches('active eq "True"'), true);
    assert.equal(matches('active eq "FALSE"'), false);
    assert.equal(matches('active ne "False"'), true);
  });

  it('treats nonsense comparisons as no match', () => {
    assert.equal(matches('active gt false'), false);
    assert.equal(matches('active eq "yes"'), false);
    assert.equal(matches('name gt "a"'), false);
    assert.equal(matches('userName eq 1'), false);
    assert.equal(matches('meta.created co "2024"'), false);
  });

  it('compares dateTime values as instants', () => {
    assert.equal(matches('meta.lastModified gt "2024-02-01T00:00:00Z"'), true);
    assert.equal(matches('meta.lastModified gt "2024-03-01T09:00:00+02:00"'), true, '07:00Z is before 08:30Z');
    assert.equal(matches('meta.lastModified lt "2024-03-01T09:00:00+02:00"'), false);
    assert.equal(matches('meta.created eq "2024-01-15T10:00:00Z"'), true);
    assert.equal(matches('meta.created ge "2024-01-15"'), true);
    assert.equal(matches('meta.created gt "yesterday"'), false);
  });

  // RFC 7644 §3.4.2.2: ordering a binary attribute "SHALL" fail (the SQL compiler answers 400);
  // RFC 7643 §2.3.6: a binary is case exact.
  it('never orders binary values, and compares them exactly', () => {
    const withCertificate = { ...user, x509Certificates: [{ value: 'QUJDRA==' }] };
    assert.equal(matches('x509Certificates eq "QUJDRA=="', withCertificate), true);
    assert.equal(matches('x509Certificates eq "qujdra=="', withCertificate), false);
    assert.equal(matches('x509Certificates.value sw "QUJ"', withCertificate), true);
    for (const op of ['gt', 'ge', 'lt', 'le']) {
      assert.equal(matches(`x509Certificates ${op} "A"`, withCertificate), false, op);
      assert.equal(matches(`x509Certificates[value ${op} "QUJDRA=="]`, withCertificate), false, op);
    }
  });

  it('compares numbers numerically', () => {
    const attributes: AttributeDefinition[] = [
      { name: 'age', type: 'integer', multiValued: false, description: '', required: false, caseExact: false, mutability: 'readWrite', returned: 'default', uniqueness: 'none' },
    ];
    assert.equal(matches('age gt 9', { age: 10 }, attributes), true);
    assert.equal(matches('age le 9.5', { age: 10 }, attributes), false);
    assert.equal(matches('age eq "10"', { age: 10 }, attributes), false);
  });
});

describe('evaluateFilter: presence, absence and negation', () => {
  it('pr is false for null, empty strings, empty arrays and empty complex values', () => {
    assert.equal(matches('userName pr'), true);
    assert.equal(matches('title pr'), false);
    assert.equal(matches('nickName pr'), false);
    assert.equal(matches('phoneNumbers pr'), false);
    assert.equal(matches('emails pr'), true);
    assert.equal(matches('name pr'), true);
    assert.equal(matches('name.middleName pr'), false);
    assert.equal(matches('addresses pr'), false);
    assert.equal(matches('x pr', { x: { a: null, b: '' } }, []), false);
  });

  it('ne and not are true when the attribute is absent', () => {
    assert.equal(matches('title ne "boss"'), true);
    assert.equal(matches('not (title eq "boss")'), true);
    assert.equal(matches('displayName ne "x"'), true);
  });

  it('eq null means absent, ne null present', () => {
    assert.equal(matches('title eq null'), true);
    assert.equal(matches('userName eq null'), false);
    assert.equal(matches('userName ne null'), true);
    assert.equal(matches('emails eq null'), false);
    assert.equal(matches('phoneNumbers eq null'), true);
  });

  it('combines with and, or and not', () => {
    assert.equal(matches('userName eq "bjensen" and active eq true'), true);
    assert.equal(matches('userName eq "x" or active eq true'), true);
    assert.equal(matches('userName eq "x" or not (active eq true)'), false);
    assert.equal(matches('not (userName eq "x" or title pr)'), true);
  });
});

describe('evaluateFilter: multi-valued attributes', () => {
  it('matches when any element matches, through value when no sub-attribute is named', () => {
    assert.equal(matches('emails co "home.example"'), true);
    assert.equal(matches('emails.value ew "@example.com"'), true);
    assert.equal(matches('emails.type eq "home"'), true);
    assert.equal(matches('emails.type eq "other"'), false);
  });

  // RFC 7644 §3.4.2.2: "a filter on a multi-valued attribute matches if any of the values match".
  it('ne on a multi-valued attribute means some value is present and differs', () => {
    assert.equal(matches('emails.type ne "home"'), true, 'the work email differs');
    assert.equal(matches('emails.type ne "other"'), true);
    assert.equal(matches('emails.type ne "home"', { ...user, emails: [{ value: 'a@x', type: 'home' }] }), false);
    assert.equal(matches('emails.type ne "home"', { ...user, emails: [{ value: 'a@x' }] }), false, 'an email without a type adds no type');
    assert.equal(matches('emails[type ne "home"]', { ...user, emails: [{ value: 'a@x' }] }), true, 'within one email, type is single-valued');
    assert.equal(matches('phoneNumbers.type ne "work"'), false, 'no value, no match');
    assert.equal(matches('emails ne "bjensen@example.com"'), true);
    assert.equal(matches('not (emails.type eq "home")'), false);
  });

  it('ne on a single-valued attribute is not eq, true when absent', () => {
    assert.equal(matches('title ne "boss"'), true);
    assert.equal(matches('name.familyName ne "jensen"'), false);
    assert.equal(matches('name.honorificPrefix ne "Dr"'), true);
  });

  it('value filters need one element matching every condition', () => {
    assert.equal(matches('emails[type eq "work" and value co "example.com"]'), true);
    assert.equal(matches('emails[type eq "home" and primary eq true]'), false);
    assert.equal(matches('emails[type eq "home" or primary eq true]'), true);
    assert.equal(matches('emails[not (type eq "work")]'), true);
    assert.equal(matches('phoneNumbers[type eq "work"]'), false);
  });

  it('evaluates one element against its sub-attribute definitions', () => {
    const parsed = parseFilter('type eq "WORK" and primary eq true');
    assert.ok(parsed.ok);
    assert.equal(evaluateFilter(parsed.value, { value: 'a@b.c', type: 'work', primary: true }, EMAIL_ATTRIBUTES), true);
    assert.equal(evaluateFilter(parsed.value, { value: 'a@b.c', type: 'work' }, EMAIL_ATTRIBUTES), false);
  });

  it('matches names case-insensitively in the data too', () => {
    assert.equal(matches('USERNAME eq "bjensen"', { UserName: 'bjensen' }), true);
  });

  it('supports hand-built nested value paths', () => {
    const attributes: AttributeDefinition[] = [
      {
        name: 'outer',
        type: 'complex',
        multiValued: true,
        description: '',
        required: false,
        caseExact: false,
        mutability: 'readWrite',
        returned: 'default',
        uniqueness: 'none',
        subAttributes: [],
      },
    ];
    const filter = {
      kind: 'valuePath',
      path: { attribute: 'outer' },
      filter: { kind: 'valuePath', path: { attribute: 'inner' }, filter: { kind: 'compare', path: { attribute: 'v' }, op: 'eq', value: 'x' } },
    } as const;
    assert.equal(evaluateFilter(filter, { outer: [{ inner: [{ v: 'y' }, { v: 'X' }] }] }, attributes), true);
    assert.equal(evaluateFilter(filter, { outer: [{ inner: [{ v: 'y' }] }] }, attributes), false);
  });
});

describe('normaliseDateTime', () => {
  it('normalises to Date#toISOString form, UTC when no zone is given', () => {
    assert.equal(normaliseDateTime('2024-03-01T09:00:00+02:00'), '2024-03-01T07:00:00.000Z');
    assert.equal(normaliseDateTime('2024-03-01T09:00:00'), '2024-03-01T09:00:00.000Z');
    assert.equal(normaliseDateTime('2024-03-01'), '2024-03-01T00:00:00.000Z');
    assert.equal(normaliseDateTime('2024-03-01T09:00:00.5Z'), '2024-03-01T09:00:00.500Z');
    assert.equal(normaliseDateTime('March 1st'), undefined);
    assert.equal(normaliseDateTime('2024-13-01T00:00:00Z'), undefined);
  });
});
