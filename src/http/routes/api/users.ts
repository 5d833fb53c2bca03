/**
 * `/api/v2/users-management/users`, shaped as SonarQube's Web API v2: list, create, read,
 * merge-patch, and DELETE = deactivate.
 */
import type { FastifyInstance } from 'fastify';
import type { Accounts } from '../../../directory/accounts.ts';
import { userShape as presentUser } from '../../../directory/shapes.ts';
import { objectBody, optionalBoolean, optionalString, pageInfo, parsePaging, type Query } from './common.ts';

const PATH = '/api/v2/users-management/users';

/** Registers the users routes. */
export function userRoutes(app: FastifyInstance, accounts: Accounts): void {
  app.get<{ Querystring: Query }>(PATH, async (request) => {
    const query = request.query;
    const paging = parsePaging(query);
    const q = optionalString(query, 'q');
    const active = optionalBoolean(query, 'active');
    const managed = optionalBoolean(query, 'managed');
    const result = await accounts.list(
      { ...(q !== undefined ? { q } : {}), ...(active !== undefined ? { active } : {}), ...(managed !== undefined ? { managed } : {}) },
      paging,
    );
    return { users: result.users.map(presentUser), page: pageInfo(paging, result.total) };
  });

  // SonarQube answers a creation with 200 and the user, not 201.
  app.post(PATH, async (request) => presentUser(await accounts.create(objectBody(request.body), request.actor)));

  app.get<{ Params: { id: string } }>(`${PATH}/:id`, async (request) => presentUser(await accounts.get(request.params.id)));

  app.patch<{ Params: { id: string } }>(`${PATH}/:id`, async (request) =>
    presentUser(await accounts.update(request.params.id, objectBody(request.body), request.actor)),
  );

  app.delete<{ Params: { id: string } }>(`${PATH}/:id`, async (request, reply) => {
    await accounts.deactivate(request.params.id, request.actor);
    return reply.code(204).send();
  });
}
