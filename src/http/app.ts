/**
 * Builds the Fastify application (STYLE.md §3: a plain function; only main.ts listens).
 * Tests call buildApp() with a fresh database and use inject().
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { ScimError, badRequest } from '../scim/errors.ts';
import type { Services } from '../services.ts';
import { createActivityRecorder, type ActivityRecorder } from './activity.ts';
import { answerClientError } from './client-errors.ts';
import { apiDocsRoute, registerApiDocs } from './api-docs.ts';
import { adminApi } from './routes/api/index.ts';
import { COMMON_SCHEMAS, addSchemas, enforceAdminRoutePattern } from './routes/api/common.ts';
import { sessionApi } from './routes/api/session-api.ts';
import { consoleRoutes, notFoundPage } from './console/index.ts';
import { samlRoutes } from './routes/saml/index.ts';
import { forwardAuthRoutes } from './routes/forward-auth.ts';
import type { ReturnTrust } from './client.ts';
import { oidcRoutes } from './oidc/routes.ts';
import { scimEndpoint } from './routes/scim/index.ts';
import { CLIENT_CLOSED_REQUEST, DATABASE_RETRY_AFTER_SECONDS, apiErrorHandler, scimErrorHandler } from './errors.ts';
import { createReadiness, READINESS_TIMEOUT_MS } from './health.ts';
import { DatabaseFileFault, isTooManyConnections } from '../store/index.ts';
import { docsRoutes, loadDocuments, scimDocumentationUrl } from './docs.ts';
import { REQUEST_TIMEOUT_MS, drainOnClose } from './draining.ts';
import { announcesBody, enforceBodyDeadline } from './request-bodies.ts';
import { createAdmission, type Admission, type AdmissionPolicy, type Lane, type Release } from './admission.ts';
import {
  ACCEPTED_CONTENT_CODINGS,
  DEFAULT_BODY_LIMIT,
  MAX_JSON_DEPTH,
  RepeatedHeaderError,
  UnsupportedContentCodingError,
  checkStorableText,
  refuseMissingAdminBody,
  repeatedHeaders,
  decodeJsonBody,
  hasProtoKey,
  jsonTooDeep,
  unreadableContentCodings,
} from './input.ts';
import { SCIM_PREFIX, apiOfPath, routedPath } from './routing.ts';
import { securityHeaders } from './security-headers.ts';
import { AJV_OPTIONS, coerceQuery, schemaErrorFormatter } from './validation.ts';
import { LOOPBACK, addressMatcher, type AddressRange } from './address-ranges.ts';
import { METRICS_ROUTE, createMetrics, metricsRoute, tokenlessMetricsReader } from './metrics.ts';
import { REQUEST_ID_HEADER, RequestLogController, logRequest, requestIdOf } from './request-log.ts';
import { createLazySchemaCompilers, type LazySchemaCompilers } from './schema-compilers.ts';
import { STREAM_STALL_MS } from './routes/scim/streamed.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** The provisioning activity's writer: `settle()` waits until what was answered is stored. */
    scimActivity: ActivityRecorder;
    /** The route schemas, compiled on first use (schema-compilers.ts). */
    routeSchemas: LazySchemaCompilers;
    /**
     * Aborted as the app starts closing: it ends what waits for a client's sake (the event
     * feed's long polls). Lives as long as the app, so what waits on it must let go when done
     * (src/signals.ts).
     */
    closing: AbortSignal;
  }
}

/** Whether a request belongs to the SCIM API, on the path the router read. */
function isScimRequest(request: FastifyRequest): boolean {
  return apiOfPath(request.routeOptions.url ?? routedPath(request.url)) === 'scim';
}

export interface AppOptions {
  readonly services: Services;
  /** Public URL of this instance, without trailing slash; used for meta.location. */
  readonly baseUrl: string;
  readonly logger?: FastifyServerOptions['logger'];
  /** Largest request body in bytes (ROSTER_MAX_BODY_SIZE); DEFAULT_BODY_LIMIT when unset. */
  readonly maxBodySize?: number;
  /** ROSTER_COOKIE_DOMAIN without its leading dot: sign-in may send browsers back to any host under it. */
  readonly cookieDomain?: string | undefined;
  /** ROSTER_TRUSTED_HOSTS: other hosts sign-in may send browsers back to. */
  readonly trustedHosts?: readonly string[];
  /** Lifetime of OpenID Connect access tokens in seconds (ROSTER_OIDC_ACCESS_TOKEN_TTL); five minutes when unset. */
  readonly oidcAccessTokenTtlSeconds?: number;
  /** The limit on requests in progress in this process and its queue; no limit when unset. */
  readonly admission?: AdmissionPolicy;
  /** Clients that may read /metrics without a token (ROSTER_METRICS_ALLOW); loopback when unset. */
  readonly metricsAllow?: readonly AddressRange[];
  /** Reverse proxies whose X-Forwarded-For names the client (ROSTER_TRUSTED_PROXIES); none when unset. */
  readonly trustedProxies?: readonly AddressRange[];
  /** How long a streamed answer may wait for its client to take more (streamed.ts STREAM_STALL_MS when unset). */
  readonly streamStallMs?: number;
  /** How long a request's body may take to arrive (draining.ts REQUEST_TIMEOUT_MS when unset). */
  readonly bodyDeadlineMs?: number;
}

/** The probes that must answer however busy the instance is: an orchestrator reads a timeout as "dead". */
const PROBES = new Set(['/healthz', '/livez']);

/** Answers an error of a request no route took, in the error shape of the API its path belongs to. */
function unroutedError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return apiOfPath(routedPath(request.url)) === 'scim' ? scimErrorHandler(error, request, reply) : apiErrorHandler(error, request, reply);
}


/** A browser navigating (GET, accepting HTML) to a path outside the APIs. */
function wantsPage(request: FastifyRequest): boolean {
  const accept = request.headers.accept;
  return request.method === 'GET' && typeof accept === 'string' && accept.includes('text/html') && apiOfPath(routedPath(request.url)) === 'other';
}

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Runs `wait` (for something to happen elsewhere: a new event) without holding a slot of the
     * admission limit, then takes a slot again before the request goes on: requests that wait
     * long must not keep out the ones that work.
     */
    waitOutsideLimit<T>(wait: () => Promise<T>): Promise<T>;
  }
}

/**
 * SCIM and admin API requests that carry a bearer token wait ahead of the rest (sign-ins, OpenID
 * Connect, forward auth, the console): an IdP deactivating someone must get through a flood of
 * sign-ins. Decided from the path and the header alone, before any database read: a made-up
 * token gets ahead too, and is refused at its first check, as cheaply as anywhere else.
 */
function provisioningAhead(request: FastifyRequest): Lane {
  const path = request.url;
  const api = path.startsWith('/api/scim/v2/') || path.startsWith('/api/v2/');
  return api && /^bearer /i.test(request.headers.authorization ?? '') ? 'ahead' : 'normal';
}

/**
 * Holds every request but `exempt` ones to the process's admission limit; the slot is given back
 * when the response is sent or the connection closes, whichever comes first. A client that
 * leaves while its request waits in the queue takes its place with it: its request holds no
 * slot and is not served (a slot taken for a connection already closed would never be given
 * back, and enough of them would refuse every request).
 */
function admit(app: FastifyInstance, admission: Admission, exempt: (request: FastifyRequest) => boolean, laneOf: (request: FastifyRequest) => Lane): void {
  const releases = new WeakMap<FastifyRequest, Release>();
  /** A slot for the request, undefined when its client left while it waited for one. */
  const enter = async (reply: FastifyReply, lane: Lane | 'patient'): Promise<Release | undefined> => {
    const left = new AbortController();
    const leave = () => left.abort();
    reply.raw.once('close', leave);
    if (reply.raw.closed) left.abort();
    try {
      const release = await (lane === 'patient' ? admission.enterPatiently(left.signal) : admission.enter(left.signal, lane));
      if (release !== undefined && left.signal.aborted) {
        release();
        return undefined;
      }
      if (release !== undefined) reply.raw.once('close', release);
      return release;
    } finally {
      reply.raw.off('close', leave);
    }
  };
  app.addHook('onRequest', async (request, reply) => {
    if (exempt(request)) return;
    const release = await enter(reply, laneOf(request));
    if (release === undefined) {
      // Nobody is left to answer; the request log records nginx's "client closed request".
      return reply.code(CLIENT_CLOSED_REQUEST).send();
    }
    releases.set(request, release);
    request.waitOutsideLimit = async <T>(wait: () => Promise<T>): Promise<T> => {
      releases.get(request)?.();
      releases.delete(request);
      try {
        return await wait();
      } finally {
        // Queued behind the requests that came meanwhile, and never refused: an event wakes
        // every reader waiting for it at once. A client that left needs no slot: its answer goes nowhere.
        const again = await enter(reply, 'patient');
        if (again !== undefined) releases.set(request, again);
      }
    };
  });
  app.addHook('onResponse', async (request) => {
    releases.get(request)?.();
  });
  // A body still on its way holds no slot: twenty anonymous sign-in posts trickling a byte every
  // five seconds held every slot of an instance, and SCIM got 503. Requests in the lane ahead
  // (a bearer token, checked before their body is read) keep theirs: an IdP's large PUT is
  // worth its slot. The slot is taken again, in the request's own lane, once the body is in.
  const bodyArriving = new WeakSet<FastifyRequest>();
  app.addHook('preParsing', async (request, _reply, payload) => {
    const release = releases.get(request);
    if (release === undefined || laneOf(request) === 'ahead' || !announcesBody(request.headers) || request.raw.readableEnded) return payload;
    release();
    releases.delete(request);
    bodyArriving.add(request);
    return payload;
  });
  app.addHook('preValidation', async (request, reply) => {
    if (!bodyArriving.delete(request)) return;
    const release = await enter(reply, laneOf(request));
    if (release === undefined) return reply.code(CLIENT_CLOSED_REQUEST).send();
    releases.set(request, release);
  });
}

/** Creates the application with every route registered; call `ready()` or `listen()` next. */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const headers = securityHeaders(options.baseUrl);
  const routeSchemas = createLazySchemaCompilers();
  const trustedProxies = options.trustedProxies ?? [];
  const fromTrustedProxy = addressMatcher(trustedProxies);
  const app = Fastify({
    // request.ip is the TCP peer's address, or, from a trusted proxy, the client its
    // X-Forwarded-For names (proxy-addr walks the list from the right while the hop is trusted).
    // What reads it: sign-in throttling by source, the provisioning activity, /metrics.
    ...(trustedProxies.length > 0 ? { trustProxy: (address: string) => fromTrustedProxy(address) } : {}),
    logger: options.logger ?? false,
    // One line per request, written by the onResponse hook below (request-log.ts), instead of
    // Fastify's two; the request id is the proxy's X-Request-Id or a new UUID.
    logController: new RequestLogController({ requestIdLogLabel: 'requestId' }),
    genReqId: (request) => requestIdOf(request.headers[REQUEST_ID_HEADER]),
    bodyLimit: options.maxBodySize ?? DEFAULT_BODY_LIMIT,
    // Node's own check, kept; the body deadline is enforced by request-bodies.ts, which this did
    // not. While stopping, requests still coming in on open connections are refused in the
    // shape of their API, not Fastify's (draining.ts).
    requestTimeout: REQUEST_TIMEOUT_MS,
    return503OnClosing: false,
    // IdPs put spaces as `+` and percent-encode filters; Fastify's default parser handles both.
    // Paths match regardless of case (`/users`, `/serviceproviderconfig`: SCIM clients spell
    // endpoint names freely); parameters such as SCIM ids keep their case (find-my-way).
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, maxParamLength: 500, caseSensitive: false },
    // Route schemas refuse unknown fields and wrong types instead of dropping or converting them,
    // and their failures read as the admin API's messages (validation.ts).
    ajv: AJV_OPTIONS,
    schemaErrorFormatter,
    // Each compiled when its route is first called, not all at start-up (schema-compilers.ts).
    schemaController: { compilersFactory: routeSchemas.compilersFactory },
    // Requests Node's parser refuses (headers over 16 KiB …) get an answer that says it closes.
    clientErrorHandler: answerClientError,
    // A malformed percent-encoding or an over-long id fails before routing, so no scope's error
    // handler sees it (nor any hook): answer in the shape of the API the path belongs to.
    frameworkErrors: (error, request, reply) => {
      headers.apply(reply);
      reply.header(REQUEST_ID_HEADER, request.id);
      const answered = unroutedError(error, request, reply);
      // No hook runs for these requests: record, count and log them here.
      observe(request, reply);
      return answered;
    },
  });
  const admission = options.admission === undefined ? undefined : createAdmission(options.admission);
  const metrics = createMetrics(options.services.store, options.services.clock, admission, options.services);
  app.decorate('metrics', metrics);
  // What the store could not do beside a failed statement (a cancel that did not reach
  // PostgreSQL): the statement's own error is logged with the request that met it.
  const stopStoreWarnings = options.services.store.observeWarnings((warning) => app.log.warn({ err: warning.error }, warning.message));
  app.decorate('routeSchemas', routeSchemas);
  app.decorate('streamStallMs', options.streamStallMs ?? STREAM_STALL_MS);
  /** What follows every request: its provisioning activity (SCIM), its count and its log line. */
  const observe = (request: FastifyRequest, reply: FastifyReply): void => {
    if (isScimRequest(request)) recorder.observe(request, reply);
    metrics.observeRequest(request, reply);
    logRequest(request, reply);
  };
  const closedEarly = new WeakSet<FastifyRequest>();
  // On the raw response, so that it is sent on every answer, those of the routes that write
  // the response themselves (the OpenID provider) included.
  app.addHook('onRequest', async (request, reply) => {
    reply.raw.setHeader(REQUEST_ID_HEADER, request.id);
    // A client that leaves before its answer is complete (while its request waits for a slot,
    // while it sends its body, while it is worked on) gets no answer, so Node never finishes
    // the response and Fastify runs no onResponse hook: the request had no log line, and a
    // body cut short was logged as an error. It is observed when the connection closes, as
    // nginx's 499 "client closed request" when no answer had begun; it is the client's doing.
    // The client's address is read now: a socket no longer knows its peer once closed, unless
    // it was asked before (Node keeps the answer), and the line and the activity name the client.
    void request.socket.remoteAddress;
    let finished = false;
    reply.raw.once('finish', () => {
      finished = true;
    });
    reply.raw.once('close', () => {
      if (finished) return;
      if (!reply.raw.headersSent) reply.raw.statusCode = CLIENT_CLOSED_REQUEST;
      closedEarly.add(request);
      observe(request, reply);
    });
  });
  // While stopping, connections close after their answer, and new requests are refused at once.
  // Before the drain's own hook, so that long polls answer at once instead of holding it up.
  const closing = new AbortController();
  app.addHook('preClose', async () => closing.abort());
  app.decorate('closing', closing.signal);
  drainOnClose(app, unroutedError);
  // Two Host or two Authorization headers are refused before anything reads either (input.ts
  // says why), in the shape of the request's API. The connection closes: a client or proxy that
  // sent them may frame what follows differently from Node too.
  app.addHook('onRequest', async (request, reply) => {
    const repeated = repeatedHeaders(request.raw.rawHeaders);
    if (repeated.length === 0) return;
    reply.header('connection', 'close');
    throw new RepeatedHeaderError(repeated);
  });
  // A body in a content coding (gzip …) is refused from its headers, whatever the route reads
  // (JSON, forms, the OpenID provider's own reader), before it waits for a slot; the unread rest
  // is not worth reading, so the connection closes after the answer.
  app.addHook('onRequest', async (request, reply) => {
    const codings = unreadableContentCodings(request.headers);
    if (codings.length === 0) return;
    reply.header('accept-encoding', ACCEPTED_CONTENT_CODINGS).header('connection', 'close');
    throw new UnsupportedContentCodingError(codings);
  });
  enforceBodyDeadline(app, options.bodyDeadlineMs ?? REQUEST_TIMEOUT_MS);
  // Then the admission limit: a request beyond it costs nothing more than its headers. The
  // probes, and a scrape of /metrics that needs no token, pass: an overloaded instance is when
  // its figures matter most, and they read no database. A scrape with a token is admitted like
  // any request, since checking the token reads the database.
  const tokenlessMetrics = tokenlessMetricsReader({ allow: options.metricsAllow ?? LOOPBACK, fromTrustedProxy });
  if (admission !== undefined) {
    admit(
      app,
      admission,
      (request) => {
        const route = request.routeOptions.url ?? '';
        return PROBES.has(route) || (route === METRICS_ROUTE && tokenlessMetrics(request));
      },
      provisioningAhead,
    );
  }
  const recorder = createActivityRecorder(options.services.activity, app.log);
  app.decorate('scimActivity', recorder);
  app.decorateRequest('actor', null as never);
  app.decorateRequest('bearer', null);
  app.decorateRequest('scimFailure', null);
  // Without an admission limit there is no slot to give back while waiting.
  app.decorateRequest('waitOutsideLimit', function <T>(wait: () => Promise<T>): Promise<T> {
    return wait();
  });
  // After the response is sent, so that recording never delays nor fails a SCIM request.
  app.addHook('onResponse', async (request, reply) => {
    if (!closedEarly.has(request)) observe(request, reply);
  });
  // Fastify closes after the requests in flight; their activity is written before the store closes.
  app.addHook('onClose', async () => {
    await recorder.settle();
    metrics.close();
    stopStoreWarnings();
  });
  enforceAdminRoutePattern(app);
  await registerApiDocs(app, options.baseUrl, options.services.sessions.cookieName);
  addSchemas(app, COMMON_SCHEMAS);
  // Every answer, whichever route or error handler made it (security-headers.ts).
  app.addHook('onSend', async (_request, reply) => {
    headers.apply(reply);
  });
  // Routes outside the API scopes (forward auth) answer their errors in the shape of their path.
  app.setErrorHandler((error, request, reply) => unroutedError(error, request, reply));
  // The scopes' own 404 handlers only see their prefix spelled exactly; `//api/scim/v2/Nope` lands here.
  // A browser asking for a page outside the APIs gets the console's HTML 404.
  app.setNotFoundHandler((request, reply) => {
    if (wantsPage(request)) return notFoundPage(request, reply);
    return unroutedError(new ScimError(404, undefined, `There is no endpoint ${request.method} ${request.url}.`), request, reply);
  });

  // SCIM bodies come as application/scim+json or application/json, with or without charset.
  // Okta sends a JSON content type on DELETE with no body: an empty body is "no body".
  // The admin API's PATCH is a JSON merge patch (RFC 7396), as in SonarQube's Web API v2.
  // The body is read as bytes, so that bytes that are not UTF-8 are refused, not replaced.
  // Fastify's own text/plain parser goes too: with it, a JSON body sent as text/plain reached
  // the routes as a string (a 400 that quoted the body) where any other type gets the 415.
  // The console, SAML and OIDC scopes register their own parsers.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser(['application/json', 'application/scim+json', 'application/merge-patch+json'], { parseAs: 'buffer' }, (request, body, done) => {
    let text: string;
    try {
      text = decodeJsonBody(typeof body === 'string' ? Buffer.from(body) : body, request.headers['content-type']);
    } catch (error) {
      done(error as Error, undefined);
      return;
    }
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    if (jsonTooDeep(text, MAX_JSON_DEPTH)) {
      done(badRequest('invalidSyntax', `The request body nests JSON more than ${MAX_JSON_DEPTH} levels deep; Roster accepts at most ${MAX_JSON_DEPTH}.`), undefined);
      return;
    }
    // Parsed here rather than by Fastify's parser, whose one message ("Body is not valid JSON but
    // content-type is set to 'application/json'") hid the reason and was given for valid JSON too.
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      done(badRequest('invalidSyntax', `The request body is not valid JSON (${(error as Error).message}).`), undefined);
      return;
    }
    // JSON.parse makes "__proto__" an own key, harmless here, but a later Object.assign or
    // spread of the body would set a prototype with it: refused, as Fastify refused it.
    // The walk only when the text could hold such a key (spelt out, or with \u escapes), so a
    // large member list is not walked for nothing.
    if ((text.includes('__proto__') || text.includes('\\u00')) && hasProtoKey(value)) {
      done(badRequest('invalidSyntax', 'The request body has a "__proto__" key, which Roster refuses: no field of its APIs has that name.'), undefined);
      return;
    }
    done(null, value);
  });

  // The ids and query parameters of the JSON APIs reach SQL; the body is checked the same way.
  // The route's pattern says which API a request reached, however its URL was spelled.
  // The /saml pages check their few parameters themselves and answer with HTML. An admin route
  // that needs a body refuses a request without one before the schema reads it as `null`.
  app.addHook('preValidation', async (request) => {
    const route = request.routeOptions.url;
    if (route === undefined || apiOfPath(route) === 'other') return;
    for (const [name, value] of Object.entries((request.params ?? {}) as Record<string, unknown>)) checkStorableText(value, `The ${name} in the URL`);
    for (const [name, value] of Object.entries((request.query ?? {}) as Record<string, unknown>)) checkStorableText(value, `Query parameter ${name}`);
    if (request.routeOptions.config.checksBodyText !== true) checkStorableText(request.body, 'The request body');
    if (apiOfPath(route) === 'admin') refuseMissingAdminBody(request.body, request.routeOptions.schema?.body);
    coerceQuery(request);
  });

  // Readiness: take traffic only with a database that answers. Liveness: the process runs; a
  // database outage must not make an orchestrator restart instances that will recover alone.
  // The check's own deadline closes a connection that did not answer: a probe every second
  // must not leave connections waiting on a dead socket until the pool has none left.
  // The last check's error, to tell a database that refuses connections from one that is gone.
  let checkFailure: unknown;
  const ready = createReadiness(() => {
    checkFailure = undefined;
    return options.services.store.ping(READINESS_TIMEOUT_MS).catch((error: unknown) => {
      checkFailure = error;
      throw error;
    });
  });
  app.get('/healthz', { config: { healthCheck: true } }, async (_request, reply) => {
    if (await ready()) return { status: 'ok' };
    reply.header('retry-after', String(DATABASE_RETRY_AFTER_SECONDS));
    // Told apart for operators: a pool lent out whole (slow or stalled requests holding every
    // connection) is not a database that is down, nor is one that answers but refuses connections.
    const pool = options.services.store.poolUse();
    const detail = checkFailure instanceof DatabaseFileFault
      ? checkFailure.message
      : isTooManyConnections(checkFailure)
      ? 'The database answers but refuses new connections (SQLSTATE 53300: max_connections, or a CONNECTION LIMIT of the role or database, reached): other clients or instances hold them all.'
      : pool !== undefined && pool.total >= pool.max && pool.idle === 0 && pool.waiting > 0
        ? `Every connection of this instance's database pool is in use (${pool.max} of ROSTER_DATABASE_POOL_SIZE=${pool.max}, ${pool.waiting} queries waiting): this instance's requests are held up; the database itself may be answering.`
        : 'The database does not answer.';
    return reply.code(503).send({ status: 'unavailable', detail });
  });
  app.get('/livez', { config: { healthCheck: true } }, async () => ({ status: 'ok' }));

  metricsRoute(app, { metrics, tokenless: tokenlessMetrics, services: options.services });

  // The user documentation, so that /ServiceProviderConfig's documentationUri answers.
  const documents = loadDocuments();
  docsRoutes(app, documents);
  const documentationUri = scimDocumentationUrl(options.baseUrl, documents);
  await app.register(scimEndpoint, {
    prefix: SCIM_PREFIX,
    services: options.services,
    baseUrl: options.baseUrl,
    maxBodySize: options.maxBodySize ?? DEFAULT_BODY_LIMIT,
    ...(documentationUri !== undefined ? { documentationUri } : {}),
  });
  await app.register(sessionApi, { services: options.services });
  await app.register(adminApi, { services: options.services });
  // Where sign-in may send a browser back to: one rule for the sign-in page, SAML and forward auth.
  const trust: ReturnTrust = { origin: new URL(options.baseUrl).origin, cookieDomain: options.cookieDomain, trustedHosts: options.trustedHosts ?? [] };
  await app.register(samlRoutes, { services: options.services, trust });
  await app.register(oidcRoutes, {
    services: options.services,
    baseUrl: options.baseUrl,
    ...(options.oidcAccessTokenTtlSeconds !== undefined ? { accessTokenTtlSeconds: options.oidcAccessTokenTtlSeconds } : {}),
  });
  await app.register(consoleRoutes, { services: options.services, baseUrl: options.baseUrl, trust });
  forwardAuthRoutes(app, { services: options.services, baseUrl: options.baseUrl, trust });
  // After the routes it describes: the document is generated from them (api-docs.ts).
  await apiDocsRoute(app);
  return app;
}
