/**
 * oidc-provider's storage adapter over Roster's database (store/oidc.ts), so that every
 * instance shares authorization codes, tokens, sessions, grants and interactions. The
 * provider calls `new Adapter(modelName)`; this module builds that class over a store.
 * Clients are not stored here: the provider's `findClient` reads Roster's applications.
 */
import type { Store } from '../store/index.ts';
import { createOidcQueries } from '../store/oidc.ts';

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
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
}

/** The adapter class for `configuration.adapter`, over `store`. */
export function createOidcAdapter(store: Store): new (model: string) => OidcAdapter {
  const queries = createOidcQueries();
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

    constructor(model: string) {
      this.#model = model;
    }

    async upsert(id: string, payload: Payload, expiresIn: number | undefined): Promise<void> {
      await queries.upsert(db, {
        model: this.#model,
        id,
        payload: JSON.stringify(payload),
        grantId: typeof payload.grantId === 'string' ? payload.grantId : null,
        uid: typeof payload.uid === 'string' ? payload.uid : null,
        userCode: typeof payload.userCode === 'string' ? payload.userCode : null,
        accountId: typeof payload.accountId === 'string' ? payload.accountId : null,
        expiresAt: typeof expiresIn === 'number' ? new Date(Date.now() + expiresIn * 1000).toISOString() : null,
      });
    }

    async find(id: string): Promise<Payload | undefined> {
      return read(await queries.find(db, this.#model, id, now()));
    }

    async findByUid(uid: string): Promise<Payload | undefined> {
      return read(await queries.findByUid(db, this.#model, uid, now()));
    }

    async findByUserCode(userCode: string): Promise<Payload | undefined> {
      return read(await queries.findByUserCode(db, this.#model, userCode, now()));
    }

    async consume(id: string): Promise<void> {
      await queries.consume(db, this.#model, id, now());
    }

    async destroy(id: string): Promise<void> {
      await queries.destroy(db, this.#model, id);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await queries.revokeByGrantId(db, grantId);
    }
  };
}
