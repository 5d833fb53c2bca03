/**
 * Where the first-start password of `admin` goes when nobody watches a terminal: a file
 * readable by its owner only (mode 0600), beside the SQLite database or in ROSTER_DATA_DIR,
 * so that the password never passes through a log collector. The file is deleted as soon as
 * the password it holds stops being the password (administrators.ts and accounts.ts call
 * `passwordSet`, the one place that decides it), or, when it was changed where this process
 * cannot see (another instance, a command on another machine), at this instance's next start
 * or hourly clean-up (`discardIfStale`). Its name says which database it is for
 * (config.ts initialPasswordFileName): a PostgreSQL database run with ROSTER_DATA_DIR pointing
 * at a SQLite installation's folder, or another PostgreSQL database's, must neither replace the
 * other's file nor be read as it.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { verifyPassword } from '../auth/passwords.ts';
import { makeDirectories } from '../store/index.ts';

/** The login of the administrator created at first start. */
export const BOOTSTRAP_LOGIN = 'admin';

/** The file's name beside a SQLite database, and the start of every other database's (config.ts initialPasswordFileName). */
export const INITIAL_PASSWORD_FILE = 'initial-admin-password';

/** The file of the first-start password, or nothing when the instance has no place for it. */
export interface InitialPasswordFile {
  /** The file's full path. */
  readonly path: string;
  /** Writes the password (owner read/write only) and returns the path. */
  write(password: string): string;
  /** Deletes the file if it exists; true when it did. */
  discard(): boolean;
  /** Called after a user's password was set (committed): the file goes when that user is `admin`. */
  passwordSet(login: string): void;
  /**
   * Deletes the file when the password it holds is no longer `admin`'s (`currentHash`, null
   * when admin has no password or is gone): it was set on another instance, or by a command on
   * another machine, which cannot reach this file. Says whether it `deleted` the file, found it
   * still holding admin's password (`current`), or found `none`.
   */
  discardIfStale(currentHash: string | null): Promise<'deleted' | 'current' | 'none'>;
}

/** The password, as the file holds it; undefined when there is no file. */
function readPassword(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The file `name` (INITIAL_PASSWORD_FILE unless given) in `directory` (created if missing, mode 0700). */
export function initialPasswordFile(directory: string, name = INITIAL_PASSWORD_FILE): InitialPasswordFile {
  const path = join(directory, name);
  // Before file names told databases apart, every database's file had the plain name.
  const formerPath = name === INITIAL_PASSWORD_FILE ? undefined : join(directory, INITIAL_PASSWORD_FILE);
  const discard = (): boolean => {
    try {
      rmSync(path);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
  };
  return {
    path,
    write(password) {
      // Not mkdirSync's recursive form: it loops for ever on a level that cannot be made (/proc).
      makeDirectories(directory);
      // An older file (a previous database in the same folder) is replaced, never appended to:
      // removing it first makes `mode` apply even if the old one had laxer permissions.
      discard();
      const fd = openSync(path, 'wx', 0o600);
      try {
        writeSync(fd, `${password}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      return path;
    },
    discard,
    passwordSet(login) {
      if (login.toLowerCase() === BOOTSTRAP_LOGIN) discard();
    },
    async discardIfStale(currentHash) {
      if (formerPath !== undefined && currentHash !== null && !existsSync(path)) {
        // A file an older version wrote under the plain name is this database's only if it holds
        // this database's admin password (a SQLite database's beside it would not): it takes the
        // name that says so, and is deleted as usual once the password changes.
        const former = readPassword(formerPath);
        if (former !== undefined && (await verifyPassword(former, currentHash))) renameSync(formerPath, path);
      }
      const written = readPassword(path);
      if (written === undefined) return 'none';
      if (currentHash !== null && (await verifyPassword(written, currentHash))) return 'current';
      return discard() ? 'deleted' : 'none';
    },
  };
}
