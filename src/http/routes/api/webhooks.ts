/**
 * `/api/v2/webhooks`: the webhook endpoints (docs/events.md), their signing secrets (returned
 * once, at creation and rotation), their log of deliveries and replays. The same domain code
 * as the CLI and the console (directory/webhooks.ts).
 */
import type { FastifyInstance } from 'fastify';
import { DEFAULT_DELIVERIES_LIMIT, MAX_DELIVERIES_LIMIT, MAX_URL_LENGTH, type WebhookInfo, type Webhooks } from '../../../directory/webhooks.ts';
import { rejected } from '../../../errors.ts';
import { EVENT_TYPES } from '../../../journal/journal.ts';
import { TAGS } from '../../api-docs.ts';
import { ID_PARAMS, NO_BODY, errorResponses, noContent, objectBody, optionalString, ref, strictObject, type JsonSchema, type NamedSchema, type Query } from './common.ts';

const PATH = '/api/v2/webhooks';
const NULLABLE_TEXT = ['string', 'null'];

const TYPES: JsonSchema = {
  type: ['array', 'null'],
  items: { type: 'string', enum: [...EVENT_TYPES] },
  minItems: 1,
  maxItems: EVENT_TYPES.length,
  description: 'The event types sent; null for all of them.',
};

/** A webhook endpoint, as administrators see it: never its secret. */
export const WEBHOOK: NamedSchema = {
  $id: 'Webhook',
  type: 'object',
  required: ['id', 'url', 'types', 'enabled', 'disabledReason', 'disabledAt', 'createdAt', 'updatedAt', 'previousSecretExpiresAt', 'failedAttempts', 'failingSince', 'nextAttemptAt'],
  properties: {
    id: { type: 'string' },
    url: { type: 'string', format: 'uri' },
    types: TYPES,
    enabled: { type: 'boolean' },
    disabledReason: { type: NULLABLE_TEXT, description: 'Why it is disabled: by an administrator, a `410 Gone`, or failures for the whole retry period.' },
    disabledAt: { type: NULLABLE_TEXT, format: 'date-time' },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    previousSecretExpiresAt: { type: NULLABLE_TEXT, format: 'date-time', description: 'After a rotation: until when the previous secret signs too.' },
    failedAttempts: { type: 'integer', minimum: 0, description: 'Failed attempts at the event the endpoint is at; 0 when all is well.' },
    failingSince: { type: NULLABLE_TEXT, format: 'date-time' },
    nextAttemptAt: { type: 'string', format: 'date-time', description: 'When Roster next delivers (or looks for events) to it.' },
  },
};

/** One delivery attempt. */
export const WEBHOOK_DELIVERY: NamedSchema = {
  $id: 'WebhookDelivery',
  type: 'object',
  required: ['id', 'eventId', 'eventType', 'attempt', 'at', 'status', 'latencyMs', 'response', 'error', 'outcome'],
  properties: {
    id: { type: 'string' },
    eventId: { type: 'string', description: 'The event (`webhook-id`), as in GET /api/v2/events.' },
    eventType: { type: 'string' },
    attempt: { type: 'integer', minimum: 1, description: '1 for the first attempt at this event, 2 for the first retry…' },
    at: { type: 'string', format: 'date-time' },
    status: { type: ['integer', 'null'], description: 'The HTTP status answered; null when no answer came.' },
    latencyMs: { type: 'integer', minimum: 0 },
    response: { type: NULLABLE_TEXT, description: 'The first 1 KB of the answer.' },
    error: { type: NULLABLE_TEXT, description: 'What went wrong: a status, a redirect, a timeout, a refused connection.' },
    outcome: { type: 'string', enum: ['delivered', 'retrying', 'given_up', 'gone'], description: '`given_up` and `gone` (410) disabled the endpoint.' },
  },
};

/** An endpoint with its secret: only the answers of create and rotate-secret. */
const WITH_SECRET: JsonSchema = {
  type: 'object',
  description: 'The endpoint and its signing secret, shown this once: give it to the receiver.',
  required: [...(WEBHOOK['required'] as string[]), 'secret'],
  properties: { ...(WEBHOOK['properties'] as Record<string, JsonSchema>), secret: { type: 'string', pattern: '^whsec_', description: 'The signing secret (Standard Webhooks).' } },
};

const URL_FIELD: JsonSchema = { type: 'string', minLength: 1, maxLength: MAX_URL_LENGTH, description: 'An http(s) URL without credentials; redirects are not followed.' };
const READ_ONLY = (description: string): JsonSchema => ({ description: `Read-only, ignored: ${description}` });

const PATCH_BODY = strictObject(
  {
    url: URL_FIELD,
    types: TYPES,
    enabled: { type: 'boolean', description: 'false stops deliveries; true resumes them at the event they stopped at.' },
    id: { type: 'string', description: 'Read-only: accepted when it is the id in the URL.' },
    disabledReason: READ_ONLY('set by Roster.'),
    disabledAt: READ_ONLY('set by Roster.'),
    createdAt: READ_ONLY('set by Roster.'),
    updatedAt: READ_ONLY('set by Roster.'),
    previousSecretExpiresAt: READ_ONLY('POST …/rotate-secret sets it.'),
    failedAttempts: READ_ONLY('the deliveries change it.'),
    failingSince: READ_ONLY('the deliveries change it.'),
    nextAttemptAt: READ_ONLY('the deliveries change it.'),
  },
  [],
  { description: 'A JSON merge patch: fields present change, fields absent stay, so a GET answer can be sent back. The delivery state changes by itself, so its fields are ignored.' },
);

function withSecret(webhook: WebhookInfo, secret: string) {
  return { ...webhook, secret };
}

function typesOf(body: Record<string, unknown>): readonly string[] | null | undefined {
  const types = body['types'];
  return types === undefined ? undefined : (types as readonly string[] | null);
}

/** Registers the webhook routes. */
export function webhookRoutes(app: FastifyInstance, webhooks: Webhooks): void {
  const tags = [TAGS.webhooks];
  app.get(PATH, {
    schema: {
      operationId: 'listWebhooks',
      summary: 'List webhook endpoints',
      tags,
      response: { 200: { type: 'object', required: ['webhooks'], properties: { webhooks: { type: 'array', items: ref(WEBHOOK) } }, description: 'Every endpoint, oldest first.' } },
    },
  }, async () => ({ webhooks: await webhooks.list() }));

  app.post(PATH, {
    schema: {
      operationId: 'createWebhook',
      summary: 'Register an endpoint; its signing secret is in this answer only',
      tags,
      body: strictObject({ url: URL_FIELD, types: TYPES }, ['url']),
      response: { 201: WITH_SECRET },
    },
  }, async (request, reply) => {
    const body = objectBody(request.body);
    const types = typesOf(body);
    const { webhook, secret } = await webhooks.create({ url: String(body['url']), ...(types !== undefined ? { types } : {}) }, request.actor);
    return reply.code(201).send(withSecret(webhook, secret));
  });

  app.get<{ Params: { id: string } }>(`${PATH}/:id`, {
    schema: { operationId: 'getWebhook', summary: 'Read an endpoint', tags, params: ID_PARAMS, response: { 200: { ...ref(WEBHOOK), description: 'The endpoint.' } } },
  }, async (request) => webhooks.get(request.params.id));

  app.patch<{ Params: { id: string } }>(`${PATH}/:id`, {
    schema: {
      operationId: 'updateWebhook',
      summary: 'Change the URL or the types, enable or disable (merge patch)',
      tags,
      params: ID_PARAMS,
      body: PATCH_BODY,
      consumes: ['application/merge-patch+json', 'application/json'],
      response: { 200: { ...ref(WEBHOOK), description: 'The endpoint, changed.' } },
    },
  }, async (request) => {
    const body = objectBody(request.body);
    if (body['id'] !== undefined && body['id'] !== request.params.id) throw rejected('id', body['id'], 'is read-only: it must be the id in the URL');
    const types = typesOf(body);
    return webhooks.update(
      request.params.id,
      {
        ...(body['url'] !== undefined ? { url: String(body['url']) } : {}),
        ...(types !== undefined ? { types } : {}),
        ...(typeof body['enabled'] === 'boolean' ? { enabled: body['enabled'] } : {}),
      },
      request.actor,
    );
  });

  app.delete<{ Params: { id: string } }>(`${PATH}/:id`, {
    schema: { operationId: 'deleteWebhook', summary: 'Delete an endpoint and its log of deliveries', tags, params: ID_PARAMS, response: { 204: noContent('Deleted.') } },
  }, async (request, reply) => {
    await webhooks.remove(request.params.id, request.actor);
    return reply.code(204).send();
  });

  app.post<{ Params: { id: string } }>(`${PATH}/:id/rotate-secret`, {
    schema: {
      operationId: 'rotateWebhookSecret',
      summary: 'Issue a new signing secret; the previous one signs too for 24 hours',
      tags,
      params: ID_PARAMS,
      body: NO_BODY,
      response: { 200: WITH_SECRET },
    },
  }, async (request) => {
    const { webhook, secret } = await webhooks.rotateSecret(request.params.id, request.actor);
    return withSecret(webhook, secret);
  });

  app.get<{ Params: { id: string }; Querystring: Query }>(`${PATH}/:id/deliveries`, {
    schema: {
      operationId: 'listWebhookDeliveries',
      summary: 'The delivery attempts of an endpoint, newest first',
      tags,
      params: ID_PARAMS,
      querystring: {
        type: 'object',
        properties: {
          limit: { type: 'integer', minimum: 1, maximum: MAX_DELIVERIES_LIMIT, default: DEFAULT_DELIVERIES_LIMIT },
          before: { type: 'string', description: 'The previous answer\'s `next`: older attempts.' },
        },
      },
      response: {
        200: {
          type: 'object',
          required: ['deliveries', 'next'],
          description: 'A page of attempts.',
          properties: { deliveries: { type: 'array', items: ref(WEBHOOK_DELIVERY) }, next: { type: NULLABLE_TEXT, description: 'Pass it as `before` for older attempts; null on the last page.' } },
        },
      },
    },
  }, async (request) => {
    const limit = request.query['limit'];
    const before = optionalString(request.query, 'before');
    return webhooks.deliveries(request.params.id, { ...(typeof limit === 'number' ? { limit } : {}), ...(before !== undefined ? { before } : {}) });
  });

  app.post<{ Params: { id: string } }>(`${PATH}/:id/replay`, {
    schema: {
      operationId: 'replayWebhook',
      summary: 'Deliver again from an event still kept onwards, and enable the endpoint',
      tags,
      params: ID_PARAMS,
      body: strictObject({ from: { type: 'string', pattern: '^[0-9]{1,15}$', description: 'The id of the first event to deliver again.' } }, ['from']),
      response: { 200: { ...ref(WEBHOOK), description: 'The endpoint, enabled, at that event.' } },
    },
  }, async (request) => webhooks.replay(request.params.id, String(objectBody(request.body)['from']), request.actor));
}
