/** POST /saml/logout: ends the Roster session (not the IdP's). */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../services.ts';
import { isFromAnotherOrigin } from '../../csrf.ts';
import { SAML_BODY_LIMIT } from './common.ts';

/** Registers POST /saml/logout. */
export function logoutRoute(app: FastifyInstance, services: Services, origin: string): void {
  app.post('/saml/logout', { bodyLimit: SAML_BODY_LIMIT }, async (request, reply) => {
    // A form on another page must not sign people out. From another site the session cookie
    // (SameSite=Lax) does not come with the post, but the answer's cleared cookie would still be
    // stored; from a sibling host of the same site the cookie comes, and the session would end.
    if (isFromAnotherOrigin(request.headers, origin)) {
      return reply.code(403).header('cache-control', 'no-store').type('text/plain; charset=utf-8').send('Sign-out refused: the request came from a page that is not Roster\'s. Sign out from Roster itself.');
    }
    const value = services.sessions.presented(request.headers.cookie);
    // The row goes, so the cookie stops working on every instance, not just in this browser.
    // With the cookies: the applications this browser signed in to are sent a back-channel logout.
    if (value !== undefined) await services.sessions.signOut(value, request.headers.cookie);
    return reply.header('set-cookie', services.sessions.clearCookie()).header('cache-control', 'no-store').redirect('/', 303);
  });
}
