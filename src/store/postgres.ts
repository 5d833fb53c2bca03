/**
 * PostgreSQL through node-postgres (pg): a pool per process, TLS as configured. Transactions
 * run at READ COMMITTED; read-modify-write paths lock the rows they read (see `lock` in
 * users.ts and groups.ts), so several instances can share one database safely.
 */
import type { ConnectionOptions } from 'node:tls';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { preparedNameOf } from './compiled.ts';
import { postgresDialect } from './dialect.ts';
import type { DatabaseLocation, PostgresTls, Store } from './types.ts';
import { createQueryObservers } from './observe.ts';
import type { Database } from './tables.ts';

const DEFAULT_POOL_SIZE = 10;
const INT8_OID = 20;

// count(*) and BIGSERIAL come back as int8, which pg returns as strings to be safe beyond
// 2^53. Roster's counts and audit sequence numbers stay far below that, and SQLite returns
// numbers, so both databases give the domain the same type.
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID && format !== 'binary') return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
};

/** Opens a pool on a postgres:// URL without migrating; connections are made on first use. */
export function openPostgres(location: Extract<DatabaseLocation, { kind: 'postgres' }>): Omit<Store, 'secrets'> {
  const pool = new pg.Pool({
    connectionString: withoutTlsParameters(location.url),
    max: location.poolSize ?? DEFAULT_POOL_SIZE,
    ssl: tlsOptions(location.tls),
    types,
    // Every instance keeps its own pool; idle connections go back so that N instances do
    // not hold N × pool size connections forever.
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
    application_name: 'roster',
  });
  // An idle client losing its connection (database restart) must not crash the process; the
  // pool replaces it and the next query reports any lasting problem.
  pool.on('error', () => {});
  // The pool listens for errors only on idle clients. A client checked out (inside a
  // transaction, between two queries) whose server goes away (pg_ctl stop, a failover) emits
  // 'error' too, and an 'error' event nobody listens to ends the process. Its queries already
  // reject with the error, and the pool discards the broken client when it is released.
  pool.on('connect', (client) => {
    client.on('error', () => {});
    if (location.preparedStatements !== false) prepareCompiledQueries(client);
  });
  const observers = createQueryObservers();
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), log: observers.log });
  const max = location.poolSize ?? DEFAULT_POOL_SIZE;
  return {
    db,
    dialect: postgresDialect,
    async close() {
      await db.destroy();
    },
    observeQueries: observers.add,
    poolUse: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max }),
  };
}

/**
 * Makes `client` run the queries compiled once (compiled.ts: the token, the user by id or
 * userName, …) as named prepared statements: prepared on a connection's first use, then bound
 * and executed. The server then plans each of them once per connection instead of on every
 * request (it halved the time of a `GET /Users/{id}`: docs/performance.md). Every other query
 * goes through as before. Behind PgBouncer in transaction mode this needs its support for
 * prepared statements (`max_prepared_statements`, PgBouncer 1.21 or later), or
 * ROSTER_DATABASE_PREPARED_STATEMENTS=off, which leaves every query unnamed.
 */
function prepareCompiledQueries(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  const prepared = (config: unknown, values?: unknown, callback?: unknown): unknown => {
    if (typeof config === 'string' && Array.isArray(values) && callback === undefined) {
      const name = preparedNameOf(config);
      if (name !== undefined) return query({ name, text: config, values });
    }
    return callback === undefined ? query(config, values) : query(config, values, callback);
  };
  (client as unknown as { query: typeof prepared }).query = prepared;
}

/** Node's TLS options for a libpq-style mode; false means plain TCP. */
function tlsOptions(tls: PostgresTls | undefined): ConnectionOptions | false {
  if (tls === undefined) return false;
  const ca = tls.ca !== undefined ? { ca: tls.ca } : {};
  switch (tls.mode) {
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-ca':
      // The chain is checked, the host name is not (libpq's verify-ca).
      return { rejectUnauthorized: true, checkServerIdentity: () => undefined, ...ca };
    case 'verify-full':
      return { rejectUnauthorized: true, ...ca };
  }
}

/**
 * The URL without ssl* parameters: pg lets URL parameters override the `ssl` option, and
 * reads its own meaning into `sslmode=require` (full verification), so the parsed
 * configuration must be the only source.
 */
function withoutTlsParameters(url: string): string {
  const parsed = new URL(url);
  for (const key of [...parsed.searchParams.keys()]) {
    if (key.startsWith('ssl')) parsed.searchParams.delete(key);
  }
  return parsed.href;
}
