/**
 * Attribute paths outside filters: PATCH operation paths (RFC 7644 §3.5.2) and the
 * `attributes`, `excludedAttributes` and `sortBy` parameters (RFC 7644 §3.4.2.3, §3.9).
 * Same tokens and value-filter grammar as filters, so this reuses the filter lexer and parser.
 */
import type { AttributePath, Filter, ParseResult, PatchPath } from './filter/ast.ts';
import { tokenize, type Token } from './filter/lexer.ts';
import { TokenParser, checkAttributeName, parseAttributeWord, runParser, syntaxError } from './filter/parser.ts';

function start(text: string, what: string): ParseResult<{ parser: TokenParser; first: Extract<Token, { kind: 'word' }> }> {
  const tokens = tokenize(text, what);
  if (!tokens.ok) return tokens;
  const parser = new TokenParser(tokens.value, what);
  const first = parser.peek();
  if (first.kind === 'end') return { ok: false, error: { message: `empty ${what}`, position: 0 } };
  if (first.kind !== 'word') {
    const found = first.kind === 'string' ? 'a string' : `'${first.kind}'`;
    return {
      ok: false,
      error: { message: `expected an attribute name but found ${found} at position ${first.position}`, position: first.position },
    };
  }
  parser.next();
  return { ok: true, value: { parser, first } };
}

function expectNothingAfter(parser: TokenParser, what: string): void {
  const token = parser.peek();
  if (token.kind === 'end') return;
  const found = token.kind === 'word' ? `'${token.text}'` : token.kind === 'string' ? 'a string' : `'${token.kind}'`;
  throw syntaxError(`unexpected ${found} after the ${what}`, token.position);
}

/**
 * Parses a PATCH `path` (RFC 7644 §3.5.2): `attrPath`, or `valuePath [ "." subAttr ]`,
 * e.g. `members[value eq "2819c223"]` or `emails[type eq "work"].value`.
 */
export function parsePatchPath(text: string): ParseResult<PatchPath> {
  const started = start(text, 'path');
  if (!started.ok) return started;
  const { parser, first } = started.value;
  return runParser(() => {
    const attribute = parseAttributeWord(first.text, first.position);
    const open = parser.peek();
    if (open.kind !== '[') {
      expectNothingAfter(parser, 'path');
      return { attribute };
    }
    const filter = parser.bracketFilter(attribute, open.position);
    const after = parser.peek();
    if (after.kind === 'word' && after.text.startsWith('.')) {
      parser.next();
      const subAttribute = after.text.slice(1);
      if (subAttribute.includes('.')) {
        throw syntaxError(`'${after.text}' has more than one '.': only one sub-attribute may follow ']'`, after.position);
      }
      checkAttributeName(subAttribute, after.position + 1);
      expectNothingAfter(parser, 'path');
      return { attribute, filter, subAttribute };
    }
    expectNothingAfter(parser, 'path');
    return { attribute, filter };
  });
}

/**
 * Parses one plain attribute path, `[URN ":"] ATTRNAME ["." subAttr]`, as used by
 * `attributes`, `excludedAttributes` (one comma-separated item) and `sortBy`.
 */
export function parseAttributePath(text: string): ParseResult<AttributePath> {
  const started = start(text, 'attribute path');
  if (!started.ok) return started;
  const { parser, first } = started.value;
  return runParser(() => {
    const path = parseAttributeWord(first.text, first.position);
    const after = parser.peek();
    if (after.kind === '[') throw syntaxError('a value filter is not allowed in an attribute path', after.position);
    expectNothingAfter(parser, 'attribute path');
    return path;
  });
}

/**
 * Parses one item of `attributes` / `excludedAttributes`: an attribute path, or (leniency) a
 * multi-valued attribute with a value filter, `emails[type eq "work"]`, optionally followed by
 * a sub-attribute, `emails[type eq "work"].value` (the PATCH path grammar, RFC 7644 §3.5.2).
 */
export function parseProjectionPath(text: string): ParseResult<AttributePath & { readonly filter?: Filter }> {
  const parsed = parsePatchPath(text);
  if (!parsed.ok) return parsed;
  const { attribute, filter, subAttribute } = parsed.value;
  if (filter === undefined) return { ok: true, value: attribute };
  return { ok: true, value: { ...attribute, ...(subAttribute !== undefined ? { subAttribute } : {}), filter } };
}

/**
 * Splits a comma-separated `attributes` list into items, leaving commas inside a value filter
 * (`emails[value co ","]`) alone: only commas outside brackets and quotes separate items.
 */
export function splitAttributeList(text: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i += 1) {
    const char = text.charAt(i);
    if (quoted) {
      if (char === '\\') i += 1;
      else if (char === '"') quoted = false;
    } else if (char === '"') quoted = true;
    else if (char === '[') depth += 1;
    else if (char === ']') depth = Math.max(0, depth - 1);
    else if (char === ',' && depth === 0) {
      items.push(text.slice(start, i));
      start = i + 1;
    }
  }
  items.push(text.slice(start));
  return items;
}
