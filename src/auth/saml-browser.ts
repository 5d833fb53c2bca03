/**
 * Binds each AuthnRequest to the browser that started it, against login CSRF (security review,
 * issue 15, finding 5): otherwise a response the attacker obtained for their own account,
 * posted from the victim's browser by an auto-submitting form, would sign the victim in as the
 * attacker. /saml/login gives the browser a random value in a cookie and stores only its
 * SHA-256 with the request; the ACS accepts an answer to that request only from a browser that
 * presents the value, as SAML SP libraries do with a request cookie.
 *
 * The IdP posts the response cross-site, so the cookie must be SameSite=None, which browsers
 * accept only with Secure. On an https base URL it is `__Host-roster_saml`: Secure, Path=/, no
 * Domain, so no subdomain can set or shadow it. On plain http (development only) it is
 * `roster_saml` without any SameSite attribute: Firefox and Safari send it on the IdP's post,
 * Chrome only within two minutes of /saml/login (its "Lax+POST" allowance); docs/saml.md says so.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { cookieValue, isRandomCookieValue, randomCookieValue } from './cookies.ts';

/** The value a request is bound to, its hash (what is stored) and the cookie that carries it. */
export interface BrowserBindingIssue {
  readonly value: string;
  readonly hash: string;
  /** The Set-Cookie header value. */
  readonly setCookie: string;
}

/** The browser binding under one base URL's scheme. */
export interface BrowserBinding {
  /** The binding value a request's Cookie header presents, if it holds a well-formed one. */
  presented(cookies: string | undefined): string | undefined;
  /**
   * The value to bind a new request to: the browser's own when it has one, so that sign-ins
   * started in two tabs both finish, else a new one; the cookie (re)set for `lifetimeMs`.
   */
  issue(cookies: string | undefined): BrowserBindingIssue;
}

/** Creates the binding; `secure` (an https base URL) gives the __Host- cookie with SameSite=None. */
export function createBrowserBinding(options: { secure: boolean; lifetimeMs: number }): BrowserBinding {
  const name = options.secure ? '__Host-roster_saml' : 'roster_saml';
  const attributes = ['Path=/', 'HttpOnly', ...(options.secure ? ['Secure', 'SameSite=None'] : []), `Max-Age=${Math.floor(options.lifetimeMs / 1000)}`];
  const presented = (cookies: string | undefined): string | undefined => {
    const value = cookieValue(cookies, name);
    return isRandomCookieValue(value) ? value : undefined;
  };
  return {
    presented,
    issue(cookies) {
      const value = presented(cookies) ?? randomCookieValue();
      return { value, hash: bindingHash(value), setCookie: [`${name}=${value}`, ...attributes].join('; ') };
    },
  };
}

/** What is stored for a binding value: its SHA-256, hex. */
function bindingHash(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** True when the browser presented the value whose hash the request stored; never for a request stored without one. */
export function isSameBrowser(presented: string | undefined, storedHash: string | null): boolean {
  if (presented === undefined || storedHash === null) return false;
  const expected = Buffer.from(storedHash, 'hex');
  const actual = Buffer.from(bindingHash(presented), 'hex');
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
