/**
 * `roster secrets rotate-key` in the domain: re-sealing every secret with a new key
 * (store/secrets.ts) once no other Roster process uses the database, audited in the same
 * transaction. An instance left running would hold the old key and fail on every re-sealed
 * secret (OpenID Connect, SAML sign-in, webhook signatures) until restarted, so the rotation
 * waits for every instance to be stopped rather than breaking them.
 */
import type { Actor } from '../journal/actor.ts';
import { createJournal } from '../journal/journal.ts';
import type { Store } from '../store/index.ts';
import { KEY_CHECK_SETTING, rotateSecretKey as resealAll, type KeyRotation } from '../store/secrets.ts';
import { refuseWhileRosterRuns } from './running-instances.ts';

/**
 * Re-seals every secret with `newKey`, refused while another Roster process uses the database
 * (`sqliteOpenElsewhere`: whether one had the SQLite file open when the caller opened it), and
 * records `secrets.key_rotated` (key ids only, never keys) in the same transaction.
 */
export async function rotateSecretKey(store: Store, newKey: Buffer, actor: Actor, options: { readonly sqliteOpenElsewhere?: boolean } = {}): Promise<KeyRotation> {
  await refuseWhileRosterRuns(store, 'the secrets are re-sealed: an instance still running holds the old key and would fail on every re-sealed secret until restarted', options);
  const journal = createJournal(store.dialect);
  return resealAll(store, newKey, (trx, rotation) =>
    journal.record(trx, actor, { action: 'secrets.key_rotated', targetType: 'setting', targetId: KEY_CHECK_SETTING, details: { from: rotation.fromKeyId, to: rotation.keyId, resealed: rotation.resealed } }),
  );
}
