/**
 * What the admin API routes share: how a route declares its schemas, SonarQube-style paging,
 * and the shapes every answer uses (`{"message"}` errors, `page`).
 *
 * ## Declaring an admin API route (every route under /api/ but SCIM)
 *
 * Each route carries a Fastify schema. The same schema validates the request (Ajv, see
 * http/validation.ts), serializes the answer (fields the response schema does not name are not
 * sent), and becomes the route's entry in the OpenAPI document at GET /api/v2/api-docs. So:
 *
 * ```ts
 * app.post<{ Body: Body }>(PATH, {
 *   schema: {
 *     operationId: 'createWidget',            // unique, required
 *     summary: 'Create a widget',
 *     tags: [TAGS.widgets],                     // add the tag to api-docs.ts
 *     body: strictObject({ name: { type: 'string', maxLength: 100 } }, ['name']),
 *     querystring: pagedQuery({ q: { type: 'string', description: '…' } }),  // GET lists
 *     params: ID_PARAMS,                        // routes with /:id
 *     response: { 201: ref(WIDGET), ...errorResponses(404, 409) },
 *   },
 * }, async (request, reply) => …);
 * ```
 *
 * - POST, PUT and PATCH need a `body` schema whose objects all say `additionalProperties:
 *   false` (`strictObject` does): an unknown field is then a 400 naming it, never dropped.
 *   A nested object whose fields another layer checks may say `additionalProperties: true`
 *   instead, explicitly (then that layer must refuse what it does not know). A
 *   route that takes no body but is a POST says `body: NO_BODY`. A PUT or PATCH accepts every
 *   field its GET answer returns, so that an answer can be sent back (read-only fields: accept
 *   them when they hold the current value, refuse them otherwise; document which).
 * - `response` needs the success status. Nullable fields must say `type: ['string', 'null']`:
 *   the serializer writes a null `string` as "". Shared shapes are registered with
 *   `addSchemas(scope, [SCHEMA])` and referenced with `ref(SCHEMA)`.
 * - Query parameters typed `integer` or `boolean` arrive typed (http/validation.ts); unknown
 *   ones are ignored. Errors in the scope's security, 400, 404 … are added to the document by
 *   `describeRoutes` (api-docs.ts), which the scope calls next to its authentication hook.
 *
 * buildApp refuses to start when an admin route breaks these rules (`adminRouteProblems`), and
 * test/http/api-docs.test.ts checks that every registered admin route is in the document.
 * Schemas are compiled by their route's first request, not at start-up (http/schema-compilers.ts);
 * test/http/schema-compilers.test.ts compiles them all. Route schemas declare no `headers`.
 */
import type { FastifyInstance, FastifySchema } from 'fastify';
import { rejected } from '../../../errors.ts';
import { apiOfPath } from '../../routing.ts';
import { queryBoolean } from '../../validation.ts';

/** A JSON schema (draft 2020-12, as OpenAPI 3.1 reads it), written as a plain object. */
export type JsonSchema = { readonly [keyword: string]: unknown };

/** A schema with an `$id`, registered once and referenced with `ref()`; the `$id` names it in the document. */
export type NamedSchema = JsonSchema & { readonly $id: string };

/** `page` of a SonarQube Web API v2 list. */
export interface PageInfo {
  readonly pageIndex: number;
  readonly pageSize: number;
  readonly total: number;
}

/** A parsed `pageIndex` (1-based) / `pageSize`, with the matching offset. */
export interface Paging {
  readonly pageIndex: number;
  readonly pageSize: number;
  readonly offset: number;
  readonly limit: number;
}

export const DEFAULT_PAGE_SIZE = 50;
/** Large enough for scripts, small enough that one request cannot load a whole table. */
export const MAX_PAGE_SIZE = 500;
const MAX_PAGE_INDEX = 1_000_000;

/** Query strings as Fastify parses them (and validation.ts types them). */
export type Query = Readonly<Record<string, unknown>>;

/** A reference to a registered schema, for route schemas. */
export function ref(schema: NamedSchema): { readonly $ref: string } {
  return { $ref: `${schema.$id}#` };
}

/** Registers shared schemas on a scope, so that its routes can `ref()` them. */
export function addSchemas(scope: FastifyInstance, schemas: readonly NamedSchema[]): void {
  for (const schema of schemas) scope.addSchema(schema);
}

/** An object schema that refuses every property it does not list. */
export function strictObject(properties: Readonly<Record<string, JsonSchema>>, required: readonly string[] = [], extra: JsonSchema = {}): JsonSchema {
  return { type: 'object', additionalProperties: false, properties, ...(required.length > 0 ? { required } : {}), ...extra };
}

/** The body of a POST that takes none: nothing, or `{}`. */
export const NO_BODY: JsonSchema = { type: ['object', 'null'], additionalProperties: false, properties: {}, description: 'No body, or an empty JSON object.' };

/** `{"message": "…"}`: every admin API error. The SAML settings add `errors`, one per field. */
export const API_ERROR: NamedSchema = {
  $id: 'ApiError',
  type: 'object',
  description: 'An error, as SonarQube Web API v2 answers one.',
  required: ['message'],
  properties: {
    message: { type: 'string', description: 'What was wrong, naming the field at fault: `Value {} for field login was rejected. Error: must not be null.`' },
    errors: {
      type: 'array',
      description: 'The SAML settings only: one entry per refused field.',
      items: {
        type: 'object',
        required: ['field', 'message'],
        properties: { field: { type: 'string' }, message: { type: 'string' }, index: { type: 'integer', description: 'Which certificate, for `certificates`.' } },
      },
    },
  },
};

/** The `page` object of a list. */
export const PAGE: NamedSchema = {
  $id: 'Page',
  type: 'object',
  required: ['pageIndex', 'pageSize', 'total'],
  properties: {
    pageIndex: { type: 'integer', minimum: 1 },
    pageSize: { type: 'integer', minimum: 0 },
    total: { type: 'integer', minimum: 0, description: 'How many items match, over all pages.' },
    next: {
      type: ['string', 'null'],
      description: 'Lists that page by cursor: pass it as `cursor` for the next page; null on the last page.',
    },
  },
};

/** Schemas every admin scope may reference; buildApp registers them on the root. */
export const COMMON_SCHEMAS: readonly NamedSchema[] = [API_ERROR, PAGE];

/** What each error status means across the admin API. */
const ERROR_MEANINGS: Readonly<Record<number, string>> = {
  400: 'The request is not valid: an unknown field, a value of the wrong type or refused, or a change the managed mode forbids. The message names the field.',
  401: 'No credentials, or credentials that are unknown, revoked, expired or of a deactivated user.',
  403: 'Valid credentials of a user who is not an administrator: "Insufficient privileges".',
  404: 'Nothing has this id.',
  409: 'The name or login is already used, or the state of the instance forbids the change.',
  413: 'The body is larger than the instance accepts (ROSTER_MAX_BODY_SIZE).',
  415: 'The body is not JSON in UTF-8, or is missing where the operation takes one.',
  429: 'Beyond the rate limit of the token, or of the signed-in administrator (ROSTER_RATE_LIMIT): nothing was done; send the request again after Retry-After.',
  500: 'Roster could not complete the request; the error is logged.',
  503: 'The database cannot be reached or did not answer in time, or the instance is too busy: nothing was done; send the request again after Retry-After.',
};

/** The statuses that ask the client to come back later, and say when. */
const RETRY_LATER_STATUSES = new Set([429, 503]);

/** The `Retry-After` header (RFC 9110 §10.2.3) of a 429 or 503, as Roster sends it: seconds. */
const RETRY_AFTER_HEADER: JsonSchema = {
  'Retry-After': { type: 'integer', minimum: 0, description: 'Seconds to wait before sending the request again.' },
};

/** Response entries for error statuses, each `{"message"}` with what the status means (and Retry-After for 429 and 503). */
export function errorResponses(...statuses: readonly number[]): Record<number, JsonSchema> {
  return Object.fromEntries(statuses.map((status) => [status, {
    description: ERROR_MEANINGS[status] ?? 'An error.',
    ...(RETRY_LATER_STATUSES.has(status) ? { headers: RETRY_AFTER_HEADER } : {}),
    ...ref(API_ERROR),
  }]));
}

/** A 204 answer. */
export function noContent(description: string): JsonSchema {
  return { type: 'null', description };
}

/** `params` of the routes with `/:id`. */
export const ID_PARAMS: JsonSchema = strictObject({ id: { type: 'string', minLength: 1, description: "Roster's internal id." } }, ['id']);

/** The querystring of a list: `pageIndex`, `pageSize`, and the list's own filters. */
export function pagedQuery(filters: Readonly<Record<string, JsonSchema>>): JsonSchema {
  return {
    type: 'object',
    properties: {
      pageIndex: { type: 'integer', minimum: 1, maximum: MAX_PAGE_INDEX, default: 1, description: 'The page, from 1.' },
      pageSize: { type: 'integer', minimum: 0, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE, description: 'Items per page; 0 returns the total alone.' },
      ...filters,
    },
  };
}

/** The answer of a list: `{"<key>": [items], "page": {…}}`, SonarQube's shape. */
export function listOf(key: string, item: NamedSchema, description: string): JsonSchema {
  return {
    type: 'object',
    description,
    required: [key, 'page'],
    properties: { [key]: { type: 'array', items: ref(item) }, page: ref(PAGE) },
  };
}

function integer(query: Query, name: string, fallback: number, min: number, max: number): number {
  const raw = query[name];
  if (raw === undefined || raw === '') return fallback;
  const value = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d{1,9}$/.test(raw) ? Number(raw) : NaN;
  if (!(Number.isInteger(value) && value >= min && value <= max)) throw rejected(name, raw, `must be between ${min} and ${max}`);
  return value;
}

/** Reads `pageIndex` and `pageSize` (typed by the route's pagedQuery schema); `pageSize=0` asks for the total alone. */
export function parsePaging(query: Query): Paging {
  const pageIndex = integer(query, 'pageIndex', 1, 1, MAX_PAGE_INDEX);
  const pageSize = integer(query, 'pageSize', DEFAULT_PAGE_SIZE, 0, MAX_PAGE_SIZE);
  return { pageIndex, pageSize, offset: (pageIndex - 1) * pageSize, limit: pageSize };
}

/** The `page` object of a list answer. */
export function pageInfo(paging: Paging, total: number): PageInfo {
  return { pageIndex: paging.pageIndex, pageSize: paging.pageSize, total };
}

/** An optional boolean parameter (typed by the route's schema; text read as validation.ts queryBoolean reads it too). */
export function optionalBoolean(query: Query, name: string): boolean | undefined {
  const raw = query[name];
  if (raw === undefined || raw === '') return undefined;
  if (typeof raw === 'boolean') return raw;
  const read = typeof raw === 'string' ? queryBoolean(raw) : undefined;
  if (read === undefined) throw rejected(name, raw, 'must be true or false');
  return read;
}

/** An optional string parameter; a repeated parameter is refused rather than guessed at. */
export function optionalString(query: Query, name: string): string | undefined {
  const raw = query[name];
  if (raw === undefined || raw === '') return undefined;
  if (typeof raw !== 'string') throw rejected(name, raw, 'must be given once');
  return raw;
}

/** The JSON object body of a write (its schema has checked it); anything else is a 400. */
export function objectBody(body: unknown): Record<string, unknown> {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw rejected('body', undefined, 'must be a JSON object');
  }
  return body as Record<string, unknown>;
}

/** The route options that adminRouteProblems reads (Fastify's onRoute options fit). */
export interface RouteDeclaration {
  readonly method: string | readonly string[];
  readonly url: string;
  readonly schema?: FastifySchema | undefined;
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/**
 * The object schemas within a body schema that may accept properties they do not list, as JSON
 * paths. The body itself must refuse them; a nested object may be open only on purpose, saying
 * `additionalProperties: true` (or a schema for the values of a map), for values that another
 * layer checks field by field (a SCIM schema definition, checked by scim/).
 */
function openObjects(schema: unknown, path: string): string[] {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return [];
  const node = schema as JsonSchema;
  const found: string[] = [];
  const types = Array.isArray(node['type']) ? node['type'] : [node['type']];
  const isObject = types.includes('object') || node['properties'] !== undefined;
  const refusesUnknown = node['additionalProperties'] === false || (path !== 'body' && node['additionalProperties'] !== undefined);
  if (isObject && !refusesUnknown) found.push(path);
  const properties = (node['properties'] ?? {}) as Record<string, unknown>;
  for (const [name, child] of Object.entries(properties)) found.push(...openObjects(child, `${path}.${name}`));
  found.push(...openObjects(node['items'], `${path}[]`));
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    const list = node[key];
    if (Array.isArray(list)) list.forEach((child, index) => found.push(...openObjects(child, `${path}.${key}[${index}]`)));
  }
  return found;
}

/**
 * What an admin API route (any route under /api/ but SCIM) lacks to follow the pattern at the
 * top of this file; empty when it follows it or is not an admin route. buildApp refuses to
 * start otherwise, so that a route cannot take input the document does not describe.
 */
export function adminRouteProblems(route: RouteDeclaration): string[] {
  if (apiOfPath(route.url) !== 'admin') return [];
  const methods = (Array.isArray(route.method) ? route.method : [route.method]).filter((method) => method !== 'HEAD');
  if (methods.length === 0) return [];
  const schema = route.schema as JsonSchema | undefined;
  if (schema === undefined) return ['it declares no schema'];
  const problems: string[] = [];
  if (schema['hide'] !== true && typeof schema['operationId'] !== 'string') problems.push('it has no operationId');
  const response = schema['response'];
  if (typeof response !== 'object' || response === null || !Object.keys(response).some((status) => /^2(\d\d|xx)$/i.test(status))) {
    problems.push('it describes no success response (schema.response)');
  }
  if (methods.some((method) => BODY_METHODS.has(method))) {
    if (schema['body'] === undefined) problems.push('it takes a body but declares no body schema (use strictObject(), or NO_BODY)');
    else for (const path of openObjects(schema['body'], 'body')) problems.push(`${path} accepts unknown fields: give it additionalProperties: false (strictObject() does)`);
  }
  return problems;
}

/**
 * Makes `app` refuse, as it registers them, the admin API routes that break the pattern at the
 * top of this file: buildApp (and so every test) fails with the route and what it lacks.
 */
export function enforceAdminRoutePattern(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    const problems = adminRouteProblems(route);
    if (problems.length > 0) {
      const method = Array.isArray(route.method) ? route.method.join(',') : String(route.method);
      throw new Error(`Admin API route ${method} ${route.url} does not follow src/http/routes/api/common.ts: ${problems.join('; ')}.`);
    }
  });
}
