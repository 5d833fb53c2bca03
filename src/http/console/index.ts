/**
 * The console: server-rendered HTML pages served by Roster itself at `/`, for everyone who
 * signs in ("My account") and for administrators (`/admin/...`). No build step and no CDN:
 * the pages are `html` templates (html.ts) in one layout (layout.ts), with one stylesheet and
 * one small script from ./assets/.
 *
 * One scope, one set of rules for every page:
 * - who may see a route is its `config.access` (viewer.ts), administrators only by default;
 * - every state change (anything but GET/HEAD) carries a CSRF token (http/csrf.ts): the
 *   session's when signed in, the pre-session cookie's on the sign-in form; cross-site
 *   requests (Sec-Fetch-Site) are refused outright;
 * - bodies are urlencoded forms of at most CONSOLE_BODY_LIMIT, their text checked as the
 *   APIs check theirs (nothing a client sends gives a 500);
 * - every answer carries the console's security headers (a strict CSP, no framing);
 * - errors are pages in the layout, with the same messages the APIs give.
 *
 * To add a page: write `pages/<name>.ts` exporting `function <name>Pages(app, context)` that
 * registers its routes (with `config: { access }` unless administrators only) and answers with
 * `sendPage`; add it to PAGE_MODULES below.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../../services.ts';
import type { ReturnTrust } from '../client.ts';
import { preSessionCookie, csrfTokenMatches, isCrossSite, isFromAnotherOrigin, isSafeMethod, isSameOrigin, presentedCsrfToken } from '../csrf.ts';
import { knownBrowserCookie } from '../known-browser.ts';
import { shorten } from '../../text.ts';
import { RetryLaterError } from '../../errors.ts';
import type { ScimError } from '../../scim/errors.ts';
import { adminStatusOf, setRetryAfter, toScimError, unavailableCause } from '../errors.ts';
import { SecretsError } from '../../store/index.ts';
import { UnsupportedContentCodingError, checkStorableText } from '../input.ts';
import { assetRoutes } from './assets.ts';
import type { ConsoleContext } from './context.ts';
import { html } from './html.ts';
import { applySecurityHeaders, FORM_EXPIRED_NOTICE, sendPage } from './layout.ts';
import type { ErrorSummary } from './components.ts';
import { formPages, type FormPages } from './form-pages.ts';
import { accountPages } from './pages/account.ts';
import { applicationPages } from './pages/applications.ts';
import { auditPages } from './pages/audit.ts';
import { authenticationPages } from './pages/authentication.ts';
import { groupPages } from './pages/groups.ts';
import { homePages, sectionPlaceholder } from './pages/home.ts';
import { scimPages } from './pages/scim.ts';
import { signInPages, signInUrl } from './pages/sign-in.ts';
import { userPages } from './pages/users.ts';
import { webhookPages } from './pages/webhooks.ts';
import { ADMIN_SECTIONS } from './sections.ts';
import { accessOf, resolveViewer } from './viewer.ts';

/** The largest form the console reads: far above any of its forms, far below the API limit. */
export const CONSOLE_BODY_LIMIT = 64 * 1024;

const FORM = 'application/x-www-form-urlencoded';
/** The most characters an error page shows of a message, which may quote what was sent. */
const MAX_MESSAGE = 500;

/** The page modules, registered in this order before the placeholders of missing sections. */
const PAGE_MODULES: ReadonlyArray<(app: FastifyInstance, context: ConsoleContext) => void> = [
  homePages,
  signInPages,
  accountPages,
  userPages,
  groupPages,
  authenticationPages,
  scimPages,
  auditPages,
  applicationPages,
  webhookPages,
];

/** Registers the console in its own scope. */
export async function consoleRoutes(app: FastifyInstance, options: { services: Services; baseUrl: string; trust: ReturnTrust }): Promise<void> {
  const context: ConsoleContext = {
    services: options.services,
    baseUrl: options.baseUrl,
    preSession: preSessionCookie({ secure: options.baseUrl.startsWith('https:') }),
    knownBrowser: knownBrowserCookie({ secure: options.baseUrl.startsWith('https:') }),
    trust: options.trust,
  };

  app.decorateRequest('viewer', null);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(FORM, { parseAs: 'string', bodyLimit: CONSOLE_BODY_LIMIT }, (_request, body, done) => {
    const fields: Record<string, string | string[]> = {};
    for (const [name, value] of new URLSearchParams(typeof body === 'string' ? body : body.toString('utf8'))) {
      const previous = fields[name];
      fields[name] = previous === undefined ? value : Array.isArray(previous) ? [...previous, value] : [previous, value];
    }
    done(null, fields);
  });
  app.setErrorHandler(consoleErrorHandler);

  app.addHook('onSend', async (_request, reply) => {
    applySecurityHeaders(reply);
  });
  app.addHook('onRequest', async (request) => {
    if (accessOf(request) !== 'public') request.viewer = await resolveViewer(request, context.services);
  });
  app.addHook('preValidation', async (request) => {
    for (const [name, value] of Object.entries((request.query ?? {}) as Record<string, unknown>)) checkStorableText(value, `The URL parameter ${name}`);
    checkStorableText(request.body, 'The form');
  });
  const pages = formPages(app);
  app.addHook('preHandler', async (request, reply) => guard(request, reply, context, pages));

  assetRoutes(app);
  for (const register of PAGE_MODULES) register(app, context);
  for (const section of ADMIN_SECTIONS) {
    if (!app.hasRoute({ method: 'GET', url: section.path })) sectionPlaceholder(app, section);
  }
  pages.redirectFormAddresses();
}

/**
 * The path and query of the console page a form was sent from, when its Referer is Roster's own.
 * The Referer of a form on the answer to a refused form is the address that form was posted to
 * (`/admin/scim/tokens`): the page that holds the form stands for it.
 */
function formPageOf(request: FastifyRequest, baseUrl: string, pages: FormPages): string | undefined {
  const referer = request.headers.referer;
  if (referer === undefined || !URL.canParse(referer)) return undefined;
  const from = new URL(referer);
  if (from.origin !== new URL(baseUrl).origin) return undefined;
  const page = pages.pageOf(from.pathname);
  return page === from.pathname ? `${page}${from.search}` : page;
}

/** Enforces the route's access and the CSRF token; answers (and so stops the request) when refused. */
async function guard(request: FastifyRequest, reply: FastifyReply, context: ConsoleContext, pages: FormPages): Promise<FastifyReply | undefined> {
  const access = accessOf(request);
  if (access === 'public') return undefined;
  const safe = isSafeMethod(request.method);
  if (!safe && isCrossSite(request.headers)) return refuseForgery(request, reply, 'another-site');
  const origin = new URL(context.baseUrl).origin;
  if (access === 'anonymous') {
    if (!safe && !csrfTokenMatches(context.preSession.presented(request.headers.cookie), presentedCsrfToken(request.headers, request.body))) {
      // The sign-in form's token comes from a cookie of its own: without it (cookies blocked, or
      // cleared since the form was shown) no token matches.
      return refuseForgery(request, reply, isFromAnotherOrigin(request.headers, origin) ? 'another-site' : 'no-cookie');
    }
    return undefined;
  }
  const viewer = request.viewer;
  if (viewer === null) {
    // Back to where the person was going once signed in. A form post cannot be replayed: the
    // sign-in says that nothing was sent and comes back to the page that held the form (the
    // Referer, which the console's same-origin Referrer-Policy sends to Roster only).
    return reply.redirect(safe ? signInUrl(request.url) : signInUrl(formPageOf(request, context.baseUrl, pages), { notice: 'form-not-sent' }), 303);
  }
  const token = presentedCsrfToken(request.headers, request.body);
  if (!safe && !csrfTokenMatches(viewer.sessionValue, token)) {
    // Refused whatever the cause: nothing is done without this session's token.
    const page = formPageOf(request, context.baseUrl, pages) ?? pages.pageOf(request.url);
    // A page of Roster's with a token that is not this session's was loaded before the latest
    // sign-in (in this tab or another): back to that page, which now holds this session's token.
    if (token !== undefined && isSameOrigin(request.headers, origin)) return backToExpiredForm(request, reply, page);
    if (isFromAnotherOrigin(request.headers, origin)) return refuseForgery(request, reply, 'another-site');
    // No page of Roster's sends a form without its token: a page saved or cached from elsewhere,
    // or a script that did not send the X-CSRF-Token header.
    return token === undefined ? refuseTokenless(request, reply, page) : refuseForgery(request, reply, 'expired');
  }
  if (access === 'admin' && !viewer.administrator) {
    return sendPage(request, reply, {
      status: 403,
      title: 'Administrators only',
      ...refusedPost(request, `Your account, ${viewer.user.login}, is not an administrator (any more): the form was not sent.`),
      body: html`<p>This page is for Roster administrators. Your account, <strong>${viewer.user.login}</strong>, is not one.</p>
<p>Administrators are the members of the administrators’ group. Ask one of them if you need access.</p>
<p><a href="/account">Go to My account</a></p>`,
    });
  }
  return undefined;
}

/**
 * What a refused state change is said to be, as far as the request tells: sent from another
 * site; a sign-in form whose cookie did not come back; a form that has expired or comes from
 * elsewhere (no header says which).
 */
type Forgery = 'another-site' | 'no-cookie' | 'expired';

/** Each refusal in one sentence: the error summary says it, the page does not say it again. */
const FORGERY_MESSAGES: Readonly<Record<Forgery, string>> = {
  'another-site': 'This form was sent from another site: Roster takes forms only from its own pages.',
  'no-cookie': 'This sign-in form has expired, or your browser did not send it back with Roster’s cookie: reload the page and try again. Roster needs cookies to be allowed for this site.',
  expired: 'This form has expired, or was sent from another site: reload the page and try again.',
};

function refuseForgery(request: FastifyRequest, reply: FastifyReply, forgery: Forgery): FastifyReply {
  // The route, not the URL: a query string may carry anything (request-log.ts).
  request.log.info({ route: request.routeOptions.url, forgery }, 'console request refused: CSRF token missing or wrong');
  return sendPage(request, reply, { status: 403, title: 'Request refused', ...refusedPost(request, FORGERY_MESSAGES[forgery]), body: html`` });
}

/**
 * A form of Roster's own pages loaded before the latest sign-in: its token was the earlier
 * session's. Nothing is done; the browser goes back (303) to the page that holds the form, loaded
 * with this session's token, whose notice (layout.ts) says the form had expired and nothing was
 * saved, so that it can be sent again from there. A 403 page only offered a link to it.
 */
function backToExpiredForm(request: FastifyRequest, reply: FastifyReply, page: string): FastifyReply {
  request.log.info({ route: request.routeOptions.url }, 'console request refused: CSRF token of an earlier session');
  const target = new URL(page, 'http://roster.invalid');
  target.searchParams.set('notice', FORM_EXPIRED_NOTICE);
  return reply.redirect(`${target.pathname}${target.search}`, 303);
}

/** A form without any CSRF token from Roster's own origin (or from no page): 403, said as such, with the way back to its page. */
function refuseTokenless(request: FastifyRequest, reply: FastifyReply, page: string): FastifyReply {
  request.log.info({ route: request.routeOptions.url }, 'console request refused: no CSRF token');
  return sendPage(request, reply, {
    status: 403,
    title: 'Form not sent',
    ...refusedPost(
      request,
      'This form carried no security token (the hidden field every form of Roster sends), so nothing was done. It may come from a page saved or cached elsewhere: open the page again and send the form from there.',
    ),
    body: html`<p><a href="${page}">Open the page again</a></p>`,
  });
}

/** Errors of the console as pages in the layout: the message of a refusal, never an internal one. */
function consoleErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const refused = toScimError(error, CONSOLE_BODY_LIMIT);
  // Not temporary: the page says why and what to do (its readers are administrators).
  if (error instanceof SecretsError) {
    request.log.error({ err: error }, `console request failed: ${unavailableCause(error)}`);
    return sendPage(request, reply, { status: refused.status, title: 'A stored secret cannot be opened', body: html`<p>${refused.message}</p>` });
  }
  if (refused.status === 503 || refused.status === 429) return temporarilyUnavailablePage(request, reply, error, refused);
  if (refused.status >= 500) {
    request.log.error({ err: error }, 'console request failed');
    return sendPage(request, reply, {
      status: 500,
      title: 'Something went wrong',
      body: html`<p>Roster could not complete this request; the error has been logged. Try again, and tell your administrator if it keeps failing.</p>`,
    });
  }
  if (refused.status === 413 || refused.status === 415) reply.header('connection', 'close');
  const message =
    refused.status === 415 && !(error instanceof UnsupportedContentCodingError) ? `The console accepts only forms (${FORM}).` : shorten(refused.message, MAX_MESSAGE);
  // The admin API's status for the same refusal (400 for a precondition), as its message.
  const status = adminStatusOf(error, refused);
  const title = status === 404 ? 'Not found' : 'Request refused';
  if (isSafeMethod(request.method)) return sendPage(request, reply, { status, title, body: html`<p>${message}</p>` });
  // A form about something gone: most often another administrator deleted it meanwhile. The
  // summary says it; the page only offers the way on (the list of its section).
  const sentence = /[.!?]$/.test(message) ? message : `${message}.`;
  const said = status === 404 ? `${sentence} It may have been deleted meanwhile, by someone else.` : sentence;
  const list = /^\/admin\/[a-z-]+/.exec(request.url)?.[0];
  return sendPage(request, reply, { status, title, ...refusedPost(request, said), body: list === undefined ? html`` : html`<p><a href="${list}">Back to the list</a></p>` });
}

/**
 * The error summary of a page that answers a refused form (the title says "Error:", the summary
 * takes the focus, as every other refused form's page): none for a page that was only asked for.
 */
function refusedPost(request: FastifyRequest, message: string): { errors?: ErrorSummary } {
  return isSafeMethod(request.method) ? {} : { errors: { title: 'Nothing was done', problems: [{ message }] } };
}

/**
 * The page for a request that may succeed if sent again later (the database unreachable, the
 * instance too busy): 503 with Retry-After, in the layout, with nothing of the cause.
 */
export function temporarilyUnavailablePage(request: FastifyRequest, reply: FastifyReply, error: unknown, refused: ScimError): FastifyReply {
  if (refused.status >= 500 && !(error instanceof RetryLaterError)) request.log.error({ err: error }, 'console request failed');
  else request.log.warn({ status: refused.status }, `console request deferred: ${refused.message}`);
  setRetryAfter(reply, refused);
  applySecurityHeaders(reply);
  return sendPage(request, reply, {
    status: refused.status,
    title: 'Temporarily unavailable',
    body: html`<p>Roster cannot complete this request right now${refused.status === 503 ? ' (its database is unavailable or the server is busy)' : ''}.</p>
<p>Wait ${String(refused.retryAfter ?? 5)} seconds and try again, or reload the page.</p>`,
  });
}

/**
 * The HTML 404 for a browser that asked for a page no route serves (not an API path): the app's
 * not-found handler calls it when the request accepts text/html.
 */
export function notFoundPage(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  applySecurityHeaders(reply);
  return sendPage(request, reply, {
    status: 404,
    title: 'Page not found',
    body: html`<p>There is no page at this address.</p><p><a href="/">Go to the start page</a></p>`,
  });
}
