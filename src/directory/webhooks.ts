/**
 * Webhook endpoints as administrators manage them, whatever asks (CLI, admin API, console):
 * create (the signing secret is shown once), list, change, enable, disable, delete, rotate the
 * secret, read the log of attempts, replay from an event. Every change is recorded in the
 * audit trail in its transaction. The deliveries themselves run in src/delivery/.
 *
 * Secrets follow Standard Webhooks: `whsec_` and the base64 of 32 random bytes; the part
 * after the prefix, decoded, is the HMAC-SHA256 key. Roster keeps them in clear, as it must
 * to sign.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { EVENT_TYPES, createJournal } from '../journal/journal.ts';
import type { Actor } from '../journal/actor.ts';
import type { Store } from '../store/index.ts';
import { transact } from '../store/transact.ts';
import { lockSecretsForWrite } from '../store/secrets.ts';
import {
  deleteWebhook, eventPosition, findWebhook, insertWebhook, listDeliveries, listWebhookProgress, listWebhooks, updateWebhook,
  type StoredDelivery, type StoredWebhook, type WebhookChange,
} from '../store/webhooks.ts';
import { DirectoryError, rejected } from '../errors.ts';
import type { EventFeed } from './event-feed.ts';
import { DEFAULT_SECRET_OVERLAP_SECONDS, rotatedSinceShown, runningOverlap } from './secret-overlap.ts';

/** The prefix of every signing secret (Standard Webhooks). */
export const SECRET_PREFIX = 'whsec_';
const SECRET_BYTES = 32;
/** How long the previous secret keeps signing beside the new one after a rotation (secret-overlap.ts). */
export const SECRET_OVERLAP_MS = DEFAULT_SECRET_OVERLAP_SECONDS * 1000;
/** The longest URL accepted. */
export const MAX_URL_LENGTH = 2000;
/** Attempts per page of the log, by default and at most. */
export const DEFAULT_DELIVERIES_LIMIT = 50;
export const MAX_DELIVERIES_LIMIT = 500;

/** An endpoint as administrators see it: never its secret. */
export interface WebhookInfo {
  readonly id: string;
  readonly url: string;
  /** The event types sent; null: all of them. */
  readonly types: readonly string[] | null;
  readonly enabled: boolean;
  /** Why it is disabled: an administrator, a `410 Gone`, or failures for the whole retry period. */
  readonly disabledReason: string | null;
  readonly disabledAt: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Until when the secret before the last rotation still signs beside the new one; null when none does. */
  readonly previousSecretExpiresAt: string | null;
  /** Failed attempts at the next event to deliver (0 when all is well), since when, and when the next try is. */
  readonly failedAttempts: number;
  readonly failingSince: string | null;
  readonly nextAttemptAt: string;
}

/** One delivery attempt as administrators see it. */
export interface DeliveryInfo {
  readonly id: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly attempt: number;
  readonly at: string;
  /** The HTTP status answered, or null when none came. */
  readonly status: number | null;
  readonly latencyMs: number;
  /** The first 1 KB of the answer. */
  readonly response: string | null;
  readonly error: string | null;
  /** `delivered`, `retrying`, `given_up` (the endpoint was disabled) or `gone` (410: disabled). */
  readonly outcome: string;
}

/** A page of the log, newest first; `next` reads older attempts. */
export interface DeliveryPage {
  readonly deliveries: readonly DeliveryInfo[];
  readonly next: string | null;
}

/** What creating an endpoint takes. */
export interface WebhookInput {
  readonly url: string;
  /** Only these types; absent or null: every type. */
  readonly types?: readonly string[] | null;
}

/** What a change may set (the admin API's PATCH, the console). */
export interface WebhookPatch {
  readonly url?: string;
  readonly types?: readonly string[] | null;
  readonly enabled?: boolean;
}

/** The webhook endpoints' management. */
export interface Webhooks {
  /** Registers an endpoint, delivering the events from now on; the secret is returned once, here. */
  create(input: WebhookInput, actor: Actor): Promise<{ webhook: WebhookInfo; secret: string }>;
  list(): Promise<WebhookInfo[]>;
  /** One endpoint; not_found when no endpoint has this id. */
  get(id: string): Promise<WebhookInfo>;
  /** Changes the URL, the types, or whether it is enabled. */
  update(id: string, patch: WebhookPatch, actor: Actor): Promise<WebhookInfo>;
  /** Enables an endpoint: deliveries resume at the event it stopped at, with the whole retry schedule ahead. */
  enable(id: string, actor: Actor): Promise<WebhookInfo>;
  /** Disables an endpoint: nothing is sent until it is enabled or replayed. */
  disable(id: string, actor: Actor): Promise<WebhookInfo>;
  /** Deletes an endpoint and its log. */
  remove(id: string, actor: Actor): Promise<void>;
  /**
   * Issues a new secret; the previous one keeps signing beside it for SECRET_OVERLAP_MS. With
   * `seenOverlapUntil` (the `previousSecretExpiresAt` the administrator's page showed, null for
   * none), refused when another rotation was made since: a second one would end at once the
   * overlap the first gave the secret the receiver may still use (two pages open together).
   */
  rotateSecret(id: string, actor: Actor, options?: { readonly seenOverlapUntil?: string | null }): Promise<{ webhook: WebhookInfo; secret: string }>;
  /** The log of attempts, newest first. */
  deliveries(id: string, options?: { readonly limit?: number; readonly before?: string }): Promise<DeliveryPage>;
  /** Delivers again from event `eventId` (still kept) onwards, in order, and enables the endpoint. */
  replay(id: string, eventId: string, actor: Actor): Promise<WebhookInfo>;
  /** How far behind each endpoint is, for the metrics: read by every scrape, so no secret is read. */
  progress(): Promise<WebhookBacklog[]>;
}

/** Whether an endpoint keeps up (GET /metrics). */
export interface WebhookBacklog {
  readonly id: string;
  readonly enabled: boolean;
  /** Failed attempts at the next event to deliver (0 when all is well). */
  readonly failedAttempts: number;
  /** When the oldest event not yet delivered (or passed over) occurred; null when it has caught up. */
  readonly oldestPendingAt: string | null;
}

/** A new signing secret: `whsec_` and base64 of 32 random bytes. */
export function newSecret(): string {
  return SECRET_PREFIX + randomBytes(SECRET_BYTES).toString('base64');
}

/** Builds the management of webhooks over a store; `secretOverlapMs` shortens the overlap of secrets for tests. */
export function createWebhooks(store: Store, feed: EventFeed, options: { readonly secretOverlapMs?: number } = {}): Webhooks {
  const journal = createJournal(store.dialect);
  const now = (): Date => new Date();
  const overlapMs = options.secretOverlapMs ?? SECRET_OVERLAP_MS;

  async function existing(id: string, lock = false, db: Parameters<typeof findWebhook>[0] = store.db): Promise<StoredWebhook> {
    const found = await findWebhook(db, store.dialect, store.secrets, id, lock);
    if (found === undefined) throw notFound(id);
    return found;
  }

  /** Applies `change` under the row's lock, with its audit entry, and returns the endpoint after it. */
  async function change(
    id: string,
    actor: Actor,
    make: (current: StoredWebhook, at: Date) => { change: WebhookChange; action: string; details?: Record<string, unknown> } | undefined,
  ): Promise<WebhookInfo> {
    return transact(store.db, async (trx) => {
      // A change may write a signing secret: the sealing lock first, before the row (store/secrets.ts).
      await lockSecretsForWrite(trx, store.dialect);
      const current = await existing(id, true, trx);
      const at = now();
      const planned = make(current, at);
      if (planned === undefined) return toInfo(current, at);
      await updateWebhook(trx, store.secrets, id, planned.change, at.toISOString());
      await journal.record(trx, actor, { action: planned.action, targetType: 'webhook', targetId: id, details: { url: auditedUrl(current.url), ...planned.details } }, at.toISOString());
      return toInfo(await existing(id, false, trx), at);
    });
  }

  // The retry schedule starts afresh: an endpoint given up on (or gone) would otherwise be
  // given up on again at its first failure.
  const enable = (id: string, actor: Actor) =>
    change(id, actor, (current) => (current.enabled ? undefined : { change: { enabled: true, resetFailures: true, dueNow: true }, action: 'webhook.enabled' }));
  const disable = (id: string, actor: Actor) =>
    change(id, actor, (current) => (current.enabled ? { change: { enabled: false, disabledReason: 'disabled by an administrator' }, action: 'webhook.disabled' } : undefined));

  return {
    async create(input, actor) {
      const url = checkUrl(input.url);
      const types = checkTypes(input.types);
      const secret = newSecret();
      const id = randomUUID();
      // From the current end of the feed: an endpoint gets the changes made after it exists.
      const position = await feed.end();
      const at = now().toISOString();
      const webhook = await transact(store.db, async (trx) => {
        await lockSecretsForWrite(trx, store.dialect);
        await insertWebhook(trx, store.secrets, { id, url, types, secret, position, at });
        await journal.record(trx, actor, { action: 'webhook.created', targetType: 'webhook', targetId: id, details: { url: auditedUrl(url), types } }, at);
        return existing(id, false, trx);
      });
      return { webhook: toInfo(webhook, now()), secret };
    },

    async list() {
      const at = now();
      return (await listWebhooks(store.db, store.secrets)).map((webhook) => toInfo(webhook, at));
    },

    async get(id) {
      return toInfo(await existing(id), now());
    },

    async update(id, patch, actor) {
      const url = patch.url === undefined ? undefined : checkUrl(patch.url);
      const types = patch.types === undefined ? undefined : checkTypes(patch.types);
      let result: WebhookInfo | undefined;
      if (url !== undefined || types !== undefined) {
        result = await change(id, actor, (current) => {
          const newUrl = url !== undefined && url !== current.url ? url : undefined;
          const newTypes = types !== undefined && (types ?? []).join(',') !== (current.types ?? []).join(',') ? types : undefined;
          if (newUrl === undefined && newTypes === undefined) return undefined;
          return {
            // A worker delivering now uses the new URL and types from its next request (store/webhooks.ts).
            change: { ...(newUrl !== undefined ? { url: newUrl } : {}), ...(newTypes !== undefined ? { types: newTypes } : {}), dueNow: true },
            action: 'webhook.updated',
            details: { ...(newUrl !== undefined ? { before: { url: auditedUrl(current.url) }, after: { url: auditedUrl(newUrl) } } : {}), ...(newTypes !== undefined ? { types: newTypes } : {}) },
          };
        });
      }
      if (patch.enabled === true) result = await enable(id, actor);
      if (patch.enabled === false) result = await disable(id, actor);
      return result ?? toInfo(await existing(id), now());
    },

    enable,
    disable,

    async remove(id, actor) {
      await transact(store.db, async (trx) => {
        const current = await existing(id, true, trx);
        await deleteWebhook(trx, id);
        await journal.record(trx, actor, { action: 'webhook.deleted', targetType: 'webhook', targetId: id, details: { url: auditedUrl(current.url) } });
      });
    },

    async rotateSecret(id, actor, options = {}) {
      const secret = newSecret();
      const webhook = await change(id, actor, (current, at) => {
        const running = toInfo(current, at).previousSecretExpiresAt;
        const refusal = running === null ? undefined : rotatedSinceShown(running, options.seenOverlapUntil, { rotatedAt: new Date(Date.parse(running) - overlapMs).toISOString(), stillWorks: 'signs' });
        if (refusal !== undefined) throw refusal;
        return {
          // A worker delivering now signs with the new secret from its next request.
          change: { secret, previousSecret: current.secret, previousSecretUntil: new Date(at.getTime() + overlapMs).toISOString(), dueNow: true },
          action: 'webhook.secret_rotated',
        };
      });
      return { webhook, secret };
    },

    async deliveries(id, options = {}) {
      await existing(id);
      const limit = options.limit ?? DEFAULT_DELIVERIES_LIMIT;
      if (!(Number.isInteger(limit) && limit >= 1 && limit <= MAX_DELIVERIES_LIMIT)) throw rejected('limit', limit, `must be between 1 and ${MAX_DELIVERIES_LIMIT}`);
      let before: number | undefined;
      if (options.before !== undefined) {
        if (!/^\d{1,15}$/.test(options.before)) throw rejected('before', options.before, 'must be a "next" this list returned');
        before = Number(options.before);
      }
      const rows = await listDeliveries(store.db, id, limit, before);
      const last = rows.at(-1);
      return { deliveries: rows.map(toDelivery), next: rows.length === limit && last !== undefined ? String(last.id) : null };
    },

    async replay(id, eventId, actor) {
      if (!/^\d{1,15}$/.test(eventId)) throw rejected('from', eventId, 'must be the id of an event of the feed');
      return transact(store.db, async (trx) => {
        const current = await existing(id, true, trx);
        const position = await eventPosition(trx, Number(eventId));
        if (position === undefined) {
          throw new DirectoryError('invalid', `The event ${eventId} is not in the feed: it does not exist, or it is older than the retention (ROSTER_EVENT_RETENTION_DAYS) and was deleted.`, 'from');
        }
        const at = now();
        await updateWebhook(trx, store.secrets, id, { position, enabled: true, dueNow: true }, at.toISOString());
        await journal.record(trx, actor, { action: 'webhook.replayed', targetType: 'webhook', targetId: id, details: { url: auditedUrl(current.url), fromEventId: eventId } }, at.toISOString());
        return toInfo(await existing(id, false, trx), at);
      });
    },

    async progress() {
      // The worker's own read of the feed (event-feed.ts readFrom): the first event at the
      // endpoint's position, of any type (the worker passes those it does not send as it goes).
      const endpoints = await listWebhookProgress(store.db);
      return Promise.all(
        endpoints.map(async (endpoint) => ({
          id: endpoint.id,
          enabled: endpoint.enabled,
          failedAttempts: endpoint.attempts,
          oldestPendingAt: (await feed.readFrom(endpoint.position, undefined, 1)).events[0]?.entry.occurredAt ?? null,
        })),
      );
    },
  };
}

function notFound(id: string): DirectoryError {
  return new DirectoryError('not_found', `No webhook has the id "${id}".`, 'id');
}

/**
 * A webhook URL as the audit log and the logs keep it: its query string, where receivers often
 * take a token (`?token=…`), is replaced by a fingerprint, so the audit log (kept for years and
 * exported) holds no secret while a change of the query still shows as one. The webhook's own
 * page and the admin API show the URL whole to administrators.
 */
export function auditedUrl(url: string): string {
  const at = url.indexOf('?');
  if (at === -1) return url;
  return `${url.slice(0, at)}?[query hidden, sha256 ${createHash('sha256').update(url.slice(at + 1)).digest('hex').slice(0, 12)}]`;
}

/** An absolute http(s) URL without credentials or fragment. */
function checkUrl(raw: string): string {
  const value = raw.trim();
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || value.length > MAX_URL_LENGTH || /[\s\p{Cc}]/u.test(value)) {
    throw rejected('url', raw, `must be an absolute http or https URL of at most ${MAX_URL_LENGTH} characters`);
  }
  // Credentials would end up in logs and lists; the signature is what authenticates Roster.
  if (url.username !== '' || url.password !== '') throw rejected('url', url.origin + url.pathname, 'must not contain a user name or password (receivers verify the signature instead)');
  if (url.hash !== '') throw rejected('url', raw, 'must not have a fragment (#…)');
  return url.href;
}

/** Known event types, without duplicates; null (or absent) for every type. */
function checkTypes(raw: readonly string[] | null | undefined): readonly string[] | null {
  if (raw === undefined || raw === null) return null;
  const names = raw.map((name) => name.trim()).filter((name) => name !== '');
  const known = new Set<string>(EVENT_TYPES);
  const unknown = names.filter((name) => !known.has(name));
  if (names.length === 0 || unknown.length > 0) throw rejected('types', raw.join(','), `must be a list of ${EVENT_TYPES.join(', ')}`);
  return EVENT_TYPES.filter((type) => names.includes(type));
}

function toInfo(webhook: StoredWebhook, at: Date): WebhookInfo {
  return {
    id: webhook.id,
    url: webhook.url,
    types: webhook.types,
    enabled: webhook.enabled,
    disabledReason: webhook.disabledReason,
    disabledAt: webhook.disabledAt,
    createdAt: webhook.createdAt,
    updatedAt: webhook.updatedAt,
    previousSecretExpiresAt: runningOverlap(webhook.previousSecret, webhook.previousSecretUntil, at),
    failedAttempts: webhook.attempts,
    failingSince: webhook.failingSince,
    nextAttemptAt: webhook.nextAttemptAt,
  };
}

function toDelivery(delivery: StoredDelivery): DeliveryInfo {
  return {
    id: String(delivery.id),
    eventId: String(delivery.eventId),
    eventType: delivery.eventType,
    attempt: delivery.attempt,
    at: delivery.at,
    status: delivery.status,
    latencyMs: delivery.latencyMs,
    response: delivery.response,
    error: delivery.error,
    outcome: delivery.outcome,
  };
}
