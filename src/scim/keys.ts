/**
 * What the store keeps beside a resource document so that the databases can compare it the way
 * the schema says, identically on SQLite and PostgreSQL:
 *
 * - the folded document: the same JSON with every value of a caseExact=false text attribute
 *   replaced by its case key (text.ts `caseKey`). The filter compiler reads JSON attributes from
 *   it, so `name.familyName eq "ÉMILE"` compares keys, never the databases' own `lower()`
 *   (SQLite's folds ASCII only; PostgreSQL's follows its locale);
 * - the unique values: one key per value of an attribute a declared schema marks
 *   `uniqueness: server` (or `global`), which a unique index enforces across instances.
 *
 * Pure: the caller stores the results.
 */
import { normaliseDateTime } from './date-time.ts';
import { isJsonObject, type JsonObject, type JsonValue } from './json.ts';
import { COMMON_ATTRIBUTES, findAttribute, resourceSchemas, type AttributeDefinition, type ResourceTypeRef } from './schemas.ts';
import { caseKey } from '../text.ts';

/** Whether values of the attribute compare by their case key (the filter compiler's rule too). */
export function comparesByCaseKey(definition: AttributeDefinition): boolean {
  const text = definition.type === 'string' || definition.type === 'reference' || definition.type === 'binary';
  return text && !definition.caseExact;
}

function foldSingle(definition: AttributeDefinition, value: JsonValue): JsonValue {
  if (definition.type === 'complex') {
    if (!isJsonObject(value)) return value;
    const output: JsonObject = {};
    for (const [key, raw] of Object.entries(value)) {
      const sub = findAttribute(definition.subAttributes ?? [], key);
      output[key] = sub ? foldValue(sub, raw) : raw;
    }
    return output;
  }
  return typeof value === 'string' && comparesByCaseKey(definition) ? caseKey(value) : value;
}

function foldValue(definition: AttributeDefinition, value: JsonValue): JsonValue {
  return Array.isArray(value) ? value.map((element) => foldSingle(definition, element)) : foldSingle(definition, value);
}

function foldAttributes(attributes: readonly AttributeDefinition[], object: JsonObject): JsonObject {
  const output: JsonObject = {};
  for (const [key, value] of Object.entries(object)) {
    const definition = findAttribute(attributes, key);
    output[key] = definition ? foldValue(definition, value) : value;
  }
  return output;
}

/**
 * The folded copy of a stored document (the JSON part of a resource: no userName, displayName
 * of groups or other columns needed): same shape, same non-text values, every caseExact=false
 * text replaced by its case key. Keys no schema in force knows are copied as they are.
 */
export function foldDocument(resourceType: ResourceTypeRef, document: Readonly<Record<string, unknown>>): JsonObject {
  const schemas = resourceSchemas(resourceType);
  const output: JsonObject = {};
  for (const [key, raw] of Object.entries(document)) {
    const value = raw as JsonValue;
    const extension = schemas.extensions.find((schema) => schema.id === key);
    if (extension) {
      output[key] = isJsonObject(value) ? foldAttributes(extension.attributes, value) : value;
      continue;
    }
    const definition = findAttribute(schemas.core.attributes, key) ?? findAttribute(COMMON_ATTRIBUTES, key);
    output[key] = definition ? foldValue(definition, value) : value;
  }
  return output;
}

/** One value of an attribute declared unique, as the unique index compares it. */
export interface UniqueValue {
  /** `urn:…:attributeName`, lower-cased (URNs and attribute names are case-insensitive). */
  readonly attribute: string;
  /** The attribute as a person writes it, for messages. */
  readonly label: string;
  /** The value as it compares: its case key, the exact text when caseExact, a number's or instant's canonical text. */
  readonly key: string;
  /** The value as sent, for messages. */
  readonly value: string;
}

function uniqueKey(definition: AttributeDefinition, value: JsonValue): string | undefined {
  if (typeof value === 'string') {
    if (definition.type === 'dateTime') return normaliseDateTime(value) ?? value;
    return comparesByCaseKey(definition) ? caseKey(value) : value;
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

/**
 * The values of `document` that attributes of declared extensions mark `uniqueness: server`
 * or `global` hold: one entry per distinct value (a multi-valued attribute gives several).
 * Roster checks both within itself; it cannot see beyond (RFC 7643 §2.2 requires no more).
 */
export function uniqueValues(resourceType: ResourceTypeRef, document: Readonly<Record<string, unknown>>): UniqueValue[] {
  const schemas = resourceSchemas(resourceType);
  const output = new Map<string, UniqueValue>();
  for (const schema of schemas.extensions) {
    const container = document[schema.id];
    if (!isJsonObject(container as JsonValue)) continue;
    for (const definition of schema.attributes) {
      if (definition.uniqueness === 'none' || definition.type === 'complex') continue;
      const raw = (container as JsonObject)[definition.name];
      if (raw === undefined) continue;
      const label = `${schema.id}:${definition.name}`;
      const attribute = label.toLowerCase();
      for (const value of Array.isArray(raw) ? raw : [raw]) {
        const key = uniqueKey(definition, value);
        if (key !== undefined) output.set(`${attribute}\u0000${key}`, { attribute, label, key, value: String(value) });
      }
    }
  }
  return [...output.values()];
}

/** Whether any declared extension of the resource type declares a unique attribute. */
export function hasUniqueAttributes(resourceType: ResourceTypeRef): boolean {
  return resourceSchemas(resourceType).extensions.some((schema) => schema.attributes.some((attribute) => attribute.uniqueness !== 'none'));
}
