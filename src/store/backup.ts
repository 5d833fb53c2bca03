/**
 * Backups of a SQLite database while Roster serves, and their restore. The backup uses
 * SQLite's online backup API (better-sqlite3 `backup()`): it copies a consistent snapshot, in
 * one step, inside a read transaction that in WAL mode never blocks the server's writers; a
 * write committed before the backup starts is in it. PostgreSQL has pg_dump for this
 * (docs/operations.md#backups-and-restore).
 */
import { chmodSync, closeSync, copyFileSync, existsSync, fsyncSync, openSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import SQLite from 'better-sqlite3';
import { positionBefore, recordRestoredGap, type FeedEnd } from './feed.ts';
import { openStore } from './index.ts';
import { openElsewhere } from './sqlite.ts';
import { knownMigrations } from './migrate.ts';
import { transact } from './transact.ts';

/** Why a backup or restore cannot go ahead; the message says what to do. */
export class BackupRefused extends Error {
  override readonly name = 'BackupRefused';
}

/** What a checked backup file holds. */
export interface BackupInfo {
  /** The last migration applied in it (its schema version). */
  readonly schema: string;
  /** Migrations this version would apply on start (an older backup). */
  readonly pending: readonly string[];
  readonly bytes: number;
  readonly users: number;
}

const HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * Checks that `file` is an intact Roster database of a schema this version knows:
 * a SQLite file, `PRAGMA integrity_check` ok, migrations all known to this version.
 * `backingUp` names the database a backup was copied from: a refusal then speaks of it (and of
 * backing it up) rather than of the copy being made and of a restore.
 */
export function inspectBackup(file: string, backingUp?: string): BackupInfo {
  if (!existsSync(file)) throw new BackupRefused(`${file} does not exist.`);
  const header = Buffer.alloc(HEADER.length);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, header, 0, HEADER.length, 0);
  } finally {
    closeSync(fd);
  }
  if (!header.equals(HEADER)) throw new BackupRefused(`${file} is not a SQLite database.`);
  // Read-write, so that a WAL-mode file leaves no -wal/-shm behind (a read-only connection
  // cannot delete them); nothing is written. Read-only media still open read-only.
  let db: SQLite.Database;
  try {
    db = new SQLite(file, { fileMustExist: true });
  } catch {
    db = new SQLite(file, { readonly: true, fileMustExist: true });
  }
  try {
    const integrity = db.pragma('integrity_check') as { integrity_check: string }[];
    const problems = integrity.map((row) => row.integrity_check).filter((text) => text !== 'ok');
    if (problems.length > 0) throw new BackupRefused(`${file} is damaged (PRAGMA integrity_check: ${problems.slice(0, 3).join('; ')}).`);
    const hasMigrations = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'kysely_migration'").get() !== undefined;
    if (!hasMigrations) throw new BackupRefused(`${file} is a SQLite database, but not a Roster database (it has no migration history).`);
    const applied = (db.prepare('SELECT name FROM kysely_migration ORDER BY name').all() as { name: string }[]).map((row) => row.name);
    const known = knownMigrations();
    const unknown = applied.filter((name) => !known.includes(name));
    if (unknown.length > 0) {
      const newer = `comes from a newer Roster (migrations ${unknown.join(', ')} are unknown to this version)`;
      throw new BackupRefused(backingUp === undefined ? `${file} ${newer}: restore it with that version.` : `The database at ${backingUp} ${newer}: back it up with that version's \`roster db backup\`; no backup was written.`);
    }
    const schema = applied.at(-1);
    if (schema === undefined) throw new BackupRefused(`${file} is an empty Roster database (no migration applied).`);
    const users = (db.prepare('SELECT COUNT(*) AS n FROM users').get() as { n: number }).n;
    return { schema, pending: known.filter((name) => !applied.includes(name)), bytes: statSync(file).size, users };
  } finally {
    db.close();
  }
}

/**
 * Copies the SQLite database at `source` to the new file `target` while other connections
 * (a serving Roster) keep writing, then checks the copy. Refuses to overwrite a file.
 */
/** The files a backup to `target` writes before it is complete (removed if it is interrupted). */
export function partialBackupFiles(target: string): string[] {
  return [`${target}.partial`, `${target}.partial-journal`];
}

export async function backupSqlite(source: string, target: string): Promise<BackupInfo> {
  if (existsSync(target)) throw new BackupRefused(`${target} already exists: choose a new file name (a backup never overwrites one).`);
  if (!existsSync(source)) throw new BackupRefused(`There is no database at ${source}.`);
  const partial = `${target}.partial`;
  rmSync(partial, { force: true });
  // It holds what the database holds (password hashes, secrets unless ROSTER_SECRET_KEY is set):
  // created readable by this user only before a byte is copied (SQLite gives its journal the
  // same mode), not once complete, when a 1.6 GB copy had been readable by all for 15 s.
  closeSync(openSync(partial, 'wx', 0o600));
  const db = new SQLite(source, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    // Everything in the step after the first: one read snapshot, so a write by the server
    // cannot restart the copy (SQLite restarts a backup whose source another connection
    // changed between steps).
    await db.backup(partial, { progress: () => 0x7fffffff });
    chmodSync(partial, 0o600);
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  } finally {
    db.close();
  }
  try {
    // A backup is one self-contained file: rollback journal mode, no -wal companion needed.
    // Roster switches it back to WAL when it opens it.
    const copy = new SQLite(partial, { fileMustExist: true });
    try {
      copy.pragma('journal_mode = DELETE');
    } finally {
      copy.close();
    }
    const fd = openSync(partial, 'r+');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    const info = inspectBackup(partial, source);
    renameSync(partial, target);
    return info;
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  }
}

/** What a restore did. */
export interface RestoreReport extends BackupInfo {
  /** Where the replaced database was kept, if there was one. */
  readonly keptAs: string | undefined;
  /** Whether the replaced database's event feed went past the backup's: those changes were undone. */
  readonly undidEvents: boolean;
  /**
   * Why the event feed could not go on after the replaced database's (there was none, or it
   * could not be read): event ids may be given again and cursors past the backup are not told.
   */
  readonly feedNotCarried: string | undefined;
}

/** The end of the replaced database's feed, or why it is not known. */
type ReplacedFeed = { readonly end: FeedEnd | undefined } | { readonly unknown: string };

/**
 * The end of the event feed of the SQLite database at `path` (read only, not migrated): one
 * past every position and event id it handed out; `end` undefined when it never had a feed.
 * Only the small bookkeeping tables are read (`sqlite_sequence` holds the largest event id
 * ever given), so that a database damaged elsewhere, the usual reason for a restore, still
 * tells.
 */
function replacedFeed(path: string): ReplacedFeed {
  if (!existsSync(path)) return { unknown: `there was no database at ${path} to replace` };
  try {
    const db = new SQLite(path, { readonly: true, fileMustExist: true });
    try {
      const tables = new Set((db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((row) => row.name));
      if (!tables.has('events') || !tables.has('event_feed')) return { end: undefined };
      const feed = db.prepare('SELECT tx_offset, kept_from_tx, kept_from_id FROM event_feed WHERE id = 1').get() as
        | { tx_offset: number; kept_from_tx: number; kept_from_id: number }
        | undefined;
      const sequence = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'").get() as { seq: number } | undefined;
      const end = { tx: feed?.tx_offset ?? 0, id: (sequence?.seq ?? 0) + 1 };
      const keptFrom = { tx: feed?.kept_from_tx ?? 0, id: feed?.kept_from_id ?? 0 };
      const position = positionBefore(end, keptFrom) ? keptFrom : end;
      return { end: { position, lastEventId: sequence?.seq ?? 0 } };
    } finally {
      db.close();
    }
  } catch (error) {
    return { unknown: `the database it replaced could not be read (${error instanceof Error ? error.message : String(error)})` };
  }
}

/** Runs a step that writes beside the database, turning a file system refusal into a message that names the place. */
function writing<T>(place: string, step: () => T): T {
  try {
    return step();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'ENOENT' || code === 'ENOSPC') {
      throw new BackupRefused(`Cannot write ${place} (${code}): restore writes the database's directory; check that it exists, is writable by this user and has room.`);
    }
    throw error;
  }
}

/**
 * Replaces the SQLite database at `target` with the backup `file`, after checking the backup,
 * and keeps the replaced database as `<target>.before-restore`. Roster must be stopped: refused
 * when another connection has the target open. The backup is first copied beside the target,
 * migrated there, and told where the replaced database's event feed had got to (store/feed.ts
 * recordRestoredGap: the positions and event ids handed out after the backup are never handed
 * out again, and a cursor among them answers 410); only then is it swapped in, so that a restore
 * stopped half-way leaves the database as it was.
 */
export async function restoreSqlite(file: string, target: string): Promise<RestoreReport> {
  const info = inspectBackup(file);
  const keptAs = `${target}.before-restore`;
  if (openElsewhere(target)) throw new BackupRefused(`${target} is in use (Roster or another program has it open): stop every Roster instance and CLI command on it, then restore.`);
  if (existsSync(target) && existsSync(keptAs)) throw new BackupRefused(`${keptAs} exists from an earlier restore: move it away first (it is the database that restore replaced).`);
  const incoming = `${target}.restoring`;
  // What an interrupted restore left must not be applied to this copy.
  for (const leftover of [incoming, `${incoming}-wal`, `${incoming}-shm`, `${incoming}-journal`]) rmSync(leftover, { force: true });
  writing(incoming, () => copyFileSync(file, incoming));
  const replaced = replacedFeed(target);
  let undidEvents = false;
  const store = await openStore({ kind: 'sqlite', path: incoming }).catch((error: unknown) => {
    throw (error as NodeJS.ErrnoException).code === 'SQLITE_READONLY' ? new BackupRefused(`Cannot write ${incoming} (read-only): restore writes the database's directory; make it writable by this user.`) : error;
  });
  try {
    if ('end' in replaced && replaced.end !== undefined) {
      const end = replaced.end;
      undidEvents = await transact(store.db, (trx) => recordRestoredGap(trx, store.dialect, end, new Date().toISOString()));
    }
  } finally {
    // Closing the last connection checkpoints the log into the file and removes it.
    await store.close();
  }
  const fd = openSync(incoming, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const kept = existsSync(target);
  if (kept) renameSync(target, keptAs);
  // The backup is a single file: no WAL of the old database may be applied to it.
  rmSync(`${target}-wal`, { force: true });
  rmSync(`${target}-shm`, { force: true });
  renameSync(incoming, target);
  return { ...info, keptAs: kept ? keptAs : undefined, undidEvents, feedNotCarried: 'unknown' in replaced ? replaced.unknown : undefined };
}
