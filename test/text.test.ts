import assert from 'node:assert/strict';
import { test } from 'node:test';
import { csvRecord } from '../src/text.ts';

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
