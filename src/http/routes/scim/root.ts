/**
 * Searching from the root of the endpoint (RFC 7644 §3.4.3 `POST /.search`, and §3.4.2.1's
 * `GET` on the root): Users and Groups in one list, each with its own `schemas` and
 * `meta.resourceType`. Paged by index or by cursor, like /Users and /Groups.
 */
import type { FastifyInstance } from 'fastify';
import type { ListCursors } from '../../../directory/list-cursors.ts';
import type { SchemaRegistry } from '../../../scim/schemas.ts';
import type { RootSearch } from '../../../directory/search.ts';
import { parseSearchRequest, type RawListParameters } from '../../../scim/list.ts';
import { locationBase } from '../../../scim/resources.ts';
import { SCIM_CONTENT_TYPE } from '../../errors.ts';
import { parseListRequest, presenter, requireBody, runList, schemasIn, shows, type ListRequest } from './common.ts';
import { groupStateOf } from './groups.ts';
import { stateOf } from './users.ts';

/** Registers POST /.search and GET / on the SCIM scope; resources show the attributes of declared extensions too. */
export function rootRoutes(app: FastifyInstance, search: RootSearch, cursors: ListCursors, baseUrl: string): void {
  async function list(request: ListRequest, registry: SchemaRegistry) {
    const showUser = presenter(registry.User, baseUrl, request.projection);
    const showGroup = presenter(registry.Group, baseUrl, request.projection);
    return runList(
      'root',
      request,
      cursors,
      (page) =>
        search.list({
          ...(request.filter ? { filter: request.filter } : {}),
          ...(request.sortBy ? { sortBy: request.sortBy } : {}),
          locationBases: { User: locationBase(baseUrl, 'User'), Group: locationBase(baseUrl, 'Group') },
          descending: request.descending,
          page,
          withGroups: shows(registry.User, 'groups', request.projection),
          withMembers: shows(registry.Group, 'members', request.projection),
        }),
      (resource) => (resource.resourceType === 'User' ? showUser(stateOf(resource.user)) : showGroup(groupStateOf(resource.group))),
    );
  }

  app.post<{ Body: unknown }>('/.search', async (request, reply) => {
    return reply.type(SCIM_CONTENT_TYPE).send(await list(parseListRequest(parseSearchRequest(requireBody(request.body))), schemasIn(request)));
  });

  app.get<{ Querystring: RawListParameters }>('/', async (request, reply) => {
    return reply.type(SCIM_CONTENT_TYPE).send(await list(parseListRequest(request.query), schemasIn(request)));
  });
}
