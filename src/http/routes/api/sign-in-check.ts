/** GET /api/v2/users-management/users/{id}/sign-in-check (administrators): can this user sign in now, and if not, why. */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../services.ts';

/** Registers the sign-in check. */
export function signInCheckRoute(app: FastifyInstance, services: Services): void {
  app.get<{ Params: { id: string } }>('/api/v2/users-management/users/:id/sign-in-check', async (request, reply) => {
    const check = await services.signIn.check(request.params.id);
    if (check === undefined) return reply.code(404).send({ message: 'User not found.' });
    return check;
  });
}
