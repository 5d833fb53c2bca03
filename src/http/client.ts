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

/**
 * Who an anonymous request counts against (the audit budget, the password backoff): its client address, an IPv6
 * client by its /64 network (one subscriber usually holds a whole /64, so single addresses
 * would give it billions of budgets), an IPv4-mapped address as IPv4.
 */
export function auditSource(ip: string): string {
  const address = ip.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped !== undefined && isIPv4(mapped)) return mapped;
  if (!isIPv6(address)) return address;
  const [head = '', tail] = address.split('::');
  const groups = head === '' ? [] : head.split(':');
  // With `::`, the missing groups are zeros; an embedded IPv4 tail only ever fills the last two.
  if (tail !== undefined) {
    const tailGroups = tail === '' ? 0 : tail.split(':').reduce((count, part) => count + (part.includes('.') ? 2 : 1), 0);
    groups.push(...Array.from({ length: 8 - groups.length - tailGroups }, () => '0'));
    groups.push(...(tail === '' ? [] : tail.split(':')));
  }
  return `${groups.slice(0, 4).map((group) => (group.includes('.') ? group : parseInt(group, 16).toString(16))).join(':')}::/64`;
}


/** Where a sign-in comes from, as the session lists show it: the client's address and browser. */
export function sessionOrigin(request: FastifyRequest): SessionOrigin {
  return { address: auditSource(request.ip), browser: describeBrowser(request.headers['user-agent']) };
}
