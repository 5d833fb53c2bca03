/**
 * Which stored values are secrets, and the start-up check and key rotation over them. The
 * sealing itself is secret-box.ts; settings.ts seals the secret settings on every write.
 *
 * - Start with a key on a database of plaintext secrets: they are sealed, in one transaction,
 *   and a key-check value is stored (the setting `secrets.keyCheck`).
 * - Start with a key other than the one that sealed them, or without a key while sealed values
 *   exist: start-up fails with a message that names both key ids, before anything serves.
 * - `roster secrets rotate-key` re-seals every value with a new key, in one transaction.
 */
import { sql, type Transaction } from 'kysely';
import type { Store } from './types.ts';
import { createSecretBox, isSealed, SecretsError, sealedKeyId, type SecretBox } from './secret-box.ts';
import type { Database } from './tables.ts';

/** A text column holding secrets; `only` limits it to the rows whose key is listed. */
export interface SealedColumn {
  readonly table: string;
  /** The primary key column (one column). */
  readonly key: string;
  readonly column: string;
  readonly only?: readonly string[];
}

/** Settings whose whole value is a secret: the SAML configuration (the SP private key), the OpenID provider's signing and cookie keys, the SCIM cursor key. */
export const SEALED_SETTINGS: readonly string[] = ['saml', 'oidc.keys', 'scim.cursorKey'];

/**
 * Every place a secret is stored. A feature that stores a secret seals it with
 * `store.secrets.seal` and adds its column here (e.g. webhook signing secrets), so that
 * start-up seals old plaintext and rotation re-seals it.
 * OpenID client secrets and API tokens are not here: only their SHA-256 is stored.
 */
export const SEALED_COLUMNS: readonly SealedColumn[] = [
  { table: 'settings', key: 'key', column: 'value', only: SEALED_SETTINGS },
  // Webhook signing secrets (store/webhooks.ts): signing needs them, so they cannot be hashed.
  { table: 'webhooks', key: 'id', column: 'secret' },
  { table: 'webhooks', key: 'id', column: 'previous_secret' },
];

/** The setting holding a sealed constant, so a wrong key is caught even when no secret is stored yet. */
export const KEY_CHECK_SETTING = 'secrets.keyCheck';
const KEY_CHECK_TEXT = 'roster secret key check';

/** Whether settings.ts must seal this setting's value. */
export function isSealedSetting(key: string): boolean {
  return SEALED_SETTINGS.includes(key);
}

interface Row {
  readonly k: string;
  readonly v: string;
}

/** The rows of `column`, locked for the update that follows unless `forUpdate` is false (a report). */
async function rowsOf(trx: Transaction<Database>, store: Store, column: SealedColumn, forUpdate = true): Promise<Row[]> {
  const lock = forUpdate && store.dialect.supportsRowLocks ? sql` FOR UPDATE` : sql``;
  const only = column.only !== undefined ? sql` AND ${sql.ref(column.key)} IN (${sql.join(column.only)})` : sql``;
  const result = await sql<Row>`SELECT ${sql.ref(column.key)} AS k, ${sql.ref(column.column)} AS v FROM ${sql.table(column.table)} WHERE ${sql.ref(column.column)} IS NOT NULL${only}${lock}`.execute(trx);
  return result.rows;
}

async function update(trx: Transaction<Database>, column: SealedColumn, key: string, value: string): Promise<void> {
  await sql`UPDATE ${sql.table(column.table)} SET ${sql.ref(column.column)} = ${value} WHERE ${sql.ref(column.key)} = ${key}`.execute(trx);
}

async function readKeyCheck(trx: Transaction<Database>): Promise<string | undefined> {
  const row = await trx.selectFrom('settings').select('value').where('key', '=', KEY_CHECK_SETTING).executeTakeFirst();
  return row?.value;
}

async function writeKeyCheck(trx: Transaction<Database>, value: string): Promise<void> {
  const now = new Date().toISOString();
  await trx
    .insertInto('settings')
    .values({ key: KEY_CHECK_SETTING, value, updated_at: now })
    .onConflict((conflict) => conflict.column('key').doUpdateSet({ value, updated_at: now }))
    .execute();
}

/** Opens the key check with `box`, saying which key is wrong in terms an operator can act on. */
function verifyKeyCheck(box: SecretBox, check: string, variable: string): void {
  const sealedWith = sealedKeyId(check) ?? '(unknown)';
  if (box.keyId === undefined) {
    throw new SecretsError(`The database's secrets are sealed with key ${sealedWith}, but ${variable} is not set: start with the key that sealed them.`);
  }
  if (sealedWith !== box.keyId) {
    throw new SecretsError(`${variable} is key ${box.keyId}, but the database's secrets are sealed with key ${sealedWith}: start with the key that sealed them (to change keys, use \`roster secrets rotate-key\`).`);
  }
  if (box.open(check) !== KEY_CHECK_TEXT) throw new SecretsError(`The database's key check does not match ${variable}.`);
}

/** What start-up did about secrets at rest. */
export interface SecretsReport {
  /** Plaintext values sealed now (a key was configured since they were written). */
  readonly sealed: number;
}

/**
 * Checks the store's key against the database and seals plaintext secrets, in one
 * transaction; throws SecretsError when the key is wrong, or missing while sealed values exist.
 */
export async function prepareSecrets(store: Store): Promise<SecretsReport> {
  const box = store.secrets;
  return store.db.transaction().execute(async (trx) => {
    const check = await readKeyCheck(trx);
    if (check !== undefined) verifyKeyCheck(box, check, 'ROSTER_SECRET_KEY');
    let sealed = 0;
    for (const column of SEALED_COLUMNS) {
      for (const row of await rowsOf(trx, store, column)) {
        if (isSealed(row.v)) {
          // Opening proves the key: a value sealed by another key fails here, not on first use.
          box.open(row.v);
        } else if (box.keyId !== undefined) {
          await update(trx, column, row.k, box.seal(row.v));
          sealed += 1;
        }
      }
    }
    if (box.keyId !== undefined && check === undefined) await writeKeyCheck(trx, box.seal(KEY_CHECK_TEXT));
    return { sealed };
  });
}

/** What a key rotation did: how many values it re-sealed, and the ids of the old key (none: plaintext) and the new. */
export interface KeyRotation {
  readonly resealed: number;
  readonly fromKeyId: string | null;
  readonly keyId: string;
}

/**
 * Re-seals every secret (and the key check) with `newKey`, in one transaction; the store's own
 * key must open them. `within` runs last in the same transaction (the audit entry).
 */
export async function rotateSecretKey(store: Store, newKey: Buffer, within?: (trx: Transaction<Database>, rotation: KeyRotation) => Promise<void>): Promise<KeyRotation> {
  const next = createSecretBox(newKey);
  if (next.keyId === undefined) throw new Error('no new key');
  const keyId = next.keyId;
  return store.db.transaction().execute(async (trx) => {
    const check = await readKeyCheck(trx);
    if (check !== undefined) verifyKeyCheck(store.secrets, check, 'ROSTER_SECRET_KEY');
    let resealed = 0;
    for (const column of SEALED_COLUMNS) {
      for (const row of await rowsOf(trx, store, column)) {
        await update(trx, column, row.k, next.seal(store.secrets.open(row.v)));
        resealed += 1;
      }
    }
    await writeKeyCheck(trx, next.seal(KEY_CHECK_TEXT));
    const rotation = { resealed, fromKeyId: store.secrets.keyId ?? null, keyId };
    await within?.(trx, rotation);
    return rotation;
  });
}

/** How ROSTER_SECRET_KEY relates to the database's secrets. */
export type KeyMatch =
  /** No key configured and nothing sealed. */
  | 'none'
  /** A key configured, nothing sealed yet: the next start seals the plaintext with it. */
  | 'not-yet-used'
  /** The key that sealed the database's secrets. */
  | 'matches'
  /** Secrets are sealed but no key is configured: start-up refuses. */
  | 'missing'
  /** Another key than the one that sealed them: start-up refuses. */
  | 'wrong';

/** What `roster secrets status` reports. */
export interface SecretsStatus {
  /** The id of the key that sealed the database's secrets, undefined when none did. */
  readonly keyId: string | undefined;
  readonly sealed: number;
  readonly plaintext: number;
  /** The store's key (ROSTER_SECRET_KEY) against the database. */
  readonly key: KeyMatch;
  /** The message start-up would fail with, when `key` is missing or wrong. */
  readonly refusal?: string;
}

/**
 * How the database's secrets are stored, read only: the key id of the key check, how many
 * values are sealed or plaintext, and whether the store's key is the one that sealed them.
 * Nothing is sealed or checked in the way of start-up (prepareSecrets does that).
 */
export async function secretsStatus(store: Store): Promise<SecretsStatus> {
  return store.db.transaction().execute(async (trx) => {
    const check = await readKeyCheck(trx);
    let sealed = 0;
    let plaintext = 0;
    for (const column of SEALED_COLUMNS) {
      for (const row of await rowsOf(trx, store, column, false)) {
        if (isSealed(row.v)) sealed += 1;
        else plaintext += 1;
      }
    }
    const keyId = check === undefined ? undefined : sealedKeyId(check);
    const counts = { keyId, sealed, plaintext };
    if (check === undefined) return { ...counts, key: store.secrets.keyId === undefined ? 'none' : 'not-yet-used' };
    try {
      verifyKeyCheck(store.secrets, check, 'ROSTER_SECRET_KEY');
      return { ...counts, key: 'matches' };
    } catch (error) {
      if (!(error instanceof SecretsError)) throw error;
      return { ...counts, key: store.secrets.keyId === undefined ? 'missing' : 'wrong', refusal: error.message };
    }
  });
}
