/**
 * The audit trail: one event per change, appended in the same transaction as the change so
 * that the log and the data can never disagree. Later issues deliver these events to host
 * applications, so every write path must call `recordEvent` (or `recordBudgetedEvent`).
 *
 * Every entry is bounded whoever writes it: each text in it is cut to MAX_AUDIT_TEXT
 * characters here, below every caller. Writes anyone can cause without signing in (refused
 * SAML responses, refused passwords) also draw on a budget per source and minute, kept in the database so that
 * all instances share it; past the budget they are counted in one summary entry instead of
 * being stored one by one (security review, issue 15, finding 1).
 */
import type { Executor } from '../store/executor.ts';
import { insertEvent, purgeAuditBudgets, setBudgetSummary, updateEventDetails, useAuditBudget } from '../store/audit.ts';
import { shorten } from '../text.ts';

/** The most characters any one text of an audit entry keeps (a detail, a key, the actor). */
const MAX_AUDIT_TEXT = 500;
/** Audit entries one anonymous source may write per minute; the rest are only counted. */
const AUDIT_BUDGET_PER_MINUTE = 30;
/** The action of the entry that counts a source's entries past its budget in one minute. */
const SUPPRESSED_ACTION = 'audit.suppressed';

/**
 * Who made a change: a token (its name and the user it belongs to), a signed-in user acting
 * through their session, a SAML or password sign-in, the command line, or Roster itself.
 */
export type Actor =
  | { readonly kind: 'token'; readonly name: string; readonly userId?: string | null; readonly login?: string | null }
  /** A signed-in user acting through their session. */
  | { readonly kind: 'session'; readonly userId: string; readonly login: string }
  /** A browser signing in through SAML, named by the login its assertion carried (if any). */
  | { readonly kind: 'saml'; readonly login: string | null }
  /** A browser signing in with a local account's password, named by the login it typed. */
  | { readonly kind: 'password'; readonly login: string }
  | { readonly kind: 'cli' }
  | { readonly kind: 'system' };

export interface AuditEvent {
  readonly action: string;
  readonly targetType: 'user' | 'group' | 'membership' | 'token' | 'setting' | 'schema' | 'application';
  readonly targetId?: string | null;
  /** Before/after attributes or other context. Never secrets (passwords, token values, hashes). */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** Describes an actor as one string for the log, e.g. `token:okta-provisioning`. */
function describeActor(actor: Actor): string {
  switch (actor.kind) {
    case 'token':
      return `token:${actor.name}`;
    case 'session':
      return `session:${actor.login}`;
    case 'saml':
      return actor.login === null ? 'saml' : `saml:${actor.login}`;
    case 'password':
      return `password:${actor.login}`;
    case 'cli':
      return 'cli';
    case 'system':
      return 'system';
  }
}

/** The login of the user behind an actor (a token's owner, a session's user), or null. */
function actorLogin(actor: Actor): string | null {
  switch (actor.kind) {
    case 'token':
      return actor.login ?? null;
    case 'session':
    case 'saml':
    case 'password':
      return actor.login;
    case 'cli':
    case 'system':
      return null;
  }
}

/** The internal id of the user behind an actor, or null (the self-deactivation rule needs it). */
export function actorUserId(actor: Actor): string | null {
  return actor.kind === 'token' || actor.kind === 'session' ? (actor.userId ?? null) : null;
}

/** Appends an event; call it with the transaction that makes the change. */
export async function recordEvent(db: Executor, actor: Actor, event: AuditEvent, at: string = new Date().toISOString()): Promise<void> {
  await insertEvent(db, toWrite(actor, event, at));
}

/**
 * Appends an event written on behalf of an anonymous `source` (the client address of a SAML
 * post or of a password sign-in), within that source's budget of AUDIT_BUDGET_PER_MINUTE entries per minute: past it,
 * the event is only counted, in one `audit.suppressed` entry per source and minute whose
 * `suppressed` grows with each. Returns whether the event itself was stored.
 */
export async function recordBudgetedEvent(db: Executor, source: string, actor: Actor, event: AuditEvent, at: string = new Date().toISOString()): Promise<boolean> {
  const key = shorten(source, MAX_AUDIT_TEXT);
  const minute = minuteOf(at);
  const { used, summarySeq } = await useAuditBudget(db, key, minute);
  // The first write of a source in a minute clears the minutes no write can count in any more
  // (the previous one is kept for instances whose clocks lag a little).
  if (used === 1) await purgeAuditBudgets(db, minuteOf(new Date(Date.parse(at) - 60_000).toISOString()));
  if (used <= AUDIT_BUDGET_PER_MINUTE) {
    await recordEvent(db, actor, { ...event, details: { ...event.details, source: key } }, at);
    return true;
  }
  const summary = { action: event.action, source: key, minute, suppressed: used - AUDIT_BUDGET_PER_MINUTE, budget: AUDIT_BUDGET_PER_MINUTE };
  if (summarySeq === null) {
    const seq = await insertEvent(db, toWrite(actor, { action: SUPPRESSED_ACTION, targetType: event.targetType, targetId: null, details: summary }, at));
    await setBudgetSummary(db, key, minute, seq);
  } else {
    await updateEventDetails(db, summarySeq, serialize(summary));
  }
  return false;
}

/** `2025-01-31T12:34Z`: the minute of an ISO 8601 instant, the unit of the audit budget. */
function minuteOf(at: string): string {
  return `${at.slice(0, 16)}Z`;
}

function toWrite(actor: Actor, event: AuditEvent, at: string) {
  const actorUser = actorLogin(actor);
  return {
    at,
    actor: shorten(describeActor(actor), MAX_AUDIT_TEXT),
    actorUser: actorUser === null ? null : shorten(actorUser, MAX_AUDIT_TEXT),
    action: event.action,
    targetType: event.targetType,
    targetId: event.targetId == null ? null : shorten(event.targetId, MAX_AUDIT_TEXT),
    details: event.details === undefined ? null : serialize(event.details),
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
