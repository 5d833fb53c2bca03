/**
 * Instance settings, kept in the `settings` table as JSON so that every Roster instance
 * sharing the database sees the same values (nothing is cached in process memory).
 *
 * Each setting is declared once with `defineSetting`: its key, a parser that checks the
 * stored JSON (the table is plain text and may have been edited by hand or by an older
 * version), and what of its value may appear in the audit log.
 *
 * Below auth/ and directory/, beside the journal: both layers keep settings (the SAML
 * configuration in auth/, the provisioning mode in directory/), and it imports only store/ and
 * the journal.
 */
import type { Transaction } from 'kysely';
import type { Executor } from './store/executor.ts';
import type { Database, Store } from './store/index.ts';
import { isSealedSetting, lockSecretsForWrite } from './store/secrets.ts';
import { createSettingQueries } from './store/settings.ts';
import { transact } from './store/transact.ts';
import type { Actor } from './journal/actor.ts';
import { createJournal } from './journal/journal.ts';

/** A database handle: the store's Kysely instance or a transaction opened on it. */
export type Db = Executor;

const queries = createSettingQueries();

/** How one setting is stored and checked. */
export interface SettingDefinition<T> {
  readonly key: string;
  /** Returns the value if `raw` (parsed JSON) is well-formed, else undefined. */
  readonly parse: (raw: unknown) => T | undefined;
  /**
   * What the `setting.changed` event may say about the new value. Omit it for settings that
   * hold secrets: the event then names only the key.
   */
  readonly audit?: (value: T) => unknown;
}

/** Declares a setting (a typed key). */
export function defineSetting<T>(definition: SettingDefinition<T>): SettingDefinition<T> {
  return definition;
}

/** Typed access to the settings table. */
export interface Settings {
  /** The stored value, or undefined when the setting has never been set. */
  get<T>(setting: SettingDefinition<T>): Promise<T | undefined>;
  /** Stores a value and records `setting.changed`, in one transaction. */
  set<T>(setting: SettingDefinition<T>, value: T, actor: Actor): Promise<void>;
  /**
   * A read-modify-write of one setting in one transaction: reads it locked (PostgreSQL; SQLite
   * serialises write transactions), lets `change` decide from what is stored now, and writes the
   * value it returns with its `setting.changed` event. Two instances changing the setting at once
   * take turns, the second seeing the first's value: no change is lost. No value: nothing written.
   */
  update<T, R>(setting: SettingDefinition<T>, change: (stored: T | undefined) => { readonly value?: T | undefined; readonly result: R }, actor: Actor): Promise<R>;
  /** Reads inside a caller's transaction (for read-check-write sequences). */
  read<T>(db: Db, setting: SettingDefinition<T>): Promise<T | undefined>;
  /** Reads two settings in one statement (what every request of an API needs, say). */
  readTwo<A, B>(db: Db, first: SettingDefinition<A>, second: SettingDefinition<B>): Promise<[A | undefined, B | undefined]>;
  /**
   * The values of two settings from their stored texts (null when unset), as another statement
   * read them beside its own rows (the bearer token's: auth/tokens.ts).
   */
  fromStored<A, B>(first: SettingDefinition<A>, second: SettingDefinition<B>, stored: readonly [string | null, string | null]): [A | undefined, B | undefined];
  /**
   * Reads inside a caller's transaction and locks the setting's row until it ends, so that
   * another transaction removing or changing it waits (a check that must hold until commit).
   */
  readLocked<T>(trx: Transaction<Database>, setting: SettingDefinition<T>): Promise<T | undefined>;
  /**
   * Reads inside a caller's transaction and share-locks the setting's row until it ends: other
   * readers go on, a transaction changing it waits for them and they for it (PostgreSQL; SQLite
   * serialises write transactions anyway).
   */
  readShared<T>(trx: Transaction<Database>, setting: SettingDefinition<T>): Promise<T | undefined>;
  /**
   * Writes inside a caller's transaction WITHOUT an audit event: the caller records a more
   * specific one. A secret setting (store/secrets.ts SEALED_SETTINGS) needs the transaction to
   * have taken the sealing lock first (lockSecretsForWrite), before any row.
   */
  write<T>(trx: Transaction<Database>, setting: SettingDefinition<T>, value: T): Promise<void>;
  /** Deletes inside a caller's transaction WITHOUT an audit event; true when it was set. */
  remove<T>(trx: Transaction<Database>, setting: SettingDefinition<T>): Promise<boolean>;
}

/** Creates the settings service over a store (secret settings are sealed with its key). */
export function createSettings(store: Store): Settings {
  const journal = createJournal(store.dialect);
  const sealing = createSettingQueries(store.secrets);
  const read = <T>(db: Db, setting: SettingDefinition<T>): Promise<T | undefined> => readSetting(db, setting, sealing.read);
  const write = async <T>(trx: Transaction<Database>, setting: SettingDefinition<T>, value: T): Promise<void> => {
    await sealing.upsert(trx, setting.key, JSON.stringify(value), new Date().toISOString());
  };
  const readLocked = <T>(trx: Transaction<Database>, setting: SettingDefinition<T>): Promise<T | undefined> =>
    store.dialect.supportsRowLocks ? readSetting(trx, setting, sealing.readLocked) : read(trx, setting);
  // A secret setting's write takes the sealing lock first, before its row (store/secrets.ts).
  const lockIfSecret = async (trx: Transaction<Database>, key: string): Promise<void> => {
    if (isSealedSetting(key)) await lockSecretsForWrite(trx, store.dialect);
  };
  const recordChange = async <T>(trx: Transaction<Database>, setting: SettingDefinition<T>, value: T, actor: Actor): Promise<void> => {
    const details: Record<string, unknown> = { key: setting.key };
    if (setting.audit !== undefined) details['value'] = setting.audit(value);
    await journal.record(trx, actor, { action: 'setting.changed', targetType: 'setting', targetId: setting.key, details });
  };
  return {
    get: (setting) => read(store.db, setting),
    read,
    async readTwo(db, first, second) {
      const [a, b] = await sealing.readTwo(db, first.key, second.key);
      return [parseSetting(first, a), parseSetting(second, b)];
    },
    fromStored: (first, second, [a, b]) => [parseSetting(first, sealing.opened(a)), parseSetting(second, sealing.opened(b))],
    readLocked,
    readShared: (trx, setting) => (store.dialect.supportsRowLocks ? readSetting(trx, setting, sealing.readShared) : read(trx, setting)),
    write,
    remove: (trx, setting) => sealing.remove(trx, setting.key),
    async set(setting, value, actor) {
      await store.db.transaction().execute(async (trx) => {
        await lockIfSecret(trx, setting.key);
        await write(trx, setting, value);
        await recordChange(trx, setting, value, actor);
      });
    },
    update(setting, change, actor) {
      // transact: a busy lock or a deadlock is retried, everything read again.
      return transact(store.db, async (trx) => {
        await lockIfSecret(trx, setting.key);
        const { value, result } = change(await readLocked(trx, setting));
        if (value !== undefined) {
          await write(trx, setting, value);
          await recordChange(trx, setting, value, actor);
        }
        return result;
      });
    },
  };
}

/**
 * Reads and checks one setting; a malformed stored value is a fault, not "unset". Without
 * `read`, a secret setting cannot be read (no key): use the settings service for those.
 */
export async function readSetting<T>(db: Db, setting: SettingDefinition<T>, read: (db: Db, key: string) => Promise<string | undefined> = queries.read): Promise<T | undefined> {
  return parseSetting(setting, await read(db, setting.key));
}

/** Checks a setting's stored JSON text (undefined: never set). */
function parseSetting<T>(setting: SettingDefinition<T>, text: string | undefined): T | undefined {
  if (text === undefined) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    raw = undefined;
  }
  const value = raw === undefined ? undefined : setting.parse(raw);
  // Treating a corrupt value as unset could silently turn SCIM off or drop the SAML trust
  // anchor, so stop loudly instead.
  if (value === undefined) throw new Error(`The stored value of setting "${setting.key}" is malformed.`);
  return value;
}

/**
 * The value of a setting, storing `initial()` first when it has none: every instance sharing the
 * database gets the same value, whichever stored it (keys made on first use, for one).
 * Records no audit event: nobody changed a setting.
 */
export async function readOrInitialise<T>(store: Store, setting: SettingDefinition<T>, initial: () => T): Promise<T> {
  const sealing = createSettingQueries(store.secrets);
  const existing = await readSetting(store.db, setting, sealing.read);
  if (existing !== undefined) return existing;
  const text = JSON.stringify(initial());
  await transact(store.db, async (trx) => {
    if (isSealedSetting(setting.key)) await lockSecretsForWrite(trx, store.dialect);
    await sealing.insertIfAbsent(trx, setting.key, text, new Date().toISOString());
  });
  const stored = await readSetting(store.db, setting, sealing.read);
  if (stored === undefined) throw new Error(`The setting "${setting.key}" could not be stored.`);
  return stored;
}

