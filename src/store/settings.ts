/**
 * SQL for the `settings` table: one JSON text value per key. Parsing and checking the
 * values, and the audit trail of changes, are directory/settings.ts's.
 */
import type { Executor } from './executor.ts';

/** Query factory for settings. */
export function createSettingQueries() {
  return {
    /** The stored JSON text of a setting, or undefined when it has never been set. */
    async read(db: Executor, key: string): Promise<string | undefined> {
      const row = await db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst();
      return row?.value;
    },

    /**
     * Stores a setting unless it already has a value, in one statement: of several instances
     * doing this at once, the first insert wins and the others keep what it wrote.
     */
    async insertIfAbsent(db: Executor, key: string, value: string, updatedAt: string): Promise<void> {
      await db
        .insertInto('settings')
        .values({ key, value, updated_at: updatedAt })
        .onConflict((conflict) => conflict.column('key').doNothing())
        .execute();
    },

    /** Inserts or overwrites a setting (one statement, so two instances writing at once cannot collide). */
    async upsert(db: Executor, key: string, value: string, updatedAt: string): Promise<void> {
      await db
        .insertInto('settings')
        .values({ key, value, updated_at: updatedAt })
        .onConflict((conflict) => conflict.column('key').doUpdateSet({ value, updated_at: updatedAt }))
        .execute();
    },
  };
}

export type SettingQueries = ReturnType<typeof createSettingQueries>;
