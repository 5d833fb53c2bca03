/**
 * SQL for group memberships: one row per (group, user). Every function costs in proportion
 * to the members it is given, never to the size of the group. Every change is also counted
 * in user_membership_changes for the users it concerns, in the same statement sequence, since
 * a user's SCIM version and lastModified follow its groups (resource-versions.ts).
 */
import { sql } from 'kysely';
import type { DialectAdapter } from './dialect.ts';
import { compiledOnce } from './compiled.ts';
import type { Executor } from './executor.ts';

/** A member or a group as SCIM shows it: its SCIM id and a display name. */
export interface LinkedReference {
  readonly scimId: string;
  readonly display: string;
}

/** What a group's `members[].display` shows of a user. */
export interface MemberDisplaySource {
  readonly login: string;
  readonly displayName: string | null;
}

/**
 * How a group shows a member (Group.members[].display): its display name, else its userName.
 * One function, so that writers can tell when a user's change changes its groups.
 */
export function memberDisplay(user: MemberDisplaySource): string {
  return user.displayName ?? user.login;
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
  // The administrator check of every API request, compiled once (compiled.ts).
  const selectAdministrator = compiledOnce((db: Executor, userId: string, adminGroup: string) =>
    db
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
        ),
  );

  /**
   * Counts one more membership change for each user, dated `now`. Users are taken in id
   * order, so that two transactions marking the same users lock their rows in the same order.
   */
  async function markChanged(db: Executor, userIds: readonly string[], now: string): Promise<void> {
    for (const chunk of chunks([...new Set(userIds)].sort())) {
      await db
        .insertInto('user_membership_changes')
        .values(chunk.map((userId) => ({ user_id: userId, changes: 1, changed_at: now })))
        .onConflict((conflict) =>
          conflict.column('user_id').doUpdateSet({ changes: sql<number>`user_membership_changes.changes + 1`, changed_at: now }),
        )
        .execute();
    }
  }

  /** Removes the given members, in chunks, and returns those that were members. */
  async function removeRows(db: Executor, groupId: string, userIds: readonly string[]): Promise<string[]> {
    const removed: string[] = [];
    for (const chunk of chunks([...new Set(userIds)])) {
      const rows = await db
        .deleteFrom('memberships')
        .where('group_id', '=', groupId)
        .where('user_id', 'in', chunk)
        .returning('user_id')
        .execute();
      for (const row of rows) removed.push(row.user_id);
    }
    return removed;
  }

  /** Adds members, ignoring those already in the group. Returns how many were added. */
  async function add(db: Executor, groupId: string, userIds: readonly string[], now: string): Promise<number> {
    const added: string[] = [];
    for (const chunk of chunks([...new Set(userIds)])) {
      // RETURNING lists the rows inserted, not those the conflict skipped (both databases).
      const rows = await db
        .insertInto('memberships')
        .values(chunk.map((userId) => ({ group_id: groupId, user_id: userId, created_at: now })))
        .onConflict((conflict) => conflict.columns(['group_id', 'user_id']).doNothing())
        .returning('user_id')
        .execute();
      for (const row of rows) added.push(row.user_id);
    }
    await markChanged(db, added, now);
    return added.length;
  }

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

    add,

    /** Removes the given members; absent ones are ignored. Returns how many were removed. */
    async remove(db: Executor, groupId: string, userIds: readonly string[], now: string): Promise<number> {
      const removed = await removeRows(db, groupId, userIds);
      await markChanged(db, removed, now);
      return removed.length;
    },

    /** Removes every member of a group; returns how many there were. */
    async removeAll(db: Executor, groupId: string, now: string): Promise<number> {
      const rows = await db.deleteFrom('memberships').where('group_id', '=', groupId).returning('user_id').execute();
      const removed = rows.map((row) => row.user_id);
      await markChanged(db, removed, now);
      return removed.length;
    },

    /**
     * Makes the group's members exactly `userIds`: removes the others, adds the missing ones,
     * leaves the rest alone, so that replacing members with the same members changes no user.
     * Reads the group's current members (a replace names all of them anyway).
     */
    async replace(db: Executor, groupId: string, userIds: readonly string[], now: string): Promise<{ added: number; removed: number }> {
      const wanted = new Set(userIds);
      const current = await db.selectFrom('memberships').select('user_id').where('group_id', '=', groupId).execute();
      const present = new Set(current.map((row) => row.user_id));
      const removed = await removeRows(db, groupId, [...present].filter((id) => !wanted.has(id)));
      await markChanged(db, removed, now);
      const added = await add(db, groupId, [...wanted].filter((id) => !present.has(id)), now);
      return { added, removed: removed.length };
    },

    /** The internal ids of every group a user belongs to, whether the user is active or not. */
    async groupIdsOfUser(db: Executor, userId: string): Promise<string[]> {
      const rows = await db.selectFrom('memberships').select('group_id').where('user_id', '=', userId).orderBy('group_id').execute();
      return rows.map((row) => row.group_id);
    },

    /** Removes a user from every group (deactivation); returns the internal ids of those groups. */
    async removeUserEverywhere(db: Executor, userId: string, now: string): Promise<string[]> {
      const rows = await db.selectFrom('memberships').select('group_id').where('user_id', '=', userId).orderBy('group_id').execute();
      await db.deleteFrom('memberships').where('user_id', '=', userId).execute();
      if (rows.length > 0) await markChanged(db, [userId], now);
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
      return (await selectAdministrator(db, userId, adminGroup)).length > 0;
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
          result.get(row.group_id)?.push({ scimId: row.scim_id, display: memberDisplay({ login: row.login, displayName: row.display_name }) });
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
