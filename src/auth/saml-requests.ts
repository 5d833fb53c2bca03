/**
 * SAML bookkeeping kept in the database so that any instance can finish a sign-in another
 * started: the AuthnRequest ids we issued (node-saml's InResponseTo cache) and the ids of
 * assertions already accepted (the replay cache).
 */
import type { CacheItem, CacheProvider } from '@node-saml/node-saml';
import type { Executor } from '../store/executor.ts';
import { isUniqueViolation } from '../store/errors.ts';

/** A cache provider for one request or one response: it remembers what it read and removed. */
export interface RequestCache extends CacheProvider {
  /** The `returnTo` stored with a request this cache has read, if any. */
  returnToOf(requestId: string): string | null;
  /** The `returnTo` of the first request this cache read, even if validation failed later. */
  firstReturnTo(): string | null;
  /** True when this cache deleted the row itself; a concurrent response that raced it did not. */
  consumed(requestId: string): boolean;
}

/**
 * Creates node-saml's InResponseTo cache over `saml_requests`. node-saml saves the request id
 * with its issue instant as value, reads it back when the response arrives and removes it
 * once used (or on any failure), so each request can be answered once.
 */
export function createRequestCache(db: Executor, options: { lifetimeMs: number; returnTo?: string | null }): RequestCache {
  const returnTos = new Map<string, string | null>();
  const consumedIds = new Set<string>();
  return {
    async saveAsync(key: string, value: string): Promise<CacheItem | null> {
      const createdAt = new Date(value);
      const now = Number.isNaN(createdAt.getTime()) ? new Date() : createdAt;
      await db
        .insertInto('saml_requests')
        .values({
          id: key,
          created_at: now.toISOString(),
          expires_at: new Date(now.getTime() + options.lifetimeMs).toISOString(),
          return_to: options.returnTo ?? null,
        })
        .execute();
      return { value, createdAt: now.getTime() };
    },
    async getAsync(key: string): Promise<string | null> {
      const row = await db
        .selectFrom('saml_requests')
        .select(['created_at', 'return_to'])
        .where('id', '=', key)
        .where('expires_at', '>', new Date().toISOString())
        .executeTakeFirst();
      if (row === undefined) return null;
      returnTos.set(key, row.return_to);
      return row.created_at;
    },
    async removeAsync(key: string | null): Promise<string | null> {
      if (key === null) return null;
      const result = await db.deleteFrom('saml_requests').where('id', '=', key).executeTakeFirst();
      // Only one of two concurrent responses can delete the row: that one wins.
      if (Number(result.numDeletedRows) > 0) consumedIds.add(key);
      return key;
    },
    returnToOf: (requestId) => returnTos.get(requestId) ?? null,
    firstReturnTo: () => [...returnTos.values()][0] ?? null,
    consumed: (requestId) => consumedIds.has(requestId),
  };
}

/** Records an accepted assertion id; false when it was already used (a replay). */
export async function rememberAssertion(db: Executor, id: string, expiresAt: Date): Promise<boolean> {
  try {
    await db.insertInto('saml_assertions').values({ id, expires_at: expiresAt.toISOString() }).execute();
    return true;
  } catch (error) {
    if (isUniqueViolation(error)) return false;
    throw error;
  }
}

/** Deletes requests and remembered assertions that can no longer be used. */
export async function purgeExpired(db: Executor, now: Date = new Date()): Promise<void> {
  const cutoff = now.toISOString();
  await db.deleteFrom('saml_requests').where('expires_at', '<=', cutoff).execute();
  await db.deleteFrom('saml_assertions').where('expires_at', '<=', cutoff).execute();
}
