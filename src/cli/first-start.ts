/** What first start prints (the server's console or a CLI command's stderr), once. */

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
