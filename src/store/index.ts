/**
 * The store: one Kysely instance over SQLite (embedded, default) or PostgreSQL, with its
 * dialect adapter and migrations. Everything that touches SQL lives under store/.
 */
import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from './dialect.ts';
import { migrate } from './migrate.ts';
import type { PoolUse, QueryObserver } from './observe.ts';
import { createSecretBox, type SecretBox } from './secret-box.ts';
import { prepareSecrets } from './secrets.ts';
import { openSqlite } from './sqlite.ts';
import type { Database } from './tables.ts';

export type { Database } from './tables.ts';
export { isDatabaseUnavailable } from './errors.ts';
export type { DialectAdapter } from './dialect.ts';
export type { PoolUse, QueryKind, QueryObservation, QueryObserver } from './observe.ts';

export interface Store {
  readonly db: Kysely<Database>;
  readonly dialect: DialectAdapter;
  /** Seals and opens secrets at rest with ROSTER_SECRET_KEY (secret-box.ts); passes them through without a key. */
  readonly secrets: SecretBox;
  /** Closes the connection(s); pending queries finish first. */
  close(): Promise<void>;
  /** Calls `observer` after every statement (its kind and duration); returns the function that stops it. */
  observeQueries(observer: QueryObserver): () => void;
  /** The PostgreSQL pool's use now; undefined on SQLite (one connection, no pool). */
  poolUse(): PoolUse | undefined;
}

/** TLS to PostgreSQL, in libpq's `sslmode` terms. */
export interface PostgresTls {
  /** `require` encrypts without checking the certificate; `verify-ca` checks the chain; `verify-full` also the host name. */
  readonly mode: 'require' | 'verify-ca' | 'verify-full';
  /** PEM text of the CA certificates to trust instead of Node's bundled ones. */
  readonly ca?: string;
}

/** Where the data lives, parsed from ROSTER_DATABASE_URL (and, for PostgreSQL, ROSTER_DATABASE_POOL_SIZE, ROSTER_DATABASE_SSL_CA and ROSTER_DATABASE_PREPARED_STATEMENTS). */
export type DatabaseLocation =
  | { readonly kind: 'sqlite'; readonly path: string }
  | {
      readonly kind: 'postgres';
      readonly url: string;
      readonly poolSize?: number;
      readonly tls?: PostgresTls;
      /** False: every query is sent unnamed (ROSTER_DATABASE_PREPARED_STATEMENTS=off, for poolers that cannot keep them). */
      readonly preparedStatements?: boolean;
    };

/** How to open a store. */
export interface OpenOptions {
  /** false opens the database as it is: no migrations and no secrets check (db copy's source). */
  readonly migrate?: boolean;
  /** ROSTER_SECRET_KEY (32 bytes), or undefined to keep secrets in plaintext. */
  readonly secretKey?: Buffer | undefined;
  /** Told how many plaintext secrets start-up has just sealed (a key configured for the first time, or a new secret column). */
  readonly onSealed?: (count: number) => void;
}

/**
 * Opens the database, brings its schema up to date, and checks the secret key against the
 * database (sealing plaintext secrets when a key is first configured): a wrong or missing key
 * fails here, before anything serves (secrets.ts).
 */
export async function openStore(location: DatabaseLocation, options: OpenOptions = {}): Promise<Store> {
  // pg is loaded only for PostgreSQL: an instance on SQLite never needs it.
  const opened = location.kind === 'postgres' ? (await import('./postgres.ts')).openPostgres(location) : openSqlite(location.path);
  const store: Store = { ...opened, secrets: createSecretBox(options.secretKey) };
  if (options.migrate === false) return store;
  try {
    await migrate(store);
    const report = await prepareSecrets(store);
    if (report.sealed > 0) options.onSealed?.(report.sealed);
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

/** Resolves when the database answers a trivial query (the health check); rejects otherwise. */
export async function ping(store: Store): Promise<void> {
  await sql`SELECT 1`.execute(store.db);
}

/** Describes a location for people (logs, progress): never the password. */
export function describeLocation(location: DatabaseLocation): string {
  if (location.kind === 'sqlite') return `SQLite ${location.path}`;
  const url = new URL(location.url);
  return `PostgreSQL ${url.hostname}${url.port ? `:${url.port}` : ''}${url.pathname}`;
}
