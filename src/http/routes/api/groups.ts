/** `/api/v2/authorizations/groups`, shaped as SonarQube's Web API v2. */
import type { FastifyInstance } from 'fastify';
import { GROUP_LIMITS, type GroupManagement } from '../../../directory/group-management.ts';
import { groupShape as presentGroup } from '../../../directory/shapes.ts';
import { TAGS } from '../../api-docs.ts';
import {
  ID_PARAMS, errorResponses, listOf, noContent, objectBody, optionalBoolean, optionalString, pageInfo, pagedQuery, parsePaging, ref, strictObject,
  type JsonSchema, type NamedSchema, type Query,
} from './common.ts';

const PATH = '/api/v2/authorizations/groups';

/** A group, as SonarQube's v2 API shows one. */
export const GROUP: NamedSchema = {
  $id: 'Group',
  type: 'object',
  required: ['id', 'name', 'description', 'managed', 'default'],
  properties: {
    id: { type: 'string', description: "Roster's internal id (not the SCIM id)." },
    name: { type: 'string' },
    description: { type: ['string', 'null'] },
    managed: { type: 'boolean', description: 'Linked to SCIM: the identity provider owns it.' },
    default: { type: 'boolean', description: 'Always false: Roster has no default group.' },
  },
};

const NAME: JsonSchema = { type: 'string', minLength: 1, maxLength: GROUP_LIMITS.name, description: 'Unique regardless of case.' };
const DESCRIPTION: JsonSchema = { type: ['string', 'null'], maxLength: GROUP_LIMITS.description };

// The limits are checked by the directory (group-management.ts), only when a value changes: a
// group named by the identity provider may hold a name the admin API would not create, and
// what GET shows must go back unchanged.
const PATCH_BODY = strictObject(
  {
    name: { type: 'string', description: `Unique regardless of case; a new name has 1 to ${GROUP_LIMITS.name} characters.` },
    description: { type: ['string', 'null'], description: `At most ${GROUP_LIMITS.description} characters.` },
    id: { type: 'string', description: 'Read-only: accepted when it is the id in the URL.' },
    managed: { type: 'boolean', description: 'Read-only: accepted when unchanged.' },
    default: { type: 'boolean', description: 'Read-only: accepted when false.' },
  },
  [],
  { description: 'A JSON merge patch (RFC 7396); a field sent with its current value changes nothing, so a GET answer can be sent back.' },
);

/** Registers the groups routes. */
export function groupRoutes(app: FastifyInstance, groups: GroupManagement): void {
  const tags = [TAGS.groups];
  app.get<{ Querystring: Query }>(PATH, {
    schema: {
      operationId: 'listGroups',
      summary: 'List groups, by name',
      tags,
      querystring: pagedQuery({
        q: { type: 'string', description: 'Name contains this (any case).' },
        managed: { type: 'boolean', description: 'Only while SCIM is on (400 otherwise).' },
        userId: { type: 'string', description: 'Only the groups of this user.' },
        'userId!': { type: 'string', description: 'Only the groups this user is not a member of.' },
      }),
      response: { 200: listOf('groups', GROUP, 'A page of groups.') },
    },
  }, async (request) => {
    const query = request.query;
    const paging = parsePaging(query);
    const q = optionalString(query, 'q');
    const managed = optionalBoolean(query, 'managed');
    const userId = optionalString(query, 'userId');
    const notUserId = optionalString(query, 'userId!');
    const result = await groups.list(
      {
        ...(q !== undefined ? { q } : {}), ...(managed !== undefined ? { managed } : {}), ...(userId !== undefined ? { userId } : {}),
        ...(notUserId !== undefined ? { notUserId } : {}),
      },
      paging,
    );
    return { groups: result.groups.map(presentGroup), page: pageInfo(paging, result.total) };
  });

  app.post(PATH, {
    schema: {
      operationId: 'createGroup',
      summary: 'Create a group (refused while SCIM is on)',
      tags,
      body: strictObject({ name: NAME, description: DESCRIPTION }, ['name']),
      response: { 201: { ...ref(GROUP), description: 'The group.' }, ...errorResponses(409) },
    },
  }, async (request, reply) => reply.code(201).send(presentGroup(await groups.create(objectBody(request.body), request.actor))));

  app.get<{ Params: { id: string } }>(`${PATH}/:id`, {
    schema: { operationId: 'getGroup', summary: 'Read a group', tags, params: ID_PARAMS, response: { 200: { ...ref(GROUP), description: 'The group.' } } },
  }, async (request) => presentGroup(await groups.get(request.params.id)));

  app.patch<{ Params: { id: string } }>(`${PATH}/:id`, {
    schema: {
      operationId: 'updateGroup',
      summary: 'Rename a group or change its description (merge patch; refused while SCIM is on)',
      tags,
      params: ID_PARAMS,
      body: PATCH_BODY,
      consumes: ['application/merge-patch+json', 'application/json'],
      response: { 200: { ...ref(GROUP), description: 'The group, changed.' }, ...errorResponses(409) },
    },
  }, async (request) => presentGroup(await groups.update(request.params.id, objectBody(request.body), request.actor)));

  app.delete<{ Params: { id: string } }>(`${PATH}/:id`, {
    schema: {
      operationId: 'deleteGroup',
      summary: 'Delete a group and its memberships (a managed group is the identity provider\'s to delete)',
      tags,
      params: ID_PARAMS,
      response: { 204: noContent('Deleted.') },
    },
  }, async (request, reply) => {
    await groups.delete(request.params.id, request.actor);
    return reply.code(204).send();
  });
}
