/**
 * Mounts the OpenID provider (provider.ts) in the Fastify app: the discovery document at the
 * issuer's root, the provider's endpoints under /oidc/, and the interaction page where the
 * browser's Roster session (or the sign-in page and back) answers the provider's login prompt.
 *
 * The provider reads the request body itself, so these routes hand it on unparsed; and it builds its
 * URLs from the request, so the route gives it ROSTER_BASE_URL's host and protocol rather than
 * whatever Host or X-Forwarded-* the client sent.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RetryLaterError } from '../../errors.ts';
import { DATABASE_RETRY_AFTER_SECONDS, setRetryAfter, toScimError, unavailableCause } from '../errors.ts';
import { RepeatedHeaderError, UnsupportedContentCodingError } from '../input.ts';
import { IncomingMessage } from 'node:http';
import type { Services } from '../../services.ts';
import { signInUrl } from '../console/pages/sign-in.ts';
import { continuePage, failurePage, messagePage, unavailablePage } from '../routes/saml/pages.ts';
import { sendHtml } from '../routes/saml/common.ts';
import { INTERACTION_PATH, OIDC_PREFIX, createProviderCache, type OidcOptions } from './provider.ts';
import { formPostRoutes } from './form-post.ts';
import { securityHeaders } from '../security-headers.ts';
import { auditSource } from '../client.ts';

/** The provider's own limit on a body (oidc-provider's selective_body.js): 56 KiB. */
const PROVIDER_BODY_LIMIT = 56 * 1024;

/**
 * The longest authorization request (its query) taken: every one the provider accepts is stored,
 * parameters included, until its sign-in completes or expires, and a request needs a few hundred
 * bytes (a long `state` or `claims`, a few thousand).
 */
export const MAX_AUTHORIZATION_REQUEST = 8 * 1024;

/**
 * The request `raw`, whose body was read already, as a request whose body `body` is still to be
 * read: the provider reads the stream itself (and takes a body handed over otherwise for a
 * middleware's doing, with a warning). Same socket, headers, method and URL.
 */
function withBody(raw: IncomingMessage, body: Buffer): IncomingMessage {
  const request = new IncomingMessage(raw.socket);
  Object.assign(request, {
    headers: raw.headers,
    rawHeaders: raw.rawHeaders,
    url: raw.url,
    method: raw.method,
    httpVersion: raw.httpVersion,
    httpVersionMajor: raw.httpVersionMajor,
    httpVersionMinor: raw.httpVersionMinor,
    complete: true,
  });
  // Everything is here: nothing to ask of the socket, which has moved on to the next request.
  request._read = () => undefined;
  request.push(body);
  request.push(null);
  return request;
}

/** The interaction result's key for the Roster session a forced re-authentication replaces. */
const REPLACED_SESSION = 'rosterReplacedSession';

/** Registers the provider's routes. */
export async function oidcRoutes(app: FastifyInstance, options: OidcOptions & { services: Services }): Promise<void> {
  const { services } = options;
  const providers = createProviderCache(services, {
    ...options,
    observer: {
      failed: (error, requestId) => app.log.error({ err: error, requestId }, 'OpenID Connect request failed'),
      authorization: (outcome) => app.metrics.signIn('oidc', outcome),
      reused: ({ requestId, ...what }) => app.log.warn({ ...what, requestId }, `an application presented a ${what.presented} already used: the user's sign-in to it was revoked (audited as application.token_reused)`),
    },
  });
  const base = new URL(options.baseUrl);
  const headers = securityHeaders(options.baseUrl);

  // The body (a form post to /oidc/token …) is read here, before the request takes its slot of
  // the admission limit (app.ts admit), and handed to the provider to read again: read by the
  // provider itself, a body trickled a byte at a time held a slot until the body deadline.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: PROVIDER_BODY_LIMIT }, (_request, body, done) => done(null, body));

  function pin(raw: IncomingMessage): void {
    // A target in absolute form (`GET http://other.example/… HTTP/1.1`, RFC 9112 §3.2.2) would
    // give the provider that origin to build its URLs on (discovery, JWKS, the logout form):
    // keep its path and query only.
    if (raw.url !== undefined && !raw.url.startsWith('/')) {
      let path = '/';
      try {
        const target = new URL(raw.url);
        path = `${target.pathname}${target.search}`;
      } catch {
        // Not a URL either (`*` of OPTIONS): the provider answers its root.
      }
      raw.url = path;
    }
    raw.headers.host = base.host;
    raw.headers['x-forwarded-proto'] = base.protocol.replace(':', '');
    delete raw.headers['x-forwarded-host'];
  }

  async function handOver(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const provider = await providers.current();
    const raw = request.raw;
    pin(raw);
    const path = (raw.url ?? '').split('?')[0] ?? '';
    // A pushed authorization request (RFC 9126) is stored as the request it stands for.
    if (path === `${OIDC_PREFIX}/request` && request.method === 'POST') {
      const size = Buffer.isBuffer(request.body) ? request.body.length : 0;
      if (size > MAX_AUTHORIZATION_REQUEST) {
        return reply.code(413).send({ error: 'invalid_request', error_description: `The pushed authorization request is ${Math.ceil(size / 1024)} KiB long; Roster takes at most ${MAX_AUTHORIZATION_REQUEST / 1024} KiB.` });
      }
      await services.authorizationLimits.take(`oidc-auth:${auditSource(request.ip)}`);
    }
    if (path === `${OIDC_PREFIX}/auth` && request.method === 'GET') {
      // Anyone may start a sign-in, and each one the provider accepts is a stored row: without a
      // bound, one client stored gigabytes an hour. Counted per client address (an IPv6 client by
      // its /64) across instances, before the provider sees the request.
      const query = (raw.url ?? '').length - path.length;
      if (query > MAX_AUTHORIZATION_REQUEST) {
        return sendHtml(reply, 414, messagePage('Sign-in not possible', `The application's sign-in request is ${Math.ceil(query / 1024)} KiB long; Roster takes at most ${MAX_AUTHORIZATION_REQUEST / 1024} KiB. Tell the application's developers.`));
      }
      await services.authorizationLimits.take(`oidc-auth:${auditSource(request.ip)}`);
      // Registered applications are trusted (no consent screen), so `offline_access` is granted
      // without `prompt=consent`, which OpenID Connect Core §11 otherwise requires of the client:
      // consent is added to whatever the request prompts for (login, select_account), except
      // `none`, which admits no other value (a silent renewal keeps the refresh token it has).
      const url = new URL(raw.url ?? '', options.baseUrl);
      const scope = url.searchParams.get('scope') ?? '';
      const prompts = new Set((url.searchParams.get('prompt') ?? '').split(' ').filter((value) => value !== ''));
      if (scope.split(' ').includes('offline_access') && !prompts.has('none') && !prompts.has('consent')) {
        url.searchParams.set('prompt', [...prompts, 'consent'].join(' '));
        raw.url = `${url.pathname}${url.search}`;
      }
    }
    reply.hijack();
    // Hijacked answers skip the app's onSend hooks: the provider's pages get their headers here.
    headers.applyRaw(reply.raw);
    provider.callback()(Buffer.isBuffer(request.body) ? withBody(raw, request.body) : raw, reply.raw);
  }

  // What fails before the provider answers (its keys not loaded: the database is down; the
  // instance is busy): a page for a browser, OAuth's error object for an application.
  app.setErrorHandler((error, request, reply) => {
    const browser = (request.headers.accept ?? '').includes('text/html');
    const refused = toScimError(error);
    if (error instanceof RetryLaterError && error.reason === 'rate_limited') {
      request.log.warn({ retryAfter: error.retryAfterSeconds }, `OpenID Connect sign-in refused: ${error.message}`);
      setRetryAfter(reply, refused);
      return browser
        ? sendHtml(reply, 429, messagePage('Too many sign-ins', `Too many sign-ins were started from your network in a short time. Wait ${error.retryAfterSeconds} seconds and try again.`))
        : reply.code(429).send({ error: 'temporarily_unavailable', error_description: error.message });
    }
    if (refused.status < 500) {
      const why = error instanceof UnsupportedContentCodingError || error instanceof RepeatedHeaderError ? error.message : 'The request could not be read.';
      return browser
        ? sendHtml(reply, refused.status, messagePage('Bad request', why))
        : reply.code(refused.status).send({ error: 'invalid_request', error_description: refused.message });
    }
    if (refused.status === 503) {
      if (error instanceof RetryLaterError) request.log.warn(`OpenID Connect request deferred: ${error.message}`);
      else request.log.error({ err: error }, `OpenID Connect request failed: ${unavailableCause(error)}`);
      setRetryAfter(reply, refused);
      return browser
        ? sendHtml(reply, 503, unavailablePage(refused.retryAfter ?? DATABASE_RETRY_AFTER_SECONDS))
        : reply.code(503).send({ error: 'temporarily_unavailable', error_description: refused.message });
    }
    request.log.error({ err: error }, 'OpenID Connect request failed');
    return browser
      ? sendHtml(reply, 500, failurePage())
      : reply.code(500).send({ error: 'server_error', error_description: 'Roster could not complete this request; the cause has been logged.' });
  });

  app.get('/.well-known/openid-configuration', handOver);
  // The authorization request (OpenID Connect Core §3.1.2.1) and RP-initiated logout
  // (RP-Initiated Logout 1.0 §2) by form post too, sent on as a GET (form-post.ts says why).
  await app.register(formPostRoutes, {
    endpoints: [
      { path: `${OIDC_PREFIX}/auth`, request: 'authorization request', refused: 'Sign-in not possible' },
      { path: `${OIDC_PREFIX}/session/end`, request: 'logout request', refused: 'Sign-out not possible' },
    ],
  });
  app.route({ method: ['GET', 'POST', 'OPTIONS'], url: `${OIDC_PREFIX}/*`, handler: handOver });

  // The provider's login and consent prompts. Login: the browser's Roster session, or the
  // sign-in page and back here. Consent: granted, since administrators registered the application.
  app.get<{ Params: { uid: string } }>(`${INTERACTION_PATH}/:uid`, async (request, reply) => {
    const provider = await providers.current();
    pin(request.raw);
    let details;
    try {
      details = await provider.interactionDetails(request.raw, reply.raw);
    } catch {
      return sendHtml(reply, 400, messagePage('Sign-in expired', 'This sign-in request has expired or belongs to another browser. Go back to the application and sign in again.'));
    }
    if (details.uid !== request.params.uid) {
      return sendHtml(reply, 400, messagePage('Sign-in expired', 'This sign-in request has expired or belongs to another browser. Go back to the application and sign in again.'));
    }
    let result: Record<string, unknown>;
    if (details.prompt.name === 'login') {
      const value = services.sessions.presented(request.headers.cookie);
      const session = value === undefined ? undefined : await services.sessions.find(value);
      if (value === undefined || session === undefined) return reply.redirect(signInUrl(`${INTERACTION_PATH}/${details.uid}`));
      // The Roster session's sign-in is the authentication the application learns of
      // (auth_time). An application that asks for a fresh one (prompt=login) or one no older
      // than max_age, when the browser signed in before this request and longer ago, gets the
      // sign-in page again (OpenID Connect Core §3.1.2.1: the user is prompted to
      // reauthenticate), and back here with the new session.
      const signedInAt = Math.floor(Date.parse(session.createdAt) / 1000);
      const beganAt = details.iat ?? Math.floor(Date.now() / 1000);
      const maxAge = Number(details.params['max_age']);
      const sessionId = services.sessions.idOf(value);
      const replaced = details.result?.[REPLACED_SESSION];
      // Back from the sign-in this interaction sent the browser to, with another session: that is
      // the new authentication, whatever the times say. The session's start was written by the
      // instance that answered the sign-in, by its clock; one a few seconds behind this one's
      // made the new session look older than the request, and sent the browser round again.
      const signedInAgain = typeof replaced === 'string' && replaced !== sessionId;
      const tooOld =
        !signedInAgain &&
        signedInAt < beganAt &&
        (details.prompt.reasons.includes('login_prompt') || (Number.isInteger(maxAge) && Math.floor(Date.now() / 1000) - signedInAt > maxAge));
      if (tooOld) {
        // The session the new sign-in replaces, kept with the interaction (its id, no credential):
        // the sign-in may come back by SAML, whose post from the IdP carries no Roster cookie.
        await provider.interactionResult(request.raw, reply.raw, { [REPLACED_SESSION]: sessionId }, { mergeWithLastSubmission: false });
        return reply.redirect(signInUrl(`${INTERACTION_PATH}/${details.uid}`, { reauthenticate: true }));
      }
      // Ended here whichever way the user signed in again: quietly if it was this user's own,
      // as its holder's sign-out if someone else signed in (the provider then ends that user's
      // provider session too, without ending this new Roster session: logout.ts).
      if (signedInAgain) await services.sessions.replaced(replaced, session.userId);
      result = { login: { accountId: session.userId, ts: signedInAt } };
    } else if (details.prompt.name === 'consent') {
      const accountId = details.session?.accountId;
      const clientId = details.params.client_id;
      if (accountId === undefined || clientId === undefined) return sendHtml(reply, 400, messagePage('Sign-in expired', 'Go back to the application and sign in again.'));
      const grant = (details.grantId === undefined ? undefined : await provider.Grant.find(details.grantId)) ?? new provider.Grant({ accountId, clientId });
      grant.addOIDCScope(typeof details.params.scope === 'string' ? details.params.scope : 'openid');
      result = { consent: { grantId: await grant.save() } };
    } else {
      return sendHtml(reply, 400, messagePage('Sign-in not possible', `Roster cannot answer the "${details.prompt.name}" prompt.`));
    }
    const login = details.prompt.name === 'login';
    let next: string;
    try {
      next = await provider.interactionResult(request.raw, reply.raw, result, { mergeWithLastSubmission: !login });
    } catch (error) {
      // The interaction or the provider session went away since it was read: the user was
      // deactivated, or signed out (everywhere, or in another tab). Said as for an expired
      // request; the browser must not wait for an answer that never comes.
      // By name: oidc-provider is imported on first use only (provider.ts), not by this module.
      if (!(error instanceof Error && error.name === 'SessionNotFound')) throw error;
      return sendHtml(reply, 400, messagePage('Sign-in expired', 'This sign-in request has ended (you were signed out, or your account changed). Go back to the application and sign in again.'));
    }
    if (login) {
      // The browser often comes here from the sign-in form's answer (a 303 after POST /sessions
      // or the IdP's post to /saml/acs), and the chain goes on to the application's redirect URI
      // (continuePage says why it cannot be a redirect).
      return sendHtml(reply, 200, continuePage(next));
    }
    // What interactionFinished would answer, without handing the response over to the provider.
    return reply.redirect(next, 303);
  });
}
