/**
 * Which API a request belongs to, decided on the path the router reads, never on the spelling
 * of the URL: `//api/…`, `/api//scim/v2/…`, `/%61pi/…` and `/API/…` reach the same routes as
 * `/api/…` (ignoreDuplicateSlashes, percent-decoding, caseSensitive: false), so they must meet
 * the same checks and error shapes.
 */

/** Where the SCIM endpoint is mounted. */
export const SCIM_PREFIX = '/api/scim/v2';

/** The SCIM endpoint, the admin API (`{"message"}` errors), or the rest (health check, /saml pages). */
export type Api = 'scim' | 'admin' | 'other';

/** The API a routed path (a route's pattern, or the result of routedPath) belongs to; paths match regardless of case, as the router's do. */
export function apiOfPath(path: string): Api {
  const lower = path.toLowerCase();
  if (lower === SCIM_PREFIX.toLowerCase() || lower.startsWith(`${SCIM_PREFIX.toLowerCase()}/`)) return 'scim';
  if (lower === '/api' || lower.startsWith('/api/')) return 'admin';
  return 'other';
}

/**
 * The path of a request URL as the router (find-my-way) reads it, for requests no route matched
 * (a 404, a URL the router could not decode): the path of an absolute-form target (RFC 9112
 * §3.2.2), without query or fragment, empty segments dropped, each segment percent-decoded as
 * decodeURI does (an encoded `/` stays encoded, as for the router). A segment that does not
 * decode is kept as sent.
 */
export function routedPath(url: string): string {
  const target = url.replace(/^https?:\/\/[^/?#]*/i, '');
  const end = target.search(/[?#]/);
  const segments = (end === -1 ? target : target.slice(0, end)).split('/').filter((segment) => segment !== '');
  return `/${segments.map(decodeSegment).join('/')}`;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURI(segment);
  } catch {
    return segment;
  }
}
