/** Comparing SCIM documents, so that a write that changes nothing leaves no new version or event. */
import { jsonEqual, type JsonValue } from '../scim/json.ts';

/** A SCIM document: canonical attribute names, extensions under their URN. */
export type Document = Record<string, unknown>;

/** What a SCIM write tells the directory besides the document, for the audit trail. */
export interface WriteNotes {
  /**
   * Attributes the request sent that no schema in force defines (an undeclared extension, a
   * misspelt name): recorded as `details.ignoredAttributes`, so that an administrator sees an
   * IdP mapping that has no effect. A PATCH fills the array while its operations apply.
   */
  readonly ignoredAttributes?: readonly string[];
}

/** The URNs of the extensions a stored document carries (its keys that are URNs of objects). */
export function extensionUrns(data: Readonly<Record<string, unknown>>): string[] {
  return Object.keys(data).filter((key) => key.startsWith('urn:') && typeof data[key] === 'object' && data[key] !== null && !Array.isArray(data[key]));
}

/**
 * True when two documents hold the same attributes, whatever the order of their keys.
 * `schemas` and the computed `groups` do not count: they follow from the rest.
 */
export function sameAttributes(a: Document, b: Document): boolean {
  const { schemas: _aSchemas, groups: _aGroups, ...left } = a;
  const { schemas: _bSchemas, groups: _bGroups, ...right } = b;
  // Stored documents come from JSON, so they are JSON values.
  return jsonEqual(left as JsonValue, right as JsonValue);
}
