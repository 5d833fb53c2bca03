import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { caseKey, csvRecord } from '../src/text.ts';

describe('caseKey', () => {
  const same: readonly [string, string, string][] = [
    ['Émile', 'émile', 'Latin letters beyond ASCII'],
    ['E\u0301mile', '\u00c9MILE', 'NFD and NFC forms'],
    ['STRASSE', 'straße', 'ß folds to ss (full case folding)'],
    ['STRAẞE', 'strasse', 'the capital sharp s'],
    ['ΟΔΟΣ', 'οδοσ', 'final and medial sigma'],
    ['οδος', 'ΟΔΟΣ', 'final sigma, written'],
    ['ſ', 'S', 'the long s'],
    ['\u212a', 'k', 'the Kelvin sign'],
    ['ﬁle', 'FILE', 'the fi ligature'],
    ['İ', 'i\u0307', 'dotted capital I folds to i + combining dot above'],
    ['I', 'i', 'ASCII'],
    ['Ꭰ', 'ꭰ', 'Cherokee'],
  ];
  for (const [a, b, why] of same) {
    test(`${JSON.stringify(a)} and ${JSON.stringify(b)} share a key: ${why}`, () => {
      assert.equal(caseKey(a), caseKey(b));
    });
  }

  const different: readonly [string, string, string][] = [
    ['ı', 'i', 'the Turkish dotless ı has no default case pair'],
    ['ı', 'I', 'I folds to i, not to ı'],
    ['İ', 'i', 'İ keeps its dot'],
    ['é', 'e', 'an accent is not case'],
  ];
  for (const [a, b, why] of different) {
    test(`${JSON.stringify(a)} and ${JSON.stringify(b)} have different keys: ${why}`, () => {
      assert.notEqual(caseKey(a), caseKey(b));
    });
  }

  test('keys are in NFC, so that a substring test on keys means what it says', () => {
    assert.equal(caseKey('E\u0301'), '\u00e9');
    assert.ok(!caseKey('Zoë').includes('e'));
  });

  test('a key is its own key', () => {
    for (const text of ['Straße', 'ΟΔΟΣ', 'İstanbul', 'ꭰ', 'ǅ', 'ᾼ']) assert.equal(caseKey(caseKey(text)), caseKey(text), text);
  });
});

test('csvRecord defuses every cell a spreadsheet would run as a formula, and only those', () => {
  assert.equal(csvRecord(['=1+1', '+1', '-1', '@SUM(A1)', '\tx', '\rx']), `'=1+1,'+1,'-1,'@SUM(A1),'\tx,"'\rx"\r\n`);
  assert.equal(csvRecord(['a=b', 'user.created', 'x-y']), 'a=b,user.created,x-y\r\n');
  // Numbers are written by Roster itself, never by a user: a negative one stays a number.
  assert.equal(csvRecord([-3, 12, null, '']), '-3,12,,\r\n');
});

test('csvRecord quotes cells with a comma, a quote or a line break (RFC 4180)', () => {
  assert.equal(csvRecord(['a,b', 'say "hi"', 'two\nlines', 'plain']), '"a,b","say ""hi""","two\nlines",plain\r\n');
  assert.equal(csvRecord(['=cmd|" /C calc"!A0']), `"'=cmd|"" /C calc""!A0"\r\n`);
});
