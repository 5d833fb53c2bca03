/**
 * Administrators, browser sessions and SAML bookkeeping. Everything a sign-in needs lives in
 * the database so that any Roster instance can finish what another started.
 */
import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect.ts';

/** Applies the schema for administrators, sessions, SAML requests and the assertion replay cache. */
export async function up(db: Kysely<unknown>, _dialect: DialectAdapter): Promise<void> {
  const statements = [
    // Only administrators' tokens may call the SCIM and admin APIs.
    sql`ALTER TABLE users ADD COLUMN is_admin INTEGER NOT NULL DEFAULT 0`,
    // A session is found by the SHA-256 of its cookie value, never by the value itself.
    sql`CREATE TABLE sessions (
      id TEXT PRIMARY KEY,
      user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      created_at TEXT NOT NULL,
      last_seen_at TEXT NOT NULL,
      expires_at TEXT NOT NULL
    )`,
    sql`CREATE INDEX sessions_user ON sessions (user_id)`,
    // AuthnRequest ids we issued: InResponseTo must match one, once.
    sql`CREATE TABLE saml_requests (
      id TEXT PRIMARY KEY,
      created_at TEXT NOT NULL,
      expires_at TEXT NOT NULL,
      return_to TEXT
    )`,
    // Assertion ids already accepted, kept until the assertion would have expired anyway.
    sql`CREATE TABLE saml_assertions (
      id TEXT PRIMARY KEY,
      expires_at TEXT NOT NULL
    )`,
  ];
  for (const statement of statements) await statement.execute(db);
}
