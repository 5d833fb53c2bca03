/**
 * Reading cookies from a request's Cookie header (RFC 6265 §5.4), and the one shape of every
 * secret Roster puts in a cookie (session, pre-session, SAML browser binding, known browser).
 */
import { randomBytes } from 'node:crypto';

/** A new cookie secret: 256 random bits, base64url (43 characters). */
export function randomCookieValue(): string {
  return randomBytes(32).toString('base64url');
}

/** Whether `value` has the shape randomCookieValue gives: anything else is refused before any lookup. */
export function isRandomCookieValue(value: string | undefined): value is string {
  return value !== undefined && /^[A-Za-z0-9_-]{43}$/.test(value);
}

/** The value of the first cookie named `name` in a Cookie header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}
