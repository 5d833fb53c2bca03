/**
 * JSON value types for SCIM documents, and the few helpers every SCIM module needs on them.
 * Resources are plain JSON objects (keyed by canonical attribute names once normalised).
 */

export type JsonPrimitive = string | number | boolean | null;
export type JsonValue = JsonPrimitive | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

// PostgreSQL text cannot hold U+0000 (the query fails), and an unpaired surrogate is not
// Unicode: both databases would store U+FFFD instead, silently changing what the client sent.
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** What makes `text` unstorable (a NUL, an unpaired surrogate), or undefined when it can be stored as sent. */
export function unstorableText(text: string): string | undefined {
  const match = UNSTORABLE.exec(text);
  if (!match) return undefined;
  return match[0] === '\u0000' ? 'a NUL character (U+0000)' : 'an unpaired UTF-16 surrogate (not Unicode text)';
}

/** True for a plain JSON object (not null, not an array). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Structural equality of two JSON values; object key order does not matter. */
export function jsonEqual(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((element, index) => jsonEqual(element, b[index]));
  }
  if (typeof a === 'object' && typeof b === 'object') {
    const keys = Object.keys(a);
    if (keys.length !== Object.keys(b).length) return false;
    return keys.every((key) => Object.hasOwn(b, key) && jsonEqual(a[key], b[key]));
  }
  return false;
}

/** A deep copy, so that callers can change the result without touching the original. */
export function cloneJson<T extends JsonValue>(value: T): T {
  return structuredClone(value);
}
