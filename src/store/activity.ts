/**
 * SQL for the provisioning activity: appending SCIM requests, folding unauthenticated ones,
 * reading them back newest first by keyset, and deleting them past their retention.
 */
import { CompiledQuery, sql, type Selectable } from 'kysely';
import type { DialectAdapter } from './dialect.ts';
import type { Executor } from './executor.ts';
import type { ScimActivityTable } from './tables.ts';

/** One recorded request as stored. */
export interface StoredRequest {
  readonly id: number;
  readonly at: string;
  readonly method: string;
  readonly path: string;
  readonly filter: string | null;
  readonly status: number;
  readonly durationMs: number;
  readonly tokenId: string | null;
  readonly tokenName: string | null;
  readonly tokenUser: string | null;
  readonly source: string | null;
  readonly scimType: string | null;
  readonly detail: string | null;
  readonly requestCount: number;
}

/** What to append: a request, counted once. */
export type RequestWrite = Omit<StoredRequest, 'id' | 'requestCount'>;

/** The position of a row in the newest-first order, to read what comes after it. */
export interface ActivityKey {
  readonly at: string;
  readonly id: number;
}

function toRequest(row: Selectable<ScimActivityTable>): StoredRequest {
  return {
    id: Number(row.id),
    at: row.at,
    method: row.method,
    path: row.path,
    filter: row.filter,
    status: Number(row.status),
    durationMs: Number(row.duration_ms),
    tokenId: row.token_id,
    tokenName: row.token_name,
    tokenUser: row.token_user,
    source: row.source,
    scimType: row.scim_type,
    detail: row.detail,
    requestCount: Number(row.request_count),
  };
}

function columns(request: RequestWrite, foldKey: string | null, count = 1) {
  return {
    at: request.at,
    method: request.method,
    path: request.path,
    filter: request.filter,
    status: request.status,
    duration_ms: request.durationMs,
    token_id: request.tokenId,
    token_name: request.tokenName,
    token_user: request.tokenUser,
    source: request.source,
    scim_type: request.scimType,
    detail: request.detail,
    request_count: count,
    fold_key: foldKey,
  };
}

/**
 * Appends requests in one statement of fixed text whatever their number: the rows go as one
 * JSON parameter (an array of arrays, in the order of APPENDED), which the database unpacks
 * itself. Building and compiling a multi-row INSERT of 14 values a row cost more CPU than the
 * requests it recorded took to answer (docs/performance.md); this statement is prepared once.
 * Rows keep the order given (ids grow with it).
 */
const APPENDED = ['at', 'method', 'path', 'filter', 'status', 'duration_ms', 'token_id', 'token_name', 'token_user', 'source', 'scim_type', 'detail'] as const;
const INTEGER_COLUMNS: ReadonlySet<string> = new Set(['status', 'duration_ms']);

const appendStatements = new Map<string, string>();

function appendStatement(dialect: DialectAdapter): string {
  const known = appendStatements.get(dialect.name);
  if (known !== undefined) return known;
  const text = appendText(dialect);
  appendStatements.set(dialect.name, text);
  return text;
}

function appendText(dialect: DialectAdapter): string {
  const targets = `${APPENDED.join(', ')}, request_count, fold_key`;
  if (dialect.name === 'sqlite') {
    const values = APPENDED.map((_, i) => `json_extract(item.value, '$[${i}]')`).join(', ');
    return `INSERT INTO scim_activity (${targets}) SELECT ${values}, 1, NULL FROM json_each(?) AS item ORDER BY item.key`;
  }
  const values = APPENDED.map((column, i) => (INTEGER_COLUMNS.has(column) ? `(item.value ->> ${i})::integer` : `item.value ->> ${i}`)).join(', ');
  return `INSERT INTO scim_activity (${targets}) SELECT ${values}, 1, NULL FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS item(value, position) ORDER BY item.position`;
}

/** Appends requests, all of them in one statement. */
export async function insertRequests(db: Executor, dialect: DialectAdapter, requests: readonly RequestWrite[]): Promise<void> {
  if (requests.length === 0) return;
  const rows = requests.map((request) => [
    request.at,
    request.method,
    request.path,
    request.filter,
    request.status,
    Math.round(request.durationMs),
    request.tokenId,
    request.tokenName,
    request.tokenUser,
    request.source,
    request.scimType,
    request.detail,
  ]);
  await db.executeQuery(CompiledQuery.raw(appendStatement(dialect), [JSON.stringify(rows)]));
}

/** Counts `count` more requests in the folded row `foldKey`; false when there is no such row yet. */
export async function countFolded(db: Executor, foldKey: string, count: number): Promise<boolean> {
  const result = await db
    .updateTable('scim_activity')
    .set({ request_count: sql<number>`request_count + ${count}` })
    .where('fold_key', '=', foldKey)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/**
 * Starts the folded row `foldKey` with `request` standing for `count` requests, or adds them
 * to it when a concurrent writer (another instance) started it first.
 */
export async function insertFolded(db: Executor, foldKey: string, request: RequestWrite, count: number): Promise<void> {
  await db
    .insertInto('scim_activity')
    .values(columns(request, foldKey, count))
    .onConflict((conflict) => conflict.column('fold_key').doUpdateSet({ request_count: sql<number>`scim_activity.request_count + ${count}` }))
    .execute();
}

/** Counts one more source with a row of its own in `minute` and returns the count so far. */
export async function useFoldBudget(db: Executor, minute: string): Promise<number> {
  const row = await db
    .insertInto('scim_activity_budgets')
    .values({ minute, sources: 1 })
    .onConflict((conflict) => conflict.column('minute').doUpdateSet({ sources: sql<number>`scim_activity_budgets.sources + 1` }))
    .returning('sources')
    .executeTakeFirstOrThrow();
  return Number(row.sources);
}

/** Forgets the budgets of minutes before `minute`. */
export async function purgeFoldBudgets(db: Executor, minute: string): Promise<void> {
  await db.deleteFrom('scim_activity_budgets').where('minute', '<', minute).execute();
}

/** Which requests a list shows. */
export interface ActivityFilter {
  /** Only requests answered with a status of 400 or more. */
  readonly failuresOnly: boolean;
}

function filtered(db: Executor, filter: ActivityFilter) {
  const builder = db.selectFrom('scim_activity');
  // Literal, not a parameter: SQLite uses the partial index scim_activity_failures only when
  // the query states its predicate word for word.
  return filter.failuresOnly ? builder.where(sql<boolean>`status >= 400`) : builder;
}

/**
 * Up to `limit` requests, newest first (by `at`, then `id`), skipping `offset` rows, or
 * starting after `after` (keyset: as cheap on the last page as on the first).
 */
export async function listRequests(
  db: Executor,
  filter: ActivityFilter,
  page: { readonly limit: number; readonly offset: number; readonly after?: ActivityKey },
): Promise<StoredRequest[]> {
  let builder = filtered(db, filter).selectAll();
  const after = page.after;
  if (after !== undefined) {
    // A row-value comparison, which both databases answer with a range scan of (at, id).
    builder = builder.where((eb) => eb(eb.refTuple('at', 'id'), '<', eb.tuple(after.at, after.id)));
  }
  const rows = await builder.orderBy('at', 'desc').orderBy('id', 'desc').limit(page.limit).offset(page.offset).execute();
  return rows.map(toRequest);
}

/**
 * When the latest request with a verified token arrived (the identity provider's, or a
 * script's), or undefined when none is kept. Walks the (at, id) index from its end past the
 * unauthenticated rows only, which are folded to a few a minute.
 */
export async function latestAuthenticatedAt(db: Executor): Promise<string | undefined> {
  const row = await db.selectFrom('scim_activity').select('at').where('token_id', 'is not', null).orderBy('at', 'desc').orderBy('id', 'desc').limit(1).executeTakeFirst();
  return row?.at;
}

/** How many requests match `filter`. */
export async function countRequests(db: Executor, filter: ActivityFilter): Promise<number> {
  const row = await filtered(db, filter)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Deletes up to `limit` of the oldest requests that arrived before `cutoff` and returns how
 * many it deleted. Small batches keep each transaction (and SQLite's write lock) short; two
 * instances doing it at once delete each row once and find the rest gone.
 */
export async function deleteRequestsBefore(db: Executor, cutoff: string, limit: number): Promise<number> {
  const oldest = db.selectFrom('scim_activity').select('id').where('at', '<', cutoff).orderBy('at').limit(limit);
  const result = await db.deleteFrom('scim_activity').where('id', 'in', oldest).executeTakeFirst();
  return Number(result.numDeletedRows);
}
