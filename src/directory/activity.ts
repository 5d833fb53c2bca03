/**
 * Provisioning activity: the requests the identity provider made to the SCIM API, so that an
 * administrator can answer "is it calling us, and what failed?" (issue 9).
 *
 * What is kept of a request: when it arrived, the method, the path (no query string), the
 * `filter` query parameter (shortened), the status, the duration, the token (id, name, its
 * user's login) once verified, the client address, and for failures the SCIM error's
 * scimType and detail (shortened). Never a body, a header, nor another query parameter; a
 * Roster token quoted anywhere (a detail echoing a URL) is masked.
 *
 * Anyone can send requests without a valid token, so those are folded rather than stored
 * one by one: one row per client address and minute, whose `count` grows, for at most
 * ANONYMOUS_SOURCES_PER_MINUTE addresses a minute; the requests of further addresses that
 * minute all go to one row without an address. The budget is counted in the database, so
 * every instance draws on the same one.
 *
 * Rows are kept for the retention period (ROSTER_ACTIVITY_RETENTION_DAYS) and deleted by
 * `purge`, which `roster serve` runs in the background.
 */
import { maskTokens } from '../auth/tokens.ts';
import type { Store } from '../store/index.ts';
import type { Executor } from '../store/executor.ts';
import { inBatches, withoutWaitingForDisk } from '../store/transact.ts';
import {
  countFolded,
  countRequests,
  deleteRequestsBefore,
  insertFolded,
  insertRequests,
  latestAuthenticatedAt,
  listRequests,
  purgeFoldBudgets,
  useFoldBudget,
  type ActivityKey,
  type RequestWrite,
  type StoredRequest,
} from '../store/activity.ts';
import { shorten } from '../text.ts';
import { rejected } from '../errors.ts';

/** Client addresses without a valid token that get a row of their own per minute. */
export const ANONYMOUS_SOURCES_PER_MINUTE = 10;

const MAX_PATH = 300;
const MAX_FILTER = 200;
const MAX_DETAIL = 500;
const MAX_NAME = 200;
/** Rows deleted per statement by `purge`. */
const PURGE_BATCH = 1000;

/** The verified bearer token of a request. */
export interface RequestToken {
  readonly id: string;
  readonly name: string;
  /** Login of the token's user; null for a token without one. */
  readonly login: string | null;
}

/** A SCIM request as the HTTP layer observed it, once answered. */
export interface ObservedRequest {
  /** When it arrived. */
  readonly at: Date;
  readonly method: string;
  /** The path as routed, without the query string. */
  readonly path: string;
  /** The raw query string (without `?`), only so that a detail echoing it can be cut out. */
  readonly query: string;
  /** The `filter` query parameter, if any. */
  readonly filter: string | undefined;
  readonly status: number;
  readonly durationMs: number;
  /** The token, once verified; null for requests without a valid token. */
  readonly token: RequestToken | null;
  /** The client address. */
  readonly source: string;
  /** For an error answer: its scimType and detail. */
  readonly failure: { readonly scimType: string | undefined; readonly detail: string } | null;
  /** Requests without a token this one stands for, folded before recording (default 1). */
  readonly count?: number;
}

/** A recorded request as the admin API and the CLI show it: the stored row, with `count` the requests it stands for (more than 1 for folded requests without a valid token). */
export type ActivityEntry = Omit<StoredRequest, 'requestCount'> & { readonly count: number };

/** What to list: everything or failures (status 400 and above), newest first. */
export interface ActivityQuery {
  readonly failuresOnly: boolean;
  readonly limit: number;
  /** Rows to skip (page numbers); ignored when `cursor` is given. */
  readonly offset: number;
  /** A `next` cursor of an earlier page: the list continues after it. */
  readonly cursor?: string;
}

/** A page of the activity. */
export interface ActivityPage {
  readonly requests: ActivityEntry[];
  readonly total: number;
  /** Pass as `cursor` to read the next page; null on the last one. */
  readonly next: string | null;
}

/** `text` with Roster tokens masked, and the raw query string cut out (a detail may echo the URL). */
function scrub(text: string, query: string): string {
  const withoutQuery = query === '' || !text.includes(query) ? text : text.split(`?${query}`).join('?…');
  return maskTokens(withoutQuery);
}

// NUL, which PostgreSQL cannot store in text, and UTF-16 surrogates without their pair.
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
/** A cheap first test: a text without NUL or surrogates needs no replacing. */
const MAYBE_UNSTORABLE = /[\u0000\ud800-\udfff]/;

/**
 * What a client sent (a path with `%00`, a filter no route checked before the 401) made
 * storable: one such character must not fail the insert of a whole batch.
 */
function storable(text: string): string {
  return MAYBE_UNSTORABLE.test(text) ? text.replace(UNSTORABLE, '\ufffd') : text;
}

function toWrite(request: ObservedRequest): RequestWrite {
  const text = (value: string, max: number): string => storable(shorten(scrub(value, request.query), max));
  return {
    at: request.at.toISOString(),
    method: text(request.method, 16),
    path: text(request.path, MAX_PATH),
    filter: request.filter === undefined ? null : text(request.filter, MAX_FILTER),
    status: request.status,
    durationMs: Math.max(0, Math.round(request.durationMs)),
    tokenId: request.token?.id ?? null,
    tokenName: request.token === null ? null : text(request.token.name, MAX_NAME),
    tokenUser: request.token?.login == null ? null : text(request.token.login, MAX_NAME),
    source: text(request.source, MAX_NAME),
    scimType: request.failure?.scimType ?? null,
    detail: request.failure === null ? null : text(request.failure.detail, MAX_DETAIL),
  };
}

function toEntry(row: StoredRequest): ActivityEntry {
  const { requestCount, ...rest } = row;
  return { ...rest, count: requestCount };
}

/** `2025-01-31T12:34Z`: the minute of an ISO 8601 instant, the unit of the budget. */
function minuteOf(at: string): string {
  return `${at.slice(0, 16)}Z`;
}

/**
 * The key under which requests without a valid token are folded: their minute and source.
 * Requests with a token are never folded (undefined).
 */
export function foldKeyOf(request: ObservedRequest): string | undefined {
  if (request.token !== null) return undefined;
  return `${minuteOf(request.at.toISOString())} ${storable(shorten(request.source, MAX_NAME))}`;
}

/** The cursor after an entry: its time and id. */
function cursorOf(entry: ActivityKey): string {
  return `${entry.at}_${entry.id}`;
}

/** Reads a cursor back; anything else is a 400 naming the parameter. */
function parseCursor(cursor: string): ActivityKey {
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)_(\d{1,15})$/.exec(cursor);
  if (match === null) throw rejected('cursor', cursor, 'must be the page.next value of an earlier answer');
  return { at: match[1] as string, id: Number(match[2]) };
}

/** The provisioning-activity service over a store. */
export function createProvisioningActivity(store: Store) {
  const { db } = store;

  /**
   * Stores `count` requests without a valid token from one source in one minute (`own`, their
   * fold key; `first` is the earliest), within the budget of sources per minute (see above).
   */
  async function recordAnonymous(db: Executor, own: string, first: RequestWrite, count: number): Promise<void> {
    const minute = minuteOf(first.at);
    if (await countFolded(db, own, count)) return;
    const sources = await useFoldBudget(db, minute);
    // The first source of a minute clears the minutes no request can count in any more (the
    // previous one is kept for instances whose clocks lag a little).
    if (sources === 1) await purgeFoldBudgets(db, minuteOf(new Date(Date.parse(first.at) - 60_000).toISOString()));
    if (sources <= ANONYMOUS_SOURCES_PER_MINUTE) await insertFolded(db, own, first, count);
    else await insertFolded(db, `${minute} *`, { ...first, source: null }, count);
  }

  return {
    /**
     * Stores answered requests: those with a verified token in one insert, the others folded
     * within their budget. Rejects if the database does; the caller logs it and moves on.
     */
    async record(requests: readonly ObservedRequest[]): Promise<void> {
      // A crash may lose the last moment of the activity (http/activity.ts): its writes need not
      // wait for the disk, and so do not hold up the requests being answered meanwhile.
      await withoutWaitingForDisk(store, async (db) => {
        await insertRequests(db, store.dialect, requests.filter((request) => request.token !== null).map(toWrite));
        // Folded here first, so that a flood from one source costs one write per batch, not per request.
        const folded = new Map<string, { first: RequestWrite; count: number }>();
        for (const request of requests) {
          const key = foldKeyOf(request);
          if (key === undefined) continue;
          const write = toWrite(request);
          const count = Math.max(1, request.count ?? 1);
          const group = folded.get(key);
          if (group === undefined) folded.set(key, { first: write, count });
          else {
            group.count += count;
            if (write.at < group.first.at) group.first = write;
          }
        }
        for (const [key, { first, count }] of folded) await recordAnonymous(db, key, first, count);
      });
    },

    /** When the latest request with a valid token arrived (the IdP's last call), or undefined when none is kept. */
    latestAuthenticatedAt(): Promise<string | undefined> {
      return latestAuthenticatedAt(db);
    },

    /** A page of the activity, newest first, with the total and the cursor of the next page. */
    async list(query: ActivityQuery): Promise<ActivityPage> {
      const filter = { failuresOnly: query.failuresOnly };
      const after = query.cursor === undefined ? undefined : parseCursor(query.cursor);
      return db.transaction().setAccessMode('read only').execute(async (trx) => {
        const total = await countRequests(trx, filter);
        if (query.limit === 0) return { requests: [], total, next: null };
        // One row more than asked says whether there is a next page.
        const rows = await listRequests(trx, filter, { limit: query.limit + 1, offset: after === undefined ? query.offset : 0, ...(after !== undefined ? { after } : {}) });
        const requests = rows.slice(0, query.limit).map(toEntry);
        const last = requests.at(-1);
        return { requests, total, next: rows.length > query.limit && last !== undefined ? cursorOf(last) : null };
      });
    },

    /**
     * Deletes the requests that arrived more than `retentionDays` days before `now`, in
     * batches, and returns how many it deleted. Safe to run on several instances at once.
     */
    async purge(retentionDays: number, now: Date = new Date()): Promise<number> {
      const cutoff = new Date(now.getTime() - retentionDays * 86_400_000).toISOString();
      const deleted = await inBatches(db, PURGE_BATCH, (trx) => deleteRequestsBefore(trx, cutoff, PURGE_BATCH));
      await purgeFoldBudgets(db, minuteOf(new Date(now.getTime() - 3_600_000).toISOString()));
      return deleted;
    },
  };
}

export type ProvisioningActivity = ReturnType<typeof createProvisioningActivity>;
