/** The one list of migrations, applied to SQLite and PostgreSQL alike under a database lock. */
import { randomBytes } from 'node:crypto';
import { DEFAULT_MIGRATION_LOCK_TABLE, MIGRATION_LOCK_ID, Migrator, PostgresAdapter, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { DatabaseRefused } from './errors.ts';
import type { DialectAdapter } from './dialect.ts';
import type { Executor } from './executor.ts';
import type { Database } from './tables.ts';
import type { Store } from './types.ts';
import * as initial from './migrations/001-initial.ts';
import * as accounts from './migrations/002-accounts-and-sessions.ts';
import * as signInAttempts from './migrations/003-saml-sign-in-attempts.ts';
import * as managedMode from './migrations/004-managed-mode.ts';
import * as samlBindingAndAuditBudget from './migrations/005-saml-binding-and-audit-budget.ts';
import * as embeddedVersions from './migrations/007-embedded-versions.ts';
import * as passwordBackoff from './migrations/008-password-backoff.ts';
import * as provisioningActivity from './migrations/009-provisioning-activity.ts';
import * as events from './migrations/010-events.ts';
import * as caseKeysAndCustomSchemas from './migrations/011-case-keys-and-custom-schemas.ts';
import * as oidc from './migrations/012-oidc.ts';
import * as webhooks from './migrations/013-webhooks.ts';
import * as rateLimits from './migrations/014-rate-limits.ts';
import * as eventsInCommitOrder from './migrations/015-events-in-commit-order.ts';
import * as knownBrowsers from './migrations/016-known-browsers.ts';
import * as sessionOrigin from './migrations/017-session-origin.ts';
import * as membershipHistory from './migrations/019-membership-history.ts';
import * as administratorIndex from './migrations/020-administrator-index.ts';
import * as feedGaps from './migrations/021-feed-gaps.ts';
import * as inactiveUsersIndex from './migrations/022-inactive-users-index.ts';
import * as generatedPasswords from './migrations/023-generated-passwords.ts';
import * as samlExpiryIndexes from './migrations/024-saml-expiry-indexes.ts';
import * as provisioningModeRow from './migrations/025-provisioning-mode-row.ts';
import * as sessionRights from './migrations/026-session-rights.ts';
import * as applicationSecretOverlap from './migrations/027-application-secret-overlap.ts';
import * as userEventsByUser from './migrations/028-user-events-by-user.ts';
import * as backchannelLogout from './migrations/029-backchannel-logout.ts';

const MIGRATIONS: Record<string, (db: Kysely<unknown>, dialect: DialectAdapter) => Promise<void>> = {
  '001-initial': initial.up,
  '002-accounts-and-sessions': accounts.up,
  '003-saml-sign-in-attempts': signInAttempts.up,
  '004-managed-mode': managedMode.up,
  '005-saml-binding-and-audit-budget': samlBindingAndAuditBudget.up,
  '007-embedded-versions': embeddedVersions.up,
  '008-password-backoff': passwordBackoff.up,
  '009-provisioning-activity': provisioningActivity.up,
  '010-events': events.up,
  '011-case-keys-and-custom-schemas': caseKeysAndCustomSchemas.up,
  '012-oidc': oidc.up,
  '013-webhooks': webhooks.up,
  '014-rate-limits': rateLimits.up,
  '015-events-in-commit-order': eventsInCommitOrder.up,
  '016-known-browsers': knownBrowsers.up,
  '017-session-origin': sessionOrigin.up,
  '019-membership-history': membershipHistory.up,
  '020-administrator-index': administratorIndex.up,
  '021-feed-gaps': feedGaps.up,
  '022-inactive-users-index': inactiveUsersIndex.up,
  '023-generated-passwords': generatedPasswords.up,
  '024-saml-expiry-indexes': samlExpiryIndexes.up,
  '025-provisioning-mode-row': provisioningModeRow.up,
  '026-session-rights': sessionRights.up,
  '027-application-secret-overlap': applicationSecretOverlap.up,
  '028-user-events-by-user': userEventsByUser.up,
  '029-backchannel-logout': backchannelLogout.up,
};

/**
 * Migrations that an older Roster still running on the database would undo or misread: it
 * writes rows without what the migration added (011: users and groups without case keys, which
 * the new version never finds again, so the IdP creates them twice), or numbers events the new
 * way cannot place (015). Every older instance must be stopped before one of these runs
 * (docs/deploy.md#upgrading lists them), on the databases named (015 changes nothing on SQLite);
 * a migration not named here is safe to roll.
 */
const STOP_EVERY_OLDER_INSTANCE: Readonly<Record<string, readonly DialectAdapter['name'][]>> = {
  '011-case-keys-and-custom-schemas': ['sqlite', 'postgres'],
  '015-events-in-commit-order': ['postgres'],
};

/** Those of `pending` that need every older instance on a database of `dialect` stopped first. */
function stoppingOlderInstances(pending: readonly string[], dialect: DialectAdapter): string[] {
  return pending.filter((name) => STOP_EVERY_OLDER_INSTANCE[name]?.includes(dialect.name) === true);
}

/** The number a migration's name starts with (`015-events-…` → 15). */
function migrationNumber(name: string): number {
  return Number.parseInt(name, 10);
}

/** Random per process: tells this process's own connections from every other Roster's (even a container's pid 1). */
const PROCESS_TAG = randomBytes(4).toString('hex');

/**
 * The PostgreSQL `application_name` of this process's connections: `roster`, the number of the
 * newest migration it knows (so that a new version can tell an older one's connections, plain
 * `roster` before this name existed), a tag of this process (`roster 025 3f2a9c1e`), so that a
 * command can tell other instances' connections from its own, and the id of its
 * ROSTER_SECRET_KEY when it has one (`roster 028 3f2a9c1e 8d02e4b1`), so that secrets are sealed
 * only once every process using the database can open them (secrets.ts).
 */
export function postgresApplicationName(secretKeyId?: string): string {
  const newest = Math.max(...Object.keys(MIGRATIONS).map(migrationNumber));
  return `roster ${String(newest).padStart(3, '0')} ${PROCESS_TAG}${secretKeyId === undefined ? '' : ` ${secretKeyId}`}`;
}

/** The ROSTER_SECRET_KEY id a Roster connection's `application_name` carries; undefined without a key, or from a version that did not say. */
export function connectionKeyId(applicationName: string): string | undefined {
  const field = applicationName.split(' ')[3];
  return field !== undefined && /^[0-9a-f]{8}$/.test(field) ? field : undefined;
}

/** Connections another Roster process (an instance or a command) has open on the database, by name and address. */
export interface RosterConnections {
  readonly name: string;
  readonly address: string;
  readonly connections: number;
}

/**
 * The connections of every other Roster process on this PostgreSQL database (none on SQLite,
 * whose commands check for other processes their own way). An instance holds at least one for as
 * long as it runs (refuseWhileOlderInstancesRun says since when); one stopped holds none.
 * `db`: a transaction holding a lock the answer must come after (secrets.ts sealAll); PostgreSQL
 * answers pg_stat_activity from a snapshot taken at a transaction's first read of it.
 */
export async function otherRosterConnections(store: Store, db: Executor = store.db): Promise<RosterConnections[]> {
  if (store.dialect.name !== 'postgres') return [];
  const { rows } = await sql<RosterConnections>`
    select application_name as name, coalesce(host(client_addr), 'local socket') as address, count(*)::int as connections
    from pg_stat_activity
    where datname = current_database() and pid <> pg_backend_pid() and split_part(application_name, ' ', 3) <> ${PROCESS_TAG}
      and (application_name = 'roster' or application_name ~ '^roster [0-9]+( |$)')
    group by application_name, client_addr
    order by application_name, address`.execute(db);
  return rows;
}

/** Connections as a person reads them: `3 from 10.0.0.7, 1 from local socket`. */
export function describeConnections(rows: readonly RosterConnections[]): string {
  return rows.map((row) => `${row.connections} from ${row.address}`).join(', ');
}

/**
 * Runs `work` on one connection holding the lock migrations run under (Kysely's migration lock,
 * a session advisory lock on PostgreSQL), from before `work` starts until after it ends, its
 * commit included. Every Roster process, of this version or an older one, takes that lock at
 * start (migrate) once connected, and reads the key check only after it: so a process starting
 * while `work` seals the secrets (secrets.ts) either was connected before (and `work` sees it)
 * or reads the key check once `work` has committed. On SQLite, where writers are serialised
 * anyway and Kysely's lock is nothing, `work` runs as is.
 */
export async function underMigrationLock<T>(store: Store, work: (db: Kysely<Database>) => Promise<T>): Promise<T> {
  if (store.dialect.name !== 'postgres') return work(store.db);
  // Kysely's own adapter and lock names, as its Migrator uses them, so that the lock is the one
  // every version's start takes (a copy of its lock id could drift from it).
  const adapter = new PostgresAdapter();
  const options = { lockTable: DEFAULT_MIGRATION_LOCK_TABLE, lockRowId: MIGRATION_LOCK_ID };
  return store.db.connection().execute(async (connection) => {
    await adapter.acquireMigrationLock(connection, options);
    let result: T;
    try {
      result = await work(connection);
    } catch (error) {
      // The error that says why, not the release's: a connection that broke has let go of the lock.
      await adapter.releaseMigrationLock(connection, options).catch(() => {});
      throw error;
    }
    await adapter.releaseMigrationLock(connection, options);
    return result;
  });
}

/** What a migration run is told before it applies anything (a log line: large directories take a while). */
export type MigrationNotice = (pending: readonly string[]) => void;

/**
 * Runs pending migrations once, whichever instance starts first: on PostgreSQL Kysely holds
 * a session advisory lock and runs them in one transaction; on SQLite our adapter makes
 * that transaction BEGIN IMMEDIATE, the database's write lock (see sqlite.ts). The others
 * wait, then find nothing left to do.
 *
 * `scope: 'new-database'` applies migrations to a database that has none yet and refuses to
 * upgrade an existing one (the CLI: a command typed while an older version serves must not
 * change the schema under it). A migration of STOP_EVERY_OLDER_INSTANCE is refused while an
 * older Roster may be running: on PostgreSQL while its connections are open on the database, on
 * SQLite while another process has the file open.
 */
export async function migrate(
  store: Store,
  options: {
    readonly scope?: 'any' | 'new-database';
    /** SQLite: whether another process had the file open when this one opened it (sqlite.ts openElsewhere). */
    readonly sqliteOpenElsewhere?: boolean;
    readonly onPending?: MigrationNotice;
    readonly onApplied?: MigrationNotice;
  } = {},
): Promise<void> {
  const pending = await pendingMigrations(store);
  const upgrade = pending.length > 0 && pending.length < Object.keys(MIGRATIONS).length;
  if (upgrade && options.scope === 'new-database') {
    throw new DatabaseRefused(
      `The database's schema is older than this version of Roster (pending migrations: ${pending.join(', ')}). Commands do not upgrade it, so that an older Roster still serving it is not changed underneath: ` +
        'start this version (`roster serve`), or run `npm run roster -- db migrate`; read docs/deploy.md#upgrading first, as some migrations need every older instance stopped.',
    );
  }
  if (upgrade) await refuseWhileOlderInstancesRun(store, pending, options.sqliteOpenElsewhere === true);
  if (pending.length > 0) options.onPending?.(pending);
  const provider: MigrationProvider = {
    async getMigrations() {
      const migrations: Record<string, Migration> = {};
      for (const [name, up] of Object.entries(MIGRATIONS)) {
        migrations[name] = { up: (db) => up(db, store.dialect) };
      }
      return migrations;
    },
  };
  // Migration numbers are handed out ahead of time, so a release may bring one numbered below
  // one a database already ran (011 after 012): each migration stands alone, so run it anyway.
  const { error, results } = await new Migrator({ db: store.db, provider, allowUnorderedMigrations: true }).migrateToLatest();
  if (error) {
    const unknown = await unknownMigrations(store);
    if (unknown.length > 0) {
      throw new DatabaseRefused(fromNewerRoster(unknown), { cause: error });
    }
    // Every migration, even none pending, runs under SQLite's write lock (BEGIN IMMEDIATE), which
    // busy_timeout waited 5 s for: another process holds it.
    if (typeof error === 'object' && error !== null && 'code' in error && error.code === 'SQLITE_BUSY') {
      throw new DatabaseRefused(
        'Another process holds the SQLite database\'s write lock (it did not let go within 5 s): another Roster serving the same file in the middle of a long write, or a long command on it. Start again once it is done; for several instances at a time, use PostgreSQL (docs/deploy.md).',
        { cause: error },
      );
    }
    const failed = results?.find((result) => result.status === 'Error')?.migrationName;
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`Database migration${failed === undefined ? '' : ` ${failed}`} failed: ${message}`, { cause: error });
  }
  // What this process ran: none when another instance ran them while this one waited for the lock.
  if (pending.length > 0) options.onApplied?.((results ?? []).filter((result) => result.status === 'Success').map((result) => result.migrationName));
}

/**
 * Refuses a migration of STOP_EVERY_OLDER_INSTANCE while an older Roster has connections open on
 * the database. An instance keeps a connection for as long as it runs: its pool keeps its last,
 * and since webhooks (migration 013) its delivery worker asks every second. Versions before 013
 * let every idle connection go after 30 s, so the net may miss one of them idle that long, which
 * is why the documentation says to stop them.
 * On SQLite, whatever else has the file open is taken for an older instance: a process of this
 * version would have migrated it already, and nothing tells one version's connection from another's.
 */
async function refuseWhileOlderInstancesRun(store: Store, pending: readonly string[], sqliteOpenElsewhere: boolean): Promise<void> {
  const blocking = stoppingOlderInstances(pending, store.dialect);
  if (blocking.length === 0) return;
  const needs = blocking.length === 1 ? `migration ${blocking[0]} needs` : `migrations ${blocking.join(', ')} need`;
  if (store.dialect.name === 'sqlite') {
    if (!sqliteOpenElsewhere) return;
    throw new DatabaseRefused(
      `Another process has this SQLite database open (an older Roster still serving it, or a command of one), and ${needs} every older instance stopped: ` +
        'while it writes, users and events it creates would be lost to this version (docs/deploy.md#upgrading). Stop it, then start this version again.',
    );
  }
  const rows = await otherRosterConnections(store);
  const first = Math.min(...blocking.map(migrationNumber));
  const older = rows.filter((row) => row.name === 'roster' || migrationNumber(row.name.slice('roster '.length)) < first);
  if (older.length === 0) return;
  const where = describeConnections(older);
  throw new DatabaseRefused(
    `An older Roster is still running on this database (connections: ${where}), and ${needs} every older instance stopped: ` +
      'while it writes, users and events it creates would be lost to this version (docs/deploy.md#upgrading). Stop every older instance, then start this one again.',
  );
}

/** Names of migrations the database ran that this version of Roster does not know (a newer Roster's). */
async function unknownMigrations(store: Store): Promise<string[]> {
  try {
    const { rows } = await sql<{ name: string }>`select name from kysely_migration`.execute(store.db);
    return rows.map((row) => row.name).filter((name) => !Object.hasOwn(MIGRATIONS, name));
  } catch {
    // No migration table (nothing ran yet), or the database cannot be read: not a newer Roster.
    return [];
  }
}

/** What is said of a database that ran `unknown` migrations, which this version does not know. */
export function fromNewerRoster(unknown: readonly string[]): string {
  return `The database comes from a newer Roster (migrations ${unknown.join(', ')} are unknown to this version): run that version, or restore a backup made with this one.`;
}

/** What a migration run would do to a database, without doing it (`roster db migrate --dry-run`). */
export interface MigrationPlan {
  /** Migrations this version would apply, oldest first. */
  readonly pending: readonly string[];
  /** Whether the database has no schema yet (every migration pending): nothing older can be running on it. */
  readonly fresh: boolean;
  /** Those of `pending` that need every older instance stopped first (docs/deploy.md#upgrading). */
  readonly stopEveryOlderInstance: readonly string[];
  /** Migrations the database ran that this version does not know: it comes from a newer Roster. */
  readonly unknown: readonly string[];
}

/** The plan of a migration run on `store`, which is not changed. */
export async function migrationPlan(store: Store): Promise<MigrationPlan> {
  const pending = await pendingMigrations(store);
  const fresh = pending.length === Object.keys(MIGRATIONS).length;
  return {
    pending,
    fresh,
    stopEveryOlderInstance: fresh ? [] : stoppingOlderInstances(pending, store.dialect),
    unknown: await unknownMigrations(store),
  };
}

/** Names of migrations this version of Roster knows that the database has not applied. */
export async function pendingMigrations(store: Store): Promise<string[]> {
  const provider: MigrationProvider = {
    async getMigrations() {
      return Object.fromEntries(Object.keys(MIGRATIONS).map((name) => [name, { up: async () => {} }]));
    },
  };
  const migrations = await new Migrator({ db: store.db, provider, allowUnorderedMigrations: true }).getMigrations();
  return migrations.filter((migration) => migration.executedAt === undefined).map((migration) => migration.name);
}

/** The names of every migration this version of Roster knows, oldest first. */
export function knownMigrations(): string[] {
  return Object.keys(MIGRATIONS);
}
