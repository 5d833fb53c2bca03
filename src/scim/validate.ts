/**
 * Schema-driven validation and normalisation of what clients send: whole resources for create
 * (POST, RFC 7644 §3.3) and replace (PUT, §3.5.1), and the values inside PATCH operations
 * (patch.ts shares the value rules below so both paths accept and reject the same things).
 *
 * The output is a resource document keyed by canonical attribute names (schemas.ts), extension
 * attributes nested under their schema URN.
 *
 * Decisions, and why:
 * - Unknown attributes, unknown extension objects and unknown schema URIs are IGNORED, not
 *   rejected; their names are reported through `options.ignored` for the caller to log. Entra
 *   sends extra schema URIs (e.g. the ADSCIM Group schema) and admins map custom attributes we
 *   have nowhere to store; failing the whole request would stall provisioning for every user.
 * - readOnly attributes (id, meta, groups, members.display, manager.displayName) are ignored:
 *   RFC 7644 §3.5.1 says values of readOnly attributes sent by the client SHALL be ignored.
 * - `null` and `[]` mean "unassigned" (RFC 7643 §2.5) and are dropped.
 * - canonicalValues are not enforced (RFC 7643 §7 makes them advisory; clients send custom types).
 * - Duplicates in a multi-valued attribute collapse into one value (RFC 7643 §2.4: the same
 *   (type, value) SHOULD NOT appear twice), compared under each sub-attribute's case rule, so
 *   `CAROL@x.example` is a duplicate of `carol@x.example`. Every write reaches this rule: POST and
 *   PUT here, and every PATCH operation when patch.ts re-checks the attribute it touched.
 * - Tolerances for real clients: attribute names in any case; "True"/"False" strings for booleans
 *   (Entra); a single object for a multi-valued attribute becomes a one-element array; a bare
 *   value for a complex attribute with a `value` sub-attribute becomes `{ value }`, and a
 *   one-element array for a singular complex attribute is unwrapped (Entra's `manager`); a
 *   `manager` whose `value` is "" is unassigned (it names nobody).
 */
import { readDateTime } from './date-time.ts';
import { badRequest } from './errors.ts';
import type { AttributePath } from './filter/ast.ts';
import { isJsonObject, jsonEqual } from './json.ts';
import type { JsonObject, JsonValue } from './json.ts';
import { caseKey } from '../text.ts';
import {
  COMMON_ATTRIBUTES,
  GROUP_SCHEMA_DEFINITION,
  RESOURCE_TYPES,
  SCHEMAS,
  findAttribute,
  findSchema,
  resolveAttribute,
  resourceSchemas,
  resourceTypeName,
  schemasOf,
} from './schemas.ts';
import type { AttributeDefinition, ResolvedAttribute, ResourceTypeRef, SchemaDefinition } from './schemas.ts';

export type { JsonObject, JsonValue } from './json.ts';

/** Largest accepted string value, in UTF-8 bytes: generous for any directory attribute. */
const MAX_STRING_BYTES = 64 * 1024;
/** Most elements accepted in one multi-valued attribute; Group.members is exempt (big groups). */
export const MAX_MULTI_VALUED_ELEMENTS = 1000;

export type WriteMode = 'create' | 'replace';

export interface NormaliseOptions {
  /** Receives the paths of ignored attributes (unknown, readOnly, unknown extensions), once each. */
  readonly ignored?: string[];
  /**
   * Receives, once each, the paths of ignored attributes that no schema in force defines
   * (an undeclared extension, a misspelt name): an IdP mapping that has no effect, which the
   * audit trail reports. readOnly attributes a client echoes back (id, meta) are not among them.
   */
  readonly unknown?: string[];
  /**
   * Receives the attributes, and sub-attributes, to which the client gave a value: the answer
   * to the write shows those that are `returned: request` (RFC 7643 §2.2).
   */
  readonly specified?: Set<AttributeDefinition>;
}

/** How values are read: shared by validate.ts and patch.ts. */
export interface ValueContext {
  readonly resourceType: ResourceTypeRef;
  /** True for client input (readOnly values are ignored); false when re-checking a stored document. */
  readonly dropReadOnly: boolean;
  /** Ignored attribute paths, without element indexes so a 100k-member list reports each name once. */
  readonly ignored: Set<string>;
  /** The subset of `ignored` that no schema in force defines (see NormaliseOptions.unknown). */
  readonly unknown: Set<string>;
  /** What the client gave a value (see NormaliseOptions.specified). */
  readonly specified: Set<AttributeDefinition>;
}

/** Where a top-level key of a client-sent object points. */
export type KeyTarget =
  | { readonly kind: 'schemas' }
  | { readonly kind: 'extension'; readonly schema: SchemaDefinition }
  | { readonly kind: 'attribute'; readonly resolved: ResolvedAttribute }
  | { readonly kind: 'unknown' };

const GROUP_MEMBERS = findAttribute(GROUP_SCHEMA_DEFINITION.attributes, 'members');

/** Creates the context for reading client input (or, with dropReadOnly=false, a stored document). */
export function createValueContext(resourceType: ResourceTypeRef, dropReadOnly = true): ValueContext {
  return { resourceType, dropReadOnly, ignored: new Set(), unknown: new Set(), specified: new Set() };
}

/**
 * Records an ignored attribute path (indexes stripped), for the caller's log; `why` says
 * whether no schema defines it ('unknown') or it is defined but not the client's to write.
 */
export function noteIgnored(context: ValueContext, label: string, why: 'unknown' | 'readOnly' = 'unknown'): void {
  const path = label.replace(/\[\d+\]/g, '');
  context.ignored.add(path);
  if (why === 'unknown') context.unknown.add(path);
}

/**
 * Records that the client gave `attribute` (or its `subAttribute`) the normalised `value`,
 * with the sub-attributes the value holds: what a write's answer shows of `returned: request`.
 */
export function noteSpecified(
  context: ValueContext,
  attribute: AttributeDefinition,
  subAttribute: AttributeDefinition | undefined,
  value: JsonValue | undefined,
): void {
  if (value === undefined) return;
  context.specified.add(attribute);
  if (subAttribute) context.specified.add(subAttribute);
  const definition = subAttribute ?? attribute;
  if (definition.type !== 'complex') return;
  for (const element of Array.isArray(value) ? value : [value]) {
    if (!isJsonObject(element)) continue;
    for (const key of Object.keys(element)) {
      const sub = findAttribute(definition.subAttributes ?? [], key);
      if (sub) context.specified.add(sub);
    }
  }
}

/**
 * Records a top-level key no schema in force knows. An object under an extension URN is
 * reported attribute by attribute (`urn:…:User:costCentre`), as an IdP mapping names them.
 */
export function noteUnknownKey(context: ValueContext, key: string, value: unknown): void {
  if (key.toLowerCase().startsWith('urn:') && isJsonObject(value as JsonValue) && Object.keys(value as JsonObject).length > 0) {
    for (const name of Object.keys(value as JsonObject)) noteIgnored(context, `${key}:${name}`);
  } else {
    noteIgnored(context, key);
  }
}

/** The extension schemas a resource type may carry (not its core schema). */
export function extensionSchemasOf(resourceType: ResourceTypeRef): readonly SchemaDefinition[] {
  return resourceSchemas(resourceType).extensions;
}

/**
 * resolveAttribute, plus one tolerance: an unqualified name that is not in the core schema is
 * looked up in the resource type's extensions (Entra sends PATCH path `manager` for the
 * enterprise extension's manager).
 */
export function resolveLoosely(resourceType: ResourceTypeRef, path: AttributePath): ResolvedAttribute | undefined {
  const resolved = resolveAttribute(resourceType, path);
  if (resolved || path.schema !== undefined) return resolved;
  for (const schema of extensionSchemasOf(resourceType)) {
    const found = resolveAttribute(resourceType, { ...path, schema: schema.id });
    if (found) return found;
  }
  return undefined;
}

/**
 * The schema a path names as a whole, if any: one of the resource type's schemas, or without
 * a resource type any built-in one. The path parser reads the URN `urn:…:enterprise:2.0:User`
 * as schema `urn:…:enterprise:2.0` plus attribute `User`.
 */
export function schemaNamedBy(path: AttributePath, resourceType?: ResourceTypeRef): SchemaDefinition | undefined {
  if (path.subAttribute !== undefined) return undefined;
  const urn = path.schema !== undefined ? `${path.schema}:${path.attribute}` : path.attribute;
  if (resourceType === undefined) return findSchema(urn);
  const wanted = urn.toLowerCase();
  return schemasOf(resourceType).find((schema) => schema.id.toLowerCase() === wanted);
}

/**
 * True when `urn` (a path's schema prefix) is none of the resource type's schemas: an extension
 * Roster does not implement, whose attributes are ignored wherever they are named (resolveKey).
 */
export function isUnknownSchema(resourceType: ResourceTypeRef, urn: string | undefined): boolean {
  if (urn === undefined) return false;
  const lower = urn.toLowerCase();
  return !schemasOf(resourceType).some((schema) => schema.id.toLowerCase() === lower);
}

/** Splits `attr` or `attr.sub` (a JSON key, not filter syntax: `$ref` is a valid name here). */
function splitDotted(text: string, schema?: string): AttributePath {
  const dot = text.indexOf('.');
  const base = dot < 0 ? { attribute: text } : { attribute: text.slice(0, dot), subAttribute: text.slice(dot + 1) };
  return schema === undefined ? base : { ...base, schema };
}

/**
 * Resolves a key of a resource body or of a PATCH no-path value: `schemas`, an extension URN
 * (whole extension object), `urn:…:User:employeeNumber` (RFC 7644 §3.10 fully qualified name;
 * core URNs too), `name.givenName`, or a plain attribute name. Case-insensitive.
 */
export function resolveKey(resourceType: ResourceTypeRef, key: string): KeyTarget {
  const lower = key.toLowerCase();
  if (lower === 'schemas') return { kind: 'schemas' };
  const core = resourceSchemas(resourceType).core;
  for (const schema of schemasOf(resourceType)) {
    const urn = schema.id.toLowerCase();
    if (lower === urn) {
      return schema === core ? { kind: 'unknown' } : { kind: 'extension', schema };
    }
    if (lower.startsWith(`${urn}:`)) {
      const resolved = resolveAttribute(resourceType, splitDotted(key.slice(urn.length + 1), schema.id));
      return resolved ? { kind: 'attribute', resolved } : { kind: 'unknown' };
    }
  }
  // Any other URN is an extension or schema Roster does not implement: ignored by the caller.
  if (lower.startsWith('urn:')) return { kind: 'unknown' };
  const resolved = resolveLoosely(resourceType, splitDotted(key));
  return resolved ? { kind: 'attribute', resolved } : { kind: 'unknown' };
}

/** The path of a resolved attribute as a person would write it in a SCIM request. */
export function attributeLabel(resolved: ResolvedAttribute): string {
  const base = resolved.extension ? `${resolved.schema}:${resolved.attribute.name}` : resolved.attribute.name;
  return resolved.subAttribute ? `${base}.${resolved.subAttribute.name}` : base;
}

/** True when the attribute (or the sub-attribute it names) is readOnly. */
export function isReadOnly(resolved: ResolvedAttribute): boolean {
  return resolved.attribute.mutability === 'readOnly' || resolved.subAttribute?.mutability === 'readOnly';
}

/**
 * What a client sent, for an error message. The value of a secret (a password: write-only,
 * never returned) is not repeated: the message goes to the log and the provisioning activity.
 */
function describe(value: unknown, secret: boolean): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (secret) return typeof value === 'string' ? 'a string' : `a ${typeof value}`;
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  return `${typeof value} ${String(value)}`;
}

/** The 400 for a value of the wrong kind; `why` says what is wrong with it when that is not obvious. */
function invalid(label: string, expectation: string, value: unknown, why?: string, secret = false): never {
  throw badRequest('invalidValue', `${label} must be ${expectation}, got ${describe(value, secret)}${why === undefined ? '' : `: ${why}`}`);
}

/** Whether an attribute's values are secrets that no message may repeat (RFC 7643 §7: writeOnly, returned never). */
function isSecret(attribute: AttributeDefinition): boolean {
  return attribute.mutability === 'writeOnly' || attribute.returned === 'never';
}

// RFC 7643 §2.3.6: binary is base64 (RFC 4648 §4); whitespace and the URL-safe alphabet tolerated.
const BASE64 = /^[A-Za-z0-9+/\-_\s]*={0,2}\s*$/;

function checkString(label: string, value: unknown, secret = false): string {
  if (typeof value !== 'string') invalid(label, 'a string', value, undefined, secret);
  // A UTF-16 code unit is at most 3 UTF-8 bytes, so short strings skip the byte count.
  if (value.length > MAX_STRING_BYTES / 3 && Buffer.byteLength(value, 'utf8') > MAX_STRING_BYTES) {
    throw badRequest('invalidValue', `${label} is longer than the ${MAX_STRING_BYTES / 1024} KiB Roster accepts`);
  }
  return value;
}

/** Checks (and for booleans, coerces) one simple value against its type (RFC 7643 §2.3). */
function normaliseSimple(attribute: AttributeDefinition, value: unknown, label: string): JsonValue {
  const secret = isSecret(attribute);
  switch (attribute.type) {
    case 'string':
    case 'reference':
      return checkString(label, value, secret);
    case 'boolean':
      if (typeof value === 'boolean') return value;
      // Entra sends "True"/"False" (its pre-aadOptscim062020 PATCH dialect).
      if (typeof value === 'string' && /^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
      return invalid(label, 'a boolean', value, undefined, secret);
    case 'integer':
      if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
      return invalid(label, 'an integer', value, undefined, secret);
    case 'decimal':
      if (typeof value === 'number' && Number.isFinite(value)) return value;
      return invalid(label, 'a number', value, undefined, secret);
    case 'dateTime': {
      // Kept as sent: the client gets back what it wrote; filters read the instant (date-time.ts).
      const text = checkString(label, value, secret);
      const reading = readDateTime(text, 'value');
      if (!reading.ok) return invalid(label, 'an ISO 8601 date-time such as 2024-05-01T12:00:00Z', value, reading.problem, secret);
      return text;
    }
    case 'binary': {
      const text = checkString(label, value, secret);
      if (!BASE64.test(text)) return invalid(label, 'base64-encoded binary data', value, undefined, secret);
      return text;
    }
    case 'complex':
      throw new Error(`normaliseSimple called for complex attribute ${label}`);
  }
}

function normaliseComplex(
  context: ValueContext,
  attribute: AttributeDefinition,
  value: unknown,
  label: string,
): JsonObject | undefined {
  const subAttributes = attribute.subAttributes ?? [];
  let object: unknown = value;
  if (!isJsonObject(value)) {
    // A bare value for `manager` or an `emails` element: read as { value } (Entra sends manager so).
    const valueSub = findAttribute(subAttributes, 'value');
    if (valueSub && value !== null && typeof value !== 'object') object = { value };
    else return invalid(label, 'a complex value (a JSON object)', value);
  }
  const output: JsonObject = {};
  const named: Claims = new Map();
  for (const [key, raw] of Object.entries(object as Record<string, unknown>)) {
    const subAttribute = findAttribute(subAttributes, key);
    if (!subAttribute) {
      noteIgnored(context, `${label}.${key}`);
      continue;
    }
    const subLabel = `${label}.${subAttribute.name}`;
    claimOnce(named, subLabel, key);
    if (subAttribute.mutability === 'readOnly' && context.dropReadOnly) {
      noteIgnored(context, subLabel, 'readOnly');
      continue;
    }
    const normalised = normaliseAttributeValue(context, subAttribute, raw, subLabel);
    if (normalised !== undefined) output[subAttribute.name] = normalised;
  }
  // A singular reference (`manager`) whose id is empty names nobody: clients send "" or
  // {"value": ""} to clear it, so it means unassigned, as null does, rather than a stored "".
  if (!attribute.multiValued && output.value === '' && findAttribute(subAttributes, '$ref') !== undefined) {
    delete output.value;
  }
  return Object.keys(output).length > 0 ? output : undefined;
}

/** Normalises one value of an attribute (an element, for multi-valued ones); undefined = unassigned. */
export function normaliseSingleValue(
  context: ValueContext,
  attribute: AttributeDefinition,
  value: unknown,
  label: string,
): JsonValue | undefined {
  if (value === null || value === undefined) return undefined;
  if (attribute.type === 'complex') return normaliseComplex(context, attribute, value, label);
  return normaliseSimple(attribute, value, label);
}

/**
 * The user id a value of Group `members` names: its `value` (any letter case), a non-empty
 * string; 400 invalidValue otherwise. POST, PUT and PATCH refuse such a member alike: dropping
 * it, as an unassigned value of another attribute is, would answer 201 with fewer members than
 * the client sent.
 */
export function memberIdOf(element: unknown, where: string): string {
  if (!isJsonObject(element)) throw badRequest('invalidValue', `${where} must be an object such as {"value": "<user id>"}`);
  // A PATCH's members reach here unnormalised: {"value": a, "VALUE": b} must not pick one.
  const named: Claims = new Map();
  for (const name of Object.keys(element)) {
    const subAttribute = findAttribute(GROUP_MEMBERS?.subAttributes ?? [], name);
    if (subAttribute) claimOnce(named, `${where}.${subAttribute.name}`, name);
  }
  const key = Object.keys(element).find((name) => name.toLowerCase() === 'value');
  const id = key === undefined ? undefined : element[key];
  if (typeof id !== 'string' || id === '') throw badRequest('invalidValue', `${where}.value must be the member's id (a non-empty string)`);
  return id;
}

/** The most elements a multi-valued attribute may hold. */
function maxElements(attribute: AttributeDefinition): number {
  return attribute === GROUP_MEMBERS ? Number.POSITIVE_INFINITY : MAX_MULTI_VALUED_ELEMENTS;
}

/** Rejects a multi-valued value with more than one `primary: true` (RFC 7643 §2.4). */
function checkSinglePrimary(values: readonly JsonValue[], label: string): void {
  const primaries = values.filter((value) => isJsonObject(value) && value['primary'] === true).length;
  if (primaries > 1) {
    throw badRequest(
      'invalidValue',
      `${label} has ${primaries} values with primary set to true; at most one may be primary (RFC 7643 §2.4)`,
    );
  }
}

/** Sub-attributes that describe a value rather than tell it apart from the others. */
const DESCRIPTIVE_SUB_ATTRIBUTES: ReadonlySet<string> = new Set(['primary', 'display']);

/**
 * Whether values of an attribute compare case-sensitively: its caseExact, and always for
 * binaries and references ("A binary is case exact", RFC 7643 §2.3.6; "A reference is case
 * exact", §2.3.7), although §8.7.1 lists photos.value and x509Certificates.value as not
 * case-exact: two certificates or photo URLs differing in case are different values.
 */
function comparesCaseExactly(attribute: AttributeDefinition): boolean {
  return attribute.caseExact || attribute.type === 'binary' || attribute.type === 'reference';
}

/** A simple value as it compares under its attribute's case rule (text.ts caseKey, as the databases compare). */
function comparable(exact: boolean, value: JsonValue | undefined): JsonValue | undefined {
  return typeof value === 'string' && !exact ? caseKey(value) : value;
}

function sameSimple(exact: boolean, a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  if (typeof a === 'string' && typeof b === 'string') return comparable(exact, a) === comparable(exact, b);
  return a === b || (a !== undefined && b !== undefined && jsonEqual(a, b));
}

/** How duplicates of one multi-valued attribute are found: a cheap bucket key, then an exact test. */
interface Identity {
  /** Equal for duplicates (and rarely for others): the `value` as it compares. */
  readonly bucket: (value: JsonValue) => string | number | boolean | undefined;
  readonly same: (a: JsonValue, b: JsonValue) => boolean;
}

/** A Map key for a simple value (a complex one, never expected here, by its JSON text). */
function bucketOf(value: JsonValue | undefined): string | number | boolean | undefined {
  return typeof value === 'object' && value !== null ? JSON.stringify(value) : (value ?? undefined);
}

/**
 * What tells a value of a multi-valued attribute apart from the others: its sub-attributes
 * except `primary` and `display`, under their case rules. That is (type, value) for the RFC's
 * multi-valued attributes (RFC 7643 §2.4), (value, $ref, type) for Group members, and every
 * component plus the type for addresses. Built once per attribute and bucketed by `value`, so
 * that a 100k-member group costs one map lookup per member.
 */
function identityOf(attribute: AttributeDefinition): Identity {
  const exact = comparesCaseExactly(attribute);
  if (attribute.type !== 'complex') {
    return { bucket: (value) => bucketOf(comparable(exact, value)), same: (a, b) => sameSimple(exact, a, b) };
  }
  const parts = (attribute.subAttributes ?? [])
    .filter((sub) => !DESCRIPTIVE_SUB_ATTRIBUTES.has(sub.name))
    .map((sub) => ({ name: sub.name, exact: comparesCaseExactly(sub) }));
  const first = parts.find((part) => part.name === 'value') ?? parts[0];
  const field = (value: JsonValue, name: string): JsonValue | undefined => (isJsonObject(value) ? value[name] : undefined);
  return {
    bucket: (value) => (first ? bucketOf(comparable(first.exact, field(value, first.name))) : undefined),
    same: (a, b) => parts.every((part) => sameSimple(part.exact, field(a, part.name), field(b, part.name))),
  };
}

/**
 * Merges a duplicate into the value kept. The first occurrence keeps its place and its
 * spelling; it is primary when any of its duplicates is (so that a value the client marked
 * primary stays primary, and two duplicates both marked primary leave one primary, not a 400),
 * and it takes the `display` of the last duplicate that has one: the latest the client said,
 * which in a PATCH add is the value being added.
 */
function mergeDuplicate(kept: JsonValue, duplicate: JsonValue): JsonValue {
  if (!isJsonObject(kept) || !isJsonObject(duplicate)) return kept;
  const merged: JsonObject = { ...kept };
  if (duplicate['primary'] === true) merged['primary'] = true;
  if (duplicate['display'] !== undefined) merged['display'] = duplicate['display'];
  return merged;
}

/** The values of a multi-valued attribute with duplicates merged, in first-seen order (RFC 7643 §2.4). */
function collapseDuplicates(attribute: AttributeDefinition, values: readonly JsonValue[]): JsonValue[] {
  const identity = identityOf(attribute);
  // Positions in `output` by bucket; a bucket holds more than one only for near-duplicates.
  const buckets = new Map<string | number | boolean | undefined, number[]>();
  const output: JsonValue[] = [];
  for (const value of values) {
    const bucket = identity.bucket(value);
    const positions = buckets.get(bucket);
    const position = positions?.find((candidate) => {
      const kept = output[candidate];
      return kept !== undefined && identity.same(kept, value);
    });
    if (position === undefined) {
      if (positions) positions.push(output.length);
      else buckets.set(bucket, [output.length]);
      output.push(value);
      continue;
    }
    const kept = output[position];
    if (kept !== undefined) output[position] = mergeDuplicate(kept, value);
  }
  return output;
}

/**
 * Normalises a whole attribute value against its definition: type checks, canonical
 * sub-attribute names, unassigned values dropped, duplicates merged, multi-valued rules.
 * Undefined = unassigned.
 * Throws 400 invalidValue naming the path (`emails[0].primary must be a boolean`).
 */
export function normaliseAttributeValue(
  context: ValueContext,
  attribute: AttributeDefinition,
  value: unknown,
  label: string,
): JsonValue | undefined {
  if (value === null || value === undefined) return undefined;
  if (attribute.multiValued) {
    const elements = Array.isArray(value) ? value : [value];
    const limit = maxElements(attribute);
    if (elements.length > limit) {
      throw badRequest(
        'invalidValue',
        `${label} has ${elements.length} values; Roster accepts at most ${limit} for this attribute`,
      );
    }
    const normalised: JsonValue[] = [];
    elements.forEach((element, index) => {
      const single = normaliseSingleValue(context, attribute, element, `${label}[${index}]`);
      // A bare id is read as {value: id} (normaliseComplex); anything else must carry one.
      if (attribute === GROUP_MEMBERS) memberIdOf(single ?? element, `${label}[${index}]`);
      if (single !== undefined) normalised.push(single);
    });
    const output = collapseDuplicates(attribute, normalised);
    checkSinglePrimary(output, label);
    return output.length > 0 ? output : undefined;
  }
  if (Array.isArray(value)) {
    // A one-element list for a singular complex attribute: Entra sends manager as [{"value": id}].
    if (attribute.type === 'complex' && value.length <= 1) {
      return value.length === 0 ? undefined : normaliseSingleValue(context, attribute, value[0], label);
    }
    return invalid(label, `a single ${attribute.type} value (it is not multi-valued)`, value);
  }
  return normaliseSingleValue(context, attribute, value, label);
}

/** The object a resolved attribute lives in: the document itself, or its extension object. */
function containerOf(document: JsonObject, resolved: ResolvedAttribute, create: boolean): JsonObject | undefined {
  if (!resolved.extension) return document;
  const existing = document[resolved.schema];
  if (isJsonObject(existing)) return existing;
  if (!create) return undefined;
  const created: JsonObject = {};
  document[resolved.schema] = created;
  return created;
}

/** Sets (or, for undefined, unassigns) an attribute or a sub-attribute of a singular complex one. */
export function setResolvedValue(document: JsonObject, resolved: ResolvedAttribute, value: JsonValue | undefined): void {
  const container = containerOf(document, resolved, value !== undefined);
  if (!container) return;
  const name = resolved.attribute.name;
  if (resolved.subAttribute === undefined) {
    if (value === undefined) delete container[name];
    else container[name] = value;
  } else {
    const existing = container[name];
    const parent: JsonObject = isJsonObject(existing) ? { ...existing } : {};
    if (value === undefined) delete parent[resolved.subAttribute.name];
    else parent[resolved.subAttribute.name] = value;
    if (Object.keys(parent).length > 0) container[name] = parent;
    else delete container[name];
  }
  if (resolved.extension && Object.keys(container).length === 0) delete document[resolved.schema];
}

/** Reads an attribute (or a sub-attribute of a singular complex one) from a document. */
export function getResolvedValue(document: JsonObject, resolved: ResolvedAttribute): JsonValue | undefined {
  const container = containerOf(document, resolved, false);
  const value = container?.[resolved.attribute.name];
  if (resolved.subAttribute === undefined || value === undefined) return value;
  return isJsonObject(value) ? value[resolved.subAttribute.name] : undefined;
}

/**
 * Writes one client-sent attribute into a document under construction. readOnly ones are
 * ignored (RFC 7644 §3.5.1). A dotted key on a multi-valued attribute (`emails.value`) has no
 * single target in a resource body and is ignored too.
 */
function writeClientAttribute(
  context: ValueContext,
  document: JsonObject,
  resolved: ResolvedAttribute,
  raw: unknown,
): void {
  const label = attributeLabel(resolved);
  if (isReadOnly(resolved) || (resolved.subAttribute && resolved.attribute.multiValued)) {
    noteIgnored(context, label, 'readOnly');
    return;
  }
  const definition = resolved.subAttribute ?? resolved.attribute;
  const value = normaliseAttributeValue(context, definition, raw, label);
  noteSpecified(context, resolved.attribute, resolved.subAttribute, value);
  setResolvedValue(document, resolved, value);
}

/** Checks the `schemas` member of a resource body, if sent (RFC 7643 §3). */
function checkSchemasMember(resourceType: ResourceTypeRef, schemas: unknown): void {
  if (schemas === undefined || schemas === null) return;
  if (!Array.isArray(schemas) || !schemas.every((urn) => typeof urn === 'string')) {
    throw badRequest('invalidSyntax', 'schemas must be an array of schema URIs');
  }
  const lower = schemas.map((urn: string) => urn.toLowerCase());
  const core = resourceSchemas(resourceType).type.schema;
  if (lower.includes(core.toLowerCase())) return;
  // Only a different resource type's core schema is a real mistake; unknown URIs are tolerated.
  const other = SCHEMAS.find((schema) => schema.id !== core && lower.includes(schema.id.toLowerCase()));
  const otherIsCore = other && Object.values(RESOURCE_TYPES).some((type) => type.schema === other.id);
  if (other && otherIsCore) {
    throw badRequest('invalidValue', `schemas lists ${other.id}, but a ${resourceTypeName(resourceType)} must use ${core}`);
  }
}

function orderedAttributes(schema: SchemaDefinition, source: JsonObject, into: JsonObject): void {
  for (const attribute of schema.attributes) {
    const value = source[attribute.name];
    if (value !== undefined) into[attribute.name] = value;
  }
}

/**
 * Finishes a normalised document: checks required attributes (RFC 7643 §2.2 `required`), sets
 * `schemas` to the core schema plus the extensions present, and orders keys canonically.
 * Keys the schemas do not know are kept at the end (never silently destroyed).
 */
export function finishDocument(
  resourceType: ResourceTypeRef,
  document: JsonObject,
  /** Completes "userName is required …", e.g. "to create a User". */
  requiredReason: string,
): JsonObject {
  const type = resourceSchemas(resourceType).type;
  const output: JsonObject = {};
  const schemas: JsonValue[] = [type.schema];
  output['schemas'] = schemas;
  for (const common of COMMON_ATTRIBUTES) {
    const value = document[common.name];
    if (value !== undefined) output[common.name] = value;
  }
  for (const schema of schemasOf(resourceType)) {
    if (schema.id === type.schema) {
      checkRequired(schema, document, requiredReason);
      orderedAttributes(schema, document, output);
      continue;
    }
    const extension = document[schema.id];
    if (!isJsonObject(extension) || Object.keys(extension).length === 0) continue;
    checkRequired(schema, extension, requiredReason);
    const ordered: JsonObject = {};
    orderedAttributes(schema, extension, ordered);
    for (const [key, value] of Object.entries(extension)) if (!(key in ordered)) ordered[key] = value;
    output[schema.id] = ordered;
    schemas.push(schema.id);
  }
  for (const [key, value] of Object.entries(document)) if (!(key in output)) output[key] = value;
  return output;
}

function checkRequired(schema: SchemaDefinition, object: JsonObject, requiredReason: string): void {
  for (const attribute of schema.attributes) {
    if (!attribute.required || attribute.mutability === 'readOnly') continue;
    const value = object[attribute.name];
    if (value === undefined) {
      throw badRequest('invalidValue', `${attribute.name} is required ${requiredReason}`);
    }
    // RFC 7643 §4.1: "Each User MUST include a non-empty userName value"; same for displayName.
    if (typeof value === 'string' && value.trim() === '') {
      throw badRequest('invalidValue', `${attribute.name} must not be empty`);
    }
  }
}

/** Copies what the context noted (ignored paths, specified attributes) into the caller's lists. */
export function reportNotes(context: ValueContext, options: NormaliseOptions): void {
  // One by one: a spread of a hostile body's hundred thousand names would overflow the stack.
  for (const path of context.ignored) options.ignored?.push(path);
  for (const path of context.unknown) options.unknown?.push(path);
  for (const attribute of context.specified) options.specified?.add(attribute);
}

/**
 * Validates and normalises a client-sent resource for create (POST) or replace (PUT).
 * Throws ScimError 400 (invalidSyntax for a non-object body, invalidValue for bad values or a
 * missing required attribute). `password` is kept: the caller hashes or drops it. Both modes
 * apply the same rules (`mode` only words the messages): the RFC 7644 §3.5.1 immutable check
 * needs the stored resource, and no client-writable top-level attribute of Roster is immutable.
 */
export function normaliseResource(
  resourceType: ResourceTypeRef,
  body: unknown,
  mode: WriteMode,
  options: NormaliseOptions = {},
): JsonObject {
  const name = resourceTypeName(resourceType);
  if (!isJsonObject(body)) {
    throw badRequest('invalidSyntax', `The request body must be a JSON object representing a ${name}`);
  }
  const context = createValueContext(resourceType);
  const document: JsonObject = {};
  const named: Claims = new Map();
  for (const [key, raw] of Object.entries(body)) {
    const target = resolveKey(resourceType, key);
    switch (target.kind) {
      case 'schemas':
        checkSchemasMember(resourceType, raw);
        break;
      case 'unknown':
        noteUnknownKey(context, key, raw);
        break;
      case 'attribute':
        claimAttribute(named, target.resolved, key);
        writeClientAttribute(context, document, target.resolved, raw);
        break;
      case 'extension':
        writeExtensionObject(context, document, resourceType, target.schema, raw, named);
        break;
    }
  }
  reportNotes(context, options);
  return finishDocument(resourceType, document, `to ${mode} a ${name}`);
}

/** Writes the attributes of an extension object (`"urn:…:enterprise:2.0:User": {…}`) one by one. */
function writeExtensionObject(
  context: ValueContext,
  document: JsonObject,
  resourceType: ResourceTypeRef,
  schema: SchemaDefinition,
  raw: unknown,
  named: Claims,
): void {
  if (raw === null || raw === undefined) return;
  if (!isJsonObject(raw)) invalid(schema.id, `an object of ${schema.name} attributes`, raw);
  for (const [key, value] of Object.entries(raw)) {
    const resolved = resolveAttribute(resourceType, splitDotted(key, schema.id));
    if (!resolved) {
      noteIgnored(context, `${schema.id}:${key}`);
      continue;
    }
    claimAttribute(named, resolved, extensionKeyLabel(key, schema));
    writeClientAttribute(context, document, resolved, value);
  }
}

/** The attributes one client-sent object named so far: each path, lower-cased, and the key that named it. */
export type Claims = Map<string, string>;

/**
 * Refuses a body that gives one attribute twice (names are case-insensitive, RFC 7643 §2.1):
 * `userName` and `username`, an extension attribute both in its object and by its full URN,
 * `name` beside `name.givenName`, or one sub-attribute twice in a complex value (`name`'s
 * `givenName` and `GivenName`, an `emails` element's `value` and `Value`). Which one would win
 * is an accident of key order, so neither is taken (400 invalidSyntax), as a search body naming
 * a parameter twice is refused. `label` is the canonical path (`name.givenName`,
 * `emails[0].value`); `parent` the attribute it is a sub-attribute of, when named by a dotted key.
 */
function claimOnce(named: Claims, label: string, key: string, parent?: string): void {
  const path = label.toLowerCase();
  const whole = parent?.toLowerCase() ?? path;
  for (const [other, otherKey] of named) {
    if (other === path || other === whole || other.startsWith(`${path}.`)) {
      throw badRequest('invalidSyntax', `The body gives ${label} twice, as ${JSON.stringify(otherKey)} and ${JSON.stringify(key)}; send it once.`);
    }
  }
  named.set(path, key);
}

/** claimOnce for a key of a resource body, a PATCH value without a path, or an extension object. */
export function claimAttribute(named: Claims, resolved: ResolvedAttribute, key: string): void {
  const { schema, extension, attribute } = resolved;
  const parent = resolved.subAttribute ? attributeLabel({ schema, extension, attribute }) : undefined;
  claimOnce(named, attributeLabel(resolved), key, parent);
}

/** How a key inside an extension object is quoted when it is given twice. */
export function extensionKeyLabel(key: string, schema: SchemaDefinition): string {
  return `${key} (in ${schema.id})`;
}

/**
 * RFC 7644 §3.5.1 for a replacement (PUT) of `current` by `next`: a value of an immutable
 * attribute, once set, must be sent unchanged (400 mutability otherwise), and one the
 * replacement leaves out is kept, since it cannot be unassigned. Only declared extensions
 * have immutable top-level attributes. Returns `next`, or a copy with the kept values.
 */
export function keepImmutable(resourceType: ResourceTypeRef, current: JsonObject, next: JsonObject): JsonObject {
  const schemas = resourceSchemas(resourceType);
  let output = next;
  for (const schema of [schemas.core, ...schemas.extensions]) {
    for (const attribute of schema.attributes) {
      if (attribute.mutability !== 'immutable') continue;
      const extension = schema !== schemas.core;
      const resolved: ResolvedAttribute = { schema: schema.id, extension, attribute };
      const before = getResolvedValue(current, resolved);
      if (before === undefined) continue;
      const after = getResolvedValue(output, resolved);
      if (after === undefined) {
        if (output === next) output = { ...next };
        // setResolvedValue writes into the extension object: copy it rather than change `next`.
        const container = output[schema.id];
        if (extension && isJsonObject(container)) output[schema.id] = { ...container };
        setResolvedValue(output, resolved, before);
      } else if (!jsonEqual(before, after)) {
        throw badRequest('mutability', `${attributeLabel(resolved)} is immutable: it cannot be changed once set (RFC 7643 §2.2)`);
      }
    }
  }
  return output === next ? next : finishDocument(resourceType, output, `to replace a ${schemas.name}`);
}
