/**
 * The installation's identity: a random id made once and kept in the settings table, so that
 * every instance, every backup and every copy of one installation's database carries the same
 * one. A restore outside Roster (`pg_restore`) checks with it that the feed end it is told to go
 * on after (`roster db feed-end`) was read from the same installation's database.
 */
import { randomBytes } from 'node:crypto';
import type { Store } from '../store/index.ts';
import { defineSetting, readOrInitialise, readSetting } from '../settings.ts';

/** 64 random bits, 16 lower-case hex digits. Not a secret: printed in `feed-end` lines. */
const installationSetting = defineSetting<string>({
  key: 'installation.id',
  parse: (raw) => (typeof raw === 'string' && INSTALLATION_ID.test(raw) ? raw : undefined),
});

/** What an installation id looks like. */
export const INSTALLATION_ID = /^[0-9a-f]{16}$/;

/** The installation's id, made on first use (insert-if-absent: instances starting together agree). */
export async function installationId(store: Store): Promise<string> {
  return readOrInitialise(store, installationSetting, () => randomBytes(8).toString('hex'));
}

/** The installation's id if it has one: a database made by a version before ids, or not yet started, has none. */
export async function storedInstallationId(store: Store): Promise<string | undefined> {
  return readSetting(store.db, installationSetting);
}

/** Gives a database that has no id yet the id of the installation it belongs to (a restored old dump). */
export async function adoptInstallationId(store: Store, id: string): Promise<void> {
  await readOrInitialise(store, installationSetting, () => id);
}
