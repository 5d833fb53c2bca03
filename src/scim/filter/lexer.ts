/**
 * Tokens of the SCIM filter and path grammars (RFC 7644 §3.4.2.2, Figure 1, and §3.5.2).
 *
 * The grammar has few token kinds: brackets, parentheses, JSON string literals and "words".
 * A word is any run of characters that is not whitespace, a bracket, a parenthesis or a
 * quote: attribute paths (`name.familyName`, full URNs with ':' and '.'), operators, the
 * keywords and/or/not, and the literals true/false/null and numbers. The parser decides what
 * a word means from where it appears, which keeps attribute names like `pr` or URNs containing
 * digits from being mis-tokenised here.
 */
import type { ParseResult } from './ast.ts';
import { unstorableText } from '../json.ts';

export type Token =
  | { readonly kind: '(' | ')' | '[' | ']'; readonly position: number }
  | { readonly kind: 'string'; readonly value: string; readonly position: number }
  | { readonly kind: 'word'; readonly text: string; readonly position: number }
  | { readonly kind: 'end'; readonly position: number };

/** Filters longer than this are refused before any work is done (a guard against abuse, not a grammar rule). */
export const MAX_INPUT_LENGTH = 10_000;

const PUNCTUATION = new Set(['(', ')', '[', ']']);
const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

function isSpace(char: string): boolean {
  return char === ' ' || char === '\t' || char === '\n' || char === '\r';
}

function fail(message: string, position: number): ParseResult<never> {
  return { ok: false, error: { message, position } };
}

/** Splits `text` into tokens, ending with an `end` token; positions are 0-based offsets into `text`. @internal */
export function tokenize(text: string, what = 'filter'): ParseResult<Token[]> {
  if (text.length > MAX_INPUT_LENGTH) {
    return fail(`${what} is ${text.length} characters long; at most ${MAX_INPUT_LENGTH} are accepted`, MAX_INPUT_LENGTH);
  }
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const char = text.charAt(i);
    if (isSpace(char)) {
      i += 1;
    } else if (PUNCTUATION.has(char)) {
      tokens.push({ kind: char as '(' | ')' | '[' | ']', position: i });
      i += 1;
    } else if (char === '"') {
      const string = readString(text, i);
      if (!string.ok) return string;
      tokens.push({ kind: 'string', value: string.value.value, position: i });
      i = string.value.end;
    } else {
      const start = i;
      while (i < text.length) {
        const c = text.charAt(i);
        if (isSpace(c) || PUNCTUATION.has(c) || c === '"') break;
        i += 1;
      }
      tokens.push({ kind: 'word', text: text.slice(start, i), position: start });
    }
  }
  tokens.push({ kind: 'end', position: text.length });
  return { ok: true, value: tokens };
}

/** Reads the JSON string literal (RFC 8259 §7) that starts with the quote at `start`. */
function readString(text: string, start: number): ParseResult<{ value: string; end: number }> {
  let value = '';
  let i = start + 1;
  while (i < text.length) {
    const char = text.charAt(i);
    if (char === '"') {
      // A \u0000 or lone \ud800 escape decodes to text no database stores faithfully.
      const problem = unstorableText(value);
      if (problem) return fail(`the string starting at position ${start} contains ${problem}, which Roster does not accept`, start);
      return { ok: true, value: { value, end: i + 1 } };
    }
    if (char !== '\\') {
      value += char;
      i += 1;
      continue;
    }
    const escape = text.charAt(i + 1);
    if (escape === '') break;
    const simple = SIMPLE_ESCAPES[escape];
    if (simple !== undefined) {
      value += simple;
      i += 2;
    } else if (escape === 'u') {
      const hex = text.slice(i + 2, i + 6);
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
        return fail(`invalid unicode escape '\\u${hex}' at position ${i}: expected four hexadecimal digits`, i);
      }
      // Surrogate pairs need no special care: two \u escapes give two UTF-16 code units.
      value += String.fromCharCode(Number.parseInt(hex, 16));
      i += 6;
    } else {
      return fail(`invalid escape '\\${escape}' in string at position ${i}`, i);
    }
  }
  return fail(`unterminated string starting at position ${start}`, start);
}
