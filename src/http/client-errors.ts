/**
 * What Roster answers when Node's HTTP parser gives up on a request before any route sees it:
 * headers over Node's 16 KiB limit (431), a request that timed out (408), bytes that are not
 * HTTP (400). Fastify's default handler answers and then destroys the socket without saying
 * `Connection: close`, so a keep-alive client (every IdP) sends its next request on the dying
 * socket and sees it reset: a dropped request, which IdPs retry blindly. This answer says it
 * closes, in the RFC 7644 error schema, since SCIM clients are the ones that keep connections.
 */
import type { FastifyInstance } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';

const SCIM_ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

/**
 * Fastify's `clientErrorHandler` (called with the app as `this`): a complete answer that
 * announces the close, then the close. No route saw the request, so no hook logs or counts it:
 * this does, or an IdP whose long filters get 431 would be invisible to the operator.
 */
export function answerClientError(this: FastifyInstance, error: Error & { code?: string }, socket: Socket): void {
  // A reset connection has nobody left to answer (Node's own handler does the same).
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  // The client closed its side before its request was complete (a body cut short): its doing,
  // not a refusal. The route that has the request logs and counts it (499, app.ts); a client
  // that only half-closed still reads this answer.
  const endedEarly = error.code === 'HPE_INVALID_EOF_STATE';
  const [status, detail] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'The request line and headers exceed 16 KiB (a URL that long is refused; send a filter in a POST /.search body instead).']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'The request was not received in time.']
        : endedEarly
          ? [400, 'The connection was closed before the whole request was sent.']
          : [400, 'The request is not valid HTTP.'];
  if (endedEarly) {
    this.log.debug({ status, code: error.code, remoteAddress: socket.remoteAddress }, `request ended early: ${detail}`);
  } else {
    this.log.info({ status, code: error.code, remoteAddress: socket.remoteAddress }, `request refused before routing: ${detail}`);
    this.metrics.refusedUnread(status);
  }
  const body = JSON.stringify({ schemas: [SCIM_ERROR], status: String(status), detail });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: application/scim+json; charset=utf-8\r\n` +
        `X-Content-Type-Options: nosniff\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  // end(), not destroy(): the answer is flushed before the connection closes.
  socket.end();
}
