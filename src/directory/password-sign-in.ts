/**
 * Signing in with a password (local accounts such as `admin`), around the one password check
 * (password-check.ts): the backoff against guessing, the audit trail of every attempt, and
 * what the person is told.
 *
 * Backoff: each login and each client address has an allowance of failed attempts that comes
 * back over a window (PASSWORD_BACKOFF), counted with the generic cell rate algorithm (GCRA):
 * a key holds the instant at which its whole allowance is back (`free_at`), each failure
 * pushes it by window / attempts, and an attempt that would push it more than a window ahead
 * is refused with the time to wait. So 5 failures in a row on a login lock it, one more try
 * comes back every 3 minutes, and all 5 after 15 quiet minutes. The attempt is reserved before
 * the password is checked, in the database, so that parallel guesses on several instances
 * cannot slip past the limit; a success gives the reservation back.
 *
 * What the person is told: a local account gets "login or password incorrect" whatever was
 * wrong (a wrong password, a deactivated account: nothing that would confirm the password).
 * Any other login, unknown ones included, is told to use the SAML button when SAML is
 * configured: so the answer tells an anonymous guesser only whether a login is a local
 * password account, the one thing the form is for, and never whether a SAML or SCIM account
 * exists. Without SAML every refusal reads "login or password incorrect".
 */
import { createHash } from 'node:crypto';
import { isRandomCookieValue, randomCookieValue } from '../auth/cookies.ts';
import type { SamlConfig } from '../auth/saml-config.ts';
import { passwordProof, type PasswordProof } from '../auth/sessions.ts';
import type { Executor } from '../store/executor.ts';
import type { Store } from '../store/index.ts';
import { createKnownBrowserQueries } from '../store/known-browsers.ts';
import { BACKOFF_PURGE_BATCH, createPasswordBackoffQueries } from '../store/password-backoff.ts';
import { createSignInQueries } from '../store/sign-in.ts';
import { inBatches, transact } from '../store/transact.ts';
import { createUserQueries, type StoredUser } from '../store/users.ts';
import { caseKey } from '../text.ts';
import type { Actor } from '../journal/actor.ts';
import { createJournal } from '../journal/journal.ts';
import { hashPassword } from '../auth/passwords.ts';
import { ACCOUNT_LIMITS } from './accounts.ts';
import { createDeactivation } from './deactivation.ts';
import type { InitialPasswordFile } from './initial-password.ts';
import type { PasswordCheck } from './password-check.ts';

const MINUTE_MS = 60_000;
/** Known browsers forgotten per statement by purgeKnownBrowsers. */
const PURGE_BATCH = 1000;

/** How many failed attempts a key may make, and over what window they come back. */
export interface BackoffRule {
  readonly attempts: number;
  readonly windowMs: number;
}

/**
 * Per login: 5 failures, then one more every 3 minutes. Per client address (an IPv6 /64):
 * 10 failures, then one more every 90 seconds, which stops one address from trying a common
 * password on many logins. docs/console.md states these figures.
 */
export const PASSWORD_BACKOFF: { readonly login: BackoffRule; readonly source: BackoffRule } = {
  login: { attempts: 5, windowMs: 15 * MINUTE_MS },
  source: { attempts: 10, windowMs: 15 * MINUTE_MS },
};

/** Shown for every refusal of a local account, whatever was wrong. */
export const INVALID_CREDENTIALS_MESSAGE = 'The login or password is incorrect.';

/** Shown when a login that has no password tries one while SAML is configured. */
export function useSamlMessage(providerName: string): string {
  return `This login has no Roster password: passwords are only for local Roster accounts, such as admin. Everyone else signs in with ${providerName}: use the "Sign in with ${providerName}" button.`;
}

/** Shown while a login or an address must wait. */
/**
 * What is wrong with a new password chosen to replace `current`, by its own rules (length, not
 * the same), in the words of the refusal; undefined when it may be used. The console checks it
 * beside the repeated password, so that a form wrong in both ways says both.
 */
export function newPasswordProblem(current: string, next: string): string | undefined {
  const { min, max } = ACCOUNT_LIMITS.password;
  if (next.length < min || next.length > max) return `The new password must be ${min} to ${max} characters long.`;
  if (next === current) return 'The new password must differ from the current one.';
  return undefined;
}

export function throttledMessage(retryAfterSeconds: number): string {
  const minutes = Math.ceil(retryAfterSeconds / 60);
  const wait = retryAfterSeconds < 60 ? `${retryAfterSeconds} seconds` : minutes === 1 ? 'a minute' : `${minutes} minutes`;
  return `Too many failed sign-in attempts. Try again in ${wait}.`;
}

/** Why a password sign-in was refused (the audit entry's `reason`). */
export type PasswordRefusal = 'throttled' | 'wrong_password' | 'deactivated' | 'unknown_login' | 'no_password';

/** A browser known to an account: the cookie value to (re)set, and until when it holds. */
export interface KnownBrowser {
  readonly value: string;
  readonly expiresAt: Date;
}

/** How long a browser stays known to an account after its last password sign-in there. */
export const KNOWN_BROWSER_DAYS = 90;

export type PasswordSignInResult =
  | {
      readonly ok: true;
      readonly user: StoredUser;
      /** The browser, known to the account from now on. */
      readonly browser: KnownBrowser;
      /** What the session must be opened with (sessions.openIfActive): it opens only while the password still signs in. */
      readonly password: PasswordProof;
    }
  | { readonly ok: false; readonly reason: 'throttled'; readonly message: string; readonly retryAfterSeconds: number }
  | {
      readonly ok: false;
      readonly reason: Exclude<PasswordRefusal, 'throttled'>;
      readonly message: string;
      /** True when the person is told to use the SAML button instead. */
      readonly useSaml: boolean;
    };

/** One attempt: what was typed, and who it counts against (the client address, see http/client.ts). */
export interface PasswordAttempt {
  readonly login: string;
  readonly password: string;
  readonly source: string;
  /** The browser's known-browser cookie, when it sent one (http/known-browser.ts). */
  readonly browser?: string | undefined;
}

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** The keys an attempt counts against: hashes, so that no attacker-chosen text is stored. */
function backoffKeys(login: string, source: string): { login: string; source: string } {
  return { login: sha256(`login:${caseKey(login)}`), source: sha256(`source:${source}`) };
}

/** The stored id of a known-browser cookie value (256 random bits), or undefined for anything else. */
function browserIdOf(value: string | undefined): string | undefined {
  return isRandomCookieValue(value) ? sha256(`browser:${value}`) : undefined;
}

type Reservation = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterMs: number };

/** A change of one's own password: the current one proves it is the account's owner. */
export interface PasswordChange {
  readonly userId: string;
  readonly current: string;
  readonly next: string;
  /** The client address, for the backoff (as for sign-in). */
  readonly source: string;
  /** The stored id of the session the change is made from: it stays open, the user's others end. */
  readonly keepSession?: string;
  /** The browser's known-browser cookie, when it sent one: it stays known, the user's others are forgotten. */
  readonly browser?: string | undefined;
}

export type PasswordChangeResult =
  | { readonly ok: true; /** How many other Roster sessions of the user ended. */ readonly endedSessions: number }
  | { readonly ok: false; readonly field: 'current' | 'next'; readonly message: string };

/**
 * The login an audit entry of a refused attempt names: as typed when it names an account (in
 * whatever case); otherwise only its first character and length. What is typed into the login
 * field of a failed attempt is now and then the password (typed one field early), and the audit
 * log, kept for ever by default and exported, holds no passwords.
 */
function recordedLogin(typed: string, account: { readonly login: string } | undefined): string {
  if (account !== undefined) return typed;
  const characters = [...typed];
  return characters.length === 0 ? '(empty)' : `${characters[0]}… (${characters.length} characters, no such account)`;
}

/**
 * Builds the password sign-in over a store, the password check and the SAML configuration;
 * `initialPassword` is told when a password changes (the first-start file goes with it).
 */
export function createPasswordSignIn(store: Store, passwordCheck: PasswordCheck, samlConfig: () => Promise<SamlConfig | undefined>, initialPassword?: InitialPasswordFile) {
  const users = createUserQueries(store.dialect);
  const backoff = createPasswordBackoffQueries(store.dialect);
  const signIns = createSignInQueries();
  const journal = createJournal(store.dialect);
  const deactivation = createDeactivation(store.dialect);
  const knownBrowsers = createKnownBrowserQueries();

  /**
   * The keys an attempt counts against. A browser that signed in to the account with its
   * password before (OWASP's "device cookie") counts its failures on a key of its own instead
   * of the login's: strangers guessing the login's password, who hold it back, do not hold back
   * its owner's browser. The client address counts for everyone.
   */
  async function attemptKeys(login: string, source: string, browser: string | undefined): Promise<{ keys: { login: string; source: string }; knownBrowser: string | undefined }> {
    const keys = backoffKeys(login, source);
    const browserId = browserIdOf(browser);
    if (browserId === undefined) return { keys, knownBrowser: undefined };
    const account = await users.findByLogin(store.db, login);
    if (account === undefined || !(await knownBrowsers.isKnown(store.db, browserId, account.id, new Date().toISOString()))) return { keys, knownBrowser: undefined };
    return { keys: { ...keys, login: sha256(`known-browser:${browserId}:${account.id}`) }, knownBrowser: browserId };
  }

  /**
   * Knows the browser of a successful sign-in to `userId` for KNOWN_BROWSER_DAYS more: its own
   * cookie when already known to that account, else a new one (a value the browser brought
   * unknown may have been planted by someone who would then share its allowance).
   */
  async function rememberBrowser(trx: Executor, userId: string, presented: string | undefined, knownBrowser: string | undefined, now: Date): Promise<KnownBrowser> {
    const value = knownBrowser !== undefined && presented !== undefined ? presented : randomCookieValue();
    const expiresAt = new Date(now.getTime() + KNOWN_BROWSER_DAYS * 24 * 60 * MINUTE_MS);
    await knownBrowsers.remember(trx, browserIdOf(value) ?? '', userId, expiresAt.toISOString());
    return { value, expiresAt };
  }

  /** Reserves one failure on both keys, or says how long to wait; nothing is written when refused. */
  async function reserve(keys: { login: string; source: string }, now: number): Promise<Reservation> {
    const decision = await transact(store.db, async (trx): Promise<Reservation> => {
      const freeAt = await backoff.lock(trx, [keys.login, keys.source], new Date(now).toISOString());
      const next: Array<[string, number]> = [];
      let wait = 0;
      for (const [key, rule] of [[keys.login, PASSWORD_BACKOFF.login], [keys.source, PASSWORD_BACKOFF.source]] as const) {
        const interval = rule.windowMs / rule.attempts;
        const pushed = Math.max(Date.parse(freeAt.get(key) ?? ''), now) + interval;
        if (pushed - now > rule.windowMs) wait = Math.max(wait, pushed - rule.windowMs - now);
        next.push([key, pushed]);
      }
      if (wait > 0) return { allowed: false, retryAfterMs: wait };
      for (const [key, pushed] of next) await backoff.set(trx, key, new Date(pushed).toISOString());
      return { allowed: true };
    });
    // Keys whose allowance is whole again mean nothing: forget a few, outside the reservation.
    await backoff.purge(store.db, new Date(now).toISOString());
    return decision;
  }

  /** Gives a successful attempt's reservation back: the login starts afresh, the address gets one attempt back. */
  async function release(trx: Executor, keys: { login: string; source: string }, now: number): Promise<void> {
    await backoff.remove(trx, keys.login);
    const freeAt = (await backoff.lock(trx, [keys.source], new Date(now).toISOString())).get(keys.source);
    const interval = PASSWORD_BACKOFF.source.windowMs / PASSWORD_BACKOFF.source.attempts;
    const back = Date.parse(freeAt ?? '') - interval;
    if (!(back > now)) await backoff.remove(trx, keys.source);
    else await backoff.set(trx, keys.source, new Date(back).toISOString());
  }

  return {
    /**
     * Checks a login and password under the backoff; audits the outcome (refusals within the
     * anonymous audit budget of `source`). The caller opens the session on success.
     */
    async signIn(attempt: PasswordAttempt): Promise<PasswordSignInResult> {
      const { keys, knownBrowser } = await attemptKeys(attempt.login, attempt.source, attempt.browser);
      // Said in the audit entries, so that an administrator sees whose attempts were counted apart.
      const fromKnownBrowser = knownBrowser !== undefined ? { knownBrowser: true } : {};
      const reservation = await reserve(keys, Date.now());
      if (!reservation.allowed) {
        const actor: Actor = { kind: 'password', login: recordedLogin(attempt.login, await users.findByLogin(store.db, attempt.login)) };
        const retryAfterSeconds = Math.max(1, Math.ceil(reservation.retryAfterMs / 1000));
        await transact(store.db, async (trx) => {
          await journal.recordBudgeted(trx, attempt.source, actor, {
            action: 'session.password_refused',
            targetType: 'user',
            targetId: null,
            details: { reason: 'throttled', login: actor.login, retryAfterSeconds, ...fromKnownBrowser },
          });
        });
        return { ok: false, reason: 'throttled', message: throttledMessage(retryAfterSeconds), retryAfterSeconds };
      }

      const verified = await passwordCheck.verify(attempt.login, attempt.password);
      const actor: Actor = { kind: 'password', login: attempt.login };
      if (verified !== undefined) {
        const { user } = verified;
        const browser = await transact(store.db, async (trx) => {
          const now = new Date();
          await release(trx, keys, now.getTime());
          await signIns.touchLastConnection(trx, user.id, now.toISOString());
          await journal.record(trx, { ...actor, user: user.login }, { action: 'session.password_sign_in', targetType: 'user', targetId: user.id, details: { login: user.login, ...fromKnownBrowser } }, now.toISOString());
          return rememberBrowser(trx, user.id, attempt.browser, knownBrowser, now);
        });
        return { ok: true, user, browser, password: passwordProof(verified.passwordHash) };
      }

      const known = await users.findByLogin(store.db, attempt.login);
      const passwordAccount = known !== undefined && known.local && known.scimId === null;
      const reason: Exclude<PasswordRefusal, 'throttled'> =
        known === undefined ? 'unknown_login' : !passwordAccount ? 'no_password' : !known.active ? 'deactivated' : 'wrong_password';
      const login = recordedLogin(attempt.login, known);
      await transact(store.db, async (trx) => {
        await journal.recordBudgeted(trx, attempt.source, { kind: 'password', login }, {
          action: 'session.password_refused',
          targetType: 'user',
          targetId: known?.id ?? null,
          details: { reason, login, ...fromKnownBrowser },
        });
      });
      const saml = passwordAccount ? undefined : await samlConfig();
      return saml === undefined
        ? { ok: false, reason, message: INVALID_CREDENTIALS_MESSAGE, useSaml: false }
        : { ok: false, reason, message: useSamlMessage(saml.providerName), useSaml: true };
    },

    /**
     * Changes the password of a signed-in local account. The current password is checked under
     * the same backoff as sign-in (a stolen session must not become a guessing oracle); the new
     * one must be ACCOUNT_LIMITS.password long and differ from it.
     */
    async changePassword(change: PasswordChange): Promise<PasswordChangeResult> {
      const user = await users.findById(store.db, change.userId);
      if (user === undefined || !user.local || user.scimId !== null) return { ok: false, field: 'current', message: 'Only local accounts have a password in Roster.' };
      // The new password's own rules first: they need no check of the current one, so a refused
      // new password uses none of the login's allowance (it used to, and five too-short tries
      // locked the account out of sign-in).
      const problem = newPasswordProblem(change.current, change.next);
      if (problem !== undefined) return { ok: false, field: 'next', message: problem };
      const { keys, knownBrowser } = await attemptKeys(user.login, change.source, change.browser);
      const reservation = await reserve(keys, Date.now());
      if (!reservation.allowed) return { ok: false, field: 'current', message: throttledMessage(Math.max(1, Math.ceil(reservation.retryAfterMs / 1000))) };
      const actor: Actor = { kind: 'session', userId: user.id, login: user.login };
      const verified = await passwordCheck.verify(user.login, change.current);
      if (verified?.user.id !== user.id) {
        await transact(store.db, async (trx) => {
          await journal.record(trx, actor, { action: 'user.password_change_refused', targetType: 'user', targetId: user.id, details: { login: user.login, reason: 'wrong_password' } });
        });
        return { ok: false, field: 'current', message: 'The current password is incorrect.' };
      }
      const hash = await hashPassword(change.next);
      const endedSessions = await transact(store.db, async (trx) => {
        const now = new Date();
        await release(trx, keys, now.getTime());
        await users.setPassword(trx, user.id, hash, 'chosen', now.toISOString());
        // Whoever else holds the account (a session or an application's refresh token obtained
        // with the old password, perhaps stolen) loses it with the old password; this browser
        // stays signed in, and its applications sign it in again without a question.
        const { deletedSessions } = await deactivation.endSignIns(trx, user.id, 'password_changed', { session: change.keepSession, browser: knownBrowser });
        await journal.record(trx, actor, { action: 'user.password_changed', targetType: 'user', targetId: user.id, details: { login: user.login, endedSessions: deletedSessions } }, now.toISOString());
        return deletedSessions;
      });
      initialPassword?.passwordSet(user.login);
      return { ok: true, endedSessions };
    },

    /**
     * Whether the user signs in with a password Roster generated (the first start's `admin`,
     * `roster admin reset-password`, `roster users create`) and has not chosen another since:
     * the console then asks them to. Only accounts that sign in with a password can be: a
     * SAML account has none, and one SCIM manages signs in through SAML.
     */
    async signsInWithGeneratedPassword(user: { readonly id: string; readonly local: boolean; readonly managed: boolean }): Promise<boolean> {
      if (!user.local || user.managed) return false;
      return users.hasGeneratedPassword(store.db, user.id);
    },

    /** Forgets browsers whose last sign-in is KNOWN_BROWSER_DAYS old (a batch at a time); returns how many. */
    async purgeKnownBrowsers(): Promise<number> {
      const now = new Date().toISOString();
      return inBatches(store.db, PURGE_BATCH, (trx) => knownBrowsers.purgeExpired(trx, now, PURGE_BATCH));
    },

    /**
     * Forgets every key whose allowance is whole again (a batch at a time); returns how many.
     * Each attempt forgets a few too, but after a burst of wrong passwords with no attempt
     * since, only this deletes the rest.
     */
    async purgeBackoff(): Promise<number> {
      const now = new Date().toISOString();
      return inBatches(store.db, BACKOFF_PURGE_BATCH, (trx) => backoff.purge(trx, now));
    },

    /** Gives a login its whole allowance back (an administrator has just set its password). */
    async clearLogin(login: string): Promise<void> {
      await backoff.remove(store.db, backoffKeys(login, '').login);
    },
  };
}

export type PasswordSignIn = ReturnType<typeof createPasswordSignIn>;
