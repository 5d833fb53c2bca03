/**
 * The local administrator `admin`, created at first start with a random password that is
 * shown once and never logged, and the password reset that recovers it.
 */
import { generatePassword, hashPassword } from '../auth/passwords.ts';
import { newId } from '../ids.ts';
import type { Store } from '../store/index.ts';
import { adoptOwnerlessTokens } from '../store/user-credentials.ts';
import { createUserQueries } from '../store/users.ts';
import type { Actor } from '../journal/actor.ts';
import { createJournal } from '../journal/journal.ts';
import { createAccess, type Access } from './access.ts';
import { DirectoryError } from '../errors.ts';
import { userEvent } from './shapes.ts';
import { BOOTSTRAP_LOGIN, type InitialPasswordFile } from './initial-password.ts';
import { isManagedInstance } from './managed-mode.ts';
import { createDeactivation } from './deactivation.ts';

export { BOOTSTRAP_LOGIN } from './initial-password.ts';

/** Why an administrator that SCIM manages gets no password, and how to get one anyway. */
function managedAdministratorMessage(login: string): string {
  return (
    `The administrator "${login}" is managed by your identity provider (SCIM), so it signs in through SAML, not with a password: no password was set. ` +
    'Sign in through SAML, or reset the password of a local administrator that the identity provider does not manage (--user <login>). ' +
    'Turning SCIM off (npm run roster -- scim disable --yes) makes every user local again; this command then sets its password.'
  );
}

/**
 * Why a deactivated user gets no password, and how to get in again when no administrator is
 * left to reactivate it: creating the login again reactivates the account (accounts.ts), and a
 * user flagged admin, such as `admin`, is an administrator again at once. A user who was one
 * through the administrators' group lost its memberships when it was deactivated.
 */
function deactivatedAdministratorMessage(login: string, flaggedAdmin: boolean, scimOn: boolean): string {
  // While SCIM is on, only the identity provider creates users.
  const scimFirst = scimOn ? 'npm run roster -- scim disable --yes, then ' : '';
  const reactivate = (who: string): string => `${scimFirst}npm run roster -- users create --login ${who} --name <name>`;
  return flaggedAdmin
    ? `The user "${login}" is deactivated. Reactivate it first: an administrator can, or, if none is left, \`${reactivate(login)}\` reactivates it as an administrator and prints its new password.`
    : `The user "${login}" is deactivated, and left the administrators' group then. Reset the password of an active administrator (--user <login>), or, if none is left, reactivate admin: \`${reactivate(BOOTSTRAP_LOGIN)}\` prints its new password.`;
}

/** A password to show once. */
export interface IssuedPassword {
  readonly login: string;
  readonly password: string;
  /** How many Roster sessions of the user the reset ended (none for a newly created `admin`). */
  readonly endedSessions: number;
}

/**
 * The administrator service over a store; `access` decides who is an administrator, and
 * `initialPassword` is the first-start password's file, deleted when admin's password changes.
 */
export function createAdministrators(store: Store, access: Access = createAccess(store), initialPassword?: InitialPasswordFile) {
  const users = createUserQueries(store.dialect);
  const journal = createJournal(store.dialect);
  const deactivation = createDeactivation(store.dialect);

  /** Inserts `admin` unless the login is taken; true when this call created it. */
  async function insertAdmin(passwordHash: string, actor: Actor, beforeCommit?: () => void): Promise<boolean> {
    return store.db.transaction().execute(async (trx) => {
      const id = newId();
      const now = new Date().toISOString();
      // ON CONFLICT DO NOTHING on the login index: of several instances starting at once,
      // exactly one inserts, and only that one prints a password.
      const inserted = await users.insertAccount(
        trx,
        id,
        // Generated: the console asks admin to choose its own (the password was printed or written to a file).
        { login: BOOTSTRAP_LOGIN, displayName: 'Administrator', email: null, local: true, passwordHash, passwordOrigin: 'generated', admin: true },
        now,
      );
      if (!inserted) return false;
      const adoptedTokens = await adoptOwnerlessTokens(trx, id);
      const created = await users.findById(trx, id);
      if (!created) throw new Error('created administrator vanished');
      await journal.record(trx, actor, {
        action: 'user.created',
        targetType: 'user',
        targetId: id,
        details: { after: { login: BOOTSTRAP_LOGIN, local: true, admin: true, active: true }, adoptedTokens },
        events: userEvent(undefined, created),
      }, now);
      beforeCommit?.();
      return true;
    });
  }

  return {
    /**
     * Creates the local administrator `admin` if the instance has no administrator yet, and
     * returns its password (to print once); undefined when nothing was created. `deliver` runs
     * after the insert and before the commit (other instances' inserts wait for it there): the
     * password is in its file before the administrator exists, so that a crash in between cannot
     * leave an administrator whose password nobody was given (a later start would not issue
     * another); if it throws, nothing is created.
     */
    async ensureAdministrator(deliver?: (issued: IssuedPassword) => void): Promise<IssuedPassword | undefined> {
      if (await users.hasAdministrator(store.db)) return undefined;
      const password = generatePassword();
      const issued = { login: BOOTSTRAP_LOGIN, password, endedSessions: 0 };
      const created = await insertAdmin(await hashPassword(password), { kind: 'system' }, deliver && (() => deliver(issued)));
      return created ? issued : undefined;
    },

    /**
     * Deletes the first-start password's file when `admin`'s password is no longer the one in it
     * (changed through another instance, or by a command elsewhere); true when it deleted it.
     * While the file still holds it, the password is marked as generated, so that the console
     * asks for another: an older Roster that generated it kept no mark (migration 023).
     */
    async discardStaleInitialPassword(): Promise<boolean> {
      if (initialPassword === undefined) return false;
      const admin = await users.findByLogin(store.db, BOOTSTRAP_LOGIN);
      const hash = admin === undefined ? null : await users.passwordHashOf(store.db, admin.id);
      const file = await initialPassword.discardIfStale(hash);
      if (file === 'current' && admin !== undefined && hash !== null) await users.markPasswordGenerated(store.db, admin.id, hash);
      return file === 'deleted';
    },

    /** Sets a new random password for an administrator (creating `admin` if it is missing) and returns it. */
    async resetPassword(login: string, actor: Actor): Promise<IssuedPassword> {
      const password = generatePassword();
      const passwordHash = await hashPassword(password);
      if (login.toLowerCase() === BOOTSTRAP_LOGIN && !(await users.findByLogin(store.db, login)) && (await insertAdmin(passwordHash, actor))) {
        initialPassword?.passwordSet(BOOTSTRAP_LOGIN);
        return { login: BOOTSTRAP_LOGIN, password, endedSessions: 0 };
      }
      const changed = await store.db.transaction().execute(async (trx) => {
        const held = await users.findByLogin(trx, login, 'write');
        // Read again once its row is held (PostgreSQL), by a statement of its own: the locking read
        // shows the SCIM link (another table's row) as it was when it began, and an identity
        // provider's create that took the account over meanwhile would be missed: the password
        // would be set, and printed, for an account that signs in through SAML only.
        const user = held === undefined ? undefined : await users.findById(trx, held.id);
        if (!user) throw new DirectoryError('not_found', `No user has the login "${login}".`, 'login');
        if (!user.active) throw new DirectoryError('invalid', deactivatedAdministratorMessage(user.login, user.admin, await isManagedInstance(trx)), 'login');
        if (!(await access.isAdministrator(user.id, trx))) throw new DirectoryError('invalid', `The user "${user.login}" is not an administrator.`, 'login');
        // Password sign-in refuses every account SCIM manages (password-check.ts): a password
        // set here would be printed as working and then refused at the sign-in page.
        if (user.scimId !== null) throw new DirectoryError('precondition', managedAdministratorMessage(user.login), 'login');
        const now = new Date().toISOString();
        await users.setPassword(trx, user.id, passwordHash, 'generated', now);
        // A reset usually follows a forgotten or a suspected stolen password: whoever is signed
        // in with the old one, in a browser or through an application's refresh token, is not
        // any more. API tokens are kept (an integration may run on one; revoke them apart).
        const { deletedSessions } = await deactivation.endSignIns(trx, user.id, 'password_reset');
        await journal.record(trx, actor, { action: 'user.password_reset', targetType: 'user', targetId: user.id, details: { login: user.login, endedSessions: deletedSessions } }, now);
        return { login: user.login, endedSessions: deletedSessions };
      });
      // After the commit: a rolled-back change must not take away the password that still works.
      initialPassword?.passwordSet(changed.login);
      return { login, password, endedSessions: changed.endedSessions };
    },
  };
}

export type Administrators = ReturnType<typeof createAdministrators>;
