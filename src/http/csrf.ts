/**
 * Protection against cross-site request forgery for every state change a browser makes with
 * its cookies (OWASP CSRF Prevention Cheat Sheet, "synchronizer token"). The token is derived
 * from a secret only the browser holds in an HttpOnly cookie, so it needs no storage and every
 * instance computes the same one:
 * - signed in: from the session cookie, so the token is bound to the session and changes with it;
 * - signed out (the sign-in form): from a random pre-session cookie set with the form
 *   (SameSite=Strict, `__Host-` on https), which blocks login CSRF.
 * Forms send the token in the `_csrf` field, scripts in the `X-CSRF-Token` header.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { cookieValue, isRandomCookieValue, randomCookieValue } from '../auth/cookies.ts';

/** The form field that carries the token. */
export const CSRF_FIELD = '_csrf';
/** The request header that carries the token (fetch). */
export const CSRF_HEADER = 'x-csrf-token';

/** The token for a secret (the session cookie's value, or the pre-session cookie's). */
export function csrfTokenFor(secret: string): string {
  return createHmac('sha256', secret).update('roster csrf v1').digest('base64url');
}

/** True when `presented` is the token of `secret`, compared in constant time. */
export function csrfTokenMatches(secret: string | undefined, presented: unknown): boolean {
  if (!isRandomCookieValue(secret) || typeof presented !== 'string') return false;
  const expected = Buffer.from(csrfTokenFor(secret));
  const actual = Buffer.from(presented);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** The token a request presents: the `X-CSRF-Token` header, else the `_csrf` form field. */
export function presentedCsrfToken(headers: Readonly<Record<string, string | string[] | undefined>>, body: unknown): string | undefined {
  const header = headers[CSRF_HEADER];
  if (typeof header === 'string') return header;
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    const field = (body as Record<string, unknown>)[CSRF_FIELD];
    if (typeof field === 'string') return field;
  }
  return undefined;
}

/**
 * Whether the browser says the request comes from another site (Sec-Fetch-Site, sent by every
 * current browser): such a state change is refused outright, token or not.
 */
export function isCrossSite(headers: Readonly<Record<string, string | string[] | undefined>>): boolean {
  return headers['sec-fetch-site'] === 'cross-site';
}

/**
 * True unless the request comes from one of Roster's own pages or from no page at all (`curl`,
 * a bookmark): for a form that carries no token. `Sec-Fetch-Site` says so in current browsers;
 * `same-site` is refused too, as a page on a sibling host (app.example.com beside
 * roster.example.com) gets Roster's SameSite=Lax cookie sent with its form. Without that header,
 * an `Origin` other than Roster's gives the page away.
 */
export function isFromAnotherOrigin(headers: Readonly<Record<string, string | string[] | undefined>>, origin: string): boolean {
  const site = headers['sec-fetch-site'];
  if (site !== undefined) return site !== 'same-origin' && site !== 'none';
  const from = headers['origin'];
  return from !== undefined && from !== origin;
}

/**
 * True when the browser says the request comes from one of Roster's own pages: `Sec-Fetch-Site:
 * same-origin`, or, without that header, an `Origin` that is Roster's. A page of Roster's that
 * sends a token of another session is a form loaded before the latest sign-in, not a forgery
 * (which no page of Roster's sends); it is refused all the same, only said otherwise.
 */
export function isSameOrigin(headers: Readonly<Record<string, string | string[] | undefined>>, origin: string): boolean {
  const site = headers['sec-fetch-site'];
  if (site !== undefined) return site === 'same-origin';
  return headers['origin'] === origin;
}

/** Methods that change nothing (RFC 9110 §9.2.1) and need no token. */
export function isSafeMethod(method: string): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS';
}

/** The pre-session cookie of the sign-in form, under one base URL's scheme. */
export interface PreSessionCookie {
  /** The secret the browser presents, when it holds a well-formed one. */
  presented(cookies: string | undefined): string | undefined;
  /** The browser's secret if it has one, else a new one; with the Set-Cookie value that (re)sets it. */
  issue(cookies: string | undefined): { readonly secret: string; readonly setCookie: string };
}

/**
 * The pre-session cookie: `__Host-roster_csrf` (Secure, Path=/) on an https base URL,
 * `roster_csrf` on plain http (development). SameSite=Strict: no other site's form sends it.
 */
export function preSessionCookie(options: { readonly secure: boolean }): PreSessionCookie {
  const name = options.secure ? '__Host-roster_csrf' : 'roster_csrf';
  const attributes = ['Path=/', 'HttpOnly', 'SameSite=Strict', ...(options.secure ? ['Secure'] : [])];
  const presented = (cookies: string | undefined): string | undefined => {
    const value = cookieValue(cookies, name);
    return isRandomCookieValue(value) ? value : undefined;
  };
  return {
    presented,
    issue(cookies) {
      const secret = presented(cookies) ?? randomCookieValue();
      return { secret, setCookie: [`${name}=${secret}`, ...attributes].join('; ') };
    },
  };
}
