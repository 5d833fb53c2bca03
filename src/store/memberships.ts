/**
 * SQL for group memberships: one row per (group, user). Every function costs in proportion
 * to the members it is given, never to the size of the group (a replace: to the members
 * named and the members removed). Every change, in the same statements:
 *
 * - writes its membership events (store/journal.ts): no membership changes without its event;
 * - counts one more membership change, in user_membership_changes, for each user it concerns,
 *   since a user's SCIM version and lastModified follow its groups (resource-versions.ts).
 *
 * Both are made from the rows the change actually inserted or deleted, set-based, so that a
 * 100k-member replace never brings the group into memory and a member kept is not touched.
 */
import { sql, type ExpressionBuilder, type RawBuilder, type SelectQueryBuilder, type SqlBool } from 'kysely';
import type { DialectAdapter } from './dialect.ts';
import { compiledOnce } from './compiled.ts';
import type { Executor } from './executor.ts';
import type { HeldSnapshot } from './held-snapshot.ts';
import { membershipEvents, type EventStamp } from './journal.ts';
import type { Database } from './tables.ts';
import { turnOfEventLoop } from './turn.ts';
import { caseKey } from '../text.ts';

/** A member or a group as SCIM shows it: its SCIM id and a display name. */
export interface LinkedReference {
  readonly scimId: string;
  readonly display: string;
}

/** A member of one of several groups read together: the group's internal id and the member. */
export interface GroupMember extends LinkedReference {
  readonly groupId: string;
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

/**
 * The most distinct SCIM ids a member change sends inline, as bound values of its statements;
 * longer lists are staged (staged_members) and applied set-based. IdPs (Entra ID, Okta) add or
 * remove one member per PATCH: inline, an add is one statement on PostgreSQL instead of five and
 * a removal one instead of three, with no staging rows to write and delete.
 */
export const INLINE_MEMBERS = 50;

// SQLite allows 32766 bound parameters per statement; PostgreSQL 65535. Stay well below.
const CHUNK = 500;

/**
 * The most SCIM user ids membersOf looks up by `only`: one statement per chunk of groups, its
 * ids in one IN list, so that the members come back in the order of a full read.
 */
export const MEMBER_LOOKUP_IDS = CHUNK;

/**
 * How many members one statement of a large member change adds or removes on SQLite, where a
 * statement runs in this process and holds every socket of the server until it ends: the
 * 100,000 members of an IdP's first push of a big group were one INSERT with its events, 2.5–3 s
 * without an answer to anything, `/livez` included (15 s on a loaded machine), and a replace
 * dropping half of them one DELETE of 0.6 s. In slices with a turn of the event loop between
 * them (the transaction stays one), each holds the server a few tens of milliseconds.
 */
const MEMBERS_PER_STATEMENT = 5_000;

function chunks<T>(items: readonly T[]): T[][] {
  const result: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) result.push(items.slice(i, i + CHUNK));
  return result;
}

/** Query factory for memberships. */
/**
 * The condition "the user `u` is an administrator now": active, and flagged admin or a member
 * of the group whose name key is `adminGroupKey`. The one definition of the rule in SQL: the
 * administrator check (isAdministrator) and the bearer-token lookup, which reads it in the
 * same statement as the token (tokens.ts), both use it.
 */
export function administratorCondition(eb: ExpressionBuilder<Database & { u: Database['users'] }, 'u'>, adminGroupKey: string) {
  return eb.and([
    eb('u.active', '=', 1),
    eb.or([
      eb('u.is_admin', '=', 1),
      eb.exists(
        eb
          .selectFrom('groups as g')
          .innerJoin('memberships as m', 'm.group_id', 'g.id')
          .select('m.user_id')
          .where('g.name_key', '=', adminGroupKey)
          .whereRef('m.user_id', '=', 'u.id'),
      ),
    ]),
  ]);
}

export function createMembershipQueries(dialect: DialectAdapter) {
  // The administrator check of every API request, compiled once (compiled.ts).
  // The groups a user's access follows, read by every forward-auth question: compiled once.
  const selectAccessGroups = compiledOnce((db: Executor, userId: string) =>
    db
      .selectFrom('memberships as m')
      .innerJoin('users as u', 'u.id', 'm.user_id')
      .innerJoin('groups as g', 'g.id', 'm.group_id')
      .select(['g.id', 'g.name'])
      .where('m.user_id', '=', userId)
      .where('u.active', '=', 1)
      .orderBy('g.name')
      .orderBy('g.id'),
  );
  const selectAdministrator = compiledOnce((db: Executor, userId: string, adminGroupKey: string) =>
    db.selectFrom('users as u').select('u.id').where('u.id', '=', userId).where((eb) => administratorCondition(eb, adminGroupKey)),
  );
  // The groups of one user and the members of one group (a SCIM GET), compiled once.
  const selectGroupsOfUser = compiledOnce((db: Executor, userId: string) =>
    db
      .selectFrom('memberships as m')
      .innerJoin('scim_groups as sg', 'sg.group_id', 'm.group_id')
      .innerJoin('groups as g', 'g.id', 'm.group_id')
      .select(['m.user_id', 'sg.scim_id', 'g.name'])
      .where('m.user_id', '=', userId)
      .orderBy('g.name'),
  );
  const selectMembersOfGroup = compiledOnce((db: Executor, groupId: string) =>
    db
      .selectFrom('memberships as m')
      .innerJoin('scim_users as su', 'su.user_id', 'm.user_id')
      .innerJoin('users as u', 'u.id', 'm.user_id')
      .select(['m.group_id', 'su.scim_id', 'u.login', 'u.display_name'])
      .where('m.group_id', '=', groupId)
      .orderBy('su.scim_id'),
  );

  /**
   * The members of these groups, or only those among `among` (SCIM user ids: a member check).
   * Both databases plan the joins themselves: with `among`, from those ids through the SCIM
   * link's key to the memberships' (group, user) key, without reading the group's other members.
   */
  function selectMembersOfGroups(db: Executor, groupIds: readonly string[], among?: readonly string[]) {
    return db
      .selectFrom('memberships as m')
      .innerJoin('scim_users as su', 'su.user_id', 'm.user_id')
      .innerJoin('users as u', 'u.id', 'm.user_id')
      .select(['m.group_id', 'su.scim_id', 'u.login', 'u.display_name'])
      .where('m.group_id', 'in', groupIds)
      .$if(among !== undefined, (query) => query.where('su.scim_id', 'in', among ?? []))
      .orderBy('m.group_id')
      .orderBy('su.scim_id')
      .execute();
  }

  /**
   * `INSERT INTO user_membership_changes … SELECT`: one more change, dated `now`, for each
   * distinct user of `rows` (a table expression aliased `r` with a `user_id` column). Users are
   * taken in id order, so that two transactions marking the same users lock their rows in the
   * same order. (`WHERE true`: SQLite's parser needs it before an upsert's ON CONFLICT.)
   */
  function markChanged(rows: RawBuilder<unknown>, now: string): RawBuilder<unknown> {
    return sql`INSERT INTO user_membership_changes (user_id, changes, changed_at)
      SELECT DISTINCT r.user_id, 1, ${now} FROM ${rows} WHERE true ORDER BY r.user_id
      ON CONFLICT (user_id) DO UPDATE SET changes = user_membership_changes.changes + 1, changed_at = ${now}`;
  }

  /**
   * Runs `change` (an INSERT or DELETE on memberships, without RETURNING) and, in the same
   * transaction, for the rows it actually changed: one membership event of `events.type` each
   * (none when `events` is undefined: a group's deletion, whose `group.deleted` stands for
   * them), and one more membership change per user concerned, dated `now`. Where the database
   * allows, one statement: both are made from the rows the change returns, so a row another
   * transaction changed first is never counted twice. Elsewhere (SQLite) `preview` selects those
   * rows first, which is exact because writes there are serialised. Returns how many rows changed.
   */
  async function recordedChange(
    db: Executor,
    events: { readonly type: string; readonly stamp: EventStamp } | undefined,
    now: string,
    change: RawBuilder<unknown>,
    preview: RawBuilder<unknown>,
  ): Promise<number> {
    return (await recordedRows(db, events, now, change, preview, false)).changed;
  }

  /**
   * `recordedChange`, also naming the groups of the rows changed when `withGroups` (one entry
   * per row, in group id order: meant for changes of one user's memberships, whose rows are
   * few). They are the rows the change itself removed or added, so a caller reporting them (an
   * audit entry) never names a membership another transaction changed first.
   */
  async function recordedRows(
    db: Executor,
    events: { readonly type: string; readonly stamp: EventStamp } | undefined,
    now: string,
    change: RawBuilder<unknown>,
    preview: RawBuilder<unknown>,
    withGroups: boolean,
  ): Promise<{ changed: number; groupIds: string[] }> {
    if (dialect.dataModifyingCte) {
      const written = events === undefined ? sql`` : sql`, written AS (${membershipEvents(dialect, events.type, events.stamp, sql`changed AS r`)})`;
      const prefix = sql`WITH changed AS (${change} RETURNING group_id, user_id)${written},
        marked AS (${markChanged(sql`changed AS r`, now)})`;
      if (withGroups) {
        const result = await sql<{ group_id: string }>`${prefix} SELECT group_id FROM changed ORDER BY group_id`.execute(db);
        return { changed: result.rows.length, groupIds: result.rows.map((row) => row.group_id) };
      }
      const result = await sql<{ n: number | string }>`${prefix} SELECT count(*) AS n FROM changed`.execute(db);
      return { changed: Number(result.rows[0]?.n ?? 0), groupIds: [] };
    }
    const groupIds = withGroups ? (await sql<{ group_id: string }>`SELECT r.group_id FROM (${preview}) AS r ORDER BY r.group_id`.execute(db)).rows.map((row) => row.group_id) : [];
    const eventCount = events === undefined ? undefined : Number((await membershipEvents(dialect, events.type, events.stamp, sql`(${preview}) AS r`).execute(db)).numAffectedRows ?? 0);
    await markChanged(sql`(${preview}) AS r`, now).execute(db);
    const changed = Number((await change.execute(db)).numAffectedRows ?? 0);
    // A guard on the statements agreeing: failing rolls the whole change back.
    if (eventCount !== undefined && eventCount !== changed) throw new Error(`membership change wrote ${eventCount} events for ${changed} rows`);
    return { changed, groupIds };
  }

  /** Changes memberships with one event of `type` per row changed; the stamp dates the change. */
  async function changeWithEvents(db: Executor, type: string, stamp: EventStamp, change: RawBuilder<unknown>, preview: RawBuilder<unknown>): Promise<number> {
    return recordedChange(db, { type, stamp }, stamp.occurredAt, change, preview);
  }

  /** Deletes the memberships matching `where`, with one `group.user_removed` event each. */
  async function deleteWithEvents(db: Executor, stamp: EventStamp, where: RawBuilder<unknown>): Promise<number> {
    return changeWithEvents(
      db,
      'group.user_removed',
      stamp,
      sql`DELETE FROM memberships WHERE ${where}`,
      sql`SELECT group_id, user_id FROM memberships WHERE ${where}`,
    );
  }

  /** Whether a membership's user is (or is not) among the staged SCIM ids of `batch`. */
  function staged(batch: string, among: boolean): RawBuilder<unknown> {
    const exists = sql`EXISTS (SELECT 1 FROM staged_members s JOIN scim_users su ON su.scim_id = s.scim_id WHERE s.batch = ${batch} AND su.user_id = memberships.user_id)`;
    return among ? exists : sql`NOT ${exists}`;
  }

  /** Adds members by internal user id (see `add` below). */
  async function addUsers(db: Executor, groupId: string, userIds: readonly string[], now: string, stamp: EventStamp): Promise<number> {
    let added = 0;
    for (const chunk of chunks([...new Set(userIds)])) {
      const candidates = sql`FROM users u WHERE u.id IN (${sql.join(chunk)})`;
      added += await changeWithEvents(
        db,
        'group.user_added',
        stamp,
        sql`INSERT INTO memberships (group_id, user_id, created_at) SELECT ${groupId}, u.id, ${now} ${candidates} ON CONFLICT (group_id, user_id) DO NOTHING`,
        sql`SELECT ${groupId} AS group_id, u.id AS user_id ${candidates} AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.group_id = ${groupId} AND m.user_id = u.id)`,
      );
    }
    return added;
  }

  /** `su.scim_id IN (…)`: at most INLINE_MEMBERS ids, never none. */
  function scimIdIn(scimIds: readonly string[]): RawBuilder<unknown> {
    if (scimIds.length === 0 || scimIds.length > INLINE_MEMBERS) throw new Error(`inline member list of ${scimIds.length} ids`);
    return sql`su.scim_id IN (${sql.join(scimIds)})`;
  }

  /**
   * Applies a member change to everything at once on PostgreSQL (one statement, its rows locked
   * in one order: see markChanged); on SQLite slice after slice of MEMBERS_PER_STATEMENT keys
   * of `column` (keys in order, read from an index by `keys`), with a turn of the event loop
   * between slices, in the one transaction all the same. `change` gets the slice's condition on
   * `column` (empty for everything); returns the rows changed in all.
   */
  async function inSlices(
    db: Executor,
    column: string,
    keys: (after: string | undefined) => SelectQueryBuilder<Database, keyof Database, { key: string }>,
    change: (slice: RawBuilder<unknown>) => Promise<number>,
  ): Promise<number> {
    if (dialect.remoteStatements) return change(sql``);
    let changed = 0;
    let after: string | undefined;
    for (;;) {
      const last = await keys(after).offset(MEMBERS_PER_STATEMENT - 1).limit(1).executeTakeFirst();
      const from = after === undefined ? sql`` : sql` AND ${sql.ref(column)} > ${after}`;
      changed += await change(last === undefined ? from : sql`${from} AND ${sql.ref(column)} <= ${last.key}`);
      if (last === undefined) return changed;
      after = last.key;
      await turnOfEventLoop();
    }
  }

  /** The SCIM ids staged in `batch` after `after`, in order (the staged rows' key), for inSlices. */
  function stagedKeys(db: Executor, batch: string) {
    return (after: string | undefined) =>
      db
        .selectFrom('staged_members')
        .select('scim_id as key')
        .where('batch', '=', batch)
        .$if(after !== undefined, (query) => query.where('scim_id', '>', after ?? ''))
        .orderBy('scim_id');
  }

  /** The user ids of a group's members after `after`, in order (the memberships' key), for inSlices. */
  function memberKeys(db: Executor, groupId: string) {
    return (after: string | undefined) =>
      db
        .selectFrom('memberships')
        .select('user_id as key')
        .where('group_id', '=', groupId)
        .$if(after !== undefined, (query) => query.where('user_id', '>', after ?? ''))
        .orderBy('user_id');
  }

  return {
    /** Whether the database locks rows (PostgreSQL): the change-row lock below is then needed. */
    locksRows: dialect.supportsRowLocks,

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

    /**
     * Adds members by internal user id, ignoring those already in the group (and ids that are
     * no user), with one `group.user_added` event per member added. Returns how many were added.
     */
    async add(db: Executor, groupId: string, userIds: readonly string[], now: string, stamp: EventStamp): Promise<number> {
      return addUsers(db, groupId, userIds, now, stamp);
    },

    /**
     * Removes the given members (internal ids; absent ones are ignored), with one
     * `group.user_removed` event per member removed. Returns how many were removed.
     */
    async remove(db: Executor, groupId: string, userIds: readonly string[], stamp: EventStamp): Promise<number> {
      let removed = 0;
      for (const chunk of chunks([...new Set(userIds)])) {
        removed += await deleteWithEvents(db, stamp, sql`group_id = ${groupId} AND user_id IN (${sql.join(chunk)})`);
      }
      return removed;
    },

    /** Removes every member of a group, with one `group.user_removed` event each. */
    async removeAll(db: Executor, groupId: string, stamp: EventStamp): Promise<number> {
      return inSlices(db, 'user_id', memberKeys(db, groupId), (slice) => deleteWithEvents(db, stamp, sql`group_id = ${groupId}${slice}`));
    },

    /**
     * Removes every member of a group being deleted (store/groups.ts `delete`), counting the
     * change for each member; no membership events: the group's `group.deleted` stands for
     * them (docs/events.md).
     */
    async removeAllOfDeletedGroup(db: Executor, groupId: string, now: string): Promise<number> {
      const where = sql`group_id = ${groupId}`;
      return recordedChange(db, undefined, now, sql`DELETE FROM memberships WHERE ${where}`, sql`SELECT group_id, user_id FROM memberships WHERE ${where}`);
    },

    /**
     * Stages SCIM user ids for the set-based changes below (`batch`: a fresh id per change).
     * A repeated id is staged once, at its first position.
     */
    async stage(db: Executor, batch: string, scimIds: readonly string[]): Promise<void> {
      for (let start = 0; start < scimIds.length; start += CHUNK) {
        const rows = scimIds.slice(start, start + CHUNK).map((scimId, index) => ({ batch, scim_id: scimId, position: start + index }));
        await db.insertInto('staged_members').values(rows).onConflict((conflict) => conflict.columns(['batch', 'scim_id']).doNothing()).execute();
        // On SQLite, others are answered between slices, as in the changes (MEMBERS_PER_STATEMENT).
        if (!dialect.remoteStatements && (start + CHUNK) % MEMBERS_PER_STATEMENT === 0) await turnOfEventLoop();
      }
    },

    /** Staged ids that are no SCIM user: the first `limit` in request order, and how many. */
    async unknownStaged(db: Executor, batch: string, limit: number): Promise<{ ids: string[]; count: number }> {
      const unknown = (eb: ExpressionBuilder<Database, 'staged_members'>) =>
        eb.not(eb.exists(eb.selectFrom('scim_users as su').select('su.scim_id').whereRef('su.scim_id', '=', 'staged_members.scim_id')));
      const rows = await db.selectFrom('staged_members').select('scim_id').where('batch', '=', batch).where(unknown).orderBy('position').limit(limit).execute();
      if (rows.length < limit) return { ids: rows.map((row) => row.scim_id), count: rows.length };
      const total = await db.selectFrom('staged_members').select((eb) => eb.fn.countAll<number>().as('n')).where('batch', '=', batch).where(unknown).executeTakeFirstOrThrow();
      return { ids: rows.map((row) => row.scim_id), count: Number(total.n) };
    },

    /**
     * On PostgreSQL, share-locks the staged users until the transaction ends: their SCIM links
     * (FOR KEY SHARE), so that a user deleted concurrently cannot be added to a group after its
     * removal from every group (the deletion waits, or this waits and finds the user gone), and
     * their rows (FOR SHARE), so that a rename committing meanwhile is waited for and the
     * `group.user_added` events written next name each user by the login it has when this
     * commits, after the rename in the feed (a statement's snapshot is taken when it starts: the
     * events of an insert that only waited on a rename would carry the login before it). Sorted,
     * so that two transactions lock shared users in the same order. Nothing is read back but a count.
     */
    async lockStaged(db: Executor, batch: string): Promise<void> {
      if (!dialect.supportsRowLocks) return;
      await sql`SELECT count(*) FROM (SELECT su.scim_id FROM staged_members s JOIN scim_users su ON su.scim_id = s.scim_id JOIN users u ON u.id = su.user_id
        WHERE s.batch = ${batch} ORDER BY su.scim_id FOR KEY SHARE OF su FOR SHARE OF u) locked`.execute(db);
    },

    /**
     * On PostgreSQL, locks the membership-change rows (user_membership_changes) of the users
     * staged in `batch`, in user id order, until the transaction ends. A request whose member
     * changes are several statements (a SCIM PATCH of 300 operations is 300 changes) would
     * otherwise lock its users' rows in request order, one change at a time, and two such
     * requests to different groups naming the same users in different orders deadlock;
     * PostgreSQL then kills one, which fails again on each retry (found by
     * test/deploy/crash.test.ts). Locked up front, in one order, they wait for each other instead.
     * A user without a row gets one meaning "no change yet" (0 changes, changed_at ''), which
     * resource-versions.ts reads exactly as a missing row, so versions and lastModified are
     * unchanged by the lock itself.
     */
    async lockChangeRows(db: Executor, batch: string): Promise<void> {
      if (!dialect.supportsRowLocks) return;
      await sql`INSERT INTO user_membership_changes (user_id, changes, changed_at)
        SELECT DISTINCT su.user_id, 0, '' FROM staged_members s JOIN scim_users su ON su.scim_id = s.scim_id WHERE s.batch = ${batch}
        ORDER BY su.user_id
        ON CONFLICT (user_id) DO UPDATE SET changes = user_membership_changes.changes`.execute(db);
    },

    /**
     * Adds the users with these SCIM ids (at most INLINE_MEMBERS) that are not members yet, with
     * their events: the inline counterpart of staging, checking, locking and `addStaged`. Returns
     * the ids that are users and how many were added. When some id is no user, the caller must
     * refuse the change and end the transaction (nothing was written). On PostgreSQL the users
     * are first locked as `lockStaged` locks them, by a statement of their own, so that the
     * insert and its events, which come next, read each user as a rename that came first left it.
     */
    async addByScimIds(db: Executor, groupId: string, scimIds: readonly string[], now: string, stamp: EventStamp): Promise<{ known: Set<string>; added: number }> {
      const known = new Set<string>();
      if (scimIds.length === 0) return { known, added: 0 };
      const lock = dialect.supportsRowLocks ? sql` FOR KEY SHARE OF su FOR SHARE OF u` : sql``;
      const users = await sql<{ scim_id: string; user_id: string }>`SELECT su.scim_id, su.user_id FROM scim_users su JOIN users u ON u.id = su.user_id
        WHERE ${scimIdIn(scimIds)} ORDER BY su.scim_id${lock}`.execute(db);
      for (const row of users.rows) known.add(row.scim_id);
      if (known.size < scimIds.length) return { known, added: 0 };
      return { known, added: await addUsers(db, groupId, users.rows.map((row) => row.user_id), now, stamp) };
    },

    /**
     * Removes the users with these SCIM ids (at most INLINE_MEMBERS; ids that are no user or no
     * member are ignored) from the group, with their events: the inline counterpart of
     * `removeStaged`. Returns how many were removed.
     */
    async removeByScimIds(db: Executor, groupId: string, scimIds: readonly string[], stamp: EventStamp): Promise<number> {
      if (scimIds.length === 0) return 0;
      return deleteWithEvents(db, stamp, sql`group_id = ${groupId} AND user_id IN (SELECT su.user_id FROM scim_users su WHERE ${scimIdIn(scimIds)})`);
    },

    /**
     * The inline counterpart of `lockChangeRows`, for at most INLINE_MEMBERS SCIM ids: on
     * PostgreSQL, locks their users' membership-change rows in user id order.
     */
    async lockChangeRowsOf(db: Executor, scimIds: readonly string[]): Promise<void> {
      if (!dialect.supportsRowLocks || scimIds.length === 0) return;
      await sql`INSERT INTO user_membership_changes (user_id, changes, changed_at)
        SELECT DISTINCT su.user_id, 0, '' FROM scim_users su WHERE ${scimIdIn(scimIds)}
        ORDER BY su.user_id
        ON CONFLICT (user_id) DO UPDATE SET changes = user_membership_changes.changes`.execute(db);
    },

    /** Adds the staged users that are not members yet, with their events (in slices: inSlices). Returns how many. */
    async addStaged(db: Executor, groupId: string, batch: string, now: string, stamp: EventStamp): Promise<number> {
      return inSlices(db, 's.scim_id', stagedKeys(db, batch), (slice) => {
        const candidates = sql`FROM staged_members s JOIN scim_users su ON su.scim_id = s.scim_id WHERE s.batch = ${batch}${slice}`;
        return changeWithEvents(
          db,
          'group.user_added',
          stamp,
          sql`INSERT INTO memberships (group_id, user_id, created_at) SELECT ${groupId}, su.user_id, ${now} ${candidates} ON CONFLICT (group_id, user_id) DO NOTHING`,
          sql`SELECT ${groupId} AS group_id, su.user_id AS user_id ${candidates} AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.group_id = ${groupId} AND m.user_id = su.user_id)`,
        );
      });
    },

    /** Removes the staged users from the group, with their events (in slices: inSlices). Returns how many. */
    async removeStaged(db: Executor, groupId: string, batch: string, stamp: EventStamp): Promise<number> {
      return inSlices(db, 'user_id', memberKeys(db, groupId), (slice) => deleteWithEvents(db, stamp, sql`group_id = ${groupId}${slice} AND ${staged(batch, true)}`));
    },

    /** Removes every member that is not staged (the first half of a replace), with their events (in slices: inSlices). */
    async keepOnlyStaged(db: Executor, groupId: string, batch: string, stamp: EventStamp): Promise<number> {
      return inSlices(db, 'user_id', memberKeys(db, groupId), (slice) => deleteWithEvents(db, stamp, sql`group_id = ${groupId}${slice} AND ${staged(batch, false)}`));
    },

    /** Forgets a batch; call it before the transaction ends. */
    async unstage(db: Executor, batch: string): Promise<void> {
      await db.deleteFrom('staged_members').where('batch', '=', batch).execute();
    },

    /** The internal ids of every group a user belongs to, whether the user is active or not. */
    async groupIdsOfUser(db: Executor, userId: string): Promise<string[]> {
      const rows = await db.selectFrom('memberships').select('group_id').where('user_id', '=', userId).orderBy('group_id').execute();
      return rows.map((row) => row.group_id);
    },

    /**
     * Removes a user from every group (deactivation), with one `group.user_removed` event per
     * group; returns the internal ids of those groups. The caller holds the user's row. On
     * PostgreSQL the groups are locked first, in id order (as touchGroupsOf, which the caller
     * runs next, takes them), by a statement of their own: a rename of one of them committing
     * meanwhile is waited for, and the events name the group as it is when this commits, after
     * the rename in the feed.
     */
    async removeUserEverywhere(db: Executor, userId: string, stamp: EventStamp): Promise<string[]> {
      const where = sql`user_id = ${userId}`;
      if (dialect.supportsRowLocks) {
        await db.selectFrom('groups').select('id').where('id', 'in', db.selectFrom('memberships').select('group_id').where('user_id', '=', userId)).orderBy('id').forNoKeyUpdate().execute();
      }
      const removed = await recordedRows(db, { type: 'group.user_removed', stamp }, stamp.occurredAt, sql`DELETE FROM memberships WHERE ${where}`, sql`SELECT group_id, user_id FROM memberships WHERE ${where}`, true);
      return removed.groupIds;
    },

    /**
     * The groups of a user that count for access: its memberships if the user is active, none
     * otherwise. The active flag is read in the same statement, so no deactivation can slip
     * between the check and the read. Served by the memberships' user index.
     */
    async accessGroupsOf(db: Executor, userId: string): Promise<Array<{ id: string; name: string }>> {
      return selectAccessGroups(db, userId);
    },

    /**
     * Whether `userId` is an administrator now: an active user flagged admin, or an active
     * member of the group named `adminGroup` (regardless of case, as group names are unique).
     * One statement, so that no deactivation or membership change slips between two reads;
     * the user's primary key, the group-name index and the memberships' key serve it.
     */
    async isAdministrator(db: Executor, userId: string, adminGroup: string): Promise<boolean> {
      return (await selectAdministrator(db, userId, caseKey(adminGroup))).length > 0;
    },

    /**
     * The internal ids of the administrators now (administratorCondition), in id order. With
     * `lock` on PostgreSQL their user rows are locked (FOR NO KEY UPDATE) until the transaction
     * ends, so that two transactions each taking away one of the last two administrators wait
     * for each other, and the second reads the first one's change.
     */
    async administratorIds(db: Executor, adminGroup: string, lock: boolean): Promise<string[]> {
      // Two reads that each start from an index, rather than administratorCondition's OR, which
      // made both databases visit every user (1.0–1.3 s at a million users, twice per
      // deactivation, every other write of a SQLite server waiting): the users flagged
      // administrators (the partial index users_administrators: `is_admin = 1` a literal, as
      // anyAdministrator says), then the active members of the administrators' group. Each is
      // locked in id order, and every caller takes them in this order.
      const locked = <Q extends { forNoKeyUpdate(tables: ['u']): Q }>(query: Q): Q => (lock && dialect.supportsRowLocks ? query.forNoKeyUpdate(['u']) : query);
      const flagged = await locked(db.selectFrom('users as u').select('u.id').where(sql<SqlBool>`u.is_admin = 1`).where('u.active', '=', 1).orderBy('u.id')).execute();
      const members = await locked(
        db
          .selectFrom('groups as g')
          .innerJoin('memberships as m', 'm.group_id', 'g.id')
          .innerJoin('users as u', 'u.id', 'm.user_id')
          .select('u.id')
          .where('g.name_key', '=', caseKey(adminGroup))
          .where('u.active', '=', 1)
          .orderBy('u.id'),
      ).execute();
      return [...new Set([...flagged, ...members].map((row) => row.id))].sort();
    },

    /**
     * The SCIM-linked members of each group, by internal group id, in a stable order. With
     * `only` (at most MEMBER_LOOKUP_IDS SCIM user ids): just the members among them, in the same
     * order, found through the SCIM link's key and the memberships' key (group, user) without
     * reading the other members of the group: a member check on a 100,000-member group reads
     * one row.
     */
    async membersOf(db: Executor, groupIds: readonly string[], only?: readonly string[]): Promise<Map<string, LinkedReference[]>> {
      const result = new Map<string, LinkedReference[]>();
      for (const id of groupIds) result.set(id, []);
      if (only !== undefined && only.length > MEMBER_LOOKUP_IDS) throw new Error(`member lookup of ${only.length} ids`);
      if (only !== undefined && only.length === 0) return result;
      for (const chunk of chunks(groupIds)) {
        const rows = only === undefined && chunk.length === 1 ? await selectMembersOfGroup(db, chunk[0]!) : await selectMembersOfGroups(db, chunk, only);
        for (const row of rows) {
          result.get(row.group_id)?.push({ scimId: row.scim_id, display: memberDisplay({ login: row.login, displayName: row.display_name }) });
        }
      }
      return result;
    },

    /**
     * Every member of the groups `groupIds`, group after group in the order given, each group's
     * in the order of membersOf, `size` at a time, read in `snapshot` (store/held-snapshot.ts):
     * the groups never come into memory whole.
     *
     * On PostgreSQL, one statement for the whole page, the groups' positions joined in as a
     * VALUES list (found by key, not through a CASE of every group) and sorted on: a statement
     * per group was planned, sorted and sent for each, and 50 groups of a page took 1.5 s. On
     * SQLite, a statement per group: in process, a statement costs no round trip, each group's
     * sort stays small, and the first members are written at once instead of after a sort of the
     * whole page (the same total time, measured).
     */
    async *membersOfGroupsInChunks(snapshot: HeldSnapshot, groupIds: readonly string[], size: number): AsyncGenerator<GroupMember[]> {
      if (groupIds.length === 0) return;
      const members = snapshot.db
        .selectFrom('memberships as m')
        .innerJoin('scim_users as su', 'su.user_id', 'm.user_id')
        .innerJoin('users as u', 'u.id', 'm.user_id')
        .select(['m.group_id', 'su.scim_id', 'u.login', 'u.display_name']);
      type Row = { group_id: string; scim_id: string; login: string; display_name: string | null };
      const toMembers = (rows: readonly Row[]) => rows.map((row) => ({ groupId: row.group_id, scimId: row.scim_id, display: memberDisplay({ login: row.login, displayName: row.display_name }) }));
      if (!dialect.remoteStatements) {
        for (const groupId of groupIds) {
          for await (const rows of snapshot.rows(members.where('m.group_id', '=', groupId).orderBy('su.scim_id'), size, { readToEnd: true })) yield toMembers(rows);
        }
        return;
      }
      // VALUES names its columns column1, column2 on both databases; the positions are literals,
      // so that PostgreSQL sorts them as numbers (a bound value there would be text).
      const positions = sql<{ column1: string; column2: number }>`(VALUES ${sql.join(groupIds.map((id, index) => sql`(${id}, ${sql.lit(index)})`))})`;
      const page = members.innerJoin(positions.as('p'), 'p.column1', 'm.group_id').orderBy('p.column2').orderBy('su.scim_id');
      for await (const rows of snapshot.rows(page, size, { readToEnd: true })) yield toMembers(rows);
    },

    /** The SCIM-linked groups of each user, by internal user id. */
    async groupsOf(db: Executor, userIds: readonly string[]): Promise<Map<string, LinkedReference[]>> {
      const result = new Map<string, LinkedReference[]>();
      for (const id of userIds) result.set(id, []);
      for (const chunk of chunks(userIds)) {
        const rows = chunk.length === 1 ? await selectGroupsOfUser(db, chunk[0]!) : await db
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
