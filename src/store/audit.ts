/**
 * SQL for reading the audit log back a page at a time. Entries are written by the journal
 * only (store/journal.ts, through src/journal/).
 */
import { sql, type Selectable } from 'kysely';
import type { Executor } from './executor.ts';
import type { HeldSnapshot } from './held-snapshot.ts';
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

/** Filters of the audit-log API; every one of them is served by an index. */
export interface EventFilter {
  /** Inclusive lower bound on `at` (ISO 8601). */
  readonly from?: string;
  /** Exclusive upper bound on `at` (ISO 8601). */
  readonly to?: string;
  /** Matches the actor (`token:okta`, `cli`, `system` …) or the login of the user behind it. */
  readonly actor?: string;
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

function filtered(db: Executor, filter: EventFilter) {
  let builder = db.selectFrom('audit_events');
  if (filter.from !== undefined) builder = builder.where('at', '>=', filter.from);
  if (filter.to !== undefined) builder = builder.where('at', '<', filter.to);
  if (filter.actor !== undefined) {
    const actor = filter.actor;
    builder = builder.where((eb) => eb.or([eb('actor', '=', actor), eb('actor_user', '=', actor)]));
  }
  if (filter.targetType !== undefined) builder = builder.where('target_type', '=', filter.targetType);
  if (filter.targetId !== undefined) builder = builder.where('target_id', '=', filter.targetId);
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
export async function listEvents(
  db: Executor,
  filter: EventFilter,
  page: { readonly offset: number; readonly limit: number; readonly ascending: boolean; readonly afterSeq?: number },
): Promise<StoredEvent[]> {
  let builder = filtered(db, filter).selectAll();
  if (page.afterSeq !== undefined) builder = builder.where('seq', page.ascending ? '>' : '<', page.afterSeq);
  const rows = await builder
    .orderBy('seq', page.ascending ? 'asc' : 'desc')
    .limit(page.limit)
    .offset(page.offset)
    .execute();
  return rows.map(toEvent);
}

/** How many events match `filter`. */
export async function countEvents(db: Executor, filter: EventFilter): Promise<number> {
  const row = await filtered(db, filter)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Every event matching `filter`, oldest first, `size` at a time, read in `snapshot`
 * (store/held-snapshot.ts) from one execution of the query: an export walks a log of any size
 * holding one chunk, sees the log as it was when it started, and (on SQLite, which reads
 * synchronously) gives the event loop a turn between chunks, so that other requests are
 * answered while it runs.
 */
export async function* eventsInChunks(snapshot: HeldSnapshot, filter: EventFilter, size: number): AsyncGenerator<StoredEvent[]> {
  const query = filtered(snapshot.db, filter).selectAll().orderBy('seq', 'asc');
  for await (const rows of snapshot.rows(query, size)) yield rows.map(toEvent);
}
