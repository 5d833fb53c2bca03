/**
 * oidc-provider's storage adapter over Roster's database (store/oidc.ts), so that every
 * instance shares authorization codes, tokens, sessions, grants and interactions. The
 * provider calls `new Adapter(modelName)`; this module builds that class over a store.
 * Clients are not stored here: the provider's `findClient` reads Roster's applications.
 */
import { createHash } from 'node:crypto';
import type { Store } from '../store/index.ts';
import { createOidcQueries } from '../store/oidc.ts';
import { createUserQueries } from '../store/users.ts';

/**
 * The models whose id is itself the secret a client presents (the authorization code, the
 * access and refresh tokens). They are stored under the SHA-256 of the id, and without the
 * `jti` that repeats it in the payload, so that a copy of the database (a backup, a dump)
 * holds no code or token anyone could use; the provider looks them up only by id, which the
 * client presents again, and the adapter puts `jti` back. (API tokens and client secrets are
 * kept as hashes in the same way.) Rows stored in the clear by an earlier version are still
 * found until they expire.
 */
const SECRET_ID_MODELS: ReadonlySet<string> = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'ClientCredentials']);

/** The key a secret id is stored under: its SHA-256, marked so that it cannot be taken for an id. */
function storedKey(id: string): string {
  return `sha256:${createHash('sha256').update(id).digest('hex')}`;
}

/** The payload fields the adapter reads for its lookup columns (oidc-provider's AdapterPayload). */
interface Payload {
  readonly grantId?: string;
  readonly uid?: string;
  readonly userCode?: string;
  readonly accountId?: string;
  readonly consumed?: unknown;
  readonly [key: string]: unknown;
}

/** The adapter interface oidc-provider expects of `new Adapter(name)`. */
export interface OidcAdapter {
  upsert(id: string, payload: Payload, expiresIn: number | undefined): Promise<void>;
  find(id: string): Promise<Payload | undefined>;
  findByUid(uid: string): Promise<Payload | undefined>;
  findByUserCode(userCode: string): Promise<Payload | undefined>;
  /** Whether this call consumed the code or token: false when it was consumed already (or is gone). */
  consume(id: string): Promise<boolean>;
  destroy(id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
}

/** The adapter class for `configuration.adapter`, over `store`. */
export function createOidcAdapter(store: Store): new (model: string) => OidcAdapter {
  const queries = createOidcQueries();
  const users = createUserQueries(store.dialect);
  const { db } = store;
  const now = (): string => new Date().toISOString();

  function read(row: { payload: string; consumedAt: string | null } | undefined): Payload | undefined {
    if (row === undefined) return undefined;
    const payload = JSON.parse(row.payload) as Payload;
    // The provider expects `consumed` as a truthy epoch when a code or token was used.
    return row.consumedAt === null ? payload : { ...payload, consumed: Math.floor(Date.parse(row.consumedAt) / 1000) };
  }

  return class RosterOidcAdapter implements OidcAdapter {
    readonly #model: string;
    readonly #secretIds: boolean;

    constructor(model: string) {
      this.#model = model;
      this.#secretIds = SECRET_ID_MODELS.has(model);
    }

    /** The keys a row of `id` may be stored under: hashed, then (an earlier version's) in the clear. */
    #keys(id: string): readonly string[] {
      return this.#secretIds ? [storedKey(id), id] : [id];
    }

    async upsert(id: string, payload: Payload, expiresIn: number | undefined): Promise<void> {
      let stored: Payload = payload;
      if (this.#secretIds) {
        const { jti: _secret, ...rest } = payload;
        stored = rest;
      }
      const row = {
        model: this.#model,
        id: this.#secretIds ? storedKey(id) : id,
        payload: JSON.stringify(stored),
        grantId: typeof payload.grantId === 'string' ? payload.grantId : null,
        uid: typeof payload.uid === 'string' ? payload.uid : null,
        userCode: typeof payload.userCode === 'string' ? payload.userCode : null,
        accountId: typeof payload.accountId === 'string' ? payload.accountId : null,
        expiresAt: typeof expiresIn === 'number' ? new Date(Date.now() + expiresIn * 1000).toISOString() : null,
      };
      const { accountId } = row;
      if (accountId === null) {
        await queries.upsert(db, row);
        return;
      }
      // Issued to a user (a grant, a code, a token, a provider session): the provider checked
      // the user is active before, in another statement, and a deactivation may have committed
      // since (or be committing) having deleted every row of the user but this one. Under the
      // share lock (users.activity) it is seen; a row for an inactive user is not stored, so
      // whatever the provider hands out with it is refused at its first use (invalid_grant).
      await db.transaction().execute(async (trx) => {
        if ((await users.activity(trx, accountId, 'share'))?.active !== true) return;
        await queries.upsert(trx, row);
      });
    }

    async find(id: string): Promise<Payload | undefined> {
      for (const key of this.#keys(id)) {
        const payload = read(await queries.find(db, this.#model, key, now()));
        if (payload !== undefined) return this.#secretIds ? { ...payload, jti: id } : payload;
      }
      return undefined;
    }

    async findByUid(uid: string): Promise<Payload | undefined> {
      return read(await queries.findByUid(db, this.#model, uid, now()));
    }

    async findByUserCode(userCode: string): Promise<Payload | undefined> {
      return read(await queries.findByUserCode(db, this.#model, userCode, now()));
    }

    async consume(id: string): Promise<boolean> {
      for (const key of this.#keys(id)) {
        if (await queries.consume(db, this.#model, key, now())) return true;
      }
      return false;
    }

    async destroy(id: string): Promise<void> {
      for (const key of this.#keys(id)) await queries.destroy(db, this.#model, key);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await queries.revokeByGrantId(db, this.#model, grantId);
    }
  };
}
