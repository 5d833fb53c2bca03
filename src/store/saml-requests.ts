/**
 * SQL for SAML bookkeeping kept in the database so that any instance can finish a sign-in
 * another started: the AuthnRequest ids we issued (`saml_requests`, node-saml's InResponseTo
 * cache, see auth/saml-requests.ts) and the ids of assertions already accepted
 * (`saml_assertions`, the replay cache).
 */
import { isUniqueViolation } from './errors.ts';
import type { Executor } from './executor.ts';

/** An AuthnRequest we issued, as its response reads it back. */
export interface StoredSamlRequest {
  readonly createdAt: string;
  /** Where to send the browser after sign-in, if the request said. */
  readonly returnTo: string | null;
  /** SHA-256 of the value in the cookie of the browser that started it; null before migration 005. */
  readonly browserHash: string | null;
}

/** An AuthnRequest to remember. */
export interface SamlRequestWrite {
  readonly id: string;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly returnTo: string | null;
  readonly browserHash: string | null;
}

/** Query factory for SAML requests and assertions. */
export function createSamlRequestQueries() {
  return {
    /** Remembers an AuthnRequest id until `expiresAt`. */
    async insertRequest(db: Executor, request: SamlRequestWrite): Promise<void> {
      await db
        .insertInto('saml_requests')
        .values({ id: request.id, created_at: request.createdAt, expires_at: request.expiresAt, return_to: request.returnTo, browser_hash: request.browserHash })
        .execute();
    },

    /** The request with this id unless it expired before `now`, or undefined. */
    async findRequest(db: Executor, id: string, now: string): Promise<StoredSamlRequest | undefined> {
      const row = await db
        .selectFrom('saml_requests')
        .select(['created_at', 'return_to', 'browser_hash'])
        .where('id', '=', id)
        .where('expires_at', '>', now)
        .executeTakeFirst();
      return row === undefined ? undefined : { createdAt: row.created_at, returnTo: row.return_to, browserHash: row.browser_hash };
    },

    /**
     * Deletes a request; true when this call deleted the row. Only one of two concurrent
     * responses can delete it: that one wins.
     */
    async deleteRequest(db: Executor, id: string): Promise<boolean> {
      const result = await db.deleteFrom('saml_requests').where('id', '=', id).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },

    /**
     * Records an accepted assertion id; false when it was already used (a replay). The
     * primary key decides, so two instances accepting the same assertion at once record it
     * once. Not for use inside a transaction on PostgreSQL, where the failed insert would
     * abort it.
     */
    async rememberAssertion(db: Executor, id: string, expiresAt: string): Promise<boolean> {
      try {
        await db.insertInto('saml_assertions').values({ id, expires_at: expiresAt }).execute();
        return true;
      } catch (error) {
        if (isUniqueViolation(error)) return false;
        throw error;
      }
    },

    /** Whether an assertion with this id was accepted and is still remembered. */
    async isRemembered(db: Executor, id: string): Promise<boolean> {
      return (await db.selectFrom('saml_assertions').select('id').where('id', '=', id).executeTakeFirst()) !== undefined;
    },

    /**
     * Deletes up to `limit` requests and up to `limit` remembered assertions that expired at or
     * before `cutoff` (found through their expiry indexes); returns how many rows went.
     */
    async purgeExpired(db: Executor, cutoff: string, limit: number): Promise<number> {
      let deleted = 0;
      for (const table of ['saml_requests', 'saml_assertions'] as const) {
        const expired = db.selectFrom(table).select('id').where('expires_at', '<=', cutoff).limit(limit);
        const result = await db.deleteFrom(table).where('id', 'in', expired).executeTakeFirst();
        deleted += Number(result.numDeletedRows);
      }
      return deleted;
    },
  };
}

export type SamlRequestQueries = ReturnType<typeof createSamlRequestQueries>;
