/**
 * The provisioning mode: just-in-time (users appear at their first SAML sign-in, the
 * default) or SCIM (the IdP manages users and groups). The mode is a setting in the
 * database, never process memory, because several instances share one database.
 */
import type { Store } from '../store/index.ts';
import { createGroupQueries } from '../store/groups.ts';
import { createUserQueries } from '../store/users.ts';
import { samlSetting } from '../auth/saml-config.ts';
import type { Actor } from '../journal/actor.ts';
import { createJournal } from '../journal/journal.ts';
import { DirectoryError } from '../errors.ts';
import { defineSetting, type Settings } from '../settings.ts';

export type ProvisioningMode = 'jit' | 'scim';

/** The `provisioning.mode` setting; unset means `jit`. */
export const provisioningModeSetting = defineSetting<ProvisioningMode>({
  key: 'provisioning.mode',
  parse: (raw) => (raw === 'jit' || raw === 'scim' ? raw : undefined),
  audit: (mode) => mode,
});

/** The answer to a SCIM request while SCIM provisioning is off (403), whether the request or its write finds it off. */
export const SCIM_NOT_ENABLED_MESSAGE =
  'SCIM provisioning is not enabled on this Roster instance. An administrator configures SAML first, then turns it on in the console (Authentication › Provisioning: SCIM), with `npm run roster -- scim enable` or with POST /api/scim_management/enable.';

/** Shown when SCIM is asked for before SAML: SCIM users sign in through SAML, so it must come first. */
export const SAML_REQUIRED_MESSAGE =
  'SCIM provisioning requires SAML to be configured first: PUT /api/v2/authentication/saml (admin API), Authentication › Configure SAML (console), or `npm run roster -- saml configure …` (CLI).';

/** What switching back to just-in-time does, which is why it needs an explicit confirmation. */
export const DISABLE_CONSEQUENCES =
  'Disabling SCIM provisioning removes every SCIM link: all users and groups become local and the identity provider can no longer update them. This cannot be undone.';

/** The admin API's refusal of a switch to just-in-time sent without its confirmation flag. */
export const DISABLE_CONFIRMATION_MESSAGE = `${DISABLE_CONSEQUENCES} Confirm with {"confirm": true} in the body (or ?confirm=true).`;

/** The CLI's refusal of `scim disable` without `--yes`: the same consequences, its own way to confirm. */
export const CLI_DISABLE_CONFIRMATION_MESSAGE = `${DISABLE_CONSEQUENCES} Confirm with --yes: roster scim disable --yes.`;

/** Shown when SAML removal is asked for while SCIM users depend on it to sign in. */
export const SCIM_NEEDS_SAML_MESSAGE =
  'SAML cannot be disabled while SCIM provisioning is on: provisioned users sign in through SAML. Disable SCIM provisioning first.';

export interface Provisioning {
  /** The switch as the admin API reports it (`GET /api/scim_management/status`). */
  status(): Promise<{ enabled: boolean }>;
  /** Turns SCIM provisioning on; refused unless SAML is configured. Idempotent. */
  enable(actor: Actor): Promise<void>;
  /**
   * Turns SCIM provisioning off (back to just-in-time) and removes every SCIM link, in one
   * transaction; the caller has obtained the confirmation. Idempotent.
   */
  disable(actor: Actor): Promise<void>;
  /** Throws unless SAML may be disabled now (it may not while SCIM is on). */
  assertSamlMayBeDisabled(): Promise<void>;
  /**
   * Removes the SAML configuration (nobody signs in through SAML any more); refused while SCIM
   * is on, checked in the same transaction as the removal. False when SAML was not configured.
   */
  removeSaml(actor: Actor): Promise<boolean>;
  /** Whether SCIM requests and read-only rules apply right now. */
  isScimEnabled(): Promise<boolean>;
}

/** Creates the provisioning-mode service. */
export function createProvisioning(store: Store, settings: Settings): Provisioning {
  const users = createUserQueries(store.dialect);
  const groups = createGroupQueries(store.dialect);
  const journal = createJournal(store.dialect);

  async function isScimEnabled(): Promise<boolean> {
    return (await settings.get(provisioningModeSetting)) === 'scim';
  }

  /** Writes the mode and its event in one transaction; a no-op when the mode is already `mode`. */
  async function switchTo(mode: ProvisioningMode, actor: Actor): Promise<void> {
    await store.db.transaction().execute(async (trx) => {
      // Checked inside the transaction so the prerequisite and the switch are one decision; the
      // SAML row stays locked until commit, so that removeSaml cannot delete it in between.
      if (mode === 'scim' && (await settings.readLocked(trx, samlSetting)) === undefined) {
        throw new DirectoryError('precondition', SAML_REQUIRED_MESSAGE);
      }
      // Locked (PostgreSQL): two instances switching at once take turns, and the second sees the
      // first's mode, so one switch records one event, not one per caller.
      const current = (await settings.readLocked(trx, provisioningModeSetting)) ?? 'jit';
      if (current === mode) return;
      await settings.write(trx, provisioningModeSetting, mode);
      // Back to just-in-time: every user and group becomes local again; nothing else is lost.
      const unlinked = mode === 'jit' ? { users: await users.unlinkAll(trx), groups: await groups.unlinkAll(trx) } : undefined;
      const action = mode === 'scim' ? 'provisioning.enabled' : 'provisioning.disabled';
      await journal.record(trx, actor, {
        action,
        targetType: 'setting',
        targetId: provisioningModeSetting.key,
        details: { from: current, to: mode, ...(unlinked ? { unlinkedUsers: unlinked.users, unlinkedGroups: unlinked.groups } : {}) },
        // Disabling makes every user and group local (managed: false) at once; this one event
        // says so for all of them (docs/events.md).
        events: [{ type: action, data: { enabled: mode === 'scim' } }],
      });
    });
  }

  return {
    async status() {
      return { enabled: await isScimEnabled() };
    },
    enable: (actor) => switchTo('scim', actor),
    disable: (actor) => switchTo('jit', actor),
    isScimEnabled,
    async assertSamlMayBeDisabled() {
      if (await isScimEnabled()) throw new DirectoryError('precondition', SCIM_NEEDS_SAML_MESSAGE);
    },
    async removeSaml(actor) {
      return store.db.transaction().execute(async (trx) => {
        // Deleted first, then the mode checked (the throw rolls the delete back): the delete waits
        // for an enable holding the SAML row (switchTo), and the check then sees its commit.
        const removed = await settings.remove(trx, samlSetting);
        if ((await settings.read(trx, provisioningModeSetting)) === 'scim') throw new DirectoryError('precondition', SCIM_NEEDS_SAML_MESSAGE);
        if (!removed) return false;
        await journal.record(trx, actor, { action: 'setting.removed', targetType: 'setting', targetId: samlSetting.key, details: { key: samlSetting.key } });
        return true;
      });
    },
  };
}
