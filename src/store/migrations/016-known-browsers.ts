/**
 * Browsers that signed in to an account with its password before (directory/password-sign-in.ts):
 * their failed attempts count apart from everyone else's, so that strangers guessing a login's
 * password cannot hold its owner out.
 */
import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect.ts';

/** Creates `known_browsers`. */
export async function up(db: Kysely<unknown>, _dialect: DialectAdapter): Promise<void> {
  const statements = [
    // `id` is the SHA-256 of the browser's `roster_browser` cookie (256 random bits), so that a
    // copy of the database vouches for no browser. One browser may be known to several accounts.
    sql`CREATE TABLE known_browsers (
      id TEXT NOT NULL,
      user_id TEXT NOT NULL,
      expires_at TEXT NOT NULL,
      PRIMARY KEY (id, user_id)
    )`,
    sql`CREATE INDEX known_browsers_user ON known_browsers (user_id)`,
    sql`CREATE INDEX known_browsers_expires_at ON known_browsers (expires_at)`,
  ];
  for (const statement of statements) await statement.execute(db);
}
