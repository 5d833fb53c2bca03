/**
 * In-memory filter evaluation over one JSON resource or one element of a multi-valued
 * attribute (the PATCH engine's value paths, RFC 7644 §3.5.2), plus the type rules the SQL
 * compiler (store/filter-sql.ts) shares, so that both sides agree on what a filter means.
 *
 * Semantics, identical in SQL:
 * - names are case-insensitive (RFC 7643 §2.1); strings compare case-insensitively unless the
 *   attribute is caseExact (RFC 7644 §3.4.2.2), by their text.ts caseKey, which is what the
 *   databases store and compare; dateTime values compare as instants, read by date-time.ts
 *   (a value that is not an xsd:dateTime, such as `2020-02-30`, matches no comparison);
 * - a comparison on a multi-valued attribute is true when any element matches; without a
 *   sub-attribute, a multi-valued complex attribute is compared through its `value`;
 * - on a single-valued attribute, `x ne v` is exactly `not (x eq v)`: true when x is absent. On
 *   a multi-valued one it matches, like every comparison there, when one of its values does
 *   (RFC 7644 §3.4.2.2): when some value is present and other than v; so never when there is
 *   no value. (`emails.type` are the types the emails have: an email without one adds none,
 *   while `emails[type ne "work"]` asks of each email, where `type` is single-valued.)
 *   `not (F)` is true wherever F is false, absent values included;
 * - `eq null` means "not present" and `ne null` means "present";
 * - `pr` is true for a value that is not null, not "", not an empty array and, for a complex
 *   value, has at least one present sub-attribute (RFC 7643 §2.5: those states are equivalent);
 * - comparisons that make no sense for the attribute's type (`gt` on a boolean, a string
 *   against a number…) never match here; the SQL compiler rejects them with invalidFilter.
 *   One exception, for PATCH value paths only: "True"/"False" against a boolean (Entra ID).
 */
import type { AttributePath, CompareOperator, Filter, FilterValue } from './ast.ts';
import { findAttribute, findSchema, type AttributeDefinition, type AttributeType } from '../schemas.ts';
import { caseKey } from '../../text.ts';
import { readDateTime } from '../date-time.ts';

/** The instant of a dateTime text (date-time.ts, the lenient filter form), or undefined. */
function instantOf(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const reading = readDateTime(value, 'filter');
  return reading.ok ? reading.instant : undefined;
}

const TEXT_OPERATORS: ReadonlySet<CompareOperator> = new Set(['co', 'sw', 'ew']);

/**
 * The comparison operators each attribute type takes (RFC 7644 §3.4.2.2): gt/ge/lt/le "SHALL"
 * fail on boolean and binary attributes; co/sw/ew are substring tests, meaningless for
 * booleans, numbers and instants. `pr`, and `eq`/`ne` null, apply to every type.
 */
const OPERATORS: Readonly<Record<AttributeType, ReadonlySet<CompareOperator>>> = {
  string: new Set(['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le']),
  reference: new Set(['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le']),
  binary: new Set(['eq', 'ne', 'co', 'sw', 'ew']),
  boolean: new Set(['eq', 'ne']),
  integer: new Set(['eq', 'ne', 'gt', 'ge', 'lt', 'le']),
  decimal: new Set(['eq', 'ne', 'gt', 'ge', 'lt', 'le']),
  dateTime: new Set(['eq', 'ne', 'gt', 'ge', 'lt', 'le']),
  complex: new Set(),
};

/** How messages name each type: "the <adjective> attribute", "is <noun>", "compare it with <value>". */
const TYPE_WORDS: Readonly<Record<AttributeType, { readonly adjective: string; readonly noun: string; readonly value: string }>> = {
  string: { adjective: 'string', noun: 'a string', value: 'a "string"' },
  reference: { adjective: 'reference', noun: 'a reference', value: 'a "string"' },
  binary: { adjective: 'binary', noun: 'binary data', value: 'a "string" of base64' },
  boolean: { adjective: 'boolean', noun: 'a boolean', value: 'true or false' },
  integer: { adjective: 'number', noun: 'a number', value: 'a number' },
  decimal: { adjective: 'number', noun: 'a number', value: 'a number' },
  dateTime: { adjective: 'dateTime', noun: 'a dateTime', value: 'a date such as "2024-01-31T12:00:00Z"' },
  complex: { adjective: 'complex', noun: 'a complex attribute', value: 'one of its sub-attributes' },
};

/** Whether `value` is of the JSON type the attribute's type compares with. */
function fitsType(type: AttributeType, value: string | number | boolean): boolean {
  switch (type) {
    case 'boolean':
      return typeof value === 'boolean';
    case 'integer':
    case 'decimal':
      return typeof value === 'number';
    case 'dateTime':
      return instantOf(value) !== undefined;
    default:
      return typeof value === 'string';
  }
}

/**
 * Why `name op value` makes no sense for an attribute of this definition, or undefined when it
 * does: the one place, driven by the attribute's type in the schema, where the SQL compiler
 * (400 invalidFilter) and the in-memory evaluator (no match) learn which comparisons apply.
 */
export function comparisonProblem(
  definition: AttributeDefinition,
  op: CompareOperator,
  value: FilterValue,
  name: string,
): string | undefined {
  if (value === null) {
    return op === 'eq' || op === 'ne' ? undefined : `'${op}' cannot compare '${name}' with null; use 'pr' or 'eq null'`;
  }
  const type = definition.type;
  if (type === 'complex') return `'${name}' is a complex attribute: filter on one of its sub-attributes`;
  const operators = OPERATORS[type];
  const words = TYPE_WORDS[type];
  if (!operators.has(op)) return `'${op}' does not apply to the ${words.adjective} attribute '${name}'; use ${[...operators].join(', ')} or pr`;
  if (!fitsType(type, value)) {
    // Say what is wrong with a string that looks like a date but is none (`2020-02-30`).
    const reading = type === 'dateTime' && typeof value === 'string' ? readDateTime(value, 'filter') : undefined;
    const why = reading !== undefined && !reading.ok ? ` (${reading.problem})` : '';
    return `'${name}' is ${words.noun}: compare it with ${words.value}, not ${JSON.stringify(value)}${why}`;
  }
  return undefined;
}

/** The operands of a chain of one logical operator, in order, without recursion (chains can be long). */
export function logicalOperands(filter: Filter & { readonly kind: 'and' | 'or' }): Filter[] {
  const operands: Filter[] = [];
  const stack: Filter[] = [filter];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    if (node.kind === filter.kind) stack.push(node.right, node.left);
    else operands.push(node);
  }
  return operands;
}

type JsonObject = Readonly<Record<string, unknown>>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The member of `object` named `name`, case-insensitively (RFC 7643 §2.1). */
function member(object: JsonObject, name: string): unknown {
  if (Object.hasOwn(object, name)) return object[name];
  const wanted = name.toLowerCase();
  const key = Object.keys(object).find((k) => k.toLowerCase() === wanted);
  return key === undefined ? undefined : object[key];
}

function isPresent(value: unknown): boolean {
  if (value === null || value === undefined || value === '') return false;
  if (Array.isArray(value)) return value.some(isPresent);
  if (isObject(value)) return Object.values(value).some(isPresent);
  return true;
}

function asList(value: unknown): readonly unknown[] {
  if (Array.isArray(value)) return value;
  return value === undefined || value === null ? [] : [value];
}

interface Located {
  /** The attribute the path names (before any sub-attribute), when known. */
  readonly attribute: AttributeDefinition | undefined;
  /** Its raw JSON value. */
  readonly raw: unknown;
}

/**
 * Finds the attribute a path names. A schema URN that is a key of `value` (an extension,
 * RFC 7643 §3.3) selects that nested object and the extension's definitions.
 */
function locate(path: AttributePath, value: JsonObject, attributes: readonly AttributeDefinition[]): Located {
  let container = value;
  let definitions = attributes;
  if (path.schema !== undefined) {
    const nested = member(value, path.schema);
    if (isObject(nested)) {
      container = nested;
      definitions = findSchema(path.schema)?.attributes ?? [];
    }
  }
  return { attribute: findAttribute(definitions, path.attribute), raw: member(container, path.attribute) };
}

/** The scalar values a comparison looks at, with their definition; `multiValued` when they are the values of a multi-valued attribute. */
function comparedValues(path: AttributePath, located: Located): { definition: AttributeDefinition | undefined; values: unknown[]; multiValued: boolean } {
  const { attribute, raw } = located;
  const items = asList(raw);
  const multiValued = attribute?.multiValued ?? Array.isArray(raw);
  if (path.subAttribute !== undefined) {
    const subAttribute = path.subAttribute;
    return {
      definition: findAttribute(attribute?.subAttributes ?? [], subAttribute),
      values: items.filter(isObject).map((item) => member(item, subAttribute)),
      multiValued,
    };
  }
  if (multiValued && (attribute?.type === 'complex' || items.some(isObject))) {
    // A multi-valued complex attribute without a sub-attribute is compared through `value`.
    return {
      definition: findAttribute(attribute?.subAttributes ?? [], 'value'),
      values: items.map((item) => (isObject(item) ? member(item, 'value') : item)),
      multiValued,
    };
  }
  return { definition: attribute, values: [...items], multiValued };
}

function order(op: CompareOperator, comparison: number): boolean {
  switch (op) {
    case 'eq':
      return comparison === 0;
    case 'gt':
      return comparison > 0;
    case 'ge':
      return comparison >= 0;
    case 'lt':
      return comparison < 0;
    case 'le':
      return comparison <= 0;
    default:
      return false;
  }
}

function compareText(candidate: string, op: CompareOperator, wanted: string): boolean {
  switch (op) {
    case 'co':
      return candidate.includes(wanted);
    case 'sw':
      return candidate.startsWith(wanted);
    case 'ew':
      return candidate.endsWith(wanted);
    default:
      return order(op, candidate < wanted ? -1 : candidate > wanted ? 1 : 0);
  }
}

/** One stored scalar against the filter's value; `op` is never 'ne' here. */
function matches(candidate: unknown, op: CompareOperator, wanted: FilterValue, definition: AttributeDefinition | undefined): boolean {
  const type = definition?.type ?? (typeof wanted === 'number' ? 'decimal' : typeof wanted === 'boolean' ? 'boolean' : 'string');
  switch (type) {
    case 'complex':
      return false;
    case 'boolean':
      return op === 'eq' && typeof candidate === 'boolean' && candidate === wanted;
    case 'integer':
    case 'decimal':
      // order() is false for co/sw/ew, which comparisonProblem rejects for numbers anyway.
      if (typeof candidate !== 'number' || typeof wanted !== 'number') return false;
      return order(op, candidate - wanted);
    case 'dateTime': {
      const left = instantOf(candidate);
      const right = instantOf(wanted);
      if (left === undefined || right === undefined || TEXT_OPERATORS.has(op)) return false;
      return order(op, left - right);
    }
    default: {
      if (typeof candidate !== 'string' || typeof wanted !== 'string') return false;
      // A reference compares exactly here, as the store tells values apart (validate.ts
      // comparesCaseExactly, RFC 7643 §2.3.7): two photo URLs differing in case are two values,
      // and a PATCH value path naming one must not change the other. (A search's filter keeps
      // /Schemas' caseExact, false for photos.value, and may find both.)
      const caseExact = (definition?.caseExact ?? false) || definition?.type === 'reference';
      return caseExact
        ? compareText(candidate, op, wanted)
        : compareText(caseKey(candidate), op, caseKey(wanted));
    }
  }
}

/**
 * The filter's value as the attribute's type reads it. Entra ID writes booleans in PATCH value
 * paths as strings (`roles[primary eq "True"].value`, its SingleAppRoleAssignment mapping), the
 * same "True"/"False" it sends as values, which validate.ts already reads as booleans.
 */
function operandFor(definition: AttributeDefinition | undefined, value: FilterValue): FilterValue {
  if (definition?.type === 'boolean' && typeof value === 'string' && /^(true|false)$/i.test(value)) {
    return value.toLowerCase() === 'true';
  }
  return value;
}

function evaluateCompare(
  filter: Filter & { readonly kind: 'compare' },
  value: JsonObject,
  attributes: readonly AttributeDefinition[],
): boolean {
  const { definition, values, multiValued } = comparedValues(filter.path, locate(filter.path, value, attributes));
  const wanted = operandFor(definition, filter.value);
  if (wanted === null) {
    if (filter.op === 'eq') return !values.some(isPresent);
    return filter.op === 'ne' && values.some(isPresent);
  }
  if (definition !== undefined && comparisonProblem(definition, filter.op, wanted, filter.path.attribute) !== undefined) {
    return false;
  }
  if (filter.op === 'ne') {
    const equal = (candidate: unknown) => matches(candidate, 'eq', wanted, definition);
    // RFC 7644 §3.4.2.2: a multi-valued attribute matches when one of its values does.
    return multiValued ? values.some((candidate) => isPresent(candidate) && !equal(candidate)) : !values.some(equal);
  }
  return values.some((candidate) => matches(candidate, filter.op, wanted, definition));
}

function evaluatePresent(path: AttributePath, value: JsonObject, attributes: readonly AttributeDefinition[]): boolean {
  const located = locate(path, value, attributes);
  if (path.subAttribute === undefined) return isPresent(located.raw);
  return comparedValues(path, located).values.some(isPresent);
}

function evaluateValuePath(
  filter: Filter & { readonly kind: 'valuePath' },
  value: JsonObject,
  attributes: readonly AttributeDefinition[],
): boolean {
  const { attribute, raw } = locate(filter.path, value, attributes);
  const subAttributes = attribute?.subAttributes ?? [];
  return asList(raw).some((element) =>
    isObject(element)
      ? evaluateFilter(filter.filter, element, subAttributes)
      : evaluateFilter(filter.filter, { value: element }, attribute ? [{ ...attribute, multiValued: false, name: 'value' }] : []),
  );
}

/**
 * Whether `value` (a resource, or one element of a multi-valued attribute) matches `filter`;
 * `attributes` defines its keys (e.g. the sub-attributes of `emails`). Never throws.
 */
export function evaluateFilter(
  filter: Filter,
  value: Readonly<Record<string, unknown>>,
  attributes: readonly AttributeDefinition[],
): boolean {
  switch (filter.kind) {
    case 'and':
      return logicalOperands(filter).every((operand) => evaluateFilter(operand, value, attributes));
    case 'or':
      return logicalOperands(filter).some((operand) => evaluateFilter(operand, value, attributes));
    case 'not':
      return !evaluateFilter(filter.filter, value, attributes);
    case 'present':
      return evaluatePresent(filter.path, value, attributes);
    case 'compare':
      return evaluateCompare(filter, value, attributes);
    case 'valuePath':
      return evaluateValuePath(filter, value, attributes);
  }
}
