/**
 * SQL for the `settings` table: one JSON text value per key. Parsing and checking the
 * values, and the audit trail of changes, are directory/settings.ts's.
 */
import { compiledOnce } from './compiled.ts';
import type { Executor } from './executor.ts';

/** Query factory for settings. */
export function createSettingQueries() {
  // Read on every SCIM request (the provisioning switch), compiled once (compiled.ts).
  const selectValue = compiledOnce((db: Executor, key: string) => db.selectFrom('settings').select('value').where('key', '=', key));

  return {
    /** The stored JSON text of a setting, or undefined when it has never been set. */
    async read(db: Executor, key: string): Promise<string | undefined> {
      const [row] = await selectValue(db, key);
      return row?.value;
    },

    /**
     * The stored JSON text of a setting, its row locked until the end of the transaction
     * (FOR UPDATE), so that a concurrent delete or write of it waits. PostgreSQL only: SQLite
     * serialises write transactions anyway.
     */
    async readLocked(db: Executor, key: string): Promise<string | undefined> {
      const row = await db.selectFrom('settings').select('value').where('key', '=', key).forUpdate().executeTakeFirst();
      return row?.value;
    },

    /** Inserts a setting unless one exists (two instances starting at once keep the first). */
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

    /** Deletes a setting; true when there was one. */
    async remove(db: Executor, key: string): Promise<boolean> {
      const result = await db.deleteFrom('settings').where('key', '=', key).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },
  };
}

export type SettingQueries = ReturnType<typeof createSettingQueries>;
