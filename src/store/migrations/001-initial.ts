/**
 * The first schema. One set of migrations serves SQLite and PostgreSQL: the few type
 * differences come from the dialect adapter. Booleans are stored as integers 0/1 on both
 * databases so that the same SQL reads them; timestamps as ISO 8601 UTC text with
 * milliseconds (`Date#toISOString()`), which sorts and compares correctly as text.
 */
import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect.ts';

/** Applies the initial schema. */
export async function up(db: Kysely<unknown>, dialect: DialectAdapter): Promise<void> {
  const json = sql.raw(dialect.jsonColumnType);
  const serial = sql.raw(dialect.serialPrimaryKey);
  const statements = [
    // Users. `login` is the SCIM userName and the SAML login. `scim_data` is the SCIM
    // document as the client sent it, minus what lives in columns (id, meta, groups,
    // password, userName, externalId, active).
    sql`CREATE TABLE users (
      id TEXT PRIMARY KEY,
      login TEXT NOT NULL,
      display_name TEXT,
      email TEXT,
      active INTEGER NOT NULL DEFAULT 1,
      local INTEGER NOT NULL DEFAULT 0,
      password_hash TEXT,
      external_id TEXT,
      scim_data ${json} NOT NULL,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL,
      version INTEGER NOT NULL DEFAULT 1,
      last_connection_at TEXT
    )`,
    // userName is unique regardless of case (RFC 7643 §4.1.1, caseExact=false).
    sql`CREATE UNIQUE INDEX users_login_ci ON users (lower(login))`,
    sql`CREATE INDEX users_external_id ON users (external_id)`,
    // The SCIM id is distinct from the internal id; a user is managed exactly when linked.
    sql`CREATE TABLE scim_users (
      scim_id TEXT PRIMARY KEY,
      user_id TEXT NOT NULL UNIQUE REFERENCES users (id)
    )`,
    // Derived from scim_data.emails on every write, so that email lookups hit an index.
    sql`CREATE TABLE user_emails (
      user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      position INTEGER NOT NULL,
      value TEXT,
      type TEXT,
      is_primary INTEGER NOT NULL DEFAULT 0,
      display TEXT,
      PRIMARY KEY (user_id, position)
    )`,
    sql`CREATE INDEX user_emails_value_ci ON user_emails (lower(value))`,
    sql`CREATE TABLE groups (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      description TEXT,
      external_id TEXT,
      scim_data ${json} NOT NULL,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL,
      version INTEGER NOT NULL DEFAULT 1
    )`,
    sql`CREATE UNIQUE INDEX groups_name_ci ON groups (lower(name))`,
    sql`CREATE INDEX groups_external_id ON groups (external_id)`,
    sql`CREATE TABLE scim_groups (
      scim_id TEXT PRIMARY KEY,
      group_id TEXT NOT NULL UNIQUE REFERENCES groups (id)
    )`,
    // One row per (group, user): adding or removing a member touches one row whatever the
    // size of the group.
    sql`CREATE TABLE memberships (
      group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
      user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      created_at TEXT NOT NULL,
      PRIMARY KEY (group_id, user_id)
    )`,
    sql`CREATE INDEX memberships_user ON memberships (user_id, group_id)`,
    // Bearer tokens: only a SHA-256 hash is kept. Names are unique among live tokens.
    sql`CREATE TABLE tokens (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      user_id TEXT REFERENCES users (id),
      hash TEXT NOT NULL UNIQUE,
      created_at TEXT NOT NULL,
      last_used_at TEXT,
      revoked_at TEXT
    )`,
    sql`CREATE UNIQUE INDEX tokens_live_name ON tokens (name) WHERE revoked_at IS NULL`,
    sql`CREATE TABLE settings (
      key TEXT PRIMARY KEY,
      value TEXT NOT NULL,
      updated_at TEXT NOT NULL
    )`,
    // The event log: appended in the same transaction as each change; `seq` orders it.
    sql`CREATE TABLE audit_events (
      seq ${serial},
      at TEXT NOT NULL,
      actor TEXT NOT NULL,
      action TEXT NOT NULL,
      target_type TEXT NOT NULL,
      target_id TEXT,
      details TEXT
    )`,
    sql`CREATE INDEX audit_events_at ON audit_events (at)`,
    sql`CREATE INDEX audit_events_target ON audit_events (target_type, target_id)`,
  ];
  for (const statement of statements) await statement.execute(db);
}
