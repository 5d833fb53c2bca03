/** `roster tokens …`: issue, list and revoke API tokens. */
import { parseArgs } from 'node:util';
import type { TokenInfo } from '../auth/tokens.ts';
import { DirectoryError } from '../directory/errors.ts';
import type { CommandGroup } from './roster.ts';

/** The `tokens` command group. */
export const tokenCommands: CommandGroup = {
  name: 'tokens',
  summary: 'create, list and revoke API tokens (for the IdP and for scripts)',
  commands: {
    create: {
      summary: 'create a token and print it once',
      usage: [
        'Usage: roster tokens create --name <name> [--user <user-id>]',
        '',
        'Creates a bearer token and prints it ALONE on the last line of output. Roster keeps only',
        'a hash: copy the token now, it cannot be shown again.',
        '',
        'Options:',
        '  --name <name>     a name unique among live tokens (1-100 characters), e.g. entra-id',
        '  --user <user-id>  the user the token acts as (default: none, an instance token)',
      ].join('\n'),
      async run(args, context) {
        const { values } = parseArgs({ args, options: { name: { type: 'string' }, user: { type: 'string' } } });
        if (values.name === undefined) return { usageError: '--name is required' };
        const { tokens } = await context.services();
        const { token, record } = await tokens.create(values.name, context.actor, values.user ?? null);
        context.out(`Created token "${record.name}" (id ${record.id}).`);
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
        const tokens = await (await context.services()).tokens.list();
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
      token.userId ?? '-',
      token.createdAt,
      token.lastUsedAt ?? 'never',
      token.revokedAt === null ? 'live' : `revoked ${token.revokedAt}`,
    ]),
  ];
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd()).join('\n');
}
