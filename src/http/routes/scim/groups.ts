/**
 * /Groups (RFC 7644 §3.2–§3.6). Members are never loaded to apply a change: PATCH operations
 * on `members` become row inserts and deletes in the directory.
 */
import type { FastifyInstance } from 'fastify';
import { badRequest } from '../../../scim/errors.ts';
import type { JsonObject } from '../../../scim/json.ts';
import { listResponse, parseSearchRequest, type RawListParameters } from '../../../scim/list.ts';
import { applyPatch, parsePatchRequest, splitGroupMemberOperations, type MemberChange as PatchMemberChange } from '../../../scim/patch.ts';
import { etagOf, ifNoneMatchHits, locationBase, type ResourceState } from '../../../scim/resources.ts';
import { keepImmutable, normaliseResource } from '../../../scim/validate.ts';
import type { GroupDirectory, MemberChange, ScimGroup } from '../../../directory/groups.ts';
import type { Document } from '../../../directory/users.ts';
import type { ScimSchemas } from '../../../directory/scim-schemas.ts';
import { SCIM_CONTENT_TYPE } from '../../errors.ts';
import { checkId, parseListRequest, parseProjection, present, requireBody, sendResource, shows, versionCheck, type ListRequest, type Projection } from './common.ts';

function stateOf(group: ScimGroup): ResourceState {
  return {
    id: group.scimId,
    document: group.document,
    created: group.group.createdAt,
    lastModified: group.group.updatedAt,
    version: group.group.version,
  };
}

/** Splits a validated Group document into its attributes and its member ids. */
function splitMembers(document: JsonObject): { document: Document; memberIds: string[] } {
  const { members, ...rest } = document;
  const memberIds = Array.isArray(members)
    ? members.map((member, index) => {
        const value = member && typeof member === 'object' && !Array.isArray(member) ? member.value : undefined;
        if (typeof value !== 'string') throw badRequest('invalidValue', `members[${index}].value must be the id of a user.`);
        return value;
      })
    : [];
  return { document: rest, memberIds };
}

/** The directory's member changes for the PATCH engine's. */
function toDirectoryChange(change: PatchMemberChange): MemberChange {
  switch (change.kind) {
    case 'add':
    case 'remove':
    case 'replace':
      return { kind: change.kind, ids: change.ids };
    case 'removeAll':
      return { kind: 'removeAll' };
    case 'removeWhere':
      throw badRequest(
        'invalidFilter',
        'Removing members by a filter other than value is not supported: use members[value eq "<user id>"] (several may be joined with "or").',
      );
  }
}

/** Registers the /Groups routes; each request reads the schemas in force once (see userRoutes). */
export function groupRoutes(app: FastifyInstance, groups: GroupDirectory, baseUrl: string, schemas: ScimSchemas): void {
  const groupType = async () => (await schemas.current()).Group;

  async function list(request: ListRequest) {
    const type = await groupType();
    const result = await groups.list({
      ...(request.filter ? { filter: request.filter } : {}),
      ...(request.sortBy ? { sortBy: request.sortBy } : {}),
      locationBase: locationBase(baseUrl, 'Group'),
      descending: request.descending,
      offset: request.startIndex - 1,
      limit: request.count,
      withMembers: shows(type, 'members', request.projection),
    });
    const resources = result.groups.map((group) => present(type, stateOf(group), baseUrl, request.projection));
    return listResponse(resources, result.total, request.startIndex);
  }

  /** A PATCH answer: the group as projected; members are read only when the projection shows them. */
  async function answer(group: ScimGroup, projection: Projection) {
    // `members` is returned by default (RFC 7643 §4.2), so `excludedAttributes=displayName` shows them.
    return shows('Group', 'members', projection) ? groups.get(group.scimId, true) : group;
  }

  app.get<{ Querystring: RawListParameters }>('/Groups', async (request, reply) => {
    return reply.type(SCIM_CONTENT_TYPE).send(await list(parseListRequest(request.query)));
  });

  app.post<{ Body: unknown }>('/Groups/.search', async (request, reply) => {
    return reply.type(SCIM_CONTENT_TYPE).send(await list(parseListRequest(parseSearchRequest(requireBody(request.body)))));
  });

  app.post<{ Querystring: RawListParameters }>('/Groups', async (request, reply) => {
    const type = await groupType();
    const unknown: string[] = [];
    const { document, memberIds } = splitMembers(normaliseResource(type, requireBody(request.body), 'create', { unknown }));
    const group = await groups.create(document, memberIds, request.actor, { ignoredAttributes: unknown });
    const projection = parseProjection(request.query);
    return sendResource(reply, 201, 'Group', stateOf(group), present(type, stateOf(group), baseUrl, projection), baseUrl);
  });

  app.get<{ Params: { id: string }; Querystring: RawListParameters }>('/Groups/:id', async (request, reply) => {
    checkId(request.params.id, 'Group');
    const type = await groupType();
    const projection = parseProjection(request.query);
    const group = await groups.get(request.params.id, shows(type, 'members', projection));
    const ifNoneMatch = request.headers['if-none-match'];
    if (typeof ifNoneMatch === 'string' && ifNoneMatchHits(ifNoneMatch, group.group.version)) {
      return reply.code(304).header('ETag', etagOf(group.group.version)).send();
    }
    return sendResource(reply, 200, 'Group', stateOf(group), present(type, stateOf(group), baseUrl, projection), baseUrl);
  });

  app.put<{ Params: { id: string }; Querystring: RawListParameters }>('/Groups/:id', async (request, reply) => {
    checkId(request.params.id, 'Group');
    const type = await groupType();
    const unknown: string[] = [];
    const { document, memberIds } = splitMembers(normaliseResource(type, requireBody(request.body), 'replace', { unknown }));
    const updated = await groups.update(
      request.params.id,
      (current) => ({ document: keepImmutable(type, current as JsonObject, document as JsonObject), memberChanges: [{ kind: 'replace', ids: memberIds }] }),
      versionCheck(request),
      request.actor,
      { ignoredAttributes: unknown },
    );
    const projection = parseProjection(request.query);
    const group = await groups.get(updated.scimId, shows(type, 'members', projection));
    return sendResource(reply, 200, 'Group', stateOf(group), present(type, stateOf(group), baseUrl, projection), baseUrl);
  });

  // PATCH answers 204 unless the client asks for attributes (RFC 7644 §3.5.2 allows both);
  // a 200 with every member of a 100k-member group would be an expensive surprise.
  app.patch<{ Params: { id: string }; Querystring: RawListParameters }>('/Groups/:id', async (request, reply) => {
    checkId(request.params.id, 'Group');
    const type = await groupType();
    const operations = parsePatchRequest(requireBody(request.body));
    const { memberChanges, otherOperations } = splitGroupMemberOperations(operations);
    const changes = memberChanges.map(toDirectoryChange);
    const unknown: string[] = [];
    const group = await groups.update(
      request.params.id,
      (current) => ({
        document: otherOperations.length > 0 ? applyPatch(type, current as JsonObject, otherOperations, { id: request.params.id, unknown }) : current,
        memberChanges: changes,
      }),
      versionCheck(request),
      request.actor,
      { ignoredAttributes: unknown },
    );
    const projection = parseProjection(request.query);
    if (projection.attributes === undefined && projection.excludedAttributes === undefined) {
      return reply.code(204).header('ETag', etagOf(group.group.version)).send();
    }
    const shown = await answer(group, projection);
    return sendResource(reply, 200, 'Group', stateOf(shown), present(type, stateOf(shown), baseUrl, projection), baseUrl);
  });

  app.delete<{ Params: { id: string } }>('/Groups/:id', async (request, reply) => {
    checkId(request.params.id, 'Group');
    await groups.remove(request.params.id, versionCheck(request), request.actor);
    return reply.code(204).send();
  });
}
