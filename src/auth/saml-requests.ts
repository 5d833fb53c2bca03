/**
 * SAML bookkeeping kept in the database so that any instance can finish a sign-in another
 * started: the AuthnRequest ids we issued (node-saml's InResponseTo cache) and the ids of
 * assertions already accepted (the replay cache). The SQL is in store/saml-requests.ts.
 */
import type { CacheItem, CacheProvider } from '@node-saml/node-saml';
import type { Executor } from '../store/executor.ts';
import { createSamlRequestQueries } from '../store/saml-requests.ts';

const queries = createSamlRequestQueries();

/** A cache provider for one request or one response: it remembers what it read and removed. */
export interface RequestCache extends CacheProvider {
  /** The `returnTo` stored with a request this cache has read, if any. */
  returnToOf(requestId: string): string | null;
  /** The browser hash stored with a request this cache has read, if any. */
  browserHashOf(requestId: string): string | null;
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
export function createRequestCache(db: Executor, options: { lifetimeMs: number; returnTo?: string | null; browserHash?: string }): RequestCache {
  const returnTos = new Map<string, string | null>();
  const browserHashes = new Map<string, string | null>();
  const consumedIds = new Set<string>();
  return {
    async saveAsync(key: string, value: string): Promise<CacheItem | null> {
      const createdAt = new Date(value);
      const now = Number.isNaN(createdAt.getTime()) ? new Date() : createdAt;
      await queries.insertRequest(db, {
        id: key,
        createdAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + options.lifetimeMs).toISOString(),
        returnTo: options.returnTo ?? null,
        browserHash: options.browserHash ?? null,
      });
      return { value, createdAt: now.getTime() };
    },
    async getAsync(key: string): Promise<string | null> {
      const request = await queries.findRequest(db, key, new Date().toISOString());
      if (request === undefined) return null;
      returnTos.set(key, request.returnTo);
      browserHashes.set(key, request.browserHash);
      return request.createdAt;
    },
    async removeAsync(key: string | null): Promise<string | null> {
      if (key === null) return null;
      // Only one of two concurrent responses can delete the row: that one wins.
      if (await queries.deleteRequest(db, key)) consumedIds.add(key);
      return key;
    },
    returnToOf: (requestId) => returnTos.get(requestId) ?? null,
    browserHashOf: (requestId) => browserHashes.get(requestId) ?? null,
    firstReturnTo: () => [...returnTos.values()][0] ?? null,
    consumed: (requestId) => consumedIds.has(requestId),
  };
}

/** Records an accepted assertion id; false when it was already used (a replay). */
export async function rememberAssertion(db: Executor, id: string, expiresAt: Date): Promise<boolean> {
  return queries.rememberAssertion(db, id, expiresAt.toISOString());
}

/** Whether an assertion with this id was already accepted (and is still within its replay horizon). */
export async function isRememberedAssertion(db: Executor, id: string): Promise<boolean> {
  return queries.isRemembered(db, id);
}

/**
 * Deletes up to `limit` requests and as many remembered assertions that can no longer be used;
 * returns how many rows went. Bounded, so that the share a sign-in start takes stays small
 * however many expired (the periodic clean-up takes the rest, in batches).
 */
export async function purgeExpired(db: Executor, limit: number, now: Date = new Date()): Promise<number> {
  return queries.purgeExpired(db, now.toISOString(), limit);
}
