/** /Users (RFC 7644 §3.2–§3.6): create, read, list, search, replace, patch, delete. */
import type { FastifyInstance } from 'fastify';
import type { RawListParameters } from '../../../scim/list.ts';
import { parseSearchRequest } from '../../../scim/list.ts';
import { locationBase } from '../../../scim/resources.ts';
import { keepImmutable, normaliseResource } from '../../../scim/validate.ts';
import { applyPatch, parsePatchRequest } from '../../../scim/patch.ts';
import type { JsonObject } from '../../../scim/json.ts';
import type { ScimUser, UserDirectory } from '../../../directory/users.ts';
import type { ListCursors } from '../../../directory/list-cursors.ts';
import type { ScimSchemas } from '../../../directory/scim-schemas.ts';
import type { AttributeDefinition, ResourceSchemas } from '../../../scim/schemas.ts';
import type { ResourceState } from '../../../scim/resources.ts';
import { answerPreconditions, checkId, parseListRequest, schemasIn, parseProjection, present, presenter, requireBody, runList, sendResource, shows, versionCheck, writeProjection, type ListRequest, type ResourceWrites } from './common.ts';
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

/**
 * The writes of /Users, for its routes and for /Bulk. Attributes of undeclared extensions are
 * dropped and named in the audit entry (`details.ignoredAttributes`).
 */
export function userWrites(users: UserDirectory, schemas: ScimSchemas): ResourceWrites<ScimUser> {
  return {
    resourceType: 'User',
    patchStatus: 200,
    stateOf,
    async schemasInForce() {
      return (await schemas.current()).User;
    },
    async create(type, body, actor, specified) {
      const unknown: string[] = [];
      const document = normaliseResource(type, requireBody(body), 'create', { unknown, specified });
      return users.create(document, actor, { ignoredAttributes: unknown });
    },
    async replace(type, id, body, allows, actor, specified) {
      checkId(id, 'User');
      const unknown: string[] = [];
      const document = normaliseResource(type, requireBody(body), 'replace', { unknown, specified });
      return users.update(id, (current) => keepImmutable(type, current as JsonObject, document), allows, actor, { ignoredAttributes: unknown });
    },
    async patch(type, id, body, allows, actor, specified) {
      checkId(id, 'User');
      const operations = parsePatchRequest(requireBody(body));
      const unknown: string[] = [];
      const options = { id, unknown, specified };
      return users.update(id, (current) => applyPatch(type, current as JsonObject, operations, options), allows, actor, { ignoredAttributes: unknown });
    },
    async remove(id, allows, actor) {
      checkId(id, 'User');
      await users.remove(id, allows, actor);
    },
  };
}

/**
 * Registers the /Users routes. Each request reads the schemas in force (declared extensions
 * included) once, for reading the body and for the response.
 */
export function userRoutes(app: FastifyInstance, users: UserDirectory, cursors: ListCursors, baseUrl: string, schemas: ScimSchemas): void {
  const writes = userWrites(users, schemas);
  async function list(request: ListRequest, type: ResourceSchemas) {
    const show = presenter(type, baseUrl, request.projection);
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
          schemas: type,
          withGroups: shows(type, 'groups', request.projection),
        }),
      (user) => show(stateOf(user)),
    );
  }

  app.get<{ Querystring: RawListParameters }>('/Users', async (request, reply) => {
    return reply.type(SCIM_CONTENT_TYPE).send(await list(parseListRequest(request.query), schemasIn(request).User));
  });

  app.post<{ Body: unknown }>('/Users/.search', async (request, reply) => {
    return reply.type(SCIM_CONTENT_TYPE).send(await list(parseListRequest(parseSearchRequest(requireBody(request.body), request.query)), schemasIn(request).User));
  });

  app.post<{ Querystring: RawListParameters }>('/Users', async (request, reply) => {
    const type = schemasIn(request).User;
    const specified = new Set<AttributeDefinition>();
    const user = await writes.create(type, request.body, request.actor, specified);
    const projection = writeProjection(request.query, specified);
    return sendResource(reply, 201, 'User', stateOf(user), present(type, stateOf(user), baseUrl, projection), baseUrl);
  });

  app.get<{ Params: { id: string }; Querystring: RawListParameters }>('/Users/:id', async (request, reply) => {
    checkId(request.params.id, 'User');
    const type = schemasIn(request).User;
    const projection = parseProjection(request.query);
    const user = await users.get(request.params.id, shows(type, 'groups', projection));
    const answered = answerPreconditions(request, reply, `User ${request.params.id}`, user.user.resourceVersion);
    if (answered !== undefined) return answered;
    return sendResource(reply, 200, 'User', stateOf(user), present(type, stateOf(user), baseUrl, projection), baseUrl);
  });

  app.put<{ Params: { id: string }; Querystring: RawListParameters }>('/Users/:id', async (request, reply) => {
    const type = schemasIn(request).User;
    const specified = new Set<AttributeDefinition>();
    const user = await writes.replace(type, request.params.id, request.body, versionCheck(request), request.actor, specified);
    const projection = writeProjection(request.query, specified);
    return sendResource(reply, 200, 'User', stateOf(user), present(type, stateOf(user), baseUrl, projection), baseUrl);
  });

  app.patch<{ Params: { id: string }; Querystring: RawListParameters }>('/Users/:id', async (request, reply) => {
    const type = schemasIn(request).User;
    const specified = new Set<AttributeDefinition>();
    const user = await writes.patch(type, request.params.id, request.body, versionCheck(request), request.actor, specified);
    const projection = writeProjection(request.query, specified);
    return sendResource(reply, 200, 'User', stateOf(user), present(type, stateOf(user), baseUrl, projection), baseUrl);
  });

  app.delete<{ Params: { id: string } }>('/Users/:id', async (request, reply) => {
    await writes.remove(request.params.id, versionCheck(request), request.actor);
    return reply.code(204).send();
  });
}
