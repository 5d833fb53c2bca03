/**
 * SQL over Users and Groups at once: the search from the root of the SCIM endpoint (RFC 7644
 * §3.4.3). Each resource type contributes its matching resources with their sort key; the
 * union is ordered and paged like one list (users.ts orderScimList and keysetAfter), and the
 * caller then reads the page's resources by id.
 */
import { sql, type RawBuilder, type SqlBool } from 'kysely';
import type { ResourceTypeName } from '../scim/schemas.ts';
import type { Executor } from './executor.ts';
import { keysetAfter, orderScimList, sortKeyOf, type Listed, type ListQuery } from './users.ts';

/** What one resource type contributes: its filter and sort key (compiled for its aliases). */
export interface RootBranch {
  readonly where?: RawBuilder<SqlBool>;
  readonly orderBy?: RawBuilder<unknown>;
}

/** A resource of a root search page, before it is read. */
export interface RootEntry {
  readonly resourceType: ResourceTypeName;
  readonly scimId: string;
}

/** The sort key of the union, for ListQuery.orderBy when the search is sorted. */
export const ROOT_SORT_KEY: RawBuilder<unknown> = sql.ref('r.sort_key');

function union(branches: Readonly<Record<ResourceTypeName, RootBranch>>): RawBuilder<unknown> {
  const { User: user, Group: group } = branches;
  const users = sql`SELECT 'User' AS resource_type, su.scim_id AS scim_id, ${user.orderBy ?? sql`NULL`} AS sort_key
    FROM users AS u INNER JOIN scim_users AS su ON su.user_id = u.id WHERE ${user.where ?? sql`1 = 1`}`;
  const groups = sql`SELECT 'Group' AS resource_type, sg.scim_id AS scim_id, ${group.orderBy ?? sql`NULL`} AS sort_key
    FROM groups AS g INNER JOIN scim_groups AS sg ON sg.group_id = g.id WHERE ${group.where ?? sql`1 = 1`}`;
  return sql`(${users} UNION ALL ${groups})`;
}

/** Query factory for searches over every resource type. */
export function createRootQueries() {
  return {
    /**
     * A page of the union, as ListQuery asks: `orderBy` is ROOT_SORT_KEY when sorted (the
     * branches' keys), and SCIM ids break ties across both types, so the order is total.
     */
    async list(db: Executor, branches: Readonly<Record<ResourceTypeName, RootBranch>>, query: ListQuery): Promise<Listed<RootEntry>[]> {
      let builder = db.selectFrom(union(branches).as('r')).select([sql<string>`r.resource_type`.as('resource_type'), sql<string>`r.scim_id`.as('scim_id'), sql`r.sort_key`.as('sort_key')]);
      if (query.after) builder = builder.where(keysetAfter(query, query.after, 'r.scim_id'));
      const rows = await orderScimList(builder, query, 'r.scim_id').limit(query.limit).offset(query.offset).execute();
      return rows.map((row) => ({
        row: { resourceType: row.resource_type === 'Group' ? 'Group' : 'User', scimId: row.scim_id },
        sortKey: sortKeyOf(row.sort_key),
      }));
    },

    /** How many resources of either type match their branch's filter. */
    async count(db: Executor, branches: Readonly<Record<ResourceTypeName, RootBranch>>): Promise<number> {
      const row = await db.selectFrom(union(branches).as('r')).select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
      return Number(row.n);
    },
  };
}
