/**
 * Webhooks (issue 11, second half): the endpoints administrators register, each with its own
 * position in the event feed, and the log of every delivery attempt. The delivery worker
 * (src/delivery/) claims endpoints row by row with a lease, so that of several instances one
 * delivers to an endpoint at a time and a killed instance's claim expires.
 */
import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect.ts';

/** Adds `webhooks` and `webhook_deliveries`. */
export async function up(db: Kysely<unknown>, dialect: DialectAdapter): Promise<void> {
  const statements = [
    // `secret` and `previous_secret` are kept in clear: signing needs them (HMAC), unlike
    // token hashes. `types`: comma-separated event types, NULL for all.
    // (pos_tx, pos_id): the next event to deliver is the first of the feed at or after it.
    // `generation` grows with every administrator's change of the delivery state (enable,
    // disable, replay), so that a worker still holding an older claim cannot write over it.
    // `attempts`/`failing_since`: failed attempts at the event at the position.
    sql`CREATE TABLE webhooks (
      id TEXT PRIMARY KEY,
      url TEXT NOT NULL,
      types TEXT,
      enabled INTEGER NOT NULL,
      disabled_reason TEXT,
      disabled_at TEXT,
      secret TEXT NOT NULL,
      previous_secret TEXT,
      previous_secret_until TEXT,
      pos_tx BIGINT NOT NULL,
      pos_id BIGINT NOT NULL,
      generation INTEGER NOT NULL,
      attempts INTEGER NOT NULL,
      failing_since TEXT,
      next_attempt_at TEXT NOT NULL,
      claimed_by TEXT,
      lease_until TEXT,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL
    )`,
    // What the worker's claim scans: enabled endpoints due now.
    sql`CREATE INDEX webhooks_due ON webhooks (enabled, next_attempt_at)`,
    // One row per attempt; `response` holds the first 1 KB of the answer.
    sql`CREATE TABLE webhook_deliveries (
      id ${sql.raw(dialect.serialPrimaryKey)},
      webhook_id TEXT NOT NULL,
      event_id BIGINT NOT NULL,
      event_type TEXT NOT NULL,
      attempt INTEGER NOT NULL,
      at TEXT NOT NULL,
      status INTEGER,
      latency_ms INTEGER NOT NULL,
      response TEXT,
      error TEXT,
      outcome TEXT NOT NULL
    )`,
    sql`CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id)`,
    sql`CREATE INDEX webhook_deliveries_at ON webhook_deliveries (at)`,
  ];
  for (const statement of statements) await statement.execute(db);
}
