/**
 * Reading the audit trail back (pages for the admin API, a streamed walk for the exports), and
 * its retention (ROSTER_AUDIT_RETENTION_DAYS; kept for ever when unset).
 */
import type { Store } from '../store/index.ts';
import { AUDIT_TARGET_TYPES, type AuditTargetType, countEvents, deleteEventsBefore, eventsAfter, lastEventSeq, listEvents, type EventFilter, type StoredEvent } from '../store/audit.ts';
import { transact } from '../store/transact.ts';
import { currentTargetNames } from '../store/audit-targets.ts';
import type { Executor } from '../store/executor.ts';
import { turnOfEventLoop, yieldTheDatabase } from '../store/turn.ts';
import { createJournal } from '../journal/journal.ts';
import type { Actor } from '../journal/actor.ts';
import { csvRecord } from '../text.ts';
import type { PageRequest } from './accounts.ts';
import { checkFields, rejected } from '../errors.ts';
import { instantParameter } from './instant-parameter.ts';
import { auditedUrl } from './webhooks.ts';

/** An event as APIs show it: the stored event with its details parsed back into JSON. */
export type AuditEntry = Omit<StoredEvent, 'details'> & { readonly details: unknown };

/** An audit entry as APIs show it, from the stored one. */
export function toEntry(event: StoredEvent): AuditEntry {
  let details: unknown = null;
  if (event.details !== null) {
    try {
      details = JSON.parse(event.details);
    } catch {
      details = event.details;
    }
  }
  return { ...event, details };
}

function text(query: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const raw = query[name];
  if (raw === undefined || raw === '') return undefined;
  if (typeof raw !== 'string') throw rejected(name, raw, 'must be given once');
  return raw;
}

/** What an audit entry may be about; the filter accepts these alone (store/audit.ts, the journal's types). */
export { AUDIT_TARGET_TYPES };
const TARGET_TYPES: readonly string[] = AUDIT_TARGET_TYPES;

/** Reads the filters shared by the API and the CLI export. */
export function parseEventFilter(query: Readonly<Record<string, unknown>>): EventFilter {
  const actor = text(query, 'actor');
  const actorUser = text(query, 'actorUser');
  const targetId = text(query, 'targetId');
  // Every filter is checked (in the order the API has always refused them), so that the console marks all the wrong ones at once.
  const { from, to, targetType, action } = checkFields({
    from: () => instantParameter(query, 'from'),
    to: () => instantParameter(query, 'to'),
    targetType: () => {
      const targetType = text(query, 'targetType');
      if (targetType !== undefined && !TARGET_TYPES.includes(targetType)) throw rejected('targetType', targetType, `must be one of ${TARGET_TYPES.join(', ')}`);
      return targetType;
    },
    action: () => {
      const action = text(query, 'action');
      if (action !== undefined && (action.length > MAX_ACTION || action === '*')) throw rejected('action', action, `must be an action (user.created) or a prefix ending in * (user.*), at most ${MAX_ACTION} characters`);
      return action;
    },
  });
  // `user.*`: every action whose name starts with `user.`.
  const prefix = action?.endsWith('*') === true ? action.slice(0, -1) : undefined;
  return {
    ...(action !== undefined ? (prefix !== undefined ? { actionPrefix: prefix } : { action }) : {}),
    ...(from !== undefined ? { from } : {}),
    ...(to !== undefined ? { to } : {}),
    ...(actor !== undefined ? { actor } : {}),
    ...(actorUser !== undefined ? { actorUser } : {}),
    ...(targetType !== undefined ? { targetType } : {}),
    ...(targetId !== undefined ? { targetId } : {}),
  };
}

const MAX_ACTION = 100;
const EXPORT_BATCH = 1000;
/** Entries deleted per transaction by `purge`. */
const PURGE_BATCH = 250;
/** The action of the entry that says what a clean-up of the audit trail deleted. */
const PURGED_ACTION = 'audit.purged';

/** The formats of an export: CSV for spreadsheets, JSON lines for programs. */
export const EXPORT_FORMATS = ['csv', 'jsonl'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

const CSV_COLUMNS = ['seq', 'at', 'actor', 'actorUser', 'action', 'targetType', 'targetId', 'details'] as const;

/** Reads a `format` value; anything else is a 400 naming the field. */
export function parseExportFormat(raw: unknown, field = 'format'): ExportFormat {
  if (raw === undefined || raw === '') return 'jsonl';
  const format = EXPORT_FORMATS.find((candidate) => candidate === raw);
  if (format === undefined) throw rejected(field, raw, `must be one of ${EXPORT_FORMATS.join(', ')}`);
  return format;
}

/** The next-page cursor of an audit-log page: the seq of its last event, as text. */
function parseSeqCursor(cursor: string): number {
  if (!/^\d{1,15}$/.test(cursor)) throw rejected('cursor', cursor, 'must be the page.next value of an earlier answer');
  return Number(cursor);
}

/**
 * The rows `page.offset` to `page.offset + page.limit` (one more than the page, as list reads
 * them) of `total` matching entries, read from the other end of the log: a deep page by number
 * (`pageIndex=19000` of a million entries) otherwise skips every entry before it, walking the
 * whole log (2.5 s at a million on SQLite, every other request held); a page nearer the end than
 * the start costs what one near the start does, as the users list does.
 */
async function fromTheFarEnd(db: Executor, filter: EventFilter, page: PageRequest & { readonly ascending: boolean }, total: number): Promise<StoredEvent[]> {
  const last = total - 1 - page.offset;
  if (last < 0) return [];
  const first = Math.max(0, last - page.limit);
  return (await listEvents(db, filter, { limit: last - first + 1, offset: first, ascending: !page.ascending })).reverse();
}

/** The audit-log reader over a store. */
export function createAuditLog(store: Store) {
  const journal = createJournal(store.dialect);

  /**
   * Every event matching `filter`, oldest first, EXPORT_BATCH at a time, up to the last event
   * written when the first batch was read (the audit log is only ever appended to). Each batch
   * is a statement of its own, after the last seq of the one before: nothing is held while the
   * client reads, however slowly (a held snapshot kept a PostgreSQL connection per download, and
   * pinned SQLite's log), and the event loop gets a turn between batches (on SQLite every read
   * answers at once: a walk of 200,000 events held every other request for its 11 seconds).
   */
  async function* batches(filter: EventFilter): AsyncGenerator<AuditEntry[]> {
    const lastSeq = await lastEventSeq(store.db);
    let afterSeq = 0;
    for (;;) {
      const batch = await eventsAfter(store.db, filter, afterSeq, lastSeq, EXPORT_BATCH);
      if (batch.length > 0) yield batch.map(toEntry);
      const last = batch.at(-1);
      if (batch.length < EXPORT_BATCH || last === undefined) return;
      afterSeq = last.seq;
      await turnOfEventLoop();
    }
  }

  /** Every event matching `filter`, oldest first, read in batches so memory stays flat. */
  async function* stream(filter: EventFilter): AsyncGenerator<AuditEntry> {
    for await (const batch of batches(filter)) yield* batch;
  }

  return {
    /**
     * Forgets the per-address budgets of refused sign-ins (journal.recordBudgeted) of minutes
     * no write can count in any more, a minute per transaction; returns how many rows went. The
     * next refused sign-in forgets them too, but after a burst from many addresses and none
     * since, only this does.
     */
    async purgeBudgets(now: Date = new Date()): Promise<number> {
      const before = `${new Date(now.getTime() - 2 * 60_000).toISOString().slice(0, 16)}Z`;
      let total = 0;
      for (;;) {
        const started = performance.now();
        const deleted = await transact(store.db, (trx) => journal.forgetOldestBudgets(trx, before));
        if (deleted === 0) return total;
        total += deleted;
        await yieldTheDatabase(performance.now() - started);
      }
    },

    /**
     * The current name of each entry's target that has one and still exists (a user's login, a
     * group's name, an application's or a token's name, a webhook's URL with its query hidden as
     * the details hide it), keyed `${targetType}:${targetId}`: the page shows what an entry is
     * about by name; an id is all a deleted target leaves.
     */
    async targetNames(entries: readonly AuditEntry[]): Promise<ReadonlyMap<string, string>> {
      const idsOf = (type: AuditTargetType) => [...new Set(entries.flatMap((entry) => (entry.targetType === type && entry.targetId !== null ? [entry.targetId] : [])))];
      const names = await currentTargetNames(store.db, { user: idsOf('user'), group: idsOf('group'), application: idsOf('application'), token: idsOf('token'), webhook: idsOf('webhook') });
      for (const [key, name] of names) if (key.startsWith('webhook:')) names.set(key, auditedUrl(name));
      return names;
    },

    /**
     * A page of events matching `filter`, newest first unless `ascending` (by seq either way),
     * with the total and the cursor of the next page (null on the last). With `cursor` (the
     * `next` of an earlier page) the page starts right after it and `offset` is not used.
     */
    async list(
      filter: EventFilter,
      page: PageRequest & { readonly ascending: boolean; readonly cursor?: string },
    ): Promise<{ events: AuditEntry[]; total: number; next: string | null }> {
      const afterSeq = page.cursor === undefined ? undefined : parseSeqCursor(page.cursor);
      return store.db.transaction().setAccessMode('read only').execute(async (trx) => {
        const total = await countEvents(trx, filter);
        if (page.limit === 0) return { events: [], total, next: null };
        // One row more than asked says whether there is a next page.
        const rows = afterSeq === undefined && page.offset > total / 2
          ? await fromTheFarEnd(trx, filter, page, total)
          : await listEvents(trx, filter, {
            limit: page.limit + 1,
            offset: afterSeq === undefined ? page.offset : 0,
            ascending: page.ascending,
            ...(afterSeq !== undefined ? { afterSeq } : {}),
          });
        const events = rows.slice(0, page.limit).map(toEntry);
        const last = events.at(-1);
        return { events, total, next: rows.length > page.limit && last !== undefined ? String(last.seq) : null };
      });
    },

    stream,

    /**
     * Deletes the entries written more than `retentionDays` days before `now`, PURGE_BATCH per
     * transaction with a pause as long as the batch between them (`yieldTheDatabase`: another
     * process on the same SQLite file gets its turn), and returns how many it deleted.
     * The trail says so itself: one `audit.purged` entry by `actor`, written with the first batch
     * and brought up to date with each later one (`before`, `retentionDays`, `deleted`), so that
     * a trail that starts late shows when, by whom and how far it was cut, whatever stops the
     * clean-up half-way. Safe to run on several instances at once (each counts its own).
     */
    async purge(retentionDays: number, actor: Actor, now: Date = new Date()): Promise<number> {
      const before = new Date(now.getTime() - retentionDays * 86_400_000).toISOString();
      let total = 0;
      let entrySeq: number | undefined;
      for (;;) {
        const started = performance.now();
        // State changes only once the batch is committed: transact may run it again.
        const batch = await transact(store.db, async (trx) => {
          const deleted = await deleteEventsBefore(trx, before, PURGE_BATCH);
          if (deleted === 0) return { deleted, entrySeq };
          const details = { before, retentionDays, deleted: total + deleted };
          if (entrySeq === undefined) return { deleted, entrySeq: await journal.recordProgress(trx, actor, { action: PURGED_ACTION, targetType: 'audit', targetId: null, details }) };
          await journal.updateProgress(trx, entrySeq, details);
          return { deleted, entrySeq };
        });
        total += batch.deleted;
        entrySeq = batch.entrySeq;
        if (batch.deleted < PURGE_BATCH) return total;
        await yieldTheDatabase(performance.now() - started);
      }
    },

    /**
     * The events matching `filter`, oldest first, as an export file: CSV (a header, then one
     * record per event, `details` as JSON text) or JSON lines. Each string is the lines of one
     * batch, read as the consumer pulls, so an export of any size holds one batch in memory.
     */
    async *exportLines(filter: EventFilter, format: ExportFormat): AsyncGenerator<string> {
      if (format === 'csv') yield csvRecord(CSV_COLUMNS);
      for await (const batch of batches(filter)) {
        yield batch
          .map((entry) => {
            if (format === 'jsonl') return `${JSON.stringify(entry)}\n`;
            const details = entry.details === null ? null : JSON.stringify(entry.details);
            return csvRecord([entry.seq, entry.at, entry.actor, entry.actorUser, entry.action, entry.targetType, entry.targetId, details]);
          })
          .join('');
      }
    },
  };
}

export type AuditLog = ReturnType<typeof createAuditLog>;
