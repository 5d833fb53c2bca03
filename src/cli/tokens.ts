/** `roster tokens …`: issue, list and revoke API tokens. */
import { parseArgs } from './options.ts';
import type { TokenInfo } from '../auth/tokens.ts';
import { BOOTSTRAP_LOGIN } from '../directory/administrators.ts';
import { DirectoryError } from '../errors.ts';
import type { CommandGroup } from './command.ts';
import { printable, table } from './output.ts';

/** The `tokens` command group. */
export const tokenCommands: CommandGroup = {
  name: 'tokens',
  summary: 'create, list and revoke API tokens (for the IdP and for scripts)',
  commands: {
    create: {
      summary: 'create a token acting as a user (default: admin) and print it once',
      usage: [
        'Usage: roster tokens create --name <name> [--user <login>]',
        '',
        'Creates a bearer token and prints it ALONE on the last line of output. Roster keeps only',
        'a hash: copy the token now, it cannot be shown again. Only tokens of active administrators',
        'may call the SCIM and admin APIs (another user\'s token may only read its own user at SCIM',
        '/Me); a token stops working when its user is deactivated.',
        '',
        'Options:',
        '  --name <name>     a name unique among live tokens (1-100 characters), e.g. entra-id',
        `  --user <login>    the user the token acts as (default: ${BOOTSTRAP_LOGIN})`,
      ].join('\n'),
      async run(args, context) {
        const { values } = parseArgs({ args, options: { name: { type: 'string' }, user: { type: 'string' } } });
        if (values.name === undefined) return { usageError: '--name is required' };
        const services = await context.services();
        const login = values.user ?? BOOTSTRAP_LOGIN;
        const user = await services.accounts.findByLogin(login);
        if (user === undefined) throw new DirectoryError('not_found', `No user has the login "${login}".`, 'user');
        const name = values.name;
        let created: Awaited<ReturnType<typeof services.tokens.create>>;
        try {
          created = await services.tokens.create(name, context.actor, user.id);
        } catch (error) {
          // A name the token rules refuse (empty, too long) is a command-line mistake: exit 2, naming --name.
          if (error instanceof DirectoryError && error.code === 'invalid' && error.field === 'name') return { usageError: `--name: ${error.message}` };
          throw error;
        }
        const { token, record } = created;
        if (!(await services.access.isAdministrator(user.id))) {
          context.err(`warning: "${printable(user.login)}" is not an administrator (neither flagged admin nor in the group "${services.access.adminGroup}"): this token can only read its own user at SCIM /Me, not call the SCIM or admin APIs, until it is.`);
        }
        context.out(`Created token "${printable(record.name)}" for ${printable(user.login)} (id ${record.id}).`);
        context.out('Copy it now; Roster stores only its hash and cannot show it again:');
        // Alone on the last line, so that `... | tail -n 1` captures exactly the secret.
        context.out(token);
        return undefined;
      },
    },
    list: {
      summary: 'list tokens (never their secrets)',
      usage: ['Usage: roster tokens list [--all]', '', 'Options:', '  --all  include revoked tokens'].join('\n'),
      async run(args, context) {
        const { values } = parseArgs({ args, options: { all: { type: 'boolean', default: false } } });
        const services = await context.services();
        const tokens = await services.tokens.list();
        const shown = values.all ? tokens : tokens.filter((token) => token.revokedAt === null);
        if (shown.length === 0) {
          context.out(values.all ? 'No tokens.' : 'No live tokens.');
          return undefined;
        }
        context.out(formatTable(shown));
        return undefined;
      },
    },
    revoke: {
      summary: 'revoke a live token by name',
      usage: ['Usage: roster tokens revoke <name>', '', 'Revokes the live token with this name; requests using it fail from now on.'].join('\n'),
      async run(args, context) {
        const { positionals } = parseArgs({ args, options: {}, allowPositionals: true });
        const [name, ...extra] = positionals;
        if (name === undefined) return { usageError: 'the name of the token to revoke is required' };
        if (extra.length > 0) return { usageError: `unexpected argument "${extra[0] ?? ''}"` };
        const revoked = await (await context.services()).tokens.revoke(name, context.actor);
        if (!revoked) throw new DirectoryError('not_found', `No live token is named "${name}".`, 'name');
        context.out(`Revoked token "${name}".`);
        return undefined;
      },
    },
  },
};

function formatTable(tokens: readonly TokenInfo[]): string {
  const rows = [
    ['NAME', 'USER', 'CREATED', 'LAST USED', 'STATUS'],
    ...tokens.map((token) => [
      token.name,
      token.userId === null ? '-' : (token.ownerLogin ?? token.userId),
      token.createdAt,
      token.lastUsedAt ?? 'never',
      token.revokedAt === null ? 'live' : `revoked ${token.revokedAt}`,
    ]),
  ];
  return table(rows);
}
