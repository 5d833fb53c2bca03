/**
 * PostgreSQL's CancelRequest (protocol 3.0, "Canceling Requests in Progress"): a new TCP
 * connection to the server carrying the backend's process id and the secret key the server gave
 * the connection at start-up (BackendKeyData); the server signals that backend to cancel what it
 * is running and closes the connection without an answer. postgres.ts sends it for a statement
 * past its deadline before closing that statement's connection.
 *
 * Sent unencrypted, as libpq's PQcancel (psql's Ctrl-C) has always sent it: PostgreSQL takes a
 * cancel before any authentication and whatever pg_hba.conf requires of sessions, and the key it
 * carries can do nothing but cancel that one backend's current statement.
 */
import { connect } from 'node:net';

/** The CancelRequest code: 1234 in the high 16 bits, 5678 in the low. */
const CANCEL_REQUEST_CODE = 80_877_102;
const CANCEL_REQUEST_LENGTH = 16;

/**
 * How long a cancel may take to reach the server before it is given up: one TCP connection and
 * 16 bytes, milliseconds on any network a database is used over; a server that cannot be reached
 * that fast cannot be reached at all.
 */
export const CANCEL_WAIT_MS = 1000;

/** A connection's server (host and port, or a Unix socket directory) and its cancel key. */
export interface CancelTarget {
  readonly host: string;
  readonly port: number;
  readonly processId: number;
  readonly secretKey: number;
}

/** Whether the server took the request (it closed the connection after reading it), and why not. */
export type CancelOutcome = { readonly delivered: true } | { readonly delivered: false; readonly error: Error };

/**
 * Sends a CancelRequest for `target` and resolves once the server has closed the connection
 * (PostgreSQL signals the backend before it closes), or with the error: refused, unreachable,
 * or no close within `waitMs`. Never rejects; the socket is destroyed on every path.
 */
export function sendCancelRequest(target: CancelTarget, waitMs = CANCEL_WAIT_MS): Promise<CancelOutcome> {
  const request = Buffer.alloc(CANCEL_REQUEST_LENGTH);
  request.writeInt32BE(CANCEL_REQUEST_LENGTH, 0);
  request.writeInt32BE(CANCEL_REQUEST_CODE, 4);
  request.writeInt32BE(target.processId, 8);
  request.writeInt32BE(target.secretKey, 12);
  return new Promise((resolve) => {
    // A host starting with a slash is a Unix socket directory, as for libpq and pg.
    const socket = target.host.startsWith('/') ? connect({ path: `${target.host}/.s.PGSQL.${target.port}` }) : connect({ host: target.host, port: target.port });
    let written = false;
    const finish = (outcome: CancelOutcome): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ delivered: false, error: new Error(`the cancel request got no answer within ${waitMs} ms`) }), waitMs);
    // Waiting for the server must not keep a stopping process alive.
    timer.unref();
    socket.once('connect', () => socket.end(request, () => (written = true)));
    socket.once('error', (error) => finish({ delivered: false, error }));
    socket.once('close', () => finish(written ? { delivered: true } : { delivered: false, error: new Error('the server closed the connection before the cancel request was sent') }));
    // The server sends nothing back; anything it did send is read and dropped.
    socket.resume();
  });
}
