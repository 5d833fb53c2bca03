/**
 * GET /saml/login?returnTo=…: starts an SP-initiated sign-in (HTTP-Redirect binding);
 * `&reauthenticate=1` asks the IdP for a new sign-in (ForceAuthn).
 */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../services.ts';
import { returnAddress, sendHtml, type ReturnTrust } from './common.ts';
import { messagePage, refusalPage } from './pages.ts';

/** Registers GET /saml/login. */
export function loginRoute(app: FastifyInstance, services: Services, trust: ReturnTrust): void {
  app.get<{ Querystring: { returnTo?: string | string[]; reauthenticate?: string | string[] } }>('/saml/login', async (request, reply) => {
    const raw = request.query.returnTo;
    const returnTo = Array.isArray(raw) ? raw[0] : raw;
    // An open redirect after sign-in would lend Roster's name to phishing: only our own paths
    // and trusted hosts (forward auth), stored percent-encoded so that the ACS can always send
    // them as its Location.
    const path = returnTo === undefined ? null : returnAddress(returnTo, trust);
    if (path === undefined) {
      return sendHtml(reply, 400, refusalPage('returnTo must be a path on this server, such as /projects, or an https address on a host under ROSTER_COOKIE_DOMAIN or in ROSTER_TRUSTED_HOSTS, of at most 2048 characters once percent-encoded.'));
    }
    // From the sign-in page an application sent the browser to for a fresh sign-in (prompt=login, max_age).
    const forceAuthn = [request.query.reauthenticate].flat().includes('1');
    const login = await services.samlSp.loginRedirect(path, request.headers.cookie, { forceAuthn });
    if (login === undefined) return sendHtml(reply, 404, messagePage('SAML is not configured', 'Ask your administrator to configure SAML sign-in.'));
    return reply.header('set-cookie', login.setCookie).header('cache-control', 'no-store').redirect(login.url, 302);
  });
}
