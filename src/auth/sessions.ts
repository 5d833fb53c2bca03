/**
 * Browser sessions after a SAML sign-in, kept server-side in the `sessions` table so that
 * every instance accepts them and a sign-out or deactivation ends them everywhere. The cookie
 * holds 256 random bits; only their SHA-256 is stored, so a copy of the database opens no
 * session. A session ends at the first of: its idle expiry, its absolute expiry, sign-out,
 * its user no longer being active, or its user's rights changing (becoming an administrator, or
 * no longer being one; see find).
 */
import { createHash } from 'node:crypto';
import type { Actor } from '../journal/actor.ts';
import { createJournal } from '../journal/journal.ts';
import type { Transaction } from 'kysely';
import { optionalWrites, type Database, type Store } from '../store/index.ts';
import { inBatches } from '../store/transact.ts';
import { cookieValue, isRandomCookieValue, randomCookieValue } from './cookies.ts';
import { endApplicationSignIns, endBrowserSignIns } from './application-logouts.ts';
import { createSessionQueries } from '../store/sessions.ts';
import { createUserQueries } from '../store/users.ts';
import { createMembershipQueries } from '../store/memberships.ts';
import { caseKey } from '../text.ts';
import { DirectoryError } from '../errors.ts';
import { deleteSessionsOf } from '../store/user-credentials.ts';

/**
 * The session cookie's name. On https without ROSTER_COOKIE_DOMAIN it carries the `__Host-`
 * prefix (RFC 6265bis §4.1.3.2): browsers accept such a cookie only from this very host, Secure,
 * with Path=/ and no Domain, so a page on a sibling host (app.example.com beside
 * roster.example.com) cannot plant its own session cookie ahead of the user's. With a cookie
 * domain the cookie must reach the hosts under it, which the prefix forbids: those hosts are
 * trusted by that setting.
 */
function sessionCookieName(options: { readonly secure: boolean; readonly domain?: string | undefined }): string {
  return options.secure && options.domain === undefined ? '__Host-roster_session' : 'roster_session';
}

export interface SessionPolicy {
  /** A session unused for this long ends. */
  readonly idleMs: number;
  /** A session ends this long after sign-in, however busy. */
  readonly absoluteMs: number;
}

/** oidc-provider's cookie naming the browser's provider session (its default name). */
const PROVIDER_SESSION_COOKIE = '_session';

/** Eight idle hours cover a working day; a week bounds how long a stolen cookie could live. */
const DEFAULT_SESSION_POLICY: SessionPolicy = { idleMs: 8 * 60 * 60 * 1000, absoluteMs: 7 * 24 * 60 * 60 * 1000 };
/** last_seen_at is refreshed at most this often, sparing a write per request. */
const TOUCH_RESOLUTION_MS = 60_000;
/** The most sessions "My account" lists; a user rarely has more than a few. */
const MAX_LISTED = 50;
/** Longest address and browser description stored: they are for display, and come from the client. */
const MAX_ORIGIN_TEXT = 100;

/** Where a session signed in from, for its user's session list: display only, never trusted. */
export interface SessionOrigin {
  /** The client address, as the console counts clients (client.ts auditSource). */
  readonly address: string;
  /** A short description of the browser ("Firefox on Linux"). */
  readonly browser: string;
}

/** A live session of a user, as "My account" lists it. */
export interface SessionSummary {
  /**
   * Names the session in forms ("End"): derived one way from the stored id, which is itself a
   * hash of the cookie, so the page shows nothing that could open the session.
   */
  readonly handle: string;
  readonly createdAt: string;
  readonly lastSeenAt: string;
  /** When it ends unless used: the earlier of its idle and absolute expiry. */
  readonly expiresAt: string;
  /** Whether it is the session of the cookie the list was asked with. */
  readonly current: boolean;
  /** Where it signed in from; null for sessions opened before Roster recorded it. */
  readonly address: string | null;
  readonly browser: string | null;
}

/** The signed-in user behind a session. */
export interface SessionInfo {
  readonly userId: string;
  /** The user's login, name and email, read with the session (forward auth needs no other lookup). */
  readonly login: string;
  readonly name: string | null;
  readonly email: string | null;
  readonly createdAt: string;
  readonly expiresAt: string;
}

/**
 * What a password sign-in proved: which stored hash the password matched
 * (directory/password-check.ts), as a digest of it, so that the proof, handed up to the page
 * that opens the session, carries nothing of the hash. Checked again as the session opens, so
 * that a change between the check and the session (the identity provider taking the account
 * over, a password reset) is not outlived by it.
 */
export interface PasswordProof {
  readonly matched: string;
}

/** The proof of a password that matched the stored hash `passwordHash`. */
export function passwordProof(passwordHash: string): PasswordProof {
  return { matched: createHash('sha256').update(passwordHash, 'utf8').digest('base64url') };
}

export interface Sessions {
  /** How long sessions live. */
  readonly policy: SessionPolicy;
  /**
   * Opens a session for `userId`, noting where from; returns the cookie value (shown once, never
   * stored). `endsBy` brings its absolute expiry forward (the IdP's SessionNotOnOrAfter), never later.
   * Throws DirectoryError `forbidden` (DEACTIVATED_WHILE_SIGNING_IN) when the user is no longer
   * active: deactivated since its sign-in was checked.
   */
  open(userId: string, origin?: SessionOrigin, endsBy?: Date | null): Promise<{ value: string; expiresAt: Date }>;
  /**
   * `open` for a sign-in: undefined instead of DEACTIVATED_WHILE_SIGNING_IN, for the page to
   * refuse with. With `password` (a password sign-in), also undefined unless that password still
   * signs the user in (CHANGED_WHILE_SIGNING_IN).
   */
  openIfActive(userId: string, origin?: SessionOrigin, endsBy?: Date | null, password?: PasswordProof): Promise<{ value: string; expiresAt: Date } | undefined>;
  /**
   * openIfActive inside a sign-in's own transaction `trx`, so that the session commits with the
   * decision that let the user in (directory/sign-in.ts: a SAML sign-in holds the provisioning
   * switch until then); undefined when the user is no longer active.
   */
  openWithin(trx: Transaction<Database>, userId: string, origin?: SessionOrigin, endsBy?: Date | null): Promise<{ value: string; expiresAt: Date } | undefined>;
  /** The live session behind a cookie value, or undefined; refreshes its idle expiry. */
  find(value: string): Promise<SessionInfo | undefined>;
  /** Ends the session behind a cookie value (sign-out); a no-op when there is none. */
  close(value: string): Promise<void>;
  /** Ends every session of a user (deactivation). */
  closeAllOf(userId: string): Promise<number>;
  /**
   * Signs out: ends the session behind a cookie value and audits `session.signed_out` by its
   * holder (whatever the path: the console, SAML's sign-out, an application's logout); false
   * when it had already ended. With `cookieHeader` (the console's and SAML's sign-out), the
   * OpenID provider's session of the same browser ends with it, in the same transaction, and
   * each application it signed in to is sent a back-channel logout.
   */
  signOut(value: string, cookieHeader?: string): Promise<boolean>;
  /**
   * The id a session is stored under: no credential, it names the session so that `replaced`
   * can end it later, or a password change can keep it while the user's others end.
   */
  idOf(value: string): string;
  /**
   * Ends the session stored under `id`, which a new sign-in of `userId` in the same browser
   * replaces: quietly when it was `userId`'s own, audited as its holder's sign-out
   * (`session.signed_out`) when it was someone else's; false when it had already ended.
   */
  replaced(id: string, userId: string): Promise<boolean>;
  /**
   * "Sign out everywhere": ends every session of a user, and everything applications hold for it
   * through OpenID Connect (grants, refresh and access tokens: a stolen session could have
   * obtained some), and audits `session.signed_out_everywhere`; returns how many sessions ended.
   */
  signOutEverywhere(userId: string, actor: Actor): Promise<number>;
  /**
   * Ends the one session of `userId` whose handle (SessionSummary.handle) is `handle`, audited as
   * `session.ended` by `actor` (its holder or an administrator); false when `userId` has no such
   * session, whoever else's it may be. What applications hold through OpenID Connect stays:
   * grants are the user's, not one session's.
   */
  endOne(userId: string, handle: string, actor: Actor): Promise<boolean>;
  /** The handle of the session behind a cookie value (to tell the current one in a form). */
  handleOf(value: string): string;
  /**
   * Deletes the sessions that have ended (expired, or idle past the policy) and were never
   * presented again, which is when a session is otherwise deleted; returns how many.
   */
  purgeEnded(): Promise<number>;
  /** The live sessions of a user, most recently used first (at most 50), marking the one of `currentValue`. */
  listOf(userId: string, currentValue?: string): Promise<SessionSummary[]>;
  /** The session cookie's name: `__Host-roster_session` on https without a cookie domain, else `roster_session`. */
  readonly cookieName: string;
  /** The session cookie's value in a Cookie header, if the browser sent one (see sessionCookieName). */
  presented(cookieHeader: string | undefined): string | undefined;
  /**
   * The Set-Cookie values of a new session: its cookie (Secure when the base URL is https), and
   * the deletion of a cookie left under the other name (see otherName).
   */
  cookie(value: string, expiresAt: Date): string[];
  /** The Set-Cookie values that delete the session cookie, under either name. */
  clearCookie(): string[];
}

/** Sessions deleted per statement by purgeEnded, so that no statement nears the query deadline. */
const PURGE_BATCH = 1000;

/** Why a sign-in that passed its checks opened no session: the user was deactivated meanwhile. */
export const DEACTIVATED_WHILE_SIGNING_IN = 'Your Roster account was deactivated while you were signing in, so no session was opened. Please contact your administrator.';

/** Why a password sign-in that passed its checks opened no session: the account changed meanwhile. */
export const CHANGED_WHILE_SIGNING_IN =
  'Your Roster account changed while you were signing in (it was deactivated, its password was reset, or your identity provider now manages it), so no session was opened. Sign in again.';

/**
 * Creates the session service; `adminGroup` is ROSTER_ADMIN_GROUP (access.adminGroup), which
 * decides who is an administrator; `secure` adds the Secure attribute (base URL is https), `domain`
 * the Domain attribute (ROSTER_COOKIE_DOMAIN), which sends the cookie to every host under it
 * too: the applications that forward auth protects read the session there.
 */
export function createSessions(store: Store, options: { secure: boolean; domain?: string | undefined; policy?: SessionPolicy; adminGroup: string }): Sessions {
  const policy = options.policy ?? DEFAULT_SESSION_POLICY;
  const { db } = store;
  const sessions = createSessionQueries();
  const users = createUserQueries(store.dialect);
  const memberships = createMembershipQueries(store.dialect);
  // ROSTER_ADMIN_GROUP (access.adminGroup): administrators are decided by the same rule as every admin check.
  const { adminGroup } = options;
  const adminGroupKey = caseKey(adminGroup);
  const journal = createJournal(store.dialect);
  // Last-seen times and the deletion of ended sessions: a full disk or a read-only database must
  // not sign everyone out of the console and of the applications behind forward auth.
  const bookkeeping = optionalWrites(TOUCH_RESOLUTION_MS);
  const name = sessionCookieName(options);
  const attributes = ['Path=/', 'HttpOnly', 'SameSite=Lax', ...(options.secure ? ['Secure'] : []), ...(options.domain !== undefined ? [`Domain=${options.domain}`] : [])];
  const deletion = ['Expires=Thu, 01 Jan 1970 00:00:00 GMT', 'Max-Age=0'];
  // The cookie a browser may still hold under the other name, never read: the host-only
  // `roster_session` of a version without the prefix, or the `__Host-` one from before
  // ROSTER_COOKIE_DOMAIN was set (which would sign the browser in again, as whoever it was, were
  // the setting removed). Deleted whenever a session starts or ends; only https can have had both
  // names. A `roster_session` set with a Domain no longer configured cannot be named, and lives
  // until it expires.
  const otherName = name === 'roster_session' ? '__Host-roster_session' : 'roster_session';
  const otherDeleted = options.secure ? [[`${otherName}=`, 'Path=/', 'HttpOnly', 'SameSite=Lax', 'Secure', ...deletion].join('; ')] : [];

  /** Ends a session, audited as a sign-out by its holder unless it was `quietFor`'s own; false when it had already ended. */
  function endSession(id: string, quietFor: string | undefined, providerSessionId?: string): Promise<boolean> {
    return db.transaction().execute(async (trx) => {
      const session = await sessions.find(trx, id, adminGroupKey);
      if (session === undefined || !(await sessions.deleteOne(trx, id))) return false;
      if (providerSessionId !== undefined) await endBrowserSignIns(trx, session.userId, providerSessionId);
      if (session.userId === quietFor) return true;
      const holder: Actor = { kind: 'session', userId: session.userId, login: session.userLogin };
      await journal.record(trx, holder, { action: 'session.signed_out', targetType: 'user', targetId: session.userId });
      return true;
    });
  }

  /**
   * Ends a session whose user's rights changed since it opened (see find), audited as
   * `session.ended` by the system; the request that presented it is refused either way, even
   * when the database cannot be written.
   */
  function endForChangedRights(id: string, userId: string, administrator: boolean, signedInAt: string): Promise<void> {
    return db.transaction().execute(async (trx) => {
      // Once only, however many requests presented the session at the same time.
      if (!(await sessions.deleteOne(trx, id))) return;
      const details = { signedInAt, reason: administrator ? 'became_administrator' : 'no_longer_administrator' };
      await journal.record(trx, { kind: 'system' }, { action: 'session.ended', targetType: 'user', targetId: userId, details });
    });
  }

  /** Opens a session in `trx` unless the user is no longer active (see Sessions.open). */
  async function openIn(trx: Transaction<Database>, userId: string, origin?: SessionOrigin, endsBy?: Date | null, password?: PasswordProof): Promise<{ value: string; expiresAt: Date } | undefined> {
    const value = randomCookieValue();
    const now = new Date();
    const absoluteEnd = now.getTime() + policy.absoluteMs;
    const expiresAt = new Date(endsBy === undefined || endsBy === null ? absoluteEnd : Math.min(absoluteEnd, endsBy.getTime()));
    // The sign-in checked the user in a statement of its own: a deactivation may have committed
    // since, or be committing, having ended every session but this one. The share lock waits
    // for it and then sees it (users.activity says why).
    if ((await users.activity(trx, userId, 'share'))?.active !== true) return undefined;
    // Read once the row is held, by a statement of its own, so that it sees a SCIM link committed
    // meanwhile (the link is another table's row; the account changes hands then and its
    // sessions end: docs/managed-mode.md), or a password reset, which ends the sessions of the
    // old password. Either committed after the password was checked would not end this one.
    if (password !== undefined) {
      const current = await users.signInPasswordHashOf(trx, userId);
      if (current === null || passwordProof(current).matched !== password.matched) return undefined;
    }
    // The rights the session is issued with: find ends it once they differ.
    const administrator = await memberships.isAdministrator(trx, userId, adminGroup);
    await sessions.insert(trx, {
      administrator,
      id: hashSession(value),
      userId,
      createdAt: now.toISOString(),
      expiresAt: expiresAt.toISOString(),
      address: origin === undefined ? null : origin.address.slice(0, MAX_ORIGIN_TEXT),
      browser: origin === undefined ? null : origin.browser.slice(0, MAX_ORIGIN_TEXT),
    });
    return { value, expiresAt };
  }

  /** Opens a session in a transaction of its own unless the user is no longer active (see Sessions.open). */
  function openIfActive(userId: string, origin?: SessionOrigin, endsBy?: Date | null, password?: PasswordProof): Promise<{ value: string; expiresAt: Date } | undefined> {
    return db.transaction().execute((trx) => openIn(trx, userId, origin, endsBy, password));
  }

  return {
    policy,
    cookieName: name,

    async open(userId, origin, endsBy) {
      const session = await openIfActive(userId, origin, endsBy);
      if (session === undefined) throw new DirectoryError('forbidden', DEACTIVATED_WHILE_SIGNING_IN);
      return session;
    },

    openIfActive,
    openWithin: (trx, userId, origin, endsBy) => openIn(trx, userId, origin, endsBy),

    async find(value) {
      if (!isRandomCookieValue(value)) return undefined;
      const id = hashSession(value);
      const session = await sessions.find(db, id, adminGroupKey);
      if (session === undefined) return undefined;
      const now = Date.now();
      const idleExpired = Date.parse(session.lastSeenAt) + policy.idleMs <= now;
      const expired = Date.parse(session.expiresAt) <= now;
      if (idleExpired || expired || !session.userActive) {
        // A deactivated user's sessions go too, even if deactivation left a row behind. The
        // session is refused either way: a database that cannot be written leaves the row to the
        // next look or to the periodic purge.
        await bookkeeping(async () => {
          if (session.userActive) await sessions.delete(db, id);
          else await deleteSessionsOf(db, session.userId);
        });
        return undefined;
      }
      if (session.issuedToAdministrator === null) {
        // Opened before Roster recorded rights (migration 026): the rights of its user now are its baseline.
        await bookkeeping(() => sessions.recordRights(db, id, session.administratorNow));
      } else if (session.issuedToAdministrator !== session.administratorNow) {
        // OWASP: renew the session id at every change of privilege level. Its user became an
        // administrator, or stopped being one, by whatever path (a flag set in the console, the
        // API or the CLI; the administrators' group joined, left, renamed or deleted, through
        // SCIM too; ROSTER_ADMIN_GROUP changed), so the id no longer names the rights it was
        // issued with. The session ends rather than being given a new id at its next request:
        // that request may come from whoever else saw the old id (an application under
        // ROSTER_COOKIE_DOMAIN receives the cookie), who would be handed the new one. A new id
        // comes only from a new sign-in, which proves who the user is. Compared here, on every
        // use, from what the session's row holds, every instance sharing the database ends it
        // alike and no change of rights can be missed, whatever made it.
        await bookkeeping(() => endForChangedRights(id, session.userId, session.administratorNow, session.createdAt));
        return undefined;
      }
      if (now - Date.parse(session.lastSeenAt) >= TOUCH_RESOLUTION_MS) {
        await bookkeeping(() => sessions.touch(db, id, new Date(now).toISOString()));
      }
      return { userId: session.userId, login: session.userLogin, name: session.userName, email: session.userEmail, createdAt: session.createdAt, expiresAt: session.expiresAt };
    },

    async close(value) {
      await sessions.delete(db, hashSession(value));
    },

    async closeAllOf(userId) {
      return deleteSessionsOf(db, userId);
    },

    async signOut(value, cookieHeader) {
      // The provider's session cookie (oidc-provider's `_session`, on path /): only a session of
      // the same user ends (takeSession), so a cookie planted by another page ends nobody else's.
      const providerSessionId = cookieHeader === undefined ? undefined : cookieValue(cookieHeader, PROVIDER_SESSION_COOKIE);
      return endSession(hashSession(value), undefined, providerSessionId);
    },

    idOf: hashSession,

    async replaced(id, userId) {
      return endSession(id, userId);
    },

    async signOutEverywhere(userId, actor) {
      return db.transaction().execute(async (trx) => {
        const ended = await deleteSessionsOf(trx, userId);
        const { rows: applicationRows } = await endApplicationSignIns(trx, userId, 'signed_out_everywhere');
        await journal.record(trx, actor, { action: 'session.signed_out_everywhere', targetType: 'user', targetId: userId, details: { sessions: ended, applicationRows } });
        return ended;
      });
    },

    async endOne(userId, handle, actor) {
      return db.transaction().execute(async (trx) => {
        const id = (await sessions.idsOf(trx, userId)).find((candidate) => handleOfId(candidate) === handle);
        if (id === undefined) return false;
        const session = await sessions.find(trx, id, adminGroupKey);
        if (session === undefined || !(await sessions.deleteOne(trx, id))) return false;
        await journal.record(trx, actor, { action: 'session.ended', targetType: 'user', targetId: userId, details: { signedInAt: session.createdAt } });
        return true;
      });
    },

    handleOf(value) {
      return handleOfId(hashSession(value));
    },

    async purgeEnded() {
      const now = Date.now();
      return inBatches(db, PURGE_BATCH, (trx) => sessions.purgeEnded(trx, new Date(now).toISOString(), new Date(now - policy.idleMs).toISOString(), PURGE_BATCH));
    },

    async listOf(userId, currentValue) {
      const now = Date.now();
      const current = currentValue === undefined ? undefined : hashSession(currentValue);
      const rows = await sessions.listLiveOf(db, userId, new Date(now).toISOString(), new Date(now - policy.idleMs).toISOString(), MAX_LISTED);
      return rows.map((row) => {
        const idleEnd = Date.parse(row.lastSeenAt) + policy.idleMs;
        const expiresAt = Math.min(idleEnd, Date.parse(row.expiresAt));
        return {
          handle: handleOfId(row.id),
          createdAt: row.createdAt,
          lastSeenAt: row.lastSeenAt,
          expiresAt: new Date(expiresAt).toISOString(),
          current: row.id === current,
          address: row.address,
          browser: row.browser,
        };
      });
    },

    presented(cookieHeader) {
      return cookieValue(cookieHeader, name);
    },

    cookie(value, expiresAt) {
      return [[`${name}=${value}`, ...attributes, `Expires=${expiresAt.toUTCString()}`].join('; '), ...otherDeleted];
    },

    clearCookie() {
      return [[`${name}=`, ...attributes, ...deletion].join('; '), ...otherDeleted];
    },
  };
}

function hashSession(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** A session's handle: 128 bits of a second, domain-separated hash of its stored id. */
function handleOfId(id: string): string {
  return createHash('sha256').update(`roster session handle\0${id}`).digest('hex').slice(0, 32);
}
