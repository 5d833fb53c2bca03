/** /Users (RFC 7644 §3.2–§3.6): create, read, list, search, replace, patch, delete. */
import type { FastifyInstance } from 'fastify';
import type { RawListParameters } from '../../../scim/list.ts';
import { parseSearchRequest } from '../../../scim/list.ts';
import { ifNoneMatchHits, etagOf, locationBase } from '../../../scim/resources.ts';
import { normaliseResource } from '../../../scim/validate.ts';
import { applyPatch, parsePatchRequest } from '../../../scim/patch.ts';
import type { JsonObject } from '../../../scim/json.ts';
import type { ScimUser, UserDirectory } from '../../../directory/users.ts';
import type { ListCursors } from '../../../directory/list-cursors.ts';
import type { ResourceState } from '../../../scim/resources.ts';
import { checkId, parseListRequest, parseProjection, present, requireBody, runList, sendResource, shows, versionCheck, type ListRequest, type ResourceWrites } from './common.ts';
import { SCIM_CONTENT_TYPE } from '../../errors.ts';

/** A SCIM user's id, document, timestamps and version, as every /Users answer renders them (renderResource). */
export function stateOf(user: ScimUser): ResourceState {
  return {
    id: user.scimId,
    document: user.document,
    created: user.user.createdAt,
    // What GET shows, groups included (store/resource-versions.ts).
    lastModified: user.user.resourceModifiedAt,
    version: user.user.resourceVersion,
    ...(user.managerDisplay !== undefined ? { managerDisplay: user.managerDisplay } : {}),
  };
}

/** The writes of /Users, for its routes and for /Bulk. */
export function userWrites(users: UserDirectory): ResourceWrites<ScimUser> {
  return {
    resourceType: 'User',
    patchStatus: 200,
    stateOf,
    async create(body, actor) {
      return users.create(normaliseResource('User', requireBody(body), 'create'), actor);
    },
    async replace(id, body, allows, actor) {
      checkId(id, 'User');
      const document = normaliseResource('User', requireBody(body), 'replace');
      return users.update(id, () => document, allows, actor);
    },
    async patch(id, body, allows, actor) {
      checkId(id, 'User');
      const operations = parsePatchRequest(requireBody(body));
      return users.update(id, (current) => applyPatch('User', current as JsonObject, operations, { id }), allows, actor);
    },
    async remove(id, allows, actor) {
      checkId(id, 'User');
      await users.remove(id, allows, actor);
    },
  };
}

/** Registers the /Users routes. */
export function userRoutes(app: FastifyInstance, users: UserDirectory, cursors: ListCursors, baseUrl: string): void {
  const writes = userWrites(users);

  async function list(request: ListRequest) {
    return runList(
      'User',
      request,
      cursors,
      (page) =>
        users.list({
          ...(request.filter ? { filter: request.filter } : {}),
          ...(request.sortBy ? { sortBy: request.sortBy } : {}),
          locationBase: locationBase(baseUrl, 'User'),
          descending: request.descending,
          page,
          withGroups: shows('User', 'groups', request.projection),
        }),
      (user) => present('User', stateOf(user), baseUrl, request.projection),
    );
  }

  app.get<{ Querystring: RawListParameters }>('/Users', async (request, reply) => {
    return reply.type(SCIM_CONTENT_TYPE).send(await list(parseListRequest(request.query)));
  });

  app.post<{ Body: unknown }>('/Users/.search', async (request, reply) => {
    return reply.type(SCIM_CONTENT_TYPE).send(await list(parseListRequest(parseSearchRequest(requireBody(request.body)))));
  });

  app.post<{ Querystring: RawListParameters }>('/Users', async (request, reply) => {
    const user = await writes.create(request.body, request.actor);
    const projection = parseProjection(request.query);
    return sendResource(reply, 201, 'User', stateOf(user), present('User', stateOf(user), baseUrl, projection), baseUrl);
  });

  app.get<{ Params: { id: string }; Querystring: RawListParameters }>('/Users/:id', async (request, reply) => {
    checkId(request.params.id, 'User');
    const projection = parseProjection(request.query);
    const user = await users.get(request.params.id, shows('User', 'groups', projection));
    const ifNoneMatch = request.headers['if-none-match'];
    if (typeof ifNoneMatch === 'string' && ifNoneMatchHits(ifNoneMatch, user.user.resourceVersion)) {
      return reply.code(304).header('ETag', etagOf(user.user.resourceVersion)).send();
    }
    return sendResource(reply, 200, 'User', stateOf(user), present('User', stateOf(user), baseUrl, projection), baseUrl);
  });

  app.put<{ Params: { id: string }; Querystring: RawListParameters }>('/Users/:id', async (request, reply) => {
    const user = await writes.replace(request.params.id, request.body, versionCheck(request), request.actor);
    const projection = parseProjection(request.query);
    return sendResource(reply, 200, 'User', stateOf(user), present('User', stateOf(user), baseUrl, projection), baseUrl);
  });

  app.patch<{ Params: { id: string }; Querystring: RawListParameters }>('/Users/:id', async (request, reply) => {
    const user = await writes.patch(request.params.id, request.body, versionCheck(request), request.actor);
    const projection = parseProjection(request.query);
    return sendResource(reply, 200, 'User', stateOf(user), present('User', stateOf(user), baseUrl, projection), baseUrl);
  });

  app.delete<{ Params: { id: string } }>('/Users/:id', async (request, reply) => {
    await writes.remove(request.params.id, versionCheck(request), request.actor);
    return reply.code(204).send();
  });
}
