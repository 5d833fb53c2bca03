/** `roster admin …`: recover access to the local administrator. */
import { parseArgs } from './options.ts';
import { BOOTSTRAP_LOGIN } from '../directory/administrators.ts';
import type { CommandGroup } from './command.ts';

/** The `admin` command group. */
export const adminCommands: CommandGroup = {
  name: 'admin',
  summary: 'reset the local administrator\'s password',
  commands: {
    'reset-password': {
      summary: 'set a new random password and print it once',
      usage: [
        `Usage: roster admin reset-password [--user <login>]`,
        '',
        'Sets a new random password for a local administrator and prints it ALONE on the last line',
        `of output. Without --user, resets "${BOOTSTRAP_LOGIN}" (and creates it if it is missing).`,
        'The user\'s browser sessions and its sign-ins to applications (OpenID Connect grants and',
        'tokens) end; its API tokens are kept. Refused for an administrator the identity provider',
        'manages through SCIM: it signs in through SAML only (turning SCIM off makes it local again).',
        'The console asks the administrator to choose their own password until they do.',
        '',
        'Options:',
        `  --user <login>  the administrator (default: ${BOOTSTRAP_LOGIN})`,
      ].join('\n'),
      async run(args, context) {
        const { values } = parseArgs({ args, options: { user: { type: 'string' } } });
        // No first-start bootstrap here: it would print a password this command replaces at once.
        const services = await context.services({ bootstrap: false });
        const issued = await services.administrators.resetPassword(values.user ?? BOOTSTRAP_LOGIN, context.actor);
        // A new password deserves a fresh start: the login's sign-in backoff is lifted.
        await services.passwordSignIn.clearLogin(issued.login);
        if (issued.endedSessions > 0) context.out(`Ended ${issued.endedSessions} browser session${issued.endedSessions === 1 ? '' : 's'} of "${issued.login}".`);
        context.out(`New password for "${issued.login}" (shown only this once):`);
        context.out(issued.password);
        return undefined;
      },
    },
  },
};
