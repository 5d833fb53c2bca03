/**
 * Who is looking at a console page, and who may: each console route declares its `access` in
 * its route config, and one hook enforces it (index.ts). Routes that do not say are for
 * administrators only, so a forgotten declaration fails closed.
 *
 *   app.get('/account', { config: { access: 'signed-in' } }, handler)
 *
 * - 'public': static files; no session is even looked up.
 * - 'anonymous': anyone (the sign-in page); `request.viewer` is set when someone is signed in.
 * - 'signed-in': any signed-in user; others are sent to the sign-in page and back.
 * - 'admin' (the default): administrators (access.isAdministrator, asked on every request).
 */
import type { FastifyRequest } from 'fastify';
import type { Actor } from '../../journal/actor.ts';
import type { UserProfile } from '../../directory/sign-in.ts';
import type { Services } from '../../services.ts';
import { csrfTokenFor } from '../csrf.ts';
import { signedIn } from '../session-auth.ts';

/** Who may reach a console route. */
export type ConsoleAccess = 'public' | 'anonymous' | 'signed-in' | 'admin';

/** The signed-in person a console page is rendered for. */
export interface Viewer {
  readonly user: UserProfile;
  /** Whether the user is an administrator now (access.isAdministrator). */
  readonly administrator: boolean;
  /** Whether the user signs in with a password Roster generated: every page asks them to choose their own. */
  readonly generatedPassword: boolean;
  /** The CSRF token of this session, for forms (`csrfField`) and scripts (`<meta name="roster-csrf">`). */
  readonly csrfToken: string;
  /** The session cookie's value: a secret, for "which session is this one"; never render it. */
  readonly sessionValue: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may reach this console route; 'admin' when unset (see http/console/viewer.ts). */
    access?: ConsoleAccess;
  }
  interface FastifyRequest {
    /** The signed-in viewer of a console page, or null (set by the console's hook). */
    viewer: Viewer | null;
  }
}

/** The access a route declared, 'admin' when it declared none. */
export function accessOf(request: FastifyRequest): ConsoleAccess {
  return request.routeOptions.config.access ?? 'admin';
}

/** Looks up the request's session: its user, whether it is an administrator, its CSRF token. */
export async function resolveViewer(request: FastifyRequest, services: Services): Promise<Viewer | null> {
  const session = await signedIn(request, services);
  if (session === undefined) return null;
  const [administrator, generatedPassword] = await Promise.all([
    services.access.isAdministrator(session.user.id),
    services.passwordSignIn.signsInWithGeneratedPassword(session.user),
  ]);
  return {
    user: session.user,
    administrator,
    generatedPassword,
    csrfToken: csrfTokenFor(session.sessionValue),
    sessionValue: session.sessionValue,
  };
}

/** The viewer of a route declared 'signed-in' or 'admin' (the hook guarantees one). */
export function viewerOf(request: FastifyRequest): Viewer {
  if (request.viewer === null) throw new Error(`${request.url}: a signed-in route ran without a viewer`);
  return request.viewer;
}

/** The actor of a change made in the console: the signed-in user's session (audit `session:<login>`). */
export function actorOf(request: FastifyRequest): Actor {
  const { user } = viewerOf(request);
  return { kind: 'session', userId: user.id, login: user.login };
}
