/**
 * Which stored values are secrets, and when they are sealed. The sealing itself is
 * secret-box.ts; settings.ts and webhooks.ts seal what they write with `sealForWrite`.
 *
 * The key check (the setting `secrets.keyCheck`, a constant sealed with the database's key)
 * says whether the database's secrets are sealed, and with which key. Until it exists, every
 * secret is written and kept in plaintext, even by an instance that has a key: instances
 * without the key may still be running (a rolling restart), and they could not read a sealed
 * value. Secrets are sealed (and the key check written) with ROSTER_SECRET_KEY only once no
 * other Roster process lacking that key uses the database: at the start of the last instance
 * given the key, or by `roster secrets seal`. The same holds for a rolling rotation, where
 * ROSTER_PREVIOUS_SECRET_KEY opens (and keeps sealing with) the key the database is sealed with.
 *
 * - Start with a key other than the one(s) that sealed them, or without a key while sealed
 *   values exist: start-up fails with a message that names the key ids, before anything serves.
 * - `roster secrets rotate-key` re-seals every value with a new key, in one transaction, once
 *   every instance is stopped.
 *
 * Locks (PostgreSQL; SQLite serialises writers, BEGIN IMMEDIATE). One order, so no deadlock:
 * first the migration lock (sealers only), then the sealing lock, then rows.
 * - A sealer (sealAll, rotateSecretKey) holds the migration lock (migrate.ts underMigrationLock)
 *   and the sealing lock exclusively, then looks for processes without the key, in its
 *   transaction. Every Roster process, this version or an older one, takes the migration lock
 *   at start once connected and reads the key check after it; this version also reads it under
 *   the sealing lock, shared (prepareSecrets). So a process starting as secrets are sealed either
 *   was connected when the sealer looked (which then seals nothing) or reads the sealed state,
 *   and then refuses to start without the key, rather than failing every secret it reads later.
 * - A transaction that writes a secret takes the sealing lock shared, as its first statement,
 *   before any row (lockSecretsForWrite); sealForWrite refuses to seal in one that did not. It
 *   then reads the key check only once no sealer is under way, and a sealer waits for it: the
 *   value is sealed with the key the database is sealed with when it commits. Transactions that
 *   lock a secret's row without writing one (provisioning.ts, the delivery worker) take no
 *   sealing lock, so they never wait for one while holding a row a sealer waits for.
 * Advisory locks, not the key check's row: before the first sealing that row does not exist,
 * and a lock on no row holds nothing. They are off the hot paths (start-up, sealing, writes of
 * secrets), as ARCHITECTURE.md asks. A secret written as a seal runs by an instance of an earlier
 * version (which takes no sealing lock), or on a PostgreSQL-compatible database whose advisory
 * locks do nothing, may still be left in plaintext or under the previous key: `secrets status`
 * reports it, and the next seal takes it in.
 */
import { sql, type Transaction } from 'kysely';
import type { SecretsReport, Store } from './types.ts';
export type { SecretsReport } from './types.ts';
import type { DialectAdapter } from './dialect.ts';
import type { Executor } from './executor.ts';
import { connectionKeyId, describeConnections, otherRosterConnections, underMigrationLock } from './migrate.ts';
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

/** The key check; `lockFor` a store on PostgreSQL locks its row until the end of the transaction (sealing or rotating: one at a time). */
async function readKeyCheck(db: Executor, lockFor?: Store): Promise<string | undefined> {
  let query = db.selectFrom('settings').select('value').where('key', '=', KEY_CHECK_SETTING);
  if (lockFor?.dialect.supportsRowLocks === true) query = query.forUpdate();
  const row = await query.executeTakeFirst();
  return row?.value;
}

/** The sealing lock's id: `rosterSK` as a 64-bit integer (Kysely's migration lock is another). */
const SEALING_LOCK = BigInt('8245936386494059339');

/** The transactions that took the sealing lock shared (lockSecretsForWrite). */
const lockedForWrite = new WeakSet<object>();

/**
 * Takes the sealing lock shared, until the end of `trx`: the first statement of a transaction
 * that writes a secret, before it locks or writes any row (see the top of this file). Writers
 * do not wait for each other; a sealer waits for them, and they for a sealer under way.
 */
export async function lockSecretsForWrite(trx: Transaction<Database>, dialect: DialectAdapter): Promise<void> {
  if (dialect.name === 'postgres') await sql`SELECT pg_advisory_xact_lock_shared(${sql.lit(SEALING_LOCK)})`.execute(trx);
  lockedForWrite.add(trx);
}

/** Takes the sealing lock exclusively, until the end of `trx` (a sealer, under the migration lock). */
async function lockSecretsForSealing(trx: Transaction<Database>, dialect: DialectAdapter): Promise<void> {
  if (dialect.name === 'postgres') await sql`SELECT pg_advisory_xact_lock(${sql.lit(SEALING_LOCK)})`.execute(trx);
}

/** Runs `work` in one transaction under the migration lock and the sealing lock, exclusively: one sealer at a time, none beside a writer of a secret. */
function sealing<T>(store: Store, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  return underMigrationLock(store, (db) =>
    db.transaction().execute(async (trx) => {
      await lockSecretsForSealing(trx, store.dialect);
      return work(trx);
    }),
  );
}

/**
 * `text` as it is to be written now: sealed with the key the database's secrets are sealed
 * with (the key check's), or plaintext while they are not sealed yet, so that every instance
 * running can read it (see the top of this file). `db` is the writer's transaction, which took
 * the sealing lock first (lockSecretsForWrite): no sealer is under way, and none starts before
 * it commits, so the key check read here is the one the value is committed under.
 */
export async function sealForWrite(db: Executor, box: SecretBox, text: string): Promise<string> {
  if (!lockedForWrite.has(db)) throw new Error('A secret is written in a transaction that did not take the sealing lock first (lockSecretsForWrite, store/secrets.ts).');
  const check = await readKeyCheck(db);
  if (check === undefined) return text;
  return box.seal(text, sealedKeyId(check) ?? '(unknown)');
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
  if (!box.holds(sealedWith)) {
    const previous = box.previousKeyId === undefined ? '' : ` (and ROSTER_PREVIOUS_SECRET_KEY key ${box.previousKeyId})`;
    throw new SecretsError(`${variable} is key ${box.keyId}${previous}, but the database's secrets are sealed with key ${sealedWith}: start with the key that sealed them (to change keys, use \`roster secrets rotate-key\`, or ROSTER_PREVIOUS_SECRET_KEY: docs/operations.md).`);
  }
  if (box.open(check) !== KEY_CHECK_TEXT) throw new SecretsError(`The database's key check does not match ${variable}.`);
}

/**
 * The refusal for values still sealed with `staleKeyId`, a key this box does not hold, while the
 * key check is on one it does: left over from a rolling rotation (a value written under the old
 * key as the secrets were re-sealed) once ROSTER_PREVIOUS_SECRET_KEY is dropped. Only that key
 * opens them, so it names the way out: both keys, then `roster secrets seal`.
 */
function staleKeyError(box: SecretBox, staleKeyId: string, count: number): SecretsError {
  const values = count === 1 ? '1 secret in the database is' : `${count} secrets in the database are`;
  return new SecretsError(
    `${values} still sealed with key ${staleKeyId}, an earlier key, although the others are sealed with ROSTER_SECRET_KEY (key ${box.keyId ?? ''}): ` +
      `set ROSTER_PREVIOUS_SECRET_KEY to key ${staleKeyId} and run \`roster secrets seal\` (or start an instance with both keys, which re-seals them), then drop ROSTER_PREVIOUS_SECRET_KEY (docs/operations.md).`,
  );
}

/** Throws staleKeyError when a sealed value of `rows` is under a key the box does not hold (the key check being on one it holds). */
function refuseStaleKeys(box: SecretBox, rows: readonly Row[]): void {
  const stale = new Map<string, number>();
  for (const row of rows) {
    const id = sealedKeyId(row.v);
    if (id !== undefined && !box.holds(id)) stale.set(id, (stale.get(id) ?? 0) + 1);
  }
  const [first] = stale;
  if (first !== undefined) throw staleKeyError(box, first[0], first[1]);
}

/**
 * The other Roster processes using the database that could not open a secret sealed with
 * `keyId`, as a person reads them (`1 from 10.0.0.7`), or undefined when there are none. On
 * PostgreSQL, by the key id in their connections' `application_name` (migrate.ts): no key,
 * another key, or a version that did not say. On SQLite nothing tells one process's key from
 * another's: any other process with the file open (`sqliteOpenElsewhere`) counts.
 */
export async function processesWithoutKey(store: Store, keyId: string, options: { readonly sqliteOpenElsewhere?: boolean } = {}, db: Executor = store.db): Promise<string | undefined> {
  if (store.dialect.name !== 'postgres') return options.sqliteOpenElsewhere === true ? 'another process has the SQLite database open' : undefined;
  const lacking = (await otherRosterConnections(store, db)).filter((row) => connectionKeyId(row.name) !== keyId);
  return lacking.length === 0 ? undefined : `connections: ${describeConnections(lacking)}`;
}

/** What sealing did: how many plaintext values it sealed, how many it re-sealed from the previous key, and with which key. */
export interface Sealing {
  readonly sealed: number;
  readonly resealed: number;
  /** The key the database was sealed with before (the previous key), or null: plaintext. */
  readonly fromKeyId: string | null;
  readonly keyId: string;
  /** Roster processes without the key use the database (processesWithoutKey): nothing was sealed, nothing changed. */
  readonly waitingFor?: string;
}

/** Whether sealAll first makes sure that no other Roster process lacks the key, and how (processesWithoutKey). */
export interface SealingCheck {
  readonly sqliteOpenElsewhere?: boolean;
}

/**
 * Seals every plaintext secret with the box's key, re-seals those of its previous key, and
 * stores the key check, in one transaction, under the sealing locks (see the top of this file).
 * With `check`, first looks, under those locks, for Roster processes without the key, and seals
 * nothing while one uses the database (`waitingFor` says which); not once the database is sealed
 * with this key, since every process using it then holds the key (none without it starts).
 * Without `check`, the caller has made sure of it. `within` runs last in the same transaction
 * (an audit entry), unless nothing was sealed for `waitingFor`.
 */
export async function sealAll(store: Store, within?: (trx: Transaction<Database>, sealing: Sealing) => Promise<void>, check?: SealingCheck): Promise<Sealing> {
  const box = store.secrets;
  const keyId = box.keyId;
  if (keyId === undefined) throw new SecretsError('ROSTER_SECRET_KEY is not set: there is no key to seal the secrets with.');
  return sealing(store, async (trx) => {
    // Locked as well: a sealer of an older version locks only this row.
    const keyCheck = await readKeyCheck(trx, store);
    if (keyCheck !== undefined) verifyKeyCheck(box, keyCheck, 'ROSTER_SECRET_KEY');
    const fromKeyId = keyCheck === undefined ? null : (sealedKeyId(keyCheck) ?? null);
    if (check !== undefined && fromKeyId !== keyId) {
      const waitingFor = await processesWithoutKey(store, keyId, check, trx);
      if (waitingFor !== undefined) return { sealed: 0, resealed: 0, fromKeyId, keyId, waitingFor };
    }
    let sealed = 0;
    let resealed = 0;
    const columns: [SealedColumn, Row[]][] = [];
    for (const column of SEALED_COLUMNS) columns.push([column, await rowsOf(trx, store, column)]);
    refuseStaleKeys(box, columns.flatMap(([, rows]) => rows));
    for (const [column, rows] of columns) {
      for (const row of rows) {
        if (!isSealed(row.v)) {
          await update(trx, column, row.k, box.seal(row.v));
          sealed += 1;
        } else if (sealedKeyId(row.v) !== keyId) {
          await update(trx, column, row.k, box.seal(box.open(row.v)));
          resealed += 1;
        } else {
          // Opening proves the key: an altered value fails here, not on first use.
          box.open(row.v);
        }
      }
    }
    if (fromKeyId !== keyId) await writeKeyCheck(trx, box.seal(KEY_CHECK_TEXT));
    const done = { sealed, resealed, fromKeyId, keyId };
    await within?.(trx, done);
    return done;
  });
}

/**
 * Checks the store's key against the database, throwing SecretsError when it is wrong, or
 * missing while sealed values exist; then, with a key, seals what is not sealed with it yet
 * when no other Roster process lacking the key uses the database (`sqliteOpenElsewhere`: another
 * process had the SQLite file open), and otherwise leaves every value as it is.
 */
export async function prepareSecrets(store: Store, options: SealingCheck = {}): Promise<SecretsReport> {
  const box = store.secrets;
  let waitingFor: string | undefined;
  if (box.keyId !== undefined) {
    const done = await sealAll(store, undefined, options);
    if (done.waitingFor === undefined) return { sealed: done.sealed, resealed: done.resealed };
    waitingFor = done.waitingFor;
  }
  // Nothing to seal (no key), or not yet: opening every sealed value proves the key(s). Under the
  // sealing lock, shared: a sealer under way has committed, or sees this process connected.
  await store.db.transaction().execute(async (trx) => {
    await lockSecretsForWrite(trx, store.dialect);
    const check = await readKeyCheck(trx);
    if (check !== undefined) verifyKeyCheck(box, check, 'ROSTER_SECRET_KEY');
    const rows: Row[] = [];
    for (const column of SEALED_COLUMNS) rows.push(...(await rowsOf(trx, store, column, false)));
    if (check !== undefined) refuseStaleKeys(box, rows);
    for (const row of rows) if (isSealed(row.v)) box.open(row.v);
  });
  return { sealed: 0, resealed: 0, ...(waitingFor !== undefined ? { waitingFor } : {}) };
}

/** What a key rotation did: how many values it re-sealed, and the ids of the old key (none: plaintext) and the new. */
export interface KeyRotation {
  readonly resealed: number;
  readonly fromKeyId: string | null;
  readonly keyId: string;
}

/**
 * Re-seals every secret (and the key check) with `newKey`, in one transaction under the sealing
 * locks (see the top of this file); the store's own key must open them. `before` runs first under
 * those locks (a check that no other instance runs, which throws to change nothing), `within`
 * last in the same transaction (the audit entry).
 */
export async function rotateSecretKey(
  store: Store,
  newKey: Buffer,
  within?: (trx: Transaction<Database>, rotation: KeyRotation) => Promise<void>,
  before?: (trx: Transaction<Database>) => Promise<void>,
): Promise<KeyRotation> {
  const next = createSecretBox(newKey);
  if (next.keyId === undefined) throw new Error('no new key');
  const keyId = next.keyId;
  return sealing(store, async (trx) => {
    await before?.(trx);
    const check = await readKeyCheck(trx, store);
    if (check !== undefined) verifyKeyCheck(store.secrets, check, 'ROSTER_SECRET_KEY');
    let resealed = 0;
    for (const column of SEALED_COLUMNS) {
      for (const row of await rowsOf(trx, store, column)) {
        await update(trx, column, row.k, next.seal(store.secrets.open(row.v)));
        resealed += 1;
      }
    }
    await writeKeyCheck(trx, next.seal(KEY_CHECK_TEXT));
    const rotation = { resealed, fromKeyId: check === undefined ? null : (sealedKeyId(check) ?? null), keyId };
    await within?.(trx, rotation);
    return rotation;
  });
}

/** How ROSTER_SECRET_KEY relates to the database's secrets. */
export type KeyMatch =
  /** No key configured and nothing sealed. */
  | 'none'
  /** A key configured, nothing sealed yet: the next start seals the plaintext with it (once no process without it uses the database). */
  | 'not-yet-used'
  /** The key that sealed the database's secrets. */
  | 'matches'
  /** ROSTER_PREVIOUS_SECRET_KEY sealed them (a rolling rotation): they are re-sealed with ROSTER_SECRET_KEY as with 'not-yet-used'. */
  | 'previous'
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
  /** Values sealed with another key than the key check's (left over from a rolling rotation), by key id. */
  readonly earlierKeys?: readonly { readonly keyId: string; readonly count: number }[];
  /** With `key` not-yet-used or previous: the Roster processes without the key that keep the secrets from being sealed with it (processesWithoutKey). */
  readonly waitingFor?: string;
}

/**
 * How the database's secrets are stored, read only: the key id of the key check, how many
 * values are sealed or plaintext, and whether the store's key is the one that sealed them.
 * Nothing is sealed or checked in the way of start-up (prepareSecrets does that).
 */
export async function secretsStatus(store: Store, options: { readonly sqliteOpenElsewhere?: boolean } = {}): Promise<SecretsStatus> {
  const status = await store.db.transaction().execute(async (trx): Promise<SecretsStatus> => {
    const check = await readKeyCheck(trx);
    const keyId = check === undefined ? undefined : sealedKeyId(check);
    let sealed = 0;
    let plaintext = 0;
    const rows: Row[] = [];
    const earlier = new Map<string, number>();
    for (const column of SEALED_COLUMNS) {
      for (const row of await rowsOf(trx, store, column, false)) {
        rows.push(row);
        const id = sealedKeyId(row.v);
        if (isSealed(row.v)) sealed += 1;
        else plaintext += 1;
        if (id !== undefined && keyId !== undefined && id !== keyId) earlier.set(id, (earlier.get(id) ?? 0) + 1);
      }
    }
    const counts = { keyId, sealed, plaintext, ...(earlier.size > 0 ? { earlierKeys: [...earlier].map(([id, count]) => ({ keyId: id, count })) } : {}) };
    if (check === undefined) return { ...counts, key: store.secrets.keyId === undefined ? 'none' : 'not-yet-used' };
    try {
      verifyKeyCheck(store.secrets, check, 'ROSTER_SECRET_KEY');
      // Values left under an earlier key (a rolling rotation's stragglers): start-up refuses without it.
      refuseStaleKeys(store.secrets, rows);
      return { ...counts, key: keyId === store.secrets.keyId ? 'matches' : 'previous' };
    } catch (error) {
      if (!(error instanceof SecretsError)) throw error;
      return { ...counts, key: store.secrets.keyId === undefined ? 'missing' : 'wrong', refusal: error.message };
    }
  });
  if ((status.key !== 'not-yet-used' && status.key !== 'previous') || store.secrets.keyId === undefined) return status;
  const waitingFor = await processesWithoutKey(store, store.secrets.keyId, options);
  return waitingFor === undefined ? status : { ...status, waitingFor };
}
