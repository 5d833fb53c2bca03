/** The browser side of SAML: /saml/metadata, /saml/login, /saml/acs, /saml/logout, /saml/validation. */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../services.ts';
import { acsRoute } from './acs.ts';
import { loginRoute } from './login.ts';
import { logoutRoute } from './logout.ts';
import { metadataRoute } from './metadata.ts';
import { validationRoute } from './validation.ts';

// A SAML response with a few hundred group names stays well under this.
const FORM_LIMIT = 1024 * 1024;

/** Registers the /saml routes in their own scope, with a form parser for the POST binding. */
export async function samlRoutes(app: FastifyInstance, options: { services: Services }): Promise<void> {
  // Only this scope parses forms: the SCIM and admin APIs keep refusing them.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: FORM_LIMIT }, (_request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    done(null, Object.fromEntries(new URLSearchParams(text)));
  });
  metadataRoute(app, options.services);
  loginRoute(app, options.services);
  acsRoute(app, options.services);
  logoutRoute(app, options.services);
  validationRoute(app, options.services);
}
