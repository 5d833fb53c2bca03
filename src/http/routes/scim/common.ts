/** What the SCIM resource routes share: list parameters, projection, versions, rendering. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AttributePath, Filter } from '../../../scim/filter/ast.ts';
import { parseFilter } from '../../../scim/filter/index.ts';
import { parseAttributePath } from '../../../scim/path.ts';
import { badRequest, ScimError } from '../../../scim/errors.ts';
import { parseNameList, parsePaging, parseSortOrder, type RawListParameters } from '../../../scim/list.ts';
import { isRequested, project } from '../../../scim/projection.ts';
import { etagOf, ifMatchAllows, locationOf, renderResource, type ResourceState } from '../../../scim/resources.ts';
import type { JsonObject } from '../../../scim/json.ts';
import type { ResourceSchemas, ResourceTypeName, ResourceTypeRef } from '../../../scim/schemas.ts';
import type { VersionCheck } from '../../../directory/users.ts';
import type { Actor } from '../../../directory/audit.ts';
import { SCIM_CONTENT_TYPE } from '../../errors.ts';

/** `attributes` / `excludedAttributes` of a request (RFC 7644 §3.4.2.5). */
export interface Projection {
  attributes?: readonly AttributePath[];
  excludedAttributes?: readonly AttributePath[];
}

export interface ListRequest {
  filter?: Filter;
  sortBy?: AttributePath;
  descending: boolean;
  startIndex: number;
  count: number;
  projection: Projection;
}

function attributePaths(name: string, raw: unknown): AttributePath[] {
  return parseNameList(name, raw).map((text) => {
    const parsed = parseAttributePath(text);
    if (!parsed.ok) throw badRequest('invalidValue', `${name}: "${text}" is not an attribute path (${parsed.error.message}).`);
    return parsed.value;
  });
}

/** Reads `attributes` and `excludedAttributes` from a query string or a search body. */
export function parseProjection(raw: { attributes?: unknown; excludedAttributes?: unknown }): Projection {
  const projection: Projection = {};
  const attributes = attributePaths('attributes', raw.attributes);
  const excludedAttributes = attributePaths('excludedAttributes', raw.excludedAttributes);
  if (attributes.length > 0) projection.attributes = attributes;
  if (excludedAttributes.length > 0) projection.excludedAttributes = excludedAttributes;
  return projection;
}

/** Reads every list parameter; a malformed filter is a 400 invalidFilter saying where it broke. */
export function parseListRequest(raw: RawListParameters): ListRequest {
  const request: ListRequest = {
    descending: parseSortOrder(raw.sortOrder) === 'descending',
    ...parsePaging(raw),
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

/** Whether the response will show an attribute: decides if memberships must be read at all. */
export function shows(resourceType: ResourceTypeRef, attribute: string, projection: Projection): boolean {
  return isRequested(resourceType, { attribute }, projection);
}

/** The resource as the client asked to see it. */
export function present(resourceType: ResourceTypeRef, state: ResourceState, baseUrl: string, projection: Projection): JsonObject {
  return project(resourceType, renderResource(resourceType, state, baseUrl) as JsonObject, projection);
}

/** The `If-Match` precondition of a write, checked by the directory inside its transaction. */
export function versionCheck(request: FastifyRequest): VersionCheck {
  const header = request.headers['if-match'];
  return versionCheckOf(Array.isArray(header) ? header.join(',') : header);
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
  create(type: ResourceSchemas, body: unknown, actor: Actor): Promise<Resource>;
  replace(type: ResourceSchemas, id: string, body: unknown, allows: VersionCheck, actor: Actor): Promise<Resource>;
  patch(type: ResourceSchemas, id: string, body: unknown, allows: VersionCheck, actor: Actor): Promise<Resource>;
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
