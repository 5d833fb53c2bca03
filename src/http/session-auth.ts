/**
 * Browser sessions on the HTTP side: who is signed in, and the admin check that accepts a
 * bearer token or the session of an administrator. A session is a cookie, so every state
 * change made with one must carry the CSRF token of that session (csrf.ts).
 */
import type { FastifyRequest } from 'fastify';
import { ScimError } from '../scim/errors.ts';
import type { UserProfile } from '../directory/sign-in.ts';
import type { Services } from '../services.ts';
import { authenticate, bearerToken } from './auth.ts';
import { CSRF_HEADER, csrfTokenMatches, isSafeMethod } from './csrf.ts';

/** A live session: its user and the cookie value behind it (a secret: never shown or logged). */
export interface SignedIn {
  readonly user: UserProfile;
  readonly sessionValue: string;
}

/** Shown when a cookie-authenticated change comes without the session's CSRF token. */
export const CSRF_REFUSAL_MESSAGE = `This request changes data with a browser session, so it must carry the session's CSRF token (the ${CSRF_HEADER} header, or the _csrf field of the console's forms). Reload the page and try again.`;

/** The live session of the request's cookie and its active user, or undefined. */
export async function signedIn(request: FastifyRequest, services: Services): Promise<SignedIn | undefined> {
  const value = services.sessions.presented(request.headers.cookie);
  if (value === undefined) return undefined;
  const session = await services.sessions.find(value);
  if (session === undefined) return undefined;
  const profile = await services.signIn.profile(session.userId);
  return profile?.active === true ? { user: profile, sessionValue: value } : undefined;
}

/** The user signed in through the request's session cookie, or undefined. */
export async function sessionUser(request: FastifyRequest, services: Services): Promise<UserProfile | undefined> {
  return (await signedIn(request, services))?.user;
}

/**
 * Lets in any active user, administrator or not, by its own bearer token or its session; sets
 * request.actor. Throws 401 (403 for a token that belongs to no user). For SCIM /Me only.
 */
export async function authenticateSelf(request: FastifyRequest, services: Services): Promise<void> {
  if (bearerToken(request) !== undefined) {
    await authenticate(request, services, { anyUser: true });
    return;
  }
  const user = await sessionUser(request, services);
  if (user === undefined) {
    throw new ScimError(401, undefined, 'Authentication required: sign in to Roster, or send "Authorization: Bearer <token>" with a token of your own.');
  }
  request.actor = { kind: 'session', userId: user.id, login: user.login };
}

/**
 * Shown to a request that sends a token as SonarQube also takes one, HTTP Basic with an empty
 * password (`curl -u TOKEN:`). Roster does not: browsers keep Basic credentials and send them
 * again by themselves, also on requests another site makes them send, which would make the
 * API's writes forgeable (a bearer token is only ever sent by the script that holds it).
 */
export const BASIC_REFUSAL_MESSAGE = 'Authentication required: send the token as "Authorization: Bearer <token>" (curl -H "Authorization: Bearer $TOKEN"). Roster does not take tokens as HTTP Basic credentials (curl -u TOKEN:), which browsers keep and send again by themselves.';

function usesBasicScheme(request: FastifyRequest): boolean {
  const header = request.headers.authorization;
  return typeof header === 'string' && /^Basic(\s|$)/i.test(header);
}

/**
 * Lets in a bearer token of an administrator, or an administrator's session (one that sends
 * the X-CSRF-Token header of its session with anything but GET, HEAD or OPTIONS); sets
 * request.actor. Throws 401/403. Called before the body is read, so only the header counts.
 */
export async function authenticateAdmin(request: FastifyRequest, services: Services): Promise<void> {
  // A presented token decides alone: a bad token is refused even if a session cookie came too.
  if (bearerToken(request) !== undefined) {
    await authenticate(request, services);
    return;
  }
  const session = await signedIn(request, services);
  if (session === undefined) {
    throw new ScimError(401, undefined, usesBasicScheme(request) ? BASIC_REFUSAL_MESSAGE : 'Authentication required: sign in, or send "Authorization: Bearer <token>".');
  }
  const { user } = session;
  if (!(await services.access.isAdministrator(user.id))) throw new ScimError(403, undefined, 'Insufficient privileges');
  if (!isSafeMethod(request.method) && !csrfTokenMatches(session.sessionValue, request.headers[CSRF_HEADER])) {
    throw new ScimError(403, undefined, CSRF_REFUSAL_MESSAGE);
  }
  request.actor = { kind: 'session', userId: user.id, login: user.login };
}
