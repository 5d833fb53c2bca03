/**
 * Provisioning activity (issue 9): one row per request to the SCIM API, so that an
 * administrator can see whether the IdP calls and what failed, whichever instance answered.
 * Kept for ROSTER_ACTIVITY_RETENTION_DAYS; see directory/activity.ts for what is recorded.
 * Also an index for the audit log's new `action` filter.
 */
import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect.ts';

/** Adds `scim_activity`, `scim_activity_budgets` and `audit_events_action`. */
export async function up(db: Kysely<unknown>, dialect: DialectAdapter): Promise<void> {
  const statements = [
    // Never a body, a header or a query parameter other than `filter`: see directory/activity.ts.
    sql`CREATE TABLE scim_activity (
      id ${sql.raw(dialect.serialPrimaryKey)},
      at TEXT NOT NULL,
      method TEXT NOT NULL,
      path TEXT NOT NULL,
      filter TEXT,
      status INTEGER NOT NULL,
      duration_ms INTEGER NOT NULL,
      token_id TEXT,
      token_name TEXT,
      token_user TEXT,
      source TEXT,
      scim_type TEXT,
      detail TEXT,
      request_count INTEGER NOT NULL,
      fold_key TEXT
    )`,
    // Newest first, and the keyset (at, id) of the list.
    sql`CREATE INDEX scim_activity_at ON scim_activity (at, id)`,
    // "Failures" without reading the successes: the predicate is repeated literally in the
    // query (store/activity.ts), as both databases need to use a partial index.
    sql`CREATE INDEX scim_activity_failures ON scim_activity (at, id) WHERE status >= 400`,
    // Unauthenticated requests are folded into one row per source and minute (or per minute
    // past the budget); NULL for every other row, which a unique index allows many times.
    sql`CREATE UNIQUE INDEX scim_activity_fold_key ON scim_activity (fold_key)`,
    // How many sources of unauthenticated requests have a row of their own in each minute.
    sql`CREATE TABLE scim_activity_budgets (
      minute TEXT PRIMARY KEY,
      sources INTEGER NOT NULL
    )`,
    // The audit log's `action` filter, newest first by seq.
    sql`CREATE INDEX audit_events_action ON audit_events (action, seq)`,
  ];
  for (const statement of statements) await statement.execute(db);
}
