/**
 * The rights a browser session was issued with: `sessions.administrator`, 1 when its user was an
 * administrator as the session opened, else 0. A session whose user has since become an
 * administrator, or stopped being one, ends at its next use (auth/sessions.ts says why), so its
 * id never carries rights it was not issued with.
 *
 * Nullable: sessions opened before this migration, or by an older instance still running (its
 * INSERT names its columns), record the rights their user has at their next use instead. Safe to
 * roll.
 */
import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect.ts';

/** Adds `sessions.administrator`. */
export async function up(db: Kysely<unknown>, _dialect: DialectAdapter): Promise<void> {
  await sql`ALTER TABLE sessions ADD COLUMN administrator INTEGER`.execute(db);
}
