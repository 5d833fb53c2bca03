/**
 * Browser sessions on the HTTP side: who is signed in, and the admin check that accepts a
 * bearer token or the session of an administrator.
 */
import type { FastifyRequest } from 'fastify';
import { sessionCookieValue } from '../auth/sessions.ts';
import { ScimError } from '../scim/errors.ts';
import type { UserProfile } from '../directory/sign-in.ts';
import type { Services } from '../services.ts';
import { authenticate, bearerToken } from './auth.ts';

/** The user signed in through the request's session cookie, or undefined. */
export async function sessionUser(request: FastifyRequest, services: Services): Promise<UserProfile | undefined> {
  const value = sessionCookieValue(request.headers.cookie);
  if (value === undefined) return undefined;
  const session = await services.sessions.find(value);
  if (session === undefined) return undefined;
  const profile = await services.signIn.profile(session.userId);
  return profile?.active === true ? profile : undefined;
}

/**
 * Lets in any active user, administrator or not, by its own bearer token or its session; sets
 * request.actor. Throws 401 (403 for a token that belongs to no user). For SCIM /Me only.
 */
export async function authenticateSelf(request: FastifyRequest, services: Services): Promise<void> {
  if (bearerToken(request) !== undefined) {
    await authenticate(request, services.tokens, { anyUser: true });
    return;
  }
  const user = await sessionUser(request, services);
  if (user === undefined) {
    throw new ScimError(401, undefined, 'Authentication required: sign in to Roster, or send "Authorization: Bearer <token>" with a token of your own.');
  }
  request.actor = { kind: 'session', userId: user.id, login: user.login };
}

/** Lets in a bearer token or an administrator's session; sets request.actor. Throws 401/403. */
export async function authenticateAdmin(request: FastifyRequest, services: Services): Promise<void> {
  // A presented token decides alone: a bad token is refused even if a session cookie came too.
  if (bearerToken(request) !== undefined) {
    await authenticate(request, services.tokens);
    return;
  }
  const user = await sessionUser(request, services);
  if (user === undefined) {
    throw new ScimError(401, undefined, 'Authentication required: sign in, or send "Authorization: Bearer <token>".');
  }
  if (!user.admin) throw new ScimError(403, undefined, 'Insufficient privileges');
  request.actor = { kind: 'session', userId: user.id, login: user.login };
}
