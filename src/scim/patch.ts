/**
 * PATCH (RFC 7644 §3.5.2): reading the PatchOp message, applying its operations to a resource
 * document, and splitting Group membership changes out for the storage layer.
 *
 * Decisions, and why:
 * - A value path that matches nothing (`emails[type eq "work"].value` on a user without a work
 *   email): add and replace CREATE the element from the filter's `eq` conditions plus the value,
 *   because Entra sends exactly that for new values (RFC §3.5.2.3 would answer 400 noTarget,
 *   which is still the answer when the filter is not `eq` conditions joined by `and`). remove
 *   with a filter matching nothing is a no-op: what the client wants already holds.
 * - A value with no path: readOnly attributes are ignored as in PUT (RFC 7644 §3.5.1), since
 *   Okta's group rename repeats the group's `id`; an `id` different from `options.id` is refused
 *   (400 mutability). Unknown attributes are ignored, as in validate.ts.
 * - With a path: a readOnly target is 400 mutability, an unknown attribute 400 invalidPath;
 *   but a path under a URN that is no schema of the resource type (Entra's custom attribute
 *   mappings, `urn:…:CustomExtensionName:2.0:User:customAttribute`) is ignored like the same key
 *   in a body, so the other operations still apply: failing them would stall provisioning.
 * - Duplicates an operation creates (`add` of `CAROL@x.example` beside `carol@x.example`) are
 *   merged when the attribute is re-checked (validate.ts, RFC 7643 §2.4).
 * - Removing a required attribute is 400 invalidValue ("a required value was missing", Table 9).
 * - Group members never enter the document (groups may have 100k members): call
 *   splitGroupMemberOperations first and hand the MemberChanges to the storage layer; applyPatch
 *   throws if a Group member operation reaches it.
 * - Setting `primary` to true on one value sets it to false on the others (RFC 7644 §3.5.2).
 * - The whole request applies or nothing does: the first failing operation throws.
 */
import { badRequest } from './errors.ts';
import type { Filter, PatchPath } from './filter/ast.ts';
import { evaluateFilter } from './filter/evaluate.ts';
import { cloneJson, isJsonObject, jsonEqual } from './json.ts';
import type { JsonObject, JsonValue } from './json.ts';
import { parsePatchPath } from './path.ts';
import { ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, GROUP_SCHEMA_DEFINITION, PATCH_OP_SCHEMA, USER_SCHEMA, findAttribute, resolveAttribute, resourceTypeName } from './schemas.ts';
import type { AttributeDefinition, ResolvedAttribute, ResourceTypeRef, SchemaDefinition } from './schemas.ts';
import { caseKey } from '../text.ts';
import {
  attributeLabel,
  claimAttribute,
  createValueContext,
  extensionKeyLabel,
  extensionSchemasOf,
  finishDocument,
  getResolvedValue,
  isReadOnly,
  isUnknownSchema,
  memberIdOf,
  noteIgnored,
  noteSpecified,
  noteUnknownKey,
  normaliseAttributeValue,
  normaliseSingleValue,
  reportNotes,
  resolveKey,
  resolveLoosely,
  schemaNamedBy,
  setResolvedValue,
} from './validate.ts';
import type { Claims, ValueContext } from './validate.ts';

export type PatchOpName = 'add' | 'replace' | 'remove';

/** What a PATCH path selects: an attribute path (maybe with a value filter), or a whole extension. */
export type PatchTarget =
  | { readonly kind: 'attribute'; readonly path: PatchPath }
  | { readonly kind: 'schema'; readonly schema: string };

export interface ParsedPatchPath {
  /** The path as the client wrote it, for messages. */
  readonly text: string;
  readonly target: PatchTarget;
}

/** One validated operation of a PatchOp message. */
export interface PatchOperation {
  readonly op: PatchOpName;
  /** Absent when the client sent no path (add/replace of a set of attributes). */
  readonly path?: ParsedPatchPath;
  /** Absent only for remove without a value. */
  readonly value?: JsonValue;
}

/** A Group membership change, applied by storage as row inserts/deletes in request order. */
export type MemberChange =
  | { readonly kind: 'add'; readonly ids: string[] }
  | { readonly kind: 'remove'; readonly ids: string[] }
  | { readonly kind: 'removeAll' }
  | { readonly kind: 'replace'; readonly ids: string[] }
  | { readonly kind: 'removeWhere'; readonly filter: Filter };

export interface ApplyPatchOptions {
  /** The resource's id: a no-path value repeating it (Okta's group rename) is fine, another is refused. */
  readonly id?: string;
  /** Receives the paths of ignored attributes (unknown or readOnly in no-path values), for logging. */
  readonly ignored?: string[];
  /** Receives the ignored paths that no schema in force defines (validate.ts NormaliseOptions.unknown). */
  readonly unknown?: string[];
  /** Receives the attributes the operations gave a value (validate.ts NormaliseOptions.specified). */
  readonly specified?: Set<AttributeDefinition>;
}

const GROUP_MEMBERS = findAttribute(GROUP_SCHEMA_DEFINITION.attributes, 'members');
const OPERATION_NAMES: ReadonlySet<string> = new Set(['add', 'replace', 'remove']);

/** Case-insensitive member lookup: structural names are case-insensitive for Entra's sake. */
function member(object: JsonObject, name: string): JsonValue | undefined {
  if (Object.hasOwn(object, name)) return object[name];
  const lower = name.toLowerCase();
  const key = Object.keys(object).find((candidate) => candidate.toLowerCase() === lower);
  return key === undefined ? undefined : object[key];
}

function hasMember(object: JsonObject, name: string): boolean {
  const lower = name.toLowerCase();
  return Object.keys(object).some((key) => key.toLowerCase() === lower);
}

// ---------------------------------------------------------------------------------------------
// Parsing the message

/** Parses a PATCH path: a whole extension URN, or an attribute/value path (400 invalidPath). */
function parsePath(text: string, label: string): ParsedPatchPath {
  const parsed = parsePatchPath(text);
  if (!parsed.ok) {
    throw badRequest('invalidPath', `${label}: the path ${JSON.stringify(text)} is not valid: ${parsed.error.message}`);
  }
  const { attribute, filter, subAttribute } = parsed.value;
  const schema = filter === undefined && subAttribute === undefined ? schemaNamedBy(attribute) : undefined;
  if (schema) return { text, target: { kind: 'schema', schema: schema.id } };
  return { text, target: { kind: 'attribute', path: parsed.value } };
}

function parseOperation(raw: JsonValue, index: number): PatchOperation {
  const label = `Operations[${index}]`;
  if (!isJsonObject(raw)) {
    throw badRequest('invalidSyntax', `${label} must be an object such as {"op": "replace", "path": "active", "value": false}`);
  }
  const opValue = member(raw, 'op');
  const op = typeof opValue === 'string' ? opValue.toLowerCase() : undefined;
  if (op === undefined || !OPERATION_NAMES.has(op)) {
    const sent = opValue === undefined ? 'is missing' : `is ${JSON.stringify(opValue)}`;
    throw badRequest('invalidSyntax', `${label}.op ${sent}; it must be "add", "remove" or "replace"`);
  }
  const pathValue = member(raw, 'path');
  if (pathValue !== undefined && pathValue !== null && typeof pathValue !== 'string') {
    throw badRequest('invalidPath', `${label}.path must be a string`);
  }
  // An empty path is sent by some clients for "no path".
  const path = typeof pathValue === 'string' && pathValue.trim() !== '' ? parsePath(pathValue, label) : undefined;
  const value = member(raw, 'value');
  if (op === 'remove') {
    if (!path) throw badRequest('noTarget', `${label}: remove needs a path naming what to remove (RFC 7644 §3.5.2.2)`);
    return value === undefined ? { op, path } : { op, path, value };
  }
  const name = op === 'add' ? 'add' : 'replace';
  if (!hasMember(raw, 'value')) throw badRequest('invalidValue', `${label}: ${name} needs a "value"`);
  if (!path) {
    if (!isJsonObject(value)) {
      throw badRequest('invalidValue', `${label}: without a path, the value of ${name} must be an object of attributes`);
    }
    return { op: name, value };
  }
  return { op: name, path, value: value ?? null };
}

/**
 * Validates a PatchOp message (RFC 7644 §3.5.2) and returns its operations in order.
 * `schemas` may be omitted (tolerance), but if sent must include the PatchOp URN; op names are
 * case-insensitive (Entra sends "Replace"); an empty Operations array is valid (no change).
 */
export function parsePatchRequest(body: unknown): PatchOperation[] {
  if (!isJsonObject(body)) {
    throw badRequest('invalidSyntax', 'The PATCH body must be a JSON object with "schemas" and "Operations" (RFC 7644 §3.5.2)');
  }
  const schemas = member(body, 'schemas');
  if (schemas !== undefined) {
    const wanted = PATCH_OP_SCHEMA.toLowerCase();
    const listed = Array.isArray(schemas) && schemas.some((urn) => typeof urn === 'string' && urn.toLowerCase() === wanted);
    if (!listed) throw badRequest('invalidSyntax', `schemas must be ["${PATCH_OP_SCHEMA}"] in a PATCH request`);
  }
  const operations = member(body, 'Operations');
  if (!Array.isArray(operations)) {
    throw badRequest('invalidSyntax', 'Operations must be an array of operations, e.g. [{"op": "replace", "path": "active", "value": false}]');
  }
  return operations.map(parseOperation);
}

// ---------------------------------------------------------------------------------------------
// Applying operations to a document

interface PatchState {
  readonly resourceType: ResourceTypeRef;
  /** The resource type's name, for messages. */
  readonly name: string;
  readonly document: JsonObject;
  /** Reads client values: readOnly sub-attributes ignored. */
  readonly context: ValueContext;
  /** Re-checks the attribute after each operation: stored readOnly values kept. */
  readonly recheck: ValueContext;
  readonly id: string | undefined;
}

/**
 * Applies PATCH operations in order to a resource document and returns the new document
 * (the input is never changed). Values are checked with validate.ts's rules, and every
 * attribute an operation touches is re-validated afterwards (types, one primary, sizes,
 * duplicates merged).
 */
export function applyPatch(
  resourceType: ResourceTypeRef,
  resource: JsonObject,
  operations: readonly PatchOperation[],
  options: ApplyPatchOptions = {},
): JsonObject {
  const state: PatchState = {
    resourceType,
    name: resourceTypeName(resourceType),
    document: cloneJson(resource),
    context: createValueContext(resourceType),
    recheck: createValueContext(resourceType, false),
    id: options.id,
  };
  operations.forEach((operation, index) => applyOperation(state, operation, `Operations[${index}]`));
  reportNotes(state.context, options);
  return finishDocument(resourceType, state.document, `and cannot be removed from a ${state.name}`);
}

function applyOperation(state: PatchState, operation: PatchOperation, label: string): void {
  const { op, path, value } = operation;
  if (!path) {
    if (op === 'remove') throw badRequest('noTarget', `${label}: remove needs a path naming what to remove`);
    applyWithoutPath(state, op, value, label);
  } else if (path.target.kind === 'schema') {
    applyToExtension(state, op, path.target.schema, value, path.text);
  } else {
    applyToPath(state, op, path.target.path, value, path.text);
  }
}

/** add/replace without a path: the value is a set of attributes (RFC 7644 §3.5.2.1, §3.5.2.3). */
function applyWithoutPath(state: PatchState, op: 'add' | 'replace', value: JsonValue | undefined, label: string): void {
  if (!isJsonObject(value)) {
    throw badRequest('invalidValue', `${label}: without a path, the value of ${op} must be an object of attributes`);
  }
  // Each attribute once, as in a resource body (validate.ts claimOnce).
  const named: Claims = new Map();
  for (const [key, raw] of Object.entries(value)) {
    if (key.includes('[')) {
      // Tolerance: a value path used as a key, e.g. {"emails[type eq \"work\"].value": "…"}.
      const parsed = parsePath(key, label);
      if (parsed.target.kind === 'attribute') applyToPath(state, op, parsed.target.path, raw, key);
      continue;
    }
    const target = resolveKey(state.resourceType, key);
    switch (target.kind) {
      case 'schemas':
        break;
      case 'unknown':
        noteUnknownKey(state.context, key, raw);
        break;
      case 'extension':
        applyExtensionValue(state, op, target.schema, raw, key, named);
        break;
      case 'attribute':
        claimAttribute(named, target.resolved, key);
        applyKeyedAttribute(state, op, target.resolved, raw);
        break;
    }
  }
}

/** One attribute of a no-path value (or of an extension object): readOnly ones are ignored. */
function applyKeyedAttribute(state: PatchState, op: 'add' | 'replace', resolved: ResolvedAttribute, raw: JsonValue): void {
  refuseGroupMembers(state, resolved);
  const label = attributeLabel(resolved);
  if (isReadOnly(resolved)) {
    const isId = resolved.schema === '' && resolved.attribute.name === 'id' && resolved.subAttribute === undefined;
    if (isId && state.id !== undefined && raw !== state.id) {
      throw badRequest('mutability', `id is readOnly: ${JSON.stringify(raw)} is not this resource's id ${JSON.stringify(state.id)}`);
    }
    noteIgnored(state.context, label, 'readOnly');
    return;
  }
  applyToAttribute(state, op, resolved, raw, label);
}

/** The attributes of an extension object, applied one by one (a null replace unassigns them all). */
function applyExtensionValue(
  state: PatchState,
  op: 'add' | 'replace',
  schema: SchemaDefinition,
  raw: JsonValue | undefined,
  label: string,
  named: Claims = new Map(),
): void {
  if (raw === null || raw === undefined) {
    if (op === 'replace') delete state.document[schema.id];
    return;
  }
  if (!isJsonObject(raw)) throw badRequest('invalidValue', `${label} must be an object of ${schema.name} attributes`);
  for (const [key, value] of Object.entries(raw)) {
    const target = resolveKey(state.resourceType, `${schema.id}:${key}`);
    if (target.kind !== 'attribute') {
      noteIgnored(state.context, `${schema.id}:${key}`);
      continue;
    }
    claimAttribute(named, target.resolved, extensionKeyLabel(key, schema));
    applyKeyedAttribute(state, op, target.resolved, value);
  }
}

/** Whether `urn` is one of RFC 7643's schemas (core User and Group, Enterprise User), in any case. */
function isCoreSchema(urn: string | undefined): boolean {
  const lower = urn?.toLowerCase();
  return [USER_SCHEMA, GROUP_SCHEMA, ENTERPRISE_USER_SCHEMA].some((known) => known.toLowerCase() === lower);
}

/** A path naming a whole extension, e.g. `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`. */
function applyToExtension(
  state: PatchState,
  op: PatchOpName,
  urn: string,
  value: JsonValue | undefined,
  text: string,
): void {
  const schema = extensionSchemasOf(state.resourceType).find((candidate) => candidate.id === urn);
  if (!schema) {
    throw badRequest('invalidPath', `${text} is not an extension of a ${state.name}; name an attribute instead`);
  }
  if (op === 'remove') {
    refuseImmutableRemoval(schema, state.document[schema.id], text);
    delete state.document[schema.id];
  } else applyExtensionValue(state, op, schema, value, text);
}

/**
 * 400 mutability when removing a whole extension would take an immutable attribute's value
 * (or an immutable sub-attribute's) with it: removing the attribute itself is refused, and the
 * extension's removal was a way around that, after which any new value could be set.
 */
function refuseImmutableRemoval(schema: SchemaDefinition, extension: JsonValue | undefined, text: string): void {
  if (!isJsonObject(extension)) return;
  const valueOf = (object: JsonObject, name: string): JsonValue | undefined => {
    const key = Object.keys(object).find((candidate) => caseKey(candidate) === caseKey(name));
    return key === undefined ? undefined : object[key];
  };
  for (const attribute of schema.attributes) {
    const value = valueOf(extension, attribute.name);
    checkImmutable(attribute, value, undefined, `${text} holds ${attribute.name}, which`);
    if (attribute.multiValued || !isJsonObject(value)) continue;
    for (const sub of attribute.subAttributes ?? []) checkImmutable(sub, valueOf(value, sub.name), undefined, `${text} holds ${attribute.name}.${sub.name}, which`);
  }
}

function applyToPath(state: PatchState, op: PatchOpName, path: PatchPath, value: JsonValue | undefined, text: string): void {
  // parsePatchRequest knows the built-in schemas only: a path naming a declared extension
  // as a whole is recognised here, where the schemas in force are known.
  const schema = path.filter === undefined && path.subAttribute === undefined ? schemaNamedBy(path.attribute, state.resourceType) : undefined;
  if (schema) {
    applyToExtension(state, op, schema.id, value, text);
    return;
  }
  const resolved = resolveLoosely(state.resourceType, path.attribute);
  if (!resolved) {
    // An undeclared extension is ignored (Entra's custom mappings); the core schemas are known to
    // every client, and one of another resource type (a Group's displayName on a User) is a mistake.
    if (isUnknownSchema(state.resourceType, path.attribute.schema) && !isCoreSchema(path.attribute.schema)) {
      noteIgnored(state.context, text);
      return;
    }
    throw badRequest('invalidPath', `The path ${JSON.stringify(text)} names no attribute of a ${state.name}`);
  }
  refuseGroupMembers(state, resolved);
  if (isReadOnly(resolved)) {
    throw badRequest('mutability', `${text} is readOnly and cannot be changed (RFC 7643 §2.2)`);
  }
  if (path.filter === undefined) {
    applyToAttribute(state, op, resolved, value, text);
    return;
  }
  if (resolved.subAttribute) {
    throw badRequest('invalidPath', `${text}: a value filter must follow the multi-valued attribute itself, e.g. emails[type eq "work"].value`);
  }
  applyToElements(state, op, resolved, path.filter, path.subAttribute, value, text);
}

function refuseGroupMembers(state: PatchState, resolved: ResolvedAttribute): void {
  if (state.name === 'Group' && resolved.attribute === GROUP_MEMBERS) {
    // A programming error, not a client one: members are applied as rows by the storage layer.
    throw new Error('applyPatch: Group member operations must be split out with splitGroupMemberOperations first');
  }
}

function topLevel(resolved: ResolvedAttribute): ResolvedAttribute {
  return { schema: resolved.schema, extension: resolved.extension, attribute: resolved.attribute };
}

/** Re-validates the whole attribute an operation touched, with the same rules as validate.ts. */
function recheck(state: PatchState, resolved: ResolvedAttribute): void {
  const top = topLevel(resolved);
  const value = getResolvedValue(state.document, top);
  setResolvedValue(state.document, top, normaliseAttributeValue(state.recheck, top.attribute, value, attributeLabel(top)));
}

/** RFC 7644 §3.5.2: an immutable attribute may be added when unassigned, never changed. */
function checkImmutable(
  definition: AttributeDefinition,
  before: JsonValue | undefined,
  after: JsonValue | undefined,
  label: string,
): void {
  if (definition.mutability === 'immutable' && before !== undefined && !jsonEqual(before, after)) {
    throw badRequest('mutability', `${label} is immutable: it cannot be changed once set`);
  }
}

/** An attribute or `attr.sub` target, without a value filter. */
function applyToAttribute(
  state: PatchState,
  op: PatchOpName,
  resolved: ResolvedAttribute,
  raw: JsonValue | undefined,
  label: string,
): void {
  const { attribute, subAttribute } = resolved;
  if (subAttribute && attribute.multiValued) {
    // `emails.type` with no filter selects that sub-attribute of every value.
    applyToElements(state, op, topLevel(resolved), undefined, subAttribute.name, raw, label);
    return;
  }
  const definition = subAttribute ?? attribute;
  const existing = getResolvedValue(state.document, resolved);
  let next: JsonValue | undefined;
  if (op === 'remove') {
    // Entra's old dialect removes listed values: {"op":"Remove","path":"members","value":[{"value":"id"}]}.
    next = attribute.multiValued && raw !== undefined && raw !== null
      ? removeListedValues(state, attribute, existing, raw, label)
      : undefined;
  } else {
    const value = normaliseAttributeValue(state.context, definition, raw, label);
    noteSpecified(state.context, attribute, subAttribute, value);
    if (value === undefined) next = op === 'replace' || isEmptyReference(definition, raw) ? undefined : existing;
    else if (definition.multiValued) next = op === 'replace' ? value : appendValues(existing, value);
    // RFC 7644 §3.5.2.1/§3.5.2.3: sub-attributes given replace theirs; the others are kept.
    else if (definition.type === 'complex') next = { ...(isJsonObject(existing) ? existing : {}), ...(value as JsonObject) };
    else next = value;
  }
  checkImmutable(definition, existing, next, label);
  setResolvedValue(state.document, resolved, next);
  recheck(state, resolved);
}

/**
 * Whether `raw` is an empty id for a singular reference (`manager`: `""` or `{"value": ""}`),
 * which names nobody: an `add` of it clears the reference, as a `replace` or a PUT does
 * (docs/scim.md), rather than leave the one there while answering 200.
 */
function isEmptyReference(definition: AttributeDefinition, raw: JsonValue | undefined): boolean {
  if (definition.multiValued || definition.type !== 'complex' || findAttribute(definition.subAttributes ?? [], '$ref') === undefined) return false;
  return raw === '' || (isJsonObject(raw) && raw['value'] === '');
}

/** add to a multi-valued attribute: appends values not already present (RFC 7644 §3.5.2.1). */
function appendValues(existing: JsonValue | undefined, added: JsonValue): JsonValue[] {
  const list = Array.isArray(existing) ? [...existing] : [];
  const touched: JsonValue[] = [];
  for (const value of Array.isArray(added) ? added : [added]) {
    const present = list.find((candidate) => jsonEqual(candidate, value));
    if (present === undefined) list.push(value);
    touched.push(present ?? value);
  }
  return preferPrimary(list, touched);
}

/** When a touched value is primary, the others stop being primary (RFC 7644 §3.5.2). */
function preferPrimary(list: JsonValue[], touched: readonly JsonValue[]): JsonValue[] {
  if (!touched.some((value) => isJsonObject(value) && value['primary'] === true)) return list;
  const keep = new Set(touched);
  return list.map((value) =>
    !keep.has(value) && isJsonObject(value) && value['primary'] === true ? { ...value, primary: false } : value,
  );
}

/** Two values of a multi-valued attribute are the same when their `value`s match (else all of them). */
function sameValue(attribute: AttributeDefinition, a: JsonValue, b: JsonValue): boolean {
  if (isJsonObject(a) && isJsonObject(b) && b['value'] !== undefined) {
    const left = a['value'];
    const right = b['value'];
    const caseExact = findAttribute(attribute.subAttributes ?? [], 'value')?.caseExact ?? true;
    if (!caseExact && typeof left === 'string' && typeof right === 'string') return caseKey(left) === caseKey(right);
    return jsonEqual(left, right);
  }
  return jsonEqual(a, b);
}

function removeListedValues(
  state: PatchState,
  attribute: AttributeDefinition,
  existing: JsonValue | undefined,
  raw: JsonValue,
  label: string,
): JsonValue | undefined {
  const listed = normaliseAttributeValue(state.context, attribute, raw, label);
  if (!Array.isArray(existing)) return existing;
  if (!Array.isArray(listed)) return existing;
  return existing.filter((value) => !listed.some((gone) => sameValue(attribute, value, gone)));
}

/**
 * The element a value filter describes, from its `eq` conditions joined by `and`
 * (`type eq "work"` gives {type: "work"}); undefined when the filter says more than that.
 */
function elementFromFilter(
  state: PatchState,
  filter: Filter | undefined,
  subAttributes: readonly AttributeDefinition[],
  label: string,
): JsonObject | undefined {
  if (filter === undefined) return {};
  if (filter.kind === 'and') {
    const left = elementFromFilter(state, filter.left, subAttributes, label);
    const right = elementFromFilter(state, filter.right, subAttributes, label);
    if (!left || !right) return undefined;
    const conflict = Object.keys(right).some((key) => key in left && !jsonEqual(left[key], right[key]));
    return conflict ? undefined : { ...left, ...right };
  }
  if (filter.kind !== 'compare' || filter.op !== 'eq' || filter.value === null) return undefined;
  if (filter.path.schema !== undefined || filter.path.subAttribute !== undefined) return undefined;
  const subAttribute = findAttribute(subAttributes, filter.path.attribute);
  if (!subAttribute || subAttribute.type === 'complex') return undefined;
  const value = normaliseSingleValue(state.context, subAttribute, filter.value, `${label} (filter ${subAttribute.name})`);
  return value === undefined ? undefined : { [subAttribute.name]: value };
}

function withSubValue(element: JsonValue, name: string, value: JsonValue | undefined): JsonObject | undefined {
  const copy: JsonObject = isJsonObject(element) ? { ...element } : {};
  if (value === undefined) delete copy[name];
  else copy[name] = value;
  return Object.keys(copy).length > 0 ? copy : undefined;
}

/**
 * Targets elements of a multi-valued attribute: those matching `filter` (all, when undefined),
 * or their sub-attribute `subName`. See the module comment for the no-match behaviour.
 */
function applyToElements(
  state: PatchState,
  op: PatchOpName,
  resolved: ResolvedAttribute,
  filter: Filter | undefined,
  subName: string | undefined,
  raw: JsonValue | undefined,
  label: string,
): void {
  const { attribute } = resolved;
  if (!attribute.multiValued || attribute.type !== 'complex') {
    throw badRequest('invalidPath', `${label}: ${attribute.name} is not a multi-valued complex attribute, so it takes no value filter`);
  }
  const subAttributes = attribute.subAttributes ?? [];
  let subAttribute: AttributeDefinition | undefined;
  if (subName !== undefined) {
    subAttribute = findAttribute(subAttributes, subName);
    if (!subAttribute) throw badRequest('invalidPath', `${label}: ${attribute.name} has no sub-attribute ${subName}`);
    if (subAttribute.mutability === 'readOnly') {
      throw badRequest('mutability', `${label} is readOnly and cannot be changed (RFC 7643 §2.2)`);
    }
  }
  const existing = getResolvedValue(state.document, resolved);
  const list: JsonValue[] = Array.isArray(existing) ? [...existing] : [];
  const matches = (value: JsonValue): boolean =>
    isJsonObject(value) && (filter === undefined || evaluateFilter(filter, value, subAttributes));
  const matched = new Set(list.filter(matches));
  let next: JsonValue[];
  if (op === 'remove') {
    if (matched.size === 0) return; // Nothing to remove: the requested end state already holds.
    if (subAttribute) {
      const sub = subAttribute;
      // An element of an attribute with a `value` (an email, a phone number, a role) means
      // nothing without one: removing `emails[type eq "work"].value`, as Entra ID does when the
      // source attribute is cleared, removes the work email rather than leave {"type":"work"}.
      const valued = findAttribute(subAttributes, 'value') !== undefined;
      next = list.flatMap((value) => {
        if (!matched.has(value)) return [value];
        checkImmutable(sub, isJsonObject(value) ? value[sub.name] : undefined, undefined, label);
        const changed = withSubValue(value, sub.name, undefined);
        return changed && !(valued && changed.value === undefined) ? [changed] : [];
      });
    } else {
      next = list.filter((value) => !matched.has(value));
    }
  } else {
    const selection: Selection = { attribute, list, matched, filter, label };
    next = subAttribute ? setSubAttribute(state, op, selection, subAttribute, raw) : setElements(state, op, selection, raw);
  }
  setResolvedValue(state.document, resolved, next.length > 0 ? next : undefined);
  recheck(state, resolved);
}

/** The elements of a multi-valued attribute an operation selected. */
interface Selection {
  readonly attribute: AttributeDefinition;
  readonly list: JsonValue[];
  readonly matched: ReadonlySet<JsonValue>;
  readonly filter: Filter | undefined;
  readonly label: string;
}

/** add/replace of `attr[filter].sub`: sets the sub-attribute on every match, or creates one element. */
function setSubAttribute(
  state: PatchState,
  op: 'add' | 'replace',
  selection: Selection,
  subAttribute: AttributeDefinition,
  raw: JsonValue | undefined,
): JsonValue[] {
  const { list, matched, label } = selection;
  const value = normaliseAttributeValue(state.context, subAttribute, raw, label);
  noteSpecified(state.context, selection.attribute, subAttribute, value);
  if (matched.size === 0) {
    if (value === undefined) return list;
    const created: JsonObject = { ...seedFor(state, selection), [subAttribute.name]: value };
    return preferPrimary([...list, created], [created]);
  }
  if (value === undefined && op === 'add') return list;
  const touched: JsonValue[] = [];
  const next = list.flatMap((element) => {
    if (!matched.has(element)) return [element];
    checkImmutable(subAttribute, isJsonObject(element) ? element[subAttribute.name] : undefined, value, label);
    const changed = withSubValue(element, subAttribute.name, value);
    if (changed) touched.push(changed);
    return changed ? [changed] : [];
  });
  return subAttribute.name === 'primary' ? preferPrimary(next, touched) : next;
}

/** add/replace of `attr[filter]`: merge the value into every match, or create one. */
function setElements(state: PatchState, op: 'add' | 'replace', selection: Selection, raw: JsonValue | undefined): JsonValue[] {
  const { attribute, list, matched, filter, label } = selection;
  // The target is one value; a one-element array is tolerated.
  const single = Array.isArray(raw) && raw.length === 1 ? raw[0] : raw;
  if (Array.isArray(single)) throw badRequest('invalidValue', `${label} selects values of ${attribute.name}: give one value, not an array`);
  const value = normaliseSingleValue(state.context, attribute, single, label) as JsonObject | undefined;
  noteSpecified(state.context, attribute, undefined, value);
  if (matched.size === 0) {
    if (value === undefined) return list;
    const created: JsonObject = { ...seedFor(state, selection), ...value };
    return preferPrimary([...list, created], [created]);
  }
  if (value === undefined) return op === 'add' ? list : list.filter((element) => !matched.has(element));
  // Each match is a complex value: the sub-attributes the value names replace its own, the
  // others are left unchanged (RFC 7644 §3.5.2.3), for replace as for add. Replacing them
  // wholesale dropped what the client did not repeat: `replace emails[type eq "home"]` with
  // {"primary": true} lost the address itself.
  const touched: JsonValue[] = [];
  const next = list.map((element) => {
    if (!matched.has(element)) return element;
    const changed: JsonObject = { ...(element as JsonObject), ...value };
    touched.push(changed);
    return changed;
  });
  return preferPrimary(next, touched);
}

/** The element to create when a value path matches nothing; 400 noTarget if the filter cannot say. */
function seedFor(state: PatchState, selection: Selection): JsonObject {
  const seed = elementFromFilter(state, selection.filter, selection.attribute.subAttributes ?? [], selection.label);
  if (!seed) {
    throw badRequest(
      'noTarget',
      `${selection.label} matches no value, and a value can only be created from a filter of "eq" conditions joined by "and"`,
    );
  }
  return seed;
}

// ---------------------------------------------------------------------------------------------
// Group membership

function isMembersPath(path: PatchPath): boolean {
  return resolveAttribute('Group', path.attribute)?.attribute === GROUP_MEMBERS;
}

/**
 * The member ids in a members value: objects with a non-empty string `value` (400 invalidValue
 * otherwise). Leniency: a `value` that is one id string instead of a list of objects
 * (`"value": "2819c223…"`) is read as that one member, as some clients send it.
 */
function memberIds(value: JsonValue | undefined, label: string): string[] {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string' && value !== '') return [value];
  const ids = new Set<string>();
  (Array.isArray(value) ? value : [value]).forEach((element, index) => {
    ids.add(memberIdOf(element, Array.isArray(value) ? `${label}[${index}]` : label));
  });
  return [...ids];
}

/** The ids of `value eq "x"` or an `or` of such; undefined for any other filter. */
function idsFromFilter(filter: Filter): string[] | undefined {
  if (filter.kind === 'or') {
    const left = idsFromFilter(filter.left);
    const right = idsFromFilter(filter.right);
    return left && right ? [...new Set([...left, ...right])] : undefined;
  }
  if (filter.kind !== 'compare' || filter.op !== 'eq' || typeof filter.value !== 'string') return undefined;
  const { path } = filter;
  if (path.schema !== undefined || path.subAttribute !== undefined || path.attribute.toLowerCase() !== 'value') return undefined;
  return [filter.value];
}

function memberChangeForPath(operation: PatchOperation, path: PatchPath, text: string): MemberChange | undefined {
  const subAttribute = path.subAttribute ?? path.attribute.subAttribute;
  if (path.filter !== undefined) {
    if (subAttribute !== undefined && subAttribute.toLowerCase() !== 'value') {
      throw badRequest('mutability', `${text}: members.${subAttribute} cannot be changed; remove the member and add it again`);
    }
    if (operation.op !== 'remove') {
      throw badRequest('invalidPath', `${text}: to add members use {"op": "add", "path": "members", "value": [{"value": "<user id>"}]}`);
    }
    const ids = idsFromFilter(path.filter);
    return ids ? { kind: 'remove', ids } : { kind: 'removeWhere', filter: path.filter };
  }
  if (subAttribute !== undefined) {
    throw badRequest('invalidPath', `${text}: name the members themselves (path "members" or members[value eq "<id>"])`);
  }
  return memberChangeForValue(operation.op, operation.value, 'members');
}

function memberChangeForValue(op: PatchOpName, value: JsonValue | undefined, label: string): MemberChange | undefined {
  if (op === 'remove') {
    if (value === undefined || value === null) return { kind: 'removeAll' };
    // Entra's old dialect lists the members to remove; an empty list removes nobody.
    const ids = memberIds(value, label);
    return ids.length > 0 ? { kind: 'remove', ids } : undefined;
  }
  const ids = memberIds(value, label);
  if (op === 'add') return ids.length > 0 ? { kind: 'add', ids } : undefined;
  return ids.length > 0 ? { kind: 'replace', ids } : { kind: 'removeAll' };
}

/**
 * Splits a Group PATCH into membership changes (for storage, in request order) and the other
 * operations (for applyPatch). Handles path `members` (add/replace/remove, with Entra's value
 * list on remove), `members[value eq "id"]` filters, and `members` inside no-path values.
 */
export function splitGroupMemberOperations(operations: readonly PatchOperation[]): {
  memberChanges: MemberChange[];
  otherOperations: PatchOperation[];
} {
  const memberChanges: MemberChange[] = [];
  const otherOperations: PatchOperation[] = [];
  for (const operation of operations) {
    const { path } = operation;
    if (path?.target.kind === 'attribute' && isMembersPath(path.target.path)) {
      const change = memberChangeForPath(operation, path.target.path, path.text);
      if (change) memberChanges.push(change);
      continue;
    }
    if (path || operation.op === 'remove' || !isJsonObject(operation.value)) {
      otherOperations.push(operation);
      continue;
    }
    const rest: JsonObject = {};
    const named: Claims = new Map();
    for (const [key, value] of Object.entries(operation.value)) {
      // applyPatch reads a key with '[' as a value path; one naming members must not reach it.
      const keyPath = key.includes('[') ? parsePath(key, key) : undefined;
      if (keyPath?.target.kind === 'attribute' && isMembersPath(keyPath.target.path)) {
        const change = memberChangeForPath({ op: operation.op, path: keyPath, value }, keyPath.target.path, key);
        if (change) memberChanges.push(change);
        continue;
      }
      const target = resolveKey('Group', key);
      if (target.kind === 'attribute' && target.resolved.attribute === GROUP_MEMBERS) {
        if (target.resolved.subAttribute) {
          throw badRequest('invalidPath', `${key}: name the members themselves, e.g. {"members": [{"value": "<user id>"}]}`);
        }
        // {"members": […], "Members": […]}: a replace would keep whichever came last.
        claimAttribute(named, target.resolved, key);
        const change = memberChangeForValue(operation.op, value, key);
        if (change) memberChanges.push(change);
      } else {
        rest[key] = value;
      }
    }
    if (Object.keys(rest).length > 0) otherOperations.push({ op: operation.op, value: rest });
  }
  return { memberChanges, otherOperations };
}
