/**
 * The journal: the one writer of the audit trail and of the event feed, below both auth/ and
 * directory/. Every change is recorded here, in the transaction that makes it: its audit
 * entry and, for changes to users, groups, memberships and the provisioning switch, the
 * events applications read from the feed (directory/event-feed.ts) and webhooks. Nothing changes
 * without its entry and events, and no entry or event exists without its change.
 *
 * Membership events are the exception in form only: a change to 100k members writes its
 * 100k events with set-based statements beside the change itself (store/memberships.ts),
 * from the `stamp` made here.
 *
 * Every audit entry is bounded whoever writes it: each text in it is cut to MAX_AUDIT_TEXT
 * characters here, below every caller. Writes anyone can cause without signing in (refused
 * SAML responses, refused passwords) also draw on a budget per source and minute, kept in the database so that
 * all instances share it; past the budget they are counted in one summary entry instead of
 * being stored one by one (security review, issue 15, finding 1).
 */
import type { AuditTargetType } from '../store/audit.ts';
import type { DialectAdapter } from '../store/dialect.ts';
import type { Executor } from '../store/executor.ts';
import { appendAuditEntry, appendChange, insertAuditEntry, purgeAuditBudgets, purgeOldestAuditBudgets, setBudgetSummary, updateAuditDetails, useAuditBudget, type EventStamp } from '../store/journal.ts';
import { shorten } from '../text.ts';
import { actorLogin, actorObject, describeActor, type Actor } from './actor.ts';

/** Every type of event the feed carries, in the order docs/events.md describes them. */
export const EVENT_TYPES = [
  'user.created',
  'user.updated',
  'user.deactivated',
  'user.reactivated',
  'user.anonymized',
  'group.created',
  'group.updated',
  'group.deleted',
  'group.user_added',
  'group.user_removed',
  'provisioning.enabled',
  'provisioning.disabled',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/**
 * One event of the feed. `data` is the user or group in the admin API's shape
 * (directory/shapes.ts) after the change; `previous` the same before it, for updates.
 */
export interface FeedEvent {
  readonly type: EventType;
  readonly data: Readonly<Record<string, unknown>>;
  readonly previous?: Readonly<Record<string, unknown>>;
}

/** The most characters any one text of an audit entry keeps (a detail, a key, the actor). */
const MAX_AUDIT_TEXT = 500;
/** Audit entries one anonymous source may write per minute; the rest are only counted. */
const AUDIT_BUDGET_PER_MINUTE = 30;
/** The action of the entry that counts a source's entries past its budget in one minute. */
const SUPPRESSED_ACTION = 'audit.suppressed';

/** The audit entry of one change. */
export interface AuditEntry {
  readonly action: string;
  /** One of the types the audit log's filter knows (store/audit.ts): an id without its type is found by them. */
  readonly targetType: AuditTargetType;
  readonly targetId?: string | null;
  /** Before/after attributes or other context. Never secrets (passwords, token values, hashes). */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** One change as the journal records it: its audit entry and its feed events, in order. */
export interface Change extends AuditEntry {
  /** None for changes applications do not follow (tokens, settings, sign-ins, passwords). */
  readonly events?: readonly FeedEvent[];
}

/** The journal over one database dialect; wired once per service. */
export interface Journal {
  /** Records a change: its audit entry, then its events. Call it with the transaction that makes the change. */
  record(db: Executor, actor: Actor, change: Change, at?: string): Promise<void>;
  /**
   * What the membership events of a change share (who, when), for the set-based statements
   * of store/memberships.ts that write them beside the change.
   */
  stamp(actor: Actor, at: string): EventStamp;
  /**
   * Records an audit entry written on behalf of an anonymous `source` (the client address of
   * a SAML post or of a password sign-in), within that source's budget of AUDIT_BUDGET_PER_MINUTE entries per minute:
   * past it, the entry is only counted, in one `audit.suppressed` entry per source and minute
   * whose `suppressed` grows with each. Returns whether the entry itself was stored.
   */
  recordBudgeted(db: Executor, source: string, actor: Actor, entry: AuditEntry, at?: string): Promise<boolean>;
  /**
   * Records the audit entry of a long task done in batches, each in a transaction of its own (a
   * clean-up), in the first batch's transaction; returns its seq, for `updateProgress` in the
   * later ones, so that the entry says exactly what the committed batches did.
   */
  recordProgress(db: Executor, actor: Actor, entry: AuditEntry, at?: string): Promise<number>;
  /** Replaces the details of the entry `recordProgress` wrote, in the transaction of the batch they count. */
  updateProgress(db: Executor, seq: number, details: Readonly<Record<string, unknown>>): Promise<void>;
  /**
   * Forgets the recordBudgeted counts of the oldest minute before `minute` (`YYYY-MM-DDTHH:MMZ`),
   * for the hourly clean-up; returns how many rows went, 0 when none is left.
   */
  forgetOldestBudgets(db: Executor, minute: string): Promise<number>;
}

/** Builds the journal for a dialect. */
export function createJournal(dialect: DialectAdapter): Journal {
  async function record(db: Executor, actor: Actor, change: Change, at: string = new Date().toISOString()): Promise<void> {
    const { events, ...entry } = change;
    if (events === undefined || events.length === 0) {
      await appendAuditEntry(db, toWrite(actor, entry, at));
      return;
    }
    const who = feedActor(actor);
    await appendChange(
      db,
      dialect,
      toWrite(actor, entry, at),
      events.map((event) => ({
        type: event.type,
        occurredAt: at,
        actor: who,
        data: JSON.stringify(event.data),
        previous: event.previous === undefined ? null : JSON.stringify(event.previous),
        userId: userOf(event),
      })),
    );
  }

  return {
    record,
    stamp: (actor, at) => ({ occurredAt: at, actor: feedActor(actor) }),
    async recordBudgeted(db, source, actor, entry, at = new Date().toISOString()) {
      const key = shorten(source, MAX_AUDIT_TEXT);
      const minute = minuteOf(at);
      const { used, summarySeq } = await useAuditBudget(db, key, minute);
      // The first write of a source in a minute clears the minutes no write can count in any more
      // (the previous one is kept for instances whose clocks lag a little).
      if (used === 1) await purgeAuditBudgets(db, minuteOf(new Date(Date.parse(at) - 60_000).toISOString()));
      if (used <= AUDIT_BUDGET_PER_MINUTE) {
        await record(db, actor, { ...entry, details: { ...entry.details, source: key } }, at);
        return true;
      }
      const summary = { action: entry.action, source: key, minute, suppressed: used - AUDIT_BUDGET_PER_MINUTE, budget: AUDIT_BUDGET_PER_MINUTE };
      if (summarySeq === null) {
        const seq = await insertAuditEntry(db, toWrite(actor, { action: SUPPRESSED_ACTION, targetType: entry.targetType, targetId: null, details: summary }, at));
        await setBudgetSummary(db, key, minute, seq);
      } else {
        await updateAuditDetails(db, summarySeq, serialize(summary));
      }
      return false;
    },
    recordProgress: (db, actor, entry, at = new Date().toISOString()) => insertAuditEntry(db, toWrite(actor, entry, at)),
    updateProgress: (db, seq, details) => updateAuditDetails(db, seq, serialize(details)),
    forgetOldestBudgets: (db, minute) => purgeOldestAuditBudgets(db, minute),
  };
}

/** The user an event is about, for the events whose `data` is one user (`user.*`, data in the admin API's shape): null for the others. */
function userOf(event: FeedEvent): string | null {
  return event.type.startsWith('user.') && typeof event.data['id'] === 'string' ? event.data['id'] : null;
}

/** The actor as feed events store it: JSON, each text capped as in the audit trail. */
function feedActor(actor: Actor): string {
  return JSON.stringify(actorObject(actor), (_key, value: unknown) => (typeof value === 'string' ? shorten(value, MAX_AUDIT_TEXT) : value));
}

/** `2025-01-31T12:34Z`: the minute of an ISO 8601 instant, the unit of the audit budget. */
function minuteOf(at: string): string {
  return `${at.slice(0, 16)}Z`;
}

function toWrite(actor: Actor, entry: AuditEntry, at: string) {
  const actorUser = actorLogin(actor);
  return {
    at,
    actor: shorten(describeActor(actor), MAX_AUDIT_TEXT),
    actorUser: actorUser === null ? null : shorten(actorUser, MAX_AUDIT_TEXT),
    action: entry.action,
    targetType: entry.targetType,
    targetId: entry.targetId == null ? null : shorten(entry.targetId, MAX_AUDIT_TEXT),
    details: entry.details === undefined ? null : serialize(entry.details),
  };
}

/**
 * The details as stored: JSON with every string and every key cut to MAX_AUDIT_TEXT
 * characters, wherever it sits (a parser's error message, an assertion's login, an attribute
 * of a SCIM document). One pass, so a large but legitimate entry costs no more than before.
 */
function serialize(details: Readonly<Record<string, unknown>>): string {
  return JSON.stringify(details, (_key, value: unknown) => {
    if (typeof value === 'string') return shorten(value, MAX_AUDIT_TEXT);
    if (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).some((name) => name.length > MAX_AUDIT_TEXT)) {
      return Object.fromEntries(Object.entries(value).map(([name, item]) => [shorten(name, MAX_AUDIT_TEXT), item]));
    }
    return value;
  });
}
