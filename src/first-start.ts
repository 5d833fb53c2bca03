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

/** What first start said, and where the password went. */
export interface FirstStartDelivery {
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
  if (toTerminal || file === undefined) return { message: firstStartMessage(issued.login, issued.password, consoleUrl), file: undefined };
  const path = file.write(issued.password);
  return {
    message: [
      `Created the local administrator "${issued.login}". Its password is in ${path} (readable by this user only);`,
      'it is not printed because this output is not a terminal. The file is deleted once the password is changed.',
      ...(consoleUrl !== undefined ? [`Sign in to the console at ${consoleUrl} as "${issued.login}" with that password.`] : []),
      'Set a new one at any time with: npm run roster -- admin reset-password',
    ].join('\n'),
    file: path,
  };
}
