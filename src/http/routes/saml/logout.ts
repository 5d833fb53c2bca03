/** POST /saml/logout: ends the Roster session (not the IdP's). */
import type { FastifyInstance } from 'fastify';
import { sessionCookieValue } from '../../../auth/sessions.ts';
import type { Services } from '../../../services.ts';
import { isCrossSite } from '../../csrf.ts';
import { SAML_BODY_LIMIT } from './common.ts';

/** Registers POST /saml/logout. */
export function logoutRoute(app: FastifyInstance, services: Services): void {
  app.post('/saml/logout', { bodyLimit: SAML_BODY_LIMIT }, async (request, reply) => {
    // A form on another site must not sign people out: the session cookie (SameSite=Lax) does
    // not come with such a post, but the answer's cleared cookie would still be stored.
    if (isCrossSite(request.headers)) {
      return reply.code(403).header('cache-control', 'no-store').type('text/plain; charset=utf-8').send('Sign-out refused: the request came from another site. Sign out from Roster itself.');
    }
    const value = sessionCookieValue(request.headers.cookie);
    // The row goes, so the cookie stops working on every instance, not just in this browser.
    if (value !== undefined) await services.sessions.signOut(value);
    return reply.header('set-cookie', services.sessions.clearCookie()).header('cache-control', 'no-store').redirect('/', 303);
  });
}
