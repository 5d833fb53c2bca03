/** What first start shows (the server's console or a CLI command's stderr), once, and where. */
import type { IssuedPassword } from './directory/administrators.ts';
import type { InitialPasswordFile } from './directory/initial-password.ts';

/**
 * The only time the bootstrap administrator's password is ever shown; it is never logged.
 * `consoleUrl` (the server's) says where to sign in with it.
 */
export function firstStartMessage(login: string, password: string, consoleUrl?: string): string {
  return [
    `Created the local administrator "${login}". Its password, shown only this once:`,
    `  ${password}`,
    ...(consoleUrl !== undefined ? [`Sign in to the console at ${consoleUrl} as "${login}" with this password.`] : []),
    'Set a new one at any time with: npm run roster -- admin reset-password',
  ].join('\n');
}

/**
 * The first-start password could not be written to its file; thrown inside the transaction that
 * creates the administrator (administrators.ensureAdministrator), which is then not created.
 */
export class PasswordFileNotWritten extends Error {
  constructor(login: string, path: string, cause: unknown) {
    super(`could not write the password of the local administrator "${login}" to ${path} (${cause instanceof Error ? cause.message : String(cause)}), so it was not created`);
    this.name = 'PasswordFileNotWritten';
  }
}

/** What first start said, and where the password went. */
export interface FirstStartDelivery {
  /** The administrator it was said of. */
  readonly login: string;
  /** The lines for the terminal or the output stream: the password itself only when `shown`. */
  readonly message: string;
  /** The file the password was written to, when no terminal showed it. */
  readonly file: string | undefined;
}

/**
 * Shows the password on a terminal; anywhere else (a container's stdout, a service's journal,
 * a CI log) the output ends up in log storage, so the password goes to the 0600 file instead
 * and the message says where. Without a file (no data directory) the terminal rule is all there is.
 */
export function deliverFirstStartPassword(issued: IssuedPassword, toTerminal: boolean, file: InitialPasswordFile | undefined, consoleUrl?: string): FirstStartDelivery {
  if (toTerminal || file === undefined) return { login: issued.login, message: firstStartMessage(issued.login, issued.password, consoleUrl), file: undefined };
  let path: string;
  try {
    path = file.write(issued.password);
  } catch (error) {
    throw new PasswordFileNotWritten(issued.login, file.path, error);
  }
  return {
    login: issued.login,
    message: [
      `Created the local administrator "${issued.login}". Its password is in ${path} (readable by this user only);`,
      'it is not printed because this output is not a terminal. The file is deleted once the password is changed.',
      ...(consoleUrl !== undefined ? [`Sign in to the console at ${consoleUrl} as "${issued.login}" with that password.`] : []),
      'Set a new one at any time with: npm run roster -- admin reset-password',
    ].join('\n'),
    file: path,
  };
}
