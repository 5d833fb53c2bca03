/**
 * Bearer tokens for the SCIM and admin APIs. Only a SHA-256 hash of each token is stored:
 * tokens are 256 random bits, so a fast hash is enough (no password stretching needed) and
 * lets `verify` find the row through the unique index on `hash`.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { Store } from '../store/index.ts';
import type { TokensTable } from '../store/tables.ts';
import { recordEvent, type Actor } from '../directory/audit.ts';
import { DirectoryError } from '../directory/errors.ts';
import { isUniqueViolation } from '../store/errors.ts';

/** A token as shown to administrators: never the secret, never the hash. */
export interface TokenInfo {
  readonly id: string;
  readonly name: string;
  /** The user the token acts as; null only for tokens issued before tokens had owners. */
  readonly userId: string | null;
  readonly createdAt: string;
  readonly lastUsedAt: string | null;
  readonly revokedAt: string | null;
}

/** The user a verified token acts as: whether it may call the APIs depends on it. */
export interface TokenOwner {
  readonly id: string;
  readonly login: string;
  readonly active: boolean;
  readonly admin: boolean;
}

/** A live token and its owner (null for a token issued before tokens had owners). */
export interface VerifiedToken {
  readonly token: TokenInfo;
  readonly owner: TokenOwner | null;
}

export interface TokenService {
  /** Issues a token acting as the active user `userId`; the secret is returned once, here, and never stored. */
  create(name: string, actor: Actor, userId: string): Promise<{ token: string; record: TokenInfo }>;
  /** All tokens, live and revoked, oldest first (ties by name). */
  list(): Promise<TokenInfo[]>;
  /** Revokes the live token with this name; false when there is none. */
  revoke(name: string, actor: Actor): Promise<boolean>;
  /** The live token matching a presented secret, or undefined. */
  verify(presented: string): Promise<TokenInfo | undefined>;
  /** The live token matching a presented secret with its owner, or undefined (one indexed join). */
  authenticate(presented: string): Promise<VerifiedToken | undefined>;
}

/** Prefix of every token, so that secret scanners (and people) recognise a leaked one. */
export const TOKEN_PREFIX = 'roster_';
const SECRET_BYTES = 32;
/** base64url of 32 bytes, unpadded. */
const TOKEN_LENGTH = TOKEN_PREFIX.length + Math.ceil((SECRET_BYTES * 4) / 3);
const MAX_NAME_LENGTH = 100;
/** `last_used_at` is informational; refreshing it once a minute spares a write per request. */
const LAST_USED_RESOLUTION_MS = 60_000;

/** Creates the token service over a store. */
export function createTokenService(store: Store): TokenService {
  const { db } = store;

  async function authenticate(presented: string): Promise<VerifiedToken | undefined> {
    // Cheap shape check first: anything else cannot match and need not reach the database.
    if (presented.length !== TOKEN_LENGTH || !presented.startsWith(TOKEN_PREFIX)) return undefined;
    const hash = hashToken(presented);
    const row = await db
      .selectFrom('tokens as t')
      .leftJoin('users as u', 'u.id', 't.user_id')
      .selectAll('t')
      .select(['u.login as owner_login', 'u.active as owner_active', 'u.is_admin as owner_admin'])
      .where('t.hash', '=', hash)
      .executeTakeFirst();
    if (row === undefined) return undefined;
    // The index lookup already matched; comparing in constant time as well keeps the
    // check independent of how the database compares strings.
    if (!timingSafeEqual(Buffer.from(row.hash, 'utf8'), Buffer.from(hash, 'utf8'))) return undefined;
    if (row.revoked_at !== null) return undefined;
    const { owner_login: login, owner_active: active, owner_admin: admin, ...tokenRow } = row;
    const owner = row.user_id !== null && login !== null ? { id: row.user_id, login, active: active === 1, admin: admin === 1 } : null;

    const now = Date.now();
    if (row.last_used_at === null || now - Date.parse(row.last_used_at) >= LAST_USED_RESOLUTION_MS) {
      const at = new Date(now).toISOString();
      const cutoff = new Date(now - LAST_USED_RESOLUTION_MS).toISOString();
      // The condition is repeated in SQL so that concurrent requests (or instances) write once.
      await db
        .updateTable('tokens')
        .set({ last_used_at: at })
        .where('id', '=', row.id)
        .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<=', cutoff)]))
        .execute();
      return { token: toInfo({ ...tokenRow, last_used_at: at }), owner };
    }
    return { token: toInfo(tokenRow), owner };
  }

  return {
    async create(name, actor, userId) {
      const checkedName = checkName(name);
      const token = TOKEN_PREFIX + randomBytes(SECRET_BYTES).toString('base64url');
      const row = {
        id: randomUUID(),
        name: checkedName,
        user_id: userId,
        hash: hashToken(token),
        created_at: new Date().toISOString(),
        last_used_at: null,
        revoked_at: null,
      };
      try {
        await db.transaction().execute(async (trx) => {
          const taken = await trx
            .selectFrom('tokens')
            .select('id')
            .where('name', '=', checkedName)
            .where('revoked_at', 'is', null)
            .executeTakeFirst();
          if (taken !== undefined) throw nameTaken(checkedName);
          const user = await trx.selectFrom('users').select('active').where('id', '=', userId).executeTakeFirst();
          if (user === undefined) throw new DirectoryError('not_found', `No user has the id "${userId}".`, 'userId');
          // Deactivation removes a user's tokens; issuing a new one would undo that.
          if (user.active === 0) throw new DirectoryError('invalid', `The user "${userId}" is deactivated.`, 'userId');
          await trx.insertInto('tokens').values(row).execute();
          await recordEvent(
            trx,
            actor,
            { action: 'token.created', targetType: 'token', targetId: row.id, details: { name: checkedName, userId } },
            row.created_at,
          );
        });
      } catch (error) {
        // Another process may have taken the name between our check and our insert.
        if (isUniqueViolation(error)) throw nameTaken(checkedName);
        throw error;
      }
      return { token, record: toInfo(row) };
    },

    async list() {
      const rows = await db.selectFrom('tokens').selectAll().orderBy('created_at').orderBy('name').execute();
      return rows.map(toInfo);
    },

    async revoke(name, actor) {
      // Names are stored trimmed (see checkName), so look them up the same way.
      const key = name.trim();
      return db.transaction().execute(async (trx) => {
        const live = await trx
          .selectFrom('tokens')
          .select('id')
          .where('name', '=', key)
          .where('revoked_at', 'is', null)
          .executeTakeFirst();
        if (live === undefined) return false;
        const at = new Date().toISOString();
        await trx.updateTable('tokens').set({ revoked_at: at }).where('id', '=', live.id).execute();
        await recordEvent(trx, actor, { action: 'token.revoked', targetType: 'token', targetId: live.id, details: { name: key } }, at);
        return true;
      });
    },

    async verify(presented) {
      return (await authenticate(presented))?.token;
    },

    authenticate,
  };
}

/** The stored form of a token: SHA-256, hex. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function checkName(name: string): string {
  const trimmed = name.trim();
  if (trimmed.length === 0 || trimmed.length > MAX_NAME_LENGTH) {
    throw new DirectoryError('invalid', `A token name must be 1 to ${MAX_NAME_LENGTH} characters long.`, 'name');
  }
  // Names appear in logs and audit actors (`token:<name>`); control characters would let a
  // name forge log lines.
  if (/\p{Cc}/u.test(trimmed)) throw new DirectoryError('invalid', 'A token name must not contain control characters.', 'name');
  return trimmed;
}

function nameTaken(name: string): DirectoryError {
  return new DirectoryError('conflict', `A token named "${name}" already exists; revoke it first or choose another name.`, 'name');
}

function toInfo(row: Selectable<TokensTable>): TokenInfo {
  return {
    id: row.id,
    name: row.name,
    userId: row.user_id,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}
