/**
 * SQL for the OpenID Connect provider (migration 012): the rows of oidc-provider's models
 * (auth/oidc-adapter.ts is the glue) and the registered applications. Times are ISO 8601 text.
 */
import type { Selectable } from 'kysely';
import type { DialectAdapter } from './dialect.ts';
import type { Executor } from './executor.ts';
import type { OidcApplicationsTable } from './tables.ts';

/** One model row as the adapter writes it. */
export interface OidcModelWrite {
  readonly model: string;
  readonly id: string;
  readonly payload: string;
  readonly grantId: string | null;
  readonly uid: string | null;
  readonly userCode: string | null;
  readonly accountId: string | null;
  readonly expiresAt: string | null;
}

/** A stored model: its JSON text and when it was consumed, if it was. */
export interface OidcModelRow {
  readonly payload: string;
  readonly consumedAt: string | null;
}

/** A registered application as stored. */
export interface StoredApplication {
  readonly clientId: string;
  readonly name: string;
  readonly secretHash: string | null;
  /** The hash of the secret before the last rotation, and until when it is accepted (migration 027); null when none. */
  readonly previousSecretHash: string | null;
  readonly previousSecretExpiresAt: string | null;
  readonly redirectUris: readonly string[];
  readonly allowedGroups: readonly string[];
  /** Where logout tokens are POSTed (migration 029); null: the application registered none. */
  readonly backchannelLogoutUri: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

type Lookup = 'id' | 'uid' | 'user_code';

/**
 * Whether a key sent by a client (a client id, a code, a token) can be looked up at all:
 * PostgreSQL refuses a NUL character or text that is not valid UTF-8 with an error, where the
 * answer is simply "no such row".
 */
function searchable(key: string): boolean {
  return !/\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(key);
}

/** Query factory for the provider's models and the applications. */
export function createOidcQueries() {
  async function findBy(db: Executor, model: string, column: Lookup, value: string, now: string): Promise<OidcModelRow | undefined> {
    if (!searchable(value)) return undefined;
    const row = await db
      .selectFrom('oidc_models')
      .select(['payload', 'consumed_at'])
      .where('model', '=', model)
      .where(column, '=', value)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .executeTakeFirst();
    return row === undefined ? undefined : { payload: row.payload, consumedAt: row.consumed_at };
  }

  function toApplication(row: Selectable<OidcApplicationsTable>): StoredApplication {
    return {
      clientId: row.client_id,
      name: row.name,
      secretHash: row.secret_hash,
      previousSecretHash: row.previous_secret_hash,
      previousSecretExpiresAt: row.previous_secret_expires_at,
      redirectUris: JSON.parse(row.redirect_uris) as string[],
      allowedGroups: JSON.parse(row.allowed_groups) as string[],
      backchannelLogoutUri: row.backchannel_logout_uri,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }

  return {
    /** Inserts or replaces a model row (the provider saves a model again when it changes). */
    async upsert(db: Executor, row: OidcModelWrite): Promise<void> {
      const values = {
        payload: row.payload,
        grant_id: row.grantId,
        uid: row.uid,
        user_code: row.userCode,
        account_id: row.accountId,
        expires_at: row.expiresAt,
      };
      await db
        .insertInto('oidc_models')
        .values({ model: row.model, id: row.id, consumed_at: null, ...values })
        .onConflict((conflict) => conflict.columns(['model', 'id']).doUpdateSet(values))
        .execute();
    },

    /** The unexpired row of `model` with this id. */
    find: (db: Executor, model: string, id: string, now: string) => findBy(db, model, 'id', id, now),
    /** The unexpired row of `model` with this uid (sessions). */
    findByUid: (db: Executor, model: string, uid: string, now: string) => findBy(db, model, 'uid', uid, now),
    /** The unexpired row of `model` with this user code (device flow). */
    findByUserCode: (db: Executor, model: string, userCode: string, now: string) => findBy(db, model, 'user_code', userCode, now),

    /**
     * Marks a row consumed (codes, rotated refresh tokens) unless it already is; returns whether
     * this call consumed it. One conditional statement, so that of two requests presenting the
     * same code at once exactly one gets true, on one instance or many: the database lets one
     * update through, and the other (PostgreSQL re-reads the row once the first commits) finds
     * it consumed.
     */
    async consume(db: Executor, model: string, id: string, at: string): Promise<boolean> {
      if (!searchable(id)) return false;
      const result = await db
        .updateTable('oidc_models')
        .set({ consumed_at: at })
        .where('model', '=', model)
        .where('id', '=', id)
        .where('consumed_at', 'is', null)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },

    /** Deletes one row. */
    async destroy(db: Executor, model: string, id: string): Promise<void> {
      if (!searchable(id)) return;
      await db.deleteFrom('oidc_models').where('model', '=', model).where('id', '=', id).execute();
    },

    /**
     * Deletes the rows of `model` issued under a grant. The provider revokes a grant model by
     * model (codes, access and refresh tokens); deleting every model's rows at once took an
     * Interaction too, which carries the grant id of the browser's earlier sign-in, and broke
     * the sign-in under way when the provider revoked the previous user's grant (another user
     * signing in on the same browser: "interaction session not found").
     */
    async revokeByGrantId(db: Executor, model: string, grantId: string): Promise<void> {
      if (!searchable(grantId)) return;
      await db.deleteFrom('oidc_models').where('model', '=', model).where('grant_id', '=', grantId).execute();
    },

    /**
     * The client ids of the applications `accountId` holds a grant or a provider session with
     * (a provider session names each application the browser signed in to). Grants and sessions
     * only: a user has a few, where refresh tokens may be thousands (one per refresh).
     */
    async clientsOfAccount(db: Executor, accountId: string): Promise<string[]> {
      const rows = await db.selectFrom('oidc_models').select(['model', 'payload']).where('account_id', '=', accountId).where('model', 'in', ['Grant', 'Session']).execute();
      const clients = new Set<string>();
      for (const row of rows) {
        const payload = JSON.parse(row.payload) as { clientId?: unknown; authorizations?: unknown };
        if (row.model === 'Grant' && typeof payload.clientId === 'string') clients.add(payload.clientId);
        if (row.model === 'Session' && typeof payload.authorizations === 'object' && payload.authorizations !== null) {
          for (const clientId of Object.keys(payload.authorizations)) clients.add(clientId);
        }
      }
      return [...clients].sort();
    },

    /**
     * Deletes the provider session `id` if it is `accountId`'s, and returns the client ids of the
     * applications it signed in to; undefined when there is no such session of that user.
     */
    async takeSession(db: Executor, id: string, accountId: string): Promise<string[] | undefined> {
      if (!searchable(id)) return undefined;
      const row = await db.selectFrom('oidc_models').select('payload').where('model', '=', 'Session').where('id', '=', id).where('account_id', '=', accountId).executeTakeFirst();
      if (row === undefined) return undefined;
      await db.deleteFrom('oidc_models').where('model', '=', 'Session').where('id', '=', id).execute();
      const authorizations = (JSON.parse(row.payload) as { authorizations?: unknown }).authorizations;
      return typeof authorizations === 'object' && authorizations !== null ? Object.keys(authorizations).sort() : [];
    },

    /** Deletes everything of a user: grants, codes, tokens, provider sessions; returns how many rows. */
    async deleteOfAccount(db: Executor, accountId: string): Promise<number> {
      const result = await db.deleteFrom('oidc_models').where('account_id', '=', accountId).executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    /**
     * Deletes up to `limit` rows expired before `now`; returns how many. In batches, so that no
     * statement of the clean-up approaches the query deadline however many tokens expired.
     */
    async purgeExpired(db: Executor, now: string, limit: number): Promise<number> {
      const expired = db.selectFrom('oidc_models').select(['model', 'id']).where('expires_at', '<=', now).limit(limit).$asTuple('model', 'id');
      const result = await db
        .deleteFrom('oidc_models')
        .where((eb) => eb(eb.refTuple('model', 'id'), 'in', expired))
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    /** Inserts an application. */
    async insertApplication(db: Executor, application: StoredApplication): Promise<void> {
      await db
        .insertInto('oidc_applications')
        .values({
          client_id: application.clientId,
          name: application.name,
          secret_hash: application.secretHash,
          previous_secret_hash: application.previousSecretHash,
          previous_secret_expires_at: application.previousSecretExpiresAt,
          redirect_uris: JSON.stringify(application.redirectUris),
          allowed_groups: JSON.stringify(application.allowedGroups),
          backchannel_logout_uri: application.backchannelLogoutUri,
          created_at: application.createdAt,
          updated_at: application.updatedAt,
        })
        .execute();
    },

    /** The application with this client id, or undefined. */
    async findApplication(db: Executor, clientId: string): Promise<StoredApplication | undefined> {
      if (!searchable(clientId)) return undefined;
      const row = await db.selectFrom('oidc_applications').selectAll().where('client_id', '=', clientId).executeTakeFirst();
      return row === undefined ? undefined : toApplication(row);
    },

    /**
     * The application with this client id, its row locked until the transaction ends where the
     * database has row locks (PostgreSQL; SQLite has one writer at a time anyway), so that two
     * edits at once apply one after the other instead of the later undoing the earlier.
     */
    async lockApplication(db: Executor, dialect: DialectAdapter, clientId: string): Promise<StoredApplication | undefined> {
      if (!searchable(clientId)) return undefined;
      const query = db.selectFrom('oidc_applications').selectAll().where('client_id', '=', clientId);
      const row = await (dialect.supportsRowLocks ? query.forUpdate() : query).executeTakeFirst();
      return row === undefined ? undefined : toApplication(row);
    },

    /** Replaces what an administrator may edit of an application (never its id or secret). */
    async updateApplication(db: Executor, clientId: string, fields: Pick<StoredApplication, 'name' | 'redirectUris' | 'allowedGroups' | 'backchannelLogoutUri'>, at: string): Promise<void> {
      await db
        .updateTable('oidc_applications')
        .set({
          name: fields.name,
          redirect_uris: JSON.stringify(fields.redirectUris),
          allowed_groups: JSON.stringify(fields.allowedGroups),
          backchannel_logout_uri: fields.backchannelLogoutUri,
          updated_at: at,
        })
        .where('client_id', '=', clientId)
        .execute();
    },

    /** Every application, by name (administrators register a handful). */
    async listApplications(db: Executor): Promise<StoredApplication[]> {
      const rows = await db.selectFrom('oidc_applications').selectAll().orderBy('name').orderBy('client_id').execute();
      return rows.map(toApplication);
    },

    /**
     * Sets an application's secret hash and its previous one (the secret it replaces, or an
     * older one, or none) with the previous one's expiry; returns whether the application exists.
     */
    async setSecretHashes(db: Executor, clientId: string, hashes: Pick<StoredApplication, 'secretHash' | 'previousSecretHash' | 'previousSecretExpiresAt'>, at: string): Promise<boolean> {
      const result = await db
        .updateTable('oidc_applications')
        .set({ secret_hash: hashes.secretHash, previous_secret_hash: hashes.previousSecretHash, previous_secret_expires_at: hashes.previousSecretExpiresAt, updated_at: at })
        .where('client_id', '=', clientId)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },

    /** Deletes an application and whatever the provider holds for it; returns whether it existed. */
    async deleteApplication(db: Executor, clientId: string): Promise<boolean> {
      // What the provider issued to it stops working with it: the provider finds no client.
      const result = await db.deleteFrom('oidc_applications').where('client_id', '=', clientId).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },
  };
}

export type OidcQueries = ReturnType<typeof createOidcQueries>;
