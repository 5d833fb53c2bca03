/** What first start prints (the server's console or a CLI command's stderr), once. */

/** The only time the bootstrap administrator's password is ever shown; it is never logged. */
export function firstStartMessage(login: string, password: string): string {
  return [
    `Created the local administrator "${login}". Its password, shown only this once:`,
    `  ${password}`,
    'Set a new one at any time with: npm run roster -- admin reset-password',
  ].join('\n');
}
