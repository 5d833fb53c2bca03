/**
 * /Me (RFC 7644 §3.11): the authenticated subject's own User, for a person signed in to Roster
 * (session cookie) or a user's own token, administrator or not. Reading only: the identity
 * provider owns the data, so every change through /Me is refused with 403.
 */
import type { FastifyInstance } from 'fastify';
import type { UserDirectory } from '../../../directory/users.ts';
import { ScimError } from '../../../scim/errors.ts';
import type { RawListParameters } from '../../../scim/list.ts';
import { locationOf } from '../../../scim/resources.ts';
import { answerPreconditions, parseProjection, present, schemasIn, sendResource, shows } from './common.ts';
import { stateOf } from './users.ts';

/** Route config that tells the SCIM scope's authentication to let any user in (see index.ts). */
export const SELF_SERVICE = { selfService: true } as const;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route is /Me: any active user may call it, by its own token or its session (scim/index.ts). */
    selfService?: boolean;
  }
}

const READ_ONLY =
  'Your user cannot be changed through /Me: your identity provider owns it and provisions it into Roster. Change it in the identity provider.';

/** Registers /Me; the user shows the attributes of declared extensions too. */
export function meRoutes(app: FastifyInstance, users: UserDirectory, baseUrl: string): void {
  app.get<{ Querystring: RawListParameters }>('/Me', { config: SELF_SERVICE }, async (request, reply) => {
    const projection = parseProjection(request.query);
    const { actor } = request;
    const userId = actor.kind === 'token' || actor.kind === 'session' ? actor.userId : null;
    if (userId === null || userId === undefined) throw new ScimError(403, undefined, 'Insufficient privileges');
    const type = schemasIn(request).User;
    const user = await users.getOwn(userId, shows(type, 'groups', projection));
    const answered = answerPreconditions(request, reply, `User ${user.scimId}`, user.user.resourceVersion);
    if (answered !== undefined) return answered;
    // The resource is /Users/{id}; Content-Location says so (RFC 9110 §8.7).
    reply.header('Content-Location', locationOf(baseUrl, 'User', user.scimId));
    return sendResource(reply, 200, 'User', stateOf(user), present(type, stateOf(user), baseUrl, projection), baseUrl);
  });

  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'] as const) {
    app.route({
      method,
      url: '/Me',
      config: SELF_SERVICE,
      handler: async () => {
        throw new ScimError(403, undefined, READ_ONLY);
      },
    });
  }
}
