/**
 * SQL for API tokens: issuing, listing, revoking, and the lookup behind every authenticated
 * request. The secrets themselves never reach the store, only their hashes (auth/tokens.ts).
 * What cuts a user's tokens at deactivation is in user-credentials.ts.
 */
import type { Selectable } from 'kysely';
import { compiledOnce } from './compiled.ts';
import type { Executor } from './executor.ts';
import { administratorCondition } from './memberships.ts';
import type { TokensTable } from './tables.ts';

/** A token row as the auth layer sees it. */
export interface StoredToken {
  readonly id: string;
  readonly name: string;
  /** The user the token acts as; null only for tokens issued before tokens had owners. */
  readonly userId: string | null;
  /** SHA-256 of the secret, hex. */
  readonly hash: string;
  readonly createdAt: string;
  readonly lastUsedAt: string | null;
  readonly revokedAt: string | null;
}

/** The user a token acts as, as read with the token. */
export interface StoredTokenOwner {
  readonly id: string;
  readonly login: string;
  readonly active: boolean;
  /** Whether the owner is an administrator now (memberships.ts administratorCondition), read in the same statement. */
  readonly administrator: boolean;
}

function toToken(row: Selectable<TokensTable>): StoredToken {
  return {
    id: row.id,
    name: row.name,
    userId: row.user_id,
    hash: row.hash,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

/** A row of the token query (tokenByHash below) as the token and its owner. */
function tokenAndOwner(
  row: Selectable<TokensTable> & { owner_login: string | null; owner_active: number | null; owner_is_admin: unknown },
): { token: StoredToken; owner: StoredTokenOwner | null } {
  const { owner_login: login, owner_active: active, owner_is_admin: administrator, ...tokenRow } = row;
  const owner = row.user_id !== null && login !== null ? { id: row.user_id, login, active: active === 1, administrator: Number(administrator) === 1 } : null;
  return { token: toToken(tokenRow), owner };
}

/** Query factory for tokens. */
export function createTokenQueries() {
  // The bearer token of every API request, compiled once (compiled.ts).
  // With the owner and whether it is an administrator now: one indexed statement for what every
  // API request needs to know about its caller.
  const tokenByHash = (db: Executor, hash: string, adminGroupKey: string) =>
    db
      .selectFrom('tokens as t')
      .leftJoin('users as u', 'u.id', 't.user_id')
      // Named columns, not t.*: on PostgreSQL this is a prepared statement, whose result type
      // must not change under it when a later migration adds a column (a rolling upgrade).
      .select(['t.id', 't.name', 't.user_id', 't.hash', 't.created_at', 't.last_used_at', 't.revoked_at'])
      .select(['u.login as owner_login', 'u.active as owner_active'])
      .select((eb) => eb.case().when(administratorCondition(eb as never, adminGroupKey)).then(1).else(0).end().as('owner_is_admin'))
      .where('t.hash', '=', hash);
  const selectByHash = compiledOnce(tokenByHash);

  // The same, with the stored texts of two settings beside it (scalar subqueries on their
  // primary key): a SCIM request needs its caller and the SCIM switch, and reading both in one
  // statement spares a round trip per request (on PostgreSQL, about an eighth of a `GET /Users/{id}`'s CPU).
  const selectByHashWithSettings = compiledOnce((db: Executor, hash: string, adminGroupKey: string, firstKey: string, secondKey: string) =>
    tokenByHash(db, hash, adminGroupKey)
      .select((eb) => eb.selectFrom('settings').select('value').where('key', '=', firstKey).as('first_setting'))
      .select((eb) => eb.selectFrom('settings').select('value').where('key', '=', secondKey).as('second_setting')),
  );

  return {
    /**
     * The token, live or revoked, whose hash this is (the unique index on `hash`), with its
     * owner in the same indexed join, and whether that owner is an administrator now (members of
     * the group whose name key is `adminGroupKey`, or flagged); the owner is null when the token has none or the user
     * row is gone.
     */
    async findByHash(db: Executor, hash: string, adminGroupKey: string): Promise<{ token: StoredToken; owner: StoredTokenOwner | null } | undefined> {
      const [row] = await selectByHash(db, hash, adminGroupKey);
      return row === undefined ? undefined : tokenAndOwner(row);
    },

    /**
     * findByHash, and the stored texts (as settings.ts stores them: a sealed setting is still
     * sealed) of the settings `keys`, null for one never set, read in the same statement.
     */
    async findByHashWithSettings(
      db: Executor,
      hash: string,
      adminGroupKey: string,
      keys: readonly [string, string],
    ): Promise<{ token: StoredToken; owner: StoredTokenOwner | null; settings: readonly [string | null, string | null] } | undefined> {
      const [row] = await selectByHashWithSettings(db, hash, adminGroupKey, keys[0], keys[1]);
      if (row === undefined) return undefined;
      const { first_setting: first, second_setting: second, ...rest } = row;
      return { ...tokenAndOwner(rest), settings: [first ?? null, second ?? null] };
    },

    /**
     * Sets `last_used_at` to `at` unless it was already set after `cutoff`. The condition is
     * repeated in SQL so that concurrent requests (or instances) write once.
     */
    async touchLastUsed(db: Executor, id: string, at: string, cutoff: string): Promise<void> {
      await db
        .updateTable('tokens')
        .set({ last_used_at: at })
        .where('id', '=', id)
        .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<=', cutoff)]))
        .execute();
    },

    /** The id of the live (unrevoked) token with this name, or undefined. */
    async findLiveIdByName(db: Executor, name: string): Promise<string | undefined> {
      const row = await db
        .selectFrom('tokens')
        .select('id')
        .where('name', '=', name)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return row?.id;
    },

    /** Inserts a token; a live token with the same name fails the unique index (isUniqueViolation). */
    async insert(db: Executor, token: StoredToken): Promise<void> {
      await db
        .insertInto('tokens')
        .values({
          id: token.id,
          name: token.name,
          user_id: token.userId,
          hash: token.hash,
          created_at: token.createdAt,
          last_used_at: token.lastUsedAt,
          revoked_at: token.revokedAt,
        })
        .execute();
    },

    /** All tokens, live and revoked, oldest first (ties by name). */
    /**
     * Every token (or `userId`'s), oldest first, each with its owner's login (null without an
     * owner, or when the owner is gone): one statement, not one lookup per owner, which took
     * 139 s for 100,000 tokens of as many users on PostgreSQL (a token per user for SCIM /Me).
     */
    async list(db: Executor, userId?: string): Promise<Array<StoredToken & { readonly ownerLogin: string | null }>> {
      const rows = await db
        .selectFrom('tokens as t')
        .leftJoin('users as u', 'u.id', 't.user_id')
        .selectAll('t')
        .select('u.login as owner_login')
        .$if(userId !== undefined, (query) => query.where('t.user_id', '=', userId ?? ''))
        .orderBy('t.created_at')
        .orderBy('t.name')
        .execute();
      return rows.map((row) => ({ ...toToken(row), ownerLogin: row.owner_login }));
    },

    /** Marks one token revoked at `at`. */
    async revoke(db: Executor, id: string, at: string): Promise<void> {
      await db.updateTable('tokens').set({ revoked_at: at }).where('id', '=', id).execute();
    },
  };
}

export type TokenQueries = ReturnType<typeof createTokenQueries>;
