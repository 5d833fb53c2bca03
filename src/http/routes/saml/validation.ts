/**
 * GET /saml/validation (administrators): SonarQube's "Test configuration". It starts a
 * sign-in whose answer is shown, not acted on: the ACS recognises the request by its marker
 * and renders what the IdP sent and what Roster would do, without a session or user change.
 */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../services.ts';
import { authenticateAdmin } from '../../session-auth.ts';
import { toScimError } from '../../errors.ts';
import { VALIDATION_MARKER, sendHtml } from './common.ts';
import { messagePage } from './pages.ts';

/** Registers GET /saml/validation. */
export function validationRoute(app: FastifyInstance, services: Services): void {
  app.get('/saml/validation', async (request, reply) => {
    try {
      await authenticateAdmin(request, services);
    } catch (error) {
      const refused = toScimError(error);
      return sendHtml(reply, refused.status, messagePage('Administrators only', refused.message));
    }
    const login = await services.samlSp.loginRedirect(VALIDATION_MARKER, request.headers.cookie);
    if (login === undefined) return sendHtml(reply, 404, messagePage('SAML is not configured', 'Configure SAML before testing it.'));
    return reply.header('set-cookie', login.setCookie).header('cache-control', 'no-store').redirect(login.url, 302);
  });
}
