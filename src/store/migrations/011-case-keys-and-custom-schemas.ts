/**
 * Case-insensitive matching that gives the same answers on SQLite and PostgreSQL for all of
 * Unicode, and extension schemas declared by administrators (issue 12).
 *
 * Until now uniqueness and lookups compared `lower(x)`, which SQLite computes for ASCII only:
 * `Émile` and `émile` were two users on SQLite and one on PostgreSQL. Every such comparison now
 * uses a key computed in code (text.ts `caseKey`: NFC, full case folding) and stored beside the
 * value: users.login_key, display_name_key, email_key; groups.name_key; user_emails.value_key,
 * type_key, display_key; and `scim_fold`, the SCIM document with every case-insensitive text
 * replaced by its key, which the filter compiler reads instead of scim_data.
 *
 * Rows that were distinct under the old rule may share a key under the new one. They are kept,
 * both of them: the oldest keeps `login_conflict` (`name_conflict`) 0, the others get 1, 2, …,
 * so that the unique index (key, conflict) can be built; an audit event names each set
 * (`user.name_conflict`, `group.name_conflict`), Roster warns at every start while a set
 * remains, and `roster db case-conflicts` lists them. New names can never conflict again: every
 * write sets conflict 0 unless it keeps the row's key.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { foldDocument } from '../../scim/keys.ts';
import { caseKey } from '../../text.ts';
import type { DialectAdapter } from '../dialect.ts';

// Rows read and rewritten per statement: a few thousand bound values, under SQLite's limit.
const BATCH = 500;

/** Adds the key columns, fills them, reports conflicts, and swaps the lower(…) indexes for key indexes. */
export async function up(db: Kysely<unknown>, dialect: DialectAdapter): Promise<void> {
  const json = sql.raw(dialect.jsonColumnType);
  const before = [
    sql`ALTER TABLE users ADD COLUMN login_key TEXT`,
    sql`ALTER TABLE users ADD COLUMN login_conflict INTEGER NOT NULL DEFAULT 0`,
    sql`ALTER TABLE users ADD COLUMN display_name_key TEXT`,
    sql`ALTER TABLE users ADD COLUMN email_key TEXT`,
    sql`ALTER TABLE users ADD COLUMN scim_fold ${json} NOT NULL DEFAULT '{}'`,
    sql`ALTER TABLE groups ADD COLUMN name_key TEXT`,
    sql`ALTER TABLE groups ADD COLUMN name_conflict INTEGER NOT NULL DEFAULT 0`,
    sql`ALTER TABLE groups ADD COLUMN scim_fold ${json} NOT NULL DEFAULT '{}'`,
    sql`ALTER TABLE user_emails ADD COLUMN value_key TEXT`,
    sql`ALTER TABLE user_emails ADD COLUMN type_key TEXT`,
    sql`ALTER TABLE user_emails ADD COLUMN display_key TEXT`,
    // Extension schemas administrators declared: `definition` is the canonical JSON that
    // scim/custom-schemas.ts produced; `urn_key` makes URNs unique regardless of case.
    sql`CREATE TABLE scim_schemas (
      urn_key TEXT PRIMARY KEY,
      urn TEXT NOT NULL,
      resource_type TEXT NOT NULL,
      definition TEXT NOT NULL,
      created_at TEXT NOT NULL
    )`,
    // One row per value of an attribute declared `uniqueness: server`: the primary key is the
    // uniqueness check, the same for every instance. `value_hash` is the SHA-256 of the value's
    // key (scim/keys.ts), so that values of any length fit an index entry.
    sql`CREATE TABLE scim_unique_values (
      resource_type TEXT NOT NULL,
      attribute TEXT NOT NULL,
      value_hash TEXT NOT NULL,
      resource_id TEXT NOT NULL,
      PRIMARY KEY (resource_type, attribute, value_hash)
    )`,
    sql`CREATE INDEX scim_unique_values_resource ON scim_unique_values (resource_id)`,
  ];
  for (const statement of before) await statement.execute(db);

  await fillUsers(db, dialect);
  await fillGroups(db, dialect);
  await fillEmails(db);
  const now = new Date().toISOString();
  await markConflicts(db, 'users', 'login', 'user', now);
  await markConflicts(db, 'groups', 'name', 'group', now);

  const after = [
    sql`DROP INDEX users_login_ci`,
    sql`CREATE UNIQUE INDEX users_login_key ON users (login_key, login_conflict)`,
    // The start-up check reads the few marked rows without scanning users.
    sql`CREATE INDEX users_login_conflicts ON users (login_key) WHERE login_conflict > 0`,
    sql`DROP INDEX groups_name_ci`,
    sql`CREATE UNIQUE INDEX groups_name_key ON groups (name_key, name_conflict)`,
    sql`CREATE INDEX groups_name_conflicts ON groups (name_key) WHERE name_conflict > 0`,
    sql`DROP INDEX user_emails_value_ci`,
    sql`CREATE INDEX user_emails_value_key ON user_emails (value_key)`,
  ];
  for (const statement of after) await statement.execute(db);
}

function keyOf(value: string | null): string | null {
  return value === null ? null : caseKey(value);
}

/**
 * `UPDATE table SET … FROM (VALUES …)`: one statement per batch (both databases name the
 * VALUES columns column1, column2, …). `assignments` refer to them as v.columnN.
 */
async function updateFromValues(db: Kysely<unknown>, table: string, rows: readonly unknown[][], assignments: RawBuilder<unknown>, match: RawBuilder<unknown>): Promise<void> {
  if (rows.length === 0) return;
  const values = sql.join(rows.map((row) => sql`(${sql.join(row.map((value) => sql.val(value)))})`));
  await sql`UPDATE ${sql.table(table)} SET ${assignments} FROM (VALUES ${values}) AS v WHERE ${match}`.execute(db);
}

/** The JSON parameter of a VALUES column, as the column's type reads it. */
function jsonColumn(dialect: DialectAdapter, reference: string): RawBuilder<unknown> {
  return dialect.name === 'postgres' ? sql`CAST(${sql.ref(reference)} AS jsonb)` : sql.ref(reference);
}

/** Reads a table page by page in primary-key order. */
async function* pages<T>(db: Kysely<unknown>, select: (after: string | undefined) => RawBuilder<T>, keyOfRow: (row: T) => string): AsyncGenerator<T[]> {
  let after: string | undefined;
  for (;;) {
    const { rows } = await select(after).execute(db);
    if (rows.length === 0) return;
    yield rows;
    const last = rows[rows.length - 1];
    if (last === undefined || rows.length < BATCH) return;
    after = keyOfRow(last);
  }
}

interface UserRow {
  id: string;
  login: string;
  display_name: string | null;
  email: string | null;
  scim_data: unknown;
}

async function fillUsers(db: Kysely<unknown>, dialect: DialectAdapter): Promise<void> {
  const select = (after: string | undefined) =>
    sql<UserRow>`SELECT id, login, display_name, email, scim_data FROM users ${after === undefined ? sql`` : sql`WHERE id > ${after}`} ORDER BY id LIMIT ${sql.lit(BATCH)}`;
  for await (const rows of pages(db, select, (row) => row.id)) {
    const values = rows.map((row) => {
      const data = (dialect.fromJsonColumn(row.scim_data) ?? {}) as Record<string, unknown>;
      return [row.id, caseKey(row.login), keyOf(row.display_name), keyOf(row.email), dialect.toJsonParameter(foldDocument('User', data))];
    });
    await updateFromValues(
      db,
      'users',
      values,
      sql`login_key = v.column2, display_name_key = v.column3, email_key = v.column4, scim_fold = ${jsonColumn(dialect, 'v.column5')}`,
      sql`users.id = v.column1`,
    );
  }
}

interface GroupRow {
  id: string;
  name: string;
  scim_data: unknown;
}

async function fillGroups(db: Kysely<unknown>, dialect: DialectAdapter): Promise<void> {
  const select = (after: string | undefined) =>
    sql<GroupRow>`SELECT id, name, scim_data FROM groups ${after === undefined ? sql`` : sql`WHERE id > ${after}`} ORDER BY id LIMIT ${sql.lit(BATCH)}`;
  for await (const rows of pages(db, select, (row) => row.id)) {
    const values = rows.map((row) => {
      const data = (dialect.fromJsonColumn(row.scim_data) ?? {}) as Record<string, unknown>;
      return [row.id, caseKey(row.name), dialect.toJsonParameter(foldDocument('Group', data))];
    });
    await updateFromValues(db, 'groups', values, sql`name_key = v.column2, scim_fold = ${jsonColumn(dialect, 'v.column3')}`, sql`groups.id = v.column1`);
  }
}

interface EmailRow {
  user_id: string;
  position: number;
  value: string | null;
  type: string | null;
  display: string | null;
}

async function fillEmails(db: Kysely<unknown>): Promise<void> {
  // Keyset on (user_id, position), written as one text key for pages().
  let after: { user: string; position: number } | undefined;
  for (;;) {
    const where = after === undefined ? sql`` : sql`WHERE user_id > ${after.user} OR (user_id = ${after.user} AND position > ${after.position})`;
    const { rows } = await sql<EmailRow>`SELECT user_id, position, value, type, display FROM user_emails ${where} ORDER BY user_id, position LIMIT ${sql.lit(BATCH)}`.execute(db);
    if (rows.length === 0) return;
    // VALUES columns take their type from the first row; the position is compared as text
    // on both databases so that a NULL-free integer column needs no cast.
    const values = rows.map((row) => [row.user_id, String(row.position), keyOf(row.value), keyOf(row.type), keyOf(row.display)]);
    await updateFromValues(
      db,
      'user_emails',
      values,
      sql`value_key = v.column3, type_key = v.column4, display_key = v.column5`,
      sql`user_emails.user_id = v.column1 AND CAST(user_emails.position AS TEXT) = v.column2`,
    );
    const last = rows[rows.length - 1];
    if (last === undefined || rows.length < BATCH) return;
    after = { user: last.user_id, position: Number(last.position) };
  }
}

/**
 * Marks the rows whose name key another, older row has (conflict 1, 2, …) and records one
 * audit event per set, so that an administrator can decide which to rename.
 */
async function markConflicts(db: Kysely<unknown>, table: 'users' | 'groups', column: 'login' | 'name', targetType: 'user' | 'group', now: string): Promise<void> {
  const key = sql.ref(`${column}_key`);
  const { rows: keys } = await sql<{ key: string }>`SELECT ${key} AS key FROM ${sql.table(table)} GROUP BY ${key} HAVING count(*) > 1 ORDER BY ${key}`.execute(db);
  for (const { key: shared } of keys) {
    const { rows } = await sql<{ id: string; value: string; created_at: string }>`SELECT id, ${sql.ref(column)} AS value, created_at FROM ${sql.table(table)} WHERE ${key} = ${shared} ORDER BY created_at, id`.execute(db);
    const [kept, ...others] = rows;
    if (kept === undefined) continue;
    for (const [index, row] of others.entries()) {
      await sql`UPDATE ${sql.table(table)} SET ${sql.ref(`${column}_conflict`)} = ${index + 1} WHERE id = ${row.id}`.execute(db);
    }
    const attribute = table === 'users' ? 'userName' : 'displayName';
    const details = {
      attribute,
      key: shared,
      kept: { id: kept.id, [column]: kept.value },
      conflicting: others.map((row) => ({ id: row.id, [column]: row.value })),
      reason: `These ${table} had distinct ${attribute}s under the old rule (SQLite compared ASCII case only) and are equal regardless of case under Unicode case folding. Both are kept; rename one (see docs/scim.md, "Case and Unicode").`,
    };
    await sql`INSERT INTO audit_events (at, actor, action, target_type, target_id, details, actor_user) VALUES (${now}, 'system', ${`${targetType}.name_conflict`}, ${targetType}, ${kept.id}, ${JSON.stringify(details)}, NULL)`.execute(db);
  }
}
