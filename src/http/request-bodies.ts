/**
 * Request bodies that arrive slowly. A client that sends its headers and then its body a byte at
 * a time costs the server nothing but a socket, and must cost no more: it holds no slot of the
 * admission limit while the body arrives (app.ts admit), and its connection is closed once the
 * body is late past the deadline.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance } from 'fastify';

/** Whether the request announces a body (a length above zero, or chunks). */
export function announcesBody(headers: IncomingHttpHeaders): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Closes the connection of a request whose body has not all arrived `deadlineMs` after its
 * headers. Node's own requestTimeout, which Fastify is given, did not: a body trickled a byte
 * every five seconds was still open after 345 s with the 300 s setting (and after 40 s with a
 * 3 s one). The timer ends when the body has been read, or the answer sent without reading it.
 */
export function enforceBodyDeadline(app: FastifyInstance, deadlineMs: number): void {
  app.addHook('onRequest', async (request, reply) => {
    if (!announcesBody(request.headers)) return;
    const timer = setTimeout(() => {
      request.log.warn({ deadlineMs }, 'the client did not send its whole request body in time: its connection is closed');
      request.raw.socket?.destroy();
    }, deadlineMs);
    timer.unref();
    const done = () => clearTimeout(timer);
    request.raw.once('end', done);
    reply.raw.once('close', done);
  });
}
