/**
 * SQL for users, their SCIM links and their email index. Query functions take an executor
 * so that the directory layer decides the transaction boundaries.
 */
import { sql, type Compilable, type ExpressionBuilder, type RawBuilder, type SelectQueryBuilder, type SqlBool } from 'kysely';
import type { KeysetPosition, SortKey } from '../scim/cursor.ts';
import type { DialectAdapter } from './dialect.ts';
import { compiledOnce } from './compiled.ts';
import type { Executor } from './executor.ts';
import { memberDisplay, type LinkedReference } from './memberships.ts';
import { userResourceModifiedAt, userResourceVersion } from './resource-versions.ts';
import type { Database, UsersTable } from './tables.ts';
import { caseKey } from '../text.ts';
import { turnOfEventLoop } from './turn.ts';

/** A user row as the domain sees it. `scimId` is null for users not linked to SCIM (local users). */
export interface StoredUser {
  readonly id: string;
  readonly scimId: string | null;
  readonly login: string;
  readonly displayName: string | null;
  readonly email: string | null;
  readonly active: boolean;
  readonly local: boolean;
  readonly externalId: string | null;
  /** The SCIM attributes that do not live in columns (see migrations/001-initial.ts). */
  readonly data: Record<string, unknown>;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Bumped by the user's own writes only; see resourceVersion for what SCIM shows. */
  readonly version: number;
  /**
   * `meta.version` as SCIM shows it (without `W/"…"`): changes with the user's own writes, its
   * memberships and its groups' names, since GET shows its groups (resource-versions.ts).
   */
  readonly resourceVersion: string;
  /** `meta.lastModified` as SCIM shows it: updatedAt, or later when its groups changed since. */
  readonly resourceModifiedAt: string;
  readonly lastConnectionAt: string | null;
  /** Administrators' tokens may call the SCIM and admin APIs. */
  readonly admin: boolean;
}

/** The columns a write sets. */
export interface UserWrite {
  readonly login: string;
  readonly displayName: string | null;
  readonly email: string | null;
  readonly active: boolean;
  readonly externalId: string | null;
  readonly data: Record<string, unknown>;
  /** `data` folded for filtering (scim/keys.ts foldDocument), kept in step with it. */
  readonly fold: Record<string, unknown>;
}

/** One email, mirrored into user_emails for indexed lookups. */
export interface EmailRow {
  readonly value: string | null;
  readonly type: string | null;
  readonly primary: boolean;
  readonly display: string | null;
}

/**
 * Who chose a password: Roster (`generated`: printed or written to a file, so seen by whoever
 * ran the command; its user is asked to choose another) or a person (`chosen`: the user, or an
 * administrator who typed it).
 */
export type PasswordOrigin = 'generated' | 'chosen';

/** A user created outside SCIM (the bootstrap administrator, the admin API). */
export interface AccountWrite {
  readonly login: string;
  readonly displayName: string | null;
  readonly email: string | null;
  readonly local: boolean;
  readonly passwordHash: string | null;
  /** Who chose `passwordHash`'s password; `chosen` (nothing to remind of) when unsaid. */
  readonly passwordOrigin?: PasswordOrigin;
  readonly admin: boolean;
}

/** The generated_password_hash column for a password set now (migration 023). */
function generatedHash(passwordHash: string | null, origin: PasswordOrigin): string | null {
  return origin === 'generated' ? passwordHash : null;
}

/** The attributes the admin API may change. */
export interface ProfileWrite {
  readonly login: string;
  readonly displayName: string | null;
  readonly email: string | null;
  readonly externalId: string | null;
}

/** Filters of the admin API's user list. */
export interface AccountFilter {
  /** Contained in login, name or email, regardless of case. */
  readonly q?: string;
  readonly active?: boolean;
  /** True: linked to SCIM only; false: local only. */
  readonly managed?: boolean;
  /** Only members of this group (internal id): a group's members page, searched and paged in SQL. */
  readonly groupId?: string;
  /** Only users who are not members of this group (SonarQube's `groupId!`). */
  readonly notInGroupId?: string;
  /** This login exactly, case included (SonarQube's `externalIdentity`: Roster's external login is the login). */
  readonly login?: string;
  /** Signed in at or after this instant (stored form, store/instants: UTC with milliseconds). */
  readonly connectedFrom?: string;
  /** Never signed in, or last at or before this instant (SonarQube's `sonarQubeLastConnectionDateTo`). */
  readonly connectedTo?: string;
}

/**
 * How a read-modify-write locks the row it reads, until its transaction ends: `write` for an
 * update (other writers of the same resource wait, then read the new version), `delete` when
 * the transaction will also remove the SCIM link (memberships being added for the user wait,
 * then find it gone). Ignored on SQLite, whose write transactions are serialised anyway.
 */
export type RowLock = 'write' | 'delete';

/**
 * Locks the rows of `tables` that `query` reads. FOR UPDATE before a delete; NO KEY UPDATE for
 * plain writes, which leaves foreign-key checks (memberships being inserted) unblocked.
 */
export function withRowLock<DB, TB extends keyof DB & string, O>(
  query: SelectQueryBuilder<DB, TB, O>,
  lock: RowLock,
  tables: readonly TB[],
): SelectQueryBuilder<DB, TB, O> {
  return lock === 'delete' ? query.forUpdate(tables) : query.forNoKeyUpdate(tables);
}

/**
 * A read by SCIM id compiled once per lock strength (compiled.ts), for the locked reads of
 * every SCIM write on PostgreSQL; `build` gives the query before its lock.
 */
export function lockedReadsByScimId<R>(build: (db: Executor, scimId: string, lock: RowLock) => Compilable<R>): Record<RowLock, (db: Executor, scimId: string) => Promise<R[]>> {
  return {
    write: compiledOnce((db: Executor, scimId: string) => build(db, scimId, 'write')),
    delete: compiledOnce((db: Executor, scimId: string) => build(db, scimId, 'delete')),
  };
}

export interface ListQuery {
  readonly where?: RawBuilder<SqlBool>;
  readonly orderBy?: RawBuilder<unknown>;
  /** False when `orderBy` is never NULL: the list then needs no NULL placement, so an index can order it. */
  readonly orderByNullable?: boolean;
  readonly descending?: boolean;
  /** 0-based offset (index paging). */
  readonly offset: number;
  readonly limit: number;
  /**
   * Keyset paging: only the resources that come after this position in the list's order
   * (with `offset` 0). Its `key` is a value of `orderBy` as a list returned it (null without
   * `orderBy`), its `id` a SCIM id.
   */
  readonly after?: KeysetPosition;
}

/** The SCIM id column of a list: of users, of groups, or of both (resources.ts). */
export type ScimIdColumn = 'su.scim_id' | 'sg.scim_id' | 'r.scim_id';

/** A listed row with the value of its sort key, from which a keyset position is made. */
export interface Listed<T> {
  readonly row: T;
  /** The value of ListQuery.orderBy for this row; null without orderBy. */
  readonly sortKey: SortKey;
}

const USER_COLUMNS = [
  'u.id',
  'su.scim_id',
  'u.login',
  'u.display_name',
  'u.email',
  'u.active',
  'u.local',
  'u.external_id',
  'u.scim_data',
  'u.created_at',
  'u.updated_at',
  'u.version',
  'u.last_connection_at',
  'u.is_admin',
] as const;

/** The columns derived from others (case keys, the folded document): written, never read back. */
type DerivedColumns = 'login_key' | 'login_conflict' | 'display_name_key' | 'email_key' | 'scim_fold';

type UserRow = Omit<UsersTable, 'password_hash' | 'generated_password_hash' | 'is_admin' | DerivedColumns> & {
  scim_id: string | null;
  is_admin: number;
  resource_version: string;
  resource_modified_at: string;
};

/** A user that shares its login key with others (migration 011 kept them all). */
export interface LoginConflict {
  readonly id: string;
  readonly login: string;
  readonly key: string;
  /** 0 for the user that keeps the name, n > 0 for the others. */
  readonly conflict: number;
  readonly managed: boolean;
}

/** The case keys of a user's name columns (text.ts caseKey), written with them. */
function nameKeys(write: { readonly login: string; readonly displayName: string | null; readonly email: string | null }) {
  return {
    login_key: caseKey(write.login),
    display_name_key: write.displayName === null ? null : caseKey(write.displayName),
    email_key: write.email === null ? null : caseKey(write.email),
  };
}

/**
 * The conflict mark of an updated login whose case key is `loginKey` (a value, or a marker of a
 * statement compiled once): kept while the login keeps its key (a user marked by migration 011
 * stays writable), 0 otherwise, so that a new name must be unique.
 */
/**
 * Some administrator's id, or none, read from the partial index `users_administrators`
 * (migration 020) instead of every user. `is_admin = 1` is a literal, not a parameter: a
 * PostgreSQL plan prepared for any value could not use an index limited to the value 1.
 */
export function anyAdministrator(db: Executor) {
  return db.selectFrom('users').select('id').where(sql<SqlBool>`is_admin = 1`).limit(1);
}

export function conflictAfter(loginKey: string) {
  // SET expressions read the row as it was: `login_key` here is the old key.
  return sql<number>`CASE WHEN login_key = ${loginKey} THEN login_conflict ELSE 0 END`;
}

/**
 * Orders a page of SCIM resources as ListQuery asks, then by SCIM id. Users and groups are
 * listed the same way; only the table aliases differ.
 */
export function orderScimList<Q extends SelectQueryBuilder<any, any, any>>(builder: Q, query: ListQuery, scimId: ScimIdColumn): Q {
  let ordered: SelectQueryBuilder<any, any, any> = builder;
  // RFC 7644 §3.4.2.3: resources without a value sort last ascending, first descending
  // (PostgreSQL's default; SQLite's is the opposite, so say it). Keys that are never NULL
  // leave it out, so that SQLite can read them in the order of an index on the expression.
  const nullable = query.orderByNullable !== false;
  const direction = query.descending ? (nullable ? sql`DESC NULLS FIRST` : sql`DESC`) : nullable ? sql`ASC NULLS LAST` : sql`ASC`;
  if (query.orderBy) ordered = ordered.orderBy(sql`${query.orderBy} ${direction}`);
  // The SCIM id breaks ties, so that walking the pages visits every resource exactly once.
  ordered = ordered.orderBy(sql.ref(scimId), query.descending ? 'desc' : 'asc');
  return ordered as Q;
}

/**
 * The rows after `position` in the order orderScimList gives (RFC 9865 cursors): sort key, then
 * SCIM id, with the same NULL placement (NULLs last ascending, first descending). Written as
 * comparisons on the sort expression itself, so that an index on it can serve them, and the
 * position's key is bound as the database returned it, so that it compares as the rows do.
 */
export function keysetAfter(query: ListQuery, position: KeysetPosition, scimId: ScimIdColumn): RawBuilder<SqlBool> {
  const id = sql.ref(scimId);
  const beyond = query.descending ? sql`<` : sql`>`;
  const idBeyond = sql<SqlBool>`${id} ${beyond} ${position.id}`;
  const key = query.orderBy;
  if (key === undefined) return idBeyond;
  if (query.orderByNullable === false && position.key !== null) {
    // `key >= k AND (key > k OR id > i)`: the first conjunct is a range an index on the key serves.
    const atOrBeyond = query.descending ? sql`<=` : sql`>=`;
    return sql<SqlBool>`(${key} ${atOrBeyond} ${position.key} AND (${key} ${beyond} ${position.key} OR ${idBeyond}))`;
  }
  if (position.key === null) {
    // Ascending, NULLs come last: only NULLs remain. Descending, NULLs come first: the rest of them, then every value.
    return query.descending
      ? sql<SqlBool>`((${key} IS NULL AND ${idBeyond}) OR ${key} IS NOT NULL)`
      : sql<SqlBool>`(${key} IS NULL AND ${idBeyond})`;
  }
  const tail = query.descending ? sql`` : sql` OR ${key} IS NULL`;
  return sql<SqlBool>`(${key} ${beyond} ${position.key} OR (${key} = ${position.key} AND ${idBeyond})${tail})`;
}

/** The sort key column of a listed row, as the driver returned it. */
export function sortKeyOf(value: unknown): SortKey {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'number') return value;
  // Neither driver returns other types for these expressions by default (no bigint, no
  // booleans); should one, its text still identifies the position.
  return String(value);
}

/** `%text%` for LIKE, with LIKE's own wildcards escaped (the query adds `ESCAPE '\\'`). */
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (char) => `\\${char}`)}%`;
}

/**
 * The SCIM-linked groups of the user `u` as JSON text, `[[scim id, name], …]` ordered by name
 * (the order memberships.groupsOf gives), `[]` for none: its memberships' key serves it.
 */
function groupsJson(dialect: DialectAdapter): RawBuilder<string> {
  const rows = sql`FROM memberships AS gj_m JOIN scim_groups AS gj_sg ON gj_sg.group_id = gj_m.group_id JOIN groups AS gj_g ON gj_g.id = gj_m.group_id WHERE gj_m.user_id = u.id`;
  return dialect.name === 'sqlite'
    ? sql<string>`(SELECT json_group_array(json_array(gj.scim_id, gj.name)) FROM (SELECT gj_sg.scim_id AS scim_id, gj_g.name AS name ${rows} ORDER BY gj_g.name) AS gj)`
    : sql<string>`(SELECT coalesce(json_agg(json_build_array(gj_sg.scim_id, gj_g.name) ORDER BY gj_g.name), '[]'::json)::text ${rows})`;
}

/** Reads groupsJson's text back. */
function groupsOfJson(text: string): LinkedReference[] {
  return (JSON.parse(text) as Array<[string, string]>).map(([scimId, display]) => ({ scimId, display }));
}

/** Query factory for users (STYLE.md: `createXQueries(db)`). */
export function createUserQueries(dialect: DialectAdapter) {
  // The version is read in the same statement as the row, before any embedded value is read:
  // a change committed in between then shows new content under the old version (fetched
  // again next time), never old content under a new version (cached for good).
  const columns = [
    ...USER_COLUMNS,
    userResourceVersion(dialect, 'u').as('resource_version'),
    userResourceModifiedAt(dialect, 'u').as('resource_modified_at'),
  ] as const;

  function toUser(row: UserRow): StoredUser {
    return {
      id: row.id,
      scimId: row.scim_id,
      login: row.login,
      displayName: row.display_name,
      email: row.email,
      active: row.active === 1,
      local: row.local === 1,
      externalId: row.external_id,
      data: (dialect.fromJsonColumn(row.scim_data) ?? {}) as Record<string, unknown>,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      version: row.version,
      resourceVersion: row.resource_version,
      resourceModifiedAt: row.resource_modified_at,
      lastConnectionAt: row.last_connection_at,
      admin: row.is_admin === 1,
    };
  }

  function selectUsers(db: Executor) {
    return db
      .selectFrom('users as u')
      .leftJoin('scim_users as su', 'su.user_id', 'u.id')
      .select(columns);
  }

  // The lookups of every SCIM read and write, compiled once (compiled.ts).
  const selectByScimId = compiledOnce((db: Executor, scimId: string) => selectUsers(db).where('su.scim_id', '=', scimId));
  // GET /Users/{id}: the user and its groups in one statement (a round trip less per request).
  // Locked for a write (PostgreSQL): an inner join, since FOR UPDATE cannot lock the nullable
  // side of an outer join. Both rows are locked: a concurrent unlink (DELETE) then makes this
  // read find nothing. Compiled once, like the reads: the version expression is costly to build.
  const selectLockedByScimId = lockedReadsByScimId((db, scimId, lock) =>
    withRowLock(db.selectFrom('users as u').innerJoin('scim_users as su', 'su.user_id', 'u.id').select(columns).where('su.scim_id', '=', scimId), lock, ['u', 'su']),
  );
  const selectByScimIdWithGroups = compiledOnce((db: Executor, scimId: string) =>
    selectUsers(db).select(groupsJson(dialect).as('groups_json')).where('su.scim_id', '=', scimId),
  );
  // The SCIM-linked users whose login has this case key (one, or a few that migration 011 found
  // in conflict), in the list's default order: the answer to `userName eq "…"`.
  const selectLinkedByLoginKey = compiledOnce((db: Executor, loginKey: string) =>
    db
      .selectFrom('users as u')
      .innerJoin('scim_users as su', 'su.user_id', 'u.id')
      .select([...columns, sql`NULL`.as('sort_key'), groupsJson(dialect).as('groups_json')])
      .where('u.login_key', '=', loginKey)
      .orderBy('su.scim_id'),
  );
  // By case key; of logins equal regardless of case (migration 011 conflicts), the exact one,
  // else the one that kept the name.
  const byLogin = (db: Executor, loginKey: string, login: string) =>
    selectUsers(db)
      .where('u.login_key', '=', loginKey)
      .orderBy(sql`CASE WHEN u.login = ${login} THEN 0 ELSE 1 END`)
      .orderBy('u.login_conflict')
      .limit(1);
  const selectByLogin = compiledOnce(byLogin);
  // A reactivation's read (PostgreSQL): a parallel one waits, then reads the row it reactivated.
  const selectLockedByLogin = compiledOnce((db: Executor, loginKey: string, login: string) => withRowLock(byLogin(db, loginKey, login), 'write', ['u']));

  return {
    /** The user linked to a SCIM id, or undefined; `lock` locks it for the rest of the transaction. */
    async findByScimId(db: Executor, scimId: string, lock?: RowLock): Promise<StoredUser | undefined> {
      const [row] = await (lock === undefined || !dialect.supportsRowLocks ? selectByScimId : selectLockedByScimId[lock])(db, scimId);
      return row ? toUser(row) : undefined;
    },

    /**
     * The user linked to a SCIM id with its SCIM-linked groups (by name, as
     * memberships.groupsOf gives them), read in one statement; undefined when there is none.
     */
    async findByScimIdWithGroups(db: Executor, scimId: string): Promise<{ user: StoredUser; groups: LinkedReference[] } | undefined> {
      const [row] = await selectByScimIdWithGroups(db, scimId);
      if (row === undefined) return undefined;
      return { user: toUser(row), groups: groupsOfJson(row.groups_json) };
    },

    /**
     * Makes memberships being added for this user wait for the end of the transaction (their
     * foreign-key check needs a KEY SHARE lock on the row, which FOR UPDATE excludes), so that a
     * transaction that is about to touch the user's groups sees every group it belongs to.
     * No-op on SQLite, whose write transactions are serialised anyway.
     */
    async lockMemberships(db: Executor, id: string): Promise<void> {
      if (!dialect.supportsRowLocks) return;
      await db.selectFrom('users').select('id').where('id', '=', id).forUpdate().execute();
    },

    /**
     * How each of these SCIM ids' users is shown when another resource refers to it (a manager):
     * memberDisplay(), the rule group members follow. Ids of no linked user are absent.
     */
    async displaysByScimId(db: Executor, scimIds: readonly string[]): Promise<Map<string, string>> {
      const result = new Map<string, string>();
      const unique = [...new Set(scimIds)];
      for (let i = 0; i < unique.length; i += 500) {
        const rows = await db
          .selectFrom('scim_users as su')
          .innerJoin('users as u', 'u.id', 'su.user_id')
          .select(['su.scim_id', 'u.login', 'u.display_name'])
          .where('su.scim_id', 'in', unique.slice(i, i + 500))
          .execute();
        for (const row of rows) result.set(row.scim_id, memberDisplay({ login: row.login, displayName: row.display_name }));
      }
      return result;
    },

    /** The users linked to these SCIM ids (those that are), in no particular order. */
    async findByScimIds(db: Executor, scimIds: readonly string[]): Promise<StoredUser[]> {
      if (scimIds.length === 0) return [];
      return (await selectUsers(db).where('su.scim_id', 'in', scimIds).execute()).map(toUser);
    },

    /**
     * The user whose login equals `login` regardless of case (text.ts caseKey, on the
     * users_login_key index). Where migration 011 left several, the one spelt exactly so wins,
     * else the one that kept the name. `lock` (PostgreSQL) locks its row for the rest of the
     * transaction, as findById's does.
     */
    async findByLogin(db: Executor, login: string, lock?: 'write'): Promise<StoredUser | undefined> {
      const [row] = await (lock === undefined || !dialect.supportsRowLocks ? selectByLogin : selectLockedByLogin)(db, caseKey(login), login);
      return row ? toUser(row) : undefined;
    },

    /** Users that share a login key with another user (see migration 011), by key. */
    async loginConflicts(db: Executor): Promise<LoginConflict[]> {
      // The marked rows first, on the partial index users_login_conflicts: asked for their
      // keys alone, SQLite preferred to scan the whole covering index on (login_key, login_conflict)
      // (0.15 s at a million rows, on every start); asked for their ids too, it reads only them.
      const marked = await db.selectFrom('users').select(['id', 'login_key']).where('login_conflict', '>', 0).execute();
      if (marked.length === 0) return [];
      const keys = [...new Set(marked.map((row) => row.login_key))];
      const rows = await db
        .selectFrom('users as u')
        .leftJoin('scim_users as su', 'su.user_id', 'u.id')
        .select(['u.id', 'u.login', 'u.login_key', 'u.login_conflict', 'su.scim_id'])
        .where('u.login_key', 'in', keys)
        .orderBy('u.login_key')
        .orderBy('u.login_conflict')
        .execute();
      const counts = new Map<string, number>();
      for (const row of rows) counts.set(row.login_key, (counts.get(row.login_key) ?? 0) + 1);
      return rows
        .filter((row) => (counts.get(row.login_key) ?? 0) > 1)
        .map((row) => ({ id: row.id, login: row.login, key: row.login_key, conflict: row.login_conflict, managed: row.scim_id !== null }));
    },

    /**
     * The user with this internal id, linked or not. `lock` (PostgreSQL) locks its row for the
     * rest of the transaction, so that an admin write's checks of it (active, present) still
     * hold when it writes: 'delete' for a deactivation, 'write' for a membership added to it.
     */
    async findById(db: Executor, id: string, lock?: RowLock): Promise<StoredUser | undefined> {
      const query = selectUsers(db).where('u.id', '=', id);
      const row = await (lock === undefined || !dialect.supportsRowLocks ? query : withRowLock(query, lock, ['u'])).executeTakeFirst();
      return row ? toUser(row) : undefined;
    },

    /**
     * The login of the user with this internal id and whether it is active; undefined when there
     * is no such user. `share` (PostgreSQL) share-locks the row until the transaction ends, for a
     * write that issues the user a credential (a session, a token, an OpenID grant): a
     * deactivation in progress, which locks the row first, is waited for and then seen, and one
     * that starts later waits for the credential and then ends it. Either way none survives it.
     */
    async activity(db: Executor, id: string, lock?: 'share'): Promise<{ login: string; active: boolean } | undefined> {
      const query = db.selectFrom('users').select(['login', 'active']).where('id', '=', id);
      const row = await (lock === 'share' && dialect.supportsRowLocks ? query.forShare() : query).executeTakeFirst();
      return row === undefined ? undefined : { login: row.login, active: row.active !== 0 };
    },

    /** Whether any administrator exists, active or not (first start creates one only if none). */
    async hasAdministrator(db: Executor): Promise<boolean> {
      return (await anyAdministrator(db).executeTakeFirst()) !== undefined;
    },

    /**
     * Inserts an account unless its login is taken (the unique users_login_key index decides, so
     * that two instances starting at once create it once). Returns whether it was inserted.
     */
    async insertAccount(db: Executor, id: string, write: AccountWrite, now: string): Promise<boolean> {
      const result = await db
        .insertInto('users')
        .values({
          id,
          login: write.login,
          display_name: write.displayName,
          email: write.email,
          ...nameKeys(write),
          active: 1,
          local: write.local ? 1 : 0,
          password_hash: write.passwordHash,
          generated_password_hash: generatedHash(write.passwordHash, write.passwordOrigin ?? 'chosen'),
          external_id: null,
          scim_data: dialect.toJsonParameter({}),
          scim_fold: dialect.toJsonParameter({}),
          created_at: now,
          updated_at: now,
          version: 1,
          is_admin: write.admin ? 1 : 0,
        })
        .onConflict((conflict) => conflict.doNothing())
        .executeTakeFirst();
      return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
    },

    /** Sets a local password hash (the account becomes local), marked as generated or chosen. */
    async setPassword(db: Executor, id: string, passwordHash: string, origin: PasswordOrigin, now: string): Promise<void> {
      await db
        .updateTable('users')
        .set({ password_hash: passwordHash, generated_password_hash: generatedHash(passwordHash, origin), local: 1, updated_at: now, version: sql<number>`version + 1` })
        .where('id', '=', id)
        .execute();
    },

    /** Removes the password (the account signs in with SAML only: no longer local). */
    async clearPassword(db: Executor, id: string, now: string): Promise<void> {
      await db
        .updateTable('users')
        .set({ password_hash: null, generated_password_hash: null, local: 0, updated_at: now, version: sql<number>`version + 1` })
        .where('id', '=', id)
        .execute();
    },

    /** Whether the user's password is the one Roster generated last (false without a password). */
    async hasGeneratedPassword(db: Executor, id: string): Promise<boolean> {
      const row = await db
        .selectFrom('users')
        .select('id')
        .where('id', '=', id)
        .where(sql<SqlBool>`password_hash = generated_password_hash`)
        .executeTakeFirst();
      return row !== undefined;
    },

    /**
     * Marks the user's password as generated when its hash is still `passwordHash` and nothing is
     * marked (a password an older Roster generated, before migration 023 kept the mark); true when it did.
     */
    async markPasswordGenerated(db: Executor, id: string, passwordHash: string): Promise<boolean> {
      const result = await db
        .updateTable('users')
        .set({ generated_password_hash: passwordHash })
        .where('id', '=', id)
        .where('password_hash', '=', passwordHash)
        .where('generated_password_hash', 'is', null)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },

    /**
     * The password hash `id` signs in with, or null: only an active local account that SCIM does
     * not manage signs in with a password (docs/managed-mode.md). The one rule of the password
     * check (directory/password-check.ts) and of the session it opens (auth/sessions.ts), which
     * reads it again once it holds the user's row: a link, a reset or a deactivation committed
     * in between then shows.
     */
    async signInPasswordHashOf(db: Executor, id: string): Promise<string | null> {
      const row = await db
        .selectFrom('users as u')
        .leftJoin('scim_users as su', 'su.user_id', 'u.id')
        .select('u.password_hash')
        .where('u.id', '=', id)
        .where('u.active', '=', 1)
        .where('u.local', '=', 1)
        .where('su.user_id', 'is', null)
        .executeTakeFirst();
      return row?.password_hash ?? null;
    },

    /** The stored password hash of a user (null when it has none: SAML and SCIM users). */
    async passwordHashOf(db: Executor, id: string): Promise<string | null> {
      const row = await db.selectFrom('users').select('password_hash').where('id', '=', id).executeTakeFirst();
      return row?.password_hash ?? null;
    },

    /**
     * Replaces a hash by a stronger one of the same password, only if it is still `expected`
     * (a password reset in between wins). Not a version change: nothing a client sees changes.
     */
    async replacePasswordHash(db: Executor, id: string, expected: string, next: string): Promise<boolean> {
      const result = await db
        .updateTable('users')
        // The same password under a stronger hash: still the generated one if it was.
        .set({ password_hash: next, generated_password_hash: sql<string | null>`CASE WHEN generated_password_hash = password_hash THEN ${next} ELSE NULL END` })
        .where('id', '=', id)
        .where('password_hash', '=', expected)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },

    /** Overwrites what the admin API edits; the SCIM attributes in scim_data are kept. */
    async updateProfile(db: Executor, id: string, write: ProfileWrite, now: string): Promise<void> {
      await db
        .updateTable('users')
        .set({
          login: write.login,
          display_name: write.displayName,
          email: write.email,
          ...nameKeys(write),
          login_conflict: conflictAfter(caseKey(write.login)),
          external_id: write.externalId,
          updated_at: now,
          version: sql<number>`version + 1`,
        })
        .where('id', '=', id)
        .execute();
    },

    /**
     * Activates or deactivates a user; false when it already was (a parallel transaction that
     * changed it first included: PostgreSQL checks the condition again once its lock is free).
     */
    async setActive(db: Executor, id: string, active: boolean, now: string): Promise<boolean> {
      const result = await db
        .updateTable('users')
        .set({ active: active ? 1 : 0, updated_at: now, version: sql<number>`version + 1` })
        .where('id', '=', id)
        .where('active', '=', active ? 0 : 1)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },

    /**
     * A page of all users, linked or not, ordered by login regardless of case, then by conflict
     * mark (migration 011: the user that kept a shared name first): exactly the unique
     * users_login_key index, which then serves OFFSET without sorting (a tie-break on `u.id` made
     * SQLite sort each login's rows, 1.5 s at offset 500,000 of a million; 0.13 s now). `total`, when given, is how many match (countAccounts, in the same transaction): a
     * page nearer the end than the start is then read backwards from the end, so that OFFSET
     * skips the fewer rows (the last page of a million costs what the first does).
     */
    async listAccounts(db: Executor, filter: AccountFilter, offset: number, limit: number, total?: number): Promise<StoredUser[]> {
      const end = total === undefined ? offset + limit : Math.min(offset + limit, total);
      if (end <= offset) return [];
      const fromEnd = total !== undefined && total - end < offset;
      const direction = fromEnd ? 'desc' : 'asc';
      const page = filterAccounts(db.selectFrom('users as u').select('u.id'), filter)
        .orderBy('u.login_key', direction)
        .orderBy('u.login_conflict', direction)
        .limit(end - offset)
        .offset(fromEnd ? (total ?? 0) - end : offset);
      // The page's ids first, then its rows: see listLinked.
      const rows = await selectUsers(db).where('u.id', 'in', page).orderBy('u.login_key').orderBy('u.login_conflict').execute();
      return rows.map(toUser);
    },

    /**
     * The page and count of a list whose filter no index serves (`q`, `managed`), read a window of
     * `slice` users of the login index at a time with a turn of the event loop between
     * windows: on SQLite a statement runs in this process, and one reading a million users held
     * every other request of the server for 1–2 s. The whole list is still read (the count needs
     * it), in steps that let the other requests through. `db` must be a snapshot held across
     * turns (Store.openSnapshot), so that the windows, the count and the page agree.
     */
    async listAccountsInSlices(db: Executor, filter: AccountFilter, offset: number, limit: number, slice = SLICE_OF_USERS): Promise<{ users: StoredUser[]; total: number }> {
      const ordered = <Q extends AccountSelect>(builder: Q): Q => builder.orderBy('u.login_key').orderBy('u.login_conflict') as Q;
      let from: LoginPosition | undefined;
      let total = 0;
      const ids: string[] = [];
      for (;;) {
        // The window's last user: read from the index alone.
        const last = await ordered(withinLogins(db.selectFrom('users as u').select(['u.login_key as key', 'u.login_conflict as conflict']), from, undefined))
          .offset(slice - 1)
          .limit(1)
          .executeTakeFirst();
        const window = <Q extends AccountSelect>(builder: Q): Q => withinLogins(filterAccounts(builder, filter), from, last);
        const counted = Number((await window(db.selectFrom('users as u').select(sql<number>`count(*)`.as('n'))).executeTakeFirstOrThrow()).n);
        if (ids.length < limit && total + counted > offset) {
          const found = await ordered(window(db.selectFrom('users as u').select('u.id')))
            .offset(Math.max(0, offset - total))
            .limit(limit - ids.length)
            .execute();
          ids.push(...found.map((row) => row.id));
        }
        total += counted;
        if (last === undefined) break;
        from = last;
        await turnOfEventLoop();
      }
      if (ids.length === 0) return { users: [], total };
      const rows = await selectUsers(db).where('u.id', 'in', ids).orderBy('u.login_key').orderBy('u.login_conflict').execute();
      return { users: rows.map(toUser), total };
    },

    /**
     * How many users match the admin API's filters: the users table alone (with no filter, the
     * smallest index of it), which SQLite counts in a fifth of the time it took joined to the
     * SCIM links; the links are read only to filter on them.
     */
    async countAccounts(db: Executor, filter: AccountFilter): Promise<number> {
      const { groupId, ...others } = filter;
      if (groupId !== undefined && Object.values(others).every((value) => value === undefined || value === '')) {
        // A group's members alone: its memberships' key counts them (every membership has its
        // user: a foreign key), 11 ms for 100,000 members on SQLite against 0.8 s probing each user.
        const members = await db.selectFrom('memberships').select(sql<number>`count(*)`.as('n')).where('group_id', '=', groupId).executeTakeFirstOrThrow();
        return Number(members.n);
      }
      const count = async (counted: AccountFilter) => Number((await filterAccounts(db.selectFrom('users as u').select(sql<number>`count(*)`.as('n')), counted).executeTakeFirstOrThrow()).n);
      if (filter.active === true && Object.entries(filter).every(([key, value]) => key === 'active' || value === undefined || value === '')) {
        // The active users alone: all of them (the smallest index) less the deactivated ones
        // (their partial index), where counting the active ones read every row.
        return (await count({})) - (await count({ active: false }));
      }
      return count(filter);
    },

    /** Removes every SCIM link of users (back to just-in-time); returns how many there were. */
    async unlinkAll(db: Executor): Promise<number> {
      const result = await db.deleteFrom('scim_users').executeTakeFirst();
      return Number(result.numDeletedRows);
    },


    /** Removes a user's SCIM link; later SCIM requests for that id find nothing. */
    async unlink(db: Executor, userId: string): Promise<void> {
      await db.deleteFrom('scim_users').where('user_id', '=', userId).execute();
    },

    /**
     * A page of SCIM-linked users matching a compiled filter, each with its sort key: by offset,
     * or after a keyset position (`query.after`), which costs the same on every page.
     */
    async listLinked(db: Executor, query: ListQuery): Promise<Listed<StoredUser>[]> {
      const linked = () => db.selectFrom('users as u').innerJoin('scim_users as su', 'su.user_id', 'u.id');
      const sortKey = (query.orderBy ?? sql`NULL`).as('sort_key');
      const filtered = <Q extends SelectQueryBuilder<any, any, any>>(builder: Q): Q => {
        let result: SelectQueryBuilder<any, any, any> = builder;
        if (query.where) result = result.where(query.where);
        if (query.after) result = result.where(keysetAfter(query, query.after, 'su.scim_id'));
        return result as Q;
      };
      const toListed = (row: UserRow & { sort_key: unknown }): Listed<StoredUser> => ({ row: toUser(row), sortKey: sortKeyOf(row.sort_key) });
      if (query.offset === 0 && dialect.limitsSelectListWork) {
        const builder = filtered(linked().select([...columns, sortKey]));
        return (await orderScimList(builder, query, 'su.scim_id').limit(query.limit).execute()).map(toListed);
      }
      // The page's ids in a subquery, then its rows in the same order, so that the versions'
      // subqueries run for the page only, not for every row that OFFSET skips or a sort sorts.
      let page = filtered(linked().select('u.id'));
      page = orderScimList(page, query, 'su.scim_id').limit(query.limit).offset(query.offset);
      return (await orderScimList(linked().select([...columns, sortKey]).where('u.id', 'in', page), query, 'su.scim_id').execute()).map(toListed);
    },

    /**
     * The first `limit` SCIM-linked users whose userName equals `userName` regardless of case,
     * in the default order (by SCIM id): what listLinked gives for the filter `userName eq`
     * without a sort, from a query compiled once; each with its SCIM-linked groups (as
     * findByScimIdWithGroups), read in the same statement.
     */
    async listLinkedByUserName(db: Executor, userName: string, limit: number): Promise<Array<Listed<StoredUser> & { groups: LinkedReference[] }>> {
      const rows = await selectLinkedByLoginKey(db, caseKey(userName));
      return rows.slice(0, limit).map((row) => ({ row: toUser(row), sortKey: null, groups: groupsOfJson(row.groups_json) }));
    },

    /** How many SCIM-linked users match a compiled filter. */
    async countLinked(db: Executor, where: RawBuilder<SqlBool> | undefined): Promise<number> {
      // Every link has its user (a foreign key): without a filter, the links alone are counted.
      if (where === undefined) {
        const row = await db.selectFrom('scim_users').select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
        return Number(row.n);
      }
      const row = await db
        .selectFrom('users as u')
        .innerJoin('scim_users as su', 'su.user_id', 'u.id')
        .select(sql<number>`count(*)`.as('n'))
        .where(where)
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },
  };
}

type AccountSelect = SelectQueryBuilder<Database & { u: Database['users'] }, 'u', any>;

/**
 * How many users one window of listAccountsInSlices reads: about 10–20 ms of SQLite's time
 * (docs/performance.md, "Searching a million users").
 */
const SLICE_OF_USERS = 10_000;

/** A place in the login order (the unique users_login_key index). */
interface LoginPosition {
  readonly key: string;
  readonly conflict: number;
}

/**
 * The users after `from` (excluded) up to `to` (included) in the login order, as ranges of the
 * login index: `key >= k AND (key > k OR conflict > c)`, whose first conjunct the index serves.
 */
function withinLogins<Q extends AccountSelect>(builder: Q, from: LoginPosition | undefined, to: LoginPosition | undefined): Q {
  let query: AccountSelect = builder;
  if (from !== undefined) query = query.where(sql<SqlBool>`(u.login_key >= ${from.key} AND (u.login_key > ${from.key} OR u.login_conflict > ${from.conflict}))`);
  if (to !== undefined) query = query.where(sql<SqlBool>`(u.login_key <= ${to.key} AND (u.login_key < ${to.key} OR u.login_conflict <= ${to.conflict}))`);
  return query as Q;
}

function filterAccounts<Q extends AccountSelect>(builder: Q, filter: AccountFilter): Q {
  let query: AccountSelect = builder;
  if (filter.q !== undefined && filter.q !== '') {
    // Case keys on both sides (text.ts caseKey): the same matches on SQLite and PostgreSQL.
    const pattern = containsPattern(caseKey(filter.q));
    query = query.where(
      sql<SqlBool>`(u.login_key LIKE ${pattern} ESCAPE '\\' OR coalesce(u.display_name_key, '') LIKE ${pattern} ESCAPE '\\' OR coalesce(u.email_key, '') LIKE ${pattern} ESCAPE '\\')`,
    );
  }
  // Literals, not parameters: a PostgreSQL plan prepared for any value could not use the partial
  // index of the deactivated users (migration 022), which serves `active = 0`.
  if (filter.active !== undefined) query = query.where(filter.active ? sql<SqlBool>`u.active = 1` : sql<SqlBool>`u.active = 0`);
  if (filter.managed !== undefined) {
    // A probe of the links' unique user_id, made only when asked: a join on every list and count
    // cost SQLite 0.6 s more per million users.
    const linked = (eb: ExpressionBuilder<Database & { u: Database['users'] }, 'u'>) => eb.exists(eb.selectFrom('scim_users as su').select('su.user_id').whereRef('su.user_id', '=', 'u.id'));
    query = query.where((eb) => (filter.managed ? linked(eb) : eb.not(linked(eb))));
  }
  if (filter.login !== undefined) {
    // The case key finds the row through the unique login index; the login itself then keeps
    // the exact spelling only, as SonarQube's case-sensitive match of the external identity.
    query = query.where('u.login_key', '=', caseKey(filter.login)).where('u.login', '=', filter.login);
  }
  // last_connection_at holds toISOString() texts (store/sign-in.ts), as the bounds do: text order is time order.
  if (filter.connectedFrom !== undefined) query = query.where('u.last_connection_at', '>=', filter.connectedFrom);
  if (filter.connectedTo !== undefined) {
    const to = filter.connectedTo;
    query = query.where((eb) => eb.or([eb('u.last_connection_at', 'is', null), eb('u.last_connection_at', '<=', to)]));
  }
  const notInGroupId = filter.notInGroupId;
  if (notInGroupId !== undefined) {
    query = query.where((eb) => eb.not(eb.exists(eb.selectFrom('memberships as m').select('m.user_id').where('m.group_id', '=', notInGroupId).whereRef('m.user_id', '=', 'u.id'))));
  }
  const groupId = filter.groupId;
  if (groupId !== undefined) {
    // EXISTS probes the memberships primary key (group_id, user_id) for each user in login
    // order, so a page of a 100k-member group stops after its rows (SQLite: ~0.1 s where
    // `u.id IN (members)` sorted all 100k first, ~0.6 s); PostgreSQL plans either as a semi-join.
    query = query.where((eb) => eb.exists(eb.selectFrom('memberships as m').select('m.user_id').where('m.group_id', '=', groupId).whereRef('m.user_id', '=', 'u.id')));
  }
  return query as Q;
}

export type UserQueries = ReturnType<typeof createUserQueries>;
