/**
 * The password check of local accounts (such as `admin`), the one rule every password sign-in
 * goes through: only an active local account that SCIM does not manage may use a password, and
 * a hash made with an older, weaker cost is replaced by a current one once the password is
 * known to be right (the only moment Roster holds the plain password).
 */
import { hashPassword, needsRehash, verifyPassword } from '../auth/passwords.ts';
import type { Store } from '../store/index.ts';
import { createUserQueries, type StoredUser } from '../store/users.ts';
import { createJournal } from '../journal/journal.ts';

/**
 * A password found right: the account, and the hash it matched (the current one after a
 * rehash). The session the sign-in opens is bound to that hash (auth/sessions.ts
 * PasswordProof): an account that stops signing in with it before the session opens (linked by
 * the identity provider, its password reset, deactivated) gets none.
 */
export interface VerifiedPassword {
  readonly user: StoredUser;
  readonly passwordHash: string;
}

/** Builds the password check over a store. */
export function createPasswordCheck(store: Store) {
  const users = createUserQueries(store.dialect);
  const journal = createJournal(store.dialect);
  // Compared against when the login is unknown or may not use a password, so that the answer
  // takes as long as for a real account and does not tell which logins exist.
  let decoy: Promise<string> | undefined;

  return {
    /**
     * The account when `password` is right for `login`, undefined otherwise (unknown login,
     * wrong password, deactivated, SAML or SCIM-managed account). Upgrades an outdated hash.
     */
    async verify(login: string, password: string): Promise<VerifiedPassword | undefined> {
      const user = await users.findByLogin(store.db, login);
      const stored = user === undefined ? null : await users.signInPasswordHashOf(store.db, user.id);
      if (!user || stored === null) {
        // Made once; a making refused as busy is tried again by the next check, not kept.
        decoy ??= hashPassword('roster decoy password').catch((error: unknown) => {
          decoy = undefined;
          throw error;
        });
        await verifyPassword(password, await decoy);
        return undefined;
      }
      if (!(await verifyPassword(password, stored))) return undefined;
      if (needsRehash(stored)) {
        const upgraded = await hashPassword(password);
        const replaced = await store.db.transaction().execute(async (trx) => {
          if (!(await users.replacePasswordHash(trx, user.id, stored, upgraded))) return false;
          await journal.record(trx, { kind: 'system' }, { action: 'user.password_rehashed', targetType: 'user', targetId: user.id, details: { login: user.login } });
          return true;
        });
        // Not replaced: a reset came first, and the session will find the hash changed.
        if (replaced) return { user, passwordHash: upgraded };
      }
      return { user, passwordHash: stored };
    },
  };
}

export type PasswordCheck = ReturnType<typeof createPasswordCheck>;
