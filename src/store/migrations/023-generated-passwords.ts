/**
 * Which accounts still sign in with a password Roster generated (the first start's `admin`,
 * `roster admin reset-password`, `roster users create`): whoever ran the command, a terminal log
 * or the initial-password file has seen it, so the console asks its user to choose another.
 * The column holds the generated password's hash; the account's password is the generated one
 * while `password_hash` still equals it. An equality rather than a flag, so that a password an
 * older instance sets during a rolling upgrade (which writes `password_hash` only) ends the
 * reminder all the same; the other way round, a password an older instance generates is not
 * marked, and its user is simply not reminded.
 *
 * Safe to roll: a nullable column, which older instances do not read; their INSERTs name their
 * columns.
 */
import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect.ts';

/** Adds `users.generated_password_hash`. */
export async function up(db: Kysely<unknown>, _dialect: DialectAdapter): Promise<void> {
  await sql`ALTER TABLE users ADD COLUMN generated_password_hash TEXT`.execute(db);
}
