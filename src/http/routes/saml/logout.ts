/** POST /saml/logout: ends the Roster session (not the IdP's). */
import type { FastifyInstance } from 'fastify';
import { sessionCookieValue } from '../../../auth/sessions.ts';
import type { Services } from '../../../services.ts';
import { SAML_BODY_LIMIT } from './common.ts';

/** Registers POST /saml/logout. */
export function logoutRoute(app: FastifyInstance, services: Services): void {
  app.post('/saml/logout', { bodyLimit: SAML_BODY_LIMIT }, async (request, reply) => {
    const value = sessionCookieValue(request.headers.cookie);
    // The row goes, so the cookie stops working on every instance, not just in this browser.
    if (value !== undefined) await services.sessions.close(value);
    return reply.header('set-cookie', services.sessions.clearCookie()).header('cache-control', 'no-store').redirect('/', 303);
  });
}
