/**
 * The event feed (issue 11): one row per change applications must learn, written by the
 * journal in the transaction of the change, read by the pull feed and the webhook deliveries.
 */
import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect.ts';

/** Adds `events`, `event_feed` and `staged_members`. */
export async function up(db: Kysely<unknown>, dialect: DialectAdapter): Promise<void> {
  const serial = sql.raw(dialect.serialPrimaryKey);
  const statements = [
    // The feed's order is (tx, id): `tx` numbers the writing transaction (its PostgreSQL
    // transaction id plus event_feed.tx_offset; on SQLite the offset alone), `id` the event.
    // A reader hands out only events whose transaction can no longer commit late, so a
    // transaction that commits after a later-numbered one is never skipped (store/journal.ts).
    // JSON as TEXT on both databases: never queried inside, and its key order is kept.
    sql`CREATE TABLE events (
      id ${serial},
      tx BIGINT NOT NULL,
      type TEXT NOT NULL,
      occurred_at TEXT NOT NULL,
      actor TEXT NOT NULL,
      data TEXT NOT NULL,
      previous TEXT
    )`,
    sql`CREATE INDEX events_position ON events (tx, id)`,
    // At most one row (id = 1), created on first use so that a new database stays empty for
    // db copy: the offset added to the transaction clock (moved on a copy so that new events
    // follow the copied ones), the first position still kept (retention deletes before it),
    // and when the next clean-up may start (one instance claims it).
    sql`CREATE TABLE event_feed (
      id INTEGER PRIMARY KEY,
      tx_offset BIGINT NOT NULL,
      kept_from_tx BIGINT NOT NULL,
      kept_from_id BIGINT NOT NULL,
      cleanup_after TEXT
    )`,
    // The members a SCIM request names, staged for the length of one transaction so that a
    // replace of 100k members is a few set-based statements (the membership diff) instead of
    // a group loaded into memory. Rows never outlive their transaction.
    sql`CREATE TABLE staged_members (
      batch TEXT NOT NULL,
      scim_id TEXT NOT NULL,
      position INTEGER NOT NULL,
      PRIMARY KEY (batch, scim_id)
    )`,
  ];
  for (const statement of statements) await statement.execute(db);
}
