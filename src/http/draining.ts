/**
 * Stopping without waiting on clients. Fastify's close() stops listening and waits for the
 * requests in flight, but on its own a keep-alive connection outlives its last answer by the
 * keep-alive timeout (72 s), and a client that trickles its request holds the process for as
 * long as it likes. While draining, every answer therefore says `Connection: close`, a connection
 * that becomes idle is closed at once, and a request that still comes in on an open connection
 * is refused in the shape of its API; the caller bounds the rest with SHUTDOWN_DEADLINE_MS.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RetryLaterError } from '../errors.ts';

/**
 * How long a stopping instance lets requests in flight finish before it closes their
 * connections: within the 30 s orchestrators grant by default (Kubernetes'
 * terminationGracePeriodSeconds), leaving time to release webhook leases and close the database.
 */
export const SHUTDOWN_DEADLINE_MS = 20_000;

/**
 * How long a request's body may take to arrive after its headers, enforced by
 * request-bodies.ts (Node's requestTimeout, also given this value, did not cut a body trickled
 * a byte at a time): a client that trickles bytes cannot hold a connection, or a stopping
 * process, forever. Node's own default; the 20 MiB default body limit fits in it at about
 * 0.6 Mbit/s. Counted until the body has been read, not while the answer is computed.
 */
export const REQUEST_TIMEOUT_MS = 300_000;

/** Seconds a request refused while stopping is asked to wait: a restart, or another instance. */
export const SHUTDOWN_RETRY_AFTER_SECONDS = 5;

/** Answers a refusal in the error shape of the API the request's path belongs to. */
export type Refuse = (error: unknown, request: FastifyRequest, reply: FastifyReply) => FastifyReply;

/**
 * Makes `app.close()` drain its connections (see above). Register before the admission limit,
 * so that a refusal waits for no slot; needs Fastify's `return503OnClosing: false`, without
 * which Fastify answers those requests itself with a body of neither API.
 */
export function drainOnClose(app: FastifyInstance, refuse: Refuse): void {
  let draining = false;
  const inFlight = new Set<ServerResponse>();
  app.addHook('onRequest', async (request, reply) => {
    if (draining) {
      reply.header('connection', 'close');
      return refuse(new RetryLaterError('unavailable', SHUTDOWN_RETRY_AFTER_SECONDS, 'Roster is shutting down; send the request again (another instance, or this one once restarted, will answer it).'), request, reply);
    }
    const response = reply.raw;
    inFlight.add(response);
    response.once('close', () => {
      inFlight.delete(response);
      // Its connection is idle now (or closing): nothing more is expected on it.
      if (draining) app.server.closeIdleConnections();
    });
  });
  // Before Fastify stops listening and closes the connections idle at that moment.
  app.addHook('preClose', async () => {
    draining = true;
    for (const response of inFlight) {
      // An answer already under way keeps its headers; its connection closes once idle.
      if (!response.headersSent) response.setHeader('connection', 'close');
    }
  });
}
