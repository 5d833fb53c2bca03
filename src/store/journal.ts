/**
 * The journal's SQL: appending audit entries (with the anonymous-write budget) and feed
 * events (read back, and kept to their retention, by store/feed.ts). Only src/journal/ calls
 * these, and the membership statements of store/memberships.ts that write their events
 * themselves (test/architecture.test.ts keeps it so): every change is recorded through one
 * writer.
 *
 * ## The feed's order
 * Events are ordered by position (tx, id): `tx` numbers the writing transaction, `id` is the
 * event's serial id, in the order the transaction wrote them. Readers must see transactions
 * in the order they committed: a change made after another one committed (an add after the
 * remove it waited for) must come after it, and a reader must never move past a place where
 * an event can still appear.
 *
 * On SQLite writes are serialised, so ids are in commit order; `tx` is event_feed.tx_offset
 * (0 until a `db copy` moves it) and the horizon is simply after the last event.
 *
 * On PostgreSQL neither ids nor transaction ids are in commit order: a transaction gets its id
 * when it first writes or locks, then may wait for another's rows and commit after it. So an
 * event is written with a placeholder `tx` (minus the transaction id, dialect.ts `pendingTx`),
 * and at COMMIT a deferred trigger (migration 015) takes the next number of event_tickets'
 * one row and gives it to the transaction's events. That row stays locked until the commit is
 * done, so numbers follow commit order and are handed out without gaps, and the committed
 * numbers any snapshot sees are exactly 1…N (N its last_ticket): the horizon is N + 1, and a
 * transaction still committing will take N + 1 or more. Readers never wait for slow
 * transactions; writers queue only for the moment of their commit. Placeholders sort below
 * every number and are never visible to another transaction.
 */
import { sql, type RawBuilder } from 'kysely';
import type { DialectAdapter } from './dialect.ts';
import type { Executor } from './executor.ts';
import type { StoredEvent } from './audit.ts';
import { compiledWrite, type CompiledWrite } from './compiled.ts';

/** An audit entry to append; `details` is JSON text. */
export type AuditWrite = Omit<StoredEvent, 'seq'>;

/** Appends one audit entry and returns its `seq`, which orders the log. */
export async function insertAuditEntry(db: Executor, event: AuditWrite): Promise<number> {
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

const appendAudit = compiledWrite(7, (db, [at, actor, actorUser, action, targetType, targetId, details]) =>
  db.insertInto('audit_events').values({
    at: at!,
    actor: actor!,
    actor_user: actorUser!,
    action: action!,
    target_type: targetType!,
    target_id: targetId!,
    details: details!,
  }),
);

/** Appends one audit entry, when its `seq` is not needed: compiled once, for every change a write records. */
export async function appendAuditEntry(db: Executor, event: AuditWrite): Promise<void> {
  await appendAudit(db, [event.at, event.actor, event.actorUser, event.action, event.targetType, event.targetId, event.details]);
}

/** Replaces the details of one audit entry: only for the summary entry that counts suppressed ones. */
export async function updateAuditDetails(db: Executor, seq: number, details: string): Promise<void> {
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
 * Forgets the budgets of the oldest minute before `minute`, one minute per statement (its rows
 * are one per source that minute); returns how many rows went, 0 when none is left.
 */
export async function purgeOldestAuditBudgets(db: Executor, minute: string): Promise<number> {
  const oldest = await db.selectFrom('audit_budgets').select('minute').where('minute', '<', minute).orderBy('minute').limit(1).executeTakeFirst();
  if (oldest === undefined) return 0;
  const result = await db.deleteFrom('audit_budgets').where('minute', '=', oldest.minute).executeTakeFirst();
  return Number(result.numDeletedRows);
}


/** The key of event_feed's one row (its clock offset and horizon; feed.ts reads and keeps it). */
export const FEED_ROW = 1;

/** A place in the feed: events sort by (tx, id). */
export interface FeedPosition {
  readonly tx: number;
  readonly id: number;
}

/** A feed event as stored; `actor`, `data` and `previous` are JSON text. */
export interface StoredFeedEvent {
  readonly id: number;
  readonly tx: number;
  readonly type: string;
  readonly occurredAt: string;
  readonly actor: string;
  readonly data: string;
  readonly previous: string | null;
}

/** A feed event to append. */
export interface EventWrite extends Omit<StoredFeedEvent, 'id' | 'tx'> {
  /**
   * The user the event is about, for an event about one user (`user.*`; membership events get
   * theirs from membershipEvents): a person's events are found by it (migrations 019, 028).
   */
  readonly userId: string | null;
}

/**
 * What the events of one change share (when and who), for the statements that write many
 * events at once (store/memberships.ts). Made by the journal (journal/journal.ts `stamp`).
 */
export interface EventStamp {
  readonly occurredAt: string;
  /** JSON text of the actor. */
  readonly actor: string;
}

/** The `tx` of the writing transaction's events: the offset (serialised writes), or a placeholder numbered at commit. */
function transactionTx(dialect: DialectAdapter): RawBuilder<number> {
  if (dialect.feedNumbering.kind === 'at-commit') return dialect.feedNumbering.pendingTx;
  return sql<number>`COALESCE((SELECT tx_offset FROM event_feed WHERE id = ${sql.lit(FEED_ROW)}), 0)`;
}

/** The insert of one feed event, compiled once per dialect (its transaction clock is the dialect's SQL). */
const eventInserts = new Map<DialectAdapter, CompiledWrite<unknown>>();
function eventInsert(dialect: DialectAdapter): CompiledWrite<unknown> {
  let compiled = eventInserts.get(dialect);
  if (compiled === undefined) {
    const tx = transactionTx(dialect);
    compiled = compiledWrite(6, (db, [type, occurredAt, actor, data, previous, userId]) => ({
      compile: () => sql`INSERT INTO events (tx, type, occurred_at, actor, data, previous, user_id) VALUES (${tx}, ${type}, ${occurredAt}, ${actor}, ${data}, ${previous}, ${userId})`.compile(db),
    }));
    eventInserts.set(dialect, compiled);
  }
  return compiled;
}

/**
 * PostgreSQL: an audit entry and the one event of its change in one statement (a
 * data-modifying CTE), one round trip instead of two. Compiled once per dialect.
 */
const changeInserts = new Map<DialectAdapter, CompiledWrite<unknown>>();
function changeInsert(dialect: DialectAdapter): CompiledWrite<unknown> {
  let compiled = changeInserts.get(dialect);
  if (compiled === undefined) {
    const tx = transactionTx(dialect);
    compiled = compiledWrite(13, (db, [at, actor, actorUser, action, targetType, targetId, details, type, occurredAt, eventActor, data, previous, userId]) => ({
      compile: () =>
        sql`WITH new_audit AS (INSERT INTO audit_events (at, actor, actor_user, action, target_type, target_id, details) VALUES (${at}, ${actor}, ${actorUser}, ${action}, ${targetType}, ${targetId}, ${details}))
          INSERT INTO events (tx, type, occurred_at, actor, data, previous, user_id) VALUES (${tx}, ${type}, ${occurredAt}, ${eventActor}, ${data}, ${previous}, ${userId})`.compile(db),
    }));
    changeInserts.set(dialect, compiled);
  }
  return compiled;
}

/** Appends a change's audit entry, then its events in order (one statement where the dialect allows it for one event). */
export async function appendChange(db: Executor, dialect: DialectAdapter, entry: AuditWrite, events: readonly EventWrite[]): Promise<void> {
  const [only] = events;
  if (events.length === 1 && only !== undefined && dialect.dataModifyingCte) {
    await changeInsert(dialect)(db, [entry.at, entry.actor, entry.actorUser, entry.action, entry.targetType, entry.targetId, entry.details, only.type, only.occurredAt, only.actor, only.data, only.previous, only.userId]);
    return;
  }
  await appendAuditEntry(db, entry);
  await insertEvents(db, dialect, events);
}

/** Appends feed events in the given order, in the caller's transaction. */
async function insertEvents(db: Executor, dialect: DialectAdapter, events: readonly EventWrite[]): Promise<void> {
  if (events.length === 0) return;
  const [only] = events;
  if (events.length === 1 && only !== undefined) {
    await eventInsert(dialect)(db, [only.type, only.occurredAt, only.actor, only.data, only.previous, only.userId]);
    return;
  }
  const tx = transactionTx(dialect);
  const rows = events.map((event) => sql`(${tx}, ${event.type}, ${event.occurredAt}, ${event.actor}, ${event.data}, ${event.previous}, ${event.userId})`);
  await sql`INSERT INTO events (tx, type, occurred_at, actor, data, previous, user_id) VALUES ${sql.join(rows)}`.execute(db);
}

/**
 * `INSERT INTO events … SELECT` of one membership event (`group.user_added` or
 * `group.user_removed`) per row of `rows`, a table expression aliased `r` with columns
 * `group_id` and `user_id`. The one definition of a membership event's data:
 * `{"group":{"id","name"},"user":{"id","login"}}`.
 */
export function membershipEvents(dialect: DialectAdapter, type: string, stamp: EventStamp, rows: RawBuilder<unknown>): RawBuilder<unknown> {
  const data = dialect.jsonAsText(
    dialect.jsonObject([
      ['group', dialect.jsonObject([['id', sql.ref('g.id')], ['name', sql.ref('g.name')]])],
      ['user', dialect.jsonObject([['id', sql.ref('u.id')], ['login', sql.ref('u.login')]])],
    ]),
  );
  // user_id: the user's membership history finds its events by it (migration 019).
  return sql`INSERT INTO events (tx, type, occurred_at, actor, data, user_id)
    SELECT ${transactionTx(dialect)}, ${type}, ${stamp.occurredAt}, ${stamp.actor}, ${data}, u.id
    FROM ${rows}
    JOIN groups g ON g.id = r.group_id
    JOIN users u ON u.id = r.user_id
    ORDER BY r.group_id, u.login, u.id`;
}
