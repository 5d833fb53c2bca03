/**
 * /Groups (RFC 7644 §3.2–§3.6). Members are never loaded to apply a change: PATCH operations
 * on `members` become row inserts and deletes in the directory.
 */
import type { FastifyInstance } from 'fastify';
import { badRequest } from '../../../scim/errors.ts';
import type { JsonObject } from '../../../scim/json.ts';
import { parseSearchRequest, type RawListParameters } from '../../../scim/list.ts';
import { applyPatch, parsePatchRequest, splitGroupMemberOperations, type MemberChange as PatchMemberChange } from '../../../scim/patch.ts';
import { etagOf, locationBase, type ResourceState } from '../../../scim/resources.ts';
import { keepImmutable, memberIdOf, normaliseResource } from '../../../scim/validate.ts';
import { readsEveryMember, type GroupDirectory, type MemberChange, type MemberRead, type ScimGroup } from '../../../directory/groups.ts';
import type { PageRequest } from '../../../directory/paging.ts';
import { DirectoryError } from '../../../errors.ts';
import { isShownBy, planProjection, valuesNamedBy } from '../../../scim/projection.ts';
import type { Document } from '../../../directory/users.ts';
import type { ListCursors } from '../../../directory/list-cursors.ts';
import type { ScimSchemas } from '../../../directory/scim-schemas.ts';
import type { AttributeDefinition, ResourceSchemas } from '../../../scim/schemas.ts';
import { SCIM_CONTENT_TYPE } from '../../errors.ts';
import { answerPreconditions, checkId, parseListRequest, schemasIn, parseProjection, present, presenter, requireBody, runList, sendResource, versionCheck, writeProjection, type ListRequest, type Projection, type ResourceWrites } from './common.ts';
import { groupText, sendStreamed, streamList } from './streamed.ts';
import type { FastifyReply } from 'fastify';

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
export function membersToRead(type: ResourceSchemas, projection: Projection): MemberRead {
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

  /**
   * Answers a list request. A page that shows every member of its groups is written while they
   * are read (streamed.ts), its page and members read in one held snapshot.
   */
  async function answerList(reply: FastifyReply, request: ListRequest, type: ResourceSchemas): Promise<FastifyReply> {
    const show = presenter(type, baseUrl, request.projection);
    const withMembers = membersToRead(type, request.projection);
    const query = (page: PageRequest) => ({
      ...(request.filter ? { filter: request.filter } : {}),
      ...(request.sortBy ? { sortBy: request.sortBy } : {}),
      locationBase: locationBase(baseUrl, 'Group'),
      descending: request.descending,
      page,
      schemas: type,
      withMembers,
    });
    if (!readsEveryMember(withMembers)) {
      return reply.type(SCIM_CONTENT_TYPE).send(await runList('Group', request, cursors, (page) => groups.list(query(page)), (group) => show(groupStateOf(group))));
    }
    return streamList(reply, 'Group', request, cursors, (page) => groups.holdList(query(page)), (group, held) => groupText(show, groupStateOf(group), held.members(group)));
  }

  /**
   * Answers with one group (without members, as read or written) as `projection` shows it: its
   * members read only when shown, and written while they are read when all are (streamed.ts).
   */
  async function answerGroup(reply: FastifyReply, status: 200 | 201, group: ScimGroup, type: ResourceSchemas, projection: Projection, written = false): Promise<FastifyReply> {
    const read = membersToRead(type, projection);
    if (!readsEveryMember(read)) {
      const shown = await groups.withMembersRead(group, read);
      return sendResource(reply, status, 'Group', groupStateOf(shown), present(type, groupStateOf(shown), baseUrl, projection), baseUrl);
    }
    // Read again in the snapshot its members are read in: the ETag is the version they belong to.
    let held: Awaited<ReturnType<GroupDirectory['hold']>>;
    try {
      held = await groups.hold(group.scimId);
    } catch (error) {
      // SCIM turned off between the write's commit and this read (which then answers 403): the
      // write stands, and the IdP must not be told it failed. The group as written, without the
      // members no longer readable by their SCIM ids.
      if (!written || !(error instanceof DirectoryError) || error.code !== 'forbidden') throw error;
      return sendResource(reply, status, 'Group', groupStateOf(group), present(type, groupStateOf(group), baseUrl, projection), baseUrl);
    }
    const state = groupStateOf(held.value);
    return sendStreamed(reply, held, groupText(presenter(type, baseUrl, projection), state, held.members(held.value)), { status, resourceType: 'Group', state, baseUrl });
  }

  app.get<{ Querystring: RawListParameters }>('/Groups', async (request, reply) => {
    return answerList(reply, parseListRequest(request.query), schemasIn(request).Group);
  });

  app.post<{ Body: unknown }>('/Groups/.search', async (request, reply) => {
    return answerList(reply, parseListRequest(parseSearchRequest(requireBody(request.body), request.query)), schemasIn(request).Group);
  });

  app.post<{ Querystring: RawListParameters }>('/Groups', async (request, reply) => {
    const type = schemasIn(request).Group;
    const specified = new Set<AttributeDefinition>();
    const group = await writes.create(type, request.body, request.actor, specified);
    return answerGroup(reply, 201, group, type, writeProjection(request.query, specified), true);
  });

  app.get<{ Params: { id: string }; Querystring: RawListParameters }>('/Groups/:id', async (request, reply) => {
    checkId(request.params.id, 'Group');
    const type = schemasIn(request).Group;
    const projection = parseProjection(request.query);
    // The version is compared before any member is read: a 304 needs none.
    const bare = await groups.get(request.params.id, false);
    const answered = answerPreconditions(request, reply, `Group ${request.params.id}`, String(bare.group.version));
    if (answered !== undefined) return answered;
    return answerGroup(reply, 200, bare, type, projection);
  });

  app.put<{ Params: { id: string }; Querystring: RawListParameters }>('/Groups/:id', async (request, reply) => {
    const type = schemasIn(request).Group;
    const specified = new Set<AttributeDefinition>();
    const updated = await writes.replace(type, request.params.id, request.body, versionCheck(request), request.actor, specified);
    return answerGroup(reply, 200, updated, type, writeProjection(request.query, specified), true);
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
    return answerGroup(reply, 200, group, type, projection, true);
  });

  app.delete<{ Params: { id: string } }>('/Groups/:id', async (request, reply) => {
    await writes.remove(request.params.id, versionCheck(request), request.actor);
    return reply.code(204).send();
  });
}
