/**
 * The store: one Kysely instance over SQLite (embedded, default) or PostgreSQL, with its
 * dialect adapter and migrations. Everything that touches SQL lives under store/.
 */
import { migrate } from './migrate.ts';
import { createSecretBox, keyIdOf } from './secret-box.ts';
import { prepareSecrets } from './secrets.ts';
import { openElsewhere, openSqlite } from './sqlite.ts';
export { makeDirectories } from './sqlite.ts';
import type { DatabaseLocation, OpenOptions, Store } from './types.ts';
import { connectionFailure, DatabaseRefused, isPrivilegeRefusal, isReadOnlyRefusal } from './errors.ts';

export type { DatabaseLocation, OpenOptions, PostgresTls, SecretsReport, Store } from './types.ts';
export { fromNewerRoster, migrationPlan, type MigrationPlan } from './migrate.ts';
export type { Database } from './tables.ts';
export { SecretsError } from './secret-box.ts';
export { DatabaseFileFault, DatabaseRefused, isDatabaseDamaged, isDatabaseTimeout, isDatabaseUnavailable, isTooManyConnections, optionalWrites, type OptionalWrite } from './errors.ts';
export type { DialectAdapter } from './dialect.ts';
export type { PoolUse, QueryKind, QueryObservation, QueryObserver } from './observe.ts';

/**
 * How long a serving instance lets one PostgreSQL statement go unanswered before it is cancelled,
 * fails (503), and its connection is closed. Statements take milliseconds; the longest of a
 * serving instance (one batch of a clean-up, one statement of a 50,000-member group's PUT) stay
 * far below this.
 * A connection silent this long is dead (a failover, a frozen backend, a black hole) or stuck
 * behind a lock someone holds: either way the request is better answered than left waiting.
 */
export const QUERY_DEADLINE_MS = 30_000;

/**
 * Opens the database, brings its schema up to date, and checks the secret key against the
 * database (sealing plaintext secrets with a key newly configured once no other Roster process
 * without it uses the database): a wrong or missing key
 * fails here, before anything serves (secrets.ts). Only then do PostgreSQL statements get
 * `options.queryDeadlineMs`.
 */
export async function openStore(location: DatabaseLocation, options: OpenOptions = {}): Promise<Store> {
  // pg is loaded only for PostgreSQL: an instance on SQLite never needs it.
  let opened: Omit<Store, 'secrets'>;
  let setQueryDeadline: ((deadlineMs: number | undefined) => void) | undefined;
  let sqliteOpenElsewhere = false;
  if (location.kind === 'postgres') {
    const postgres = (await import('./postgres.ts')).openPostgres(location, options.secretKey === undefined ? undefined : keyIdOf(options.secretKey));
    opened = postgres;
    setQueryDeadline = postgres.setQueryDeadline;
  } else {
    // Asked before this process opens the file, whose own connection would hide the others.
    sqliteOpenElsewhere = options.migrate !== false && location.path !== ':memory:' && openElsewhere(location.path);
    opened = openSqlite(location.path);
  }
  const store: Store = { ...opened, secrets: createSecretBox(options.secretKey, options.previousSecretKey) };
  if (options.migrate !== false) {
    try {
      // Without a deadline: a migration may build an index over millions of rows.
      await migrate(store, {
        scope: options.migrate === 'new-database' ? 'new-database' : 'any',
        sqliteOpenElsewhere,
        ...(options.onMigrating !== undefined ? { onPending: options.onMigrating } : {}),
        ...(options.onMigrated !== undefined ? { onApplied: options.onMigrated } : {}),
      });
      if (options.prepareSecrets !== false) {
        const report = await prepareSecrets(store, { sqliteOpenElsewhere });
        options.onSecrets?.(report);
      }
    } catch (error) {
      await store.close();
      // The first statement is the migration's: a server that is not there is not a failed migration.
      const reason = location.kind === 'postgres' ? connectionFailure(error) : undefined;
      if (reason !== undefined && location.kind === 'postgres') throw new DatabaseRefused(`Cannot connect to the database (${describePostgres(location.url)}): ${reason}.`, { cause: error });
      throw writesRefused(location, error) ?? error;
    }
  }
  setQueryDeadline?.(options.queryDeadlineMs);
  return store;
}

/**
 * What to say when PostgreSQL at `location` refused a write because it is read-only (a standby,
 * `default_transaction_read_only`), or a statement because Roster's role lacks the right (its
 * tables owned by another role, or only some rights granted), at start or in a command after
 * it; undefined for any other error.
 */
export function writesRefused(location: DatabaseLocation, error: unknown): DatabaseRefused | undefined {
  if (location.kind !== 'postgres') return undefined;
  if (isPrivilegeRefusal(error)) {
    const reason = error instanceof Error ? error.message : String(error);
    return new DatabaseRefused(
      `The database refuses Roster's role a right it needs (${describePostgres(location.url)}): ${reason}. ` +
        'Roster creates and changes its own tables: give it a database it owns (CREATE DATABASE roster OWNER <role>, docs/deploy.md), or make its role the owner of the tables there.',
      { cause: error },
    );
  }
  if (!isReadOnlyRefusal(error)) return undefined;
  return new DatabaseRefused(
    `The database refuses writes (${describePostgres(location.url)}): it is read-only, a standby (after a failover, point ROSTER_DATABASE_URL at the new primary) or default_transaction_read_only is on. Roster needs to write at start and for every change.`,
    { cause: error },
  );
}

/** A PostgreSQL URL as `host:port/database, user role`, for a message: never the password. */
function describePostgres(url: string): string {
  const parsed = new URL(url);
  return `PostgreSQL at ${parsed.hostname}:${parsed.port || '5432'}, database ${decodeURIComponent(parsed.pathname.slice(1)) || '(default)'}, user ${decodeURIComponent(parsed.username) || '(default)'}`;
}

/** Describes a location for people (logs, progress): never the password. */
export function describeLocation(location: DatabaseLocation): string {
  if (location.kind === 'sqlite') return `SQLite ${location.path}`;
  const url = new URL(location.url);
  return `PostgreSQL ${url.hostname}${url.port ? `:${url.port}` : ''}${url.pathname}`;
}
