/**
 * SQL for browser sessions (auth/sessions.ts). Rows are keyed by the SHA-256 of the cookie
 * value; the store never sees the value itself. Ending every session of a user at
 * deactivation is deleteSessionsOf in user-credentials.ts.
 */
import type { Executor } from './executor.ts';

/** A session row with the one fact about its user that decides whether it still counts. */
export interface StoredSession {
  readonly userId: string;
  readonly createdAt: string;
  readonly lastSeenAt: string;
  readonly expiresAt: string;
  readonly userActive: boolean;
}

/** What opening a session writes. */
export interface SessionWrite {
  readonly id: string;
  readonly userId: string;
  readonly createdAt: string;
  readonly expiresAt: string;
}

/** Query factory for sessions. */
export function createSessionQueries() {
  return {
    /** Inserts a session, last seen at its creation. */
    async insert(db: Executor, session: SessionWrite): Promise<void> {
      await db
        .insertInto('sessions')
        .values({
          id: session.id,
          user_id: session.userId,
          created_at: session.createdAt,
          last_seen_at: session.createdAt,
          expires_at: session.expiresAt,
        })
        .execute();
    },

    /** The session with this id and whether its user is active, or undefined. */
    async find(db: Executor, id: string): Promise<StoredSession | undefined> {
      const row = await db
        .selectFrom('sessions as s')
        .innerJoin('users as u', 'u.id', 's.user_id')
        .select(['s.user_id', 's.created_at', 's.last_seen_at', 's.expires_at', 'u.active'])
        .where('s.id', '=', id)
        .executeTakeFirst();
      if (row === undefined) return undefined;
      return { userId: row.user_id, createdAt: row.created_at, lastSeenAt: row.last_seen_at, expiresAt: row.expires_at, userActive: row.active === 1 };
    },

    /** Sets when the session was last seen (its idle expiry counts from there). */
    async touch(db: Executor, id: string, at: string): Promise<void> {
      await db.updateTable('sessions').set({ last_seen_at: at }).where('id', '=', id).execute();
    },

    /** Deletes one session; a no-op when there is none. */
    async delete(db: Executor, id: string): Promise<void> {
      await db.deleteFrom('sessions').where('id', '=', id).execute();
    },
  };
}

export type SessionQueries = ReturnType<typeof createSessionQueries>;
