/**
 * The read-only rules of a managed instance (SCIM on): the identity provider owns users,
 * groups and memberships, so the admin API and the CLI may not create or reshape them.
 * Checked inside the write's transaction so that the switch and the write cannot interleave.
 */
import type { Executor } from '../store/executor.ts';
import { managedError } from '../errors.ts';
import { provisioningModeSetting } from './provisioning.ts';
import { readSetting } from '../settings.ts';

/** Whether SCIM provisioning is on, read through `db` (a transaction, usually). */
export async function isManagedInstance(db: Executor): Promise<boolean> {
  return (await readSetting(db, provisioningModeSetting)) === 'scim';
}

/** Throws SonarQube's "externally managed" refusal while SCIM provisioning is on. */
export async function assertNotManagedInstance(db: Executor): Promise<void> {
  if (await isManagedInstance(db)) throw managedError();
}
