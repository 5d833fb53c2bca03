/**
 * The webhook deliveries, in the background of `roster serve` (main.ts): each instance claims
 * endpoints that are due (store/webhooks.ts explains the claims and leases), reads their
 * next events from the feed's reader (so an endpoint never skips an event committed late),
 * and POSTs them one at a time, signed (signature.ts). Per endpoint, strictly in order: the
 * next event is sent only once the previous one was answered 2xx or given up. At least once:
 * the position moves past an event only after its 2xx, so an instance killed mid-delivery
 * leaves the event to be sent again by whoever claims the endpoint next.
 *
 * Memory does not grow with a change: events are read BATCH at a time, whatever the feed holds.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { EventFeed, PositionedEntry } from '../directory/event-feed.ts';
import { auditedUrl } from '../directory/webhooks.ts';
import { createJournal } from '../journal/journal.ts';
import type { Store } from '../store/index.ts';
import { shorten } from '../text.ts';
import { inBatches, transact } from '../store/transact.ts';
import {
  claimWebhooks, findWebhook, insertDeliveries, purgeDeliveries, releaseClaim, renewLease, updateClaimed,
  type Claim, type ClaimedUpdate, type DeliveryWrite, type StoredWebhook,
} from '../store/webhooks.ts';
import type { FeedPosition } from '../store/journal.ts';
import { describeDuration, retryAfterMs, withJitter } from './schedule.ts';
import { signatureHeader } from './signature.ts';
import { combineSignals } from '../signals.ts';
import { describeFailure, sleep } from './attempts.ts';

/** How long a receiver has to answer (Standard Webhooks recommends 15 s or so). */
export const DELIVERY_TIMEOUT_MS = 15_000;
/** How long a claim holds unless renewed; renewed every third of it while delivering. */
export const DEFAULT_LEASE_MS = 30_000;
/** How often an idle instance looks for due endpoints. */
const DEFAULT_POLL_MS = 1000;
/**
 * How long an endpoint waits after a turn ended by an error (a statement on a connection
 * PostgreSQL terminated, a restart): its claim is given back with its next attempt this far off.
 * Kept, the claim held it for the whole lease (30 s) even when the database was back a moment
 * later; given back at once, an error that repeats would be met in a tight loop.
 */
const AFTER_ERROR_MS = 2000;
/** Endpoints one instance delivers to at once. */
const DEFAULT_CONCURRENCY = 8;
/** Events read per page: what one endpoint holds in memory at most. */
const BATCH = 50;
/** Delivered events recorded per transaction at most, and the longest a delivered event waits to be (a timer). */
const RECORD_EVENTS = 50;
const RECORD_MS = 1000;
/**
 * Events sent to one endpoint, and the time spent on it, before its claim is given back (another
 * instance, or this one's next free slot, may take it): a slow receiver gets turns like the others.
 */
const EVENTS_PER_TURN = 500;
const TURN_MS = 60_000;
/** The part of an answer kept in the log. */
const RESPONSE_BYTES = 1024;
/** How often the log of attempts is cut to the event retention, and how many rows at once. */
const LOG_PURGE_INTERVAL_MS = 10 * 60 * 1000;
const LOG_PURGE_BATCH = 5000;
const DAY_MS = 24 * 60 * 60 * 1000;

/** What the worker logs: the app's logger fits. */
export interface DeliveryLog {
  warn(details: object, message: string): void;
}

export interface DeliveryOptions {
  /** Delays before each retry (ROSTER_WEBHOOK_RETRY_SCHEDULE). */
  readonly retrySchedule: readonly number[];
  /** ROSTER_WEBHOOK_LEASE_SECONDS, in ms. */
  readonly leaseMs?: number;
  readonly pollMs?: number;
  readonly concurrency?: number;
  readonly timeoutMs?: number;
  /** Days the log of attempts is kept: the event retention. */
  readonly retentionDays: number;
  /** This instance's name in claims; unique per process by default. */
  readonly instance?: string;
  readonly log?: DeliveryLog;
  /**
   * The time of leases, retry times and signatures, which other instances compare with theirs:
   * services.clock.now in `roster serve` (store/clock.ts), this host's clock by default.
   */
  readonly now?: () => number;
}

/** The running worker. */
export interface DeliveryWorker {
  readonly instance: string;
  /** Stops claiming, aborts deliveries in flight and gives their claims back. */
  stop(): Promise<void>;
}

/** What one attempt came to. */
interface Attempt {
  readonly status: number | null;
  readonly latencyMs: number;
  readonly response: string | null;
  readonly error: string | null;
  readonly retryAfterMs: number | undefined;
}

/** A delivered event, until it is recorded. */
interface Delivered {
  readonly write: DeliveryWrite;
  readonly after: FeedPosition;
}

/** Starts delivering in the background. */
export function startDeliveries(store: Store, feed: EventFeed, options: DeliveryOptions): DeliveryWorker {
  const instance = options.instance ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const clock = options.now ?? Date.now;
  const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  const timeoutMs = options.timeoutMs ?? DELIVERY_TIMEOUT_MS;
  const schedule = options.retrySchedule;
  const journal = createJournal(store.dialect);
  const stopping = new AbortController();
  let lastPurge = 0;

  const iso = (ms: number): string => new Date(ms).toISOString();

  async function send(webhook: StoredWebhook, event: PositionedEntry, signal: AbortSignal): Promise<Attempt> {
    const { entry } = event;
    const body = JSON.stringify({
      id: entry.id,
      type: entry.type,
      timestamp: entry.occurredAt,
      data: entry.data,
      ...(entry.previous !== undefined ? { previous: entry.previous } : {}),
    });
    const now = clock();
    const timestamp = Math.floor(now / 1000);
    const previousValid = webhook.previousSecret !== null && webhook.previousSecretUntil !== null && Date.parse(webhook.previousSecretUntil) > now;
    const secrets = previousValid && webhook.previousSecret !== null ? [webhook.secret, webhook.previousSecret] : [webhook.secret];
    const started = performance.now();
    const latency = (): number => Math.round(performance.now() - started);
    // A timer of our own, not AbortSignal.timeout: Node holds that one's timer weakly, so a
    // garbage collection during the request lost it, and a receiver that never answered held
    // the endpoint (its lease renewed) for ever.
    const timedOut = new AbortController();
    const timer = setTimeout(() => timedOut.abort(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError')), timeoutMs);
    const either = combineSignals(timedOut.signal, signal);
    try {
      const response = await fetch(webhook.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Roster-Webhooks/1',
          'webhook-id': entry.id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signatureHeader(secrets, entry.id, timestamp, body),
        },
        body,
        // A 3xx is an answer, not a place to go: following it would send the signed event
        // wherever the receiver's server (or an attacker who controls it) points.
        redirect: 'manual',
        signal: either.signal,
      });
      // NUL cannot be stored in PostgreSQL text; the log shows it as U+FFFD.
      const text = (await firstBytes(response, RESPONSE_BYTES))?.replace(/\u0000/g, '\uFFFD') ?? null;
      const status = response.status;
      let error: string | null = null;
      if (status >= 300 && status < 400) error = `redirects are not followed (${status} to ${shorten(response.headers.get('location') ?? 'nowhere', 300)})`;
      else if (status < 200 || status >= 300) error = `answered ${status}`;
      const retryAfter = status === 429 || status === 503 ? retryAfterMs(response.headers.get('retry-after'), new Date()) : undefined;
      return { status, latencyMs: latency(), response: text, error, retryAfterMs: retryAfter };
    } catch (error) {
      return { status: null, latencyMs: latency(), response: null, error: describeFailure(error, timeoutMs), retryAfterMs: undefined };
    } finally {
      clearTimeout(timer);
      either.release();
    }
  }

  function attemptRow(webhook: StoredWebhook, event: PositionedEntry, attemptNumber: number, attempt: Attempt, at: string, outcome: string): DeliveryWrite {
    return {
      webhookId: webhook.id,
      eventId: Number(event.entry.id),
      eventType: event.entry.type,
      attempt: attemptNumber,
      at,
      status: attempt.status,
      latencyMs: attempt.latencyMs,
      response: attempt.response,
      error: attempt.error,
      outcome,
    };
  }

  /**
   * Records delivered events: their attempts, and the position past the last one while the
   * claim holds. Returns whether it held.
   */
  async function record(claim: Claim, delivered: readonly Delivered[]): Promise<boolean> {
    const last = delivered[delivered.length - 1];
    if (last === undefined) return true;
    return transact(store.db, async (trx) => {
      const held = await updateClaimed(trx, claim, { position: last.after, attempts: 0, failingSince: null }, iso(clock()));
      // The attempts happened whoever holds the endpoint now; not for an endpoint deleted meanwhile.
      if (held || (await findWebhook(trx, store.dialect, store.secrets, claim.id)) !== undefined) await insertDeliveries(trx, delivered.map((item) => item.write));
      return held;
    });
  }

  /**
   * Records a failed attempt and what follows from it: a retry later, or the endpoint disabled
   * (410 Gone, or the last retry failed), audited. The claim ends either way. The count of
   * failures is the stored one: an administrator who enabled the endpoint again meanwhile
   * started it afresh. An endpoint an administrator disabled or replayed meanwhile only gets the
   * attempt logged (and its count, when disabled, for the retry schedule once enabled).
   */
  async function fail(claim: Claim, event: PositionedEntry, attemptsBefore: number, attempt: Attempt): Promise<void> {
    const now = clock();
    const at = iso(now);
    await transact(store.db, async (trx) => {
      const current = await findWebhook(trx, store.dialect, store.secrets, claim.id, true);
      // Deleted meanwhile: its log went with it.
      if (current === undefined) return;
      if (current.claimedBy !== instance || current.generation !== claim.generation) {
        // Taken over, or replayed: the attempt happened, whoever delivers next.
        await insertDeliveries(trx, [attemptRow(current, event, attemptsBefore + 1, attempt, at, 'retrying')]);
        if (current.claimedBy === instance) await releaseClaim(trx, claim);
        return;
      }
      const attemptNumber = current.attempts + 1;
      const failingSince = current.attempts > 0 && current.failingSince !== null ? current.failingSince : at;
      let outcome: string;
      let update: ClaimedUpdate;
      let disabled: string | undefined;
      if (current.enabled && attempt.status === 410) {
        outcome = 'gone';
        disabled = 'the endpoint answered 410 Gone';
        update = { attempts: attemptNumber, failingSince, disable: disabled };
      } else if (current.enabled && attemptNumber > schedule.length) {
        outcome = 'given_up';
        disabled = `gave up on event ${event.entry.id} after ${attemptNumber} failed attempts over ${describeDuration(now - Date.parse(failingSince))}`;
        update = { attempts: attemptNumber, failingSince, disable: disabled };
      } else {
        outcome = 'retrying';
        const delay = Math.max(withJitter(schedule[Math.min(attemptNumber, schedule.length) - 1] ?? 0), attempt.retryAfterMs ?? 0);
        update = { attempts: attemptNumber, failingSince, nextAttemptAt: iso(now + delay), release: true };
      }
      await updateClaimed(trx, claim, update, at);
      await insertDeliveries(trx, [attemptRow(current, event, attemptNumber, attempt, at, outcome)]);
      if (disabled !== undefined) {
        await journal.record(trx, { kind: 'system' }, { action: 'webhook.disabled', targetType: 'webhook', targetId: current.id, details: { url: auditedUrl(current.url), reason: disabled, eventId: event.entry.id } }, at);
      }
    });
  }

  /**
   * Disables an endpoint whose next event was deleted by the retention before it was delivered
   * (it was disabled, or failing, or too slow, for longer than events are kept): going on from
   * the oldest event kept would leave a gap the receiver never learns of, and a deactivation
   * lost in it would keep a user in the application. The position moves to the oldest event kept,
   * so that enabling it again, once the receiver is resynchronised, resumes there. Audited and
   * logged. Nothing happens when an administrator disabled, replayed or deleted it meanwhile.
   */
  async function fellBehind(claim: Claim, keptFrom: FeedPosition): Promise<void> {
    const at = iso(clock());
    const reason =
      `events after the last one it received were deleted before they could be delivered (events are kept ${options.retentionDays} days, ROSTER_EVENT_RETENTION_DAYS): ` +
      'resynchronise the receiver from the lists, then enable the endpoint; it resumes at the oldest event kept';
    const disabled = await transact(store.db, async (trx) => {
      const current = await findWebhook(trx, store.dialect, store.secrets, claim.id, true);
      if (current === undefined || !current.enabled || current.claimedBy !== instance || current.generation !== claim.generation) return undefined;
      await updateClaimed(trx, claim, { position: keptFrom, attempts: 0, failingSince: null, disable: reason }, at);
      await journal.record(trx, { kind: 'system' }, { action: 'webhook.disabled', targetType: 'webhook', targetId: current.id, details: { url: auditedUrl(current.url), reason } }, at);
      return current;
    });
    if (disabled !== undefined) options.log?.warn({ webhook: disabled.id, url: auditedUrl(disabled.url) }, `webhook endpoint disabled: ${reason}`);
  }

  /**
   * Delivers to one claimed endpoint until it is caught up, fails, or had its turn. Reads the
   * endpoint again before each request (store/webhooks.ts, Claims): an administrator's change
   * applies from the next request, and a disabled, deleted or replayed endpoint gets nothing
   * more from this turn.
   */
  async function serve(claimed: StoredWebhook): Promise<void> {
    const claim: Claim = { id: claimed.id, instance, generation: claimed.generation };
    let webhook = claimed;
    const lost = new AbortController();
    // Released when the turn ends: `stopping` lives as long as the worker (src/signals.ts).
    const turn = combineSignals(lost.signal, stopping.signal);
    const signal = turn.signal;
    const heartbeat = setInterval(() => {
      renewLease(store.db, claim, iso(clock() + leaseMs))
        .then((held) => {
          if (!held) lost.abort();
        })
        .catch(() => {});
    }, Math.max(leaseMs / 3, 50));
    heartbeat.unref();
    // Delivered events are recorded in batches: one transaction per RECORD_EVENTS, and at the
    // latest RECORD_MS after the oldest was answered, by a timer, so that a request awaiting its
    // answer (up to the timeout) does not hold back the record of those before it. A crash
    // before a batch is recorded sends its events again, as at-least-once allows. Batches are
    // recorded one after the other, in order, so that a later position is never written over.
    let delivered: Delivered[] = [];
    let recordTimer: NodeJS.Timeout | undefined;
    let recording: Promise<unknown> = Promise.resolve();
    const flush = (): Promise<boolean> => {
      clearTimeout(recordTimer);
      recordTimer = undefined;
      const batch = delivered;
      delivered = [];
      const recorded = recording.catch(() => {}).then(() => record(claim, batch));
      recording = recorded;
      return recorded;
    };
    // Whether to give the claim back on the way out, whatever changed: set when this turn ends
    // because of an administrator's change, so that the next holder need not wait for the lease.
    let giveBack = false;
    let failed = false;
    let attempts = webhook.attempts;
    let position = webhook.position;
    try {
      const turnEnds = Date.now() + TURN_MS;
      turn: for (let sent = 0; sent < EVENTS_PER_TURN && Date.now() < turnEnds; ) {
        const page = await feed.readFrom(position, webhook.types ?? undefined, BATCH);
        if (page.expired) {
          giveBack = true;
          if (await flush()) await fellBehind(claim, page.keptFrom);
          return;
        }
        if (page.events.length === 0) {
          giveBack = true;
          if (!(await flush())) return;
          // Caught up: past everything final, and back in pollMs.
          if (await updateClaimed(store.db, claim, { position: page.end, nextAttemptAt: iso(clock() + pollMs), release: true }, iso(clock()))) giveBack = false;
          return;
        }
        for (const event of page.events) {
          if (signal.aborted) return;
          const current = await findWebhook(store.db, store.dialect, store.secrets, claim.id);
          // Deleted, or taken over after the lease ran out: nothing more from here.
          if (current === undefined || current.claimedBy !== instance) return;
          // Disabled (what was delivered is recorded on the way out), or replayed (the next
          // holder starts at the replayed event).
          if (!current.enabled || current.generation !== claim.generation) {
            giveBack = true;
            return;
          }
          const typesChanged = typeList(current.types) !== typeList(webhook.types);
          webhook = current;
          // Read again from here with the new types: the rest of this page was read with the old ones.
          if (typesChanged) continue turn;
          const attempt = await send(webhook, event, signal);
          // Stopped or taken over mid-request: no verdict on this attempt; whoever holds the
          // endpoint next sends the event again.
          if (signal.aborted) return;
          const now = clock();
          if (attempt.status !== null && attempt.status >= 200 && attempt.status < 300) {
            // A refused record (a replay, a lost claim) is seen before the next request.
            if (delivered.length === 0) recordTimer = setTimeout(() => void flush().catch(() => {}), RECORD_MS);
            delivered.push({ write: attemptRow(webhook, event, attempts + 1, attempt, iso(now), 'delivered'), after: event.after });
            if (delivered.length >= RECORD_EVENTS && !(await flush())) {
              giveBack = true;
              return;
            }
            attempts = 0;
            position = event.after;
            sent += 1;
            continue;
          }
          if (!(await flush())) {
            giveBack = true;
            return;
          }
          await fail(claim, event, attempts, attempt);
          return;
        }
      }
      giveBack = true;
      if (await flush()) giveBack = !(await updateClaimed(store.db, claim, { release: true }, iso(clock())));
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      clearInterval(heartbeat);
      turn.release();
      // What was delivered is recorded on the way out too (shutdown, a lost claim, an error),
      // and before the claim is given back.
      if (delivered.length > 0) await flush().catch(() => false);
      clearTimeout(recordTimer);
      await recording.catch(() => {});
      // Give the claim back at once on shutdown, so that another instance need not wait for the lease.
      if (giveBack || stopping.signal.aborted) await releaseClaim(store.db, claim).catch(() => {});
      // A database that cannot be reached refuses this too: the lease then runs out as before.
      else if (failed) await updateClaimed(store.db, claim, { nextAttemptAt: iso(clock() + AFTER_ERROR_MS), release: true }, iso(clock())).catch(() => {});
    }
  }

  /** Deletes the log of attempts older than the retention, every LOG_PURGE_INTERVAL_MS. */
  async function purgeLog(): Promise<void> {
    const now = clock();
    if (now - lastPurge < LOG_PURGE_INTERVAL_MS) return;
    lastPurge = now;
    const cutoff = iso(now - options.retentionDays * DAY_MS);
    await inBatches(store.db, LOG_PURGE_BATCH, (trx) => purgeDeliveries(trx, cutoff, LOG_PURGE_BATCH));
  }

  // Endpoints being served, up to `concurrency`. Each slot is refilled as soon as its endpoint's
  // turn ends: one slow receiver holds its own slot only, never the others' (waiting for a whole
  // round of claims to end let one receiver answering in seconds stop every other endpoint of
  // the instance for as long as its turn lasted).
  const serving = new Set<Promise<void>>();

  /** Claims what is due, up to the free slots, and starts serving it; how many were claimed. */
  async function claimDue(): Promise<number> {
    const free = concurrency - serving.size;
    if (free <= 0) return 0;
    const now = clock();
    const claimed = await transact(store.db, (trx) => claimWebhooks(trx, store.dialect, store.secrets, instance, iso(now), iso(now + leaseMs), free));
    for (const webhook of claimed) {
      const served: Promise<void> = serve(webhook)
        .catch((error: unknown) => options.log?.warn({ err: error, webhook: webhook.id }, `webhook delivery failed; the endpoint is tried again in ${AFTER_ERROR_MS / 1000} s, or when its lease ends if the database cannot be written`))
        .finally(() => serving.delete(served));
      serving.add(served);
    }
    return claimed.length;
  }

  // One pending poll timer at a time, whichever wakes the loop first (a slot freed, or the timer):
  // a new timer on every wake-up would pile up abort listeners on `stopping` until each fired.
  let poll: Promise<void> | undefined;
  const nextPoll = (): Promise<void> =>
    (poll ??= sleep(pollMs, stopping.signal).then(() => {
      poll = undefined;
    }));

  const running = (async () => {
    while (!stopping.signal.aborted) {
      let claimed = 0;
      try {
        await purgeLog();
        claimed = await claimDue();
      } catch (error) {
        options.log?.warn({ err: error }, 'webhook deliveries: looking for due endpoints failed; trying again shortly');
      }
      // Look again at once while claims fill free slots; otherwise when a slot frees or in pollMs.
      if (stopping.signal.aborted || (claimed > 0 && serving.size < concurrency)) continue;
      await Promise.race([nextPoll(), ...serving]);
    }
    await Promise.all(serving);
  })();

  return {
    instance,
    async stop() {
      stopping.abort();
      await running;
    },
  };
}

/** Types as one comparable text: `*` for every type. */
function typeList(types: readonly string[] | null): string {
  return types === null ? '*' : types.join(',');
}

/** Reads at most `limit` bytes of a body, then lets the rest go. */
async function firstBytes(response: Response, limit: number): Promise<string | null> {
  if (response.body === null) return null;
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  const bytes = Buffer.concat(chunks).subarray(0, limit);
  return bytes.length === 0 ? null : new TextDecoder('utf-8', { fatal: false }).decode(bytes);
}
