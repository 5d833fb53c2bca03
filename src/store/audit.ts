/**
 * SQL for reading the audit log back a page at a time. Entries are written by the journal
 * only (store/journal.ts, through src/journal/).
 */
import { sql, type Selectable, type SqlBool } from 'kysely';
import type { Executor } from './executor.ts';
import type { AuditEventsTable } from './tables.ts';

/** One event as stored; `details` is JSON text. */
export interface StoredEvent {
  readonly seq: number;
  readonly at: string;
  readonly actor: string;
  readonly actorUser: string | null;
  readonly action: string;
  readonly targetType: string;
  readonly targetId: string | null;
  readonly details: string | null;
}

/** What an audit entry may be about (the journal writes no other type); the filter accepts these alone. */
export const AUDIT_TARGET_TYPES = ['user', 'group', 'membership', 'token', 'setting', 'schema', 'application', 'webhook', 'audit'] as const;
export type AuditTargetType = (typeof AUDIT_TARGET_TYPES)[number];

/** Filters of the audit-log API (how indexes serve them: `filtered`). */
export interface EventFilter {
  /** Inclusive lower bound on `at` (ISO 8601). */
  readonly from?: string;
  /** Exclusive upper bound on `at` (ISO 8601). */
  readonly to?: string;
  /** Matches the actor (`token:okta`, `cli`, `system` …) or the login of the user behind it. */
  readonly actor?: string;
  /**
   * The login of the user behind the actor only (`actorUser`): a user's own entries, none of
   * `cli` or `system` or a token named like that login, which `actor` would match too.
   */
  readonly actorUser?: string;
  readonly targetType?: string;
  readonly targetId?: string;
  /** The action exactly (`user.created`). */
  readonly action?: string;
  /** Actions starting with this text (`user.` for every user action). */
  readonly actionPrefix?: string;
}

function toEvent(row: Selectable<AuditEventsTable>): StoredEvent {
  return {
    seq: Number(row.seq),
    at: row.at,
    actor: row.actor,
    actorUser: row.actor_user,
    action: row.action,
    targetType: row.target_type,
    targetId: row.target_id,
    details: row.details,
  };
}

/**
 * How the rows are read: counted (any index helps), or walked in `seq` order for a page or an
 * export, where an index on a filter that matches much of the log (a type alone, the IdP's
 * token) made SQLite read every entry it matched and sort them all by seq before the first
 * row, holding every other request meanwhile (7.9 s for a page of one type with `from`, 1–9 s
 * for the token's entries, at three million entries); compared as expressions no index serves,
 * the walk of the primary key filters as it goes and stops after the page.
 */
type Reading = 'count' | 'wide count' | 'page' | 'export';

/** The rows matching `filter`, read as `reading` says (a page by actor: pageQuery's union of two index reads). */
function filtered(db: Executor, filter: EventFilter, reading: Reading = 'count') {
  const actorIndexed = reading !== 'export';
  // A count of one type reads its index alone; with a time range, the range of `at` is the
  // smaller read (0.4 s instead of 7.9 s for a month of three million entries).
  // A wide count: a range that holds most of the log ("since January") is the larger read, by
  // random lookups from the `at` index (2.8 s at a million entries): the type's index then, and
  // the range compared as an expression no index serves.
  const typeIndexed = filter.targetId !== undefined || (reading === 'count' && filter.from === undefined && filter.to === undefined) || reading === 'wide count';
  const at = reading === 'wide count' ? sql<string>`(at || '')` : sql.ref('at');
  let builder = db.selectFrom('audit_events');
  if (filter.from !== undefined) builder = builder.where(at, '>=', filter.from);
  if (filter.to !== undefined) builder = builder.where(at, '<', filter.to);
  if (filter.actor !== undefined) {
    const actor = filter.actor;
    builder = actorIndexed
      ? builder.where((eb) => eb.or([eb('actor', '=', actor), eb('actor_user', '=', actor)]))
      : builder.where(sql<SqlBool>`((actor || '') = ${actor} OR (coalesce(actor_user, '') || '') = ${actor})`);
  }
  if (filter.actorUser !== undefined) builder = builder.where('actor_user', '=', filter.actorUser);
  // With an id, the (target_type, target_id) index finds one object's history at once.
  if (filter.targetType !== undefined) builder = typeIndexed ? builder.where('target_type', '=', filter.targetType) : builder.where(sql<string>`(target_type || '')`, '=', filter.targetType);
  if (filter.targetId !== undefined) builder = builder.where('target_id', '=', filter.targetId);
  // An id without its type: every type is named, so that the same index finds the object's
  // history by one probe per type, instead of a walk of the whole log (0.3–0.55 s at a million
  // entries) comparing each entry's id.
  if (filter.targetId !== undefined && filter.targetType === undefined) builder = builder.where('target_type', 'in', AUDIT_TARGET_TYPES);
  if (filter.action !== undefined) builder = builder.where('action', '=', filter.action);
  if (filter.actionPrefix !== undefined) {
    // substr rather than LIKE: no wildcard to escape, and case-sensitive on both databases.
    const prefix = filter.actionPrefix;
    builder = builder.where(sql`substr(action, 1, ${prefix.length})`, '=', prefix);
  }
  return builder;
}

/**
 * A page of events matching `filter`, newest first unless `ascending`: `offset` rows skipped,
 * or (keyset, as cheap deep in the log as at its start) the events after `afterSeq` in that order.
 */
export async function listEvents(db: Executor, filter: EventFilter, page: EventPage): Promise<StoredEvent[]> {
  const rows = await pageQuery(db, filter, page).execute();
  return rows.map(toEvent);
}

/** Which page of the matching events listEvents reads. */
export interface EventPage {
  readonly offset: number;
  readonly limit: number;
  readonly ascending: boolean;
  readonly afterSeq?: number;
}

/** The statement of listEvents (exported for the tests of its plan). */
export function pageQuery(db: Executor, filter: EventFilter, page: EventPage) {
  const direction = page.ascending ? 'asc' : 'desc';
  const { actor, ...others } = filter;
  const matching = () => {
    const rows = filtered(db, others, 'page');
    return page.afterSeq === undefined ? rows : rows.where('seq', page.ascending ? '>' : '<', page.afterSeq);
  };
  if (actor === undefined) return matching().selectAll().orderBy('seq', direction).limit(page.limit).offset(page.offset);
  // The actor or the user behind it: the first entries of each in seq order, each read from its
  // own index without a sort, then the page among them. One OR across both indexes made SQLite
  // gather every entry of the actor and sort them all for one page (1–9 s for the IdP's token
  // at three million entries, every other request held meanwhile).
  const first = (column: 'actor' | 'actor_user') => matching().select('seq').where(column, '=', actor).orderBy('seq', direction).limit(page.offset + page.limit);
  return db
    .selectFrom('audit_events')
    .selectAll()
    .where('seq', 'in', db.selectFrom(first('actor').as('a')).select('a.seq').union(db.selectFrom(first('actor_user').as('u')).select('u.seq')))
    .orderBy('seq', direction)
    .limit(page.limit)
    .offset(page.offset);
}

/** How many events match `filter`. */
export async function countEvents(db: Executor, filter: EventFilter): Promise<number> {
  return Number((await (await countQuery(db, filter)).executeTakeFirstOrThrow()).n);
}

/** The statement of countEvents (exported for the tests of its plan). */
export async function countQuery(db: Executor, filter: EventFilter) {
  const counting = (reading: Reading, counted: EventFilter = filter) => filtered(db, counted, reading).select((eb) => eb.fn.countAll<number>().as('n'));
  const ranged = filter.from !== undefined || filter.to !== undefined;
  const indexedElsewhere = filter.targetType !== undefined || filter.action !== undefined;
  if (!ranged || !indexedElsewhere || filter.targetId !== undefined || filter.actionPrefix !== undefined) return counting('count');
  // Which index reads fewer rows: the range's, or the type's (or action's). The range's size is
  // estimated by a few index probes, the numbers of the entries at its ends (entries are
  // numbered about in time order; instances' clocks differ a little); the type's is counted
  // from its index alone, which reads no row.
  const seqAt = async (bound: 'first' | 'last', at?: { readonly op: '>=' | '<'; readonly value: string }): Promise<number | undefined> => {
    let query = db.selectFrom('audit_events').select('seq');
    query = at !== undefined ? query.where('at', at.op, at.value).orderBy('at', bound === 'first' ? 'asc' : 'desc') : query.orderBy('seq', bound === 'first' ? 'asc' : 'desc');
    const row = await query.limit(1).executeTakeFirst();
    return row === undefined ? undefined : Number(row.seq);
  };
  const start = await seqAt('first', filter.from === undefined ? undefined : { op: '>=', value: filter.from });
  const end = await seqAt('last', filter.to === undefined ? undefined : { op: '<', value: filter.to });
  if (start === undefined || end === undefined) return counting('count');
  const inRange = end - start + 1;
  // Counted no further than the range's size: all the choice needs, and a common type in a
  // narrow range costs no more than the range.
  const { from: _from, to: _to, ...typeOnly } = filter;
  const some = filtered(db, typeOnly, 'count').select(sql<number>`1`.as('one')).limit(inRange + 1);
  const ofType = Number((await db.selectFrom(some.as('t')).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  return counting(ofType <= inRange ? 'wide count' : 'count');
}

/**
 * The events matching `filter` after `afterSeq` up to `lastSeq` (included), oldest first, at most
 * `limit`: one batch of an export, each read by a short statement of its own, so that nothing
 * is held between batches while the client reads (a held snapshot kept a PostgreSQL connection
 * in a transaction for each download: ten stalled downloads took the whole pool).
 */
export async function eventsAfter(db: Executor, filter: EventFilter, afterSeq: number, lastSeq: number, limit: number): Promise<StoredEvent[]> {
  const rows = await exportQuery(db, filter).where('seq', '>', afterSeq).where('seq', '<=', lastSeq).limit(limit).execute();
  return rows.map(toEvent);
}

/** The seq of the last event written, 0 when there is none. */
export async function lastEventSeq(db: Executor): Promise<number> {
  const row = await db.selectFrom('audit_events').select((eb) => eb.fn.max('seq').as('last')).executeTakeFirst();
  return Number(row?.last ?? 0);
}

/**
 * Deletes up to `limit` of the oldest entries written before `cutoff` (through the index on
 * `at`) and returns how many it deleted. Small batches keep each transaction, and SQLite's write
 * lock, short; two instances doing it at once delete each entry once and find the rest gone.
 */
export async function deleteEventsBefore(db: Executor, cutoff: string, limit: number): Promise<number> {
  const oldest = db.selectFrom('audit_events').select('seq').where('at', '<', cutoff).orderBy('at').limit(limit);
  const result = await db.deleteFrom('audit_events').where('seq', 'in', oldest).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** The statement of an export's batches, before their bounds (exported for the tests of its plan). */
export function exportQuery(db: Executor, filter: EventFilter) {
  return filtered(db, filter, 'export').selectAll().orderBy('seq', 'asc');
}
