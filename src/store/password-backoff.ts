/**
 * SQL for the password sign-in backoff (directory/password-sign-in.ts): one row per counted
 * key, holding when the key has its whole allowance again.
 */
import { sql } from 'kysely';
import type { DialectAdapter } from './dialect.ts';
import type { Executor } from './executor.ts';

/** Rows one purge deletes at most, so that a purge never turns into a long statement. */
export const BACKOFF_PURGE_BATCH = 100;

/** Query factory for the backoff. */
export function createPasswordBackoffQueries(dialect: DialectAdapter) {
  return {
    /**
     * The `free_at` of each key, creating missing keys as free at `now`. Each row is written
     * by an upsert, which on PostgreSQL locks it until the transaction ends: concurrent
     * attempts on the same key, on any instance, are decided one after the other. Keys are
     * taken in sorted order so that two attempts sharing two keys cannot deadlock.
     */
    async lock(db: Executor, keys: readonly string[], now: string): Promise<Map<string, string>> {
      const result = new Map<string, string>();
      for (const key of [...new Set(keys)].sort()) {
        const row = await db
          .insertInto('password_backoff')
          .values({ key, free_at: now })
          .onConflict((conflict) => conflict.column('key').doUpdateSet({ free_at: sql<string>`password_backoff.free_at` }))
          .returning('free_at')
          .executeTakeFirstOrThrow();
        result.set(key, row.free_at);
      }
      return result;
    },

    /** Sets when a key has its whole allowance again. */
    async set(db: Executor, key: string, freeAt: string): Promise<void> {
      await db.updateTable('password_backoff').set({ free_at: freeAt }).where('key', '=', key).execute();
    },

    /** Forgets a key: it has its whole allowance again. */
    async remove(db: Executor, key: string): Promise<void> {
      await db.deleteFrom('password_backoff').where('key', '=', key).execute();
    },

    /**
     * Deletes up to PURGE_BATCH keys that were free before `before`. On PostgreSQL rows locked by
     * an attempt in progress are skipped rather than waited for (a purge must never make a
     * sign-in wait, nor deadlock with one).
     */
    async purge(db: Executor, before: string): Promise<number> {
      const result = await db
        .deleteFrom('password_backoff')
        .where('key', 'in', (eb) => {
          const stale = eb.selectFrom('password_backoff').select('key').where('free_at', '<', before).limit(BACKOFF_PURGE_BATCH);
          return dialect.supportsRowLocks ? stale.forUpdate().skipLocked() : stale;
        })
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}

export type PasswordBackoffQueries = ReturnType<typeof createPasswordBackoffQueries>;
