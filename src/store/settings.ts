/**
 * SQL for the `settings` table: one JSON text value per key. Parsing and checking the
 * values, and the audit trail of changes, are src/settings.ts's. The values of secret
 * settings (secrets.ts SEALED_SETTINGS) are sealed on every write (once the database's secrets
 * are: secrets.ts sealForWrite) and opened on every read, so callers only ever see JSON text. A
 * write of one runs in a transaction that took the sealing lock first (lockSecretsForWrite).
 */
import { compiledOnce } from './compiled.ts';
import type { Executor } from './executor.ts';
import { createSecretBox, type SecretBox } from './secret-box.ts';
import { isSealedSetting, sealForWrite } from './secrets.ts';

const PLAINTEXT = createSecretBox(undefined);
// Read on every SCIM request (the provisioning switch), compiled once (compiled.ts).
const selectValue = compiledOnce((db: Executor, key: string) => db.selectFrom('settings').select('value').where('key', '=', key));
// Read by every SCIM write, in its transaction (directory/managed-mode.ts assertScimWritable).
const selectValueShared = compiledOnce((db: Executor, key: string) => db.selectFrom('settings').select('value').where('key', '=', key).forShare());
// Two settings every SCIM request reads together (the provisioning switch and the schemas' generation).
const selectTwo = compiledOnce((db: Executor, first: string, second: string) => db.selectFrom('settings').select(['key', 'value']).where('key', 'in', [first, second]));

/** Query factory for settings; `secrets` is the store's box (store.secrets), without which a sealed value cannot be read. */
export function createSettingQueries(secrets: SecretBox = PLAINTEXT) {
  // Sealed only once the database's secrets are (secrets.ts): instances without the key may be running until then.
  const stored = async (db: Executor, key: string, value: string): Promise<string> => (isSealedSetting(key) ? sealForWrite(db, secrets, value) : value);
  return {
    /** The stored JSON text of a setting, or undefined when it has never been set. */
    async read(db: Executor, key: string): Promise<string | undefined> {
      const [row] = await selectValue(db, key);
      return row === undefined ? undefined : secrets.open(row.value);
    },

    /** The JSON text of a value as stored (read by another table's statement), null when unset. */
    opened(stored: string | null): string | undefined {
      return stored === null ? undefined : secrets.open(stored);
    },

    /** The stored JSON texts of two settings, in one statement (undefined for one never set). */
    async readTwo(db: Executor, first: string, second: string): Promise<[string | undefined, string | undefined]> {
      const rows = await selectTwo(db, first, second);
      const text = (key: string) => {
        const row = rows.find((candidate) => candidate.key === key);
        return row === undefined ? undefined : secrets.open(row.value);
      };
      return [text(first), text(second)];
    },

    /**
     * The stored JSON text of a setting, its row locked until the end of the transaction
     * (FOR UPDATE), so that a concurrent delete or write of it waits. PostgreSQL only: SQLite
     * serialises write transactions anyway.
     */
    async readLocked(db: Executor, key: string): Promise<string | undefined> {
      const row = await db.selectFrom('settings').select('value').where('key', '=', key).forUpdate().executeTakeFirst();
      return row === undefined ? undefined : secrets.open(row.value);
    },

    /**
     * The stored JSON text of a setting, its row share-locked until the end of the transaction
     * (FOR SHARE): readers that hold it do not wait for each other, a write of it waits for them,
     * and they for a write in progress (then reading what it committed). PostgreSQL only.
     */
    async readShared(db: Executor, key: string): Promise<string | undefined> {
      const [row] = await selectValueShared(db, key);
      return row === undefined ? undefined : secrets.open(row.value);
    },

    /** Inserts a setting unless one exists (two instances starting at once keep the first). */
    async insertIfAbsent(db: Executor, key: string, text: string, updatedAt: string): Promise<void> {
      await db
        .insertInto('settings')
        .values({ key, value: await stored(db, key, text), updated_at: updatedAt })
        .onConflict((conflict) => conflict.column('key').doNothing())
        .execute();
    },

    /** Inserts or overwrites a setting (one statement, so two instances writing at once cannot collide). */
    async upsert(db: Executor, key: string, text: string, updatedAt: string): Promise<void> {
      const value = await stored(db, key, text);
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
