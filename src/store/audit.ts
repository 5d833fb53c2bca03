/** SQL for the audit log: appending events and reading them back a page at a time. */
import { sql, type Selectable } from 'kysely';
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

/** What to append. */
export type EventWrite = Omit<StoredEvent, 'seq'>;

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

/** Appends one event and returns its `seq`, which orders the log. */
export async function insertEvent(db: Executor, event: EventWrite): Promise<number> {
  const row = await db
    .insertInto('audit_events')
    .values({
      at: event.at,
      actor: event.actor,
      actor_user: event.actorUser,
      action: event.action,
      target_type: event.targetType,
      target_id: event.targetId,
      details: event.details,
    })
    .returning('seq')
    .executeTakeFirstOrThrow();
  return Number(row.seq);
}

/** Replaces the details of one event: only for the summary entry that counts suppressed ones. */
export async function updateEventDetails(db: Executor, seq: number, details: string): Promise<void> {
  await db.updateTable('audit_events').set({ details }).where('seq', '=', seq).execute();
}

/** A source's use of its audit budget in one minute, this write included. */
export interface BudgetUse {
  readonly used: number;
  /** The summary entry of this source and minute, once written. */
  readonly summarySeq: number | null;
}

/**
 * Counts one audit write of `source` in `minute` and returns the count so far. One upsert:
 * on PostgreSQL it locks the row until the transaction ends, so concurrent writers of the
 * same source, on any instance, are counted one after the other.
 */
export async function useAuditBudget(db: Executor, source: string, minute: string): Promise<BudgetUse> {
  const row = await db
    .insertInto('audit_budgets')
    .values({ source, minute, used: 1, summary_seq: null })
    .onConflict((conflict) => conflict.columns(['source', 'minute']).doUpdateSet({ used: sql<number>`audit_budgets.used + 1` }))
    .returning(['used', 'summary_seq'])
    .executeTakeFirstOrThrow();
  return { used: Number(row.used), summarySeq: row.summary_seq === null ? null : Number(row.summary_seq) };
}

/** Remembers the summary entry of a source and minute. */
export async function setBudgetSummary(db: Executor, source: string, minute: string, seq: number): Promise<void> {
  await db.updateTable('audit_budgets').set({ summary_seq: seq }).where('source', '=', source).where('minute', '=', minute).execute();
}

/** Forgets the budgets of minutes before `minute`. */
export async function purgeAuditBudgets(db: Executor, minute: string): Promise<void> {
  await db.deleteFrom('audit_budgets').where('minute', '<', minute).execute();
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
 * The next `limit` events after `afterSeq`, oldest first: keyset paging, so an export walks a
 * log of any size in constant memory and never skips or repeats an event.
 */
export async function eventsAfter(db: Executor, afterSeq: number, filter: EventFilter, limit: number): Promise<StoredEvent[]> {
  const rows = await filtered(db, filter).selectAll().where('seq', '>', afterSeq).orderBy('seq', 'asc').limit(limit).execute();
  return rows.map(toEvent);
}
