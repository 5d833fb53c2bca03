/**
 * Users as administrators manage them (admin API, CLI), managed and local alike. SCIM's own
 * view of users is users.ts; both share the store and the deactivation step. Every write is
 * one transaction with its audit event, and checks the managed-mode rules inside it.
 */
import { anonymizedLogin, isAnonymized, LOGIN_LENGTH, loginProblem, reservedLoginProblem } from './login-rules.ts';
import { displayTextProblem, mixedScriptProblem } from './name-rules.ts';
import { generatePassword, hashPassword } from '../auth/passwords.ts';
import { newId } from '../ids.ts';
import { caseKey } from '../text.ts';
import type { Store } from '../store/index.ts';
import { isUniqueViolation } from '../store/errors.ts';
import { eraseUser, type Erased } from '../store/personal-data.ts';
import { createUserQueries, type AccountFilter, type PasswordOrigin, type StoredUser } from '../store/users.ts';
import { actorUserId, type Actor } from '../journal/actor.ts';
import { createJournal, type FeedEvent } from '../journal/journal.ts';
import { createDeactivation } from './deactivation.ts';
import { checkFields, DirectoryError, managedError, rejected, SELF_DEACTIVATION_MESSAGE } from '../errors.ts';
import type { Access } from './access.ts';
import type { InitialPasswordFile } from './initial-password.ts';
import { assertNotManagedInstance, isManagedInstance, lockProvisioningMode } from './managed-mode.ts';
import { createSettings } from '../settings.ts';
import { externalProviderOf, userEvent, userShape } from './shapes.ts';
import { createMemberDisplay } from './member-display.ts';
import { readSnapshot, readSnapshotAcrossTurns, transact } from '../store/transact.ts';
import type { Executor } from '../store/executor.ts';

/** A new user from the admin API: `local` users sign in with a password, others through SAML. */
export interface NewAccount {
  readonly login?: unknown;
  readonly name?: unknown;
  readonly email?: unknown;
  readonly password?: unknown;
  readonly local?: unknown;
}

/**
 * A merge-patch of a user: present keys change, absent keys stay. A key sent with the value it
 * already has changes nothing, so that what the API shows of a user can be sent back as it is:
 * the read-only keys are accepted when they hold the user's value and refused otherwise.
 */
export interface AccountPatch {
  readonly login?: unknown;
  readonly name?: unknown;
  readonly email?: unknown;
  readonly externalId?: unknown;
  /** Derived from login: accepted when equal to the login before or after the patch. */
  readonly externalLogin?: unknown;
  /** Derived from local (see externalProviderOf): accepted when equal to it. */
  readonly externalProvider?: unknown;
  /** Read-only. */
  readonly id?: unknown;
  /** Read-only: DELETE deactivates, POST reactivates. */
  readonly active?: unknown;
  /** Read-only: chosen at creation. */
  readonly local?: unknown;
  /** Read-only: whether SCIM manages the user. */
  readonly managed?: unknown;
}

/** A 0-based page. */
export interface PageRequest {
  readonly offset: number;
  readonly limit: number;
}

/** The limits of an account's fields, shared with the admin API's schemas. */
export const ACCOUNT_LIMITS = { login: LOGIN_LENGTH, name: 200, email: 100, password: { min: 12, max: 1000 }, externalId: 255 } as const;
const MAX_NAME = ACCOUNT_LIMITS.name;
const MAX_EMAIL = ACCOUNT_LIMITS.email;
const MIN_PASSWORD = ACCOUNT_LIMITS.password.min;
const MAX_PASSWORD = ACCOUNT_LIMITS.password.max;

const DERIVED = 'is derived from login and local in Roster and cannot be set';

/**
 * A login is the SAML login, so it may be an email address, but never blank or with spaces. One
 * an administrator types may not mix scripts in a word either (`аdmin`, with a Cyrillic `а`,
 * beside `admin`); the identity provider's own logins (SCIM, just-in-time sign-in) are its own.
 */
function checkLogin(value: unknown): string {
  if (value === undefined || value === null) throw rejected('login', value, 'must not be null');
  if (typeof value !== 'string') throw rejected('login', value, 'must be a string');
  const problem = loginProblem(value) ?? mixedScriptProblem(value) ?? reservedLoginProblem(value);
  if (problem !== undefined) throw rejected('login', value, problem);
  return value;
}

function checkText(field: string, value: unknown, max: number, required: boolean): string | null {
  if (value === undefined || value === null || value === '') {
    if (required) throw rejected(field, value, 'must not be null');
    return null;
  }
  if (typeof value !== 'string') throw rejected(field, value, 'must be a string');
  if (value.length > max) throw rejected(field, value, `size must be between ${required ? 1 : 0} and ${max}`);
  return value;
}

/** A user's name: required, and a name of spaces only is as good as none (refused as a group's is). */
function checkName(value: unknown): string {
  const name = checkText('name', value, MAX_NAME, true) ?? '';
  if (name.trim() === '') throw rejected('name', value, 'must not be blank');
  const problem = displayTextProblem(name);
  if (problem !== undefined) throw rejected('name', value, problem);
  return name;
}

function checkEmail(value: unknown): string | null {
  const email = checkText('email', value, MAX_EMAIL, false);
  if (email !== null && !/^[^@\s]+@[^@\s]+$/.test(email)) throw rejected('email', email, 'must be a well-formed email address');
  return email;
}

/** `local` of a new account; null is its absence, as SonarQube reads it (a generated client sends every field, null included). */
function checkLocal(value: unknown): boolean {
  if (value !== undefined && value !== null && typeof value !== 'boolean') throw rejected('local', value, 'must be a boolean');
  return typeof value === 'boolean' ? value : true;
}

/** The password of a new account: required for a local one, refused for another (`local` itself is checked apart). */
function checkNewPassword(input: NewAccount): string | null {
  if (input.local === false) {
    if (input.password !== undefined && input.password !== null) throw new DirectoryError('invalid', 'Password should only be set on local user: a SAML user signs in through the identity provider, so leave the password empty', 'password');
    return null;
  }
  if (input.local !== undefined && input.local !== null && input.local !== true) return null;
  const password = checkText('password', input.password, MAX_PASSWORD, true) ?? '';
  if (password.length < MIN_PASSWORD) throw rejected('password', '***', `must be at least ${MIN_PASSWORD} characters long`);
  return password;
}

/**
 * Whether `create` reactivated a deactivated user with that login rather than create one: a new
 * account is written with its creation time as its last change, a reactivated one keeps the
 * time it was first created. The CLI and the console say which happened.
 */
export function wasReactivated(user: StoredUser): boolean {
  return user.createdAt !== user.updatedAt;
}

/** The audit view of a user: never the password hash. */
function snapshot(user: StoredUser): Record<string, unknown> {
  return { login: user.login, name: user.displayName, email: user.email, active: user.active, local: user.local, externalId: user.externalId };
}

/**
 * The feed events of an anonymization: `user.deactivated` first when it deactivated the user too
 * (its `previous` is the account as erased, still active: the feed never carries again what was
 * deleted), then `user.anonymized`, which tells applications to delete what they keep of it.
 */
function anonymizationEvents(after: StoredUser, deactivated: boolean): FeedEvent[] {
  const data = userShape(after);
  return [...(deactivated ? [{ type: 'user.deactivated' as const, data, previous: { ...data, active: true } }] : []), { type: 'user.anonymized', data }];
}

/**
 * Why `actor` may not deactivate `user`, or undefined when it may: never oneself, never a user
 * the identity provider manages (SCIM-linked). The console greys its button out by this same
 * rule, and deactivate() throws what it returns.
 */
export function deactivationRefusal(user: StoredUser, actor: Actor): DirectoryError | undefined {
  if (actorUserId(actor) === user.id) return new DirectoryError('invalid', SELF_DEACTIVATION_MESSAGE);
  return user.scimId !== null ? managedError() : undefined;
}

/**
 * The account directory over a store, wired once in services.ts; `access` tells who the
 * administrators are, and `initialPassword` is told when a local password is set.
 */
export function createAccounts(store: Store, access: Access, initialPassword?: InitialPasswordFile) {
  const users = createUserQueries(store.dialect);
  const deactivation = createDeactivation(store.dialect);
  const journal = createJournal(store.dialect);
  const memberDisplay = createMemberDisplay(store.dialect);
  const settings = createSettings(store);

  async function find(id: string): Promise<StoredUser> {
    const user = await users.findById(store.db, id);
    if (!user) throw new DirectoryError('not_found', `User '${id}' not found`);
    return user;
  }

  function loginTaken(login: string): DirectoryError {
    return new DirectoryError('conflict', `A user with login '${login}' already exists`, 'login');
  }

  /**
   * The user's row locked (PostgreSQL), then read by a statement of its own: the locking read
   * shows the row as a transaction that held it left it, but its SCIM link as it was when the
   * read began, so a link committed meanwhile (an IdP's create taking the account) would not show.
   */
  async function lockedRead(trx: Executor, id: string): Promise<StoredUser | undefined> {
    await users.findById(trx, id, 'write');
    return users.findById(trx, id);
  }

  /**
   * Empties the personal fields of `user` (locked, inactive or being deactivated in `trx`) and
   * deletes what else names the person (store/personal-data.ts): its own tokens, its last SAML
   * sign-in attempts.
   */
  async function erase(trx: Executor, user: StoredUser, now: string): Promise<Erased> {
    return eraseUser(trx, store.dialect, user.id, anonymizedLogin(user.id), { userId: user.id, login: user.login, email: user.email }, now);
  }

  /**
   * The erasure of a user found inactive: memberships it kept (suspended by the identity
   * provider before SCIM was turned off) go after it, so that their events name nobody; false
   * when it was erased before.
   */
  async function anonymizeInactive(trx: Executor, id: string, actor: Actor): Promise<boolean> {
    const before = await lockedRead(trx, id);
    if (!before) throw new DirectoryError('not_found', `User '${id}' not found`);
    const refusal = deactivationRefusal(before, actor);
    if (refusal !== undefined) throw refusal;
    if (before.active) throw new DirectoryError('conflict', `User '${id}' was reactivated while its personal data was being deleted; deactivate it again to delete it`);
    if (isAnonymized(before)) return false;
    const now = new Date().toISOString();
    const leftovers = await deactivation.endLeftovers(trx, id, now);
    const erased = await erase(trx, before, now);
    const dropped = await deactivation.dropKeptMemberships(trx, id, now, journal.stamp(actor, now));
    const after = await users.findById(trx, id);
    if (!after) throw new Error('anonymized user vanished');
    await journal.record(trx, actor, {
      action: 'user.anonymized',
      targetType: 'user',
      targetId: id,
      details: { login: after.login, deactivated: false, ...dropped, ...leftovers, ...erased },
      events: anonymizationEvents(after, false),
    }, now);
    return true;
  }

  /** `create`, with the password's origin: a generated one is marked so that its user is asked to choose another. */
  async function createAccount(input: NewAccount, actor: Actor, passwordOrigin: PasswordOrigin): Promise<StoredUser> {
    // Every field is checked, so that a form can mark all the wrong ones at once.
    const { login, name, email, local, password } = checkFields({
      login: () => checkLogin(input.login),
      name: () => checkName(input.name),
      email: () => checkEmail(input.email),
      local: () => checkLocal(input.local),
      password: () => checkNewPassword(input),
    });
    const passwordHash = local && password !== null ? await hashPassword(password) : null;
    try {
      const account = await transact(store.db, async (trx) => {
        await assertNotManagedInstance(trx, settings);
        const now = new Date().toISOString();
        // Locked until the commit (PostgreSQL): of parallel reactivations, the others wait and
        // then find the user active (409, as a later request), so it is reactivated once.
        const existing = await users.findByLogin(trx, login, 'write');
        if (existing?.active) throw loginTaken(login);
        if (existing) {
          // SonarQube reactivates a deactivated account created again; its tokens, sessions
          // and memberships stay gone. A user the IdP suspended (SCIM active=false) before
          // SCIM was turned off still has its memberships: they go now, by the same rule, and
          // first, so that their events name the user by the login the feed knows (the login
          // sent may differ in letter case), before the user.reactivated that gives the new one.
          const dropped = await deactivation.dropKeptMemberships(trx, existing.id, now, journal.stamp(actor, now));
          await users.updateProfile(trx, existing.id, { login, displayName: name, email, externalId: existing.externalId }, now);
          await memberDisplay.changed(trx, existing.id, existing, { login, displayName: name }, now);
          await users.setActive(trx, existing.id, true, now);
          if (passwordHash !== null) await users.setPassword(trx, existing.id, passwordHash, passwordOrigin, now);
          // Created again as a SAML user: the password it had before its deactivation must not
          // sign it in again (its tokens and sessions stay gone by the same rule).
          else if (!local) await users.clearPassword(trx, existing.id, now);
          const leftovers = await deactivation.endLeftovers(trx, existing.id, now);
          const after = await users.findById(trx, existing.id);
          if (!after) throw new Error('reactivated user vanished');
          await journal.record(trx, actor, {
            action: 'user.reactivated',
            targetType: 'user',
            targetId: existing.id,
            details: { before: snapshot(existing), after: snapshot(after), ...dropped, ...leftovers },
            events: userEvent(existing, after),
          }, now);
          return after;
        }
        const id = newId();
        const inserted = await users.insertAccount(trx, id, { login, displayName: name, email, local, passwordHash, passwordOrigin, admin: false }, now);
        if (!inserted) throw loginTaken(login);
        const created = await users.findById(trx, id);
        if (!created) throw new Error('created user vanished');
        await journal.record(trx, actor, { action: 'user.created', targetType: 'user', targetId: id, details: { after: snapshot(created) }, events: userEvent(undefined, created) }, now);
        return created;
      });
      if (passwordHash !== null) initialPassword?.passwordSet(account.login);
      return account;
    } catch (error) {
      if (isUniqueViolation(error)) throw loginTaken(login);
      throw error;
    }
  }

  return {
    /** A page of users and the total; `managed` may only filter a managed instance (SonarQube's rule). */
    async list(filter: AccountFilter, page: PageRequest): Promise<{ users: StoredUser[]; total: number }> {
      // No index serves `q` and `managed`: every user is read, on SQLite in windows that let the
      // server's other requests through (a search of a million users held them 1–2 s), on
      // PostgreSQL within the share of the pool long reads may hold (store/long-reads.ts).
      const everyUser = (filter.q !== undefined && filter.q !== '') || filter.managed !== undefined
        || filter.connectedFrom !== undefined || filter.connectedTo !== undefined || filter.notInGroupId !== undefined;
      const windowed = everyUser && !store.dialect.remoteStatements;
      const read = async (db: Executor): Promise<{ users: StoredUser[]; total: number }> => {
        if (filter.managed !== undefined && !(await isManagedInstance(db))) {
          throw new DirectoryError('invalid', "The 'managed' parameter is only available for managed instances.", 'managed');
        }
        if (windowed) return users.listAccountsInSlices(db, filter, page.offset, page.limit);
        const total = await users.countAccounts(db, filter);
        const found = page.limit === 0 ? [] : await users.listAccounts(db, filter, page.offset, page.limit, total);
        return { users: found, total };
      };
      // A read: its own snapshot (the count and the page agree), and no write lock to wait for or hold.
      return everyUser ? readSnapshotAcrossTurns(store, read) : readSnapshot(store.db, read);
    },

    /** One user by internal id (404 otherwise). */
    get: find,

    /** One user by login regardless of case, or undefined. */
    async findByLogin(login: string): Promise<StoredUser | undefined> {
      return users.findByLogin(store.db, login);
    },

    /**
     * Creates a user, or reactivates the deactivated user with that login (same id, history
     * kept), with the password `input` gives (the administrator chose it). Refused while SCIM
     * is on: the identity provider creates users then.
     */
    async create(input: NewAccount, actor: Actor): Promise<StoredUser> {
      return createAccount(input, actor, 'chosen');
    },

    /**
     * `create` of a local user with a random password, returned to be shown once (`roster users
     * create`). Whoever ran the command has seen it: the account is marked, and the console
     * asks its user to choose another until they do.
     */
    async createWithGeneratedPassword(input: Omit<NewAccount, 'password' | 'local'>, actor: Actor): Promise<{ user: StoredUser; password: string }> {
      const password = generatePassword();
      return { user: await createAccount({ ...input, password, local: true }, actor, 'generated'), password };
    },

    /**
     * Applies a merge-patch. While SCIM is on, the login and the identity provider may not
     * change, and a managed user may not change at all: the identity provider would overwrite
     * it. A patch that changes nothing writes nothing (no version, no audit entry) in any mode.
     */
    async update(id: string, patch: AccountPatch, actor: Actor): Promise<StoredUser> {
      const has = (key: keyof AccountPatch): boolean => Object.hasOwn(patch, key);
      try {
        return await transact(store.db, async (trx) => {
          // Locked until the commit (PostgreSQL): a parallel update or deactivation waits, so
          // neither writes back fields read before the other changed them (a merge-patch of the
          // email undid a rename) nor tells its change from a stale row.
          const current = await lockedRead(trx, id);
          if (!current) throw new DirectoryError('not_found', `User '${id}' not found`);
          const readOnly = (field: 'id' | 'active' | 'local' | 'managed', value: unknown, why: string): void => {
            if (has(field) && patch[field] !== value) throw rejected(field, patch[field], why);
          };
          readOnly('id', current.id, 'is read-only: it must be the id in the URL');
          readOnly('active', current.active, 'is read-only: DELETE deactivates a user, and POST with its login reactivates it');
          readOnly('local', current.local, 'is read-only: it is chosen when the user is created');
          readOnly('managed', current.scimId !== null, 'is read-only: it says whether the identity provider manages the user through SCIM');
          // A value equal to the stored one is not checked again: a user provisioned without a
          // name shows `"name": null`, and sending that back must not be refused.
          const sent = (key: 'login' | 'name' | 'email' | 'externalId', stored: string | null): boolean => has(key) && patch[key] !== stored;
          const next = checkFields({
            login: () => (sent('login', current.login) ? checkLogin(patch.login) : current.login),
            displayName: () => (sent('name', current.displayName) ? checkName(patch.name) : current.displayName),
            email: () => (sent('email', current.email) ? checkEmail(patch.email) : current.email),
            externalId: () => (sent('externalId', current.externalId) ? checkText('externalId', patch.externalId, ACCOUNT_LIMITS.externalId, false) : current.externalId),
          });
          // The derived fields hold what a GET showed (the old login) or what the patch makes of them.
          const derivedChanges = [
            ...(has('externalLogin') && patch.externalLogin !== current.login && patch.externalLogin !== next.login ? (['externalLogin'] as const) : []),
            ...(has('externalProvider') && patch.externalProvider !== externalProviderOf(current) ? (['externalProvider'] as const) : []),
          ];
          const identityChange = next.login !== current.login || next.externalId !== current.externalId || derivedChanges.length > 0;
          const changed = identityChange || next.displayName !== current.displayName || next.email !== current.email;
          if (!changed) return current;
          const managedInstance = await lockProvisioningMode(trx, settings);
          if (managedInstance && (identityChange || current.scimId !== null)) throw managedError();
          const derived = derivedChanges[0];
          if (derived !== undefined) throw rejected(derived, patch[derived], DERIVED);
          if (caseKey(next.login) !== caseKey(current.login) && (await users.findByLogin(trx, next.login))) throw loginTaken(next.login);
          const now = new Date().toISOString();
          await users.updateProfile(trx, id, next, now);
          await memberDisplay.changed(trx, id, current, next, now);
          const after = await users.findById(trx, id);
          if (!after) throw new Error('updated user vanished');
          await journal.record(trx, actor, {
            action: 'user.updated',
            targetType: 'user',
            targetId: id,
            details: { before: snapshot(current), after: snapshot(after) },
            events: userEvent(current, after),
          }, now);
          return after;
        });
      } catch (error) {
        if (isUniqueViolation(error) && typeof patch.login === 'string') throw loginTaken(patch.login);
        throw error;
      }
    },

    /**
     * Deactivates a user with SonarQube's rule: memberships, tokens and sessions go with it
     * (unlike SCIM active=false, which keeps memberships). Allowed while SCIM is on only for
     * local users; never for oneself. Deactivating an inactive user changes nothing: false then
     * (true when this call deactivated the user), so that a page can say it was already done.
     *
     * With `anonymize` (SonarQube's "delete the user's personal data"), the same transaction
     * also empties every personal field of the account and gives it a login that names nobody
     * (erase): asked of a user already deactivated (by an administrator, or deleted by the
     * identity provider), it does that alone, and true says it did; false when it was done
     * before.
     */
    async deactivate(id: string, actor: Actor, options: { readonly anonymize?: boolean } = {}): Promise<boolean> {
      const anonymize = options.anonymize === true;
      return transact(store.db, async (trx) => {
        const current = await users.findById(trx, id);
        if (!current) throw new DirectoryError('not_found', `User '${id}' not found`);
        const refusal = deactivationRefusal(current, actor);
        if (refusal !== undefined) throw refusal;
        if (!current.active) return anonymize ? anonymizeInactive(trx, id, actor) : false;
        const now = new Date().toISOString();
        // SonarQube's rule: nobody would be left to administer the instance (the CLI, acting as
        // no user, could otherwise do it; the API and the console refuse self-deactivation).
        const deactivated = await access.keepingAnAdministrator(trx, async () => {
          // The row is locked only now, after the administrators' rows (first and in order), and
          // read again: a parallel update committed meanwhile is the state the deactivation
          // starts from (its event's `previous`). Of parallel deactivations (PostgreSQL), the
          // first to lock the row deactivates; the others wait, then change nothing, so it is
          // deactivated (and said so) once.
          const before = await lockedRead(trx, id);
          if (!before?.active) return undefined;
          // Linked by the identity provider while this waited for the row: its user now.
          const refusedNow = deactivationRefusal(before, actor);
          if (refusedNow !== undefined) throw refusedNow;
          if (!(await users.setActive(trx, id, false, now))) return undefined;
          // Emptied before the memberships go, so that their events name the account by its new login.
          const erased = anonymize ? await erase(trx, before, now) : undefined;
          return { before, erased, removed: await deactivation.deactivate(trx, id, now, journal.stamp(actor, now)) };
        });
        // Deactivated by a parallel request meanwhile: what is left to do is the erasure, if asked.
        if (deactivated === undefined) return anonymize ? anonymizeInactive(trx, id, actor) : false;
        const { before, erased, removed } = deactivated;
        const after = await users.findById(trx, id);
        if (!after) throw new Error('deactivated user vanished');
        if (erased !== undefined) {
          // One entry, which repeats none of what was erased.
          await journal.record(trx, actor, {
            action: 'user.anonymized',
            targetType: 'user',
            targetId: id,
            details: { login: after.login, deactivated: true, ...removed, ...erased },
            events: anonymizationEvents(after, true),
          }, now);
          return true;
        }
        await journal.record(trx, actor, {
          action: 'user.deactivated',
          targetType: 'user',
          targetId: id,
          details: { login: before.login, before: snapshot(before), after: { ...snapshot(before), active: false }, ...removed },
          events: userEvent(before, after),
        }, now);
        return true;
      });
    },
  };
}

export type Accounts = ReturnType<typeof createAccounts>;
