/**
 * Managed mode: the audit log names the user behind each change (a token's owner, a signed-in
 * administrator) next to the actor, and both can be filtered without scanning the log.
 */
import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect.ts';

/** Adds `audit_events.actor_user` and the indexes the audit-log API filters on. */
export async function up(db: Kysely<unknown>, _dialect: DialectAdapter): Promise<void> {
  const statements = [
    // The login at the time of the change: the log is history, so it is not a foreign key.
    sql`ALTER TABLE audit_events ADD COLUMN actor_user TEXT`,
    sql`CREATE INDEX audit_events_actor ON audit_events (actor)`,
    sql`CREATE INDEX audit_events_actor_user ON audit_events (actor_user)`,
    sql`CREATE INDEX tokens_user ON tokens (user_id)`,
  ];
  for (const statement of statements) await statement.execute(db);
}
