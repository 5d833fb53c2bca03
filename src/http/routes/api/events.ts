/** `GET /api/v2/events`: the pull feed of change events (docs/events.md). */
import type { FastifyInstance } from 'fastify';
import { DEFAULT_FEED_LIMIT, MAX_FEED_LIMIT, MAX_FEED_WAIT_SECONDS, parseFeedRequest, type EventFeed } from '../../../directory/event-feed.ts';
import { EVENT_TYPES } from '../../../journal/journal.ts';
import { TAGS } from '../../api-docs.ts';
import { combineSignals } from '../../../signals.ts';
import { errorResponses, ref, type JsonSchema, type NamedSchema, type Query } from './common.ts';

/** An object the feed passes on as the journal wrote it (its shape depends on the event type; docs/events.md). */
function openObject(description: string): JsonSchema {
  return { type: 'object', additionalProperties: true, description };
}

/** One change event. */
export const FEED_EVENT: NamedSchema = {
  $id: 'ChangeEvent',
  type: 'object',
  required: ['id', 'type', 'occurredAt', 'actor', 'data'],
  properties: {
    id: { type: 'string', description: 'Unique, the same on every read; not a position (use `next`).' },
    type: { type: 'string', enum: [...EVENT_TYPES] },
    occurredAt: { type: 'string', format: 'date-time' },
    actor: openObject('Who made the change: `{"kind":"token","name","userId","login"}`, `{"kind":"session","userId","login"}`, `{"kind":"saml","login"}`, `{"kind":"cli"}` or `{"kind":"system"}`.'),
    data: openObject('The user or group after the change, in the shape of this API; for memberships `{"group":{"id","name"},"user":{"id","login"}}`.'),
    previous: openObject('For `user.updated` and `group.updated`: the same shape before the change.'),
  },
};

/** Registers the events route. */
export function eventRoutes(app: FastifyInstance, feed: EventFeed): void {
  // A stopping instance answers its waiting readers at once (with their empty page), so that
  // its shutdown does not wait for them.
  const stopping = app.closing;
  app.get<{ Querystring: Query }>('/api/v2/events', {
    schema: {
      operationId: 'listEvents',
      summary: 'Read the change events after a cursor, in commit order',
      tags: [TAGS.events],
      querystring: {
        type: 'object',
        properties: {
          after: { type: 'string', description: 'The previous answer\'s `next`; `now` for the current end of the feed (take it before reading the lists); absent: from the oldest event kept.' },
          limit: { type: 'integer', minimum: 1, maximum: MAX_FEED_LIMIT, default: DEFAULT_FEED_LIMIT, description: 'Events per page.' },
          types: { type: 'string', description: `Only these types, comma-separated: ${EVENT_TYPES.join(', ')}.` },
          userId: {
            type: 'string',
            description: 'Only the events about this user (its `id`): its own changes (`user.*`) and its memberships\' (`group.user_added`, `group.user_removed`); `404` for an id no user has. A group\'s deletion is the group\'s event, not one per member.',
          },
          wait: {
            type: 'integer',
            minimum: 0,
            maximum: MAX_FEED_WAIT_SECONDS,
            default: 0,
            description: 'Seconds to wait for an event when there is none to give yet (long polling): the answer comes as soon as one is committed, through any instance, or with an empty page when the time is up.',
          },
        },
      },
      response: {
        200: {
          type: 'object',
          description: 'A page of events; fewer than `limit` means the caller has caught up.',
          required: ['events', 'next'],
          properties: {
            events: { type: 'array', items: ref(FEED_EVENT) },
            next: { type: 'string', description: 'The cursor to ask again with (`after`), also after an empty page.' },
          },
        },
        410: {
          type: 'object',
          description: 'The cursor is older than ROSTER_EVENT_RETENTION_DAYS, or ahead of the feed (the database was restored from an older backup): resynchronise from the lists, then continue from `next`.',
          required: ['message', 'next'],
          properties: { message: { type: 'string' }, next: { type: 'string' } },
        },
        ...errorResponses(404),
      },
    },
  }, async (request, reply) => {
    const left = new AbortController();
    reply.raw.once('close', () => left.abort());
    // A client that left while its request was being authenticated (a database read on
    // PostgreSQL) closed the response before this listener: it would hold the wait to its end.
    if (reply.raw.closed) left.abort();
    // Waiting outside the admission limit; the client leaving or the instance stopping ends the
    // wait. Released once read: `stopping` lives as long as the app and must keep nothing of it.
    const waiting = combineSignals(left.signal, stopping);
    let answer: Awaited<ReturnType<EventFeed['readWaiting']>>;
    try {
      answer = await feed.readWaiting(parseFeedRequest(request.query), { signal: waiting.signal, outsideLimit: request.waitOutsideLimit.bind(request) });
    } finally {
      waiting.release();
    }
    // 410 Gone: the events after this cursor existed and were deleted, or were lost with a restore (RFC 9110 §15.5.11).
    if (answer.kind === 'expired') return reply.code(410).send({ message: answer.message, next: answer.next });
    return { events: answer.events, next: answer.next };
  });
}
