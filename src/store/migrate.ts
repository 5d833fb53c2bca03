/** The one list of migrations, applied to SQLite and PostgreSQL alike under a database lock. */
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { DatabaseRefused } from './errors.ts';
import type { DialectAdapter } from './dialect.ts';
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
};

/**
 * Runs pending migrations once, whichever instance starts first: on PostgreSQL Kysely holds
 * a session advisory lock and runs them in one transaction; on SQLite our adapter makes
 * that transaction BEGIN IMMEDIATE, the database's write lock (see sqlite.ts). The others
 * wait, then find nothing left to do.
 */
export async function migrate(store: Store): Promise<void> {
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
      throw new DatabaseRefused(`The database comes from a newer Roster (migrations ${unknown.join(', ')} are unknown to this version): run that version, or restore a backup made with this one.`, { cause: error });
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
