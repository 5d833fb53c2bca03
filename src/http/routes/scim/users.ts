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
import { checkId, parseListRequest, parseProjection, present, requireBody, runList, sendResource, shows, versionCheck, type ListRequest } from './common.ts';
import { SCIM_CONTENT_TYPE } from '../../errors.ts';

/** What a User is rendered from. */
export function userStateOf(user: ScimUser): ResourceState {
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

/** Registers the /Users routes. */
export function userRoutes(app: FastifyInstance, users: UserDirectory, cursors: ListCursors, baseUrl: string): void {
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
      (user) => present('User', userStateOf(user), baseUrl, request.projection),
    );
  }

  app.get<{ Querystring: RawListParameters }>('/Users', async (request, reply) => {
    return reply.type(SCIM_CONTENT_TYPE).send(await list(parseListRequest(request.query)));
  });

  app.post<{ Body: unknown }>('/Users/.search', async (request, reply) => {
    return reply.type(SCIM_CONTENT_TYPE).send(await list(parseListRequest(parseSearchRequest(requireBody(request.body)))));
  });

  app.post<{ Querystring: RawListParameters }>('/Users', async (request, reply) => {
    const document = normaliseResource('User', requireBody(request.body), 'create');
    const user = await users.create(document, request.actor);
    const projection = parseProjection(request.query);
    return sendResource(reply, 201, 'User', userStateOf(user), present('User', userStateOf(user), baseUrl, projection), baseUrl);
  });

  app.get<{ Params: { id: string }; Querystring: RawListParameters }>('/Users/:id', async (request, reply) => {
    checkId(request.params.id, 'User');
    const projection = parseProjection(request.query);
    const user = await users.get(request.params.id, shows('User', 'groups', projection));
    const ifNoneMatch = request.headers['if-none-match'];
    if (typeof ifNoneMatch === 'string' && ifNoneMatchHits(ifNoneMatch, user.user.resourceVersion)) {
      return reply.code(304).header('ETag', etagOf(user.user.resourceVersion)).send();
    }
    return sendResource(reply, 200, 'User', userStateOf(user), present('User', userStateOf(user), baseUrl, projection), baseUrl);
  });

  app.put<{ Params: { id: string }; Querystring: RawListParameters }>('/Users/:id', async (request, reply) => {
    checkId(request.params.id, 'User');
    const document = normaliseResource('User', requireBody(request.body), 'replace');
    const user = await users.update(request.params.id, () => document, versionCheck(request), request.actor);
    const projection = parseProjection(request.query);
    return sendResource(reply, 200, 'User', userStateOf(user), present('User', userStateOf(user), baseUrl, projection), baseUrl);
  });

  app.patch<{ Params: { id: string }; Querystring: RawListParameters }>('/Users/:id', async (request, reply) => {
    checkId(request.params.id, 'User');
    const operations = parsePatchRequest(requireBody(request.body));
    const user = await users.update(
      request.params.id,
      (current) => applyPatch('User', current as JsonObject, operations, { id: request.params.id }),
      versionCheck(request),
      request.actor,
    );
    const projection = parseProjection(request.query);
    return sendResource(reply, 200, 'User', userStateOf(user), present('User', userStateOf(user), baseUrl, projection), baseUrl);
  });

  app.delete<{ Params: { id: string } }>('/Users/:id', async (request, reply) => {
    checkId(request.params.id, 'User');
    await users.remove(request.params.id, versionCheck(request), request.actor);
    return reply.code(204).send();
  });
}
