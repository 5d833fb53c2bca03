/**
 * The audit trail: one event per change, appended in the same transaction as the change so
 * that the log and the data can never disagree. Later issues deliver these events to host
 * applications, so every write path must call `recordEvent`.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../store/index.ts';

/** Who made a change: a token (by name), an administrator, a SAML sign-in, or Roster itself. */
export type Actor =
  | { readonly kind: 'token'; readonly name: string; readonly userId?: string | null }
  | { readonly kind: 'cli' }
  /** A browser signing in through SAML, named by the login its assertion carried (if any). */
  | { readonly kind: 'saml'; readonly login: string | null }
  /** A signed-in user acting through their session. */
  | { readonly kind: 'session'; readonly login: string }
  | { readonly kind: 'system' };

export interface AuditEvent {
  readonly action: string;
  readonly targetType: 'user' | 'group' | 'membership' | 'token' | 'setting';
  readonly targetId?: string | null;
  /** Before/after attributes or other context. Never secrets (passwords, token values, hashes). */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** Describes an actor as one string for the log, e.g. `token:okta-provisioning`. */
export function describeActor(actor: Actor): string {
  switch (actor.kind) {
    case 'token':
      return `token:${actor.name}`;
    case 'cli':
      return 'cli';
    case 'saml':
      return actor.login === null ? 'saml' : `saml:${actor.login}`;
    case 'session':
      return `session:${actor.login}`;
    case 'system':
      return 'system';
  }
}

/** Appends an event; call it with the transaction that makes the change. */
export async function recordEvent(
  db: Transaction<Database> | Kysely<Database>,
  actor: Actor,
  event: AuditEvent,
  at: string = new Date().toISOString(),
): Promise<void> {
  await db
    .insertInto('audit_events')
    .values({
      at,
      actor: describeActor(actor),
      action: event.action,
      target_type: event.targetType,
      target_id: event.targetId ?? null,
      details: event.details === undefined ? null : JSON.stringify(event.details),
    })
    .execute();
}
