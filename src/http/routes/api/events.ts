/** `GET /api/v2/events`: the pull feed of change events (docs/events.md). */
import type { FastifyInstance } from 'fastify';
import { parseFeedRequest, type EventFeed } from '../../../directory/event-feed.ts';
import type { Query } from './common.ts';

/** Registers the events route. */
export function eventRoutes(app: FastifyInstance, feed: EventFeed): void {
  app.get<{ Querystring: Query }>('/api/v2/events', async (request, reply) => {
    const answer = await feed.read(parseFeedRequest(request.query));
    // 410 Gone: the events after this cursor existed and were deleted (RFC 9110 §15.5.11).
    if (answer.kind === 'expired') return reply.code(410).send({ message: answer.message, next: answer.next });
    return { events: answer.events, next: answer.next };
  });
}
