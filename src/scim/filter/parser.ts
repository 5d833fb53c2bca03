/**
 * A recursive-descent parser for SCIM filters (RFC 7644 §3.4.2.2, Figure 1).
 *
 * Precedence follows the RFC's table 3/4: `not` binds tightest (and always takes a
 * parenthesised filter), then `and`, then `or`; both are left-associative. Errors are values
 * (STYLE.md §6): the message says what was expected where, so a client can fix its filter.
 * Inside the parser a private exception unwinds the recursion; it never escapes this module's
 * public functions.
 */
import type { AttributePath, CompareOperator, Filter, FilterValue, ParseResult } from './ast.ts';
import { tokenize, type Token } from './lexer.ts';
import { unstorableText } from '../json.ts';

/** Nesting deeper than this (parentheses, `not`, brackets) is refused: it is never needed, and it bounds recursion. */
export const MAX_DEPTH = 50;

/**
 * Comparisons other than `eq` and `pr` (`co`, `sw`, `gt`, `ne`, …) in one filter at most. Each
 * compares every user's value in turn (no index answers it), and on SQLite, whose queries hold
 * the process's one thread, 160 such terms on 100,000 users took 2–5 s (docs/performance.md);
 * the 10,000-character limit alone allowed about 450. `eq` terms are not counted: however many
 * are or-ed, they become one lookup or one `IN` list. IdPs send one or two of either.
 */
export const MAX_SCANNING_COMPARISONS = 100;

const COMPARE_OPERATORS: ReadonlySet<string> = new Set(['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le']);

// RFC 7644 Figure 1: ATTRNAME = ALPHA *(nameChar), nameChar = "-" / "_" / DIGIT / ALPHA.
// RFC 7643 itself names attributes "$ref", so a leading '$' is accepted too.
const ATTRIBUTE_NAME = /^\$?[A-Za-z][A-Za-z0-9_-]*$/;
// RFC 8259 §6 number syntax.
const NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

class SyntaxProblem extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
  }
}

/** Runs a parse that may throw a syntax problem, turning it into a ParseResult. @internal */
export function runParser<T>(parse: () => T): ParseResult<T> {
  try {
    return { ok: true, value: parse() };
  } catch (error) {
    if (error instanceof SyntaxProblem) {
      return { ok: false, error: { message: error.message, position: error.position } };
    }
    throw error;
  }
}

/** Describes a token for an error message: `'userName'`, `a string`, `the end of the filter`. */
function describe(token: Token, what: string): string {
  switch (token.kind) {
    case 'word':
      return `'${token.text}'`;
    case 'string':
      return `the string ${JSON.stringify(token.value)}`;
    case 'end':
      return `the end of the ${what}`;
    default:
      return `'${token.kind}'`;
  }
}

function isKeyword(token: Token, keyword: string): boolean {
  return token.kind === 'word' && token.text.toLowerCase() === keyword;
}

/** Whether a word reads as a comparison value (so that `title pr "x"` gets a precise error). */
function isLiteralWord(text: string): boolean {
  const lower = text.toLowerCase();
  return lower === 'true' || lower === 'false' || lower === 'null' || NUMBER.test(text);
}

/** Builds an error at `position`; the message ends with the position so people can find it. @internal */
export function syntaxError(message: string, position: number): Error {
  return new SyntaxProblem(`${message} at position ${position}`, position);
}

/** Checks one attribute or sub-attribute name (RFC 7644 Figure 1, ATTRNAME). @internal */
export function checkAttributeName(name: string, position: number): void {
  if (name === '') throw syntaxError('missing attribute name', position);
  if (!ATTRIBUTE_NAME.test(name)) {
    throw syntaxError(
      `invalid attribute name '${name}': names start with a letter and contain only letters, digits, '-' and '_'`,
      position,
    );
  }
}

/**
 * Parses the text of one word as `[URN ":"] ATTRNAME ["." subAttr]` (RFC 7644 Figure 1).
 * A URN prefix is split at its last ':' because attribute names never contain one, while the
 * URN itself contains '.' (`…:2.0:User`). @internal
 */
export function parseAttributeWord(text: string, position: number): AttributePath {
  let schema: string | undefined;
  let rest = text;
  let offset = 0;
  if (/^urn:/i.test(text)) {
    const colon = text.lastIndexOf(':');
    schema = text.slice(0, colon);
    rest = text.slice(colon + 1);
    offset = colon + 1;
    if (!/^urn:[^:]+:.+$/i.test(schema)) {
      throw syntaxError(`invalid schema URN '${schema}' in '${text}'`, position);
    }
    if (rest === '') throw syntaxError(`expected an attribute name after the schema URN '${schema}:'`, position + offset);
  } else if (text.includes(':')) {
    throw syntaxError(`invalid attribute name '${text}': a schema prefix must be a URN starting with 'urn:'`, position);
  }
  const parts = rest.split('.');
  if (parts.length > 2) {
    throw syntaxError(`'${text}' has more than one '.': a path is an attribute or attribute.subAttribute`, position);
  }
  const [attribute = '', subAttribute] = parts;
  checkAttributeName(attribute, position + offset);
  if (subAttribute !== undefined) checkAttributeName(subAttribute, position + offset + attribute.length + 1);
  return {
    ...(schema !== undefined ? { schema } : {}),
    attribute,
    ...(subAttribute !== undefined ? { subAttribute } : {}),
  };
}

/** Renders a path the way the client wrote it, for messages. */
function pathText(path: AttributePath): string {
  const name = path.subAttribute !== undefined ? `${path.attribute}.${path.subAttribute}` : path.attribute;
  return path.schema !== undefined ? `${path.schema}:${name}` : name;
}

/**
 * The parser state over a token list. path.ts reuses it for PATCH paths, whose
 * `valuePath` brackets hold the same value filter as in a filter. @internal
 */
export class TokenParser {
  private index = 0;
  private depth = 0;
  private scanning = 0;

  constructor(
    private readonly tokens: readonly Token[],
    /** What is being parsed, for messages: 'filter' or 'path'. */
    readonly what: string,
  ) {}

  /** The current token, not consumed. */
  peek(): Token {
    // tokenize always ends the list with an 'end' token, and next() never moves past it.
    return this.tokens[this.index] ?? { kind: 'end', position: 0 };
  }

  /** Consumes and returns the current token. */
  next(): Token {
    const token = this.peek();
    if (token.kind !== 'end') this.index += 1;
    return token;
  }

  /** `FILTER` in RFC 7644 Figure 1: the lowest-precedence level, `or`. */
  filter(container?: string): Filter {
    let left = this.conjunction(container);
    while (isKeyword(this.peek(), 'or')) {
      this.next();
      left = { kind: 'or', left, right: this.conjunction(container) };
    }
    return left;
  }

  /**
   * `attrPath "[" valFilter "]"` after the attribute path: the brackets and the value filter.
   * Paths inside name sub-attributes of `container` (RFC 7644 §3.4.2.2: "valFilter").
   */
  bracketFilter(container: AttributePath, position: number): Filter {
    if (container.subAttribute !== undefined) {
      throw syntaxError(
        `a value filter applies to a multi-valued attribute, not to the sub-attribute '${pathText(container)}'`,
        position,
      );
    }
    const open = this.next();
    this.enter(open.position);
    const inner = this.filter(container.attribute);
    const close = this.peek();
    if (close.kind !== ']') {
      throw syntaxError(
        close.kind === 'end'
          ? `the '[' at position ${open.position} is never closed: missing ']'`
          : `expected 'and', 'or' or ']' but found ${describe(close, this.what)}`,
        close.position,
      );
    }
    this.next();
    this.leave();
    return inner;
  }

  /** Fails unless every token has been consumed. */
  expectEnd(): void {
    const token = this.peek();
    if (token.kind === 'end') return;
    if (token.kind === ')' || token.kind === ']') throw syntaxError(`unexpected '${token.kind}'`, token.position);
    throw syntaxError(`expected 'and', 'or' or the end of the ${this.what} but found ${describe(token, this.what)}`, token.position);
  }

  private conjunction(container: string | undefined): Filter {
    let left = this.term(container);
    while (isKeyword(this.peek(), 'and')) {
      this.next();
      left = { kind: 'and', left, right: this.term(container) };
    }
    return left;
  }

  private term(container: string | undefined): Filter {
    const token = this.peek();
    if (token.kind === '(') {
      this.next();
      return this.parenthesised(token.position, container);
    }
    if (isKeyword(token, 'not')) {
      this.next();
      const open = this.peek();
      if (open.kind !== '(') {
        throw syntaxError(`expected '(' after 'not', as in not (title pr), but found ${describe(open, this.what)}`, open.position);
      }
      this.next();
      return { kind: 'not', filter: this.parenthesised(open.position, container) };
    }
    if (token.kind !== 'word' || isKeyword(token, 'and') || isKeyword(token, 'or')) {
      if (token.kind === ')' || token.kind === ']' || token.kind === '[') {
        throw syntaxError(`unexpected '${token.kind}'`, token.position);
      }
      throw syntaxError(`expected an attribute name, 'not' or '(' but found ${describe(token, this.what)}`, token.position);
    }
    this.next();
    return this.attributeExpression(token, container);
  }

  /** The inside of `( … )` once the '(' is consumed. */
  private parenthesised(openPosition: number, container: string | undefined): Filter {
    this.enter(openPosition);
    const inner = this.filter(container);
    const close = this.peek();
    if (close.kind !== ')') {
      throw syntaxError(
        close.kind === 'end'
          ? `the '(' at position ${openPosition} is never closed: missing ')'`
          : `expected 'and', 'or' or ')' but found ${describe(close, this.what)}`,
        close.position,
      );
    }
    this.next();
    this.leave();
    return inner;
  }

  /** `attrExp` or `valuePath`, starting at the attribute path word `token`. */
  private attributeExpression(token: Extract<Token, { kind: 'word' }>, container: string | undefined): Filter {
    const path = parseAttributeWord(token.text, token.position);
    if (container !== undefined && (path.schema !== undefined || path.subAttribute !== undefined)) {
      throw syntaxError(
        `inside the value filter of '${container}', name a sub-attribute of '${container}' (such as 'value' or 'type'), not '${token.text}'`,
        token.position,
      );
    }
    const after = this.peek();
    if (after.kind === '[') {
      if (container !== undefined) {
        // RFC 7644 Figure 1: valFilter contains attrExp and logExp, never another valuePath.
        throw syntaxError(`value filters cannot be nested: '${token.text}[' inside the value filter of '${container}'`, after.position);
      }
      const filter = this.bracketFilter(path, after.position);
      const following = this.peek();
      if (following.kind === 'word' && following.text.startsWith('.')) {
        return { kind: 'valuePath', path, filter: this.subAttributeCondition(path.attribute, filter, following) };
      }
      return { kind: 'valuePath', path, filter };
    }
    if (after.kind !== 'word') {
      throw syntaxError(`expected an operator after '${token.text}' but found ${describe(after, this.what)}`, after.position);
    }
    const op = after.text.toLowerCase();
    if (op === 'pr') {
      this.next();
      const value = this.peek();
      if (value.kind === 'string' || (value.kind === 'word' && isLiteralWord(value.text))) {
        throw syntaxError(`'pr' takes no value, but ${describe(value, this.what)} follows it`, value.position);
      }
      return { kind: 'present', path };
    }
    if (!COMPARE_OPERATORS.has(op)) {
      throw syntaxError(
        `unknown operator '${after.text}' after '${token.text}': expected one of eq, ne, co, sw, ew, gt, ge, lt, le, pr`,
        after.position,
      );
    }
    this.next();
    if (op !== 'eq') {
      this.scanning += 1;
      if (this.scanning > MAX_SCANNING_COMPARISONS) {
        throw syntaxError(
          `${this.what} has more than ${MAX_SCANNING_COMPARISONS} comparisons other than eq and pr ('${after.text}' here); at most ${MAX_SCANNING_COMPARISONS} are accepted, each reads every resource (send several requests)`,
          token.position,
        );
      }
    }
    return { kind: 'compare', path, op: op as CompareOperator, value: this.value(after.text) };
  }

  /**
   * `emails[type eq "work"].value eq "x"`: not in RFC 7644's grammar, but Entra ID sends exactly
   * this to match users on their work email (use-scim-to-provision-users-and-groups.md, "/Users").
   * It means the same as `emails[type eq "work" and value eq "x"]`, which is what it becomes.
   */
  private subAttributeCondition(container: string, filter: Filter, word: Extract<Token, { kind: 'word' }>): Filter {
    this.next();
    const name = word.text.slice(1);
    if (name.includes('.')) {
      throw syntaxError(`'${word.text}' has more than one '.': only one sub-attribute may follow ']'`, word.position);
    }
    checkAttributeName(name, word.position + 1);
    const condition = this.attributeExpression({ kind: 'word', text: name, position: word.position + 1 }, container);
    return { kind: 'and', left: filter, right: condition };
  }

  /**
   * `compValue = false / null / true / number / string` (RFC 7644 Figure 1). Leniency: a word
   * that is none of these literals is read as the string it spells, as clients send
   * `userName sw O` or `meta.created gt 2015-10-10T14:38:21.8617979-07:00` without quotes.
   * Words in single quotes stay an error: the quotes would become part of the value.
   */
  private value(operator: string): FilterValue {
    const token = this.next();
    if (token.kind === 'string') return token.value;
    if (token.kind === 'word') {
      const lower = token.text.toLowerCase();
      if (lower === 'true') return true;
      if (lower === 'false') return false;
      if (lower === 'null') return null;
      if (NUMBER.test(token.text)) {
        const number = Number(token.text);
        if (Number.isFinite(number)) return number;
        throw syntaxError(`number ${token.text} is out of range`, token.position);
      }
      if (token.text.startsWith("'")) {
        throw syntaxError(`strings must be in double quotes, not single quotes: ${token.text}`, token.position);
      }
      // A bare word cannot hold a NUL or a lone surrogate escape; the raw text may, though.
      const problem = unstorableText(token.text);
      if (problem) throw syntaxError(`the value '${token.text}' contains ${problem}, which Roster does not accept`, token.position);
      return token.text;
    }
    throw syntaxError(
      `expected a value (a "string", a number, true, false or null) after '${operator}' but found ${describe(token, this.what)}`,
      token.position,
    );
  }

  private enter(position: number): void {
    this.depth += 1;
    if (this.depth > MAX_DEPTH) {
      throw syntaxError(`${this.what} nests more than ${MAX_DEPTH} levels of parentheses or brackets`, position);
    }
  }

  private leave(): void {
    this.depth -= 1;
  }
}

/** Parses a SCIM filter (RFC 7644 §3.4.2.2); operators come back lower-cased, names as written. */
export function parseFilter(text: string): ParseResult<Filter> {
  const tokens = tokenize(text, 'filter');
  if (!tokens.ok) return tokens;
  const first = tokens.value[0];
  if (first === undefined || first.kind === 'end') return { ok: false, error: { message: 'empty filter', position: 0 } };
  const parser = new TokenParser(tokens.value, 'filter');
  return runParser(() => {
    const filter = parser.filter();
    parser.expectEnd();
    return filter;
  });
}
