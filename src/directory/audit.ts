/**
 * The audit trail: one event per change, appended in the same transaction as the change so
 * that the log and the data can never disagree. Later issues deliver these events to host
 * applications, so every write path must call `recordEvent`.
 */
import type { Executor } from '../store/executor.ts';
import { insertEvent } from '../store/audit.ts';

/**
 * Who made a change: a token (its name and the user it belongs to), a signed-in user acting
 * through their session, a SAML sign-in, the command line, or Roster itself.
 */
export type Actor =
  | { readonly kind: 'token'; readonly name: string; readonly userId?: string | null; readonly login?: string | null }
  /** A signed-in user acting through their session. */
  | { readonly kind: 'session'; readonly userId: string; readonly login: string }
  /** A browser signing in through SAML, named by the login its assertion carried (if any). */
  | { readonly kind: 'saml'; readonly login: string | null }
  | { readonly kind: 'cli' }
  | { readonly kind: 'system' };

export interface AuditEvent {
  readonly action: string;
  readonly targetType: 'user' | 'group' | 'membership' | 'token' | 'setting';
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
  await insertEvent(db, {
    at,
    actor: describeActor(actor),
    actorUser: actorLogin(actor),
    action: event.action,
    targetType: event.targetType,
    targetId: event.targetId ?? null,
    details: event.details === undefined ? null : JSON.stringify(event.details),
  });
}
