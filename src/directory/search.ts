/**
 * The search from the root of the SCIM endpoint (RFC 7644 §3.4.3): Users and Groups in one
 * sorted, paged list. The filter is compiled for each resource type, an attribute one of them
 * lacks being absent on its resources; the page is read in one snapshot, by index or by keyset
 * like any list (paging.ts), then its resources are read by id.
 */
import type { AttributePath, Filter } from '../scim/filter/ast.ts';
import type { ResourceTypeName } from '../scim/schemas.ts';
import { compileRootFilter, compileRootSort } from '../store/filter-sql.ts';
import { createGroupQueries } from '../store/groups.ts';
import type { Store } from '../store/index.ts';
import { createMembershipQueries, type LinkedReference } from '../store/memberships.ts';
import { ROOT_SORT_KEY, createRootQueries, type RootBranch } from '../store/resources.ts';
import { answeredByIndex } from '../store/indexed-filters.ts';
import { readListSnapshot } from '../store/transact.ts';
import { createUserQueries } from '../store/users.ts';
import { holdRead, MEMBER_CHUNK, readsEveryMember, scimGroupOf, type HeldRead, type MemberRead, type ScimGroup } from './groups.ts';
import type { Executor } from '../store/executor.ts';
import { readPage, type Page, type PageRequest } from './paging.ts';
import type { ScimSchemas } from './scim-schemas.ts';
import { managerIdsOf, scimUserOf, type ScimUser } from './users.ts';

/** A resource of either type. */
export type ScimResource = { readonly resourceType: 'User'; readonly user: ScimUser } | { readonly resourceType: 'Group'; readonly group: ScimGroup };

export interface RootSearchQuery {
  readonly filter?: Filter;
  readonly sortBy?: AttributePath;
  /** Each type's endpoint URL with its trailing '/', for meta.location in filters and sorting. */
  readonly locationBases: Readonly<Record<ResourceTypeName, string>>;
  readonly descending: boolean;
  readonly page: PageRequest;
  /** False when `groups` will not be shown (users): memberships are then not read. */
  readonly withGroups: boolean;
  /** The members of groups to read: none, all, or a member check's (groups.ts MemberRead). */
  readonly withMembers: MemberRead;
}

/** Options of the root search. */
export interface RootSearchOptions {
  /** Members read per statement round of a held read; MEMBER_CHUNK when unset. */
  readonly memberChunk?: number;
}

/** Creates the root search over a store, with the schemas in force (declared extensions filter and sort too). */
export function createRootSearch(store: Store, scimSchemas: ScimSchemas, options: RootSearchOptions = {}) {
  const memberChunk = options.memberChunk ?? MEMBER_CHUNK;
  const root = createRootQueries();
  const users = createUserQueries(store.dialect);
  const groups = createGroupQueries(store.dialect);
  const memberships = createMembershipQueries(store.dialect);

  /** How a page is read in one snapshot, the filter and sort compiled once; groups come without members (`membersOf` adds them). */
  async function pageReader(query: RootSearchQuery) {
    const registry = await scimSchemas.current();
    const options = {
      User: { locationBase: query.locationBases.User, schemas: registry.User },
      Group: { locationBase: query.locationBases.Group, schemas: registry.Group },
    };
    const where = query.filter ? compileRootFilter(query.filter, store.dialect, options) : undefined;
    const sort = query.sortBy ? compileRootSort(query.sortBy, store.dialect, options) : undefined;
    const branches: Record<ResourceTypeName, RootBranch> = {
      User: { ...(where ? { where: where.User } : {}), ...(sort ? { orderBy: sort.User.expression } : {}) },
      Group: { ...(where ? { where: where.Group } : {}), ...(sort ? { orderBy: sort.Group.expression } : {}) },
    };
    return async (trx: Executor, membersOf?: (groupIds: readonly string[]) => Promise<Map<string, LinkedReference[]> | undefined>): Promise<Page<ScimResource>> => {
      const page = await readPage(
        {
          ...(sort ? { orderBy: ROOT_SORT_KEY, orderByNullable: sort.User.nullable || sort.Group.nullable } : {}),
          descending: query.descending,
          list: (listQuery) => root.list(trx, branches, listQuery),
          count: () => root.count(trx, branches),
          idOf: (entry) => entry.scimId,
        },
        query.page,
      );
      const ids = (type: ResourceTypeName) => page.items.filter((entry) => entry.resourceType === type).map((entry) => entry.scimId);
      const foundUsers = await users.findByScimIds(trx, ids('User'));
      const foundGroups = await groups.findByScimIds(trx, ids('Group'));
      const groupsOf = query.withGroups ? await memberships.groupsOf(trx, foundUsers.map((user) => user.id)) : undefined;
      const members = await membersOf?.(foundGroups.map((group) => group.id));
      const managers = await users.displaysByScimId(trx, managerIdsOf(foundUsers));
      const byId = new Map<string, ScimResource>();
      for (const user of foundUsers) byId.set(`User:${user.scimId}`, { resourceType: 'User', user: scimUserOf(user, groupsOf?.get(user.id), managers) });
      for (const group of foundGroups) byId.set(`Group:${group.scimId}`, { resourceType: 'Group', group: scimGroupOf(group, members?.get(group.id)) });
      // Read in the same snapshot as the page, so every entry is found.
      const items = page.items.flatMap((entry) => byId.get(`${entry.resourceType}:${entry.scimId}`) ?? []);
      return { ...page, items };
    };
  }

  return {
    /** A page of Users and Groups matching the filter, and how many match in all. */
    async list(query: RootSearchQuery): Promise<Page<ScimResource>> {
      const read = await pageReader(query);
      const among = query.withMembers;
      // As the lists of each type (users.ts, groups.ts): unless an index finds the resources of
      // both types, a list that may read every one is read where it holds no other request.
      const indexed = query.filter !== undefined && among === false && answeredByIndex(query.filter, 'User') && answeredByIndex(query.filter, 'Group');
      return readListSnapshot(store, indexed, async (trx) =>
        read(trx, async (groupIds) => {
          if (among === false) return undefined;
          // A member check (`members[value eq "<id>"]`) reads the memberships of the ids named only.
          return memberships.membersOf(trx, groupIds, among === true || readsEveryMember(among) ? undefined : among.among);
        }),
      );
    },

    /** list() held open (groups.ts HeldRead), its groups without members: for a page that shows every member. */
    async holdList(query: RootSearchQuery): Promise<HeldRead<Page<ScimResource>>> {
      const read = await pageReader(query);
      return holdRead(
        await store.openSnapshot(),
        (trx) => read(trx),
        (page) => page.items.flatMap((item) => (item.resourceType === 'Group' ? [item.group.group.id] : [])),
        (snapshot, groupIds) => memberships.membersOfGroupsInChunks(snapshot, groupIds, memberChunk),
      );
    },
  };
}

export type RootSearch = ReturnType<typeof createRootSearch>;
