/**
 * Cursors of cursor-based paging (RFC 9865). A cursor is a keyset position (the sort key and
 * the SCIM id of the resource it follows or precedes), the query it belongs to, the page size
 * and an expiry, signed with HMAC-SHA-256: a client can neither forge one nor move it to
 * another query, and no cursor is kept on the server (any instance can continue a walk that
 * another started, since they share the signing key through the database).
 *
 * The text is `<payload>.<mac>`, both base64url: only characters of RFC 3986 §2.3's unreserved
 * set, as RFC 9865 §2 requires.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { ScimError } from './errors.ts';
import type { AttributePath, Filter } from './filter/ast.ts';
import type { ResourceTypeName } from './schemas.ts';

/** What a walk lists: one resource type, or both (the root search, RFC 7644 §3.4.3). */
export type CursorScope = ResourceTypeName | 'root';

/** A sort key as the database returned it (text, a number, or NULL for "no value"). */
export type SortKey = string | number | null;

/** A place in a sorted list: the resource's sort key (null without sortBy) and its SCIM id. */
export interface KeysetPosition {
  readonly key: SortKey;
  readonly id: string;
}

/** What a cursor says: continue `query` after (or before) `position`, `count` at a time. */
export interface CursorState {
  /** The endpoint the walk is on: 'User', 'Group', or 'root' for the search over both. */
  readonly resourceType: CursorScope;
  /** queryDigest() of the filter and sort the walk belongs to. */
  readonly query: string;
  /** `next`: the resources after `position`; `previous`: the page that ends just before it. */
  readonly direction: 'next' | 'previous';
  readonly position: KeysetPosition;
  readonly count: number;
  /** Seconds since the epoch after which the cursor is refused with expiredCursor. */
  readonly expiresAt: number;
}

/** The signing key; the caller gets it from the database, where every instance finds the same one. */
export interface CursorKey {
  readonly secret: Uint8Array;
}

const VERSION = 1;
const INVALID =
  'The cursor is not valid: it was not issued by this service provider, or it was altered. Send an empty cursor (cursor=) to start again, then the nextCursor or previousCursor values of the responses.';

/**
 * A digest of what decides which resources a walk visits and in what order: the resource type,
 * the filter and the sort. A cursor carries it, so that it is refused for another query (RFC
 * 9865 §2: the other parameters must stay the same from page to page).
 */
export function queryDigest(resourceType: string, filter: Filter | undefined, sortBy: AttributePath | undefined, descending: boolean): string {
  // Attribute names are case-insensitive (RFC 7643 §2.1): `userName` and `username` sort alike.
  const sort = sortBy === undefined ? null : [sortBy.schema ?? '', sortBy.attribute, sortBy.subAttribute ?? ''].join(':').toLowerCase();
  const text = JSON.stringify([resourceType, filter ?? null, sort, descending]);
  return createHash('sha256').update(text, 'utf8').digest('base64url').slice(0, 22);
}

function mac(payload: string, key: CursorKey): string {
  return createHmac('sha256', key.secret).update(payload, 'utf8').digest('base64url');
}

/** The cursor text for a state. */
export function encodeCursor(state: CursorState, key: CursorKey): string {
  const { position } = state;
  const body = [VERSION, state.resourceType, state.query, state.direction === 'next' ? 'n' : 'p', position.key, position.id, state.count, state.expiresAt];
  const payload = Buffer.from(JSON.stringify(body), 'utf8').toString('base64url');
  return `${payload}.${mac(payload, key)}`;
}

function isSortKey(value: unknown): value is SortKey {
  return value === null || typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}

/**
 * Reads a cursor: 400 invalidCursor when it is not one this key signed, 400 expiredCursor
 * when it is past its expiry (`now` in seconds since the epoch). The caller checks that it
 * belongs to the request's query and count.
 */
export function decodeCursor(text: string, key: CursorKey, now: number): CursorState {
  const dot = text.indexOf('.');
  const payload = dot > 0 ? text.slice(0, dot) : '';
  // The texts are compared, not the decoded bytes: base64url decoding ignores stray characters
  // and the unused bits of the last one, so two texts could decode to the same MAC.
  const signature = Buffer.from(text.slice(dot + 1), 'utf8');
  const expected = Buffer.from(mac(payload, key), 'utf8');
  if (payload === '' || signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
    throw new ScimError(400, 'invalidCursor', INVALID);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    throw new ScimError(400, 'invalidCursor', INVALID);
  }
  // Signed by us, so well-formed unless a later version changed the layout.
  if (!Array.isArray(body) || body.length !== 8 || body[0] !== VERSION) throw new ScimError(400, 'invalidCursor', INVALID);
  const [, resourceType, query, direction, positionKey, id, count, expiresAt] = body as unknown[];
  if (
    (resourceType !== 'User' && resourceType !== 'Group' && resourceType !== 'root') ||
    typeof query !== 'string' ||
    (direction !== 'n' && direction !== 'p') ||
    !isSortKey(positionKey) ||
    typeof id !== 'string' ||
    typeof count !== 'number' ||
    typeof expiresAt !== 'number'
  ) {
    throw new ScimError(400, 'invalidCursor', INVALID);
  }
  if (now > expiresAt) {
    throw new ScimError(
      400,
      'expiredCursor',
      'The cursor has expired: request the next page sooner (see cursorTimeout in /ServiceProviderConfig), or start again with an empty cursor.',
    );
  }
  return { resourceType, query, direction: direction === 'n' ? 'next' : 'previous', position: { key: positionKey, id }, count, expiresAt };
}
