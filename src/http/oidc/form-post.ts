/**
 * Requests that OpenID Connect lets an application send by form post as well as by link, each
 * answered by a 303 to the same request as a GET: the authorization request (Core §3.1.2.1) and
 * RP-initiated logout (RP-Initiated Logout 1.0 §2: the end_session_endpoint MUST support GET and
 * POST).
 *
 * Both need the browser's Roster session, whose cookie is SameSite=Lax: a browser leaves it out
 * of the application's cross-site form post. The provider could answer an authorization post
 * itself only with its session cookie SameSite=None, and even then a signed-in user would be sent
 * to the sign-in page (or answered login_required with prompt=none). A logout post the provider
 * answered itself would carry no cookie either, so logout.ts would see no Roster session to ask
 * about, and the provider's page would post `logout=yes` by itself from Roster's own origin,
 * with the Roster cookie: any site could sign a user out without the question. The browser
 * follows the 303 with a GET, a top-level navigation that carries Lax cookies, so the request
 * goes on exactly as a GET one does (the question included).
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import { messagePage } from '../routes/saml/pages.ts';
import { sendHtml } from '../routes/saml/common.ts';

/**
 * The largest form read. The parameters travel on as a URL, which Node reads within its 16 KiB
 * of request head; an authorization request (no request objects here) is a few hundred bytes,
 * a logout request an ID token (about a kilobyte) and a URL.
 */
export const FORM_POST_LIMIT = 8 * 1024;

const FORM = 'application/x-www-form-urlencoded';

/** An endpoint that takes a form post: its path, what its request is called, the title of a refusal. */
export interface FormPostEndpoint {
  readonly path: string;
  readonly request: string;
  readonly refused: string;
}

/**
 * Registers `POST` on each endpoint, in a scope of its own: Fastify reads the form (nothing else,
 * and no more than FORM_POST_LIMIT) and the browser is sent on to the same request as a GET.
 */
export async function formPostRoutes(app: FastifyInstance, options: { readonly endpoints: readonly FormPostEndpoint[] }): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(FORM, { parseAs: 'string', bodyLimit: FORM_POST_LIMIT }, (_request, body, done) => done(null, body));
  const byPath = new Map(options.endpoints.map((endpoint) => [endpoint.path, endpoint]));
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const endpoint = byPath.get(request.routeOptions.url ?? '');
    const message =
      error.statusCode === 415 ? `The ${endpoint?.request ?? 'request'} is posted as an ${FORM} form.`
      : error.statusCode === 413 ? `The ${endpoint?.request ?? 'request'} is larger than ${FORM_POST_LIMIT / 1024} KiB, more than one needs.`
      : undefined;
    // Anything else is the enclosing scope's to answer.
    if (message === undefined || endpoint === undefined) throw error;
    return sendHtml(reply, error.statusCode ?? 400, messagePage(endpoint.refused, message));
  });
  for (const { path } of options.endpoints) {
    app.post<{ Body: string }>(path, async (request, reply) => {
      // Re-encoded, so that the URL carries the parameters the form said, whatever its spelling.
      const query = new URLSearchParams(request.body).toString();
      return reply.code(303).header('location', query === '' ? path : `${path}?${query}`).header('cache-control', 'no-store').send();
    });
  }
}
