/**
 * What a store is (the interface every layer above uses) and where a database lives: types only,
 * so that the drivers (sqlite.ts, postgres.ts) and the steps of opening one (migrate.ts,
 * secrets.ts) can name them without importing index.ts, which imports them.
 */
import type { Kysely } from 'kysely';
import type { DialectAdapter } from './dialect.ts';
import type { HeldSnapshot } from './held-snapshot.ts';
import type { PoolUse, QueryObserver, WarningObserver } from './observe.ts';
import type { SecretBox } from './secret-box.ts';
import type { Database } from './tables.ts';

export interface Store {
  readonly db: Kysely<Database>;
  readonly dialect: DialectAdapter;
  /** Seals and opens secrets at rest with ROSTER_SECRET_KEY (secret-box.ts); passes them through without a key. */
  readonly secrets: SecretBox;
  /** Closes the connection(s); pending queries finish first. */
  close(): Promise<void>;
  /** Calls `observer` after every statement (its kind and duration); returns the function that stops it. */
  observeQueries(observer: QueryObserver): () => void;
  /** Calls `observer` with what went wrong beside a statement (PostgreSQL: a cancel that could not be sent); returns the function that stops it. */
  observeWarnings(observer: WarningObserver): () => void;
  /**
   * A read-only snapshot held until its `end()`, for an answer written while it is read: on
   * PostgreSQL a pool connection in a REPEATABLE READ transaction, on SQLite a connection of its
   * own (WAL) on a reader thread (sqlite-readers.ts). Held as long as the client takes to read
   * the answer.
   */
  openSnapshot(): Promise<HeldSnapshot>;
  /** The PostgreSQL pool's use now; undefined on SQLite (one connection, no pool). */
  poolUse(): PoolUse | undefined;
  /**
   * Resolves when the database answers `SELECT 1` within `deadlineMs`; rejects otherwise. On
   * PostgreSQL a connection that did not answer is closed, so that a health check cannot keep it
   * (at once, without the cancel other statements get first: a SELECT 1 holds no lock).
   */
  ping(deadlineMs: number): Promise<void>;
}

/** What start-up did about secrets at rest. */
export interface SecretsReport {
  /** Plaintext values sealed now, and values re-sealed from the previous key. */
  readonly sealed: number;
  readonly resealed: number;
  /**
   * Set when the store has a key the database's secrets are not sealed with yet, and they were
   * left as they are: other Roster processes without the key use the database (which ones,
   * as secrets.ts processesWithoutKey says).
   */
  readonly waitingFor?: string;
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
      /** How long a long read waits for its share of the pool (long-reads.ts); LONG_READ_WAIT_MS by default. Not configurable from the environment. */
      readonly longReadWaitMs?: number;
    };

/** How to open a store. */
export interface OpenOptions {
  /**
   * false opens the database as it is: no migrations and no secrets check (db copy's source).
   * 'new-database' migrates a database that has no schema yet and refuses to upgrade an older
   * one (CLI commands other than `db migrate`: see migrate.ts). Default true: upgrades too.
   */
  readonly migrate?: boolean | 'new-database';
  /** Told which migrations are about to run, before the first (start-up logs it: a large directory takes a while). */
  readonly onMigrating?: (pending: readonly string[]) => void;
  /** Told which of them this process applied once done: none when another process applied them meanwhile. */
  readonly onMigrated?: (applied: readonly string[]) => void;
  /**
   * false migrates but leaves secrets as they are: no key check, nothing sealed (`roster secrets
   * status`, which only reports). Default true: start-up checks the key and seals plaintext.
   */
  readonly prepareSecrets?: boolean;
  /** ROSTER_PREVIOUS_SECRET_KEY (32 bytes): opens what it sealed, during a rolling rotation to `secretKey`. */
  readonly previousSecretKey?: Buffer | undefined;
  /** ROSTER_SECRET_KEY (32 bytes), or undefined to keep secrets in plaintext. */
  readonly secretKey?: Buffer | undefined;
  /**
   * PostgreSQL: how long one statement may go unanswered, once the store is migrated, before it
   * is cancelled on the server, fails, and its connection is closed (QUERY_DEADLINE_MS for a
   * serving instance). Undefined:
   * no deadline (the CLI; `db copy`, whose statements may take minutes).
   */
  readonly queryDeadlineMs?: number | undefined;
  /** Told what start-up did about secrets at rest: values sealed, or a key left unused while processes without it use the database (secrets.ts). */
  readonly onSecrets?: (report: SecretsReport) => void;
}
