/** `/api/v2/authorizations/groups`, shaped as SonarQube's Web API v2. */
import type { FastifyInstance } from 'fastify';
import type { GroupManagement } from '../../../directory/group-management.ts';
import { groupShape as presentGroup } from '../../../directory/shapes.ts';
import { objectBody, optionalBoolean, optionalString, pageInfo, parsePaging, type Query } from './common.ts';

const PATH = '/api/v2/authorizations/groups';

/** Registers the groups routes. */
export function groupRoutes(app: FastifyInstance, groups: GroupManagement): void {
  app.get<{ Querystring: Query }>(PATH, async (request) => {
    const query = request.query;
    const paging = parsePaging(query);
    const q = optionalString(query, 'q');
    const managed = optionalBoolean(query, 'managed');
    const userId = optionalString(query, 'userId');
    const result = await groups.list(
      { ...(q !== undefined ? { q } : {}), ...(managed !== undefined ? { managed } : {}), ...(userId !== undefined ? { userId } : {}) },
      paging,
    );
    return { groups: result.groups.map(presentGroup), page: pageInfo(paging, result.total) };
  });

  app.post(PATH, async (request, reply) => reply.code(201).send(presentGroup(await groups.create(objectBody(request.body), request.actor))));

  app.get<{ Params: { id: string } }>(`${PATH}/:id`, async (request) => presentGroup(await groups.get(request.params.id)));

  app.patch<{ Params: { id: string } }>(`${PATH}/:id`, async (request) =>
    presentGroup(await groups.update(request.params.id, objectBody(request.body), request.actor)),
  );

  app.delete<{ Params: { id: string } }>(`${PATH}/:id`, async (request, reply) => {
    await groups.delete(request.params.id, request.actor);
    return reply.code(204).send();
  });
}
