/** /Users (RFC 7644 §3.2–§3.6): create, read, list, search, replace, patch, delete. */
import type { FastifyInstance } from 'fastify';
import type { RawListParameters } from '../../../scim/list.ts';
import { listResponse, parseSearchRequest } from '../../../scim/list.ts';
import { ifNoneMatchHits, etagOf, locationBase } from '../../../scim/resources.ts';
import { keepImmutable, normaliseResource } from '../../../scim/validate.ts';
import { applyPatch, parsePatchRequest } from '../../../scim/patch.ts';
import type { JsonObject } from '../../../scim/json.ts';
import type { ScimUser, UserDirectory } from '../../../directory/users.ts';
import type { ScimSchemas } from '../../../directory/scim-schemas.ts';
import type { ResourceState } from '../../../scim/resources.ts';
import { checkId, parseListRequest, parseProjection, present, requireBody, sendResource, shows, versionCheck, type ListRequest } from './common.ts';
import { SCIM_CONTENT_TYPE } from '../../errors.ts';

function stateOf(user: ScimUser): ResourceState {
  return {
    id: user.scimId,
    document: user.document,
    created: user.user.createdAt,
    lastModified: user.user.updatedAt,
    version: user.user.version,
  };
}

/**
 * Registers the /Users routes. Each request reads the schemas in force (declared extensions
 * included) once, for reading the body and for the response.
 */
export function userRoutes(app: FastifyInstance, users: UserDirectory, baseUrl: string, schemas: ScimSchemas): void {
  const userType = async () => (await schemas.current()).User;

  async function list(request: ListRequest) {
    const type = await userType();
    const result = await users.list({
      ...(request.filter ? { filter: request.filter } : {}),
      ...(request.sortBy ? { sortBy: request.sortBy } : {}),
      locationBase: locationBase(baseUrl, 'User'),
      descending: request.descending,
      offset: request.startIndex - 1,
      limit: request.count,
      withGroups: shows(type, 'groups', request.projection),
    });
    const resources = result.users.map((user) => present(type, stateOf(user), baseUrl, request.projection));
    return listResponse(resources, result.total, request.startIndex);
  }

  app.get<{ Querystring: RawListParameters }>('/Users', async (request, reply) => {
    return reply.type(SCIM_CONTENT_TYPE).send(await list(parseListRequest(request.query)));
  });

  app.post<{ Body: unknown }>('/Users/.search', async (request, reply) => {
    return reply.type(SCIM_CONTENT_TYPE).send(await list(parseListRequest(parseSearchRequest(requireBody(request.body)))));
  });

  app.post<{ Querystring: RawListParameters }>('/Users', async (request, reply) => {
    const type = await userType();
    const unknown: string[] = [];
    const document = normaliseResource(type, requireBody(request.body), 'create', { unknown });
    const user = await users.create(document, request.actor, { ignoredAttributes: unknown });
    const projection = parseProjection(request.query);
    return sendResource(reply, 201, 'User', stateOf(user), present(type, stateOf(user), baseUrl, projection), baseUrl);
  });

  app.get<{ Params: { id: string }; Querystring: RawListParameters }>('/Users/:id', async (request, reply) => {
    checkId(request.params.id, 'User');
    const type = await userType();
    const projection = parseProjection(request.query);
    const user = await users.get(request.params.id, shows(type, 'groups', projection));
    const ifNoneMatch = request.headers['if-none-match'];
    if (typeof ifNoneMatch === 'string' && ifNoneMatchHits(ifNoneMatch, user.user.version)) {
      return reply.code(304).header('ETag', etagOf(user.user.version)).send();
    }
    return sendResource(reply, 200, 'User', stateOf(user), present(type, stateOf(user), baseUrl, projection), baseUrl);
  });

  app.put<{ Params: { id: string }; Querystring: RawListParameters }>('/Users/:id', async (request, reply) => {
    checkId(request.params.id, 'User');
    const type = await userType();
    const unknown: string[] = [];
    const document = normaliseResource(type, requireBody(request.body), 'replace', { unknown });
    const user = await users.update(
      request.params.id,
      (current) => keepImmutable(type, current as JsonObject, document),
      versionCheck(request),
      request.actor,
      { ignoredAttributes: unknown },
    );
    const projection = parseProjection(request.query);
    return sendResource(reply, 200, 'User', stateOf(user), present(type, stateOf(user), baseUrl, projection), baseUrl);
  });

  app.patch<{ Params: { id: string }; Querystring: RawListParameters }>('/Users/:id', async (request, reply) => {
    checkId(request.params.id, 'User');
    const type = await userType();
    const operations = parsePatchRequest(requireBody(request.body));
    const unknown: string[] = [];
    const user = await users.update(
      request.params.id,
      (current) => applyPatch(type, current as JsonObject, operations, { id: request.params.id, unknown }),
      versionCheck(request),
      request.actor,
      { ignoredAttributes: unknown },
    );
    const projection = parseProjection(request.query);
    return sendResource(reply, 200, 'User', stateOf(user), present(type, stateOf(user), baseUrl, projection), baseUrl);
  });

  app.delete<{ Params: { id: string } }>('/Users/:id', async (request, reply) => {
    checkId(request.params.id, 'User');
    await users.remove(request.params.id, versionCheck(request), request.actor);
    return reply.code(204).send();
  });
}
