/** Bearer-token authentication shared by the SCIM and admin APIs: only active administrators' tokens pass. */
import type { FastifyRequest } from 'fastify';
import type { TokenInfo, TokenService, VerifiedToken } from '../auth/tokens.ts';
import type { RequestToken } from '../directory/activity.ts';
import type { Access } from '../directory/access.ts';
import type { Actor } from '../journal/actor.ts';
import type { RateLimits } from '../directory/rate-limits.ts';
import { ScimError } from '../scim/errors.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is making the request; set by the authentication hook. */
    actor: Actor;
    /** The bearer token once verified, even when its user may not call the API; else null. */
    bearer: RequestToken | null;
  }
}

/** SonarQube's words for a valid token that may not call this API. */
const INSUFFICIENT_PRIVILEGES = 'Insufficient privileges';

/** Reads `Authorization: Bearer <token>` (scheme case-insensitive, RFC 6750 §2.1). */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/**
 * Verifies the bearer token: 401 when it is missing, unknown, revoked or its user is
 * deactivated (the token no longer exists for any purpose), 403 when its user is not an
 * administrator now (flagged admin, or in the administrators' group: access.isAdministrator's
 * rule, read in the token's own statement),
 * unless `anyUser` (SCIM /Me, where a user reads its own resource). Both are read on every
 * request, so a deactivation or a group change takes effect at once.
 */
export async function authenticate(
  request: FastifyRequest,
  services: { readonly tokens: TokenService; readonly access: Access },
  options: { anyUser?: boolean } = {},
): Promise<TokenInfo> {
  return admit(request, await services.tokens.authenticate(presentedToken(request), services.access.adminGroup), options).token;
}

/**
 * authenticate for an administrator's token, which also reads the stored texts of two settings
 * in the token's statement (the SCIM switch: routes/scim/index.ts) and returns them.
 */
export async function authenticateReading(
  request: FastifyRequest,
  services: { readonly tokens: TokenService; readonly access: Access },
  settingKeys: readonly [string, string],
): Promise<readonly [string | null, string | null]> {
  return admit(request, await services.tokens.authenticateReading(presentedToken(request), services.access.adminGroup, settingKeys), {}).settings;
}

/** The bearer token presented, or 401. */
function presentedToken(request: FastifyRequest): string {
  const presented = bearerToken(request);
  if (presented === undefined) {
    throw new ScimError(401, undefined, 'Authentication required: send "Authorization: Bearer <token>" with a token from `npm run roster -- tokens create`.');
  }
  return presented;
}

/** Lets the verified token's request in (request.bearer, request.actor), or throws 401/403. */
function admit<V extends VerifiedToken>(request: FastifyRequest, verified: V | undefined, options: { anyUser?: boolean }): V {
  if (!verified || (verified.owner !== null && !verified.owner.active)) {
    throw new ScimError(401, undefined, 'The bearer token is not valid: it is unknown or has been revoked.');
  }
  const { token, owner } = verified;
  request.bearer = { id: token.id, name: token.name, login: owner?.login ?? null };
  if (owner === null) throw new ScimError(403, undefined, INSUFFICIENT_PRIVILEGES);
  // Read with the token, in the same statement, by access.isAdministrator's SQL condition.
  if (options.anyUser !== true && !owner.administrator) throw new ScimError(403, undefined, INSUFFICIENT_PRIVILEGES);
  request.actor = { kind: 'token', name: token.name, userId: owner.id, login: owner.login };
  return verified;
}

/**
 * Counts the request against the rate limit of whoever made it, once authenticated: its bearer
 * token, or the user of its session (the console's scripts). Throws RetryLaterError beyond it.
 */
export async function throttle(request: FastifyRequest, limits: RateLimits): Promise<void> {
  if (request.bearer !== null) return limits.take(`token:${request.bearer.id}`);
  const actor = request.actor as Actor | null;
  if (actor?.kind === 'session') return limits.take(`session:${actor.userId}`);
}
