/** Roster's own admin API: administrators' bearer tokens and SonarQube-shaped `{"message"}` errors. */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../services.ts';
import { authenticate } from '../../auth.ts';
import { apiErrorHandler } from '../../errors.ts';
import { auditLogRoutes } from './audit-logs.ts';
import { groupMembershipRoutes } from './group-memberships.ts';
import { groupRoutes } from './groups.ts';
import { scimManagementRoutes } from './scim-management.ts';
import { scimSchemaRoutes } from './scim-schemas.ts';
import { userRoutes } from './users.ts';

/** Registers the admin API on a Fastify scope. */
export async function adminApi(app: FastifyInstance, options: { services: Services }): Promise<void> {
  const { services } = options;
  app.setErrorHandler(apiErrorHandler);
  app.addHook('onRequest', async (request) => {
    await authenticate(request, services.tokens);
  });
  scimManagementRoutes(app, services);
  scimSchemaRoutes(app, services.scimSchemas);
  userRoutes(app, services.accounts);
  groupRoutes(app, services.groupManagement);
  groupMembershipRoutes(app, services.memberships);
  auditLogRoutes(app, services.auditLog);
}
