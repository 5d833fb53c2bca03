/**
 * The known-browser cookie: what a browser keeps after signing in to an account with its
 * password, so that its later attempts count apart from strangers' (directory/password-sign-in.ts).
 * `__Host-roster_browser` on an https base URL (Secure, this host only, whatever
 * ROSTER_COOKIE_DOMAIN says: the applications under that domain have no use for it),
 * `roster_browser` on plain http. SameSite=Strict: only Roster's own forms send it.
 */
import { cookieValue } from '../auth/cookies.ts';

/** The known-browser cookie under one base URL's scheme. */
export interface KnownBrowserCookie {
  /** The value the browser presents, if any (the domain checks its shape). */
  presented(cookies: string | undefined): string | undefined;
  /** The Set-Cookie value that keeps `value` until `expiresAt`. */
  set(value: string, expiresAt: Date): string;
}

/** The cookie for a base URL's scheme. */
export function knownBrowserCookie(options: { readonly secure: boolean }): KnownBrowserCookie {
  const name = options.secure ? '__Host-roster_browser' : 'roster_browser';
  const attributes = ['Path=/', 'HttpOnly', 'SameSite=Strict', ...(options.secure ? ['Secure'] : [])];
  return {
    presented: (cookies) => cookieValue(cookies, name),
    set: (value, expiresAt) => [`${name}=${value}`, ...attributes, `Expires=${expiresAt.toUTCString()}`].join('; '),
  };
}
