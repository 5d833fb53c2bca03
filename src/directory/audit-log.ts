/** Reading the audit trail back: pages for the admin API, a streamed walk for the export. */
import type { Store } from '../store/index.ts';
import { countEvents, eventsAfter, listEvents, type EventFilter, type StoredEvent } from '../store/audit.ts';
import type { PageRequest } from './accounts.ts';
import { rejected } from './errors.ts';

/** An event as APIs show it: the stored event with its details parsed back into JSON. */
export type AuditEntry = Omit<StoredEvent, 'details'> & { readonly details: unknown };

function toEntry(event: StoredEvent): AuditEntry {
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

const TARGET_TYPES = ['user', 'group', 'membership', 'token', 'setting', 'schema'];

/** An ISO 8601 instant, normalised to the stored form (UTC, milliseconds) so that text comparison is time comparison. */
function instant(query: Readonly<Record<string, unknown>>, name: 'from' | 'to'): string | undefined {
  const raw = text(query, name);
  if (raw === undefined) return undefined;
  const time = /^\d{4}-\d\d-\d\d(T[\d:.]+(Z|[+-]\d\d:?\d\d)?)?$/.test(raw) ? Date.parse(raw) : NaN;
  if (Number.isNaN(time)) throw rejected(name, raw, 'must be an ISO 8601 date or date-time, e.g. 2025-01-31T12:00:00Z');
  return new Date(time).toISOString();
}

/** Reads the filters shared by the API and the CLI export. */
export function parseEventFilter(query: Readonly<Record<string, unknown>>): EventFilter {
  const from = instant(query, 'from');
  const to = instant(query, 'to');
  const actor = text(query, 'actor');
  const targetType = text(query, 'targetType');
  const targetId = text(query, 'targetId');
  if (targetType !== undefined && !TARGET_TYPES.includes(targetType)) throw rejected('targetType', targetType, `must be one of ${TARGET_TYPES.join(', ')}`);
  return {
    ...(from !== undefined ? { from } : {}),
    ...(to !== undefined ? { to } : {}),
    ...(actor !== undefined ? { actor } : {}),
    ...(targetType !== undefined ? { targetType } : {}),
    ...(targetId !== undefined ? { targetId } : {}),
  };
}

const EXPORT_BATCH = 1000;

/** The audit-log reader over a store. */
export function createAuditLog(store: Store) {
  return {
    /** A page of events matching `filter`, newest first unless `ascending` (by seq either way). */
    async list(filter: EventFilter, page: PageRequest & { readonly ascending: boolean }): Promise<{ events: AuditEntry[]; total: number }> {
      return store.db.transaction().execute(async (trx) => {
        const total = await countEvents(trx, filter);
        const events = page.limit === 0 ? [] : await listEvents(trx, filter, page);
        return { events: events.map(toEntry), total };
      });
    },

    /** Every event matching `filter`, oldest first, read in batches so memory stays flat. */
    async *stream(filter: EventFilter): AsyncGenerator<AuditEntry> {
      let after = 0;
      for (;;) {
        const batch = await eventsAfter(store.db, after, filter, EXPORT_BATCH);
        for (const event of batch) yield toEntry(event);
        const last = batch.at(-1);
        if (last === undefined || batch.length < EXPORT_BATCH) return;
        after = last.seq;
      }
    },
  };
}

export type AuditLog = ReturnType<typeof createAuditLog>;
