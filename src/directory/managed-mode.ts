/**
 * The read-only rules of a managed instance (SCIM on): the identity provider owns users,
 * groups and memberships, so the admin API and the CLI may not create or reshape them; and
 * their converse, the identity provider writes only while SCIM is on. Both are checked inside
 * the write's transaction so that the switch and the write cannot interleave.
 */
import type { Transaction } from 'kysely';
import type { Executor } from '../store/executor.ts';
import type { Database } from '../store/index.ts';
import { DirectoryError, managedError } from '../errors.ts';
import { provisioningModeSetting, SCIM_NOT_ENABLED_MESSAGE } from './provisioning.ts';
import { readSetting, type Settings } from '../settings.ts';

/** Whether SCIM provisioning is on, read through `db` (a transaction, usually). */
export async function isManagedInstance(db: Executor): Promise<boolean> {
  return (await readSetting(db, provisioningModeSetting)) === 'scim';
}

/** Throws SonarQube's "externally managed" refusal while SCIM provisioning is on. */
export async function assertNotManagedInstance(db: Executor): Promise<void> {
  if (await isManagedInstance(db)) throw managedError();
}

/**
 * Refuses a SCIM write (403, the answer of the SCIM endpoint while SCIM is off) unless SCIM
 * provisioning is on, read inside the write's transaction. The request checked the switch when
 * it arrived, but turning SCIM off may commit between that check and the write: the write would
 * then link a user or group after the switch unlinked them all. On PostgreSQL the switch's row
 * stays share-locked until the write commits, so turning SCIM off (which writes that row before
 * unlinking) waits for writes in progress, and a write arriving meanwhile waits for the switch
 * and then sees it off; SCIM writes do not wait for each other. SQLite runs one write
 * transaction at a time.
 */
export async function assertScimWritable(trx: Transaction<Database>, settings: Settings): Promise<void> {
  if ((await settings.readShared(trx, provisioningModeSetting)) !== 'scim') throw new DirectoryError('forbidden', SCIM_NOT_ENABLED_MESSAGE);
}
