/** SQL for groups and their SCIM links. Members are in memberships.ts. */
import { sql, type SelectQueryBuilder, type SqlBool } from 'kysely';
import { compiledOnce } from './compiled.ts';
import type { DialectAdapter } from './dialect.ts';
import type { Executor } from './executor.ts';
import { createMembershipQueries } from './memberships.ts';
import type { Database, GroupsTable } from './tables.ts';
import { containsPattern, keysetAfter, lockedReadsByScimId, orderScimList, sortKeyOf, withRowLock, type Listed, type ListQuery, type RowLock } from './users.ts';
import { caseKey } from '../text.ts';

/** A group row as the domain sees it. `scimId` is null for local groups. */
export interface StoredGroup {
  readonly id: string;
  readonly scimId: string | null;
  readonly name: string;
  readonly description: string | null;
  readonly externalId: string | null;
  readonly data: Record<string, unknown>;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly version: number;
}

export interface GroupWrite {
  readonly name: string;
  readonly externalId: string | null;
  readonly data: Record<string, unknown>;
  /** `data` folded for filtering (scim/keys.ts foldDocument), kept in step with it. */
  readonly fold: Record<string, unknown>;
}

/** A group that shares its name key with another group (migration 011 kept them all). */
export interface NameConflict {
  readonly id: string;
  readonly name: string;
  readonly key: string;
  /** 0 for the group that keeps the name, n > 0 for the others. */
  readonly conflict: number;
  readonly managed: boolean;
}

/** See users.ts conflictAfter: the mark is kept while the name keeps its key. */
function conflictAfter(name: string) {
  return sql<number>`CASE WHEN name_key = ${caseKey(name)} THEN name_conflict ELSE 0 END`;
}

/** Filters of the admin API's group list. */
export interface GroupFilter {
  /** Contained in the name, regardless of case. */
  readonly q?: string;
  readonly managed?: boolean;
  /** Only groups this user (internal id) belongs to. */
  readonly userId?: string;
  /** Only groups this user (internal id) does not belong to (SonarQube's `userId!`). */
  readonly notUserId?: string;
}

const GROUP_COLUMNS = [
  'g.id',
  'sg.scim_id',
  'g.name',
  'g.description',
  'g.external_id',
  'g.scim_data',
  'g.created_at',
  'g.updated_at',
  'g.version',
] as const;

type GroupRow = Omit<GroupsTable, 'name_key' | 'name_conflict' | 'scim_fold' | 'name_version' | 'name_changed_at'> & { scim_id: string | null };

/**
 * What users show of a group is its name (User.groups[].display) and its being linked to SCIM:
 * when either changes, `name_version` and `name_changed_at` move, and with them the version
 * and lastModified of every member (see resource-versions.ts), without writing their rows.
 */
function renamedIfChanged(name: string, now: string) {
  return {
    name_version: sql<number>`CASE WHEN name = ${name} THEN name_version ELSE name_version + 1 END`,
    name_changed_at: sql<string>`CASE WHEN name = ${name} THEN name_changed_at ELSE ${now} END`,
  };
}

/** Query factory for groups. */
export function createGroupQueries(dialect: DialectAdapter) {
  const memberships = createMembershipQueries(dialect);

  function toGroup(row: GroupRow): StoredGroup {
    return {
      id: row.id,
      scimId: row.scim_id,
      name: row.name,
      description: row.description,
      externalId: row.external_id,
      data: (dialect.fromJsonColumn(row.scim_data) ?? {}) as Record<string, unknown>,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      version: row.version,
    };
  }

  function selectGroups(db: Executor) {
    return db.selectFrom('groups as g').leftJoin('scim_groups as sg', 'sg.group_id', 'g.id').select(GROUP_COLUMNS);
  }

  // The group of every SCIM group request, read (and on PostgreSQL locked) by statements
  // compiled once (compiled.ts). Locked: an inner join (see users.ts findByScimId).
  const selectByScimId = compiledOnce((db: Executor, scimId: string) => selectGroups(db).where('sg.scim_id', '=', scimId));
  const selectLockedByScimId = lockedReadsByScimId((db, scimId, lock) =>
    withRowLock(db.selectFrom('groups as g').innerJoin('scim_groups as sg', 'sg.group_id', 'g.id').select(GROUP_COLUMNS).where('sg.scim_id', '=', scimId), lock, ['g', 'sg']),
  );

  return {
    /**
     * The group linked to a SCIM id, or undefined; `lock` locks it for the rest of the
     * transaction, which serialises every change to one group, members included.
     */
    async findByScimId(db: Executor, scimId: string, lock?: RowLock): Promise<StoredGroup | undefined> {
      const [row] = await (lock === undefined || !dialect.supportsRowLocks ? selectByScimId : selectLockedByScimId[lock])(db, scimId);
      return row ? toGroup(row) : undefined;
    },

    /** The groups linked to these SCIM ids (those that are), in no particular order. */
    async findByScimIds(db: Executor, scimIds: readonly string[]): Promise<StoredGroup[]> {
      if (scimIds.length === 0) return [];
      return (await selectGroups(db).where('sg.scim_id', 'in', scimIds).execute()).map(toGroup);
    },

    /**
     * The group whose name equals `name` regardless of case (text.ts caseKey, on the
     * groups_name_key index); where migration 011 left several, the one spelt exactly so wins.
     */
    async findByName(db: Executor, name: string): Promise<StoredGroup | undefined> {
      const row = await selectGroups(db)
        .where('g.name_key', '=', caseKey(name))
        .orderBy(sql`CASE WHEN g.name = ${name} THEN 0 ELSE 1 END`)
        .orderBy('g.name_conflict')
        .limit(1)
        .executeTakeFirst();
      return row ? toGroup(row) : undefined;
    },

    /** Groups that share a name key with another group (see migration 011), by key. */
    async nameConflicts(db: Executor): Promise<NameConflict[]> {
      // The marked rows first, on the partial index groups_name_conflicts: asked for their
      // keys alone, SQLite preferred to scan the whole covering index on (name_key, name_conflict)
      // (0.15 s at a million rows, on every start); asked for their ids too, it reads only them.
      const marked = await db.selectFrom('groups').select(['id', 'name_key']).where('name_conflict', '>', 0).execute();
      if (marked.length === 0) return [];
      const keys = [...new Set(marked.map((row) => row.name_key))];
      const rows = await db
        .selectFrom('groups as g')
        .leftJoin('scim_groups as sg', 'sg.group_id', 'g.id')
        .select(['g.id', 'g.name', 'g.name_key', 'g.name_conflict', 'sg.scim_id'])
        .where('g.name_key', 'in', keys)
        .orderBy('g.name_key')
        .orderBy('g.name_conflict')
        .execute();
      const counts = new Map<string, number>();
      for (const row of rows) counts.set(row.name_key, (counts.get(row.name_key) ?? 0) + 1);
      return rows
        .filter((row) => (counts.get(row.name_key) ?? 0) > 1)
        .map((row) => ({ id: row.id, name: row.name, key: row.name_key, conflict: row.name_conflict, managed: row.scim_id !== null }));
    },

    /**
     * The group with this internal id, linked or not. `lock` (PostgreSQL) locks its row for the
     * rest of the transaction: 'delete' for its deletion, 'write' for a member added to it, so
     * that neither acts on a group the other has just changed.
     */
    async findById(db: Executor, id: string, lock?: RowLock): Promise<StoredGroup | undefined> {
      const query = selectGroups(db).where('g.id', '=', id);
      const row = await (lock === undefined || !dialect.supportsRowLocks ? query : withRowLock(query, lock, ['g'])).executeTakeFirst();
      return row ? toGroup(row) : undefined;
    },

    /** Inserts a local group (admin API). */
    async insertLocal(db: Executor, id: string, name: string, description: string | null, now: string): Promise<void> {
      await db
        .insertInto('groups')
        .values({
          id,
          name,
          name_key: caseKey(name),
          description,
          external_id: null,
          scim_data: dialect.toJsonParameter({}),
          scim_fold: dialect.toJsonParameter({}),
          created_at: now,
          updated_at: now,
          version: 1,
          name_version: 1,
          name_changed_at: now,
        })
        .execute();
    },

    /** Renames a group or changes its description (admin API); SCIM attributes are kept. */
    async updateLocal(db: Executor, id: string, name: string, description: string | null, now: string): Promise<void> {
      await db
        .updateTable('groups')
        .set({
          name,
          name_key: caseKey(name),
          name_conflict: conflictAfter(name),
          description,
          updated_at: now,
          version: sql<number>`version + 1`,
          ...renamedIfChanged(name, now),
        })
        .where('id', '=', id)
        .execute();
    },

    /** A page of all groups, linked or not, ordered by name regardless of case (the groups_name_key index). */
    async listAll(db: Executor, filter: GroupFilter, offset: number, limit: number): Promise<StoredGroup[]> {
      const rows = await filterGroups(selectGroups(db), filter).orderBy('g.name_key').orderBy('g.id').limit(limit).offset(offset).execute();
      return rows.map(toGroup);
    },

    /** How many groups match the admin API's filters. */
    async countAll(db: Executor, filter: GroupFilter): Promise<number> {
      const row = await filterGroups(
        db.selectFrom('groups as g').leftJoin('scim_groups as sg', 'sg.group_id', 'g.id').select(sql<number>`count(*)`.as('n')),
        filter,
      ).executeTakeFirstOrThrow();
      return Number(row.n);
    },

    /** Removes every SCIM link of groups (back to just-in-time); returns how many there were. */
    async unlinkAll(db: Executor): Promise<number> {
      const result = await db.deleteFrom('scim_groups').executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    /** Inserts a group row. */
    async insert(db: Executor, id: string, write: GroupWrite, now: string): Promise<void> {
      await db
        .insertInto('groups')
        .values({
          id,
          name: write.name,
          name_key: caseKey(write.name),
          description: null,
          external_id: write.externalId,
          scim_data: dialect.toJsonParameter(write.data),
          scim_fold: dialect.toJsonParameter(write.fold),
          created_at: now,
          updated_at: now,
          version: 1,
          name_version: 1,
          name_changed_at: now,
        })
        .execute();
    },

    /** Overwrites the SCIM-owned columns and bumps the version. */
    async update(db: Executor, id: string, write: GroupWrite, now: string): Promise<void> {
      await db
        .updateTable('groups')
        .set({
          name: write.name,
          name_key: caseKey(write.name),
          name_conflict: conflictAfter(write.name),
          external_id: write.externalId,
          scim_data: dialect.toJsonParameter(write.data),
          scim_fold: dialect.toJsonParameter(write.fold),
          updated_at: now,
          version: sql<number>`version + 1`,
          ...renamedIfChanged(write.name, now),
        })
        .where('id', '=', id)
        .execute();
    },

    /** Marks a group as changed (members added or removed): new version and lastModified. */
    async touch(db: Executor, id: string, now: string): Promise<void> {
      await db
        .updateTable('groups')
        .set({ updated_at: now, version: sql<number>`version + 1` })
        .where('id', '=', id)
        .execute();
    },

    /**
     * On PostgreSQL, locks the groups `userId` belongs to, in id order, until the transaction
     * ends, without changing them: `share` for a rename of the user that groups do not show
     * (member-display.ts), so that a member change of one of them waits for it, or it for the
     * member change; `write` for a change of the user's memberships that then touches them (a
     * sign-in's group sync), which reads their names after the lock. Costs the user's groups,
     * never their sizes.
     */
    async lockGroupsOf(db: Executor, userId: string, lock: 'share' | 'write'): Promise<void> {
      if (!dialect.supportsRowLocks) return;
      const groupsOfUser = db.selectFrom('memberships').select('group_id').where('user_id', '=', userId);
      const query = db.selectFrom('groups').select('id').where('id', 'in', groupsOfUser).orderBy('id');
      await (lock === 'share' ? query.forShare() : query.forNoKeyUpdate()).execute();
    },

    /**
     * Marks as changed the groups `userId` belongs to, because what they show of it changed
     * (its display name, its SCIM link). Costs the user's groups, never their sizes.
     */
    async touchGroupsOf(db: Executor, userId: string, now: string): Promise<void> {
      const groupsOfUser = db.selectFrom('memberships').select('group_id').where('user_id', '=', userId);
      if (dialect.supportsRowLocks) {
        // Locked in id order first: two users' changes that touch the same groups then lock
        // them in the same order (an UPDATE … WHERE id IN (…) locks them in any order).
        await db.selectFrom('groups').select('id').where('id', 'in', groupsOfUser).orderBy('id').forNoKeyUpdate().execute();
      }
      await db
        .updateTable('groups')
        .set({ updated_at: now, version: sql<number>`version + 1` })
        .where('id', 'in', groupsOfUser)
        .execute();
    },

    /**
     * Deletes a group, its memberships, its link and its unique values. The memberships are
     * removed explicitly rather than by ON DELETE CASCADE, so that each member's groups are marked
     * as changed (no membership events: the caller records `group.deleted`, which stands for them).
     */
    async delete(db: Executor, id: string, now: string): Promise<void> {
      await memberships.removeAllOfDeletedGroup(db, id, now);
      await db.deleteFrom('scim_groups').where('group_id', '=', id).execute();
      await db.deleteFrom('scim_unique_values').where('resource_type', '=', 'Group').where('resource_id', '=', id).execute();
      await db.deleteFrom('groups').where('id', '=', id).execute();
    },

    /** Links a group to a SCIM id, making it managed: its members' User.groups now show it. */
    async link(db: Executor, scimId: string, groupId: string, now: string): Promise<void> {
      await db.insertInto('scim_groups').values({ scim_id: scimId, group_id: groupId }).execute();
      await db
        .updateTable('groups')
        .set({ name_version: sql<number>`name_version + 1`, name_changed_at: now })
        .where('id', '=', groupId)
        .execute();
    },

    /** A page of SCIM-linked groups matching a compiled filter, each with its sort key (see users.ts listLinked). */
    async listLinked(db: Executor, query: ListQuery): Promise<Listed<StoredGroup>[]> {
      let builder = db
        .selectFrom('groups as g')
        .innerJoin('scim_groups as sg', 'sg.group_id', 'g.id')
        .select([...GROUP_COLUMNS, (query.orderBy ?? sql`NULL`).as('sort_key')]);
      if (query.where) builder = builder.where(query.where);
      if (query.after) builder = builder.where(keysetAfter(query, query.after, 'sg.scim_id'));
      const rows = await orderScimList(builder, query, 'sg.scim_id').limit(query.limit).offset(query.offset).execute();
      return rows.map((row) => ({ row: toGroup(row), sortKey: sortKeyOf(row.sort_key) }));
    },

    /** How many SCIM-linked groups match a compiled filter. */
    async countLinked(db: Executor, where: ListQuery['where']): Promise<number> {
      let builder = db
        .selectFrom('groups as g')
        .innerJoin('scim_groups as sg', 'sg.group_id', 'g.id')
        .select(sql<number>`count(*)`.as('n'));
      if (where) builder = builder.where(where);
      const row = await builder.executeTakeFirstOrThrow();
      return Number(row.n);
    },
  };
}

type GroupSelect = SelectQueryBuilder<Database & { g: Database['groups']; sg: Database['scim_groups'] }, 'g' | 'sg', any>;

function filterGroups<Q extends GroupSelect>(builder: Q, filter: GroupFilter): Q {
  let query: GroupSelect = builder;
  if (filter.q !== undefined && filter.q !== '') {
    query = query.where(sql<SqlBool>`g.name_key LIKE ${containsPattern(caseKey(filter.q))} ESCAPE '\\'`);
  }
  if (filter.managed !== undefined) query = query.where('sg.scim_id', filter.managed ? 'is not' : 'is', null);
  if (filter.userId !== undefined) {
    const userId = filter.userId;
    // EXISTS on the (user_id, group_id) index: cost follows the user's groups, not the groups' sizes.
    query = query.where((eb) =>
      eb.exists(eb.selectFrom('memberships as m').select('m.group_id').whereRef('m.group_id', '=', 'g.id').where('m.user_id', '=', userId)),
    );
  }
  const notUserId = filter.notUserId;
  if (notUserId !== undefined) {
    query = query.where((eb) =>
      eb.not(eb.exists(eb.selectFrom('memberships as m').select('m.group_id').whereRef('m.group_id', '=', 'g.id').where('m.user_id', '=', notUserId))),
    );
  }
  return query as Q;
}

export type GroupQueries = ReturnType<typeof createGroupQueries>;
