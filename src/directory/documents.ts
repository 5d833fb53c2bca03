/** Comparing SCIM documents, so that a write that changes nothing leaves no new version or event. */
import { jsonEqual, type JsonValue } from '../scim/json.ts';

/** A SCIM document: canonical attribute names, extensions under their URN. */
export type Document = Record<string, unknown>;

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
