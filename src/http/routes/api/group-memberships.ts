/** `/api/v2/authorizations/group-memberships`, shaped as SonarQube's Web API v2. */
import type { FastifyInstance } from 'fastify';
import type { MembershipManagement } from '../../../directory/memberships.ts';
import { TAGS } from '../../api-docs.ts';
import {
  ID_PARAMS, errorResponses, listOf, noContent, objectBody, optionalString, pageInfo, pagedQuery, parsePaging, ref, strictObject,
  type NamedSchema, type Query,
} from './common.ts';

const PATH = '/api/v2/authorizations/group-memberships';

/** A membership: which user is in which group. */
export const GROUP_MEMBERSHIP: NamedSchema = {
  $id: 'GroupMembership',
  type: 'object',
  required: ['id', 'groupId', 'userId'],
  properties: {
    id: { type: 'string', description: 'Opaque, and stable while the membership exists.' },
    groupId: { type: 'string' },
    userId: { type: 'string' },
  },
};

/** Registers the group-memberships routes. */
export function groupMembershipRoutes(app: FastifyInstance, memberships: MembershipManagement): void {
  const tags = [TAGS.memberships];
  app.get<{ Querystring: Query }>(PATH, {
    schema: {
      operationId: 'listGroupMemberships',
      summary: 'List the memberships of a group, of a user, or of both',
      tags,
      querystring: pagedQuery({ groupId: { type: 'string' }, userId: { type: 'string' } }),
      response: { 200: listOf('groupMemberships', GROUP_MEMBERSHIP, 'A page of memberships, SCIM-suspended users\' included.') },
    },
  }, async (request) => {
    const query = request.query;
    const paging = parsePaging(query);
    const groupId = optionalString(query, 'groupId');
    const userId = optionalString(query, 'userId');
    const result = await memberships.list({ ...(groupId !== undefined ? { groupId } : {}), ...(userId !== undefined ? { userId } : {}) }, paging);
    return { groupMemberships: result.memberships, page: pageInfo(paging, result.total) };
  });

  app.post(PATH, {
    schema: {
      operationId: 'addGroupMembership',
      summary: 'Add an active user to a group (refused while SCIM is on)',
      tags,
      body: strictObject({ groupId: { type: 'string' }, userId: { type: 'string' } }, ['groupId', 'userId']),
      response: { 201: { ...ref(GROUP_MEMBERSHIP), description: 'The membership.' }, ...errorResponses(404, 409) },
    },
  }, async (request, reply) => reply.code(201).send(await memberships.add(objectBody(request.body), request.actor)));

  app.delete<{ Params: { id: string } }>(`${PATH}/:id`, {
    schema: {
      operationId: 'removeGroupMembership',
      summary: 'Remove a membership (refused while SCIM is on)',
      tags,
      params: ID_PARAMS,
      response: { 204: noContent('Removed.') },
    },
  }, async (request, reply) => {
    await memberships.remove(request.params.id, request.actor);
    return reply.code(204).send();
  });
}
