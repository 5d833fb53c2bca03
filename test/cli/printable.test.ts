/**
 * What the CLI prints of a name from outside: controls, reordering and invisible characters shown
 * as escapes, so that a listing can be neither forged nor read wrong; the characters real names
 * need (accents, other scripts, emoji sequences joined by U+200D) as they are.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { printable } from '../../src/cli/output.ts';

test('invisible characters that make look-alike names are shown as escapes', () => {
  assert.equal(printable('zero\u200bwidth@example.com'), 'zero\\u200bwidth@example.com');
  assert.equal(printable('\ufeffadmin'), '\\ufeffadmin');
  assert.equal(printable('word\u2060joiner'), 'word\\u2060joiner');
  assert.equal(printable('bidi\u202eevil'), 'bidi\\u202eevil');
  assert.equal(printable('\u061cmark'), '\\u061cmark');
});

test('the characters of real names are printed as they are', () => {
  for (const name of ['Zoë Ångström', '李小龍', 'שלום', 'می\u200cخواهم', '👩\u200d👩\u200d👧 family']) assert.equal(printable(name), name);
});
