/**
 * Extension schemas administrators declare (`roster schemas add`, POST /api/v2/scim-schemas):
 * a schema definition as /Schemas returns one (RFC 7643 §7) plus `"extends": "User"` or
 * `"Group"`. Checked strictly here, so that everything downstream (validation, PATCH, the
 * filter compiler's JSON paths, discovery) can trust it.
 *
 * What Roster accepts, and why:
 * - `id` is a URN of letters, digits and `. _ - :` (RFC 8141 allows more, but the URN becomes a
 *   JSON key and a JSON path in SQL), not in the RFC's reserved `core` and `api` namespaces, and
 *   neither a prefix of another schema's URN nor prefixed by one: `urn:a:b:attr` must name one
 *   attribute of one schema.
 * - Attribute names follow RFC 7643 §2.1 (ATTRNAME); sub-attributes may not be complex (§2.3.8).
 * - `mutability`: readWrite or immutable (enforced on PUT and PATCH). readOnly is refused:
 *   nothing in Roster would ever set the value. writeOnly is refused: Roster keeps extension
 *   values to return them, and would keep a secret it never shows.
 * - `returned`: always, default or request; never is refused for the same reason.
 * - `uniqueness: server` or `global` on simple top-level attributes (not booleans): enforced
 *   within Roster by a unique index; `global` cannot be checked beyond Roster.
 * - `required` only on top-level attributes: checked whenever a resource carries the extension.
 * - Unknown members are refused by name; `schemas` and `meta` (which /Schemas returns) are read
 *   and ignored, so that a /Schemas entry of another server can be declared as it is.
 */
import type { JsonObject, JsonValue } from './json.ts';
import { isJsonObject } from './json.ts';
import {
  type AttributeDefinition,
  type AttributeType,
  type DeclaredSchema,
  type Mutability,
  type ResourceTypeName,
  type Returned,
  type SchemaRegistry,
  type Uniqueness,
} from './schemas.ts';

/** The SCIM schema of schema definitions (RFC 7643 §7). */
export const SCHEMA_DEFINITION_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Schema';

/** How many extension schemas may be declared: every SCIM request looks through them. */
export const MAX_DECLARED_SCHEMAS = 50;
const MAX_ATTRIBUTES = 100;
const MAX_SUB_ATTRIBUTES = 50;
const MAX_URN_LENGTH = 200;
const MAX_NAME_LENGTH = 64;
const MAX_TEXT_LENGTH = 1000;
const MAX_LISTED_VALUES = 100;
const MAX_PROBLEMS_SHOWN = 12;

const URN = /^urn:[A-Za-z0-9][A-Za-z0-9-]{0,31}:[A-Za-z0-9._:-]+$/;
const RESERVED_NAMESPACES = ['urn:ietf:params:scim:schemas:core:', 'urn:ietf:params:scim:api:'];
// RFC 7643 §2.1: ATTRNAME = ALPHA *(nameChar), nameChar = "-" / "_" / DIGIT / ALPHA.
const ATTRIBUTE_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;

const TYPES: readonly AttributeType[] = ['string', 'boolean', 'decimal', 'integer', 'dateTime', 'binary', 'reference', 'complex'];
const SCHEMA_KEYS = ['schemas', 'id', 'name', 'description', 'extends', 'attributes', 'meta'] as const;
const ATTRIBUTE_KEYS = [
  'name',
  'type',
  'multiValued',
  'description',
  'required',
  'caseExact',
  'mutability',
  'returned',
  'uniqueness',
  'canonicalValues',
  'referenceTypes',
  'subAttributes',
] as const;

/** The outcome of reading a declaration: the schema, or every problem found, each naming its place. */
export type DeclarationResult = { readonly ok: true; readonly schema: DeclaredSchema } | { readonly ok: false; readonly problems: readonly string[] };

/** Collects problems; `at` names the member (`attributes[2].type`). */
class Problems {
  readonly list: string[] = [];
  add(at: string, message: string): void {
    this.list.push(`${at}: ${message}`);
  }
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

function unknownMembers(object: JsonObject, allowed: readonly string[], at: string, problems: Problems): void {
  const unknown = Object.keys(object).filter((key) => !allowed.includes(key));
  if (unknown.length > 0) {
    problems.add(at, `unknown member${unknown.length > 1 ? 's' : ''} ${unknown.map((key) => JSON.stringify(key)).join(', ')}`);
  }
}

function text(object: JsonObject, key: string, at: string, problems: Problems, options: { required: boolean; max: number }): string | undefined {
  const value = object[key];
  if (value === undefined || value === null) {
    if (options.required) problems.add(`${at}${key}`, 'is required');
    return undefined;
  }
  if (typeof value !== 'string') {
    problems.add(`${at}${key}`, `must be a string, not ${show(value)}`);
    return undefined;
  }
  if (options.required && value.trim() === '') problems.add(`${at}${key}`, 'must not be empty');
  if (value.length > options.max) problems.add(`${at}${key}`, `is longer than ${options.max} characters`);
  return value;
}

function flag(object: JsonObject, key: string, at: string, problems: Problems, fallback: boolean): boolean {
  const value = object[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') {
    problems.add(`${at}${key}`, `must be true or false, not ${show(value)}`);
    return fallback;
  }
  return value;
}

function choice<T extends string>(object: JsonObject, key: string, at: string, problems: Problems, allowed: readonly T[], fallback: T, refused: Readonly<Record<string, string>> = {}): T {
  const value = object[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'string' && refused[value] !== undefined) {
    problems.add(`${at}${key}`, `${value} is not supported: ${refused[value]}`);
    return fallback;
  }
  const found = allowed.find((candidate) => typeof value === 'string' && candidate === value);
  if (found === undefined) {
    problems.add(`${at}${key}`, `must be ${allowed.join(', ')} (not ${show(value)})`);
    return fallback;
  }
  return found;
}

function stringList(object: JsonObject, key: string, at: string, problems: Problems): string[] | undefined {
  const value = object[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string' && item !== '' && item.length <= 200)) {
    problems.add(`${at}${key}`, 'must be an array of non-empty strings (at most 200 characters each)');
    return undefined;
  }
  if (value.length > MAX_LISTED_VALUES) problems.add(`${at}${key}`, `lists more than ${MAX_LISTED_VALUES} values`);
  return value as string[];
}

// Why: identity providers may not write readOnly attributes, so nothing would ever set one;
// Roster keeps extension values in order to return them, so it would keep a secret it never shows.
const REFUSED_MUTABILITY = { readOnly: 'nothing would ever set it', writeOnly: 'Roster returns the values it keeps' };
const REFUSED_RETURNED = { never: 'Roster returns the values it keeps' };

/** Reads one attribute definition; undefined when it is too broken to use. */
function readAttribute(raw: JsonValue, at: string, depth: 0 | 1, problems: Problems): AttributeDefinition | undefined {
  if (!isJsonObject(raw)) {
    problems.add(at, `must be an attribute definition object, not ${show(raw)}`);
    return undefined;
  }
  const prefix = `${at}.`;
  unknownMembers(raw, ATTRIBUTE_KEYS, at, problems);
  const name = text(raw, 'name', prefix, problems, { required: true, max: MAX_NAME_LENGTH });
  if (name !== undefined && name !== '' && !ATTRIBUTE_NAME.test(name)) {
    problems.add(`${prefix}name`, `${show(name)} is not an attribute name (a letter, then letters, digits, - or _)`);
  }
  if (raw['type'] === undefined || raw['type'] === null) {
    problems.add(`${prefix}type`, `is required: one of ${TYPES.join(', ')}`);
    return undefined;
  }
  const type = choice(raw, 'type', prefix, problems, TYPES, 'string');
  const multiValued = flag(raw, 'multiValued', prefix, problems, false);
  const required = flag(raw, 'required', prefix, problems, false);
  if (required && depth === 1) problems.add(`${prefix}required`, 'is not supported on sub-attributes: make the attribute itself required');
  const caseExact = flag(raw, 'caseExact', prefix, problems, type === 'binary');
  const mutability: Mutability = choice(raw, 'mutability', prefix, problems, ['readWrite', 'immutable'] as const, 'readWrite', REFUSED_MUTABILITY);
  if (mutability === 'immutable' && depth === 1) problems.add(`${prefix}mutability`, 'immutable is supported on top-level attributes only');
  const returned: Returned = choice(raw, 'returned', prefix, problems, ['always', 'default', 'request'] as const, 'default', REFUSED_RETURNED);
  const uniqueness: Uniqueness = choice(raw, 'uniqueness', prefix, problems, ['none', 'server', 'global'] as const, 'none');
  if (uniqueness !== 'none') {
    if (depth === 1) problems.add(`${prefix}uniqueness`, `${uniqueness} is supported on top-level attributes only`);
    else if (type === 'complex' || type === 'boolean') problems.add(`${prefix}uniqueness`, `${uniqueness} cannot apply to a ${type} attribute`);
  }
  const description = text(raw, 'description', prefix, problems, { required: false, max: MAX_TEXT_LENGTH }) ?? '';
  const canonicalValues = stringList(raw, 'canonicalValues', prefix, problems);
  const referenceTypes = stringList(raw, 'referenceTypes', prefix, problems);
  if (referenceTypes !== undefined && type !== 'reference') problems.add(`${prefix}referenceTypes`, 'applies to reference attributes only');
  let subAttributes: AttributeDefinition[] | undefined;
  const rawSubs = raw['subAttributes'];
  if (type === 'complex') {
    if (depth === 1) problems.add(`${prefix}type`, 'a sub-attribute cannot be complex (RFC 7643 §2.3.8)');
    if (!Array.isArray(rawSubs) || rawSubs.length === 0) {
      problems.add(`${prefix}subAttributes`, 'a complex attribute needs a non-empty array of sub-attributes');
    } else if (depth === 0) {
      if (rawSubs.length > MAX_SUB_ATTRIBUTES) problems.add(`${prefix}subAttributes`, `has more than ${MAX_SUB_ATTRIBUTES} sub-attributes`);
      subAttributes = readAttributeList(rawSubs, `${prefix}subAttributes`, 1, problems);
    }
  } else if (rawSubs !== undefined && rawSubs !== null) {
    problems.add(`${prefix}subAttributes`, `only complex attributes have sub-attributes (this one is ${type})`);
  }
  if (name === undefined) return undefined;
  return {
    name,
    type,
    multiValued,
    description,
    required,
    caseExact,
    mutability,
    returned,
    uniqueness,
    ...(canonicalValues !== undefined ? { canonicalValues } : {}),
    ...(type === 'reference' ? { referenceTypes: referenceTypes ?? ['external'] } : {}),
    ...(subAttributes !== undefined ? { subAttributes } : {}),
  };
}

function readAttributeList(raw: readonly JsonValue[], at: string, depth: 0 | 1, problems: Problems): AttributeDefinition[] {
  const seen = new Map<string, string>();
  const attributes: AttributeDefinition[] = [];
  raw.forEach((item, index) => {
    const attribute = readAttribute(item, `${at}[${index}]`, depth, problems);
    if (!attribute) return;
    const key = attribute.name.toLowerCase();
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      problems.add(`${at}[${index}].name`, `${JSON.stringify(attribute.name)} is already defined by ${earlier} (names are case-insensitive)`);
      return;
    }
    seen.set(key, `${at}[${index}]`);
    attributes.push(attribute);
  });
  return attributes;
}

function readExtends(object: JsonObject, problems: Problems): ResourceTypeName | undefined {
  const value = object['extends'];
  if (typeof value === 'string') {
    const lower = value.toLowerCase();
    if (lower === 'user') return 'User';
    if (lower === 'group') return 'Group';
  }
  problems.add('extends', `must be "User" or "Group" (not ${value === undefined ? 'missing' : show(value)})`);
  return undefined;
}

function checkUrn(id: string, registry: SchemaRegistry, problems: Problems): void {
  if (id.length > MAX_URN_LENGTH) problems.add('id', `is longer than ${MAX_URN_LENGTH} characters`);
  if (!URN.test(id)) {
    problems.add('id', `${show(id)} is not a URN Roster accepts ("urn:" then letters, digits, . _ - and :)`);
    return;
  }
  const lower = id.toLowerCase();
  const reserved = RESERVED_NAMESPACES.find((namespace) => lower.startsWith(namespace));
  if (reserved !== undefined) problems.add('id', `${reserved}… is reserved for the protocol's own schemas (RFC 7643); use an extension URN`);
  for (const schema of registry.schemas) {
    const other = schema.id.toLowerCase();
    if (other === lower) {
      const declared = registry.declared.some((candidate) => candidate.id === schema.id);
      problems.add('id', declared ? `${schema.id} is already declared: remove it first to change it (admin API: DELETE /api/v2/scim-schemas/${schema.id}; CLI: roster schemas remove ${schema.id})` : `${schema.id} is built into Roster`);
    } else if (lower.startsWith(`${other}:`) || other.startsWith(`${lower}:`)) {
      problems.add('id', `${id} and ${schema.id} would make attribute names ambiguous (one URN followed by ":" begins the other)`);
    }
  }
}

function countAttributes(attributes: readonly AttributeDefinition[]): number {
  return attributes.reduce((total, attribute) => total + 1 + (attribute.subAttributes?.length ?? 0), 0);
}

/**
 * Reads a schema declaration against the schemas already in force (`registry`): every problem
 * is reported at once, each naming the member at fault. Defaults are filled in (RFC 7643 §2.2),
 * so the schema returned is the one /Schemas will show.
 */
export function readSchemaDeclaration(input: unknown, registry: SchemaRegistry): DeclarationResult {
  const problems = new Problems();
  if (!isJsonObject(input as JsonValue)) {
    return { ok: false, problems: ['the definition must be a JSON object such as {"id": "urn:…", "name": "…", "extends": "User", "attributes": […]}'] };
  }
  const object = input as JsonObject;
  unknownMembers(object, SCHEMA_KEYS, 'the definition', problems);
  const schemas = object['schemas'];
  if (schemas !== undefined && !(Array.isArray(schemas) && schemas.every((urn) => typeof urn === 'string') && schemas.includes(SCHEMA_DEFINITION_SCHEMA))) {
    problems.add('schemas', `when given, must be ["${SCHEMA_DEFINITION_SCHEMA}"]`);
  }
  const id = text(object, 'id', '', problems, { required: true, max: MAX_URN_LENGTH * 2 });
  if (id !== undefined && id !== '') checkUrn(id, registry, problems);
  const name = text(object, 'name', '', problems, { required: true, max: MAX_NAME_LENGTH });
  const description = text(object, 'description', '', problems, { required: false, max: MAX_TEXT_LENGTH }) ?? '';
  const extendsType = readExtends(object, problems);
  const rawAttributes = object['attributes'];
  let attributes: AttributeDefinition[] = [];
  if (!Array.isArray(rawAttributes) || rawAttributes.length === 0) {
    problems.add('attributes', 'must be a non-empty array of attribute definitions');
  } else if (rawAttributes.length > MAX_ATTRIBUTES) {
    problems.add('attributes', `has ${rawAttributes.length} attributes; at most ${MAX_ATTRIBUTES} are accepted`);
  } else {
    attributes = readAttributeList(rawAttributes, 'attributes', 0, problems);
    if (countAttributes(attributes) > MAX_ATTRIBUTES * 2) problems.add('attributes', `define more than ${MAX_ATTRIBUTES * 2} attributes and sub-attributes in all`);
  }
  if (registry.declared.length >= MAX_DECLARED_SCHEMAS) {
    problems.add('the definition', `${MAX_DECLARED_SCHEMAS} extension schemas are declared already, the most Roster accepts`);
  }
  if (problems.list.length > 0 || id === undefined || name === undefined || extendsType === undefined) {
    // Error messages are capped (about 1000 characters): the first problems, and how many more.
    const shown = problems.list.slice(0, MAX_PROBLEMS_SHOWN);
    if (problems.list.length > shown.length) shown.push(`and ${problems.list.length - shown.length} more`);
    return { ok: false, problems: shown.length > 0 ? shown : ['the definition is incomplete'] };
  }
  return { ok: true, schema: { id, name, description, extends: extendsType, attributes } };
}
