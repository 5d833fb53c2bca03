/** Bearer-token authentication shared by the SCIM and admin APIs. */
import type { FastifyRequest } from 'fastify';
import type { TokenInfo, TokenService } from '../auth/tokens.ts';
import type { Actor } from '../directory/audit.ts';
import { ScimError } from '../scim/errors.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is making the request; set by the authentication hook. */
    actor: Actor;
  }
}

/** Reads `Authorization: Bearer <token>` (scheme case-insensitive, RFC 6750 §2.1). */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** Verifies the bearer token; throws a 401 ScimError with a detail the administrator can act on. */
export async function authenticate(request: FastifyRequest, tokens: TokenService): Promise<TokenInfo> {
  const presented = bearerToken(request);
  if (presented === undefined) {
    throw new ScimError(401, undefined, 'Authentication required: send "Authorization: Bearer <token>" with a token from `npm run roster -- tokens create`.');
  }
  const token = await tokens.verify(presented);
  if (!token) throw new ScimError(401, undefined, 'The bearer token is not valid: it is unknown or has been revoked.');
  request.actor = { kind: 'token', name: token.name, userId: token.userId };
  return token;
}
