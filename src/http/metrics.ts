/**
 * The Prometheus metrics of one app (GET /metrics): requests by route, SCIM operations,
 * database statements and the PostgreSQL pool, sign-ins, the process's own metrics, and the
 * gauges of shared state that alerts watch (state-metrics.ts).
 * Counters live in this process: each instance exposes its own, and Prometheus adds them up
 * across instances (docs/deploy.md, "Logs and metrics"). Every label takes values from a short
 * fixed list or from the app's route patterns, never from what a client sends.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Access } from '../directory/access.ts';
import type { Admission } from './admission.ts';
import type { TokenService } from '../auth/tokens.ts';
import type { Store } from '../store/index.ts';
import type { SharedClock } from '../store/clock.ts';
import { addressMatcher, type AddressRange } from './address-ranges.ts';
import { authenticate, bearerToken } from './auth.ts';
import { apiErrorHandler } from './errors.ts';
import { SCIM_PREFIX, apiOfPath, routedPath } from './routing.ts';
import { ScimError } from '../scim/errors.ts';
import { boundedRead, leaveWithoutValue, registerStateMetrics, type StateSources } from './state-metrics.ts';

/** The route label of requests no route took (404s, URLs the router could not read). */
export const UNMATCHED_ROUTE = '(unmatched)';

/** The route and method labels of requests Node's HTTP parser refused: nothing of them was read. */
export const UNREAD_ROUTE = '(unread)';

/** Where Prometheus scrapes. */
export const METRICS_ROUTE = '/metrics';

/** How a person signed in. */
export type SignInMethod = 'saml' | 'password' | 'oidc';

/** The metrics of one app. */
export interface Metrics {
  /** Counts an answered request, and its SCIM operation if it was one; called once per response. */
  observeRequest(request: FastifyRequest, reply: FastifyReply): void;
  /**
   * Counts one operation of a Bulk request under its own resource (`Users`, `Groups`, `unknown`
   * when it could not be read) and operation, by the status it got: the Bulk request itself
   * answers 200 whatever its operations did.
   */
  bulkOperation(resource: 'Users' | 'Groups' | 'unknown', method: string | undefined, status: number): void;
  /** Counts a request Node's HTTP parser refused before any route saw it (431, 408, 400): route `(unread)`. */
  refusedUnread(status: number): void;
  /** Counts a sign-in: `outcome` is `success` or the refusal's reason code (a fixed list per method). */
  signIn(method: SignInMethod, outcome: string): void;
  /**
   * Counts an attempt of the back-channel logout worker, which runs beside the app in `roster
   * serve`: `delivered`, `retrying`, `given_up`, or `dropped` (its application deleted or no
   * longer listening).
   */
  backchannelLogout(outcome: 'delivered' | 'retrying' | 'given_up' | 'dropped'): void;
  /** The Prometheus text exposition of this app's and the process's metrics. */
  render(): Promise<string>;
  readonly contentType: string;
  /** Stops listening to the store's queries (the app closes). */
  close(): void;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** This app's metrics: routes count sign-ins through it (`request.server.metrics.signIn`). */
    metrics: Metrics;
  }
}

/** The route pattern a request reached (`/api/scim/v2/Users/:id`), or UNMATCHED_ROUTE. */
export function routeOf(request: FastifyRequest): string {
  return request.routeOptions.url ?? UNMATCHED_ROUTE;
}

// Seconds, as Prometheus names them; from a cached lookup to a slow page.
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const QUERY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

// The process's metrics (CPU, memory, event loop lag, GC) describe the process, not an app:
// collected once per process, whatever number of apps (tests build hundreds) expose them.
let processRegistry: Registry | undefined;
function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** The SCIM resource and operation a route and method stand for (RFC 7644 §3). */
function scimOperation(route: string, method: string): { resource: string; operation: string } {
  if (route === UNMATCHED_ROUTE) return { resource: 'unknown', operation: 'unknown' };
  const path = route.slice(SCIM_PREFIX.length);
  const [resource = '', second] = path.split('/').filter((segment) => segment !== '');
  const read = method === 'GET' || method === 'HEAD';
  if (resource === '' || resource === '.search') return { resource: 'root', operation: read ? 'list' : 'search' };
  if (second === '.search') return { resource, operation: 'search' };
  if (resource === 'Bulk') return { resource, operation: 'bulk' };
  if (second === undefined && resource !== 'Me') return { resource, operation: read ? 'list' : method === 'POST' ? 'create' : method.toLowerCase() };
  switch (method) {
    case 'GET':
    case 'HEAD':
      return { resource, operation: 'get' };
    case 'PUT':
      return { resource, operation: 'replace' };
    case 'PATCH':
      return { resource, operation: 'patch' };
    case 'DELETE':
      return { resource, operation: 'delete' };
    default:
      return { resource, operation: method.toLowerCase() };
  }
}

/** The operation a Bulk operation's method stands for; anything else (a method Bulk refuses) is `unknown`. */
const BULK_OPERATIONS: Readonly<Record<string, string>> = { POST: 'create', PUT: 'replace', PATCH: 'patch', DELETE: 'delete' };

function outcomeOf(status: number): 'success' | 'client_error' | 'server_error' {
  return status >= 500 ? 'server_error' : status >= 400 ? 'client_error' : 'success';
}

/**
 * Creates the metrics of an app over `store` and the instance's `clock` (and its admission limit,
 * if any, and the shared state the gauges of state-metrics.ts read); `close()` when the app closes.
 */
export function createMetrics(store: Store, clock: Pick<SharedClock, 'measure'>, admission?: Admission, state?: StateSources): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const requests = new Counter({ name: 'roster_http_requests_total', help: 'HTTP requests answered, by route pattern, method and status.', labelNames: ['route', 'method', 'status'], registers });
  const durations = new Histogram({
    name: 'roster_http_request_duration_seconds',
    help: 'Time from receiving a request to sending its answer, by route pattern, method and status.',
    labelNames: ['route', 'method', 'status'],
    buckets: HTTP_BUCKETS,
    registers,
  });
  const scimOperations = new Counter({
    name: 'roster_scim_operations_total',
    help: 'SCIM requests by resource (Users, Groups, Bulk, …), operation (get, list, search, create, replace, patch, delete, bulk) and outcome (success, client_error, server_error).',
    labelNames: ['resource', 'operation', 'outcome'],
    registers,
  });
  const signIns = new Counter({
    name: 'roster_sign_ins_total',
    help: 'Sign-ins by method (saml, password, oidc) and outcome (success, or the reason of the refusal).',
    labelNames: ['method', 'outcome'],
    registers,
  });
  const backchannelLogouts = new Counter({
    name: 'roster_oidc_backchannel_logouts_total',
    help: 'OpenID Connect back-channel logouts by outcome: delivered, retrying (an attempt failed, another follows), given_up (the last attempt failed), dropped (the application was deleted or no longer has a back-channel logout URI).',
    labelNames: ['outcome'],
    registers,
  });
  const queries = new Histogram({
    name: 'roster_db_query_duration_seconds',
    help: 'Database statements by kind (select, insert, update, delete, transaction, other) and outcome (ok, error).',
    labelNames: ['kind', 'outcome'],
    buckets: QUERY_BUCKETS,
    registers,
  });
  const stopObserving = store.observeQueries((query) => {
    queries.observe({ kind: query.kind, outcome: query.failed ? 'error' : 'ok' }, query.durationMs / 1000);
  });
  if (admission !== undefined) {
    // An instance at its limit answers 503 to new requests: these say how close it is.
    new Gauge({
      name: 'roster_requests_in_progress',
      help: 'Requests this instance is working on (at most ROSTER_MAX_CONCURRENT_REQUESTS; /healthz, /livez and /metrics read without a token not counted).',
      registers,
      collect() {
        this.set(admission.load().active);
      },
    });
    new Gauge({
      name: 'roster_requests_queued',
      help: 'Requests waiting for a turn at this instance\'s limit (ROSTER_QUEUE_TIMEOUT_MS at most).',
      registers,
      collect() {
        this.set(admission.load().queued);
      },
    });
  }
  if (store.poolUse() !== undefined) {
    new Gauge({
      name: 'roster_db_pool_connections',
      help: 'PostgreSQL connections of this instance by state (in_use, idle).',
      labelNames: ['state'],
      registers,
      collect() {
        const use = store.poolUse();
        if (use === undefined) return;
        this.set({ state: 'in_use' }, use.total - use.idle);
        this.set({ state: 'idle' }, use.idle);
      },
    });
    new Gauge({
      name: 'roster_db_long_reads',
      help: 'Long reads of this instance (lists no index serves, answers streamed whole, searches of every user) by state: running (a pool connection each, at most half the pool) or waiting for a turn.',
      labelNames: ['state'],
      registers,
      collect() {
        const use = store.poolUse();
        if (use === undefined) return;
        this.set({ state: 'running' }, use.longReads.running);
        this.set({ state: 'waiting' }, use.longReads.waiting);
      },
    });
    new Gauge({
      name: 'roster_db_pool_waiting',
      help: 'Queries of this instance waiting for a PostgreSQL connection.',
      registers,
      collect() {
        this.set(store.poolUse()?.waiting ?? 0);
      },
    });
    const clockOffset = boundedRead(() => clock.measure());
    new Gauge({
      name: 'roster_clock_offset_seconds',
      help: 'The database\'s clock minus this instance\'s, measured at each scrape (positive: this instance is behind). Keep every instance within a second (docs/deploy.md, Clocks).',
      registers,
      async collect() {
        // A database out of reach, or one that does not answer in time, leaves the gauge without a
        // value rather than failing the scrape.
        const offsetMs = await clockOffset();
        if (offsetMs === undefined) leaveWithoutValue(this);
        else this.set(offsetMs / 1000);
      },
    });
    new Gauge({
      name: 'roster_db_pool_max_connections',
      help: 'The size of the PostgreSQL pool (ROSTER_DATABASE_POOL_SIZE).',
      registers,
      collect() {
        this.set(store.poolUse()?.max ?? 0);
      },
    });
  }
  // Last: prom-client collects in this order, and the pool's gauges must read the pool before
  // these gauges' own statements take connections from it.
  if (state !== undefined) registerStateMetrics(registers, state);

  return {
    observeRequest(request, reply) {
      const route = routeOf(request);
      const labels = { route, method: request.method, status: String(reply.statusCode) };
      requests.inc(labels);
      durations.observe(labels, reply.elapsedTime / 1000);
      if (apiOfPath(route === UNMATCHED_ROUTE ? routedPath(request.url) : route) === 'scim') {
        scimOperations.inc({ ...scimOperation(route, request.method), outcome: outcomeOf(reply.statusCode) });
      }
    },
    refusedUnread(status) {
      requests.inc({ route: UNREAD_ROUTE, method: UNREAD_ROUTE, status: String(status) });
    },
    bulkOperation(resource, method, status) {
      // Own keys only: a method a client sent as `constructor` or `toString` would otherwise read Object.prototype's.
      const operation = method !== undefined && Object.hasOwn(BULK_OPERATIONS, method) ? BULK_OPERATIONS[method] : undefined;
      scimOperations.inc({ resource, operation: operation ?? 'unknown', outcome: outcomeOf(status) });
    },
    signIn(method, outcome) {
      signIns.inc({ method, outcome });
    },
    backchannelLogout(outcome) {
      backchannelLogouts.inc({ outcome });
    },
    async render() {
      return (await registry.metrics()) + (await processMetrics().metrics());
    },
    contentType: registry.contentType,
    close: stopObserving,
  };
}

/**
 * Whether a proxy forwarded the request: then the TCP peer is the proxy, and the client is
 * someone else. A reverse proxy on the same host as Roster connects from loopback, which
 * ROSTER_METRICS_ALLOW admits by default; without this check it would serve /metrics without a
 * token to anyone who can reach the proxy. A scraper that connects directly sends none of these.
 * (From a trusted proxy, request.ip is already the client the proxy names.)
 */
function forwarded(request: FastifyRequest): boolean {
  const { headers } = request;
  return headers['x-forwarded-for'] !== undefined || headers['forwarded'] !== undefined || headers['x-real-ip'] !== undefined || headers['via'] !== undefined;
}

/**
 * Whether the request names its client in X-Forwarded-For, which is where a trusted proxy's
 * word is read (request.ip). A trusted proxy that sent only X-Real-IP, Forwarded or Via named
 * nobody Roster reads: request.ip is then the proxy's own address, not the client's.
 */
function namesClient(request: FastifyRequest): boolean {
  const value = request.headers['x-forwarded-for'];
  return typeof value === 'string' && value.split(',').some((hop) => hop.trim() !== '');
}

/**
 * Who may read /metrics without a token: a client in `allow` (ROSTER_METRICS_ALLOW) that
 * connected directly, or that a trusted proxy (ROSTER_TRUSTED_PROXIES) names in
 * X-Forwarded-For. Reads no database, so the admission limit can ask it before admitting.
 */
export function tokenlessMetricsReader(options: {
  readonly allow: readonly AddressRange[];
  /** Whether a TCP peer is a trusted proxy (ROSTER_TRUSTED_PROXIES): then request.ip is the client it names. */
  readonly fromTrustedProxy?: (address: string) => boolean;
}): (request: FastifyRequest) => boolean {
  const allowed = addressMatcher(options.allow);
  const fromTrustedProxy = options.fromTrustedProxy ?? (() => false);
  return (request) => {
    const clientUnknown = forwarded(request) && !(fromTrustedProxy(request.socket.remoteAddress ?? '') && namesClient(request));
    return allowed(request.ip) && !clientUnknown;
  };
}

/**
 * Registers GET /metrics: answered without a token to the clients `tokenless` admits
 * (tokenlessMetricsReader), to others with an administrator's bearer token only (401 without
 * one, 403 for anyone else's).
 */
export function metricsRoute(
  app: FastifyInstance,
  options: {
    readonly metrics: Metrics;
    readonly tokenless: (request: FastifyRequest) => boolean;
    readonly services: { readonly tokens: TokenService; readonly access: Access };
  },
): void {
  app.get(METRICS_ROUTE, { errorHandler: apiErrorHandler }, async (request, reply) => {
    if (!options.tokenless(request)) {
      if (bearerToken(request) === undefined) {
        throw new ScimError(
          401,
          undefined,
          'Authentication required: /metrics answers without a token only to the addresses in ROSTER_METRICS_ALLOW, connecting directly (not through a proxy); send "Authorization: Bearer <token>" with an administrator\'s token.',
        );
      }
      await authenticate(request, options.services);
    }
    return reply.type(options.metrics.contentType).header('cache-control', 'no-store').send(await options.metrics.render());
  });
}
