/**
 * Who gets in after a valid SAML assertion. In SCIM mode the IdP's provisioning decides who
 * exists: only an active, SCIM-provisioned user whose login equals the login attribute
 * (regardless of case) signs in, and nobody is created. In just-in-time mode the first
 * sign-in creates the user, later ones refresh name, email and (with `groupAttribute`) group
 * memberships. Every attempt is remembered per login so an administrator can ask why a user
 * cannot sign in.
 */
import type { SamlConfig } from '../auth/saml-config.ts';
import { DEACTIVATED_WHILE_SIGNING_IN, type SessionOrigin, type Sessions } from '../auth/sessions.ts';
import { describeCertificate } from '../auth/saml-certificates.ts';
import type { Store } from '../store/index.ts';
import type { Executor } from '../store/executor.ts';
import { inBatches, transact } from '../store/transact.ts';
import { createGroupQueries, type StoredGroup } from '../store/groups.ts';
import { createMembershipQueries } from '../store/memberships.ts';
import { createSignInQueries, type SignInAttempt } from '../store/sign-in.ts';
import { createUserQueries, type StoredUser } from '../store/users.ts';
import { createUserWriteQueries } from '../store/user-writes.ts';
import { newId } from '../ids.ts';
import { foldDocument } from '../scim/keys.ts';
import { caseKey, readableTime, revealHidden, shorten } from '../text.ts';
import type { Actor } from '../journal/actor.ts';
import { createJournal } from '../journal/journal.ts';
import { createMemberDisplay } from './member-display.ts';
import { membershipId } from './memberships.ts';
import type { Provisioning } from './provisioning.ts';
import { isManagedInstance, lockProvisioningMode } from './managed-mode.ts';
import { createSettings } from '../settings.ts';
import { createAccess, type Access } from './access.ts';
import { groupEvent, userEvent } from './shapes.ts';
import { loginProblem } from './login-rules.ts';
import { groupLookAlikeProblem, groupNameCharacterProblem, hasSurroundingSpace } from './name-rules.ts';
import { ACCOUNT_LIMITS } from './accounts.ts';
import { GROUP_LIMITS } from './group-management.ts';

/** Shown to anyone SCIM mode does not let in (SonarQube's wording, with our name). */
export const NO_ACCOUNT_MESSAGE = 'You have no account on Roster. Please make sure with your administrator that your account is provisioned.';
const DEACTIVATED_MESSAGE = 'Your Roster account is deactivated. Please contact your administrator.';
const NO_LOGIN_MESSAGE = 'The identity provider did not send the attribute Roster uses as login. Please contact your administrator.';
/** Shown when the login belongs to a local (password) account, which SAML must not take over. */
const LOCAL_ACCOUNT_MESSAGE = 'This login belongs to a local Roster account, which signs in with its password, not through the identity provider. Please contact your administrator.';
const TRANSIENT_MESSAGE =
  'The identity provider sends a transient NameID, which changes at every sign-in, and Roster uses the NameID as the login. Configure the identity provider to send a persistent or email NameID, or configure a login attribute in Roster. Please contact your administrator.';
const TRANSIENT_NAME_ID = 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient';
const DAY_MS = 24 * 60 * 60 * 1000;
/** How much of a login or group name a refusal page or an audit entry quotes. */
const QUOTED_LOGIN = 100;
/** How much of what an IdP sent an audit entry keeps. */
const LOGGED_TEXT = 300;

/** A display name from an assertion, cut to the admin API's limit (the IdP may send any length). */
function fitName(name: string): string {
  if (name.length <= ACCOUNT_LIMITS.name) return name;
  let keep = ACCOUNT_LIMITS.name;
  const last = name.charCodeAt(keep - 1);
  if (last >= 0xd800 && last <= 0xdbff) keep -= 1;
  return name.slice(0, keep);
}

/** A user as the sign-in pages, the sign-in check and /api/users/current show it. */
export interface UserProfile {
  readonly id: string;
  readonly login: string;
  readonly name: string | null;
  readonly email: string | null;
  readonly active: boolean;
  readonly local: boolean;
  readonly managed: boolean;
  readonly lastConnectionAt: string | null;
}

function profileOf(user: StoredUser): UserProfile {
  return {
    id: user.id,
    login: user.login,
    name: user.displayName,
    email: user.email,
    active: user.active,
    local: user.local,
    managed: user.scimId !== null,
    lastConnectionAt: user.lastConnectionAt,
  };
}

/** What an assertion says about the person, read through the configured attribute names. */
export interface SignInIdentity {
  /** The login attribute's value (or the NameID when no login attribute is configured). */
  readonly login: string | null;
  readonly name: string | null;
  readonly email: string | null;
  /** Group names when `groupAttribute` is configured, else null (groups left alone). */
  readonly groups: readonly string[] | null;
  readonly nameId: string | null;
  /** True when the login is a transient NameID, which names nobody from one sign-in to the next. */
  readonly transientLogin?: boolean;
}

export type SignInRefusal = 'no_login' | 'not_provisioned' | 'deactivated' | 'local_account' | 'invalid_login' | 'transient_name_id';

export type SignInDecision =
  | { readonly ok: true; readonly user: StoredUser | undefined; readonly create: boolean }
  | { readonly ok: false; readonly reason: SignInRefusal; readonly message: string; readonly user: StoredUser | undefined };

export type SignInResult =
  | {
      readonly ok: true;
      readonly user: StoredUser;
      readonly created: boolean;
      /** The session opened, in the transaction of the decision: the cookie value to send, shown once. */
      readonly session: { readonly value: string; readonly expiresAt: Date };
    }
  | { readonly ok: false; readonly reason: SignInRefusal; readonly message: string };

/** One reason why a user cannot sign in now, in plain words. */
export interface SignInProblem {
  readonly code: 'saml_not_configured' | 'certificate_expired' | 'not_provisioned' | 'deactivated' | 'login_mismatch' | 'local_account' | 'login_white_space';
  readonly message: string;
}

/** The answer of the sign-in check for one user. */
export interface SignInCheck {
  readonly userId: string;
  readonly login: string;
  readonly canSignIn: boolean;
  readonly problems: readonly SignInProblem[];
  readonly warnings: readonly string[];
  readonly lastAttempt: SignInAttempt | null;
  readonly lastConnectionDate: string | null;
}

/** Reads the person out of an assertion's NameID and attributes. */
export function identityOf(
  config: SamlConfig,
  assertion: { nameId: string | null; nameIdFormat?: string | null; attributes: Readonly<Record<string, readonly string[]>> },
): SignInIdentity {
  const first = (name: string | null): string | null => {
    if (name === null) return null;
    const value = assertion.attributes[name]?.find((item) => item.trim() !== '');
    return value === undefined ? null : value.trim();
  };
  const login = config.userLoginAttribute === null ? assertion.nameId?.trim() || null : first(config.userLoginAttribute);
  const groups =
    config.groupAttribute === null
      ? null
      : [...new Set((assertion.attributes[config.groupAttribute] ?? []).map((name) => name.trim()).filter((name) => name !== ''))];
  const transientLogin = config.userLoginAttribute === null && assertion.nameIdFormat === TRANSIENT_NAME_ID;
  return { login, name: first(config.userNameAttribute), email: first(config.userEmailAttribute), groups, nameId: assertion.nameId, transientLogin };
}

/** Sign-in attempts deleted per statement by purgeAttempts. */
const ATTEMPT_PURGE_BATCH = 1000;

/** Creates the sign-in service. */
/** Thrown inside the sign-in's transaction to roll it back: the user was deactivated meanwhile. */
class DeactivatedWhileSigningIn extends Error {}

/**
 * Creates the sign-in service; `sessions` opens the session of an accepted sign-in in the same
 * transaction as its decision.
 */
export function createSignIn(store: Store, provisioning: Provisioning, samlConfig: () => Promise<SamlConfig | undefined>, sessions: Pick<Sessions, 'openWithin'>, access: Access = createAccess(store)) {
  const users = createUserQueries(store.dialect);
  const userWrites = createUserWriteQueries(store.dialect);
  const groups = createGroupQueries(store.dialect);
  const memberships = createMembershipQueries(store.dialect);
  const queries = createSignInQueries();
  const journal = createJournal(store.dialect);
  const memberDisplay = createMemberDisplay(store.dialect);
  const settings = createSettings(store);

  /** A user by internal id or, failing that, by SCIM id (the sign-in check accepts both). */
  async function findProfile(db: Executor, id: string): Promise<UserProfile | undefined> {
    const user = (await users.findById(db, id)) ?? (await users.findByScimId(db, id));
    return user === undefined ? undefined : profileOf(user);
  }

  /** The decision alone, without writing anything (also what /saml/validation shows). */
  async function decide(db: Executor, identity: SignInIdentity): Promise<SignInDecision> {
    if (identity.login === null) return { ok: false, reason: 'no_login', message: NO_LOGIN_MESSAGE, user: undefined };
    // A new random value at every sign-in: just-in-time mode would create a user each time, and
    // SCIM mode would never find the provisioned one.
    if (identity.transientLogin === true) return { ok: false, reason: 'transient_name_id', message: TRANSIENT_MESSAGE, user: undefined };
    const user = await users.findByLogin(db, identity.login);
    if (await isManagedInstance(db)) {
      // A deactivated user is told the same as a stranger: SCIM mode does not reveal which accounts exist.
      if (user === undefined || user.scimId === null) return { ok: false, reason: 'not_provisioned', message: NO_ACCOUNT_MESSAGE, user };
      if (!user.active) return { ok: false, reason: 'deactivated', message: NO_ACCOUNT_MESSAGE, user };
      return { ok: true, user, create: false };
    }
    // An administrator's deactivation sticks in just-in-time mode too: the IdP vouches for who
    // the person is, not for whether Roster still wants them.
    if (user !== undefined && !user.active) return { ok: false, reason: 'deactivated', message: DEACTIVATED_MESSAGE, user };
    // Without SCIM nobody vouched that this IdP identity is that local account (e.g. `admin`):
    // whoever the IdP names "admin" would otherwise become Roster's administrator.
    if (user !== undefined && user.local) return { ok: false, reason: 'local_account', message: LOCAL_ACCOUNT_MESSAGE, user };
    // A new user gets a login by the admin API's rules: the IdP is not a way around them.
    const problem = user === undefined ? loginProblem(identity.login) : undefined;
    if (problem !== undefined) {
      const shown = shorten(identity.login, QUOTED_LOGIN);
      return { ok: false, reason: 'invalid_login', message: `The identity provider sent the login "${shown}", which Roster cannot use as a login (${problem}). Please contact your administrator.`, user };
    }
    return { ok: true, user, create: user === undefined };
  }

  async function remember(db: Executor, identity: SignInIdentity, outcome: 'accepted' | 'refused', reason: string | null, at: string): Promise<void> {
    if (identity.login === null) return;
    await queries.recordAttempt(db, { login: identity.login, nameId: identity.nameId, email: identity.email, at, outcome, reason });
  }

  /**
   * The group of that name, its row locked until the commit (PostgreSQL) and read again under the
   * lock: renamed or deleted meanwhile, it is looked for again by name (undefined: none has it now).
   */
  async function lockedByName(db: Executor, name: string): Promise<StoredGroup | undefined> {
    const found = await groups.findByName(db, name);
    if (found === undefined) return undefined;
    const locked = await groups.findById(db, found.id, 'write');
    return locked !== undefined && caseKey(locked.name) === caseKey(name) ? locked : groups.findByName(db, name);
  }

  /** Makes the user's groups those named in the assertion (just-in-time mode with groupAttribute), auditing each change. */
  async function syncGroups(db: Executor, actor: Actor, userId: string, login: string, names: readonly string[], now: string): Promise<{ added: string[]; removed: string[]; skipped: string[] }> {
    // The user's groups locked (PostgreSQL), in id order, before their names are read: a rename
    // committed meanwhile is waited for and seen, so that the events name each group as it is
    // when this commits. The groups joined are locked one by one below.
    await groups.lockGroupsOf(db, userId, 'write');
    const current = await queries.groupsOf(db, userId);
    // A group name over the admin API's limit is not synced (no such group can exist): the
    // audit entry names it, shortened, so that an administrator sees why the user is not in it.
    const skipped = names.filter((name) => name.length > GROUP_LIMITS.name).map((name) => `${shorten(revealHidden(name), QUOTED_LOGIN)}: longer than ${GROUP_LIMITS.name} characters, not synced`);
    const usable = names.filter((name) => name.length <= GROUP_LIMITS.name);
    // Group names match regardless of case as the groups_name_key index does (text.ts caseKey).
    const wanted = new Map(usable.map((name) => [caseKey(name), name]));
    const leaving = current.filter((group) => !wanted.has(caseKey(group.name)));
    const removed: typeof leaving = [];
    const kept: string[] = [];
    // One event per group and membership change, as the admin API records them: consumers of
    // the trail must not have to unpack saml.signed_in to see who joined what.
    for (const group of leaving) {
      const remove = async (): Promise<void> => {
        await memberships.remove(db, group.id, [userId], journal.stamp(actor, now));
        await groups.touch(db, group.id, now);
        await journal.record(db, actor, { action: 'membership.removed', targetType: 'membership', targetId: membershipId(group.id, userId), details: { groupId: group.id, userId, group: group.name, login, by: 'saml' } }, now);
      };
      if (!access.isAdminGroup(group.name)) {
        await remove();
      } else if (await access.isLastAdministrator(db, userId)) {
        // The rule of every other way in: someone must be left to administer Roster. The
        // sign-in goes on (refusing it would lock that administrator out too); the audit entry
        // says why the membership stayed.
        kept.push(`${group.name}: kept, ${shorten(login, QUOTED_LOGIN)} is the last administrator (add another one first)`);
        continue;
      } else {
        // Two last administrators leaving at once: the second sign-in is refused, and kept at its retry.
        await access.keepingAnAdministrator(db, remove, 'group');
      }
      removed.push(group);
    }
    const have = new Set(current.map((group) => caseKey(group.name)));
    const added: string[] = [];
    for (const [key, name] of wanted) {
      if (have.has(key)) continue;
      let group = await lockedByName(db, name);
      if (group === undefined) {
        // Every group name's character rules (name-rules.ts): an invisible or control character
        // would make a group that looks like another. A group that already has such a name
        // (made before the rule) is still synced.
        const problem = groupNameCharacterProblem(name) ?? groupLookAlikeProblem(name);
        if (problem !== undefined) {
          skipped.push(`${shorten(revealHidden(name), QUOTED_LOGIN)}: ${problem}, not created`);
          continue;
        }
        const id = newId();
        await groups.insert(db, id, { name, externalId: null, data: {}, fold: {} }, now);
        group = await groups.findByName(db, name);
        if (group !== undefined) {
          await journal.record(db, actor, {
            action: 'group.created',
            targetType: 'group',
            targetId: group.id,
            details: { after: { name: group.name, description: null }, by: 'saml' },
            events: groupEvent(undefined, group),
          }, now);
        }
      }
      if (group === undefined) continue;
      await memberships.add(db, group.id, [userId], now, journal.stamp(actor, now));
      await groups.touch(db, group.id, now);
      await journal.record(db, actor, { action: 'membership.added', targetType: 'membership', targetId: membershipId(group.id, userId), details: { groupId: group.id, userId, group: group.name, login, by: 'saml' } }, now);
      added.push(group.name);
    }
    return { added, removed: removed.map((group) => group.name), skipped: [...kept, ...skipped] };
  }

  return {
    /** The profile of the user with this internal or SCIM id (sessions, /api/users/current). */
    async profile(id: string): Promise<UserProfile | undefined> {
      return findProfile(store.db, id);
    },

    /** Maps an identity to a user without changing anything (for the validation page). */
    async preview(identity: SignInIdentity): Promise<SignInDecision> {
      return decide(store.db, identity);
    },

    /**
     * Lets the person in or not; writes the user (JIT), the attempt, the last connection and the
     * audit event, and opens the session (where from: `origin`; ending by `endsBy` at the latest).
     * All in one transaction that holds the provisioning switch: a sign-in is wholly before SCIM
     * is turned on or off, on any instance, its session included, or it sees the switch.
     */
    async signIn(identity: SignInIdentity, opening: { readonly origin?: SessionOrigin; readonly endsBy?: Date | null } = {}): Promise<SignInResult> {
      const asserted: Actor = { kind: 'saml', login: identity.login };
      try {
        return await transact(store.db, async (trx): Promise<SignInResult> => {
          const now = new Date().toISOString();
          // The mode first, share-locked until commit, so it cannot change under this sign-in: a
          // just-in-time sign-in must not create a user or group after SCIM was turned on.
          const scim = await lockProvisioningMode(trx, settings);
          // The user's row locked until the commit (PostgreSQL), before the decision reads it: a
          // deactivation committed meanwhile is seen (and refuses the sign-in) rather than undone
          // by the group sync below adding the user to groups after it removed them all; a
          // rename is seen too, so that this sign-in's events name the user as it is.
          if (identity.login !== null) await users.findByLogin(trx, identity.login, 'write');
          const decision = await decide(trx, identity);
          if (!decision.ok) {
            await remember(trx, identity, 'refused', decision.reason, now);
            await journal.record(trx, asserted, {
              action: 'saml.sign_in_refused',
              targetType: 'user',
              targetId: decision.user?.id ?? null,
              details: { reason: decision.reason, login: identity.login === null ? null : shorten(identity.login, LOGGED_TEXT), nameId: identity.nameId === null ? null : shorten(identity.nameId, LOGGED_TEXT) },
            }, now);
            return { ok: false, reason: decision.reason, message: decision.message };
          }
          const login = identity.login ?? '';
          // From here on the actor is the user signed in as, by its stored login (actorLogin).
          const actor: Actor = { ...asserted, user: decision.create ? login : (decision.user?.login ?? login) };
          let userId: string;
          const details: Record<string, unknown> = { login };
          if (decision.create) {
            userId = newId();
            // Without a name attribute (none configured, or none sent) the name is the login, as
            // saml.md says: the admin API refuses a user without a name.
            const name = fitName(identity.name ?? login);
            const data: Record<string, unknown> = { displayName: name };
            if (identity.email !== null) data['emails'] = [{ value: identity.email, primary: true }];
            await userWrites.insert(trx, userId, { login, displayName: name, email: identity.email, active: true, externalId: null, data, fold: foldDocument('User', data) }, now);
            if (identity.email !== null) await userWrites.replaceEmails(trx, userId, [{ value: identity.email, type: null, primary: true, display: null }]);
            const created = await users.findById(trx, userId);
            if (created === undefined) throw new Error('created user vanished');
            await journal.record(trx, actor, {
              action: 'user.created',
              targetType: 'user',
              targetId: userId,
              details: { login, name, email: identity.email, by: 'saml' },
              events: userEvent(undefined, created),
            }, now);
          } else {
            const user = decision.user;
            if (user === undefined) throw new Error('sign-in decision without a user');
            userId = user.id;
            // In SCIM mode the IdP's provisioning owns name and email; sign-in changes nothing.
            // Otherwise what the assertion carries replaces what is stored; an attribute it does
            // not carry (not configured, or not sent) leaves the value alone, so that a name an
            // administrator gave is not erased by every sign-in.
            const name = identity.name === null ? user.displayName : fitName(identity.name);
            const email = identity.email ?? user.email;
            if (!scim && (name !== user.displayName || email !== user.email)) {
              await queries.updateProfile(trx, userId, name, email, now);
              await memberDisplay.changed(trx, userId, user, { login: user.login, displayName: name }, now);
              await userWrites.replaceEmails(trx, userId, email === null ? [] : [{ value: email, type: null, primary: true, display: null }]);
              const updated = await users.findById(trx, userId);
              if (updated === undefined) throw new Error('updated user vanished');
              await journal.record(trx, actor, {
                action: 'user.updated',
                targetType: 'user',
                targetId: userId,
                details: { before: { name: user.displayName, email: user.email }, after: { name, email }, by: 'saml' },
                events: userEvent(user, updated),
              }, now);
            }
          }
          if (identity.groups !== null && !scim) {
            const change = await syncGroups(trx, actor, userId, login, identity.groups, now);
            if (change.added.length + change.removed.length + change.skipped.length > 0) {
              details['groups'] = change.skipped.length === 0 ? { added: change.added, removed: change.removed } : change;
            }
          }
          await queries.touchLastConnection(trx, userId, now);
          await remember(trx, identity, 'accepted', null, now);
          await journal.record(trx, actor, { action: 'saml.signed_in', targetType: 'user', targetId: userId, details }, now);
          const user = await users.findByLogin(trx, login);
          if (user === undefined) throw new Error('signed-in user vanished');
          // Deactivated since the decision read it (a deactivation committing meanwhile): nothing
          // of this sign-in is kept.
          const session = await sessions.openWithin(trx, user.id, opening.origin, opening.endsBy);
          if (session === undefined) throw new DeactivatedWhileSigningIn();
          return { ok: true, user, created: decision.create, session };
        });
      } catch (error) {
        if (!(error instanceof DeactivatedWhileSigningIn)) throw error;
        // Rolled back, and refused as any other sign-in of a deactivated user is.
        await transact(store.db, async (trx) => {
          const now = new Date().toISOString();
          await remember(trx, identity, 'refused', 'deactivated', now);
          const user = identity.login === null ? undefined : await users.findByLogin(trx, identity.login);
          await journal.record(trx, asserted, {
            action: 'saml.sign_in_refused',
            targetType: 'user',
            targetId: user?.id ?? null,
            details: { reason: 'deactivated', login: identity.login === null ? null : shorten(identity.login, LOGGED_TEXT), nameId: identity.nameId === null ? null : shorten(identity.nameId, LOGGED_TEXT) },
          }, now);
        });
        return { ok: false, reason: 'deactivated', message: DEACTIVATED_WHILE_SIGNING_IN };
      }
    },

    /**
     * Audits a response refused before the question of who it is (bad signature, replay …).
     * Anyone can post such responses, so they draw on the budget of their `source` (the
     * client address): past it they are counted, not stored one by one.
     */
    async recordRefusal(reason: string, message: string, source: string, identity?: SignInIdentity): Promise<void> {
      await transact(store.db, async (trx) => {
        const now = new Date().toISOString();
        if (identity !== undefined) await remember(trx, identity, 'refused', reason, now);
        await journal.recordBudgeted(trx, source, { kind: 'saml', login: identity?.login ?? null }, {
          action: 'saml.sign_in_refused',
          targetType: 'user',
          targetId: null,
          details: { reason, message },
        }, now);
      });
    },

    /**
     * Deletes the SAML sign-in attempts (the last one of each login, kept for the sign-in check)
     * made more than `retentionDays` ago, in batches; returns how many. They hold the login,
     * NameID and email of whoever tried, accounts or not, and were kept for ever.
     */
    async purgeAttempts(retentionDays: number): Promise<number> {
      const before = new Date(Date.now() - retentionDays * 24 * 60 * 60 * 1000).toISOString();
      return inBatches(store.db, ATTEMPT_PURGE_BATCH, (trx) => queries.purgeAttemptsBefore(trx, before, ATTEMPT_PURGE_BATCH));
    },

    /** Says in plain words whether a user can sign in now and, if not, why; undefined when no such user. */
    async check(id: string, now: Date = new Date()): Promise<SignInCheck | undefined> {
      const profile = await findProfile(store.db, id);
      if (profile === undefined) return undefined;
      const problems: SignInProblem[] = [];
      const warnings: string[] = [];
      const config = await samlConfig();
      if (config === undefined) {
        problems.push({ code: 'saml_not_configured', message: 'SAML sign-in is not configured, so nobody can sign in through an identity provider.' });
      } else {
        checkCertificates(config, now, problems, warnings);
      }
      checkAccount(profile, await provisioning.isScimEnabled(), problems);
      const lastAttempt = (await queries.latestAttemptOf(store.db, profile.login, profile.email)) ?? null;
      if (lastAttempt !== null && caseKey(lastAttempt.login) !== caseKey(profile.login)) {
        problems.push({
          code: 'login_mismatch',
          message: `The last sign-in attempt (${lastAttempt.at}) sent the login "${lastAttempt.login}", which differs from this user's login "${profile.login}". Make the IdP's login attribute and the SCIM userName agree.`,
        });
      }
      return {
        userId: profile.id,
        login: profile.login,
        canSignIn: problems.length === 0,
        problems,
        warnings,
        lastAttempt,
        lastConnectionDate: profile.lastConnectionAt,
      };
    },
  };
}

function checkCertificates(config: SamlConfig, now: Date, problems: SignInProblem[], warnings: string[]): void {
  const infos = config.certificates.map(describeCertificate);
  const live = infos.filter((info) => Date.parse(info.validTo) > now.getTime());
  if (live.length === 0) {
    const last = infos.map((info) => info.validTo).sort().at(-1);
    problems.push({ code: 'certificate_expired', message: `Every IdP signing certificate has expired (the last on ${last === undefined ? 'an unknown date' : readableTime(last)}); no assertion can be verified. Configure the IdP's new certificate.` });
    return;
  }
  for (const info of live) {
    const days = Math.floor((Date.parse(info.validTo) - now.getTime()) / DAY_MS);
    if (days < 30) warnings.push(`The IdP signing certificate ${info.subject} expires on ${readableTime(info.validTo)} (in ${days} days).`);
  }
}

function checkAccount(profile: UserProfile, scim: boolean, problems: SignInProblem[]): void {
  if (!profile.active) problems.push({ code: 'deactivated', message: 'The user is deactivated.' });
  if (hasSurroundingSpace(profile.login)) {
    problems.push({
      code: 'login_white_space',
      message: `The login "${profile.login}" begins or ends with white space: sign-in trims the login the identity provider sends, so it never matches. Remove the spaces from the userName at the identity provider (or from the login).`,
    });
  }
  if (!scim && profile.local) {
    problems.push({ code: 'local_account', message: 'This is a local account with a password: SAML sign-in may not take it over while SCIM provisioning is off.' });
  }
  if (scim && !profile.managed) {
    problems.push({ code: 'not_provisioned', message: 'SCIM provisioning is on and this user was not provisioned by the identity provider.' });
  }
}

export type SignIn = ReturnType<typeof createSignIn>;
