/**
 * Versions that follow what SCIM embeds (RFC 7644 §3.14): a user shows its groups (their ids
 * and names), a group its members (their ids and display names). A group already changes
 * version when its members do (groups are touched); this migration gives users what they need
 * without ever rewriting user rows when a group changes, however large it is:
 *
 * - `groups.name_version` / `name_changed_at`: how often and when what a user shows of the
 *   group (its name, its being linked to SCIM) last changed. Member changes leave them alone,
 *   so adding someone to a 100k-member group changes no other member's version.
 * - `user_membership_changes`: per user, how many times and when its memberships last changed
 *   (a removed membership leaves no row to date the change). A table of its own rather than
 *   columns of `users`: group writers update it while holding their group's lock, and user
 *   writers lock the user's row and then touch its groups; had both locked user rows, the two
 *   would deadlock.
 *
 * See resource-versions.ts for how the version and lastModified are derived from them.
 */
import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect.ts';

/** Adds the name version of groups, the membership changes of users, and the indexes delta queries use. */
export async function up(db: Kysely<unknown>, _dialect: DialectAdapter): Promise<void> {
  const statements = [
    sql`ALTER TABLE groups ADD COLUMN name_version INTEGER NOT NULL DEFAULT 1`,
    // NOT NULL needs a default on SQLite; every insert sets it, and '' sorts before any instant.
    sql`ALTER TABLE groups ADD COLUMN name_changed_at TEXT NOT NULL DEFAULT ''`,
    // When a group was last renamed is not recorded anywhere yet: its last change is an upper
    // bound, so users' lastModified may move forward once, but never misses a rename.
    sql`UPDATE groups SET name_changed_at = updated_at`,
    sql`CREATE INDEX groups_name_changed_at ON groups (name_changed_at)`,
    sql`CREATE TABLE user_membership_changes (
      user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
      changes INTEGER NOT NULL,
      changed_at TEXT NOT NULL
    )`,
    sql`CREATE INDEX user_membership_changes_at ON user_membership_changes (changed_at)`,
    // Memberships added before this migration are dated by their rows; removals are lost.
    sql`INSERT INTO user_membership_changes (user_id, changes, changed_at)
      SELECT user_id, 0, max(created_at) FROM memberships GROUP BY user_id`,
    // `meta.lastModified gt "…"` (delta sync) starts from this index rather than scan users.
    sql`CREATE INDEX users_updated_at ON users (updated_at)`,
  ];
  for (const statement of statements) await statement.execute(db);
}
