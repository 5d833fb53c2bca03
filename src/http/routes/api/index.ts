/** Roster's own admin API: bearer-token authentication and SonarQube-shaped `{"message"}` errors. */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../services.ts';
import { authenticate } from '../../auth.ts';
import { apiErrorHandler } from '../../errors.ts';
import { scimManagementRoutes } from './scim-management.ts';

/** Registers the admin API on a Fastify scope. */
export async function adminApi(app: FastifyInstance, options: { services: Services }): Promise<void> {
  app.setErrorHandler(apiErrorHandler);
  app.addHook('onRequest', async (request) => {
    await authenticate(request, options.services.tokens);
  });
  scimManagementRoutes(app, options.services);
}
