/**
 * SQL for webhooks: the endpoints administrators manage (directory/webhooks.ts), the claims
 * and leases through which instances take turns delivering to them, and the log of attempts
 * (delivery/worker.ts).
 *
 * ## Claims
 * An instance claims an endpoint that is enabled, due, and not claimed by a live lease, in a
 * short transaction: `SELECT … FOR UPDATE SKIP LOCKED` (PostgreSQL; several instances claiming
 * at once each take different rows, none waits) then writes its name and a lease. It then
 * delivers outside any transaction, renewing the lease as it goes, and reads the endpoint again
 * before each request: so at most one instance delivers to an endpoint at any time, and an
 * administrator's change applies from the next request. An administrator's change never ends
 * the claim (another instance would start delivering while the holder is still waiting for an
 * answer); the holder sees the change before its next request: a new URL, types or secret it
 * uses from then on; a disabled or deleted endpoint it stops and gives back. A replay moves the
 * position and bumps `generation`: the holder's record of its own progress is then refused
 * (it would move the position back past the replay), and it gives the claim back to start
 * again from the replayed event. An instance that dies stops renewing: once its lease is over,
 * another instance claims the endpoint and starts again from the stored position. No advisory
 * locks: CockroachDB runs all of this. On SQLite, transactions are serialised (BEGIN
 * IMMEDIATE, sqlite.ts), so the same statements without the row lock are exact.
 */
import { sql, type Selectable } from 'kysely';
import type { DialectAdapter } from './dialect.ts';
import type { Executor } from './executor.ts';
import type { SecretBox } from './secret-box.ts';
import { sealForWrite } from './secrets.ts';
import type { FeedPosition } from './journal.ts';
import type { WebhookDeliveriesTable, WebhooksTable } from './tables.ts';

/** An endpoint as stored. */
export interface StoredWebhook {
  readonly id: string;
  readonly url: string;
  /** null: every type. */
  readonly types: readonly string[] | null;
  readonly enabled: boolean;
  readonly disabledReason: string | null;
  readonly disabledAt: string | null;
  readonly secret: string;
  readonly previousSecret: string | null;
  readonly previousSecretUntil: string | null;
  readonly position: FeedPosition;
  readonly generation: number;
  readonly attempts: number;
  readonly failingSince: string | null;
  readonly nextAttemptAt: string;
  readonly claimedBy: string | null;
  readonly leaseUntil: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** One delivery attempt as stored. */
export interface StoredDelivery {
  readonly id: number;
  readonly webhookId: string;
  readonly eventId: number;
  readonly eventType: string;
  readonly attempt: number;
  readonly at: string;
  readonly status: number | null;
  readonly latencyMs: number;
  readonly response: string | null;
  readonly error: string | null;
  readonly outcome: string;
}

/** An attempt to append. */
export type DeliveryWrite = Omit<StoredDelivery, 'id'>;

/** The endpoint of a row; its signing secrets are opened (store/secrets.ts seals them at rest). */
function toWebhook(row: Selectable<WebhooksTable>, secrets: SecretBox): StoredWebhook {
  return {
    id: row.id,
    url: row.url,
    types: row.types === null ? null : row.types.split(','),
    enabled: Number(row.enabled) === 1,
    disabledReason: row.disabled_reason,
    disabledAt: row.disabled_at,
    secret: secrets.open(row.secret),
    previousSecret: row.previous_secret === null ? null : secrets.open(row.previous_secret),
    previousSecretUntil: row.previous_secret_until,
    position: { tx: Number(row.pos_tx), id: Number(row.pos_id) },
    generation: Number(row.generation),
    attempts: Number(row.attempts),
    failingSince: row.failing_since,
    nextAttemptAt: row.next_attempt_at,
    claimedBy: row.claimed_by,
    leaseUntil: row.lease_until,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toDelivery(row: Selectable<WebhookDeliveriesTable>): StoredDelivery {
  return {
    id: Number(row.id),
    webhookId: row.webhook_id,
    eventId: Number(row.event_id),
    eventType: row.event_type,
    attempt: Number(row.attempt),
    at: row.at,
    status: row.status === null ? null : Number(row.status),
    latencyMs: Number(row.latency_ms),
    response: row.response,
    error: row.error,
    outcome: row.outcome,
  };
}

/** A new endpoint: enabled, at `position`, due at once. */
export interface WebhookInsert {
  readonly id: string;
  readonly url: string;
  readonly types: readonly string[] | null;
  readonly secret: string;
  readonly position: FeedPosition;
  readonly at: string;
}

/** Inserts a new endpoint. */
export async function insertWebhook(db: Executor, secrets: SecretBox, webhook: WebhookInsert): Promise<void> {
  const secret = await sealForWrite(db, secrets, webhook.secret);
  await db
    .insertInto('webhooks')
    .values({
      id: webhook.id,
      url: webhook.url,
      types: webhook.types === null ? null : webhook.types.join(','),
      enabled: 1,
      disabled_reason: null,
      disabled_at: null,
      secret,
      previous_secret: null,
      previous_secret_until: null,
      pos_tx: webhook.position.tx,
      pos_id: webhook.position.id,
      generation: 1,
      attempts: 0,
      failing_since: null,
      next_attempt_at: webhook.at,
      claimed_by: null,
      lease_until: null,
      created_at: webhook.at,
      updated_at: webhook.at,
    })
    .execute();
}

/** One endpoint, or undefined; `lock` takes its row lock (PostgreSQL) for a read-then-write. */
export async function findWebhook(db: Executor, dialect: DialectAdapter, secrets: SecretBox, id: string, lock = false): Promise<StoredWebhook | undefined> {
  let query = db.selectFrom('webhooks').selectAll().where('id', '=', id);
  if (lock && dialect.supportsRowLocks) query = query.forUpdate();
  const row = await query.executeTakeFirst();
  return row === undefined ? undefined : toWebhook(row, secrets);
}

/** Every endpoint, oldest first. Endpoints are few (administrators create them by hand). */
export async function listWebhooks(db: Executor, secrets: SecretBox): Promise<StoredWebhook[]> {
  const rows = await db.selectFrom('webhooks').selectAll().orderBy('created_at').orderBy('id').execute();
  return rows.map((row) => toWebhook(row, secrets));
}

/** What the metrics say of an endpoint (no secret is read). */
export interface WebhookProgress {
  readonly id: string;
  readonly enabled: boolean;
  /** Failed attempts at the event at the position. */
  readonly attempts: number;
  readonly position: FeedPosition;
}

/** Every endpoint's progress, oldest first. */
export async function listWebhookProgress(db: Executor): Promise<WebhookProgress[]> {
  const rows = await db.selectFrom('webhooks').select(['id', 'enabled', 'attempts', 'pos_tx', 'pos_id']).orderBy('created_at').orderBy('id').execute();
  return rows.map((row) => ({ id: row.id, enabled: Number(row.enabled) === 1, attempts: Number(row.attempts), position: { tx: Number(row.pos_tx), id: Number(row.pos_id) } }));
}

/** What an administrator's change sets. */
export interface WebhookChange {
  readonly url?: string;
  readonly types?: readonly string[] | null;
  readonly enabled?: boolean;
  readonly disabledReason?: string | null;
  readonly secret?: string;
  readonly previousSecret?: string | null;
  readonly previousSecretUntil?: string | null;
  /**
   * Moving the position (replay) also forgets the failures of the event it was at, and bumps
   * `generation`: the worker holding the claim, if any, can no longer record its progress over it.
   */
  readonly position?: FeedPosition;
  /** Forgets the failures at the event at the position (enable): the retry schedule starts afresh. */
  readonly resetFailures?: boolean;
  /** Makes the endpoint due at once (enable, replay, a new URL, types or secret), for whoever claims it next. */
  readonly dueNow?: boolean;
}

/** Applies an administrator's change to one endpoint at `at`. */
export async function updateWebhook(db: Executor, secrets: SecretBox, id: string, change: WebhookChange, at: string): Promise<void> {
  const secret = change.secret === undefined ? undefined : await sealForWrite(db, secrets, change.secret);
  const previousSecret = change.previousSecret == null ? change.previousSecret : await sealForWrite(db, secrets, change.previousSecret);
  await db
    .updateTable('webhooks')
    .set((eb) => ({
      updated_at: at,
      ...(change.url !== undefined ? { url: change.url } : {}),
      ...(change.types !== undefined ? { types: change.types === null ? null : change.types.join(',') } : {}),
      ...(change.enabled !== undefined
        ? { enabled: change.enabled ? 1 : 0, disabled_reason: change.enabled ? null : (change.disabledReason ?? null), disabled_at: change.enabled ? null : at }
        : {}),
      ...(secret !== undefined ? { secret } : {}),
      ...(previousSecret !== undefined ? { previous_secret: previousSecret } : {}),
      ...(change.previousSecretUntil !== undefined ? { previous_secret_until: change.previousSecretUntil } : {}),
      // The claim stays with its holder (see the top of this file): it reads the change before its next request.
      ...(change.position !== undefined ? { pos_tx: change.position.tx, pos_id: change.position.id, attempts: 0, failing_since: null, generation: eb('generation', '+', 1) } : {}),
      ...(change.resetFailures === true ? { attempts: 0, failing_since: null } : {}),
      ...(change.dueNow === true ? { next_attempt_at: at } : {}),
    }))
    .where('id', '=', id)
    .execute();
}

/** Deletes an endpoint and its log of attempts. */
export async function deleteWebhook(db: Executor, id: string): Promise<boolean> {
  await db.deleteFrom('webhook_deliveries').where('webhook_id', '=', id).execute();
  const result = await db.deleteFrom('webhooks').where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** The position of event `id` in the feed, or undefined when it is not (or no longer) there. */
export async function eventPosition(db: Executor, id: number): Promise<FeedPosition | undefined> {
  const row = await db.selectFrom('events').select(['tx', 'id']).where('id', '=', id).executeTakeFirst();
  return row === undefined ? undefined : { tx: Number(row.tx), id: Number(row.id) };
}

/**
 * Claims up to `limit` endpoints for `instance` until `leaseUntil`: enabled, due at `now`, and
 * not under another live lease. Returns them as claimed. See the top of this file.
 */
export async function claimWebhooks(db: Executor, dialect: DialectAdapter, secrets: SecretBox, instance: string, now: string, leaseUntil: string, limit: number): Promise<StoredWebhook[]> {
  let query = db
    .selectFrom('webhooks')
    .select('id')
    .where('enabled', '=', 1)
    .where('next_attempt_at', '<=', now)
    .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
    .orderBy('next_attempt_at')
    .limit(limit);
  if (dialect.supportsRowLocks) query = query.forUpdate().skipLocked();
  const ids = (await query.execute()).map((row) => row.id);
  if (ids.length === 0) return [];
  await db.updateTable('webhooks').set({ claimed_by: instance, lease_until: leaseUntil }).where('id', 'in', ids).execute();
  const rows = await db.selectFrom('webhooks').selectAll().where('id', 'in', ids).execute();
  return rows.map((row) => toWebhook(row, secrets));
}

/** The claim a worker's writes must still hold. */
export interface Claim {
  readonly id: string;
  readonly instance: string;
  readonly generation: number;
}

/** The claim is still this instance's (nobody took it over after its lease ran out). */
function holds(claim: Claim) {
  return sql<boolean>`id = ${claim.id} AND claimed_by = ${claim.instance}`;
}

/** …and no replay moved the position since it was claimed: its progress may be recorded. */
function heldAsClaimed(claim: Claim) {
  return sql<boolean>`id = ${claim.id} AND claimed_by = ${claim.instance} AND generation = ${claim.generation}`;
}

/** Extends a held lease to `leaseUntil`; false when the claim is lost (taken over, or the endpoint deleted). */
export async function renewLease(db: Executor, claim: Claim, leaseUntil: string): Promise<boolean> {
  const result = await db.updateTable('webhooks').set({ lease_until: leaseUntil }).where(holds(claim)).executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Gives a held claim back, whatever changed meanwhile: another instance (or this one) may claim the endpoint at once. */
export async function releaseClaim(db: Executor, claim: Claim): Promise<void> {
  await db.updateTable('webhooks').set({ claimed_by: null, lease_until: null }).where(holds(claim)).execute();
}

/** What a worker records after an attempt or a read, under its claim. */
export interface ClaimedUpdate {
  readonly position?: FeedPosition;
  readonly attempts?: number;
  readonly failingSince?: string | null;
  readonly nextAttemptAt?: string;
  /** Disables the endpoint with this reason. */
  readonly disable?: string;
  /** Ends the claim (the worker is done with the endpoint for now). */
  readonly release?: boolean;
}

/**
 * Writes a worker's progress under its claim; false when the claim is lost or a replay moved
 * the position (nothing written). A disabled endpoint still takes it: the events were delivered.
 */
export async function updateClaimed(db: Executor, claim: Claim, update: ClaimedUpdate, at: string): Promise<boolean> {
  const result = await db
    .updateTable('webhooks')
    .set({
      ...(update.position !== undefined ? { pos_tx: update.position.tx, pos_id: update.position.id } : {}),
      ...(update.attempts !== undefined ? { attempts: update.attempts } : {}),
      ...(update.failingSince !== undefined ? { failing_since: update.failingSince } : {}),
      ...(update.nextAttemptAt !== undefined ? { next_attempt_at: update.nextAttemptAt } : {}),
      ...(update.disable !== undefined ? { enabled: 0, disabled_reason: update.disable, disabled_at: at, updated_at: at } : {}),
      ...(update.release === true || update.disable !== undefined ? { claimed_by: null, lease_until: null } : {}),
    })
    .where(heldAsClaimed(claim))
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Appends attempts to the log, in the order given. */
export async function insertDeliveries(db: Executor, deliveries: readonly DeliveryWrite[]): Promise<void> {
  if (deliveries.length === 0) return;
  await db
    .insertInto('webhook_deliveries')
    .values(
      deliveries.map((delivery) => ({
        webhook_id: delivery.webhookId,
        event_id: delivery.eventId,
        event_type: delivery.eventType,
        attempt: delivery.attempt,
        at: delivery.at,
        status: delivery.status,
        latency_ms: delivery.latencyMs,
        response: delivery.response,
        error: delivery.error,
        outcome: delivery.outcome,
      })),
    )
    .execute();
}

/** An endpoint's attempts, newest first, before the attempt `before` (its id) when given. */
export async function listDeliveries(db: Executor, webhookId: string, limit: number, before?: number): Promise<StoredDelivery[]> {
  let query = db.selectFrom('webhook_deliveries').selectAll().where('webhook_id', '=', webhookId);
  if (before !== undefined) query = query.where('id', '<', before);
  const rows = await query.orderBy('id', 'desc').limit(limit).execute();
  return rows.map(toDelivery);
}

/** Deletes up to `limit` attempts logged before `cutoff`; returns how many. */
export async function purgeDeliveries(db: Executor, cutoff: string, limit: number): Promise<number> {
  const ids = (await db.selectFrom('webhook_deliveries').select('id').where('at', '<', cutoff).orderBy('at').limit(limit).execute()).map((row) => row.id);
  if (ids.length === 0) return 0;
  const result = await db.deleteFrom('webhook_deliveries').where('id', 'in', ids).executeTakeFirst();
  return Number(result.numDeletedRows);
}
