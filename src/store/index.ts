/**
 * The store: one Kysely instance over SQLite (embedded, default) or PostgreSQL, with its
 * dialect adapter and migrations. Everything that touches SQL lives under store/.
 */
import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from './dialect.ts';
import { migrate } from './migrate.ts';
import type { PoolUse, QueryObserver } from './observe.ts';
import { openPostgres } from './postgres.ts';
import { openSqlite } from './sqlite.ts';
import type { Database } from './tables.ts';

export type { Database } from './tables.ts';
export type { DialectAdapter } from './dialect.ts';
export type { PoolUse, QueryKind, QueryObservation, QueryObserver } from './observe.ts';

export interface Store {
  readonly db: Kysely<Database>;
  readonly dialect: DialectAdapter;
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

/** Where the data lives, parsed from ROSTER_DATABASE_URL (and, for PostgreSQL, ROSTER_DATABASE_POOL_SIZE and ROSTER_DATABASE_SSL_CA). */
export type DatabaseLocation =
  | { readonly kind: 'sqlite'; readonly path: string }
  | { readonly kind: 'postgres'; readonly url: string; readonly poolSize?: number; readonly tls?: PostgresTls };

/** Opens the database and brings its schema up to date. */
export async function openStore(location: DatabaseLocation, options: { migrate?: boolean } = {}): Promise<Store> {
  const store = location.kind === 'postgres' ? openPostgres(location) : openSqlite(location.path);
  if (options.migrate === false) return store;
  try {
    await migrate(store);
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
