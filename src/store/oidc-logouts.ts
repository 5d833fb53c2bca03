/**
 * SQL for the outbox of OpenID Connect back-channel logouts (migration 029): one row per
 * application and user, written in the transaction that ends the user's sign-ins
 * (directory/application-logouts.ts), claimed and sent by delivery/logouts.ts, and deleted once
 * delivered or given up.
 *
 * ## Claims
 * As webhook endpoints (store/webhooks.ts): an instance claims due rows not under a live lease
 * in a short transaction, `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL (several instances
 * claiming at once take different rows, none waits; SQLite serialises transactions, so the same
 * statements are exact there), and writes its name and a lease longer than one attempt can
 * last. Every later write names the claim (`claimed_by`), so an instance whose lease ran out
 * (it hung past it, and another took the row over) changes nothing. An instance that dies
 * leaves its rows to be claimed again once their lease ends: at least once, never lost.
 */
import type { DialectAdapter } from './dialect.ts';
import type { Executor } from './executor.ts';

/** A logout to queue. */
export interface LogoutWrite {
  readonly id: string;
  readonly clientId: string;
  readonly subject: string;
  readonly cause: string;
}

/** A claimed logout, with what its application says now (null once it is deleted, or has no URI). */
export interface ClaimedLogout {
  readonly id: string;
  readonly clientId: string;
  readonly subject: string;
  readonly cause: string;
  readonly createdAt: string;
  readonly attempts: number;
  readonly lastError: string | null;
  readonly applicationName: string | null;
  readonly uri: string | null;
}

/**
 * Queues a logout for each of `logouts` whose application has a back-channel logout URI now
 * (the others have nowhere to be told); returns the client ids queued for. Due at once.
 */
export async function queueLogouts(db: Executor, logouts: readonly LogoutWrite[], at: string): Promise<string[]> {
  if (logouts.length === 0) return [];
  const clientIds = [...new Set(logouts.map((logout) => logout.clientId))];
  const listening = new Set(
    (await db.selectFrom('oidc_applications').select('client_id').where('client_id', 'in', clientIds).where('backchannel_logout_uri', 'is not', null).execute()).map((row) => row.client_id),
  );
  const queued = logouts.filter((logout) => listening.has(logout.clientId));
  if (queued.length === 0) return [];
  await db
    .insertInto('oidc_logouts')
    .values(queued.map((logout) => ({
      id: logout.id,
      client_id: logout.clientId,
      subject: logout.subject,
      cause: logout.cause,
      created_at: at,
      attempts: 0,
      next_attempt_at: at,
      last_error: null,
      claimed_by: null,
      lease_until: null,
    })))
    .execute();
  return queued.map((logout) => logout.clientId);
}

/** Claims up to `limit` due logouts for `instance` until `leaseUntil`. See the top of this file. */
export async function claimLogouts(db: Executor, dialect: DialectAdapter, instance: string, now: string, leaseUntil: string, limit: number): Promise<ClaimedLogout[]> {
  let query = db
    .selectFrom('oidc_logouts')
    .select('id')
    .where('next_attempt_at', '<=', now)
    .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
    .orderBy('next_attempt_at')
    .limit(limit);
  if (dialect.supportsRowLocks) query = query.forUpdate().skipLocked();
  const ids = (await query.execute()).map((row) => row.id);
  if (ids.length === 0) return [];
  await db.updateTable('oidc_logouts').set({ claimed_by: instance, lease_until: leaseUntil }).where('id', 'in', ids).execute();
  const rows = await db
    .selectFrom('oidc_logouts')
    .leftJoin('oidc_applications', 'oidc_applications.client_id', 'oidc_logouts.client_id')
    .select([
      'oidc_logouts.id',
      'oidc_logouts.client_id',
      'oidc_logouts.subject',
      'oidc_logouts.cause',
      'oidc_logouts.created_at',
      'oidc_logouts.attempts',
      'oidc_logouts.last_error',
      'oidc_applications.name',
      'oidc_applications.backchannel_logout_uri',
    ])
    .where('oidc_logouts.id', 'in', ids)
    .orderBy('oidc_logouts.next_attempt_at')
    .execute();
  return rows.map((row) => ({
    id: row.id,
    clientId: row.client_id,
    subject: row.subject,
    cause: row.cause,
    createdAt: row.created_at,
    attempts: Number(row.attempts),
    lastError: row.last_error,
    applicationName: row.name ?? null,
    uri: row.backchannel_logout_uri ?? null,
  }));
}

/** Deletes a logout this instance still holds (delivered, given up, or nowhere to send it); false when the claim was lost. */
export async function removeClaimedLogout(db: Executor, id: string, instance: string): Promise<boolean> {
  const result = await db.deleteFrom('oidc_logouts').where('id', '=', id).where('claimed_by', '=', instance).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** Records a failed attempt of a held logout and gives the claim back until `nextAttemptAt`; false when the claim was lost. */
export async function retryClaimedLogout(db: Executor, id: string, instance: string, failure: { readonly attempts: number; readonly error: string; readonly nextAttemptAt: string }): Promise<boolean> {
  const result = await db
    .updateTable('oidc_logouts')
    .set({ attempts: failure.attempts, last_error: failure.error, next_attempt_at: failure.nextAttemptAt, claimed_by: null, lease_until: null })
    .where('id', '=', id)
    .where('claimed_by', '=', instance)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Gives a held claim back at once (shutdown), its attempt not counted. */
export async function releaseLogout(db: Executor, id: string, instance: string): Promise<void> {
  await db.updateTable('oidc_logouts').set({ claimed_by: null, lease_until: null }).where('id', '=', id).where('claimed_by', '=', instance).execute();
}

/** A logout waiting to be delivered, as administrators see it. */
export interface PendingLogout {
  readonly id: string;
  readonly clientId: string;
  readonly subject: string;
  readonly cause: string;
  readonly createdAt: string;
  readonly attempts: number;
  readonly lastError: string | null;
  readonly nextAttemptAt: string;
}

/** The logouts still to deliver to `clientId`, oldest first, at most `limit`. */
export async function pendingLogoutsOf(db: Executor, clientId: string, limit: number): Promise<PendingLogout[]> {
  const rows = await db.selectFrom('oidc_logouts').selectAll().where('client_id', '=', clientId).orderBy('created_at').orderBy('id').limit(limit).execute();
  return rows.map((row) => ({
    id: row.id,
    clientId: row.client_id,
    subject: row.subject,
    cause: row.cause,
    createdAt: row.created_at,
    attempts: Number(row.attempts),
    lastError: row.last_error,
    nextAttemptAt: row.next_attempt_at,
  }));
}
