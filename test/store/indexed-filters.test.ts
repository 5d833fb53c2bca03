/**
 * Which SCIM lists are read on the main connection (an index finds their rows) and which on a
 * reader thread (store/indexed-filters.ts): the IdPs' lookups must stay on the first, anything
 * that may read every resource must go to the second.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseFilter } from '../../src/scim/filter/index.ts';
import { answeredByIndex } from '../../src/store/indexed-filters.ts';

function filter(text: string) {
  const parsed = parseFilter(text);
  if (!parsed.ok) throw new Error(parsed.error.message);
  return parsed.value;
}

test('the lookups IdPs make before a write are answered by an index', () => {
  for (const text of [
    'userName eq "bjensen@example.com"',
    'USERNAME eq "bjensen@example.com"',
    'urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bjensen"',
    'externalId eq "00u1"',
    'id eq "2819c223"',
    'emails.value eq "b@example.com"',
    'meta.location eq "https://roster.example/api/scim/v2/Users/2819c223"',
    'userName eq "a" or userName eq "b" or externalId eq "c"',
    'userName eq "a" and title co "x"',
    'title co "x" and externalId eq "c"',
  ]) {
    assert.equal(answeredByIndex(filter(text), 'User'), true, text);
  }
  for (const text of ['displayName eq "Sales"', 'externalId eq "g1"', 'id eq "g1"']) assert.equal(answeredByIndex(filter(text), 'Group'), true, text);
});

test('filters that may compare every resource are not', () => {
  for (const text of [
    'title eq "Boss"',
    'name.familyName eq "Jensen"',
    'displayName eq "Barbara Jensen"',
    'userName co "jen"',
    'userName sw "b"',
    'userName ne "b"',
    'userName eq null',
    'not (userName eq "b")',
    'userName eq "a" or title eq "b"',
    'emails.type eq "work"',
    'emails[value eq "b@example.com"]',
    'meta.lastModified gt "2026-01-01T00:00:00Z"',
    'groups.value eq "g1"',
    'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1"',
    'urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "x"',
  ]) {
    assert.equal(answeredByIndex(filter(text), 'User'), false, text);
  }
  for (const text of ['userName eq "x"', 'members.value eq "u1"', 'displayName co "Sa"']) assert.equal(answeredByIndex(filter(text), 'Group'), false, text);
});
