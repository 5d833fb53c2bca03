/**
 * Roster's own admin API: administrators' bearer tokens (or an administrator's browser session
 * with its CSRF token, for the console's scripts) and SonarQube-shaped `{"message"}` errors.
 */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../services.ts';
import { describeRoutes } from '../../api-docs.ts';
import { throttle } from '../../auth.ts';
import { authenticateAdmin } from '../../session-auth.ts';
import { apiErrorHandler } from '../../errors.ts';
import { APPLICATION, applicationRoutes } from './applications.ts';
import { AUDIT_LOG_ENTRY, auditLogRoutes } from './audit-logs.ts';
import { addSchemas } from './common.ts';
import { eventRoutes, FEED_EVENT } from './events.ts';
import { GROUP_MEMBERSHIP, groupMembershipRoutes } from './group-memberships.ts';
import { GROUP, groupRoutes } from './groups.ts';
import { PERSONAL_DATA, personalDataRoutes } from './personal-data.ts';
import { ACTIVITY_ENTRY, provisioningActivityRoutes } from './provisioning-activity.ts';
import { SCIM_STATUS, scimManagementRoutes } from './scim-management.ts';
import { scimSchemaRoutes } from './scim-schemas.ts';
import { USER, userRoutes } from './users.ts';
import { WEBHOOK, WEBHOOK_DELIVERY, webhookRoutes } from './webhooks.ts';

/** Registers the admin API on a Fastify scope. */
export async function adminApi(app: FastifyInstance, options: { services: Services }): Promise<void> {
  const { services } = options;
  app.setErrorHandler(apiErrorHandler);
  app.addHook('onRequest', async (request) => {
    await authenticateAdmin(request, services);
    await throttle(request, services.rateLimits);
  });
  describeRoutes(app, 'tokenOrSession');
  addSchemas(app, [USER, GROUP, GROUP_MEMBERSHIP, AUDIT_LOG_ENTRY, SCIM_STATUS, ACTIVITY_ENTRY, APPLICATION, FEED_EVENT, WEBHOOK, WEBHOOK_DELIVERY, PERSONAL_DATA]);
  scimManagementRoutes(app, services);
  scimSchemaRoutes(app, services.scimSchemas);
  userRoutes(app, services.accounts);
  personalDataRoutes(app, services.personalData);
  groupRoutes(app, services.groupManagement);
  groupMembershipRoutes(app, services.memberships);
  auditLogRoutes(app, services.auditLog);
  provisioningActivityRoutes(app, services.activity);
  eventRoutes(app, services.eventFeed);
  applicationRoutes(app, services.applications);
  webhookRoutes(app, services.webhooks);
}
