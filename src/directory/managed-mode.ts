/**
 * The read-only rules of a managed instance (SCIM on): the identity provider owns users,
 * groups and memberships, so the admin API and the CLI may not create or reshape them; and
 * their converse, the identity provider writes only while SCIM is on. Both are checked inside
 * the write's transaction so that the switch and the write cannot interleave.
 */
import type { Transaction } from 'kysely';
import type { Executor } from '../store/executor.ts';
import type { Database } from '../store/index.ts';
import type { DialectAdapter } from '../store/dialect.ts';
import { createSettingQueries } from '../store/settings.ts';
import { DirectoryError, managedError } from '../errors.ts';
import { provisioningModeSetting, SCIM_NOT_ENABLED_MESSAGE } from './provisioning.ts';
import { readSetting, type Settings } from '../settings.ts';

const settingRows = createSettingQueries();

/**
 * Whether SCIM provisioning is on, read through `db`. Given the store's `dialect`, inside a
 * write's transaction: on PostgreSQL the switch's row then stays share-locked until the write
 * commits (as assertScimWritable's), so turning SCIM on or off (which locks that row to write it)
 * waits for local writes in progress, and one arriving meanwhile waits for the switch and sees
 * it. Read unlocked, a group created or a member added by the admin API committed after SCIM was
 * turned on, in a group the IdP had just taken over, which the IdP never sent and cannot remove
 * (migration 025 made sure there is a row to lock). SQLite runs one write transaction at a time.
 */
export async function isManagedInstance(db: Executor, dialect?: DialectAdapter): Promise<boolean> {
  const read = dialect?.supportsRowLocks === true ? settingRows.readShared : settingRows.read;
  return (await readSetting(db, provisioningModeSetting, read)) === 'scim';
}

/** Throws SonarQube's "externally managed" refusal while SCIM provisioning is on; `dialect` as for isManagedInstance. */
export async function assertNotManagedInstance(db: Executor, dialect?: DialectAdapter): Promise<void> {
  if (await isManagedInstance(db, dialect)) throw managedError();
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
