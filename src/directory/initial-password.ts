/**
 * Where the first-start password of `admin` goes when nobody watches a terminal: a file
 * readable by its owner only (mode 0600), beside the SQLite database or in ROSTER_DATA_DIR,
 * so that the password never passes through a log collector. The file is deleted as soon as
 * the password it holds stops being the password (administrators.ts and accounts.ts call
 * `passwordSet`, the one place that decides it), or, when it was changed where this process
 * cannot see (another instance, a command on another machine), at this instance's next start
 * or hourly clean-up (`discardIfStale`).
 */
import { closeSync, fsyncSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { verifyPassword } from '../auth/passwords.ts';
import { makeDirectories } from '../store/index.ts';

/** The login of the administrator created at first start. */
export const BOOTSTRAP_LOGIN = 'admin';

/** The file's name, in the directory the caller chose. */
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

/** The file in `directory` (created if missing, mode 0700). */
export function initialPasswordFile(directory: string): InitialPasswordFile {
  const path = join(directory, INITIAL_PASSWORD_FILE);
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
      let written: string;
      try {
        written = readFileSync(path, 'utf8').trim();
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'none';
        throw error;
      }
      if (currentHash !== null && (await verifyPassword(written, currentHash))) return 'current';
      return discard() ? 'deleted' : 'none';
    },
  };
}
