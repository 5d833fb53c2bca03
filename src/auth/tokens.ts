/**
 * Bearer tokens for the SCIM and admin APIs. Only a SHA-256 hash of each token is stored:
 * tokens are 256 random bits, so a fast hash is enough (no password stretching needed) and
 * lets `verify` find the row through the unique index on `hash`.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Store } from '../store/index.ts';
import { createTokenQueries, type StoredToken } from '../store/tokens.ts';
import { createUserQueries } from '../store/users.ts';
import type { Actor } from '../journal/actor.ts';
import { createJournal } from '../journal/journal.ts';
import { DirectoryError } from '../errors.ts';
import { isUniqueViolation, optionalWrites } from '../store/errors.ts';
import { caseKey } from '../text.ts';

/** A token as shown to administrators: never the secret, never the hash. */
export interface TokenInfo {
  readonly id: string;
  readonly name: string;
  /** The user the token acts as; null only for tokens issued before tokens had owners. */
  readonly userId: string | null;
  readonly createdAt: string;
  readonly lastUsedAt: string | null;
  readonly revokedAt: string | null;
  /** The login of the user it acts as; null without one (or once that user is gone). Set by `list`. */
  readonly ownerLogin?: string | null;
}

/**
 * The user a verified token acts as. Whether it may call the APIs is not read here: it is
 * `access.isAdministrator`, asked on every request (directory/access.ts).
 */
export interface TokenOwner {
  readonly id: string;
  readonly login: string;
  readonly active: boolean;
  /**
   * Whether the owner is an administrator now, read with the token in one statement by the
   * same SQL condition as `access.isAdministrator` (store/memberships.ts administratorCondition).
   */
  readonly administrator: boolean;
}

/** A live token and its owner (null for a token issued before tokens had owners). */
export interface VerifiedToken {
  readonly token: TokenInfo;
  readonly owner: TokenOwner | null;
}

export interface TokenService {
  /** Issues a token acting as the active user `userId`; the secret is returned once, here, and never stored. */
  create(name: string, actor: Actor, userId: string): Promise<{ token: string; record: TokenInfo }>;
  /** All tokens (or `userId`'s), live and revoked, oldest first (ties by name), with their owner's login. */
  list(userId?: string): Promise<TokenInfo[]>;
  /** Revokes the live token with this name; false when there is none. */
  revoke(name: string, actor: Actor): Promise<boolean>;
  /** The live token matching a presented secret, or undefined. */
  verify(presented: string): Promise<TokenInfo | undefined>;
  /**
   * The live token matching a presented secret with its owner, and whether the owner is an
   * administrator now given the administrators' group `adminGroup` (access.adminGroup), or
   * undefined: one indexed statement.
   */
  authenticate(presented: string, adminGroup: string): Promise<VerifiedToken | undefined>;
  /**
   * authenticate, and the stored texts of the settings `settingKeys` (null for one never set;
   * settings.fromStored reads them), in the same statement: what a SCIM request needs first.
   */
  authenticateReading(
    presented: string,
    adminGroup: string,
    settingKeys: readonly [string, string],
  ): Promise<(VerifiedToken & { readonly settings: readonly [string | null, string | null] }) | undefined>;
}

/** Prefix of every token, so that secret scanners (and people) recognise a leaked one. */
export const TOKEN_PREFIX = 'roster_';

// A Roster token anywhere in a text: the prefix and at least 20 characters of its alphabet.
const TOKEN_TEXT = new RegExp(`${TOKEN_PREFIX}[A-Za-z0-9_-]{20,}`, 'g');

/**
 * `text` with every Roster token in it cut to its prefix (`roster_…`), for what is written where
 * others read: logs and the provisioning activity. A client that puts its token where an id
 * belongs (`GET /Users/roster_…`) has it echoed in the refusal's detail.
 */
export function maskTokens(text: string): string {
  // Skip the regular expression when no token can be in the text (every request passes here).
  return text.includes(TOKEN_PREFIX) ? text.replace(TOKEN_TEXT, `${TOKEN_PREFIX}…`) : text;
}
const SECRET_BYTES = 32;
/** base64url of 32 bytes, unpadded. */
const TOKEN_LENGTH = TOKEN_PREFIX.length + Math.ceil((SECRET_BYTES * 4) / 3);
/** A token name's greatest length (the console's field takes it from here). */
export const MAX_TOKEN_NAME_LENGTH = 100;
/** `last_used_at` is informational; refreshing it once a minute spares a write per request. */
const LAST_USED_RESOLUTION_MS = 60_000;

/** Creates the token service over a store. */
export function createTokenService(store: Store): TokenService {
  const { db } = store;
  const tokens = createTokenQueries();
  const users = createUserQueries(store.dialect);
  const journal = createJournal(store.dialect);

  /** The token row matching a presented secret, found by `find`; undefined when there is none. */
  async function lookUp<F extends { token: StoredToken }>(presented: string, find: (hash: string) => Promise<F | undefined>): Promise<F | undefined> {
    // Cheap shape check first: anything else cannot match and need not reach the database.
    if (presented.length !== TOKEN_LENGTH || !presented.startsWith(TOKEN_PREFIX)) return undefined;
    const hash = hashToken(presented);
    const found = await find(hash);
    if (found === undefined) return undefined;
    // The index lookup already matched; comparing in constant time as well keeps the
    // check independent of how the database compares strings.
    if (!timingSafeEqual(Buffer.from(found.token.hash, 'utf8'), Buffer.from(hash, 'utf8'))) return undefined;
    return found;
  }

  async function authenticate(presented: string, adminGroup: string): Promise<VerifiedToken | undefined> {
    const found = await lookUp(presented, (hash) => tokens.findByHash(db, hash, caseKey(adminGroup)));
    return found === undefined ? undefined : verified(found.token, found.owner);
  }

  // Informational: a database that cannot be written now (read-only, a full disk) must not refuse
  // requests that only read; the request's own statements still meet a database that is down.
  const touch = optionalWrites(LAST_USED_RESOLUTION_MS);

  /** The live token and its owner, `last_used_at` refreshed; undefined when revoked. */
  async function verified(token: StoredToken, owner: VerifiedToken['owner']): Promise<VerifiedToken | undefined> {
    if (token.revokedAt !== null) return undefined;

    const now = Date.now();
    if (token.lastUsedAt === null || now - Date.parse(token.lastUsedAt) >= LAST_USED_RESOLUTION_MS) {
      const at = new Date(now).toISOString();
      const cutoff = new Date(now - LAST_USED_RESOLUTION_MS).toISOString();
      // The condition is repeated in SQL (touchLastUsed) so that concurrent requests (or
      // instances) write once.
      const written = await touch(async () => {
        await tokens.touchLastUsed(db, token.id, at, cutoff);
        return true;
      });
      if (written) return { token: toInfo({ ...token, lastUsedAt: at }), owner };
    }
    return { token: toInfo(token), owner };
  }

  return {
    async authenticateReading(presented, adminGroup, settingKeys) {
      const found = await lookUp(presented, (hash) => tokens.findByHashWithSettings(db, hash, caseKey(adminGroup), settingKeys));
      if (found === undefined) return undefined;
      const live = await verified(found.token, found.owner);
      return live === undefined ? undefined : { ...live, settings: found.settings };
    },
    async create(name, actor, userId) {
      const checkedName = checkName(name);
      const token = TOKEN_PREFIX + randomBytes(SECRET_BYTES).toString('base64url');
      const row: StoredToken = {
        id: randomUUID(),
        name: checkedName,
        userId,
        hash: hashToken(token),
        createdAt: new Date().toISOString(),
        lastUsedAt: null,
        revokedAt: null,
      };
      try {
        await db.transaction().execute(async (trx) => {
          if ((await tokens.findLiveIdByName(trx, checkedName)) !== undefined) throw nameTaken(checkedName);
          const user = await users.activity(trx, userId, 'share');
          if (user === undefined) throw new DirectoryError('not_found', `No user has the id "${userId}".`, 'userId');
          // Deactivation removes a user's tokens; issuing a new one would undo that (locked:
          // one issued while a deactivation commits would escape it).
          if (!user.active) throw new DirectoryError('invalid', `The user "${user.login}" is deactivated.`, 'userId');
          await tokens.insert(trx, row);
          await journal.record(
            trx,
            actor,
            { action: 'token.created', targetType: 'token', targetId: row.id, details: { name: checkedName, userId } },
            row.createdAt,
          );
        });
      } catch (error) {
        // Another process may have taken the name between our check and our insert.
        if (isUniqueViolation(error)) throw nameTaken(checkedName);
        throw error;
      }
      return { token, record: toInfo(row) };
    },

    async list(userId) {
      return (await tokens.list(db, userId)).map((token) => ({ ...toInfo(token), ownerLogin: token.ownerLogin }));
    },

    async revoke(name, actor) {
      // Names are stored trimmed (see checkName), so look them up the same way.
      const key = name.trim();
      return db.transaction().execute(async (trx) => {
        const id = await tokens.findLiveIdByName(trx, key);
        if (id === undefined) return false;
        const at = new Date().toISOString();
        await tokens.revoke(trx, id, at);
        await journal.record(trx, actor, { action: 'token.revoked', targetType: 'token', targetId: id, details: { name: key } }, at);
        return true;
      });
    },

    async verify(presented) {
      // Whether the owner is an administrator does not matter here: any group name will do.
      return (await authenticate(presented, ''))?.token;
    },

    authenticate,
  };
}

/** The stored form of a token: SHA-256, hex. */
function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** What is wrong with a token name, in the words of its refusal; undefined when it is a valid one (the console checks it beside the user). */
export function tokenNameProblem(name: string): string | undefined {
  const trimmed = name.trim();
  if (trimmed.length === 0 || trimmed.length > MAX_TOKEN_NAME_LENGTH) return `A token name must be 1 to ${MAX_TOKEN_NAME_LENGTH} characters long.`;
  // Names appear in logs and audit actors (`token:<name>`); control characters would let a
  // name forge log lines.
  if (/\p{Cc}/u.test(trimmed)) return 'A token name must not contain control characters.';
  return undefined;
}

function checkName(name: string): string {
  const problem = tokenNameProblem(name);
  if (problem !== undefined) throw new DirectoryError('invalid', problem, 'name');
  return name.trim();
}

function nameTaken(name: string): DirectoryError {
  return new DirectoryError('conflict', `A token named "${name}" already exists; revoke it first or choose another name.`, 'name');
}

/** Drops the hash: it is never shown. */
function toInfo(token: StoredToken): TokenInfo {
  return {
    id: token.id,
    name: token.name,
    userId: token.userId,
    createdAt: token.createdAt,
    lastUsedAt: token.lastUsedAt,
    revokedAt: token.revokedAt,
  };
}
