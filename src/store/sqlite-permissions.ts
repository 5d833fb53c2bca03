/**
 * Who else may read a SQLite database: a new one is created for Roster's user alone
 * (sqlite.ts), but one created by an older Roster (0644) or copied keeps the mode it has, and
 * holds password and token hashes and, without ROSTER_SECRET_KEY, the OpenID signing keys.
 * Roster only says so at start: operators may give a backup group read access on purpose.
 */
import { statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

/** A file or folder of the database that others may read or change. */
export interface ExposedPath {
  readonly path: string;
  /** Its permission bits in octal, as `ls -l` and chmod spell them (`0644`). */
  readonly mode: string;
  /** What to run to make it Roster's user's alone. */
  readonly fix: string;
}

/** What others may do with the database, for the start-up warning; undefined when nothing. */
export interface Exposure {
  readonly paths: readonly ExposedPath[];
  /** One sentence naming every path, its mode and the commands that fix them. */
  readonly message: string;
}

/** Read or write by group or others: reading gives the hashes away, writing lets them be changed. */
const FILE_OPEN_TO_OTHERS = 0o066;
/** Write by group or others on the folder: they could replace the file or its -wal and -shm. */
const FOLDER_OPEN_TO_OTHERS = 0o022;

/** `path` quoted for a POSIX shell when it holds anything but plain characters. */
function shellQuoted(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replaceAll("'", "'\\''")}'`;
}

function permissionsOf(path: string): number | undefined {
  try {
    return statSync(path).mode & 0o777;
  } catch {
    // -wal and -shm exist only while the database is open in WAL mode.
    return undefined;
  }
}

function isSticky(path: string): boolean {
  try {
    return (statSync(path).mode & 0o1000) !== 0;
  } catch {
    return false;
  }
}

const octal = (mode: number): string => `0${mode.toString(8).padStart(3, '0')}`;

/**
 * The database file at `databasePath`, its -wal and -shm, and its folder, where group or others
 * may read or write them (the folder: write); undefined when none.
 */
export function sqliteExposure(databasePath: string): Exposure | undefined {
  const file = resolve(databasePath);
  const paths: ExposedPath[] = [];
  for (const candidate of [file, `${file}-wal`, `${file}-shm`]) {
    const mode = permissionsOf(candidate);
    if (mode !== undefined && (mode & FILE_OPEN_TO_OTHERS) !== 0) paths.push({ path: candidate, mode: octal(mode), fix: `chmod 600 ${shellQuoted(candidate)}` });
  }
  const folder = dirname(file);
  const folderMode = permissionsOf(folder);
  if (folderMode !== undefined && (folderMode & FOLDER_OPEN_TO_OTHERS) !== 0) {
    // A sticky folder open to all (/tmp) is shared on purpose: closing it would break every other
    // program; the database belongs in a folder of its own.
    const fix = isSticky(folder)
      ? `move the database into a folder of Roster's own (mkdir -m 700 <folder>, then ROSTER_DATABASE_URL=sqlite:<folder>/${basename(file)}), since ${folder} is shared by everyone on purpose`
      : `chmod go-w ${shellQuoted(folder)}`;
    paths.push({ path: folder, mode: octal(folderMode), fix });
  }
  if (paths.length === 0) return undefined;
  const listed = paths.map((exposed) => `${exposed.path} (mode ${exposed.mode})`).join(', ');
  const fixes = paths.map((exposed) => exposed.fix).join(' && ');
  return {
    paths,
    message: `the SQLite database is open to other users than Roster's: ${listed}. It holds password and token hashes and, without ROSTER_SECRET_KEY, the OpenID Connect signing keys. Unless that is on purpose (a backup group), fix it with: ${fixes}`,
  };
}
