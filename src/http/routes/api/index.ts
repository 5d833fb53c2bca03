/**
 * Roster's own admin API: administrators' bearer tokens (or an administrator's browser session
 * with its CSRF token, for the console's scripts) and SonarQube-shaped `{"message"}` errors.
 */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../services.ts';
import { authenticateAdmin } from '../../session-auth.ts';
import { apiErrorHandler } from '../../errors.ts';
import { auditLogRoutes } from './audit-logs.ts';
import { groupMembershipRoutes } from './group-memberships.ts';
import { groupRoutes } from './groups.ts';
import { scimManagementRoutes } from './scim-management.ts';
import { userRoutes } from './users.ts';

/** Registers the admin API on a Fastify scope. */
export async function adminApi(app: FastifyInstance, options: { services: Services }): Promise<void> {
  const { services } = options;
  app.setErrorHandler(apiErrorHandler);
  app.addHook('onRequest', async (request) => {
    await authenticateAdmin(request, services);
  });
  scimManagementRoutes(app, services);
  userRoutes(app, services.accounts);
  groupRoutes(app, services.groupManagement);
  groupMembershipRoutes(app, services.memberships);
  auditLogRoutes(app, services.auditLog);
}
