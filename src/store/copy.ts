/**
 * Copies a whole installation from one database to another (SQLite ⇄ PostgreSQL), table by
 * table in foreign-key order, a page at a time: never a whole table in memory.
 *
 * The source is read in one read-only snapshot (REPEATABLE READ on PostgreSQL, one read
 * transaction on SQLite), so a copy taken while Roster runs is still consistent. The target
 * is written in one transaction: a failed copy leaves it empty, ready for another attempt.
 */
import { sql, type RawBuilder, type Transaction } from 'kysely';
import type { Store } from './index.ts';
import { continueEventClock, eventClockNow } from './feed.ts';
import { pendingMigrations } from './migrate.ts';
import type { Database } from './tables.ts';
import { PROVISIONING_MODE_KEY, seedProvisioningMode } from './migrations/025-provisioning-mode-row.ts';

interface TableSpec {
  readonly name: keyof Database;
  /** The primary key, for keyset paging. */
  readonly key: readonly string[];
  /** Columns of the dialect's JSON type, converted between the two representations. */
  readonly json?: readonly string[];
  /** A serial column whose generator must continue after the copied values. */
  readonly serial?: string;
}

/**
 * Every table, parents before children. A migration that adds a table must add it here too:
 * `copyDatabase` refuses a source with a table this list does not name, rather than leave
 * it behind.
 */
export const COPIED_TABLES: readonly TableSpec[] = [
  { name: 'users', key: ['id'], json: ['scim_data', 'scim_fold'] },
  { name: 'scim_users', key: ['scim_id'] },
  { name: 'user_emails', key: ['user_id', 'position'] },
  { name: 'groups', key: ['id'], json: ['scim_data', 'scim_fold'] },
  { name: 'scim_groups', key: ['scim_id'] },
  { name: 'memberships', key: ['group_id', 'user_id'] },
  { name: 'user_membership_changes', key: ['user_id'] },
  { name: 'tokens', key: ['id'] },
  { name: 'settings', key: ['key'] },
  { name: 'audit_events', key: ['seq'], serial: 'seq' },
  { name: 'audit_budgets', key: ['source', 'minute'] },
  { name: 'sessions', key: ['id'] },
  { name: 'saml_requests', key: ['id'] },
  { name: 'saml_assertions', key: ['id'] },
  { name: 'saml_sign_in_attempts', key: ['login_key'] },
  { name: 'scim_activity', key: ['id'], serial: 'id' },
  { name: 'scim_activity_budgets', key: ['minute'] },
  { name: 'password_backoff', key: ['key'] },
  { name: 'known_browsers', key: ['id', 'user_id'] },
  { name: 'scim_schemas', key: ['urn_key'] },
  { name: 'scim_unique_values', key: ['resource_type', 'attribute', 'value_hash'] },
  { name: 'rate_limits', key: ['key'] },
  { name: 'oidc_models', key: ['model', 'id'] },
  { name: 'oidc_applications', key: ['client_id'] },
  { name: 'oidc_logouts', key: ['id'] },
  { name: 'events', key: ['id'], serial: 'id' },
  { name: 'feed_gaps', key: ['id'], serial: 'id' },
  { name: 'webhooks', key: ['id'] },
  { name: 'webhook_deliveries', key: ['id'], serial: 'id' },
];

/**
 * Tables the copy knows but does not copy row by row: `event_feed` is rewritten for the
 * target (its clock must continue after the source's, see store/journal.ts), and
 * `staged_members` never holds a committed row.
 */
export const NOT_COPIED_TABLES: readonly (keyof Database)[] = ['event_feed', 'staged_members'];

/**
 * Tables the target keeps as its migrations made them: `event_tickets` (PostgreSQL only) holds
 * the target's own event numbering, which the copy moves past the source's clock.
 */
const TARGET_OWN_TABLES: readonly (keyof Database)[] = ['event_tickets'];

// Rows per page: small enough for SQLite's bound-parameter limit with every column bound.
const PAGE_ROWS = 500;
// Kysely's own bookkeeping: the target has its own, written by its migrations.
const INTERNAL_TABLES = /^kysely_migration/;

/** Progress of a copy, reported after every page. */
export interface CopyProgress {
  readonly table: string;
  readonly copied: number;
  readonly total: number;
}

/** Rows per table in source and target after the copy; equal when the copy is complete. */
export type CopyReport = { readonly table: string; readonly source: number; readonly target: number }[];

/** Why a copy cannot start: said before anything is written. */
export class CopyRefused extends Error {
  override readonly name = 'CopyRefused';
}

/** Copies every table of `source` into the empty, migrated `target`; returns the verified counts. */
export async function copyDatabase(source: Store, target: Store, onProgress: (progress: CopyProgress) => void): Promise<CopyReport> {
  const pending = await pendingMigrations(source);
  if (pending.length > 0) {
    throw new CopyRefused(`The source database is not up to date (missing migrations ${pending.join(', ')}): start Roster on it once, then copy.`);
  }
  const unknown = (await source.db.introspection.getTables())
    .map((table) => table.name)
    .filter((name) => !INTERNAL_TABLES.test(name) && !COPIED_TABLES.some((spec) => spec.name === name) && ![...NOT_COPIED_TABLES, ...TARGET_OWN_TABLES].some((known) => known === name));
  if (unknown.length > 0) {
    throw new CopyRefused(`The source has tables db copy does not know (${unknown.join(', ')}): add them to COPIED_TABLES in src/store/copy.ts.`);
  }
  const occupied = [];
  for (const name of [...COPIED_TABLES.map((spec) => spec.name), ...NOT_COPIED_TABLES]) {
    // A new database holds the switch's row from migration 025: the source's replaces it.
    const seeded = name === 'settings' ? await countRows(target.db, name, sql`key = ${PROVISIONING_MODE_KEY}`) : 0;
    if ((await countRows(target.db, name)) > seeded) occupied.push(name);
  }
  if (occupied.length > 0) {
    throw new CopyRefused(`The target database is not empty (rows in ${occupied.join(', ')}): copy only into a new, empty database.`);
  }

  const snapshot = source.db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only');
  const sourceCounts = await snapshot.execute(async (reader) => {
    const counts = new Map<string, number>();
    for (const spec of COPIED_TABLES) counts.set(spec.name, await countRows(reader, spec.name));
    const clock = await eventClockNow(reader, source.dialect);
    await target.db.transaction().execute(async (writer) => {
      await sql`DELETE FROM settings WHERE key = ${PROVISIONING_MODE_KEY}`.execute(writer);
      for (const spec of COPIED_TABLES) await copyTable(spec, reader, writer, source, target, counts.get(spec.name) ?? 0, onProgress);
      await seedProvisioningMode(writer);
      // Readers' cursors of the source stay valid on the target: new events follow every copied one.
      await continueEventClock(writer, target.dialect, clock);
    });
    return counts;
  });

  const report: CopyReport = [];
  for (const spec of COPIED_TABLES) {
    report.push({ table: spec.name, source: sourceCounts.get(spec.name) ?? 0, target: await countRows(target.db, spec.name) });
  }
  return report;
}

async function copyTable(
  spec: TableSpec,
  reader: Transaction<Database>,
  writer: Transaction<Database>,
  source: Store,
  target: Store,
  total: number,
  onProgress: (progress: CopyProgress) => void,
): Promise<void> {
  const keys = sql.join(spec.key.map((column) => sql.ref(column)));
  let after: unknown[] | undefined;
  let copied = 0;
  onProgress({ table: spec.name, copied, total });
  for (;;) {
    const from = after === undefined ? sql`` : sql`WHERE (${keys}) > (${sql.join(after.map((value) => sql.val(value)))})`;
    const page = await sql<Record<string, unknown>>`SELECT * FROM ${sql.table(spec.name)} ${from} ORDER BY ${keys} LIMIT ${sql.lit(PAGE_ROWS)}`.execute(reader);
    const rows = page.rows;
    if (rows.length === 0) break;
    await insertRows(writer, spec, rows.map((row) => convert(row, spec, source, target)));
    const last = rows[rows.length - 1] as Record<string, unknown>;
    after = spec.key.map((column) => last[column]);
    copied += rows.length;
    onProgress({ table: spec.name, copied, total });
    if (rows.length < PAGE_ROWS) break;
  }
  if (spec.serial !== undefined) {
    // The source's counter, not only its rows: values it handed out for rows deleted since (event
    // ids a restore undid) must not be handed out again by the target.
    const counter = (await source.dialect.lastSerial(spec.name, spec.serial).execute(reader)).rows[0]?.last;
    for (const statement of target.dialect.resyncSerial(spec.name, spec.serial, Number(counter ?? 0))) await statement.execute(writer);
  }
}

function convert(row: Record<string, unknown>, spec: TableSpec, source: Store, target: Store): Record<string, unknown> {
  if (spec.json === undefined) return row;
  const converted = { ...row };
  for (const column of spec.json) converted[column] = target.dialect.toJsonParameter(source.dialect.fromJsonColumn(row[column]));
  return converted;
}

async function insertRows(writer: Transaction<Database>, spec: TableSpec, rows: readonly Record<string, unknown>[]): Promise<void> {
  const columns = Object.keys(rows[0] ?? {});
  const values: RawBuilder<unknown>[] = rows.map((row) => sql`(${sql.join(columns.map((column) => sql.val(row[column] ?? null)))})`);
  await sql`INSERT INTO ${sql.table(spec.name)} (${sql.join(columns.map((column) => sql.ref(column)))}) VALUES ${sql.join(values)}`.execute(writer);
}

async function countRows(db: Store['db'] | Transaction<Database>, table: string, where?: RawBuilder<unknown>): Promise<number> {
  const result = await sql<{ n: number | string }>`SELECT count(*) AS n FROM ${sql.table(table)} ${where === undefined ? sql`` : sql`WHERE ${where}`}`.execute(db);
  return Number(result.rows[0]?.n ?? 0);
}
