/**
 * SQL for group memberships: one row per (group, user). Every function costs in proportion
 * to the members it is given, never to the size of the group.
 */
import { sql } from 'kysely';
import type { DialectAdapter } from './dialect.ts';
import type { Executor } from './executor.ts';

/** A member or a group as SCIM shows it: its SCIM id and a display name. */
export interface LinkedReference {
  readonly scimId: string;
  readonly display: string;
}

/** One membership row. */
export interface MembershipRow {
  readonly groupId: string;
  readonly userId: string;
}

/** Filters of the admin API's membership list; at least one keeps it on an index. */
export interface MembershipFilter {
  readonly groupId?: string;
  readonly userId?: string;
}

// SQLite allows 32766 bound parameters per statement; PostgreSQL 65535. Stay well below.
const CHUNK = 500;

function chunks<T>(items: readonly T[]): T[][] {
  const result: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) result.push(items.slice(i, i + CHUNK));
  return result;
}

/** Query factory for memberships. */
export function createMembershipQueries(dialect: DialectAdapter) {
  return {
    /**
     * Maps SCIM user ids to internal user ids; ids that are not linked users are absent.
     * On PostgreSQL the links found are share-locked (FOR KEY SHARE) until the transaction
     * ends, so that a user deleted concurrently cannot be added to a group after its removal
     * from every group: the deletion waits, or this read waits and finds the user gone.
     */
    async resolveUserScimIds(db: Executor, scimIds: readonly string[]): Promise<Map<string, string>> {
      const result = new Map<string, string>();
      for (const chunk of chunks([...new Set(scimIds)])) {
        const query = db.selectFrom('scim_users').select(['scim_id', 'user_id']).where('scim_id', 'in', chunk).orderBy('scim_id');
        // Sorted, so that two transactions lock shared users in the same order.
        const rows = await (dialect.supportsRowLocks ? query.forKeyShare() : query).execute();
        for (const row of rows) result.set(row.scim_id, row.user_id);
      }
      return result;
    },

    /** Whether this user is a member of this group. */
    async exists(db: Executor, groupId: string, userId: string): Promise<boolean> {
      const row = await db.selectFrom('memberships').select('user_id').where('group_id', '=', groupId).where('user_id', '=', userId).executeTakeFirst();
      return row !== undefined;
    },

    /** A page of memberships, in (group, user) order: the primary key or the user index serves it. */
    async list(db: Executor, filter: MembershipFilter, offset: number, limit: number): Promise<MembershipRow[]> {
      let builder = db.selectFrom('memberships').select(['group_id', 'user_id']);
      if (filter.groupId !== undefined) builder = builder.where('group_id', '=', filter.groupId);
      if (filter.userId !== undefined) builder = builder.where('user_id', '=', filter.userId);
      const rows = await builder.orderBy('group_id').orderBy('user_id').limit(limit).offset(offset).execute();
      return rows.map((row) => ({ groupId: row.group_id, userId: row.user_id }));
    },

    /** How many memberships match. */
    async count(db: Executor, filter: MembershipFilter): Promise<number> {
      let builder = db.selectFrom('memberships').select((eb) => eb.fn.countAll<number>().as('n'));
      if (filter.groupId !== undefined) builder = builder.where('group_id', '=', filter.groupId);
      if (filter.userId !== undefined) builder = builder.where('user_id', '=', filter.userId);
      const row = await builder.executeTakeFirstOrThrow();
      return Number(row.n);
    },

    /** Adds members, ignoring those already in the group. Returns how many were added. */
    async add(db: Executor, groupId: string, userIds: readonly string[], now: string): Promise<number> {
      let added = 0;
      for (const chunk of chunks([...new Set(userIds)])) {
        const result = await db
          .insertInto('memberships')
          .values(chunk.map((userId) => ({ group_id: groupId, user_id: userId, created_at: now })))
          .onConflict((conflict) => conflict.columns(['group_id', 'user_id']).doNothing())
          .executeTakeFirst();
        added += Number(result.numInsertedOrUpdatedRows ?? 0);
      }
      return added;
    },

    /** Removes the given members; absent ones are ignored. Returns how many were removed. */
    async remove(db: Executor, groupId: string, userIds: readonly string[]): Promise<number> {
      let removed = 0;
      for (const chunk of chunks([...new Set(userIds)])) {
        const result = await db
          .deleteFrom('memberships')
          .where('group_id', '=', groupId)
          .where('user_id', 'in', chunk)
          .executeTakeFirst();
        removed += Number(result.numDeletedRows);
      }
      return removed;
    },

    /** Removes every member of a group. */
    async removeAll(db: Executor, groupId: string): Promise<number> {
      const result = await db.deleteFrom('memberships').where('group_id', '=', groupId).executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    /** The internal ids of every group a user belongs to, whether the user is active or not. */
    async groupIdsOfUser(db: Executor, userId: string): Promise<string[]> {
      const rows = await db.selectFrom('memberships').select('group_id').where('user_id', '=', userId).orderBy('group_id').execute();
      return rows.map((row) => row.group_id);
    },

    /** Removes a user from every group (deactivation); returns the internal ids of those groups. */
    async removeUserEverywhere(db: Executor, userId: string): Promise<string[]> {
      const rows = await db.selectFrom('memberships').select('group_id').where('user_id', '=', userId).orderBy('group_id').execute();
      await db.deleteFrom('memberships').where('user_id', '=', userId).execute();
      return rows.map((row) => row.group_id);
    },

    /**
     * The groups of a user that count for access: its memberships if the user is active, none
     * otherwise. The active flag is read in the same statement, so no deactivation can slip
     * between the check and the read. Served by the memberships' user index.
     */
    async accessGroupsOf(db: Executor, userId: string): Promise<Array<{ id: string; name: string }>> {
      return db
        .selectFrom('memberships as m')
        .innerJoin('users as u', 'u.id', 'm.user_id')
        .innerJoin('groups as g', 'g.id', 'm.group_id')
        .select(['g.id', 'g.name'])
        .where('m.user_id', '=', userId)
        .where('u.active', '=', 1)
        .orderBy('g.name')
        .orderBy('g.id')
        .execute();
    },

    /**
     * Whether `userId` is an administrator now: an active user flagged admin, or an active
     * member of the group named `adminGroup` (regardless of case, as group names are unique).
     * One statement, so that no deactivation or membership change slips between two reads;
     * the user's primary key, the group-name index and the memberships' key serve it.
     */
    async isAdministrator(db: Executor, userId: string, adminGroup: string): Promise<boolean> {
      const row = await db
        .selectFrom('users as u')
        .select('u.id')
        .where('u.id', '=', userId)
        .where('u.active', '=', 1)
        .where((eb) =>
          eb.or([
            eb('u.is_admin', '=', 1),
            eb.exists(
              eb
                .selectFrom('groups as g')
                .innerJoin('memberships as m', 'm.group_id', 'g.id')
                .select('m.user_id')
                .where(sql<string>`lower(g.name)`, '=', sql<string>`lower(${adminGroup})`)
                .whereRef('m.user_id', '=', 'u.id'),
            ),
          ]),
        )
        .executeTakeFirst();
      return row !== undefined;
    },

    /** The SCIM-linked members of each group, by internal group id, in a stable order. */
    async membersOf(db: Executor, groupIds: readonly string[]): Promise<Map<string, LinkedReference[]>> {
      const result = new Map<string, LinkedReference[]>();
      for (const id of groupIds) result.set(id, []);
      for (const chunk of chunks(groupIds)) {
        const rows = await db
          .selectFrom('memberships as m')
          .innerJoin('scim_users as su', 'su.user_id', 'm.user_id')
          .innerJoin('users as u', 'u.id', 'm.user_id')
          .select(['m.group_id', 'su.scim_id', 'u.login', 'u.display_name'])
          .where('m.group_id', 'in', chunk)
          .orderBy('m.group_id')
          .orderBy('su.scim_id')
          .execute();
        for (const row of rows) {
          result.get(row.group_id)?.push({ scimId: row.scim_id, display: row.display_name ?? row.login });
        }
      }
      return result;
    },

    /** The SCIM-linked groups of each user, by internal user id. */
    async groupsOf(db: Executor, userIds: readonly string[]): Promise<Map<string, LinkedReference[]>> {
      const result = new Map<string, LinkedReference[]>();
      for (const id of userIds) result.set(id, []);
      for (const chunk of chunks(userIds)) {
        const rows = await db
          .selectFrom('memberships as m')
          .innerJoin('scim_groups as sg', 'sg.group_id', 'm.group_id')
          .innerJoin('groups as g', 'g.id', 'm.group_id')
          .select(['m.user_id', 'sg.scim_id', 'g.name'])
          .where('m.user_id', 'in', chunk)
          .orderBy('m.user_id')
          .orderBy('g.name')
          .execute();
        for (const row of rows) result.get(row.user_id)?.push({ scimId: row.scim_id, display: row.name });
      }
      return result;
    },
  };
}

export type MembershipQueries = ReturnType<typeof createMembershipQueries>;
