/** `/api/v2/authorizations/group-memberships`, shaped as SonarQube's Web API v2. */
import type { FastifyInstance } from 'fastify';
import type { MembershipManagement } from '../../../directory/memberships.ts';
import { objectBody, optionalString, pageInfo, parsePaging, type Query } from './common.ts';

const PATH = '/api/v2/authorizations/group-memberships';

/** Registers the group-memberships routes. */
export function groupMembershipRoutes(app: FastifyInstance, memberships: MembershipManagement): void {
  app.get<{ Querystring: Query }>(PATH, async (request) => {
    const query = request.query;
    const paging = parsePaging(query);
    const groupId = optionalString(query, 'groupId');
    const userId = optionalString(query, 'userId');
    const result = await memberships.list({ ...(groupId !== undefined ? { groupId } : {}), ...(userId !== undefined ? { userId } : {}) }, paging);
    return { groupMemberships: result.memberships, page: pageInfo(paging, result.total) };
  });

  app.post(PATH, async (request, reply) => reply.code(201).send(await memberships.add(objectBody(request.body), request.actor)));

  app.delete<{ Params: { id: string } }>(`${PATH}/:id`, async (request, reply) => {
    await memberships.remove(request.params.id, request.actor);
    return reply.code(204).send();
  });
}
