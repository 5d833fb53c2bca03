/** What every console page module is given when it registers its routes. */
import type { Services } from '../../services.ts';
import type { ReturnTrust } from '../client.ts';
import type { PreSessionCookie } from '../csrf.ts';

/** The services, the public base URL, and the sign-in form's pre-session cookie. */
export interface ConsoleContext {
  readonly services: Services;
  /** The public URL of this instance, without trailing slash (ROSTER_BASE_URL). */
  readonly baseUrl: string;
  readonly preSession: PreSessionCookie;
  /** Where sign-in may send a browser back to besides this server (client.ts returnAddress). */
  readonly trust: ReturnTrust;
}
