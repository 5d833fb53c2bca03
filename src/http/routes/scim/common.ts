/** What the SCIM resource routes share: list parameters, projection, versions, rendering. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AttributePath, Filter } from '../../../scim/filter/ast.ts';
import { parseFilter } from '../../../scim/filter/index.ts';
import { parseAttributePath, parseProjectionPath, splitAttributeList } from '../../../scim/path.ts';
import { badRequest, ScimError } from '../../../scim/errors.ts';
import { decodeCursor, encodeCursor, queryDigest, type CursorScope, type KeysetPosition } from '../../../scim/cursor.ts';
import { DEFAULT_PAGE_SIZE, cursorListResponse, listResponse, parseNameList, parsePaging, parseSortOrder, queryParameters, type Paging, type RawListParameters } from '../../../scim/list.ts';
import { isRequested, MAX_PROJECTED_PATHS, planProjection, projectWith, type ProjectedPath } from '../../../scim/projection.ts';
import { etagOf, ifMatchAllows, ifNoneMatchHits, locationOf, renderResource, type ResourceState } from '../../../scim/resources.ts';
import type { JsonObject } from '../../../scim/json.ts';
import type { AttributeDefinition, ResourceSchemas, ResourceTypeName, ResourceTypeRef, SchemaRegistry } from '../../../scim/schemas.ts';
import { assertVersion, type VersionCheck } from '../../../directory/users.ts';
import type { Actor } from '../../../journal/actor.ts';
import type { ListCursors } from '../../../directory/list-cursors.ts';
import type { Page, PageRequest } from '../../../directory/paging.ts';
import { SCIM_CONTENT_TYPE } from '../../errors.ts';

/** `attributes` / `excludedAttributes` of a request (RFC 7644 §3.4.2.5), value filters allowed. */
export interface Projection {
  attributes?: readonly ProjectedPath[];
  excludedAttributes?: readonly ProjectedPath[];
  /** In the answer to a write: what it gave a value, so that `returned: request` attributes it set are shown (RFC 7643 §2.2). */
  specified?: ReadonlySet<AttributeDefinition>;
}

export interface ListRequest {
  filter?: Filter;
  sortBy?: AttributePath;
  descending: boolean;
  paging: Paging;
  projection: Projection;
}

function attributePaths(name: string, raw: unknown): AttributePath[] {
  return parseNameList(name, raw).map((text) => {
    const parsed = parseAttributePath(text);
    if (!parsed.ok) throw badRequest('invalidValue', `${name}: "${text}" is not an attribute path (${parsed.error.message}).`);
    return parsed.value;
  });
}

/**
 * The items of `attributes` or `excludedAttributes`, each a path or a multi-valued attribute
 * with a value filter: at most MAX_PROJECTED_PATHS (400 invalidValue beyond, as for the values
 * of a multi-valued attribute), each distinct item once (a name repeated selects nothing more).
 */
function projectedPaths(name: string, raw: unknown): ProjectedPath[] {
  const items = parseNameList(name, raw, splitAttributeList);
  if (items.length > MAX_PROJECTED_PATHS) {
    throw badRequest('invalidValue', `${name} names ${items.length} attributes; at most ${MAX_PROJECTED_PATHS} are accepted.`);
  }
  return [...new Set(items)].map((text) => {
    const parsed = parseProjectionPath(text);
    if (!parsed.ok) throw badRequest('invalidValue', `${name}: "${text}" is not an attribute path (${parsed.error.message}).`);
    return parsed.value;
  });
}

/** Reads `attributes` and `excludedAttributes` from a query string (names in any case) or a search body. */
export function parseProjection(input: unknown): Projection {
  const raw = queryParameters(input);
  const projection: Projection = {};
  const attributes = projectedPaths('attributes', raw.attributes);
  const excludedAttributes = projectedPaths('excludedAttributes', raw.excludedAttributes);
  if (attributes.length > 0) projection.attributes = attributes;
  if (excludedAttributes.length > 0) projection.excludedAttributes = excludedAttributes;
  return projection;
}

/**
 * Reads every list parameter from a query string (names in any case, see queryParameters) or a
 * search body; a malformed filter is a 400 invalidFilter saying where it broke.
 */
export function parseListRequest(input: unknown): ListRequest {
  const raw = queryParameters(input);
  const request: ListRequest = {
    descending: parseSortOrder(raw.sortOrder) === 'descending',
    paging: parsePaging(raw),
    projection: parseProjection(raw),
  };
  if (raw.filter !== undefined && raw.filter !== null && raw.filter !== '') {
    if (typeof raw.filter !== 'string') throw badRequest('invalidFilter', 'filter must be a string.');
    const parsed = parseFilter(raw.filter);
    if (!parsed.ok) {
      throw badRequest('invalidFilter', `The filter is not valid: ${parsed.error.message} (at character ${parsed.error.position + 1}).`);
    }
    request.filter = parsed.value;
  }
  if (raw.sortBy !== undefined && raw.sortBy !== null && raw.sortBy !== '') {
    const [sortBy, ...rest] = attributePaths('sortBy', raw.sortBy);
    if (!sortBy || rest.length > 0) throw badRequest('invalidValue', 'sortBy must name one attribute.');
    request.sortBy = sortBy;
  }
  return request;
}

/**
 * Runs a list request and builds its ListResponse: by index (RFC 7644 §3.4.2.4), or by cursor
 * (RFC 9865), checking that a cursor was signed by Roster, has not expired, and belongs to this
 * endpoint, filter, sort and count; the response then carries the cursors that apply.
 */
export async function runList<T>(
  resourceType: CursorScope,
  request: ListRequest,
  cursors: ListCursors,
  read: (page: PageRequest) => Promise<Page<T>>,
  render: (item: T) => JsonObject,
): Promise<Record<string, unknown>> {
  const { page, frame } = await readList(resourceType, request, cursors, read);
  return frame(page.items.map(render));
}

/**
 * The page of a list request (see runList) and `frame`, which makes its ListResponse of the
 * rendered resources (`Resources` is its last member: a streamed answer writes it last).
 */
export async function readList<T>(
  resourceType: CursorScope,
  request: ListRequest,
  cursors: ListCursors,
  read: (page: PageRequest) => Promise<Page<T>>,
): Promise<{ page: Page<T>; frame: (resources: readonly unknown[]) => Record<string, unknown> }> {
  const { paging } = request;
  if (paging.kind === 'index') {
    const page = await read({ kind: 'index', offset: paging.startIndex - 1, limit: paging.count });
    return { page, frame: (resources) => listResponse(resources, page.total, paging.startIndex) };
  }
  const key = await cursors.key();
  const now = Math.floor(Date.now() / 1000);
  const query = queryDigest(resourceType, request.filter, request.sortBy, request.descending);
  let count = paging.count;
  let from: Extract<PageRequest, { kind: 'keyset' }>['from'];
  if (paging.cursor !== '') {
    const state = decodeCursor(paging.cursor, key, now);
    if (state.resourceType !== resourceType || state.query !== query) {
      throw badRequest(
        'invalidCursor',
        `The cursor belongs to another query: send the same endpoint, filter, sortBy and sortOrder as the request that started the walk (RFC 9865 §2), or an empty cursor to start a new one.`,
      );
    }
    // RFC 9865 §2.1: count must stay what the walk started with; left out, it stays so.
    if (count !== undefined && count !== state.count) {
      throw badRequest('invalidCount', `count must stay ${state.count}, as in the request that started this cursor walk (got ${count}).`);
    }
    count = state.count;
    from = { position: state.position, direction: state.direction };
  }
  const limit = count ?? DEFAULT_PAGE_SIZE;
  const page = await read({ kind: 'keyset', limit, ...(from !== undefined ? { from } : {}) });
  const expiresAt = now + cursors.timeoutSeconds;
  const cursor = (direction: 'next' | 'previous', position: KeysetPosition) =>
    encodeCursor({ resourceType, query, direction, position, count: limit, expiresAt }, key);
  const cursorsOfPage = {
    previousCursor: page.hasPrevious && page.first !== undefined ? cursor('previous', page.first) : undefined,
    nextCursor: page.hasNext && page.last !== undefined ? cursor('next', page.last) : undefined,
  };
  return { page, frame: (resources) => cursorListResponse(resources, page.total, cursorsOfPage) };
}

/** Whether the response will show an attribute: decides if memberships must be read at all. */
export function shows(resourceType: ResourceTypeRef, attribute: string, projection: Projection): boolean {
  return isRequested(resourceType, { attribute }, projection);
}

/** The projection of the answer to a write: the request's parameters, and what the write gave a value. */
export function writeProjection(query: unknown, specified: ReadonlySet<AttributeDefinition>): Projection {
  return { ...parseProjection(query), specified };
}

/** The resource as the client asked to see it. */
export function present(resourceType: ResourceTypeRef, state: ResourceState, baseUrl: string, projection: Projection): JsonObject {
  return presenter(resourceType, baseUrl, projection)(state);
}

/**
 * Renders resources as the client asked to see them, the projection resolved once for all:
 * a list renders each resource of its page with the same one.
 */
export function presenter(resourceType: ResourceTypeRef, baseUrl: string, projection: Projection): (state: ResourceState) => JsonObject {
  const plan = planProjection(resourceType, projection);
  return (state) => projectWith(plan, renderResource(resourceType, state, baseUrl) as JsonObject);
}

/**
 * The preconditions of a write, checked by the directory inside its transaction: `If-Match`,
 * then `If-None-Match` (RFC 7232 §6's order). On a write, an `If-None-Match` that names the
 * current version refuses it with 412 (§3.2), and `*` names any: a client sends it to write
 * only what does not exist yet, so on an existing resource nothing may be written.
 */
export function versionCheck(request: FastifyRequest): VersionCheck {
  const ifMatch = versionCheckOf(headerValue(request.headers['if-match']));
  const ifNoneMatch = headerValue(request.headers['if-none-match']);
  if (ifNoneMatch === undefined) return ifMatch;
  const named = (version: string) => ifNoneMatchHits(ifNoneMatch, version);
  return Object.assign((version: string) => ifMatch(version) && !named(version), {
    ...(ifMatch.sent !== undefined ? { sent: ifMatch.sent } : {}),
    refusal: (version: string) => {
      if (!ifMatch(version) || !named(version)) return undefined;
      return ifNoneMatch.trim() === '*'
        ? 'exists, and If-None-Match: * allows a write only where nothing exists yet; nothing was written.'
        : `is at version ${etagOf(version)}, which If-None-Match names; nothing was written.`;
    },
  });
}

/**
 * The preconditions of a read (RFC 9110 §13.2.2, RFC 7644 §3.14): an `If-Match` that names no
 * current version is 412, as on a write (a client reading only the version it holds); then an
 * `If-None-Match` that names it is 304 with the ETag. The reply when one of them answers.
 */
export function answerPreconditions(request: FastifyRequest, reply: FastifyReply, resource: string, version: string): FastifyReply | undefined {
  assertVersion(versionCheckOf(headerValue(request.headers['if-match'])), resource, version);
  const ifNoneMatch = headerValue(request.headers['if-none-match']);
  if (ifNoneMatch !== undefined && ifNoneMatchHits(ifNoneMatch, version)) return reply.code(304).header('ETag', etagOf(version)).send();
  return undefined;
}

function headerValue(header: string | string[] | undefined): string | undefined {
  return Array.isArray(header) ? header.join(',') : header;
}

/**
 * The precondition an `If-Match` value sets (a header, or a Bulk operation's `version`, RFC 7644
 * §3.7): none when absent.
 */
export function versionCheckOf(value: string | undefined): VersionCheck {
  if (value === undefined) return () => true;
  // `sent` lets the 412 name the version the client holds, not the current one.
  return Object.assign((version: string) => ifMatchAllows(value, version), { sent: value.trim() });
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The schemas in force, read once by the SCIM endpoint's first hook (index.ts); null outside it. */
    scimSchemas: SchemaRegistry | null;
  }
}

/** The schemas in force for a SCIM request, as its first hook read them. */
export function schemasIn(request: FastifyRequest): SchemaRegistry {
  if (request.scimSchemas === null) throw new Error('The SCIM state was not read for this request.');
  return request.scimSchemas;
}

/**
 * The writes of one resource type, shared by its routes and by /Bulk so that an operation in a
 * Bulk request runs exactly the code of the single request it stands for: the same parsing,
 * then one directory call (one transaction, with its audit entry).
 */
export interface ResourceWrites<Resource> {
  readonly resourceType: ResourceTypeName;
  /** What PATCH answers when the client asks for no attributes (204 for a group, see groups.ts). */
  readonly patchStatus: 200 | 204;
  /**
   * The resource type with the schemas in force, declared extensions included: read once per
   * request (or Bulk operation) and passed to the writes, which would otherwise drop the
   * attributes of declared extensions.
   */
  schemasInForce(): Promise<ResourceSchemas>;
  /**
   * The writes; `specified` receives the attributes the request gave a value (the single
   * requests' answers show those `returned: request`; /Bulk's answers carry no resource).
   */
  create(type: ResourceSchemas, body: unknown, actor: Actor, specified: Set<AttributeDefinition>): Promise<Resource>;
  replace(type: ResourceSchemas, id: string, body: unknown, allows: VersionCheck, actor: Actor, specified: Set<AttributeDefinition>): Promise<Resource>;
  patch(type: ResourceSchemas, id: string, body: unknown, allows: VersionCheck, actor: Actor, specified: Set<AttributeDefinition>): Promise<Resource>;
  remove(id: string, allows: VersionCheck, actor: Actor): Promise<void>;
  /** The id, timestamps and version of a written resource. */
  stateOf(resource: Resource): ResourceState;
}

/** Sends one resource with its ETag (and Location on create). */
export function sendResource(
  reply: FastifyReply,
  status: 200 | 201,
  resourceType: ResourceTypeName,
  state: ResourceState,
  body: JsonObject,
  baseUrl: string,
): FastifyReply {
  reply.header('ETag', etagOf(state.version));
  if (status === 201) reply.header('Location', locationOf(baseUrl, resourceType, state.id));
  return reply.code(status).type(SCIM_CONTENT_TYPE).send(body);
}

/** The body of a write request; SCIM requires a JSON object. */
export function requireBody(body: unknown): unknown {
  if (body === undefined || body === null) throw badRequest('invalidSyntax', 'The request needs a JSON body.');
  return body;
}

/** 404 for an id that names nothing; used before any I/O for absurd ids. */
export function checkId(id: string, kind: 'User' | 'Group'): void {
  if (id.length === 0 || id.length > 200) throw new ScimError(404, undefined, `${kind} ${id} not found.`);
}
