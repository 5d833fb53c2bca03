/**
 * The pull feed of change events (`GET /api/v2/events`, docs/events.md): pages of events in
 * the feed's order after an opaque cursor, and the retention that deletes old events. The
 * journal writes the events (journal/journal.ts); store/journal.ts explains why a page never
 * skips an event committed late.
 */
import { EVENT_TYPES, type EventType } from '../journal/journal.ts';
import { claimFeedCleanup, feedHorizon, feedKeptFrom, feedPage, feedPageInWindows, inRestoredGap, positionBefore as before, purgeFeed, readFeedEnd, recordRestoredGap, type FeedEnd } from '../store/feed.ts';
import type { Executor } from '../store/executor.ts';
import type { Store } from '../store/index.ts';
import type { FeedPosition, StoredFeedEvent } from '../store/journal.ts';
import { createUserQueries } from '../store/users.ts';
import { inBatches, readSnapshot, readSnapshotAcrossTurns, transact } from '../store/transact.ts';
import { DirectoryError, rejected } from '../errors.ts';
import { refuseWhileRosterRuns } from './running-instances.ts';
import { adoptInstallationId, installationId, storedInstallationId } from './installation.ts';

/** Days events are kept when ROSTER_EVENT_RETENTION_DAYS is unset. */
export const DEFAULT_EVENT_RETENTION_DAYS = 30;
/** Events per page unless `limit` says otherwise, and the most one page may hold. */
export const DEFAULT_FEED_LIMIT = 100;
export const MAX_FEED_LIMIT = 1000;
/** How long an instance's claim on the clean-up lasts: at most one clean-up per interval. */
const CLEANUP_INTERVAL_MS = 10 * 60 * 1000;
/**
 * How often each instance of `roster serve` asks whether a clean-up is due (main.ts); the
 * database lets one of them do it per CLEANUP_INTERVAL_MS.
 */
export const EVENT_CLEANUP_CHECK_MS = 60 * 1000;
/** Events deleted per transaction, so that a clean-up never holds long locks. */
const PURGE_BATCH = 5000;
const DAY_MS = 24 * 60 * 60 * 1000;
/** The longest `wait` a reader may ask for: within the 60 s proxies allow an answer by default (nginx's proxy_read_timeout). */
export const MAX_FEED_WAIT_SECONDS = 30;
/**
 * How often the waiting readers' end is looked at (createEndWatcher). The database is asked, not
 * this process: a change made through another instance, or by a command, ends the wait as soon
 * as one made here; one read of the end costs an index probe, once for all the waiters.
 */
const WAIT_POLL_MS = 250;

/** What a caller asks the feed: where to start, which types, how many. */
export interface FeedRequest {
  /** After this position; `now`: nothing, only the current end; undefined: from the oldest event kept. */
  readonly after: FeedPosition | 'now' | undefined;
  /** Only these types; undefined: all. */
  readonly types: readonly EventType[] | undefined;
  /** Only the events about this user (internal id): its own changes and its memberships'. */
  readonly userId?: string;
  readonly limit: number;
  /** Seconds to hold an empty page, waiting for an event to arrive (0: answer at once). */
  readonly waitSeconds?: number;
}

/** How a read that may wait for events waits (readWaiting). */
export interface WaitOptions {
  /** Ends the wait, with the empty page: the client left, or the instance is stopping. */
  readonly signal: AbortSignal;
  /** Runs the wait without holding what the caller holds while it works (its admission slot). */
  outsideLimit<T>(wait: () => Promise<T>): Promise<T>;
}

/** One event as the feed shows it. */
export interface FeedEntry {
  readonly id: string;
  readonly type: string;
  readonly occurredAt: string;
  readonly actor: unknown;
  readonly data: unknown;
  readonly previous?: unknown;
}

/**
 * A page, or the answer to a cursor whose events the feed cannot give: older than the
 * retention (they were deleted), or ahead of the feed (it never reached that position: the
 * database was restored from an older backup). The caller must resynchronise from the lists,
 * then go on from `next`.
 */
export type FeedAnswer =
  | { readonly kind: 'page'; readonly events: readonly FeedEntry[]; readonly next: string }
  | { readonly kind: 'expired'; readonly message: string; readonly next: string };

const CURSOR_VERSION = '1';

/** The opaque cursor of a position: base64url of `1:<tx>:<id>`. */
export function encodeCursor(position: FeedPosition): string {
  return Buffer.from(`${CURSOR_VERSION}:${position.tx}:${position.id}`, 'utf8').toString('base64url');
}

/** The position a cursor names, or undefined for anything this feed never handed out. */
export function decodeCursor(cursor: string): FeedPosition | undefined {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(cursor)) return undefined;
  const match = /^1:(\d{1,16}):(\d{1,16})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (match === null) return undefined;
  const position = { tx: Number(match[1]), id: Number(match[2]) };
  if (!Number.isSafeInteger(position.tx) || !Number.isSafeInteger(position.id) || encodeCursor(position) !== cursor) return undefined;
  return position;
}

function text(query: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const raw = query[name];
  if (raw === undefined || raw === '') return undefined;
  if (typeof raw !== 'string') throw rejected(name, raw, 'must be given once');
  return raw;
}

/** The longest `userId` a feed request may name (ids are UUIDs; longer text is no user's). */
const MAX_USER_ID = 100;

/** Reads `after`, `limit`, `types`, `userId` and `wait` of a feed request, refusing what they cannot be. */
export function parseFeedRequest(query: Readonly<Record<string, unknown>>): FeedRequest {
  const rawAfter = text(query, 'after');
  let after: FeedRequest['after'];
  if (rawAfter === 'now') after = 'now';
  else if (rawAfter !== undefined) {
    after = decodeCursor(rawAfter);
    if (after === undefined) throw rejected('after', rawAfter, 'must be a cursor this feed returned as "next", or now');
  }
  // The admin API's schema types `limit` as an integer; other callers may pass its text.
  const rawLimit = typeof query['limit'] === 'number' ? query['limit'] : text(query, 'limit');
  const limit = rawLimit === undefined ? DEFAULT_FEED_LIMIT : typeof rawLimit === 'number' ? rawLimit : /^\d{1,4}$/.test(rawLimit) ? Number(rawLimit) : NaN;
  if (!(Number.isInteger(limit) && limit >= 1 && limit <= MAX_FEED_LIMIT)) throw rejected('limit', rawLimit, `must be between 1 and ${MAX_FEED_LIMIT}`);
  const rawTypes = text(query, 'types');
  let types: EventType[] | undefined;
  if (rawTypes !== undefined) {
    const names = rawTypes.split(',').map((name) => name.trim()).filter((name) => name !== '');
    const known = new Set<string>(EVENT_TYPES);
    const unknown = names.filter((name) => !known.has(name));
    if (names.length === 0 || unknown.length > 0) {
      throw rejected('types', rawTypes, `must be a comma-separated list of ${EVENT_TYPES.join(', ')}`);
    }
    types = [...new Set(names)] as EventType[];
  }
  const rawWait = typeof query['wait'] === 'number' ? query['wait'] : text(query, 'wait');
  const waitSeconds = rawWait === undefined ? 0 : typeof rawWait === 'number' ? rawWait : /^\d{1,3}$/.test(rawWait) ? Number(rawWait) : NaN;
  if (!(Number.isInteger(waitSeconds) && waitSeconds >= 0 && waitSeconds <= MAX_FEED_WAIT_SECONDS)) {
    throw rejected('wait', rawWait, `must be a whole number of seconds between 0 and ${MAX_FEED_WAIT_SECONDS}`);
  }
  const userId = text(query, 'userId');
  if (userId !== undefined && userId.length > MAX_USER_ID) throw rejected('userId', userId, `must be a user's id (at most ${MAX_USER_ID} characters)`);
  return { after, types, limit, waitSeconds, ...(userId !== undefined ? { userId } : {}) };
}

/** A reader waiting for the feed's end to pass `position`; `wake` ends its wait once. */
interface EndWaiter {
  readonly position: FeedPosition;
  wake(moved: boolean): void;
}

/**
 * One look at the feed's end per WAIT_POLL_MS for this whole process, however many readers wait:
 * each waiting request asking the database itself made hundreds of waiters take every pooled
 * connection (and the requests that work wait for one). The end is read from the database, so
 * a change through any instance wakes the readers of every instance; nothing is remembered
 * here but who waits. It runs only while someone waits.
 */
function createEndWatcher(readEnd: () => Promise<FeedPosition>) {
  const waiters = new Set<EndWaiter>();
  let running = false;

  async function watch(): Promise<void> {
    running = true;
    try {
      while (waiters.size > 0) {
        await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
        if (waiters.size === 0) return;
        let end: FeedPosition;
        try {
          end = await readEnd();
        } catch {
          // The database did not answer (a restart, a failover): look again at the next turn;
          // each waiter still ends at its deadline with its empty page.
          continue;
        }
        for (const waiter of [...waiters]) if (before(waiter.position, end)) waiter.wake(true);
      }
    } finally {
      running = false;
    }
  }

  return {
    waitPast(position: FeedPosition, deadline: number, signal: AbortSignal): Promise<boolean> {
      return new Promise((resolve) => {
        if (signal.aborted || deadline <= Date.now()) return resolve(false);
        const waiter: EndWaiter = {
          position,
          wake(moved) {
            if (!waiters.delete(waiter)) return;
            clearTimeout(timer);
            signal.removeEventListener('abort', gaveUp);
            resolve(moved);
          },
        };
        const gaveUp = () => waiter.wake(false);
        const timer = setTimeout(gaveUp, deadline - Date.now());
        signal.addEventListener('abort', gaveUp, { once: true });
        waiters.add(waiter);
        if (!running) void watch();
      });
    },
  };
}

/** An event as the feed shows it, from the stored one. */
export function toEntry(event: StoredFeedEvent): FeedEntry {
  return {
    id: String(event.id),
    type: event.type,
    occurredAt: event.occurredAt,
    actor: JSON.parse(event.actor) as unknown,
    data: JSON.parse(event.data) as unknown,
    ...(event.previous !== null ? { previous: JSON.parse(event.previous) as unknown } : {}),
  };
}

/** An event with its place in the feed, for readers that keep their own position (webhooks). */
export interface PositionedEntry {
  readonly entry: FeedEntry;
  /** Where the event is, and where the next read starts once it is handled. */
  readonly at: FeedPosition;
  readonly after: FeedPosition;
}

/** A page read from a stored position (`readFrom`). */
export interface PositionedPage {
  readonly events: readonly PositionedEntry[];
  /** Where to read next when `events` is empty: past everything final that was read. */
  readonly end: FeedPosition;
  /** Whether `from` was before the oldest event kept (retention deleted events after it). */
  readonly expired: boolean;
  /** The first position still kept: where a reader that fell behind the retention goes on from. */
  readonly keptFrom: FeedPosition;
}

/** The event feed over a store; `retentionDays` is ROSTER_EVENT_RETENTION_DAYS. */
export function createEventFeed(store: Store, options: { readonly retentionDays: number }) {
  const users = createUserQueries(store.dialect);
  const expiredMessage = (days: number) =>
    `This cursor is older than the ${days} days events are kept (ROSTER_EVENT_RETENTION_DAYS): events after it have been deleted. ` +
    'Resynchronise from the lists (/api/v2/users-management/users, /api/v2/authorizations/groups, /api/v2/authorizations/group-memberships), ' +
    'then continue the feed from "next", taken before you read them.';

  const aheadMessage =
    'This cursor is ahead of the feed: the feed never reached that position. Most likely the database was restored from a backup older than the cursor: ' +
    'the changes made after that backup are gone, and, unless the restore carried the numbering on (roster db restore, or roster db continue-feed after pg_restore), event ids after it are given again to new changes. ' +
    'Resynchronise from the lists (/api/v2/users-management/users, /api/v2/authorizations/groups, /api/v2/authorizations/group-memberships), ' +
    'forget the event ids you recorded as applied, then continue the feed from "next", taken before you read them.';

  const undoneMessage =
    'This cursor read changes that a restore undid: the database was restored from a backup taken before them, so they are gone. ' +
    'Resynchronise from the lists (/api/v2/users-management/users, /api/v2/authorizations/groups, /api/v2/authorizations/group-memberships), ' +
    'then continue the feed from "next", taken before you read them. Event ids after the restore are new: none was used before.';

  const readEnd = () => readSnapshot(store.db, (trx) => feedHorizon(trx, store.dialect));

  /**
   * Runs `work` in one read snapshot, with the way to read a page of `types` in it: on SQLite,
   * when types may leave most events out, a snapshot of its own read in windows with turns of
   * the event loop between them (feedPageInWindows: a rare type read the whole retained feed in
   * one statement, every other request held); otherwise one statement. One user's events are
   * read through their own index (events_user), whatever the types.
   */
  async function inSnapshot<T>(types: readonly string[] | undefined, userId: string | undefined, work: (db: Executor, page: typeof feedPage) => Promise<T>): Promise<T> {
    if (types === undefined || userId !== undefined || store.dialect.remoteStatements) return readSnapshot(store.db, (trx) => work(trx, feedPage));
    return readSnapshotAcrossTurns(store, (db) => work(db, (held, range, pageTypes, limit, userId) => (userId === undefined ? feedPageInWindows(held, range, pageTypes, limit) : feedPage(held, range, pageTypes, limit, userId))));
  }
  const watcher = createEndWatcher(readEnd);

  return {
    /** Days an event is kept. */
    retentionDays: options.retentionDays,

    /**
     * One page of events after `request.after`, oldest first, and the cursor to ask again with.
     * A short page means the caller has caught up: `next` is then the current end of the feed,
     * past events it will never need, but before any event still to commit.
     */
    async read(request: FeedRequest): Promise<FeedAnswer> {
      // One snapshot for the horizon, the page and the retention start: the page holds exactly
      // what lies below the horizon in that snapshot.
      return inSnapshot(request.types, request.userId, async (trx, feedPage): Promise<FeedAnswer> => {
        // Users are never deleted (deactivated, or erased under `anonymized-<id>`): an id no
        // user has is a mistake, which an empty page would hide.
        if (request.userId !== undefined && (await users.findById(trx, request.userId)) === undefined) {
          throw new DirectoryError('not_found', `User '${request.userId}' not found`);
        }
        const horizon = await feedHorizon(trx, store.dialect);
        const keptFrom = await feedKeptFrom(trx);
        if (request.after === 'now') return { kind: 'page', events: [], next: encodeCursor(horizon) };
        const from = request.after ?? keptFrom;
        if (before(from, keptFrom)) return { kind: 'expired', message: expiredMessage(options.retentionDays), next: encodeCursor(horizon) };
        if (await inRestoredGap(trx, from)) return { kind: 'expired', message: undoneMessage, next: encodeCursor(horizon) };
        // Every cursor the feed gives is at or below the horizon of its snapshot, and the
        // horizon never goes back: a snapshot taken after the cursor was given sees every commit
        // that snapshot saw (PostgreSQL numbers commits in order under event_tickets' row lock,
        // store/journal.ts; SQLite serialises writes; `db copy` carries the clock on). So a
        // cursor beyond it was never given by this database as it is now: after a restore from
        // an older backup, following it would silently skip the changes made since the restore
        // (their positions, and their event ids, are given anew).
        if (before(horizon, from)) return { kind: 'expired', message: aheadMessage, next: encodeCursor(horizon) };
        const rows = await feedPage(trx, { from, before: horizon }, request.types, request.limit, request.userId);
        const last = rows.at(-1);
        const next = rows.length === request.limit && last !== undefined ? { tx: last.tx, id: last.id + 1 } : horizon;
        return { kind: 'page', events: rows.map(toEntry), next: encodeCursor(next) };
      });
    },

    /**
     * Up to `limit` events at or after `from`, oldest first, under the same horizon as `read`
     * (so a reader never skips an event committed late); from the oldest event kept when
     * `from` is older. The webhook deliveries read with it (delivery/worker.ts).
     */
    async readFrom(from: FeedPosition, types: readonly string[] | undefined, limit: number): Promise<PositionedPage> {
      return inSnapshot(types, undefined, async (trx, feedPage): Promise<PositionedPage> => {
        const horizon = await feedHorizon(trx, store.dialect);
        const keptFrom = await feedKeptFrom(trx);
        const expired = before(from, keptFrom);
        const start = expired ? keptFrom : from;
        const rows = await feedPage(trx, { from: start, before: horizon }, types, limit);
        return {
          events: rows.map((row) => ({ entry: toEntry(row), at: { tx: row.tx, id: row.id }, after: { tx: row.tx, id: row.id + 1 } })),
          end: before(horizon, start) ? start : horizon,
          expired,
          keptFrom,
        };
      });
    },

    /** The current end of the feed: where a reader that wants only new events starts. */
    end: readEnd,

    /**
     * How far the feed has gone, positions and event ids, and whose feed it is: what a restore
     * must go on after (`roster db feed-end`). Refused while another Roster is connected: a change
     * it made after this read would be undone by the restore without being counted.
     */
    async endForRestore(): Promise<InstallationFeedEnd> {
      await refuseWhileRosterRuns(store, 'reading the feed\'s end: a change made after it would be undone by the restore without being counted');
      const installation = await installationId(store);
      const end = await readSnapshot(store.db, (trx) => readFeedEnd(trx, store.dialect));
      return { ...end, installation };
    },

    /**
     * After a restore of this database from a backup (pg_restore): goes on after `replaced`, the
     * end of the feed of the database the backup replaced, read before it was replaced; cursors
     * that read undone changes then answer 410, and no event id is given twice. Returns whether
     * the restore undid anything (false: the feed already goes past `replaced`, nothing done).
     * Refused while another Roster is connected, and when `replaced` names another installation.
     */
    async continueAfterRestore(replaced: GivenFeedEnd): Promise<boolean> {
      await refuseWhileRosterRuns(store, 'carrying the feed on: changes made before it would get the ids of the events the restore undid');
      const restored = await storedInstallationId(store);
      if (replaced.installation !== undefined && restored !== undefined && restored !== replaced.installation) {
        throw new DirectoryError(
          'precondition',
          `That feed end was read from another installation's database (installation ${replaced.installation}; the restored database is installation ${restored}): ` +
            'give the line `roster db feed-end` printed for the database this restore replaced. Nothing was changed.',
        );
      }
      // A dump made before the replaced database had its id: it is that installation's.
      if (replaced.installation !== undefined && restored === undefined) await adoptInstallationId(store, replaced.installation);
      return transact(store.db, (trx) => recordRestoredGap(trx, store.dialect, replaced, new Date().toISOString()));
    },

    /**
     * `read`, and when the page is empty and the request asks to wait: the page of the first
     * events to arrive within that time, through any instance, read from the empty page's `next`
     * (so a reader that filters by type is moved past the events it does not want); the empty
     * page when the time is up or `options.signal` aborts.
     */
    async readWaiting(request: FeedRequest, options: WaitOptions): Promise<FeedAnswer> {
      let answer = await this.read(request);
      const waitSeconds = request.waitSeconds ?? 0;
      if (waitSeconds === 0 || request.after === 'now') return answer;
      const deadline = Date.now() + waitSeconds * 1000;
      while (answer.kind === 'page' && answer.events.length === 0) {
        // A cursor this feed has just encoded.
        const from = decodeCursor(answer.next) as FeedPosition;
        const moved = await options.outsideLimit(() => watcher.waitPast(from, deadline, options.signal));
        if (!moved) return answer;
        answer = await this.read({ ...request, after: from });
      }
      return answer;
    },

    /**
     * Deletes the events older than the retention, if no other instance is doing it (the first
     * to ask in each interval claims it in the database). Returns how many were deleted.
     */
    async purge(now: Date = new Date()): Promise<number> {
      const claimed = await transact(store.db, (trx) => claimFeedCleanup(trx, now.toISOString(), new Date(now.getTime() + CLEANUP_INTERVAL_MS).toISOString()));
      if (!claimed) return 0;
      const cutoff = new Date(now.getTime() - options.retentionDays * DAY_MS).toISOString();
      return inBatches(store.db, PURGE_BATCH, async (trx) => purgeFeed(trx, await feedHorizon(trx, store.dialect), cutoff, PURGE_BATCH));
    },
  };
}

/** A feed's end and the installation whose feed it is (`roster db feed-end`). */
export interface InstallationFeedEnd extends FeedEnd {
  readonly installation: string;
}

/** A feed end given back after a restore: lines printed by versions before installation ids have none. */
export type GivenFeedEnd = FeedEnd & Partial<Pick<InstallationFeedEnd, 'installation'>>;

export type EventFeed = ReturnType<typeof createEventFeed>;
