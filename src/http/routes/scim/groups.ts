/**
 * /Groups (RFC 7644 §3.2–§3.6). Members are never loaded to apply a change: PATCH operations
 * on `members` become row inserts and deletes in the directory.
 */
import type { FastifyInstance } from 'fastify';
import { badRequest } from '../../../scim/errors.ts';
import type { JsonObject } from '../../../scim/json.ts';
import { parseSearchRequest, type RawListParameters } from '../../../scim/list.ts';
import { applyPatch, parsePatchRequest, splitGroupMemberOperations, type MemberChange as PatchMemberChange } from '../../../scim/patch.ts';
import { etagOf, ifNoneMatchHits, locationBase, type ResourceState } from '../../../scim/resources.ts';
import { keepImmutable, memberIdOf, normaliseResource } from '../../../scim/validate.ts';
import type { GroupDirectory, MemberChange, MemberRead, ScimGroup } from '../../../directory/groups.ts';
import { isShownBy, planProjection, valuesNamedBy } from '../../../scim/projection.ts';
import type { Document } from '../../../directory/users.ts';
import type { ListCursors } from '../../../directory/list-cursors.ts';
import type { ScimSchemas } from '../../../directory/scim-schemas.ts';
import type { AttributeDefinition, ResourceSchemas } from '../../../scim/schemas.ts';
import { SCIM_CONTENT_TYPE } from '../../errors.ts';
import { checkId, parseListRequest, schemasIn, parseProjection, present, presenter, requireBody, runList, sendResource, versionCheck, writeProjection, type ListRequest, type Projection, type ResourceWrites } from './common.ts';

/** What a Group is rendered from. */
export function groupStateOf(group: ScimGroup): ResourceState {
  return {
    id: group.scimId,
    document: group.document,
    created: group.group.createdAt,
    // Touched whenever its members or their display names change (directory/member-display.ts).
    lastModified: group.group.updatedAt,
    version: String(group.group.version),
  };
}

const MEMBERS = { attribute: 'members' } as const;

/**
 * Which members an answer needs: none when it does not show `members` (RFC 7643 §4.2 returns
 * them by default, so `excludedAttributes=displayName` shows them); only the ids named when it
 * shows just `members[value eq "<id>"]` (the member check of docs/scim.md); else all of them.
 */
function membersToRead(type: ResourceSchemas, projection: Projection): MemberRead {
  const plan = planProjection(type, projection);
  if (!isShownBy(plan, MEMBERS)) return false;
  const among = valuesNamedBy(plan, MEMBERS);
  return among === undefined ? true : { among };
}

/** Splits a validated Group document (every member has an id: memberIdOf) into its attributes and its member ids. */
function splitMembers(document: JsonObject): { document: Document; memberIds: string[] } {
  const { members, ...rest } = document;
  const memberIds = Array.isArray(members) ? members.map((member, index) => memberIdOf(member, `members[${index}]`)) : [];
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

/**
 * The writes of /Groups, for its routes and for /Bulk. A replace or patch returns the group
 * without its members (never loaded to apply a change). Attributes of undeclared extensions
 * are dropped and named in the audit entry (`details.ignoredAttributes`).
 */
export function groupWrites(groups: GroupDirectory, schemas: ScimSchemas): ResourceWrites<ScimGroup> {
  return {
    resourceType: 'Group',
    patchStatus: 204,
    stateOf: groupStateOf,
    async schemasInForce() {
      return (await schemas.current()).Group;
    },
    async create(type, body, actor, specified) {
      const unknown: string[] = [];
      const { document, memberIds } = splitMembers(normaliseResource(type, requireBody(body), 'create', { unknown, specified }));
      return groups.create(document, memberIds, actor, { ignoredAttributes: unknown });
    },
    async replace(type, id, body, allows, actor, specified) {
      checkId(id, 'Group');
      const unknown: string[] = [];
      const { document, memberIds } = splitMembers(normaliseResource(type, requireBody(body), 'replace', { unknown, specified }));
      return groups.update(
        id,
        (current) => ({ document: keepImmutable(type, current as JsonObject, document as JsonObject), memberChanges: [{ kind: 'replace', ids: memberIds }] }),
        allows,
        actor,
        { ignoredAttributes: unknown },
      );
    },
    async patch(type, id, body, allows, actor, specified) {
      checkId(id, 'Group');
      const operations = parsePatchRequest(requireBody(body));
      const { memberChanges, otherOperations } = splitGroupMemberOperations(operations);
      const changes = memberChanges.map(toDirectoryChange);
      const unknown: string[] = [];
      const options = { id, unknown, specified };
      return groups.update(
        id,
        (current) => ({
          document: otherOperations.length > 0 ? applyPatch(type, current as JsonObject, otherOperations, options) : current,
          memberChanges: changes,
        }),
        allows,
        actor,
        { ignoredAttributes: unknown },
      );
    },
    async remove(id, allows, actor) {
      checkId(id, 'Group');
      await groups.remove(id, allows, actor);
    },
  };
}

/** Registers the /Groups routes; each request reads the schemas in force once (see userRoutes). */
export function groupRoutes(app: FastifyInstance, groups: GroupDirectory, cursors: ListCursors, baseUrl: string, schemas: ScimSchemas): void {
  const writes = groupWrites(groups, schemas);
  async function list(request: ListRequest, type: ResourceSchemas) {
    const show = presenter(type, baseUrl, request.projection);
    return runList(
      'Group',
      request,
      cursors,
      (page) =>
        groups.list({
          ...(request.filter ? { filter: request.filter } : {}),
          ...(request.sortBy ? { sortBy: request.sortBy } : {}),
          locationBase: locationBase(baseUrl, 'Group'),
          descending: request.descending,
          page,
          schemas: type,
          withMembers: membersToRead(type, request.projection),
        }),
      (group) => show(groupStateOf(group)),
    );
  }

  /** A PATCH answer: the group as projected; members are read only when the projection shows them. */
  async function answer(group: ScimGroup, type: ResourceSchemas, projection: Projection) {
    const read = membersToRead(type, projection);
    return read === false ? group : groups.get(group.scimId, read);
  }

  app.get<{ Querystring: RawListParameters }>('/Groups', async (request, reply) => {
    return reply.type(SCIM_CONTENT_TYPE).send(await list(parseListRequest(request.query), schemasIn(request).Group));
  });

  app.post<{ Body: unknown }>('/Groups/.search', async (request, reply) => {
    return reply.type(SCIM_CONTENT_TYPE).send(await list(parseListRequest(parseSearchRequest(requireBody(request.body))), schemasIn(request).Group));
  });

  app.post<{ Querystring: RawListParameters }>('/Groups', async (request, reply) => {
    const type = schemasIn(request).Group;
    const specified = new Set<AttributeDefinition>();
    const group = await writes.create(type, request.body, request.actor, specified);
    const projection = writeProjection(request.query, specified);
    return sendResource(reply, 201, 'Group', groupStateOf(group), present(type, groupStateOf(group), baseUrl, projection), baseUrl);
  });

  app.get<{ Params: { id: string }; Querystring: RawListParameters }>('/Groups/:id', async (request, reply) => {
    checkId(request.params.id, 'Group');
    const type = schemasIn(request).Group;
    const projection = parseProjection(request.query);
    // The version is compared before any member is read: a 304 needs none.
    const bare = await groups.get(request.params.id, false);
    const ifNoneMatch = request.headers['if-none-match'];
    if (typeof ifNoneMatch === 'string' && ifNoneMatchHits(ifNoneMatch, String(bare.group.version))) {
      return reply.code(304).header('ETag', etagOf(String(bare.group.version))).send();
    }
    const group = await groups.withMembersRead(bare, membersToRead(type, projection));
    return sendResource(reply, 200, 'Group', groupStateOf(group), present(type, groupStateOf(group), baseUrl, projection), baseUrl);
  });

  app.put<{ Params: { id: string }; Querystring: RawListParameters }>('/Groups/:id', async (request, reply) => {
    const type = schemasIn(request).Group;
    const specified = new Set<AttributeDefinition>();
    const updated = await writes.replace(type, request.params.id, request.body, versionCheck(request), request.actor, specified);
    const projection = writeProjection(request.query, specified);
    const group = await groups.get(updated.scimId, membersToRead(type, projection));
    return sendResource(reply, 200, 'Group', groupStateOf(group), present(type, groupStateOf(group), baseUrl, projection), baseUrl);
  });

  // PATCH answers 204 unless the client asks for attributes (RFC 7644 §3.5.2 allows both);
  // a 200 with every member of a 100k-member group would be an expensive surprise.
  app.patch<{ Params: { id: string }; Querystring: RawListParameters }>('/Groups/:id', async (request, reply) => {
    const type = schemasIn(request).Group;
    const specified = new Set<AttributeDefinition>();
    const group = await writes.patch(type, request.params.id, request.body, versionCheck(request), request.actor, specified);
    const projection = writeProjection(request.query, specified);
    if (projection.attributes === undefined && projection.excludedAttributes === undefined) {
      return reply.code(writes.patchStatus).header('ETag', etagOf(String(group.group.version))).send();
    }
    const shown = await answer(group, type, projection);
    return sendResource(reply, 200, 'Group', groupStateOf(shown), present(type, groupStateOf(shown), baseUrl, projection), baseUrl);
  });

  app.delete<{ Params: { id: string } }>('/Groups/:id', async (request, reply) => {
    await writes.remove(request.params.id, versionCheck(request), request.actor);
    return reply.code(204).send();
  });
}
