/**
 * The parts of the API a browser session may call: /api/users/current (any signed-in user)
 * and the SAML administration endpoints (a bearer token or an administrator's session).
 */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../services.ts';
import { apiErrorHandler } from '../../errors.ts';
import { authenticateAdmin } from '../../session-auth.ts';
import { currentUserRoute } from './current-user.ts';
import { samlSettingsRoutes } from './saml-settings.ts';
import { signInCheckRoute } from './sign-in-check.ts';

/** Registers /api/users/current and, behind the admin check, the SAML settings and the sign-in check. */
export async function sessionApi(app: FastifyInstance, options: { services: Services }): Promise<void> {
  app.setErrorHandler(apiErrorHandler);
  currentUserRoute(app, options.services);
  await app.register(async (admin) => {
    admin.addHook('onRequest', async (request) => {
      await authenticateAdmin(request, options.services);
    });
    samlSettingsRoutes(admin, options.services);
    signInCheckRoute(admin, options.services);
  });
}
