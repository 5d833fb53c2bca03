/**
 * SQL for reading the event feed and keeping it to its retention. The order and the horizon
 * are explained in store/journal.ts, which writes the events.
 */
import { sql, type RawBuilder } from 'kysely';
import type { DialectAdapter } from './dialect.ts';
import type { Executor } from './executor.ts';
import { FEED_ROW, type FeedPosition, type StoredFeedEvent } from './journal.ts';
import { turnOfEventLoop } from './turn.ts';

/** `(tx, id) >= position` (or `<`), served by the events_position index. */
function compare(operator: '>=' | '<', position: FeedPosition, columns = POSITION): RawBuilder<boolean> {
  return sql<boolean>`(${columns.tx}, ${columns.id}) ${sql.raw(operator)} (${position.tx}, ${position.id})`;
}

/** The position's columns, as the events_position index serves them. */
const POSITION = { tx: sql`tx`, id: sql`id` };
/**
 * The same columns behind a unary plus, which no index serves: one user's events are read
 * through events_user (user_id, tx, id) in its order, and SQLite, which keeps no statistics here,
 * took the position index for the range instead and read every event of it (38 ms at 300,000
 * events for a user with 30).
 */
const POSITION_UNINDEXED = { tx: sql`+tx`, id: sql`+id` };

/**
 * `from <= (tx, id) < before`. Both in one transaction clock value (on SQLite every event since
 * the last copy has the same one) as `tx = t AND id >= a AND id < b`, one range of the
 * events_position index: SQLite reads a row value's range by its first column only, so the
 * row-value form read every event of that clock value from the first one on (120–450 ms a read
 * at a million events, for every reader near the end of the feed and every webhook poll).
 */
function within(range: { readonly from: FeedPosition; readonly before: FeedPosition }, columns = POSITION): RawBuilder<boolean> {
  const { from, before } = range;
  const { tx, id } = columns;
  if (from.tx === before.tx) return sql<boolean>`(${tx} = ${from.tx} AND ${id} >= ${from.id} AND ${id} < ${before.id})`;
  return sql<boolean>`(${compare('>=', from, columns)} AND ${compare('<', before, columns)})`;
}

/** Whether `a` comes before `b` in the feed's order (by transaction, then id). */
export function positionBefore(a: FeedPosition, b: FeedPosition): boolean {
  return a.tx < b.tx || (a.tx === b.tx && a.id < b.id);
}

/** The feed's bookkeeping row, or its defaults before it exists. */
export async function feedRow(db: Executor): Promise<{ offset: number; keptFrom: FeedPosition }> {
  const row = await db.selectFrom('event_feed').select(['tx_offset', 'kept_from_tx', 'kept_from_id']).where('id', '=', FEED_ROW).executeTakeFirst();
  return row === undefined
    ? { offset: 0, keptFrom: { tx: 0, id: 0 } }
    : { offset: Number(row.tx_offset), keptFrom: { tx: Number(row.kept_from_tx), id: Number(row.kept_from_id) } };
}

/**
 * The last number given to a committing transaction's events (PostgreSQL, see store/journal.ts),
 * as `db`'s snapshot sees it: every number up to it is committed, every later one is not yet.
 */
async function lastTicket(db: Executor): Promise<number> {
  const row = await db.selectFrom('event_tickets').select('last_ticket').where('id', '=', FEED_ROW).executeTakeFirst();
  return Number(row?.last_ticket ?? 0);
}

/**
 * The horizon: every event before it is committed (or gone for good) and visible to `db`'s
 * snapshot; every event still to become visible comes at or after it. Read it in the same
 * snapshot as the page it bounds (transact.ts readSnapshot).
 */
export async function feedHorizon(db: Executor, dialect: DialectAdapter): Promise<FeedPosition> {
  const { offset, keptFrom } = await feedRow(db);
  let horizon: FeedPosition;
  if (dialect.feedNumbering.kind === 'at-commit') {
    horizon = { tx: (await lastTicket(db)) + 1, id: 0 };
  } else {
    const last = await db.selectFrom('events').select((eb) => eb.fn.max('id').as('id')).executeTakeFirst();
    horizon = { tx: offset, id: Number(last?.id ?? 0) + 1 };
  }
  // Never before what retention deleted (the last events may be gone; ids are never reused).
  return positionBefore(horizon, keptFrom) ? keptFrom : horizon;
}

/** The first position still kept: retention deleted every event before it. */
export async function feedKeptFrom(db: Executor): Promise<FeedPosition> {
  return (await feedRow(db)).keptFrom;
}

/**
 * Events in [from, before), oldest first, of the given types (all when undefined), and about
 * user `userId` alone when given (its own changes and its memberships': `events.user_id`, read
 * through events_user).
 */
export async function feedPage(
  db: Executor,
  range: { readonly from: FeedPosition; readonly before: FeedPosition },
  types: readonly string[] | undefined,
  limit: number,
  userId?: string,
): Promise<StoredFeedEvent[]> {
  const rows = await feedPageQuery(db, range, types, limit, userId).execute();
  return rows.map(toFeedEvent);
}

/** An `events` row as the feed reads it (ids as numbers: PostgreSQL's bigint comes as text). */
export function toFeedEvent(row: { id: string | number | bigint; tx: string | number | bigint; type: string; occurred_at: string; actor: string; data: string; previous: string | null }): StoredFeedEvent {
  return { id: Number(row.id), tx: Number(row.tx), type: row.type, occurredAt: row.occurred_at, actor: row.actor, data: row.data, previous: row.previous };
}

/** The statement of feedPage (exported for the tests of its plan). */
export function feedPageQuery(db: Executor, range: { readonly from: FeedPosition; readonly before: FeedPosition }, types: readonly string[] | undefined, limit: number, userId?: string) {
  const events = db.selectFrom('events').select(['id', 'tx', 'type', 'occurred_at', 'actor', 'data', 'previous']);
  let query = userId === undefined ? events.where(within(range)) : events.where('user_id', '=', userId).where(within(range, POSITION_UNINDEXED));
  if (types !== undefined) query = query.where('type', 'in', types);
  return query.orderBy('tx').orderBy('id').limit(limit);
}

/**
 * How many events one window of feedPageInWindows reads: the position index's next entries,
 * then those of them of the asked types (about 10–20 ms of SQLite's time).
 */
const FEED_WINDOW = 20_000;

/**
 * feedPage for a database that runs statements in this process (SQLite), when `types` may
 * leave most events out: the range is read a window of `window` events at a time, with a turn
 * of the event loop between windows, until the page is full or the range ends. One statement
 * read the whole retained feed when the types were rare (2.4 s at two million events, every
 * other request of the server held meanwhile). `db` must be a snapshot held across turns
 * (Store.openSnapshot): the answer is then the one feedPage gives.
 */
export async function feedPageInWindows(
  db: Executor,
  range: { readonly from: FeedPosition; readonly before: FeedPosition },
  types: readonly string[] | undefined,
  limit: number,
  window = FEED_WINDOW,
): Promise<StoredFeedEvent[]> {
  const found: StoredFeedEvent[] = [];
  let from = range.from;
  for (;;) {
    // The window's last event, read from the position index alone.
    const last = await db.selectFrom('events').select(['tx', 'id']).where(within({ from, before: range.before })).orderBy('tx').orderBy('id').offset(window - 1).limit(1).executeTakeFirst();
    const end = last === undefined ? range.before : { tx: Number(last.tx), id: Number(last.id) + 1 };
    found.push(...(await feedPage(db, { from, before: end }, types, limit - found.length)));
    if (found.length >= limit || last === undefined) return found;
    from = end;
    await turnOfEventLoop();
  }
}

/**
 * Claims the next clean-up for this instance: true when no other instance has claimed one
 * that is still due after `now`; the claim holds until `until`. One conditional upsert, so
 * that of several instances exactly one wins.
 */
export async function claimFeedCleanup(db: Executor, now: string, until: string): Promise<boolean> {
  const result = await db
    .insertInto('event_feed')
    .values({ id: FEED_ROW, tx_offset: 0, kept_from_tx: 0, kept_from_id: 0, cleanup_after: until })
    .onConflict((conflict) =>
      conflict
        .column('id')
        .doUpdateSet({ cleanup_after: until })
        .where((eb) => eb.or([eb('event_feed.cleanup_after', 'is', null), eb('event_feed.cleanup_after', '<=', now)])),
    )
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

/**
 * Deletes, oldest first, up to `limit` events before `horizon` that occurred before
 * `cutoff`, stopping at the first younger one so that what is kept is always a suffix of
 * the feed; records where the kept feed now starts. Returns how many were deleted.
 */
export async function purgeFeed(db: Executor, horizon: FeedPosition, cutoff: string, limit: number): Promise<number> {
  const rows = await db
    .selectFrom('events')
    .select(['tx', 'id', 'occurred_at'])
    .where(compare('<', horizon))
    .orderBy('tx')
    .orderBy('id')
    .limit(limit)
    .execute();
  const expired = rows.findIndex((row) => row.occurred_at >= cutoff);
  const last = rows[(expired === -1 ? rows.length : expired) - 1];
  if (last === undefined) return 0;
  const keptFrom = { tx: Number(last.tx), id: Number(last.id) + 1 };
  // The start moves first (in the same transaction): a reader never sees events gone
  // without also seeing that they are.
  await db
    .insertInto('event_feed')
    .values({ id: FEED_ROW, tx_offset: 0, kept_from_tx: keptFrom.tx, kept_from_id: keptFrom.id, cleanup_after: null })
    .onConflict((conflict) =>
      conflict
        .column('id')
        .doUpdateSet({ kept_from_tx: keptFrom.tx, kept_from_id: keptFrom.id })
        .where(sql<boolean>`(event_feed.kept_from_tx, event_feed.kept_from_id) < (${keptFrom.tx}, ${keptFrom.id})`),
    )
    .execute();
  const result = await deleteBefore(db, keptFrom).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/**
 * The source's clock, read in the copy's snapshot of it: no event it holds, and no position a
 * reader of it was given, has a larger `tx` than this, plus one (the horizon).
 */
export async function eventClockNow(db: Executor, dialect: DialectAdapter): Promise<{ clock: number; keptFrom: FeedPosition }> {
  const { offset, keptFrom } = await feedRow(db);
  const clock = dialect.feedNumbering.kind === 'at-commit' ? (await lastTicket(db)) + 1 : offset;
  return { clock, keptFrom };
}

/**
 * After a copy: makes the target's next transactions' `tx` come after `source.clock` (every
 * copied event, every position a reader of the source was given), and keeps the source's
 * retention start. Cursors of the source therefore stay valid.
 */
export async function continueEventClock(db: Executor, dialect: DialectAdapter, source: { clock: number; keptFrom: FeedPosition }): Promise<void> {
  // Numbers given at commit go on from the larger of the target's own and the source's clock;
  // serialised writes give every event tx = offset, one above the source's clock.
  let offset = source.clock + 1;
  if (dialect.feedNumbering.kind === 'at-commit') {
    await sql`UPDATE event_tickets SET last_ticket = GREATEST(last_ticket, ${source.clock}) WHERE id = ${FEED_ROW}`.execute(db);
    offset = 0;
  }
  await db
    .insertInto('event_feed')
    .values({ id: FEED_ROW, tx_offset: offset, kept_from_tx: source.keptFrom.tx, kept_from_id: source.keptFrom.id, cleanup_after: null })
    .onConflict((conflict) => conflict.column('id').doUpdateSet({ tx_offset: offset, kept_from_tx: source.keptFrom.tx, kept_from_id: source.keptFrom.id }))
    .execute();
}

/** Whether `position` lies in a stretch of the feed a restore undid (`recordRestoredGap`). */
export async function inRestoredGap(db: Executor, position: FeedPosition): Promise<boolean> {
  const row = await db
    .selectFrom('feed_gaps')
    .select('id')
    .where(sql<boolean>`(after_tx, after_id) < (${position.tx}, ${position.id})`)
    .where(sql<boolean>`(${position.tx}, ${position.id}) <= (through_tx, through_id)`)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * How far a database's event feed had gone: one past every position it handed out (a cursor
 * it gave is never beyond it), and the largest event id it gave.
 */
export interface FeedEnd {
  readonly position: FeedPosition;
  readonly lastEventId: number;
}

/** The feed's end as `db`'s snapshot sees it (`roster db feed-end`), for a restore to go on after (recordRestoredGap). */
export async function readFeedEnd(db: Executor, dialect: DialectAdapter): Promise<FeedEnd> {
  const position = await feedHorizon(db, dialect);
  const counter = Number((await dialect.lastSerial('events', 'id').execute(db)).rows[0]?.last ?? 0);
  // On SQLite the horizon's id is one past the largest event id still stored.
  const stored = dialect.feedNumbering.kind === 'serialised' ? position.id - 1 : 0;
  return { position, lastEventId: Math.max(counter, stored, 0) };
}

/**
 * After a restore (`roster db restore` on SQLite, `roster db continue-feed` after pg_restore):
 * `replaced` is the end of the feed of the database the backup replaced. When it is past the
 * restored feed's end, the changes in between were undone by the restore: the feed records that
 * stretch (a cursor in it answers 410), and goes on numbering after it, positions and event ids
 * alike, so that no position or event id the replaced database handed out is given to another
 * change. Returns whether anything was undone.
 */
export async function recordRestoredGap(db: Executor, dialect: DialectAdapter, replaced: FeedEnd, at: string): Promise<boolean> {
  const restored = await readFeedEnd(db, dialect);
  const restoredEnd = restored.position;
  const replacedEnd = replaced.position;
  const positionsBehind = positionBefore(restoredEnd, replacedEnd);
  const idsBehind = restored.lastEventId < replaced.lastEventId;
  if (!positionsBehind && !idsBehind) return false;
  // Event ids behind with positions ahead: the backup's feed was numbered again by a migration
  // (015 on PostgreSQL numbers from the server's transaction counter), so where the backup ended
  // in the replaced feed's numbering is not known: every position the replaced feed handed out
  // is in the gap, and its readers all resynchronise.
  const after = positionsBehind ? restoredEnd : { tx: 0, id: 0 };
  await db
    .insertInto('feed_gaps')
    .values({ after_tx: after.tx, after_id: after.id, through_tx: replacedEnd.tx, through_id: replacedEnd.id, restored_at: at })
    .execute();
  await continueEventClock(db, dialect, { clock: replacedEnd.tx, keptFrom: await feedKeptFrom(db) });
  for (const statement of dialect.resyncSerial('events', 'id', replaced.lastEventId)) await statement.execute(db);
  return true;
}

/**
 * The deletion of the events before `position` (exported for the tests of its plan): two ranges
 * of the index, which SQLite reads as such; the row-value form read every event of the clock
 * value, a million for each batch of the clean-up, and held SCIM requests for seconds.
 */
export function deleteBefore(db: Executor, position: FeedPosition) {
  return db.deleteFrom('events').where(sql<boolean>`(tx < ${position.tx} OR (tx = ${position.tx} AND id < ${position.id}))`);
}
