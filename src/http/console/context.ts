/** What every console page module is given when it registers its routes. */
import type { Services } from '../../services.ts';
import type { ReturnTrust } from '../client.ts';
import type { PreSessionCookie } from '../csrf.ts';
import type { KnownBrowserCookie } from '../known-browser.ts';

/** The services, the public base URL, and the cookies of the sign-in form. */
export interface ConsoleContext {
  readonly services: Services;
  /** The public URL of this instance, without trailing slash (ROSTER_BASE_URL). */
  readonly baseUrl: string;
  readonly preSession: PreSessionCookie;
  /** What a browser keeps after a password sign-in, so that strangers' failures do not hold it back. */
  readonly knownBrowser: KnownBrowserCookie;
  /** Where sign-in may send a browser back to besides this server (client.ts returnAddress). */
  readonly trust: ReturnTrust;
}
