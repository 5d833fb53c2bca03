/**
 * Request-parsing rules that hold for every API, before any route sees the input: how large a
 * body may be, how it is encoded, how deep its JSON may nest, and which text Roster can store at all.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { ScimError, badRequest } from '../scim/errors.ts';
import { unstorableText } from '../scim/json.ts';

/**
 * The default largest request body, in bytes (ROSTER_MAX_BODY_SIZE changes it). It is also the
 * `maxPayloadSize` /Bulk advertises (RFC 7644 §3.7.4), so it must hold the largest of the real
 * requests: a PUT of a group with all its members (Okta's group push) at the 100,000 members
 * docs/performance.md measures, at 200 bytes a member (a 36-character id, a display name of 60
 * characters, "type", two-space indentation: 170 bytes measured) = 20 MB; and a Bulk request at
 * its maxOperations (1000) of users with every attribute: 1.9 KB each pretty-printed, 2.2 MB in
 * all (measured). A Bulk request may also carry that one large group PUT.
 */
export const DEFAULT_BODY_LIMIT = 20 * 1024 * 1024;

/** A byte count as people write it: `20 MiB`, `512 KiB`, or `1000 bytes`. */
export function formatBytes(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

/**
 * The refusal of a request body sent in a content coding (gzip, br …): 415, as RFC 9110
 * §15.5.16 says for "an unsupported content coding", and never a reading of the compressed bytes
 * as JSON or a form. Roster decodes none: the IdPs (Entra ID, Okta) send bodies uncompressed,
 * and a decoder would need its own limit on what a small body inflates to. Each scope answers
 * it in its own shape; a page says `message` as it is.
 */
export class UnsupportedContentCodingError extends ScimError {
  /** The codings the request named, lower-cased (`gzip`, `x-foo`). */
  readonly codings: readonly string[];

  constructor(codings: readonly string[]) {
    const named = codings.map((coding) => coding.slice(0, 40)).join(', ');
    super(415, undefined, `The request body is sent with Content-Encoding: ${named}, which Roster does not decode: send the body uncompressed, without Content-Encoding.`);
    this.codings = codings;
  }
}

/**
 * Headers a request may carry only once. Node's parser keeps the first `Host` or `Authorization`
 * and drops the others without a word, while a proxy in front may have read the last: the two
 * would then disagree about which host the request is for, or whose credentials it carries
 * (request smuggling, a confused deputy). RFC 9112 §3.2 requires a 400 for more than one Host;
 * Authorization is refused the same way, and so is Content-Type, which Node also keeps the first
 * of: a filter in front that read the body as the last type (a form) would have inspected
 * another body than the one Roster parses (JSON). Two Content-Length are refused by Node's
 * parser itself.
 */
const SINGLE_HEADERS: ReadonlyMap<string, string> = new Map([
  ['host', 'Host'],
  ['authorization', 'Authorization'],
  ['content-type', 'Content-Type'],
]);

/**
 * The headers forward auth reads the original URL from (routes/forward-auth.ts originalUrl):
 * nginx's X-Original-URL, and X-Forwarded-Proto, -Host and -Uri from Traefik and Caddy. Node
 * joins repeated lines of these with a comma and forward auth reads the first entry, while the
 * proxy (or an application behind it) may have used the last: a client that adds its own line
 * beside the proxy's would choose where the browser is sent back after sign-in. Refused on
 * /auth/verify only, where they are read; X-Forwarded-Method is not read, and X-Forwarded-For,
 * which proxies legitimately repeat, is read by its own rules (client.ts).
 */
export const FORWARDED_URL_HEADERS: ReadonlyMap<string, string> = new Map([
  ['x-original-url', 'X-Original-URL'],
  ['x-forwarded-proto', 'X-Forwarded-Proto'],
  ['x-forwarded-host', 'X-Forwarded-Host'],
  ['x-forwarded-uri', 'X-Forwarded-Uri'],
]);

/** The refusal of a request that carries a header more than once which it may carry only once: 400. */
export class RepeatedHeaderError extends ScimError {
  /** The headers repeated, as RFC 9110 spells them (`Host`, `Authorization`). */
  readonly headers: readonly string[];

  constructor(headers: readonly string[]) {
    const named = headers.length === 1 ? `the ${headers[0]} header` : `the ${headers.slice(0, -1).join(', ')} and ${headers.at(-1)} headers`;
    super(400, undefined, `The request carries ${named} more than once; Roster cannot tell which one is meant, so it refuses the request: send each once.`);
    this.headers = headers;
  }
}

/**
 * The headers of `names` (SINGLE_HEADERS unless given: lower-case name to its spelling) that
 * `rawHeaders` (Node's alternating name, value list, as received) holds more than once, in any
 * case; empty when none.
 */
export function repeatedHeaders(rawHeaders: readonly string[], names: ReadonlyMap<string, string> = SINGLE_HEADERS): string[] {
  const seen = new Set<string>();
  const repeated = new Set<string>();
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const name = names.get((rawHeaders[index] ?? '').toLowerCase());
    if (name === undefined) continue;
    if (seen.has(name)) repeated.add(name);
    seen.add(name);
  }
  return [...repeated];
}

/** What a 415 for a content coding tells the client it may use (RFC 9110 §12.5.3: only the body as it is). */
export const ACCEPTED_CONTENT_CODINGS = 'identity';

/**
 * The content codings (RFC 9110 §8.4) a request's body is declared in that Roster cannot read,
 * empty when none: no Content-Encoding, only `identity` (no coding at all), or no body to read.
 */
export function unreadableContentCodings(headers: IncomingHttpHeaders): string[] {
  const header = headers['content-encoding'];
  if (header === undefined) return [];
  const length = headers['content-length'];
  const hasBody = headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
  if (!hasBody) return [];
  return header
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
}

// A fatal decoder refuses what a lenient one would silently turn into U+FFFD (encoded
// surrogates included). It drops a leading byte order mark, as Fastify's JSON parser did.
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The text of a JSON request body, or a ScimError: 415 when the Content-Type declares a charset
 * other than UTF-8, 400 invalidSyntax when the bytes are not UTF-8. RFC 8259 §8.1 and RFC 7644
 * §3.8 make UTF-8 the encoding of JSON; decoding anything else would store altered data.
 */
export function decodeJsonBody(body: Buffer, contentType: string | undefined): string {
  const charset = contentType === undefined ? undefined : declaredCharset(contentType);
  // An empty body (Okta's DELETE with a JSON content type) has no encoding to get wrong.
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8' && body.length > 0) {
    throw new ScimError(415, undefined, `The request body is declared as charset=${charset.slice(0, 40)}; Roster reads JSON as UTF-8 only: send it as UTF-8, with charset=utf-8 or no charset.`);
  }
  try {
    return UTF8.decode(body);
  } catch {
    const offset = firstInvalidUtf8(body);
    throw badRequest('invalidSyntax', `The request body is not valid UTF-8: byte 0x${(body[offset] ?? 0).toString(16).toUpperCase().padStart(2, '0')} at offset ${offset} does not begin a complete UTF-8 character. Roster reads JSON as UTF-8 only.`);
  }
}

/** The charset parameter of a Content-Type header (RFC 9110 §8.3.2), unquoted and lower-cased, or undefined. */
function declaredCharset(contentType: string): string | undefined {
  // A quoted value is matched whole, so that a `;charset=` inside it is not taken for a parameter.
  for (const match of contentType.matchAll(/;\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)/g)) {
    if (match[1]?.toLowerCase() !== 'charset') continue;
    const raw = (match[2] ?? '').trim();
    const value = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
    return value.trim().toLowerCase();
  }
  return undefined;
}

/**
 * The offset of the first byte that does not begin a well-formed UTF-8 sequence (RFC 3629 §4:
 * no overlong forms, no surrogates, nothing above U+10FFFF), or -1 when all of `bytes` is UTF-8.
 */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i] ?? 0;
    if (lead < 0x80) {
      i += 1;
      continue;
    }
    // The continuation bytes to follow, and the range of the first one (which excludes the
    // overlong forms, the surrogates D800–DFFF and code points above 10FFFF).
    const [count, low, high] =
      lead >= 0xc2 && lead <= 0xdf ? [1, 0x80, 0xbf]
      : lead === 0xe0 ? [2, 0xa0, 0xbf]
      : lead === 0xed ? [2, 0x80, 0x9f]
      : lead >= 0xe1 && lead <= 0xef ? [2, 0x80, 0xbf]
      : lead === 0xf0 ? [3, 0x90, 0xbf]
      : lead === 0xf4 ? [3, 0x80, 0x8f]
      : lead >= 0xf1 && lead <= 0xf3 ? [3, 0x80, 0xbf]
      : [0, 0, 0];
    if (count === 0) return i;
    for (let k = 1; k <= count; k += 1) {
      const byte = bytes[i + k];
      const [min, max] = k === 1 ? [low, high] : [0x80, 0xbf];
      if (byte === undefined || byte < min || byte > max) return i;
    }
    i += count + 1;
  }
  return -1;
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

/** True when parsed JSON has a `__proto__` key anywhere (depth is bounded by jsonTooDeep first). */
export function hasProtoKey(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasProtoKey);
  if (typeof value !== 'object' || value === null) return false;
  if (Object.hasOwn(value, '__proto__')) return true;
  return Object.values(value).some(hasProtoKey);
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The route checks the text of its body itself (checkStorableText), part by part: /Bulk, where
     * text one operation carries must fail that operation only (RFC 7644 §3.7).
     */
    checksBodyText?: boolean;
  }
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

/** What the admin API answers a body it does not read: of another type than JSON, or none (docs/api.md). */
export const ADMIN_BODY_TYPES_MESSAGE = 'Send request bodies as application/json (PATCH: application/merge-patch+json).';

/** True for a body schema that allows no body: Fastify validates a missing body as `null`. */
function allowsNoBody(bodySchema: unknown): boolean {
  if (typeof bodySchema !== 'object' || bodySchema === null) return true;
  const type = (bodySchema as { type?: unknown }).type;
  return type === 'null' || (Array.isArray(type) && type.includes('null'));
}

/**
 * Refuses an admin API request without a body (none sent, or only white space) to a route whose
 * body schema requires one: 415, as a body of any other type, rather than the validator's
 * `Value {} for field body was rejected`, which names a field no request has. A route that takes
 * no body (NO_BODY) or an optional one keeps accepting none. A JSON `null` is a body, checked
 * by the route's schema.
 */
export function refuseMissingAdminBody(body: unknown, bodySchema: unknown): void {
  if (body === undefined && !allowsNoBody(bodySchema)) throw new ScimError(415, undefined, ADMIN_BODY_TYPES_MESSAGE);
}
