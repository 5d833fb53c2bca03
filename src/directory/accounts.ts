/**
 * Users as administrators manage them (admin API, CLI), managed and local alike. SCIM's own
 * view of users is users.ts; both share the store and the deactivation step. Every write is
 * one transaction with its audit event, and checks the managed-mode rules inside it.
 */
import { hashPassword } from '../auth/passwords.ts';
import { newId } from '../ids.ts';
import { caseKey } from '../text.ts';
import type { Store } from '../store/index.ts';
import { isUniqueViolation } from '../store/errors.ts';
import { createUserQueries, type AccountFilter, type StoredUser } from '../store/users.ts';
import { recordEvent, type Actor } from './audit.ts';
import { assertNotSelf, createDeactivation } from './deactivation.ts';
import { DirectoryError, managedError, rejected } from './errors.ts';
import { assertNotManagedInstance, isManagedInstance } from './managed-mode.ts';

/** A new user from the admin API: `local` users sign in with a password, others through SAML. */
export interface NewAccount {
  readonly login?: unknown;
  readonly name?: unknown;
  readonly email?: unknown;
  readonly password?: unknown;
  readonly local?: unknown;
}

/** A merge-patch of a user: present keys change, absent keys stay. */
export interface AccountPatch {
  readonly login?: unknown;
  readonly name?: unknown;
  readonly email?: unknown;
  readonly externalId?: unknown;
  readonly externalLogin?: unknown;
  readonly externalProvider?: unknown;
}

/** A 0-based page. */
export interface PageRequest {
  readonly offset: number;
  readonly limit: number;
}

const MAX_LOGIN = 255;
const MAX_NAME = 200;
const MAX_EMAIL = 100;
const MIN_PASSWORD = 12;
const MAX_PASSWORD = 1000;

/** A login is the SAML login, so it may be an email address, but never blank or with spaces. */
function checkLogin(value: unknown): string {
  if (value === undefined || value === null) throw rejected('login', value, 'must not be null');
  if (typeof value !== 'string') throw rejected('login', value, 'must be a string');
  if (value.length < 2 || value.length > MAX_LOGIN) throw rejected('login', value, `size must be between 2 and ${MAX_LOGIN}`);
  if (/[\s\p{Cc}]/u.test(value)) throw rejected('login', value, 'must not contain spaces or control characters');
  return value;
}

function checkText(field: string, value: unknown, max: number, required: boolean): string | null {
  if (value === undefined || value === null || value === '') {
    if (required) throw rejected(field, value, 'must not be null');
    return null;
  }
  if (typeof value !== 'string') throw rejected(field, value, 'must be a string');
  if (value.length > max) throw rejected(field, value, `size must be between 0 and ${max}`);
  return value;
}

function checkEmail(value: unknown): string | null {
  const email = checkText('email', value, MAX_EMAIL, false);
  if (email !== null && !/^[^@\s]+@[^@\s]+$/.test(email)) throw rejected('email', email, 'must be a well-formed email address');
  return email;
}

/** The audit view of a user: never the password hash. */
function snapshot(user: StoredUser): Record<string, unknown> {
  return { login: user.login, name: user.displayName, email: user.email, active: user.active, local: user.local, externalId: user.externalId };
}

/** The account directory: closure over the store, wired once in services.ts. */
export function createAccounts(store: Store) {
  const users = createUserQueries(store.dialect);
  const deactivation = createDeactivation(store.dialect);

  async function find(id: string): Promise<StoredUser> {
    const user = await users.findById(store.db, id);
    if (!user) throw new DirectoryError('not_found', `User '${id}' not found`);
    return user;
  }

  function loginTaken(login: string): DirectoryError {
    return new DirectoryError('conflict', `A user with login '${login}' already exists`, 'login');
  }

  return {
    /** A page of users and the total; `managed` may only filter a managed instance (SonarQube's rule). */
    async list(filter: AccountFilter, page: PageRequest): Promise<{ users: StoredUser[]; total: number }> {
      return store.db.transaction().execute(async (trx) => {
        if (filter.managed !== undefined && !(await isManagedInstance(trx))) {
          throw new DirectoryError('invalid', "The 'managed' parameter is only available for managed instances.", 'managed');
        }
        const total = await users.countAccounts(trx, filter);
        const found = page.limit === 0 ? [] : await users.listAccounts(trx, filter, page.offset, page.limit);
        return { users: found, total };
      });
    },

    /** One user by internal id (404 otherwise). */
    get: find,

    /** One user by login regardless of case, or undefined. */
    async findByLogin(login: string): Promise<StoredUser | undefined> {
      return users.findByLogin(store.db, login);
    },

    /**
     * Creates a user, or reactivates the deactivated user with that login (same id, history
     * kept). Refused while SCIM is on: the identity provider creates users then.
     */
    async create(input: NewAccount, actor: Actor): Promise<StoredUser> {
      const login = checkLogin(input.login);
      const name = checkText('name', input.name, MAX_NAME, true);
      const email = checkEmail(input.email);
      if (input.local !== undefined && typeof input.local !== 'boolean') throw rejected('local', input.local, 'must be a boolean');
      const local = input.local ?? true;
      let passwordHash: string | null = null;
      if (local) {
        const password = checkText('password', input.password, MAX_PASSWORD, true) ?? '';
        if (password.length < MIN_PASSWORD) throw rejected('password', '***', `must be at least ${MIN_PASSWORD} characters long`);
        passwordHash = await hashPassword(password);
      } else if (input.password !== undefined && input.password !== null) {
        throw new DirectoryError('invalid', 'Password should only be set on local user', 'password');
      }
      try {
        return await store.db.transaction().execute(async (trx) => {
          await assertNotManagedInstance(trx);
          const now = new Date().toISOString();
          const existing = await users.findByLogin(trx, login);
          if (existing?.active) throw loginTaken(login);
          if (existing) {
            // SonarQube reactivates a deactivated account created again; its tokens, sessions
            // and memberships stay gone. A user the IdP suspended (SCIM active=false) before
            // SCIM was turned off still has its memberships: they go now, by the same rule.
            await users.updateProfile(trx, existing.id, { login, displayName: name, email, externalId: existing.externalId }, now);
            await users.setActive(trx, existing.id, true, now);
            if (passwordHash !== null) await users.setPassword(trx, existing.id, passwordHash, now);
            const dropped = await deactivation.dropKeptMemberships(trx, existing.id, now);
            const after = await users.findById(trx, existing.id);
            if (!after) throw new Error('reactivated user vanished');
            await recordEvent(trx, actor, { action: 'user.reactivated', targetType: 'user', targetId: existing.id, details: { before: snapshot(existing), after: snapshot(after), ...dropped } }, now);
            return after;
          }
          const id = newId();
          const inserted = await users.insertAccount(trx, id, { login, displayName: name, email, local, passwordHash, admin: false }, now);
          if (!inserted) throw loginTaken(login);
          const created = await users.findById(trx, id);
          if (!created) throw new Error('created user vanished');
          await recordEvent(trx, actor, { action: 'user.created', targetType: 'user', targetId: id, details: { after: snapshot(created) } }, now);
          return created;
        });
      } catch (error) {
        if (isUniqueViolation(error)) throw loginTaken(login);
        throw error;
      }
    },

    /**
     * Applies a merge-patch. While SCIM is on, the login and the identity provider may not
     * change, and a managed user may not change at all: the identity provider would overwrite it.
     */
    async update(id: string, patch: AccountPatch, actor: Actor): Promise<StoredUser> {
      const has = (key: keyof AccountPatch): boolean => Object.hasOwn(patch, key);
      try {
        return await store.db.transaction().execute(async (trx) => {
          const current = await users.findById(trx, id);
          if (!current) throw new DirectoryError('not_found', `User '${id}' not found`);
          const managedInstance = await isManagedInstance(trx);
          const identityChange = has('login') || has('externalLogin') || has('externalProvider') || has('externalId');
          if (managedInstance && (identityChange || current.scimId !== null)) throw managedError();
          // Roster's identity providers are fixed: a local password or SAML with the login as
          // the SAML login, so neither field can be set on its own.
          for (const field of ['externalLogin', 'externalProvider'] as const) {
            if (has(field)) throw rejected(field, patch[field], 'is derived from login and local in Roster and cannot be set');
          }
          const next = {
            login: has('login') ? checkLogin(patch.login) : current.login,
            displayName: has('name') ? checkText('name', patch.name, MAX_NAME, true) : current.displayName,
            email: has('email') ? checkEmail(patch.email) : current.email,
            externalId: has('externalId') ? checkText('externalId', patch.externalId, MAX_LOGIN, false) : current.externalId,
          };
          if (caseKey(next.login) !== caseKey(current.login) && (await users.findByLogin(trx, next.login))) throw loginTaken(next.login);
          const now = new Date().toISOString();
          await users.updateProfile(trx, id, next, now);
          const after = await users.findById(trx, id);
          if (!after) throw new Error('updated user vanished');
          await recordEvent(trx, actor, { action: 'user.updated', targetType: 'user', targetId: id, details: { before: snapshot(current), after: snapshot(after) } }, now);
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
     * local users; never for oneself. Deactivating an inactive user changes nothing.
     */
    async deactivate(id: string, actor: Actor): Promise<void> {
      await store.db.transaction().execute(async (trx) => {
        const current = await users.findById(trx, id);
        if (!current) throw new DirectoryError('not_found', `User '${id}' not found`);
        assertNotSelf(actor, id);
        if (current.scimId !== null) throw managedError();
        if (!current.active) return;
        const now = new Date().toISOString();
        await users.setActive(trx, id, false, now);
        const removed = await deactivation.deactivate(trx, id, now);
        await recordEvent(trx, actor, {
          action: 'user.deactivated',
          targetType: 'user',
          targetId: id,
          details: { login: current.login, before: snapshot(current), after: { ...snapshot(current), active: false }, ...removed },
        }, now);
      });
    },
  };
}

export type Accounts = ReturnType<typeof createAccounts>;
