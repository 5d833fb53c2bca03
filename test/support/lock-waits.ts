import type pg from 'pg';

/**
 * Waits until at least `count` backends of `client`'s database, other than `client`'s own, wait
 * on a lock; with `statementLike`, only those whose statement matches it (SQL `ILIKE`, e.g.
 * `%from "events"%`). Tests of lock ordering use it instead of a fixed sleep: on a slow machine
 * a request may not have reached its lock after any given delay, and the test would then race it.
 */
export async function waitForLockWaits(client: pg.Client, count = 1, statementLike = '%'): Promise<void> {
  for (let attempt = 0; attempt < 400; attempt += 1) {
    // Inside a transaction PostgreSQL answers pg_stat_activity from a snapshot taken at its first
    // read (stats_fetch_consistency); `client` may be the one holding the lock in a transaction.
    await client.query('SELECT pg_stat_clear_snapshot()');
    const waiting = await client.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND query ILIKE $1", [statementLike]);
    if ((waiting.rowCount ?? 0) >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const activity = await client.query("SELECT state, wait_event_type, wait_event, left(query, 120) AS query FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
  throw new Error(`fewer than ${count} transactions${statementLike === '%' ? '' : ` running ${statementLike}`} came to wait on a held lock within 10 s; the others: ${JSON.stringify(activity.rows)}`);
}
