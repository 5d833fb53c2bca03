/**
 * `roster secrets rotate-key` and `roster secrets seal` in the domain: re-sealing every secret with a new key
 * (store/secrets.ts) once no other Roster process uses the database, audited in the same
 * transaction. An instance left running would hold the old key and fail on every re-sealed
 * secret (OpenID Connect, SAML sign-in, webhook signatures) until restarted, so the rotation
 * waits for every instance to be stopped rather than breaking them.
 */
import type { Actor } from '../journal/actor.ts';
import { createJournal } from '../journal/journal.ts';
import type { Store } from '../store/index.ts';
import { KEY_CHECK_SETTING, rotateSecretKey as resealAll, sealAll, type KeyRotation, type Sealing } from '../store/secrets.ts';
import { DirectoryError } from '../errors.ts';
import { refuseWhileRosterRuns } from './running-instances.ts';

/**
 * Re-seals every secret with `newKey`, refused while another Roster process uses the database
 * (`sqliteOpenElsewhere`: whether one had the SQLite file open when the caller opened it), and
 * records `secrets.key_rotated` (key ids only, never keys) in the same transaction.
 */
export async function rotateSecretKey(store: Store, newKey: Buffer, actor: Actor, options: { readonly sqliteOpenElsewhere?: boolean } = {}): Promise<KeyRotation> {
  const journal = createJournal(store.dialect);
  return resealAll(
    store,
    newKey,
    (trx, rotation) =>
      journal.record(trx, actor, { action: 'secrets.key_rotated', targetType: 'setting', targetId: KEY_CHECK_SETTING, details: { from: rotation.fromKeyId, to: rotation.keyId, resealed: rotation.resealed } }),
    // Under the sealing locks: an instance starting meanwhile is seen here, or waits and then finds the new key.
    (trx) => refuseWhileRosterRuns(store, 'the secrets are re-sealed: an instance still running holds the old key and would fail on every re-sealed secret until restarted', { ...options, db: trx }),
  );
}

/**
 * Seals every secret with the store's key (ROSTER_SECRET_KEY), plaintext ones and those of
 * ROSTER_PREVIOUS_SECRET_KEY alike, once every other Roster process using the database holds that
 * key: refused (nothing changed) while one without it does, since it could not read them sealed.
 * Records `secrets.sealed` (key ids and counts) in the same transaction when anything changed.
 */
export async function sealSecrets(store: Store, actor: Actor, options: { readonly sqliteOpenElsewhere?: boolean } = {}): Promise<Sealing> {
  const keyId = store.secrets.keyId;
  if (keyId === undefined) throw new DirectoryError('invalid', 'ROSTER_SECRET_KEY is not set: set it to the key every instance has, then run this again.');
  const journal = createJournal(store.dialect);
  // The check runs under the sealing locks, in the sealing's transaction (store/secrets.ts).
  const result = await sealAll(
    store,
    async (trx, sealing) => {
      if (sealing.sealed === 0 && sealing.resealed === 0 && sealing.fromKeyId === sealing.keyId) return;
      await journal.record(trx, actor, { action: 'secrets.sealed', targetType: 'setting', targetId: KEY_CHECK_SETTING, details: { from: sealing.fromKeyId, to: sealing.keyId, sealed: sealing.sealed, resealed: sealing.resealed } });
    },
    options,
  );
  if (result.waitingFor !== undefined) {
    const which = store.dialect.name === 'postgres' ? `Roster processes without key ${keyId} use this database (${result.waitingFor}; those of versions before this command count too)` : 'Another process (a Roster instance or command) has this SQLite database open, and nothing tells whether it has the key';
    throw new DirectoryError(
      'precondition',
      `${which}: they could not read the secrets once sealed, and would answer with errors. Restart every instance with ROSTER_SECRET_KEY set to key ${keyId} (and let running commands end), then run this again. Nothing was changed.`,
    );
  }
  return result;
}
