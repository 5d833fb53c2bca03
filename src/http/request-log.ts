/**
 * One log line per answered request, at `info`: request id, method, route pattern, status,
 * duration, the client's address and the name of the token that authenticated it. The route is logged, never the
 * URL: query strings of /saml and /oidc carry codes and state, and paths carry ids. Health
 * checks are logged at `debug` only, so that a load balancer's probes do not fill the logs.
 */
import { randomUUID } from 'node:crypto';
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import { routeOf } from './metrics.ts';
import { clientAddress } from './client.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route is a health check (GET /healthz, /livez): its requests are logged at debug, not info. */
    healthCheck?: boolean;
  }
}

/**
 * Fastify's own request lines ("incoming request", "request completed") left out: logRequest
 * writes the one line. Its error lines stay (a 500 the default handler answers, a response
 * stream that failed).
 */
export class RequestLogController extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, _request: FastifyRequest, reply: FastifyReply): void {
    if (error) reply.log.error({ err: error }, 'request errored');
  }

  /**
   * An answer written while it is read (a group's members, routes/scim/streamed.ts) that failed
   * after its first bytes: the status was sent, so the connection is closed and the client sees it
   * cut short. At error, as any failed request (Fastify says warn); a client that left is info.
   */
  override streamError(error: Error, _request: FastifyRequest, reply: FastifyReply): void {
    if ((error as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') {
      reply.log.info('the client closed the connection before the answer was written');
      return;
    }
    reply.log.error({ err: error }, 'the answer failed after its first bytes were sent: connection closed, the client got it cut short');
  }
}

/** The header a proxy may set, and Roster returns on every response. */
export const REQUEST_ID_HEADER = 'x-request-id';
const MAX_REQUEST_ID = 200;

/**
 * The request's id: the proxy's X-Request-Id when it is 1–200 printable ASCII characters (so
 * a request can be followed from the proxy's log into Roster's), else a new UUID.
 */
export function requestIdOf(header: string | string[] | undefined): string {
  if (typeof header === 'string' && header.length > 0 && header.length <= MAX_REQUEST_ID && /^[\x20-\x7e]+$/.test(header)) return header;
  return randomUUID();
}

/** Writes the request's one log line; called once, after the response is sent. */
export function logRequest(request: FastifyRequest, reply: FastifyReply): void {
  const line = {
    method: request.method,
    route: routeOf(request),
    status: reply.statusCode,
    durationMs: Math.round(reply.elapsedTime * 100) / 100,
    // Who sent it, so that a burst of 401s can be traced to its source: the TCP peer, or from a
    // trusted proxy (ROSTER_TRUSTED_PROXIES) the client it names in X-Forwarded-For.
    clientAddress: clientAddress(request),
    // Set once a token is verified, even when its user may not call the route (a 403).
    ...(request.bearer?.name !== undefined ? { token: request.bearer.name } : {}),
    // The SCIM error's type (RFC 7644 §3.12), when the answer was one; its detail is logged at debug.
    ...(request.scimFailure?.scimType !== undefined ? { scimType: request.scimFailure.scimType } : {}),
  };
  if (request.routeOptions.config?.healthCheck === true) request.log.debug(line, 'request completed');
  else request.log.info(line, 'request completed');
}
