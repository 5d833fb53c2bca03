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

/**
 * Whether SCIM provisioning is on, read without a lock: for what a page shows or a filter
 * accepts, never to allow a write (lockProvisioningMode is for that).
 */
export async function isManagedInstance(db: Executor): Promise<boolean> {
  return (await readSetting(db, provisioningModeSetting)) === 'scim';
}

/**
 * Reads the provisioning switch inside a write's transaction and keeps its row share-locked
 * until commit (PostgreSQL; `settings.readShared`); true when SCIM is on. Turning SCIM on or off
 * locks that row to write it, so the switch waits for local writes in progress, and a write
 * arriving meanwhile waits for the switch and sees it. Read unlocked, a group created or a
 * member added by the admin API committed after SCIM was turned on, in a group the IdP had just
 * taken over, which the IdP never sent and cannot remove (migration 025 made sure there is a row
 * to lock). SQLite runs one write transaction at a time.
 */
export async function lockProvisioningMode(trx: Transaction<Database>, settings: Settings): Promise<boolean> {
  return (await settings.readShared(trx, provisioningModeSetting)) === 'scim';
}

/** Throws SonarQube's "externally managed" refusal while SCIM provisioning is on, holding the switch as lockProvisioningMode. */
export async function assertNotManagedInstance(trx: Transaction<Database>, settings: Settings): Promise<void> {
  if (await lockProvisioningMode(trx, settings)) throw managedError();
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
  if (!(await lockProvisioningMode(trx, settings))) throw new DirectoryError('forbidden', SCIM_NOT_ENABLED_MESSAGE);
}
