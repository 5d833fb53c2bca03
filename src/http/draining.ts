/**
 * Stopping without waiting on clients, and without resetting a request. Fastify's close() stops
 * listening and waits for the requests in flight, but on its own a keep-alive connection
 * outlives its last answer by the keep-alive timeout (72 s), and a client that trickles its
 * request holds the process for as long as it likes. And Node's server.close() closes every idle
 * keep-alive connection at once: a load balancer that has not yet learnt of the stop and sends a
 * request on one of them just then sees the connection reset, which it cannot retry safely (a
 * POST may have been acted on). So while draining:
 *
 * - the port stops accepting connections at once (a refused connection is safe to retry
 *   elsewhere: nothing was sent);
 * - connections already open stay open for IDLE_DRAIN_MS, and a request that comes in on one is
 *   answered `503` with `Retry-After` and `Connection: close` in the shape of its API, so that
 *   the client sends it again elsewhere and drops the connection;
 * - every answer says `Connection: close`;
 * - after IDLE_DRAIN_MS, or as soon as no connection is open, the idle ones are closed, as is
 *   each that becomes idle; the caller bounds the rest with SHUTDOWN_DEADLINE_MS.
 */
import type { ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
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

/**
 * How long a stopping instance keeps the connections open at the signal, answering what comes in
 * on them `503` (see above), before it closes the idle ones: long enough for a load balancer or
 * Kubernetes to stop sending (a few seconds once the endpoint is removed), well within
 * SHUTDOWN_DEADLINE_MS. A stop with no connection open waits for none of it.
 */
export const IDLE_DRAIN_MS = 5_000;

/** Seconds a request refused while stopping is asked to wait: a restart, or another instance. */
export const SHUTDOWN_RETRY_AFTER_SECONDS = 5;

/** Answers a refusal in the error shape of the API the request's path belongs to. */
export type Refuse = (error: unknown, request: FastifyRequest, reply: FastifyReply) => FastifyReply;

/**
 * Makes `app.close()` drain its connections (see above); `idleDrainMs` replaces IDLE_DRAIN_MS.
 * Register before the admission limit, so that a refusal waits for no slot; needs Fastify's
 * `return503OnClosing: false`, without which Fastify answers those requests itself with a body
 * of neither API.
 */
export function drainOnClose(app: FastifyInstance, refuse: Refuse, idleDrainMs = IDLE_DRAIN_MS): void {
  let draining = false;
  // Set once the connections open at the signal have had IDLE_DRAIN_MS: idle ones close from then on.
  let closingIdle = false;
  const inFlight = new Set<ServerResponse>();
  const connections = new Set<Socket>();
  let lastClosed: (() => void) | undefined;
  app.server.on('connection', (socket: Socket) => {
    connections.add(socket);
    socket.once('close', () => {
      connections.delete(socket);
      if (connections.size === 0) lastClosed?.();
    });
  });
  app.addHook('onRequest', async (request, reply) => {
    if (draining) {
      reply.header('connection', 'close');
      return refuse(new RetryLaterError('unavailable', SHUTDOWN_RETRY_AFTER_SECONDS, 'Roster is shutting down; send the request again (another instance, or this one once restarted, will answer it).'), request, reply);
    }
    const response = reply.raw;
    inFlight.add(response);
    response.once('close', () => {
      inFlight.delete(response);
      // Its connection is idle now (or closing): once the drain is over, nothing more is expected on it.
      if (closingIdle) app.server.closeIdleConnections();
    });
  });
  // Before Fastify's server.close(), which closes the connections idle at that moment.
  app.addHook('preClose', async () => {
    draining = true;
    for (const response of inFlight) {
      // An answer already under way keeps its headers; its connection closes once idle.
      if (!response.headersSent) response.setHeader('connection', 'close');
    }
    if (app.server.listening && connections.size > 0) {
      // net.Server's close stops accepting and leaves open connections be; http.Server's (which
      // Fastify calls next, and which then finds the port closed) would close the idle ones too.
      NetServer.prototype.close.call(app.server);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, idleDrainMs);
        lastClosed = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    closingIdle = true;
  });
}
