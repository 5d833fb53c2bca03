/** Recognising database errors that mean something to the domain, on either database. */

/** A database Roster will not use as it is, with a message that says why and what to do. */
export class DatabaseRefused extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DatabaseRefused';
  }
}

/**
 * The SQLite database file is not usable as it stands while Roster runs (moved away, replaced, or
 * unreadable: a failed disk, a file system shut down under it), with a message that says what to
 * do. Its SQLite-style code makes it count as the database being unavailable (isDatabaseUnavailable).
 */
export class DatabaseFileFault extends Error {
  readonly code: string;
  constructor(message: string, code: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DatabaseFileFault';
    this.code = code;
  }
}

/** Node's codes for a TLS certificate it refused: unknown issuer, self-signed, expired, another host's. */
const TLS_CERTIFICATE_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * Why a first connection to PostgreSQL failed, for the person who set ROSTER_DATABASE_URL, or
 * undefined when `error` is not a connection failure: the server is not there (refused, host
 * unknown, unreachable), refuses the role or its password, or has no such database.
 */
export function connectionFailure(error: unknown): string | undefined {
  for (const { code, message } of causes(error)) {
    const text = typeof message === 'string' ? message : String(code);
    if (code === 'ECONNREFUSED') return 'nothing accepts connections there (connection refused); check that PostgreSQL runs on that host and port';
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'its host name does not resolve (no such host)';
    if (code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return `the host does not answer (${String(code)}); check the address and any firewall in between`;
    if (code === '28P01' || code === '28000') return `${text}: check the user and password in ROSTER_DATABASE_URL (and pg_hba.conf)`;
    if (code === '3D000') return `${text}: create it (createdb), or correct the database name in ROSTER_DATABASE_URL`;
    if (typeof message === 'string' && message.includes('does not support SSL')) {
      return `${text}: sslmode in ROSTER_DATABASE_URL (or ROSTER_DATABASE_SSL_CA, which implies verify-full) asks for TLS; turn ssl on in the server's postgresql.conf, or set sslmode=disable on a network you trust`;
    }
    if (typeof code === 'string' && TLS_CERTIFICATE_CODES.has(code)) {
      return `the server's TLS certificate is not accepted (${code}: ${text}): give the CA that signed it in ROSTER_DATABASE_SSL_CA, and connect by the host name the certificate names (or use sslmode=verify-ca or require in ROSTER_DATABASE_URL)`;
    }
    if (typeof code === 'string' && (/^08[0-9A-Z]{3}$/.test(code) || code === '57P03' || code === '53300')) return text;
    if (typeof message === 'string' && PG_CONNECTION_MESSAGES.some((known) => message.includes(known))) return message;
  }
  return undefined;
}

/** True when `error` is a violation of a UNIQUE index or primary key (SQLite or PostgreSQL). */
export function isUniqueViolation(error: unknown): boolean {
  if (typeof error !== 'object' || error === null || !('code' in error)) return false;
  const code = (error as { code: unknown }).code;
  // better-sqlite3 reports extended result codes; pg reports SQLSTATE 23505.
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}

/**
 * True when a transaction failed only because of another one and may simply run again:
 * a PostgreSQL deadlock (40P01) or serialization failure (40001), or SQLite still busy after
 * busy_timeout (another process held the write lock that long).
 */
export function isTransientConflict(error: unknown): boolean {
  if (typeof error !== 'object' || error === null || !('code' in error)) return false;
  const code = (error as { code: unknown }).code;
  return code === '40P01' || code === '40001' || code === 'SQLITE_BUSY';
}

/** PostgreSQL SQLSTATEs that say the server is going away or cannot take work now (not the request's fault). */
const UNAVAILABLE_SQLSTATES = new Set([
  '57P01', // admin_shutdown: the server is stopping (pg_ctl stop -m fast)
  '57P02', // crash_shutdown: another backend crashed, the server restarts
  '57P03', // cannot_connect_now: starting up or in recovery
  '53100', // disk_full
  '53300', // too_many_connections
  '25006', // read_only_sql_transaction: a standby, or default_transaction_read_only set (postgres.ts closes the connection)
]);

/** True when `error` is PostgreSQL refusing a new connection: max_connections, or a role's or database's CONNECTION LIMIT, reached (53300). */
export function isTooManyConnections(error: unknown): boolean {
  return causes(error).some(({ code }) => code === '53300');
}

/**
 * True when `error` is PostgreSQL refusing a statement because the role lacks a privilege
 * (SQLSTATE 42501 insufficient_privilege: `permission denied for table users`, or for schema
 * public when a migration creates a table): Roster's role does not own its tables, or was given
 * only some rights on them.
 */
export function isPrivilegeRefusal(error: unknown): boolean {
  return causes(error).some(({ code }) => code === '42501');
}

/** True when `error` is PostgreSQL refusing a write because the session is read-only (SQLSTATE 25006). */
export function isReadOnlyRefusal(error: unknown): boolean {
  return causes(error).some(({ code }) => code === '25006');
}

/**
 * PostgreSQL SQLSTATEs that say the server gave up waiting (not that it is gone): a statement
 * cut by `statement_timeout`, or a lock not granted within `lock_timeout`. Roster sets neither;
 * a DBA may, on the role or the database (docs/operations.md).
 */
const TIMEOUT_SQLSTATES = new Set([
  '57014', // query_canceled: statement_timeout (or pg_cancel_backend)
  '55P03', // lock_not_available: lock_timeout
]);

/** The code of the error a statement gets when its connection did not answer in time (postgres.ts). */
export const QUERY_DEADLINE_CODE = 'ROSTER_QUERY_DEADLINE';

/**
 * The error of a statement that got no answer within its deadline: its connection was closed,
 * since a connection that stopped answering (a failover's dead socket, a frozen backend) would
 * otherwise wait for TCP to give up, about 15 minutes. `cancelled`: PostgreSQL was first asked to
 * cancel the statement (postgres.ts), so that it stops waiting or running and lets go of its locks.
 */
export class QueryDeadlineError extends Error {
  readonly code = QUERY_DEADLINE_CODE;
  constructor(deadlineMs: number, cancelled = false) {
    super(`The database did not answer within ${deadlineMs} ms; ${cancelled ? 'the statement was cancelled and the connection closed' : 'the connection was closed'}`);
    this.name = 'QueryDeadlineError';
  }
}

/** Socket errors of a database connection that was refused, cut, or never made. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * SQLite's (extended) result codes for a file that cannot be written now: the disk is full, the
 * file or its directory is read-only, it cannot be opened, or the operating system failed an I/O.
 */
const SQLITE_UNAVAILABLE = /^SQLITE_(FULL|READONLY|CANTOPEN|IOERR)(_[A-Z_]+)?$/;

/** node-postgres reports a lost or never-made connection with these messages and no code. */
const PG_CONNECTION_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'is not queryable',
  'Connection ended unexpectedly',
];

/**
 * True when `error` says the database cannot be reached or written right now (PostgreSQL down,
 * restarting or refusing connections; a SQLite file on a full or read-only disk) rather than
 * that the request was wrong: the request may succeed later, so it is answered 503, not 500.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (isDatabaseTimeout(error)) return true;
  return causes(error).some(({ code, message }) => {
    if (typeof code === 'string' && (UNAVAILABLE_SQLSTATES.has(code) || /^08[0-9A-Z]{3}$/.test(code) || NETWORK_CODES.has(code) || SQLITE_UNAVAILABLE.test(code))) return true;
    return typeof message === 'string' && PG_CONNECTION_MESSAGES.some((text) => message.includes(text));
  });
}

/**
 * SQLite's result codes for a file whose content is damaged (a page that fails its checks, a file
 * that is not a database), and PostgreSQL's SQLSTATEs for corrupted data or index (class XX).
 */
const SQLITE_DAMAGED = /^SQLITE_(CORRUPT(_[A-Z_]+)?|NOTADB)$/;
const PG_DAMAGED = new Set(['XX001', 'XX002']);

/**
 * True when `error` says the database's content is damaged: no retry helps, an administrator
 * must repair or restore it. Answered 503 (the service cannot work, not the request that failed).
 */
export function isDatabaseDamaged(error: unknown): boolean {
  return causes(error).some(({ code }) => typeof code === 'string' && (SQLITE_DAMAGED.test(code) || PG_DAMAGED.has(code)));
}

/** Runs a write that may be left out; undefined when it was (see optionalWrites). */
export type OptionalWrite = <T>(write: () => Promise<T>) => Promise<T | undefined>;

/**
 * For writes a request can do without (a token's last use, a session's last-seen time, a
 * rate-limit reservation that memory stands in for): when the database cannot take one
 * (isDatabaseUnavailable: read-only, full, down), the request goes on without it, and such writes
 * are not tried again for `pauseMs`, since each refusal costs a statement and, on PostgreSQL, a
 * pooled connection (closed after a read-only refusal). Any other error is the caller's.
 */
export function optionalWrites(pauseMs: number, now: () => number = Date.now): OptionalWrite {
  let pausedUntil = 0;
  return async (write) => {
    if (now() < pausedUntil) return undefined;
    try {
      return await write();
    } catch (error) {
      if (!isDatabaseUnavailable(error)) throw error;
      pausedUntil = now() + pauseMs;
      return undefined;
    }
  };
}

/** `error` and the errors it was caused by (`cause`), up to five deep: drivers and Kysely wrap the database's error. */
function causes(error: unknown): { readonly code?: unknown; readonly message?: unknown }[] {
  const chain: { code?: unknown; message?: unknown }[] = [];
  for (let current: unknown = error; typeof current === 'object' && current !== null && chain.length < 5; current = (current as { cause?: unknown }).cause) {
    chain.push(current as { code?: unknown; message?: unknown });
  }
  return chain;
}

/**
 * True when `error` says the database did not answer in time (a connection past Roster's
 * deadline, PostgreSQL's statement_timeout or lock_timeout): a kind of unavailability whose
 * answer says the database was slow rather than unreachable.
 */
export function isDatabaseTimeout(error: unknown): boolean {
  return causes(error).some(({ code }) => code === QUERY_DEADLINE_CODE || (typeof code === 'string' && TIMEOUT_SQLSTATES.has(code)));
}
