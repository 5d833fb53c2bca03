/**
 * PostgreSQL through node-postgres (pg): a pool per process, TLS as configured. Transactions
 * run at READ COMMITTED; read-modify-write paths lock the rows they read (see `lock` in
 * users.ts and groups.ts), so several instances can share one database safely.
 */
import type { ConnectionOptions } from 'node:tls';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { sendCancelRequest } from './cancel.ts';
import { preparedNameOf } from './compiled.ts';
import { postgresDialect } from './dialect.ts';
import { QueryDeadlineError, isReadOnlyRefusal } from './errors.ts';
import { postgresSnapshot, type HeldSnapshot } from './held-snapshot.ts';
import { createLongReadShare, longReadSlots, type LongReadShare } from './long-reads.ts';
import type { DatabaseLocation, PostgresTls, Store } from './types.ts';
import { createQueryObservers, createWarningObservers, type WarningObserver } from './observe.ts';
import type { Database } from './tables.ts';
import { postgresApplicationName } from './migrate.ts';

const DEFAULT_POOL_SIZE = 10;
/** How long a pooled connection may sit unused before it is closed (all but the last). */
export const POOL_IDLE_MS = 30_000;
/**
 * When an idle connection's first keepalive probe goes out. A peer that vanished without closing
 * (a failover, a host gone) is then noticed by the kernel while the connection idles, instead of
 * by the next query to use it; how soon depends on the OS's probe interval and count.
 */
const KEEPALIVE_DELAY_MS = 10_000;
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

/** A PostgreSQL store, whose statements can be given a deadline once it is migrated. */
export interface PostgresStore extends Omit<Store, 'secrets'> {
  /**
   * From now on, a statement that gets no answer within `deadlineMs` is cancelled, fails, and its
   * connection is closed (undefined: statements wait as long as they take). Set after the
   * migrations, which may build indexes over millions of rows.
   */
  setQueryDeadline(deadlineMs: number | undefined): void;
}

/** Opens a pool on a postgres:// URL without migrating; connections are made on first use. */
export function openPostgres(location: Extract<DatabaseLocation, { kind: 'postgres' }>, secretKeyId?: string): PostgresStore {
  let queryDeadlineMs: number | undefined;
  const pool = new pg.Pool({
    connectionString: withoutTlsParameters(location.url),
    max: location.poolSize ?? DEFAULT_POOL_SIZE,
    ssl: tlsOptions(location.tls),
    types,
    // Every instance keeps its own pool; idle connections go back so that N instances do
    // not hold N × pool size connections forever. All but one: an instance with nothing to do
    // keeps its last connection, whose `application_name` is how an upgrade to a version with a
    // migration that needs older instances stopped sees it (otherRosterConnections, migrate.ts).
    idleTimeoutMillis: POOL_IDLE_MS,
    min: 1,
    connectionTimeoutMillis: 10_000,
    // `roster <newest migration> <process> [<key id>]`: an upgrade tells older instances'
    // connections by it, and sealing secrets those without the key (migrate.ts).
    application_name: postgresApplicationName(secretKeyId),
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
  });
  // An idle client losing its connection (database restart) must not crash the process; the
  // pool replaces it and the next query reports any lasting problem.
  pool.on('error', () => {});
  const warnings = createWarningObservers();
  // The pool listens for errors only on idle clients. A client checked out (inside a
  // transaction, between two queries) whose server goes away (pg_ctl stop, a failover) emits
  // 'error' too, and an 'error' event nobody listens to ends the process. Its queries already
  // reject with the error, and the pool discards the broken client when it is released.
  pool.on('connect', (client) => {
    client.on('error', () => {});
    if (location.preparedStatements !== false) prepareCompiledQueries(client);
    limitQueries(client, () => queryDeadlineMs, warnings.warn);
  });
  const observers = createQueryObservers();
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), log: observers.log });
  const max = location.poolSize ?? DEFAULT_POOL_SIZE;
  const longReads = createLongReadShare(longReadSlots(max), location.longReadWaitMs);
  return {
    db,
    dialect: postgresDialect,
    async close() {
      await db.destroy();
    },
    observeQueries: observers.add,
    observeWarnings: warnings.add,
    openSnapshot: () => snapshotInShare(db, longReads),
    poolUse: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max, longReads: longReads.use() }),
    async ping(deadlineMs) {
      const started = Date.now();
      // Waiting for a connection holds none: only the SELECT needs a deadline of its own.
      const client = await pool.connect();
      try {
        const left = deadlineMs - (Date.now() - started);
        if (left <= 0) throw new QueryDeadlineError(deadlineMs);
        // Not cancelled first: a SELECT 1 holds no lock and costs the server nothing, and the
        // check must answer within its deadline, which a cancel to an unreachable server would
        // stretch by up to CANCEL_WAIT_MS.
        await within(client, client.query('SELECT 1'), left);
      } finally {
        // A client closed by the deadline is discarded by the pool, not lent again.
        client.release();
      }
    },
    setQueryDeadline(deadlineMs) {
      queryDeadlineMs = deadlineMs;
    },
  };
}

/** A held snapshot that takes one of the long reads' slots first and gives it back at its end (long-reads.ts). */
async function snapshotInShare(db: Kysely<Database>, longReads: LongReadShare): Promise<HeldSnapshot> {
  const release = await longReads.enter();
  let snapshot: HeldSnapshot;
  try {
    snapshot = await postgresSnapshot(db);
  } catch (error) {
    release();
    throw error;
  }
  return {
    ...snapshot,
    async end() {
      try {
        await snapshot.end();
      } finally {
        release();
      }
    },
  };
}

/**
 * Gives every statement `client` runs (as a promise, as Kysely does) the deadline `deadlineMs()`
 * says at the time. Past it the statement is cancelled, fails with a QueryDeadlineError, and the
 * connection is closed: a connection that stopped answering without being closed (a failover's
 * dead socket, a frozen backend, a network black hole) would otherwise hold the request until TCP
 * gives up (about 15 minutes), and, released without an error by Kysely, be lent to the next
 * request. A cancel that cannot be sent is told to `warn`.
 */
function limitQueries(client: pg.PoolClient, deadlineMs: () => number | undefined, warn: WarningObserver): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  const cancel = (): Promise<boolean> => cancelStatement(client, warn);
  const limited = (...args: unknown[]): unknown => {
    const result = query(...args);
    // A client closed by a read-only refusal gives its later statements (the ROLLBACK of a
    // migration, which has no deadline) that refusal, not pg's "Client was closed".
    const closed = expired.get(client);
    if (closed !== undefined && result instanceof Promise) {
      result.catch(() => {});
      return Promise.reject(closed);
    }
    const ms = deadlineMs();
    const bounded = ms !== undefined && result instanceof Promise ? within(client, result, ms, cancel) : result;
    return bounded instanceof Promise ? bounded.catch((error: unknown) => closeIfReadOnly(client, error)) : bounded;
  };
  (client as unknown as { query: typeof limited }).query = limited;
}

/** Clients closed by a deadline or a read-only refusal, with the error their later statements (a ROLLBACK) get too. */
const expired = new WeakMap<pg.PoolClient, Error>();

/**
 * Rethrows `error`; when it is a write refused because the session is read-only (25006), first
 * closes `client`, so that the pool discards it. A session takes `default_transaction_read_only`
 * when it starts: pooled connections opened while the database was read-only (a failover that
 * left the URL on a standby, the setting turned on for maintenance) would refuse every write
 * long after the primary is back or the setting reset, until they happened to sit idle for 30 s.
 * Later statements of the request (its ROLLBACK) get the same error, so its answer says why.
 */
function closeIfReadOnly(client: pg.PoolClient, error: unknown): never {
  if (isReadOnlyRefusal(error) && error instanceof Error && !expired.has(client)) {
    expired.set(client, error);
    (client as pg.PoolClient & Pick<pg.Client, 'end'>).end().catch(() => {});
  }
  throw error;
}

/**
 * `result` (a statement of `client`), or a QueryDeadlineError after `ms`, when `client` is ended:
 * pg closes the socket (at once if the statement is still in flight), fails what is queued, and
 * marks the client so that the pool discards it on release. The request sees the deadline's error, also
 * from the ROLLBACK that Kysely sends next, so that its answer says the database was too slow.
 *
 * Closing the connection does not stop the statement: PostgreSQL notices a client gone only when
 * it next reads from it, so a statement waiting on a lock goes on waiting, holding the row locks
 * its transaction took (other requests, on every instance, then queue behind it and pass their
 * own deadlines), and a long one goes on running. `cancel` (when given) asks the server to cancel
 * it first; the connection is closed once the cancel was delivered or given up, and the backend,
 * its statement cancelled, reads the close, rolls back and ends, letting go of its locks.
 */
function within<T>(client: pg.PoolClient, result: Promise<T>, ms: number, cancel?: () => Promise<boolean>): Promise<T> {
  const closed = expired.get(client);
  if (closed !== undefined) {
    result.catch(() => {});
    return Promise.reject(closed);
  }
  return new Promise<T>((resolve, reject) => {
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      // The connection stays open, and the request waits, until the cancel is through: behind
      // PgBouncer a cancel sent after its client left matches no client, and is dropped.
      // Nothing else runs on the connection meanwhile (the request waits for this statement),
      // so the cancel cannot reach a later statement.
      void (cancel?.() ?? Promise.resolve(false)).then((cancelled) => {
        const error = new QueryDeadlineError(ms, cancelled);
        expired.set(client, error);
        // Ended before the rejection reaches Kysely, so that the pool discards it on release.
        // A pool's client is a pg.Client, whose end() the PoolClient type leaves out.
        (client as pg.PoolClient & Pick<pg.Client, 'end'>).end().catch(() => {});
        reject(error);
      });
    }, ms);
    result.then(
      (value) => {
        if (late) return;
        clearTimeout(timer);
        resolve(value);
      },
      // Once late, the answer is the deadline's error, whatever the statement does meanwhile
      // (the cancel ends it with "canceling statement due to user request").
      (error: unknown) => {
        if (late) return;
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/**
 * Asks PostgreSQL to cancel the statement `client` is running: a CancelRequest (cancel.ts) with
 * the key the server gave the connection. Chosen over `pg_terminate_backend(pid)` from another
 * connection because it needs none: no pool connection (the pool may be exhausted by the very
 * requests that wait), no new session (no authentication, no slot of `max_connections`, which a
 * pile-up may have used up), no privilege; and behind PgBouncer the process id a client is given
 * is PgBouncer's own, which PgBouncer maps back to the right server connection for a cancel but
 * which, passed to pg_terminate_backend, would name no backend or another one. It only cancels
 * the statement: the close that follows ends the session (within). Resolves whether the server
 * took it; never rejects: a cancel that fails is told to `warn`, and the connection closed as
 * before.
 *
 * PostgreSQL 14's client_connection_check_interval (the backend checking its client while it
 * waits or runs) would complement this, but it is not set here: as a start-up parameter
 * PgBouncer refuses it (as it would statement_timeout), as a SET after connecting it costs a
 * round trip per connection, fails on PostgreSQL 13 and CockroachDB, and behind PgBouncer in
 * transaction mode lands on whichever server connection ran it. A DBA sets it on the role
 * (docs/operations.md).
 */
async function cancelStatement(client: pg.PoolClient, warn: WarningObserver): Promise<boolean> {
  // BackendKeyData as pg keeps it, which its types leave out.
  const { processID, secretKey, host, port } = client as pg.PoolClient & { processID: unknown; secretKey: unknown };
  try {
    if (typeof processID !== 'number' || typeof secretKey !== 'number') throw new Error('the server gave this connection no cancel key');
    const outcome = await sendCancelRequest({ host, port, processId: processID, secretKey });
    if (outcome.delivered) return true;
    throw outcome.error;
  } catch (error) {
    warn({ error, message: 'could not cancel a PostgreSQL statement past its deadline: its connection is closed, but the server may go on running it, and holding its locks, until it notices' });
    return false;
  }
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
