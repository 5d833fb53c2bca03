/**
 * Searching from the root of the endpoint (RFC 7644 §3.4.3 `POST /.search`, and §3.4.2.1's
 * `GET` on the root): Users and Groups in one list, each with its own `schemas` and
 * `meta.resourceType`. Paged by index or by cursor, like /Users and /Groups.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { readsEveryMember } from '../../../directory/groups.ts';
import type { PageRequest } from '../../../directory/paging.ts';
import type { ListCursors } from '../../../directory/list-cursors.ts';
import type { SchemaRegistry } from '../../../scim/schemas.ts';
import type { RootSearch, ScimResource } from '../../../directory/search.ts';
import { parseSearchRequest, type RawListParameters } from '../../../scim/list.ts';
import { locationBase } from '../../../scim/resources.ts';
import { SCIM_CONTENT_TYPE } from '../../errors.ts';
import { parseListRequest, presenter, requireBody, runList, schemasIn, shows, type ListRequest } from './common.ts';
import { groupStateOf, membersToRead } from './groups.ts';
import { groupText, streamList } from './streamed.ts';
import { stateOf } from './users.ts';

/** Registers POST /.search and GET / on the SCIM scope; resources show the attributes of declared extensions too. */
export function rootRoutes(app: FastifyInstance, search: RootSearch, cursors: ListCursors, baseUrl: string): void {
  /**
   * Answers a search. A page that shows every member of its groups is written while they are
   * read (streamed.ts), in one held snapshot; a member check (`members[value eq "<id>"]`) reads
   * only the memberships of the ids named, as GET /Groups does.
   */
  async function answer(reply: FastifyReply, request: ListRequest, registry: SchemaRegistry): Promise<FastifyReply> {
    const showUser = presenter(registry.User, baseUrl, request.projection);
    const showGroup = presenter(registry.Group, baseUrl, request.projection);
    const withMembers = membersToRead(registry.Group, request.projection);
    const query = (page: PageRequest) => ({
      ...(request.filter ? { filter: request.filter } : {}),
      ...(request.sortBy ? { sortBy: request.sortBy } : {}),
      locationBases: { User: locationBase(baseUrl, 'User'), Group: locationBase(baseUrl, 'Group') },
      descending: request.descending,
      page,
      withGroups: shows(registry.User, 'groups', request.projection),
      withMembers,
    });
    const render = (resource: ScimResource) => (resource.resourceType === 'User' ? showUser(stateOf(resource.user)) : showGroup(groupStateOf(resource.group)));
    if (!readsEveryMember(withMembers)) {
      return reply.type(SCIM_CONTENT_TYPE).send(await runList('root', request, cursors, (page) => search.list(query(page)), render));
    }
    return streamList(reply, 'root', request, cursors, (page) => search.holdList(query(page)), (resource, held) =>
      resource.resourceType === 'User' ? JSON.stringify(render(resource)) : groupText(showGroup, groupStateOf(resource.group), held.members(resource.group)),
    );
  }

  app.post<{ Body: unknown }>('/.search', async (request, reply) => {
    return answer(reply, parseListRequest(parseSearchRequest(requireBody(request.body), request.query)), schemasIn(request));
  });

  app.get<{ Querystring: RawListParameters }>('/', async (request, reply) => {
    return answer(reply, parseListRequest(request.query), schemasIn(request));
  });
}
