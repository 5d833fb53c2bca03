/**
 * The writes of a user's row, its emails and its SCIM link, for every writer (SCIM, SAML
 * just-in-time sign-in), compiled once (compiled.ts compiledWrite), and who holds a login.
 * Reads and the other writes of users are in users.ts.
 */
import { sql } from 'kysely';
import { ENTERPRISE_USER_SCHEMA } from '../scim/schemas.ts';
import { caseKey } from '../text.ts';
import { compiledOnce, compiledWrite, type CompiledWrite } from './compiled.ts';
import type { DialectAdapter } from './dialect.ts';
import type { Executor } from './executor.ts';
import { conflictAfter, type EmailRow, type StoredUser, type UserWrite } from './users.ts';

/** The user that holds a login (regardless of case), and its SCIM id when it is linked. */
export interface LoginHolder {
  readonly id: string;
  readonly scimId: string | null;
}

/** A user whose login has a given case key, as a rename onto that login weighs it. */
export interface KeyHolder extends LoginHolder {
  readonly login: string;
  readonly active: boolean;
}

/** Email rows compiled per count up to this many; beyond, the statement is built each time. */
const COMPILED_EMAIL_ROWS = 8;

/**
 * Whether the SQL of resource-versions.ts may find a manager in this document
 * (`managerValue` not NULL): the enterprise extension has a `manager` member, or is not a plain
 * object. Without one, a user's version has no fourth part.
 */
function mayNameManager(data: Readonly<Record<string, unknown>>): boolean {
  const extension = data[ENTERPRISE_USER_SCHEMA];
  if (extension === undefined) return false;
  if (extension === null || typeof extension !== 'object' || Array.isArray(extension)) return true;
  return Object.hasOwn(extension, 'manager');
}

/** Query factory for the hot SCIM user writes. */
export function createUserWriteQueries(dialect: DialectAdapter) {
  // The same choice as users.ts findByLogin (exact spelling first, then the one that kept the
  // name), without the derived version: a create needs to know only whether and by whom it is held.
  const selectHolder = compiledOnce((db: Executor, loginKey: string, login: string) =>
    db
      .selectFrom('users as u')
      .leftJoin('scim_users as su', 'su.user_id', 'u.id')
      .select(['u.id', 'su.scim_id'])
      .where('u.login_key', '=', loginKey)
      .orderBy(sql`CASE WHEN u.login = ${login} THEN 0 ELSE 1 END`)
      .orderBy('u.login_conflict')
      .limit(1),
  );

  /**
   * The SCIM-owned columns of a user's row, from the markers of userValues (in its order: id,
   * login, displayName, email, the three case keys, active, externalId, data, fold, …).
   */
  const scimColumns = ([, login, displayName, email, loginKey, displayNameKey, emailKey, active, externalId, data, fold]: readonly string[]) => ({
    login: login!,
    display_name: displayName!,
    email: email!,
    login_key: loginKey!,
    display_name_key: displayNameKey!,
    email_key: emailKey!,
    active: active as unknown as number,
    external_id: externalId!,
    scim_data: data,
    scim_fold: fold,
  });
  /** A new user's row, from the 13 markers of userValues. */
  const userRow = (markers: readonly string[]) => ({ id: markers[0]!, ...scimColumns(markers), local: 0, password_hash: null, created_at: markers[11]!, updated_at: markers[12]!, version: 1 });
  const USER_VALUES = 13;
  const insertUser = compiledWrite(USER_VALUES, (db, markers) => db.insertInto('users').values(userRow(markers)));
  // An update sets what an insert does but the creation time: the first 12 of userValues.
  const updateUser = compiledWrite(USER_VALUES - 1, (db, markers) =>
    db
      .updateTable('users')
      .set({
        ...scimColumns(markers),
        login_conflict: conflictAfter(markers[4]!),
        updated_at: markers[11]!,
        version: sql<number>`version + 1`,
      })
      .where('id', '=', markers[0]!),
  );

  const insertLink = compiledWrite(2, (db, [scimId, userId]) => db.insertInto('scim_users').values({ scim_id: scimId!, user_id: userId! }));
  const deleteEmails = compiledWrite(1, (db, [userId]) => db.deleteFrom('user_emails').where('user_id', '=', userId!));

  const EMAIL_COLUMNS = 9;
  /** `count` rows of user_emails, from 9 markers each (emailValues gives them in this order). */
  const emailRows = (markers: readonly string[], count: number) =>
    Array.from({ length: count }, (_, row) => {
      const [userId, position, value, type, primary, display, valueKey, typeKey, displayKey] = markers.slice(row * EMAIL_COLUMNS, (row + 1) * EMAIL_COLUMNS);
      return {
        user_id: userId!,
        position: position as unknown as number,
        value: value!,
        type: type!,
        is_primary: primary as unknown as number,
        display: display!,
        value_key: valueKey!,
        type_key: typeKey!,
        display_key: displayKey!,
      };
    });
  const emailValues = (userId: string, emails: readonly EmailRow[]): unknown[] =>
    emails.flatMap((email, position) => [
      userId,
      position,
      email.value,
      email.type,
      email.primary ? 1 : 0,
      email.display,
      email.value === null ? null : caseKey(email.value),
      email.type === null ? null : caseKey(email.type),
      email.display === null ? null : caseKey(email.display),
    ]);

  /** A statement per number of emails, compiled once for the usual few. */
  function perCount(cache: Map<number, CompiledWrite<unknown>>, count: number, make: () => CompiledWrite<unknown>): CompiledWrite<unknown> {
    let compiled = cache.get(count);
    if (compiled === undefined) {
      compiled = make();
      if (count <= COMPILED_EMAIL_ROWS) cache.set(count, compiled);
    }
    return compiled;
  }
  const emailInserts = new Map<number, CompiledWrite<unknown>>();
  const emailInsert = (count: number) =>
    perCount(emailInserts, count, () => compiledWrite(count * EMAIL_COLUMNS, (db, markers) => db.insertInto('user_emails').values(emailRows(markers, count))));

  // PostgreSQL: the user, its emails and its link in one statement (data-modifying CTEs), one
  // round trip instead of three; the foreign keys are checked at the end of the statement.
  const newUserInserts = new Map<number, CompiledWrite<unknown>>();
  const newUserInsert = (count: number) =>
    perCount(newUserInserts, count, () =>
      compiledWrite(USER_VALUES + 2 + count * EMAIL_COLUMNS, (db, markers) => {
        const [scimId, userId] = markers.slice(USER_VALUES, USER_VALUES + 2);
        const withUser = db.with('new_user', (creator) => creator.insertInto('users').values(userRow(markers.slice(0, USER_VALUES))).returning('id'));
        const link = { scim_id: scimId!, user_id: userId! };
        if (count === 0) return withUser.insertInto('scim_users').values(link);
        return withUser
          .with('new_emails', (creator) => creator.insertInto('user_emails').values(emailRows(markers.slice(USER_VALUES + 2), count)).returning('user_id'))
          .insertInto('scim_users')
          .values(link);
      }),
    );

  async function insertEmails(db: Executor, userId: string, emails: readonly EmailRow[]): Promise<void> {
    if (emails.length === 0) return;
    await emailInsert(emails.length)(db, emailValues(userId, emails));
  }

  /** The 13 values of a new user's row, in userRow's order. */
  const userValues = (id: string, write: UserWrite, now: string): unknown[] => [
    id,
    write.login,
    write.displayName,
    write.email,
    caseKey(write.login),
    write.displayName === null ? null : caseKey(write.displayName),
    write.email === null ? null : caseKey(write.email),
    write.active ? 1 : 0,
    write.externalId,
    dialect.toJsonParameter(write.data),
    dialect.toJsonParameter(write.fold),
    now,
    now,
  ];

  async function replaceEmails(db: Executor, userId: string, emails: readonly EmailRow[]): Promise<void> {
    await deleteEmails(db, [userId]);
    await insertEmails(db, userId, emails);
  }

  return {
    /** Overwrites the SCIM-owned columns of user `id` and bumps its version. */
    async update(db: Executor, id: string, write: UserWrite, now: string): Promise<void> {
      await updateUser(db, userValues(id, write, now).slice(0, USER_VALUES - 1));
    },

    /** Who holds `login` regardless of case (the users_login_key index), as users.ts findByLogin chooses. */
    async loginHolder(db: Executor, login: string): Promise<LoginHolder | undefined> {
      const [row] = await selectHolder(db, caseKey(login), login);
      return row === undefined ? undefined : { id: row.id, scimId: row.scim_id };
    },

    /**
     * Every user whose login equals `login` regardless of case (several only in a case-conflict
     * set of migration 011), in loginHolder's order, their rows locked first (PostgreSQL) and
     * then read again: a transaction that was changing one of them (a POST linking it, an
     * administrator deactivating it) has committed, and its change is what this read shows.
     */
    async lockLoginHolders(db: Executor, login: string): Promise<KeyHolder[]> {
      const loginKey = caseKey(login);
      if (dialect.supportsRowLocks) await db.selectFrom('users').select('id').where('login_key', '=', loginKey).forNoKeyUpdate().execute();
      // A statement of its own: the locking one shows a row as it was when it started waiting.
      const rows = await db
        .selectFrom('users as u')
        .leftJoin('scim_users as su', 'su.user_id', 'u.id')
        .select(['u.id', 'u.login', 'u.active', 'su.scim_id'])
        .where('u.login_key', '=', loginKey)
        .orderBy(sql`CASE WHEN u.login = ${login} THEN 0 ELSE 1 END`)
        .orderBy('u.login_conflict')
        .execute();
      return rows.map((row) => ({ id: row.id, login: row.login, active: row.active !== 0, scimId: row.scim_id }));
    },

    /**
     * Inserts a new SCIM user: its row, its emails and its SCIM link. Returns the user as a read
     * of it in this transaction would (users.ts findByScimId), when that is known without
     * reading: version 1, no membership, no group, hence `1.0.0` and lastModified = now
     * (resource-versions.ts); undefined when its document may name a manager, whose own version
     * is part of the user's: the caller then reads it.
     */
    async insertNew(db: Executor, id: string, scimId: string, write: UserWrite, emails: readonly EmailRow[], now: string): Promise<StoredUser | undefined> {
      const row = userValues(id, write, now);
      if (dialect.dataModifyingCte) {
        await newUserInsert(emails.length)(db, [...row, scimId, id, ...emailValues(id, emails)]);
      } else {
        await insertUser(db, row);
        await insertEmails(db, id, emails);
        await insertLink(db, [scimId, id]);
      }
      if (mayNameManager(write.data)) return undefined;
      return {
        id,
        scimId,
        login: write.login,
        displayName: write.displayName,
        email: write.email,
        active: write.active,
        local: false,
        externalId: write.externalId,
        // What a read parses, from the text written: no object shared with the caller's document.
        data: (dialect.fromJsonColumn(row[9]) ?? {}) as Record<string, unknown>,
        createdAt: now,
        updatedAt: now,
        version: 1,
        resourceVersion: '1.0.0',
        resourceModifiedAt: now,
        lastConnectionAt: null,
        admin: false,
      };
    },

    /**
     * The user as a read would show it after `update(before.id, write, now)` in the same
     * transaction, when that is known without reading: the update bumps `version` only (the row
     * is locked: no other write of it in between), leaves memberships and groups as `before` read
     * them, and `now` is not before its last write, so lastModified is the later of `now` and
     * what it was (resource-versions.ts). Undefined when the document may name a manager, or the
     * clock went back: the caller then reads it.
     */
    updatedUser(before: StoredUser, write: UserWrite, now: string): StoredUser | undefined {
      if (mayNameManager(write.data) || now < before.updatedAt) return undefined;
      const [, memberships, groupNames] = before.resourceVersion.split('.');
      if (memberships === undefined || groupNames === undefined) return undefined;
      return {
        ...before,
        login: write.login,
        displayName: write.displayName,
        email: write.email,
        active: write.active,
        externalId: write.externalId,
        data: (dialect.fromJsonColumn(dialect.toJsonParameter(write.data)) ?? {}) as Record<string, unknown>,
        updatedAt: now,
        version: before.version + 1,
        resourceVersion: `${before.version + 1}.${memberships}.${groupNames}`,
        resourceModifiedAt: now > before.resourceModifiedAt ? now : before.resourceModifiedAt,
      };
    },

    /** Inserts a user row (version 1, not local, no password). */
    async insert(db: Executor, id: string, write: UserWrite, now: string): Promise<void> {
      await insertUser(db, userValues(id, write, now));
    },

    /** Links a user to a SCIM id, making it managed. */
    async link(db: Executor, scimId: string, userId: string): Promise<void> {
      await insertLink(db, [scimId, userId]);
    },

    /** Replaces the indexed copy of a user's emails. */
    replaceEmails,

    /**
     * Replaces the indexed copy of a user's emails unless `before` (the rows the previous
     * document gave) are the same: the copy is then already right.
     */
    async replaceChangedEmails(db: Executor, userId: string, before: readonly EmailRow[], emails: readonly EmailRow[]): Promise<void> {
      if (!sameEmails(before, emails)) await replaceEmails(db, userId, emails);
    },
  };
}

function sameEmails(a: readonly EmailRow[], b: readonly EmailRow[]): boolean {
  return a.length === b.length && a.every((email, i) => {
    const other = b[i]!;
    return email.value === other.value && email.type === other.type && email.primary === other.primary && email.display === other.display;
  });
}

