/**
 * OpenID Connect Back-Channel Logout: an application's back-channel logout URI
 * (`oidc_applications.backchannel_logout_uri`, NULL when it registered none), and the outbox of
 * logouts to deliver (`oidc_logouts`), one row per application and user, written in the
 * transaction that ends the user's sign-ins (directory/application-logouts.ts) and deleted once
 * the application answered 2xx or Roster gave up (delivery/logouts.ts). Claimed row by row with
 * a lease, as webhook endpoints are, so that of several instances one sends each logout.
 *
 * Safe to roll: a nullable column and a new table that older instances neither read nor write.
 * While one still runs, a user it deactivates or signs out queues no logout (its applications
 * learn of it at their next refresh, as before), and its edit of an application keeps the URI.
 */
import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect.ts';

/** Adds `oidc_applications.backchannel_logout_uri` and the `oidc_logouts` outbox. */
export async function up(db: Kysely<unknown>, _dialect: DialectAdapter): Promise<void> {
  const statements = [
    sql`ALTER TABLE oidc_applications ADD COLUMN backchannel_logout_uri TEXT`,
    // `id` is also the logout token's jti, the same at every attempt, so that an application
    // that processed a token whose answer was lost can tell the retry is the same logout.
    // `subject`: the user's id, the `sub` of the application's ID tokens. `cause`: what ended
    // the sign-in (deactivated, suspended, signed_out, ...), for the record of a give-up.
    // `attempts`/`last_error`: the failed attempts so far; `claimed_by`/`lease_until`: the
    // instance sending it now, until when.
    sql`CREATE TABLE oidc_logouts (
      id TEXT PRIMARY KEY,
      client_id TEXT NOT NULL,
      subject TEXT NOT NULL,
      cause TEXT NOT NULL,
      created_at TEXT NOT NULL,
      attempts INTEGER NOT NULL,
      next_attempt_at TEXT NOT NULL,
      last_error TEXT,
      claimed_by TEXT,
      lease_until TEXT
    )`,
    // What the worker's claim scans: logouts due now.
    sql`CREATE INDEX oidc_logouts_due ON oidc_logouts (next_attempt_at)`,
  ];
  for (const statement of statements) await statement.execute(db);
}
