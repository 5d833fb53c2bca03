/**
 * The provisioning switch, as SonarQube exposes it: GET status, POST enable, POST disable.
 * The CLI's `scim enable|disable|status` call the same service.
 */
import type { FastifyInstance } from 'fastify';
import { DirectoryError } from '../../../directory/errors.ts';
import { DISABLE_CONFIRMATION_MESSAGE } from '../../../directory/provisioning.ts';
import type { Services } from '../../../services.ts';

/** `{"confirm": true}` in the body or `?confirm=true`: disabling cannot be undone. */
function confirmed(body: unknown, query: unknown): boolean {
  const fromBody = typeof body === 'object' && body !== null && (body as { confirm?: unknown }).confirm === true;
  const fromQuery = typeof query === 'object' && query !== null && (query as { confirm?: unknown }).confirm === 'true';
  return fromBody || fromQuery;
}

/** Registers /api/scim_management/*. */
export function scimManagementRoutes(app: FastifyInstance, services: Services): void {
  app.get('/api/scim_management/status', async () => services.provisioning.status());

  app.post('/api/scim_management/enable', async (request, reply) => {
    await services.provisioning.enable(request.actor);
    return reply.code(204).send();
  });

  app.post('/api/scim_management/disable', async (request, reply) => {
    if (!confirmed(request.body, request.query)) throw new DirectoryError('invalid', DISABLE_CONFIRMATION_MESSAGE, 'confirm');
    await services.provisioning.disable(request.actor);
    return reply.code(204).send();
  });
}
