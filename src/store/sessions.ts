/**
 * SQL for browser sessions (auth/sessions.ts). Rows are keyed by the SHA-256 of the cookie
 * value; the store never sees the value itself. Ending every session of a user at
 * deactivation is deleteSessionsOf in user-credentials.ts.
 */
import { compiledOnce } from './compiled.ts';
import type { Executor } from './executor.ts';
import { administratorCondition } from './memberships.ts';

/** A session row with whether its user is active (which decides whether it still counts) and who the user is. */
export interface StoredSession {
  readonly userId: string;
  readonly userLogin: string;
  readonly userName: string | null;
  readonly userEmail: string | null;
  readonly createdAt: string;
  readonly lastSeenAt: string;
  readonly expiresAt: string;
  readonly userActive: boolean;
  /** Whether the session was issued to an administrator (migration 026); null for sessions opened before it. */
  readonly issuedToAdministrator: boolean | null;
  /** Whether its user is an administrator now (memberships.ts administratorCondition), read in the same statement. */
  readonly administratorNow: boolean;
}

/** A live session as its user's account page lists it. */
export interface ListedSession {
  /** SHA-256 hex of the cookie value: compared, never shown. */
  readonly id: string;
  readonly createdAt: string;
  readonly lastSeenAt: string;
  readonly expiresAt: string;
  /** Where it signed in from (migration 017); null for sessions opened before it. Display only. */
  readonly address: string | null;
  readonly browser: string | null;
}

/** What opening a session writes. */
export interface SessionWrite {
  readonly id: string;
  readonly userId: string;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly address: string | null;
  readonly browser: string | null;
  /** Whether its user is an administrator as it opens (memberships.ts administratorCondition). */
  readonly administrator: boolean;
}

// Every console page and every forward-auth question reads its session: compiled once (compiled.ts).
// The user's rights now are read in the same statement: a session whose rights changed ends.
const selectSession = compiledOnce((db: Executor, id: string, adminGroupKey: string) =>
  db
    .selectFrom('sessions as s')
    .innerJoin('users as u', 'u.id', 's.user_id')
    .select(['s.user_id', 's.created_at', 's.last_seen_at', 's.expires_at', 's.administrator', 'u.active', 'u.login', 'u.display_name', 'u.email'])
    .select((eb) => eb.case().when(administratorCondition(eb as never, adminGroupKey)).then(1).else(0).end().as('administrator_now'))
    .where('s.id', '=', id),
);

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
          address: session.address,
          browser: session.browser,
          administrator: session.administrator ? 1 : 0,
        })
        .execute();
    },

    /**
     * The session with this id, whether its user is active and who it is, or undefined;
     * `adminGroupKey` (the case key of ROSTER_ADMIN_GROUP) decides administratorNow.
     */
    async find(db: Executor, id: string, adminGroupKey: string): Promise<StoredSession | undefined> {
      const [row] = await selectSession(db, id, adminGroupKey);
      if (row === undefined) return undefined;
      return {
        userId: row.user_id,
        userLogin: row.login,
        userName: row.display_name,
        userEmail: row.email,
        createdAt: row.created_at, lastSeenAt: row.last_seen_at, expiresAt: row.expires_at, userActive: row.active === 1,
        issuedToAdministrator: row.administrator === null ? null : Number(row.administrator) === 1,
        administratorNow: Number(row.administrator_now) === 1,
      };
    },

    /** Records the rights of a session opened before migration 026 (see StoredSession.issuedToAdministrator). */
    async recordRights(db: Executor, id: string, administrator: boolean): Promise<void> {
      await db.updateTable('sessions').set({ administrator: administrator ? 1 : 0 }).where('id', '=', id).where('administrator', 'is', null).execute();
    },

    /** Sets when the session was last seen (its idle expiry counts from there). */
    async touch(db: Executor, id: string, at: string): Promise<void> {
      await db.updateTable('sessions').set({ last_seen_at: at }).where('id', '=', id).execute();
    },

    /**
     * The sessions of a user still live at `now` (not past `expiresAt`, seen since `seenSince`),
     * most recently seen first, at most `limit`; served by the sessions' user index.
     */
    async listLiveOf(db: Executor, userId: string, now: string, seenSince: string, limit: number): Promise<ListedSession[]> {
      const rows = await db
        .selectFrom('sessions')
        .select(['id', 'created_at', 'last_seen_at', 'expires_at', 'address', 'browser'])
        .where('user_id', '=', userId)
        .where('expires_at', '>', now)
        .where('last_seen_at', '>', seenSince)
        .orderBy('last_seen_at', 'desc')
        .orderBy('id')
        .limit(limit)
        .execute();
      return rows.map((row) => ({ id: row.id, createdAt: row.created_at, lastSeenAt: row.last_seen_at, expiresAt: row.expires_at, address: row.address, browser: row.browser }));
    },

    /** The ids of every session row of a user, ended or not; served by the sessions' user index. */
    async idsOf(db: Executor, userId: string): Promise<string[]> {
      const rows = await db.selectFrom('sessions').select('id').where('user_id', '=', userId).execute();
      return rows.map((row) => row.id);
    },

    /** Deletes one session; returns whether there was one. */
    async deleteOne(db: Executor, id: string): Promise<boolean> {
      const result = await db.deleteFrom('sessions').where('id', '=', id).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },

    /**
     * Deletes up to `limit` sessions that have ended (past their absolute expiry, or unused since
     * `seenBefore`); returns how many. Without an index on either column: the clean-up runs once
     * an hour, and the table holds a few rows per user.
     */
    async purgeEnded(db: Executor, now: string, seenBefore: string, limit: number): Promise<number> {
      const ended = db.selectFrom('sessions').select('id').where((eb) => eb.or([eb('expires_at', '<=', now), eb('last_seen_at', '<=', seenBefore)])).limit(limit);
      const result = await db.deleteFrom('sessions').where('id', 'in', ended).executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    /** Deletes one session; a no-op when there is none. */
    async delete(db: Executor, id: string): Promise<void> {
      await db.deleteFrom('sessions').where('id', '=', id).execute();
    },
  };
}

export type SessionQueries = ReturnType<typeof createSessionQueries>;
