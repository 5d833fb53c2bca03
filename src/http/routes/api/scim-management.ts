/**
 * The provisioning switch, as SonarQube exposes it: GET status, POST enable, POST disable.
 * The CLI's `scim enable|disable|status` call the same service.
 */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../services.ts';

/** Registers /api/scim_management/*. */
export function scimManagementRoutes(app: FastifyInstance, services: Services): void {
  app.get('/api/scim_management/status', async () => services.provisioning.status());

  app.post('/api/scim_management/enable', async (request, reply) => {
    await services.provisioning.enable(request.actor);
    return reply.code(204).send();
  });

  app.post('/api/scim_management/disable', async (request, reply) => {
    await services.provisioning.disable(request.actor);
    return reply.code(204).send();
  });
}
