/**
 * What the HTTP side knows about a browser request's origin and destination, shared by the
 * SAML routes and the console: where a browser may be sent back to after sign-in, and which
 * client an anonymous request counts against (the audit budget, the password backoff).
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { FastifyRequest } from 'fastify';
import type { SessionOrigin } from '../auth/sessions.ts';
import { describeBrowser } from './user-agent.ts';

/** The longest return path kept, once percent-encoded. */
const MAX_RETURN_PATH = 2048;
/** Resolves return paths against nothing real: only its origin is compared. */
const PLACEHOLDER_ORIGIN = 'https://roster.invalid';
/** A path on this server: `/…`, never `//host` or `/\host`, which browsers treat as other hosts. */
const LOCAL_PATH = /^\/(?![/\\])/;

/**
 * `value` as a path on this server, percent-encoded the way browsers encode URLs (WHATWG URL),
 * or undefined when it is not one. The result is printable ASCII only, so it can be sent as a
 * Location header as it is (RFC 9110 §10.2.2): a path with characters above U+00FF once made
 * the ACS fail after the assertion was used. Control characters and backslashes are refused
 * rather than dropped, and the check is made again after dot segments are resolved
 * (`/.//host` would become `//host`).
 */
export function localPath(value: string): string | undefined {
  if (value.length > MAX_RETURN_PATH || !LOCAL_PATH.test(value) || /[\u0000-\u001f\u007f\\]/.test(value)) return undefined;
  let url: URL;
  try {
    url = new URL(value, PLACEHOLDER_ORIGIN);
  } catch {
    return undefined;
  }
  if (url.origin !== PLACEHOLDER_ORIGIN) return undefined;
  const path = `${url.pathname}${url.search}${url.hash}`;
  if (path.length > MAX_RETURN_PATH || !LOCAL_PATH.test(path) || !/^[\x21-\x7e]+$/.test(path)) return undefined;
  return path;
}

/** The hosts besides Roster's own that a browser may be sent back to after sign-in. */
export interface ReturnTrust {
  /** Roster's own origin (ROSTER_BASE_URL): an absolute URL there is taken as a local path. */
  readonly origin: string;
  /** ROSTER_COOKIE_DOMAIN without its leading dot (`example.com`): that host and every host below it. */
  readonly cookieDomain?: string | undefined;
  /** ROSTER_TRUSTED_HOSTS: host names, lower case, IDNs in their `xn--` form. */
  readonly trustedHosts?: readonly string[] | undefined;
}

/** Loopback hosts, which may be sent back to over plain http (a developer's machine). */
const LOOPBACK = /^(?:localhost|.+\.localhost|127(?:\.\d{1,3}){3}|\[::1\])$/;

/**
 * Where a browser may be sent back to after sign-in (`/sessions/new`, `/saml/login`, the SAML
 * ACS, forward auth): a path on this server (see localPath), or an absolute URL on a host
 * `trust` names, over https (plain http only for loopback hosts), without credentials.
 * Anything else is undefined: an open redirect would lend Roster's name to phishing. A URL on
 * Roster's own origin comes back as its local path, so callers apply their local rules to it.
 * The result is printable ASCII (hosts in their `xn--` form), ready for a Location header.
 */
export function returnAddress(value: string, trust: ReturnTrust): string | undefined {
  if (value.startsWith('/')) return localPath(value);
  if (value.length > MAX_RETURN_PATH || !/^https?:\/\//i.test(value) || /[\u0000-\u0020\u007f\\]/.test(value)) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.username !== '' || url.password !== '') return undefined;
  if (url.origin === trust.origin) return localPath(`${url.pathname}${url.search}${url.hash}`);
  const host = url.hostname;
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.test(host))) return undefined;
  const domain = trust.cookieDomain;
  const trusted = (domain !== undefined && (host === domain || host.endsWith(`.${domain}`))) || (trust.trustedHosts ?? []).includes(host);
  if (!trusted || url.href.length > MAX_RETURN_PATH || !/^[\x21-\x7e]+$/.test(url.href)) return undefined;
  return url.href;
}

/** The longest client description kept when a trusted proxy names something that is not an address. */
const MAX_CLIENT_TEXT = 64;

/**
 * The client's address: the TCP peer's, or from a trusted proxy (ROSTER_TRUSTED_PROXIES) the
 * client it names in X-Forwarded-For, as an address alone: some proxies write `ip:port` or
 * `[ipv6]:port`, and each new source port made a new client (a fresh password budget per
 * connection); an IPv4 client on a dual-stack socket (`::ffff:192.0.2.2`, or its hex form) is
 * its IPv4 address. What a proxy writes that is no address at all (`unknown`, RFC 7239's
 * `_hidden`) is kept as text, cut short and without control characters: all such clients then
 * share one budget.
 */
export function clientAddress(request: FastifyRequest): string {
  return normalAddress(request.ip);
}

/** `value` as clientAddress describes it. */
function normalAddress(value: string): string {
  // A socket closed before its peer was asked knows none (app.ts asks early; this is the guard).
  if (typeof value !== 'string') return 'unknown';
  const bare = /^\[([^\]]+)\](?::\d+)?$/.exec(value)?.[1] ?? /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(value)?.[1] ?? value;
  const address = bare.replace(/%.*$/, '');
  if (isIPv4(address)) return address;
  if (!isIPv6(address)) return value.replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, MAX_CLIENT_TEXT);
  const groups = ipv6Groups(address);
  // ::ffff:a.b.c.d, written either way.
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    const [high = 0, low = 0] = groups.slice(6);
    return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
  }
  return ipv6Text(groups);
}

/** The eight 16-bit groups of a valid IPv6 address. */
function ipv6Groups(address: string): number[] {
  const [head = '', tail] = address.split('::');
  const parts = (text: string): number[] =>
    text === ''
      ? []
      : text.split(':').flatMap((part) => {
          if (!part.includes('.')) return [parseInt(part, 16)];
          // An embedded IPv4 tail fills the last two groups.
          const [a = 0, b = 0, c = 0, d = 0] = part.split('.').map(Number);
          return [(a << 8) | b, (c << 8) | d];
        });
  const first = parts(head);
  if (tail === undefined) return first;
  const last = parts(tail);
  return [...first, ...Array.from({ length: 8 - first.length - last.length }, () => 0), ...last];
}

/** RFC 5952's text of eight groups: lower-case hex, the longest run of two or more zero groups as `::`. */
function ipv6Text(groups: readonly number[]): string {
  let best = { start: -1, length: 0 };
  for (let start = 0; start < groups.length; ) {
    if (groups[start] !== 0) {
      start += 1;
      continue;
    }
    let end = start;
    while (end < groups.length && groups[end] === 0) end += 1;
    if (end - start > best.length) best = { start, length: end - start };
    start = end;
  }
  const hex = groups.map((group) => group.toString(16));
  if (best.length < 2) return hex.join(':');
  return `${hex.slice(0, best.start).join(':')}::${hex.slice(best.start + best.length).join(':')}`;
}

/**
 * Who an anonymous request counts against (the audit budget, the password backoff): its client
 * address (see normalAddress), an IPv6 client by its /64 network (one subscriber usually holds a
 * whole /64, so single addresses would give it billions of budgets), written as RFC 5952 does.
 */
export function auditSource(ip: string): string {
  const address = normalAddress(ip);
  if (!isIPv6(address)) return address;
  return `${ipv6Text([...ipv6Groups(address).slice(0, 4), 0, 0, 0, 0])}/64`;
}


/** Where a sign-in comes from, as the session lists show it: the client's address and browser. */
export function sessionOrigin(request: FastifyRequest): SessionOrigin {
  return { address: auditSource(request.ip), browser: describeBrowser(request.headers['user-agent']) };
}
