/**
 * Request-parsing rules that hold for every API, before any route sees the input: how large a
 * body may be, how deep its JSON may nest, and which text Roster can store at all.
 */
import { badRequest } from '../scim/errors.ts';
import { unstorableText } from '../scim/json.ts';

/**
 * The default largest request body, in bytes (ROSTER_MAX_BODY_SIZE changes it). Sized from the
 * largest real request: a PUT of a group with all its members (Okta's group push) at the 100,000
 * members docs/performance.md measures, at 200 bytes a member (a 36-character id, a display name
 * of 60 characters, "type", two-space indentation: 170 bytes measured) = 20 MB.
 */
export const DEFAULT_BODY_LIMIT = 20 * 1024 * 1024;

/** A byte count as people write it: `20 MiB`, `512 KiB`, or `1000 bytes`. */
export function formatBytes(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

/** Deepest JSON nesting accepted; SCIM resources need 4 levels, and deeper input only serves to blow the stack. */
export const MAX_JSON_DEPTH = 32;

/**
 * True when the JSON text nests arrays/objects deeper than `max`. A linear scan before parsing,
 * so that every later recursive walk (validation, JSON.stringify in messages, cloning) stays shallow.
 */
export function jsonTooDeep(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (inString) {
      if (code === 0x5c) i += 1; // a backslash: the next character is escaped, never a quote that ends the string
      else if (code === 0x22) inString = false;
    } else if (code === 0x22) {
      inString = true;
    } else if (code === 0x5b || code === 0x7b) {
      depth += 1;
      if (depth > max) return true;
    } else if (code === 0x5d || code === 0x7d) {
      depth -= 1;
    }
  }
  return false;
}

/**
 * Throws 400 invalidValue when a string (or an object key) anywhere in `value` holds text no
 * database can store faithfully; `where` names the value for the message (`body`, `query parameter filter`).
 */
export function checkStorableText(value: unknown, where: string): void {
  if (typeof value === 'string') {
    const problem = unstorableText(value);
    if (problem) throw badRequest('invalidValue', `${where} contains ${problem}, which Roster does not accept.`);
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => checkStorableText(item, `${where}[${index}]`));
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      checkStorableText(key, `the name of ${where}.${key.slice(0, 40)}`);
      checkStorableText(item, `${where}.${key}`);
    }
  }
}
