/**
 * The store: one Kysely instance over SQLite (embedded, default) or PostgreSQL, with its
 * dialect adapter and migrations. Everything that touches SQL lives under store/.
 */
import { sql } from 'kysely';
import { migrate } from './migrate.ts';
import { createSecretBox } from './secret-box.ts';
import { prepareSecrets } from './secrets.ts';
import { openSqlite } from './sqlite.ts';
import type { DatabaseLocation, OpenOptions, Store } from './types.ts';

export type { DatabaseLocation, OpenOptions, PostgresTls, Store } from './types.ts';
export type { Database } from './tables.ts';
export { isDatabaseUnavailable } from './errors.ts';
export type { DialectAdapter } from './dialect.ts';
export type { PoolUse, QueryKind, QueryObservation, QueryObserver } from './observe.ts';

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
