/**
 * Answers written while they are read (a group's members, the audit export) and clients that
 * stop reading them: such an answer holds a slot of the admission limit, and a SCIM one a read
 * snapshot too (a PostgreSQL pool connection), until its last byte is taken.
 */
import type { FastifyReply } from 'fastify';

/**
 * The pieces of `text`, each to be taken by the client within `stallMs` of being handed over;
 * past that the connection is closed (a `warn` line says so), the answer cut short. A piece is
 * taken when the next one is asked for (the socket's buffer has room again), and the last one
 * when the response ends. The socket's own inactivity timeout (`setTimeout`), used before, let
 * a stalled client hold on about twice as long: Node ignores its first expiry while the write
 * queue is still changing (124–129 s for a 60 s setting).
 */
export async function* takenInTime<T>(text: AsyncIterable<T>, reply: FastifyReply, stallMs: number, what: string): AsyncGenerator<T> {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    timer = setTimeout(() => {
      reply.log.warn({ stallMs }, `the client stopped reading ${what}: its connection is closed`);
      reply.raw.destroy();
    }, stallMs);
    timer.unref();
  };
  try {
    for await (const piece of text) {
      arm();
      try {
        yield piece;
      } finally {
        clearTimeout(timer);
      }
    }
  } finally {
    // The last piece is taken when the response ends; one that never is still cuts the connection.
    if (!reply.raw.writableFinished && !reply.raw.destroyed) {
      arm();
      const last = timer;
      // A streamed answer already has ten 'close' listeners by then (the request log, metrics,
      // the admission slot, graceful shutdown, the held snapshot, the stream pipeline), Node's
      // default maximum: one more would print a MaxListenersExceededWarning, a memory leak to
      // anyone reading the logs, for every such answer. They are bounded per response.
      reply.raw.setMaxListeners(Math.max(reply.raw.getMaxListeners(), reply.raw.listenerCount('close') + 1));
      reply.raw.once('close', () => clearTimeout(last));
    }
  }
}
