/**
 * SQL for the browsers known to an account (directory/password-sign-in.ts): one row per
 * browser and account, until it expires or the account's password changes.
 */
import type { Executor } from './executor.ts';

/** Query factory for known browsers. */
export function createKnownBrowserQueries() {
  return {
    /** True when browser `id` signed in to `userId` with its password and is still known at `now`. */
    async isKnown(db: Executor, id: string, userId: string, now: string): Promise<boolean> {
      const row = await db.selectFrom('known_browsers').select('id').where('id', '=', id).where('user_id', '=', userId).where('expires_at', '>', now).executeTakeFirst();
      return row !== undefined;
    },

    /** Knows browser `id` for `userId` until `expiresAt` (again, when it was known already). */
    async remember(db: Executor, id: string, userId: string, expiresAt: string): Promise<void> {
      await db
        .insertInto('known_browsers')
        .values({ id, user_id: userId, expires_at: expiresAt })
        .onConflict((conflict) => conflict.columns(['id', 'user_id']).doUpdateSet({ expires_at: expiresAt }))
        .execute();
    },

    /** Forgets every browser known to `userId` but `keep`, if given; returns how many. */
    async forgetAllOf(db: Executor, userId: string, keep?: string): Promise<number> {
      let statement = db.deleteFrom('known_browsers').where('user_id', '=', userId);
      if (keep !== undefined) statement = statement.where('id', '!=', keep);
      const result = await statement.executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    /** Deletes up to `limit` rows expired at `now`; returns how many. */
    async purgeExpired(db: Executor, now: string, limit: number): Promise<number> {
      const result = await db
        .deleteFrom('known_browsers')
        .where((eb) => eb(eb.refTuple('id', 'user_id'), 'in', eb.selectFrom('known_browsers').select(['id', 'user_id']).where('expires_at', '<=', now).limit(limit).$asTuple('id', 'user_id')))
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}
