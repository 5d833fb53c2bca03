/**
 * The parts of the API a browser session may call: /api/users/current (any signed-in user)
 * and the SAML administration endpoints (a bearer token or an administrator's session).
 */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../services.ts';
import { describeRoutes } from '../../api-docs.ts';
import { apiErrorHandler } from '../../errors.ts';
import { throttle } from '../../auth.ts';
import { authenticateAdmin } from '../../session-auth.ts';
import { addSchemas } from './common.ts';
import { CURRENT_USER, currentUserRoute } from './current-user.ts';
import { SAML_SETTINGS, SAML_SETTINGS_SAVED, samlSettingsRoutes } from './saml-settings.ts';
import { SIGN_IN_CHECK, signInCheckRoute } from './sign-in-check.ts';

/** Registers /api/users/current and, behind the admin check, the SAML settings and the sign-in check. */
export async function sessionApi(app: FastifyInstance, options: { services: Services }): Promise<void> {
  app.setErrorHandler(apiErrorHandler);
  await app.register(async (session) => {
    // currentUserRoute reads the session cookie itself, and answers 401 without one.
    describeRoutes(session, 'session');
    addSchemas(session, [CURRENT_USER]);
    currentUserRoute(session, options.services);
  });
  await app.register(async (admin) => {
    admin.addHook('onRequest', async (request) => {
      await authenticateAdmin(request, options.services);
      await throttle(request, options.services.rateLimits);
    });
    describeRoutes(admin, 'tokenOrSession');
    addSchemas(admin, [SAML_SETTINGS, SAML_SETTINGS_SAVED, SIGN_IN_CHECK]);
    samlSettingsRoutes(admin, options.services);
    signInCheckRoute(admin, options.services);
  });
}
