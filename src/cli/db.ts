/** `roster db …`: moving an installation between databases, backups and their restore. */
import { existsSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from './options.ts';
import { parseDatabaseArgument } from '../config.ts';
import { DirectoryError } from '../errors.ts';
import { describeCaseConflict } from '../directory/case-conflicts.ts';
import { backupSqlite, BackupRefused, partialBackupFiles, restoreSqlite } from '../store/backup.ts';
import { COPIED_TABLES, copyDatabase, CopyRefused, type CopyProgress } from '../store/copy.ts';
import type { GivenFeedEnd, InstallationFeedEnd } from '../directory/event-feed.ts';
import { describeLocation, fromNewerRoster, migrationPlan, openStore, type DatabaseLocation, type Store } from '../store/index.ts';
import type { CommandGroup } from './command.ts';
import { printable } from './output.ts';

/** Prints what `db migrate` would apply to the database at `location`, which is not changed (nor created). */
async function planMigration(location: DatabaseLocation, out: (line: string) => void): Promise<void> {
  if (location.kind === 'sqlite' && location.path !== ':memory:' && !existsSync(location.path)) {
    out(`There is no database at ${location.path} yet: the first start creates it with every migration.`);
    return;
  }
  const store = await openStore(location, { migrate: false });
  try {
    const plan = await migrationPlan(store);
    if (plan.unknown.length > 0) {
      throw new DirectoryError('conflict', fromNewerRoster(plan.unknown));
    }
    if (plan.pending.length === 0) {
      out('The database is up to date: nothing to apply.');
      return;
    }
    out(`Would apply ${plan.pending.length} migration${plan.pending.length === 1 ? '' : 's'}${plan.fresh ? ' (the database has no schema yet)' : ''}:`);
    for (const name of plan.pending) {
      out(plan.stopEveryOlderInstance.includes(name) ? `  ${name}   stop every older instance first (docs/deploy.md#upgrading)` : `  ${name}`);
    }
  } finally {
    await store.close();
  }
}

/** The `db` command group. */
export const dbCommands: CommandGroup = {
  name: 'db',
  summary: 'back up and restore a SQLite database; carry the event feed across a PostgreSQL restore; copy an installation between SQLite and PostgreSQL; check names',
  commands: {
    'case-conflicts': {
      summary: 'list users and groups whose names are equal regardless of case (exit 1 if any)',
      usage: [
        'Usage: roster db case-conflicts',
        '',
        'Names are unique regardless of case, compared by their Unicode case folding (docs/scim.md,',
        '"Case and Unicode"). Databases from before that rule may hold users (or groups) whose',
        'names differ only in case, e.g. "Émile" and "émile", which SQLite used to tell apart.',
        'They were all kept; this lists them, oldest first, so that you can rename all but one.',
        'Prints nothing and exits 0 when there are none.',
      ].join('\n'),
      async run(args, context) {
        parseArgs({ args, options: {} });
        const conflicts = await (await context.services()).caseConflicts.list();
        for (const conflict of conflicts) context.out(printable(describeCaseConflict(conflict)));
        if (conflicts.length > 0) {
          throw new DirectoryError('conflict', `${conflicts.length} name${conflicts.length === 1 ? ' is' : 's are'} shared regardless of case: rename all but one of each (the admin API, or the identity provider for managed ones).`);
        }
        return undefined;
      },
    },
    migrate: {
      summary: 'bring the database\'s schema up to this version (as `roster serve` does at start)',
      usage: [
        'Usage: roster db migrate [--dry-run]',
        '',
        'Applies the migrations this version brings to the database of ROSTER_DATABASE_URL, once,',
        'under the database\'s lock, and says which. `roster serve` does the same at start; other',
        'commands refuse an older schema rather than upgrade it under an older Roster still serving',
        'it. Read docs/deploy.md#upgrading first: some migrations need every older instance stopped',
        '(they are refused while an older instance has the database open: on PostgreSQL, while it',
        'has connections; on SQLite, while any other process has the file open).',
        '',
        'Options:',
        '  --dry-run   list the migrations that would be applied, marking those that need every',
        '              older instance stopped first, and change nothing',
      ].join('\n'),
      async run(args, context) {
        const { values } = parseArgs({ args, options: { 'dry-run': { type: 'boolean', default: false } } });
        if (values['dry-run']) {
          await planMigration(context.config.database, context.out);
          return undefined;
        }
        let applied: readonly string[] = [];
        await context.services({ bootstrap: false, upgrade: (pending) => {
          applied = pending;
          context.err(`Applying ${pending.length} migration${pending.length === 1 ? '' : 's'}: ${pending.join(', ')}`);
        } });
        context.out(applied.length === 0 ? 'The database is up to date: nothing to apply.' : `Migrated: ${applied.join(', ')}.`);
        return undefined;
      },
    },
    backup: {
      summary: 'copy the SQLite database to a new file, consistently, while Roster serves',
      usage: [
        'Usage: roster db backup <file>',
        '',
        'Copies the SQLite database of ROSTER_DATABASE_URL to <file> (a new file, mode 0600) with',
        'SQLite\'s online backup: a consistent snapshot taken while Roster keeps serving and writing;',
        'every write acknowledged before the backup starts is in it. The copy is then checked',
        '(PRAGMA integrity_check) and its schema version printed.',
        '',
        'PostgreSQL: use pg_dump -Fc (see docs/operations.md#backups-and-restore).',
      ].join('\n'),
      async run(args, context) {
        const { positionals } = parseArgs({ args, options: {}, allowPositionals: true });
        const [file, extra] = positionals;
        if (file === undefined || extra !== undefined) return { usageError: 'give exactly one backup file' };
        const database = sqlitePath(context.config.database, 'backup');
        const target = resolve(process.cwd(), file);
        context.err(`Backing up ${database} → ${target}`);
        // Interrupted (Ctrl-C, a stop), the unfinished copy goes: it was left behind, a copy of
        // the database's secrets that no one would look for.
        const interrupted = (signal: NodeJS.Signals) => {
          for (const file of partialBackupFiles(target)) rmSync(file, { force: true });
          context.err(`Backup interrupted (${signal}): the unfinished copy was removed.`);
          process.exit(signal === 'SIGINT' ? 130 : 143);
        };
        process.once('SIGINT', interrupted);
        process.once('SIGTERM', interrupted);
        const info = await refusals(() => backupSqlite(database, target)).finally(() => {
          process.off('SIGINT', interrupted);
          process.off('SIGTERM', interrupted);
        });
        context.out(`Backup complete: ${target} (${info.bytes} bytes, ${info.users} users, schema ${info.schema}, integrity ok).`);
        return undefined;
      },
    },
    restore: {
      summary: 'replace the SQLite database with a backup (Roster stopped)',
      usage: [
        'Usage: roster db restore <file>',
        '',
        'Checks that <file> is an intact Roster database of a schema this version knows, then',
        'replaces the SQLite database of ROSTER_DATABASE_URL with it. The replaced database is',
        'kept as <database>.before-restore. Stop every Roster instance first: restore refuses',
        'while another program has the database open. An older backup is migrated. The event',
        'feed goes on after the replaced database\'s: event ids are never given twice, and an',
        'application whose cursor read changes the restore undid gets 410 and resynchronises.',
        '',
        'PostgreSQL: use pg_restore, with db feed-end before and db continue-feed after it (see',
        'docs/operations.md#backups-and-restore).',
      ].join('\n'),
      async run(args, context) {
        const { positionals } = parseArgs({ args, options: {}, allowPositionals: true });
        const [file, extra] = positionals;
        if (file === undefined || extra !== undefined) return { usageError: 'give exactly one backup file' };
        const database = sqlitePath(context.config.database, 'restore');
        const report = await refusals(async () => restoreSqlite(resolve(process.cwd(), file), database));
        if (report.keptAs !== undefined) context.err(`The replaced database is kept as ${report.keptAs}.`);
        if (report.pending.length > 0) context.err(`The backup's schema was older (${report.schema}): migrated it (${report.pending.join(', ')}).`);
        if (report.feedNotCarried !== undefined) {
          context.err(
            `The event feed could not go on after the replaced database's: ${report.feedNotCarried}. If applications or webhook receivers read the events of the database this restore replaces, ` +
              'tell their owners to resynchronise from the lists and to forget the event ids they recorded as applied: new changes may get those ids again. See docs/operations.md#after-a-restore-event-consumers-and-webhooks.',
          );
        }
        if (report.undidEvents) {
          context.err(
            'The restore undid changes made after the backup, and their events: applications reading the event feed past the backup get 410 and resynchronise; ' +
              'webhook endpoints send again the events after their position at the backup. New events get ids never used before. See docs/operations.md#after-a-restore-event-consumers-and-webhooks.',
          );
        }
        context.out(`Restored ${database} from ${file} (${report.users} users, schema ${report.schema}).`);
        return undefined;
      },
    },
    'feed-end': {
      summary: 'print how far the event feed has gone, for `db continue-feed` after a PostgreSQL restore',
      usage: [
        'Usage: roster db feed-end',
        '',
        'Prints the end of the event feed of ROSTER_DATABASE_URL (the last position and the',
        'largest event id it handed out) and the installation it belongs to, alone on the last',
        'line. Before restoring a PostgreSQL database with pg_restore, stop every Roster instance,',
        'run this and keep the line; after pg_restore, give it to `roster db continue-feed` so',
        'that the restored feed goes on after it. Refused while another Roster process is',
        'connected to the database. See docs/operations.md#backups-and-restore.',
      ].join('\n'),
      async run(args, context) {
        parseArgs({ args, options: {} });
        const end = await (await context.services({ bootstrap: false })).eventFeed.endForRestore();
        context.err(`The event feed has handed out positions up to ${end.position.tx}:${end.position.id} and event ids up to ${end.lastEventId}.`);
        context.out(encodeFeedEnd(end));
        return undefined;
      },
    },
    'continue-feed': {
      summary: 'after pg_restore: make the restored event feed go on after the replaced one (Roster stopped)',
      usage: [
        'Usage: roster db continue-feed <feed end>',
        '',
        '<feed end> is the line `roster db feed-end` printed for the database the restore replaced',
        '(run before it was dropped, or on it if it still exists). The database of',
        'ROSTER_DATABASE_URL, just restored, is migrated if older, then records that the changes',
        'after the backup were undone: applications whose cursor read them get 410 and',
        'resynchronise, and new changes get event ids and positions never handed out before.',
        'Run it with every Roster instance stopped, before starting them on the restored database:',
        'it refuses while another Roster process is connected, and refuses a line read from another',
        'installation\'s database.',
        'roster db restore (SQLite) does this by itself.',
      ].join('\n'),
      async run(args, context) {
        const { positionals } = parseArgs({ args, options: {}, allowPositionals: true });
        const [value, extra] = positionals;
        if (value === undefined || extra !== undefined) return { usageError: 'give exactly one feed end, as `roster db feed-end` printed it' };
        const replaced = decodeFeedEnd(value);
        if (replaced === undefined) return { usageError: `"${printable(value)}" is not a feed end: give the last line \`roster db feed-end\` printed (feed-end-<position>-<event id>-<installation>)` };
        const services = await context.services({
          bootstrap: false,
          upgrade: (pending) => {
            // Every migration pending: no Roster database is there yet, so nothing was restored
            // into it (pg_restore afterwards would then fail on the tables made here).
            if (pending.includes(FIRST_MIGRATION)) {
              throw new DirectoryError('precondition', 'The database of ROSTER_DATABASE_URL holds no Roster database: nothing was restored into it. Run pg_restore first, then db continue-feed; nothing was changed.');
            }
            context.err(`The restored database's schema was older: applying ${pending.join(', ')}.`);
          },
        });
        const undid = await services.eventFeed.continueAfterRestore(replaced);
        context.out(
          undid
            ? 'The event feed goes on after the replaced database\'s: applications whose cursor read the changes the restore undid get 410 and resynchronise; ' +
                'webhook endpoints send again the events after their position at the backup; new events get ids never used before. See docs/operations.md#after-a-restore-event-consumers-and-webhooks.'
            : 'The restored event feed already goes past that end: nothing to do.',
        );
        return undefined;
      },
    },
    copy: {
      summary: 'copy every table into a new, empty database and verify the counts',
      usage: [
        'Usage: roster db copy --from <database-url> --to <database-url>',
        '',
        'Copies users, SCIM links, emails, groups, memberships, tokens, settings, the audit trail,',
        'sessions and SAML bookkeeping, page by page, then compares row counts. The target is',
        'migrated first and must be empty; a failed copy leaves it empty. The source is read in',
        'one consistent snapshot, but changes made after the copy starts are not copied: stop',
        'Roster (or its writers) first.',
        '',
        'URLs as in ROSTER_DATABASE_URL: sqlite:<path> or postgres://user:password@host/db',
        '(with ?sslmode=require|verify-ca|verify-full for TLS); not sqlite::memory:, which would',
        'be a database of this command\'s own, empty and gone when it ends.',
        '',
        'Example:',
        '  roster db copy --from sqlite:./data/roster.db --to postgres://roster:secret@db/roster',
      ].join('\n'),
      async run(args, context) {
        const { values } = parseArgs({ args, options: { from: { type: 'string' }, to: { type: 'string' } } });
        if (values.from === undefined || values.to === undefined) return { usageError: '--from and --to are both required' };
        const from = parseDatabaseArgument(values.from, '--from');
        const to = parseDatabaseArgument(values.to, '--to');
        if (describeLocation(from) === describeLocation(to)) return { usageError: '--from and --to name the same database' };
        // sqlite::memory: is a database of this command's own, empty at start and gone at its
        // end: a copy into it reported success for data that went nowhere, and one out of it
        // read nothing (and created and migrated the target meanwhile).
        if (from.kind === 'sqlite' && from.path === ':memory:') {
          throw new DirectoryError('precondition', '--from sqlite::memory: names a new, empty database in this command\'s memory, not a running Roster\'s: give the source\'s file (sqlite:<path>) or its postgres:// URL (nothing was created or copied).');
        }
        if (to.kind === 'sqlite' && to.path === ':memory:') {
          throw new DirectoryError('precondition', '--to sqlite::memory: names a database in this command\'s memory, gone when it ends: the copy would be lost. Give a file (sqlite:<path>) or a postgres:// URL (nothing was copied).');
        }
        // Opening a SQLite file creates it: a mistyped source would become an empty database (and
        // the target be created and migrated) before the copy found nothing to copy.
        if (from.kind === 'sqlite' && !existsSync(from.path)) {
          throw new DirectoryError('not_found', `The source database ${from.path} does not exist: check the path in --from (nothing was created or copied).`);
        }

        let source: Store | undefined;
        let target: Store | undefined;
        try {
          // The source is not migrated: copying must not change it (copyDatabase checks it is current).
          source = await openStore(from, { migrate: false });
          target = await openStore(to);
          context.err(`Copying ${describeLocation(from)} → ${describeLocation(to)}`);
          const report = await copyDatabase(source, target, progressPrinter(context.err));
          const mismatched = report.filter((row) => row.source !== row.target);
          for (const row of report) context.out(`${row.table.padEnd(TABLE_NAME_WIDTH)} ${String(row.target).padStart(9)} rows${row.source !== row.target ? `  (source has ${row.source})` : ''}`);
          if (mismatched.length > 0) {
            throw new DirectoryError('conflict', `Row counts differ for ${mismatched.map((row) => row.table).join(', ')}: was the source written to during the copy?`);
          }
          context.out('Copy complete: every table has the same number of rows in both databases.');
          return undefined;
        } catch (error) {
          // Reported like other refusals: the message alone, exit code 1.
          throw error instanceof CopyRefused ? new DirectoryError('precondition', error.message) : error;
        } finally {
          await source?.close();
          await target?.close();
        }
      },
    },
  },
};

/** The longest copied table's name: the counts of the progress and the report line up under each other. */
const TABLE_NAME_WIDTH = Math.max(...COPIED_TABLES.map((spec) => spec.name.length));

/** Progress on stderr: one line per table, redrawn in place on a terminal, else every 10%. */
function progressPrinter(err: (text: string) => void): (progress: CopyProgress) => void {
  const tty = process.stderr.isTTY === true;
  let lastStep = -1;
  return ({ table, copied, total }) => {
    const done = copied >= total;
    const line = `  ${table.padEnd(TABLE_NAME_WIDTH)} ${String(copied).padStart(9)} / ${total}`;
    if (tty) {
      process.stderr.write(`\r${line}${done ? '\n' : ''}`);
      return;
    }
    const step = total === 0 ? 10 : Math.floor((copied / total) * 10);
    if (copied === 0) lastStep = -1;
    if (step !== lastStep && (done || copied > 0)) err(line);
    lastStep = step;
  };
}

/** The migration every Roster database has run: pending only where there is none yet. */
const FIRST_MIGRATION = '001-initial';

/** A feed end as one word to copy: `feed-end-<tx>-<id>-<last event id>-<installation>`. */
function encodeFeedEnd(end: InstallationFeedEnd): string {
  return `feed-end-${end.position.tx}-${end.position.id}-${end.lastEventId}-${end.installation}`;
}

/** A feed end as `encodeFeedEnd` wrote it; the lines of versions before installation ids have none. */
function decodeFeedEnd(value: string): GivenFeedEnd | undefined {
  const match = /^feed-end-(\d{1,16})-(\d{1,16})-(\d{1,16})(?:-([0-9a-f]{16}))?$/.exec(value.trim());
  if (match === null) return undefined;
  const [tx, id, lastEventId] = [match[1], match[2], match[3]].map(Number) as [number, number, number];
  if (![tx, id, lastEventId].every(Number.isSafeInteger)) return undefined;
  const end = { position: { tx, id }, lastEventId };
  return match[4] === undefined ? end : { ...end, installation: match[4] };
}

/** The SQLite file of `location`; PostgreSQL and in-memory databases have other tools. */
function sqlitePath(location: DatabaseLocation, verb: 'backup' | 'restore'): string {
  if (location.kind === 'postgres') {
    const tool = verb === 'backup' ? 'pg_dump -Fc' : 'pg_restore (with db feed-end before and db continue-feed after it)';
    throw new DirectoryError('precondition', `db ${verb} works on SQLite databases; for PostgreSQL use ${tool}: see docs/operations.md#backups-and-restore.`);
  }
  if (location.path === ':memory:') throw new DirectoryError('precondition', `db ${verb} needs a SQLite database file, not sqlite::memory:.`);
  return location.path;
}

/** Backup refusals are reported like other refusals: the message alone, exit code 1. */
async function refusals<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    throw error instanceof BackupRefused ? new DirectoryError('precondition', error.message) : error;
  }
}
