/** The browser side of SAML: /saml/metadata, /saml/login, /saml/acs, /saml/logout, /saml/validation. */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../../../services.ts';
import { RetryLaterError } from '../../../errors.ts';
import type { ReturnTrust } from '../../client.ts';
import { DATABASE_RETRY_AFTER_SECONDS, setRetryAfter, toScimError, unavailableCause } from '../../errors.ts';
import { RepeatedHeaderError, UnsupportedContentCodingError } from '../../input.ts';
import { acsRoute } from './acs.ts';
import { SAML_BODY_LIMIT, sendHtml } from './common.ts';
import { loginRoute } from './login.ts';
import { logoutRoute } from './logout.ts';
import { metadataRoute } from './metadata.ts';
import { failurePage, messagePage, unavailablePage } from './pages.ts';
import { validationRoute } from './validation.ts';

const FORM = 'application/x-www-form-urlencoded';

/**
 * Registers the /saml routes in their own scope. The HTTP-POST binding (SAML Bindings §3.5)
 * sends a form and nothing else, so this scope drops every parser the app registered (JSON,
 * text) and keeps one form parser within SAML_BODY_LIMIT: any other body is refused with 415
 * from its headers, before it is read, whatever the app-wide limit.
 */
export async function samlRoutes(app: FastifyInstance, options: { services: Services; trust: ReturnTrust }): Promise<void> {
  app.removeAllContentTypeParsers();
  // Only this scope parses forms: the SCIM and admin APIs keep refusing them.
  app.addContentTypeParser(FORM, { parseAs: 'string', bodyLimit: SAML_BODY_LIMIT }, (_request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    done(null, Object.fromEntries(new URLSearchParams(text)));
  });
  app.setErrorHandler(samlErrorHandler);
  metadataRoute(app, options.services);
  loginRoute(app, options.services, options.trust);
  acsRoute(app, options.services, options.trust);
  logoutRoute(app, options.services, options.trust.origin);
  validationRoute(app, options.services);
}

/** Errors of the /saml scope as HTML pages, like every other answer there; never the error's own text. */
function samlErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
  // The unread rest of a refused body is not worth reading: close the connection instead.
  if (status === 413 || status === 415) reply.header('connection', 'close');
  if (error instanceof UnsupportedContentCodingError) return sendHtml(reply, 415, messagePage('Unsupported request', error.message));
  if (error instanceof RepeatedHeaderError) return sendHtml(reply, 400, messagePage('Bad request', error.message));
  if (status === 415) {
    return sendHtml(reply, 415, messagePage('Unsupported request', `The SAML endpoints accept only ${FORM} forms, as identity providers and browsers post them.`));
  }
  if (status === 413) {
    return sendHtml(reply, 413, messagePage('Request too large', `The form is larger than ${SAML_BODY_LIMIT / (1024 * 1024)} MiB, more than any SAML response needs.`));
  }
  if (status < 500) return sendHtml(reply, status, messagePage('Bad request', 'The request could not be read.'));
  const refused = toScimError(error);
  if (refused.status === 503) {
    if (error instanceof RetryLaterError) request.log.warn(`SAML request deferred: ${error.message}`);
    else request.log.error({ err: error }, `SAML request failed: ${unavailableCause(error)}`);
    setRetryAfter(reply, refused);
    return sendHtml(reply, 503, unavailablePage(refused.retryAfter ?? DATABASE_RETRY_AFTER_SECONDS));
  }
  request.log.error({ err: error }, 'SAML request failed');
  return sendHtml(reply, 500, failurePage());
}
