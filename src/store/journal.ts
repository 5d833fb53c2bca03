/**
 * The journal's SQL: appending audit entries (with the anonymous-write budget). Only
 * src/journal/ calls these (test/architecture.test.ts keeps it so): every change is recorded
 * through one writer.
 */
import { sql } from 'kysely';
import type { Executor } from './executor.ts';
import type { StoredEvent } from './audit.ts';

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

