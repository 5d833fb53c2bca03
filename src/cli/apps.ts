/** `roster apps …` and `roster keys rotate`: applications of the OpenID provider and its signing keys. */
import { parseArgs } from 'node:util';
import type { Application } from '../directory/applications.ts';
import type { CommandGroup } from './command.ts';
import { printable, table } from './output.ts';

/** The `apps` command group. */
export const appCommands: CommandGroup = {
  name: 'apps',
  summary: 'register the applications that sign users in through Roster (OpenID Connect)',
  commands: {
    create: {
      summary: 'register an application; prints its client id and secret',
      usage: [
        'Usage: roster apps create --name <name> --redirect-uri <uri> [--redirect-uri <uri>…] [--public] [--allowed-group <group>…]',
        '',
        'Registers an OpenID Connect application. Prints the client id, then the client secret, each',
        'ALONE on the last two lines (a public client has no secret: only its id is printed). Roster',
        'keeps only a hash of the secret: copy it now.',
        '',
        'Options:',
        '  --name <name>            what administrators and the audit trail call it (1-100 characters)',
        '  --redirect-uri <uri>     where the application receives the code, matched exactly;',
        '                           https, or http for localhost only (repeatable)',
        '  --public                 a client that cannot keep a secret (single-page or native app);',
        '                           it must use PKCE',
        '  --allowed-group <group>  only members of this group may sign in (repeatable: any of them)',
      ].join('\n'),
      async run(args, context) {
        const { values } = parseArgs({
          args,
          options: {
            name: { type: 'string' },
            'redirect-uri': { type: 'string', multiple: true },
            public: { type: 'boolean', default: false },
            'allowed-group': { type: 'string', multiple: true },
          },
        });
        if (values.name === undefined) return { usageError: '--name is required' };
        if (values['redirect-uri'] === undefined) return { usageError: 'at least one --redirect-uri is required' };
        const services = await context.services();
        const { application, secret } = await services.applications.create(
          { name: values.name, redirectUris: values['redirect-uri'], public: values.public ?? false, allowedGroups: values['allowed-group'] ?? [] },
          context.actor,
        );
        context.out(`Registered application "${printable(application.name)}"${application.public ? ' (public: PKCE, no secret)' : ''}.`);
        const missing = await services.applications.missingGroups(application.allowedGroups);
        if (missing.length > 0) {
          context.err(`warning: no group is named ${missing.map((group) => `"${printable(group)}"`).join(', ')}: nobody can sign in to this application until one of its allowed groups exists (check the spelling, or provision the group).`);
        }
        if (secret === undefined) {
          context.out('Client id:');
          context.out(application.clientId);
          return undefined;
        }
        context.out('Client id, then client secret (copy it now; Roster stores only its hash):');
        // The id and the secret alone on the last two lines, for `tail -n 2`.
        context.out(application.clientId);
        context.out(secret);
        return undefined;
      },
    },
    list: {
      summary: 'list applications (never their secrets)',
      usage: 'Usage: roster apps list',
      async run(args, context) {
        parseArgs({ args, options: {} });
        const applications = await (await context.services()).applications.list();
        context.out(applications.length === 0 ? 'No applications.' : formatTable(applications));
        return undefined;
      },
    },
    delete: {
      summary: 'delete an application; its tokens stop working',
      usage: ['Usage: roster apps delete <client id>', '', 'Deletes the application: its users can no longer sign in to it, and its tokens stop working.'].join('\n'),
      async run(args, context) {
        const { positionals } = parseArgs({ args, options: {}, allowPositionals: true });
        const [clientId, ...extra] = positionals;
        if (clientId === undefined) return { usageError: 'the client id is required' };
        if (extra.length > 0) return { usageError: `unexpected argument "${extra[0] ?? ''}"` };
        await (await context.services()).applications.delete(clientId, context.actor);
        context.out(`Deleted application ${clientId}.`);
        return undefined;
      },
    },
    'rotate-secret': {
      summary: 'give an application a new secret; prints it',
      usage: ['Usage: roster apps rotate-secret <client id>', '', 'Replaces the secret at once (the old one stops working) and prints the new one ALONE on the last line.'].join('\n'),
      async run(args, context) {
        const { positionals } = parseArgs({ args, options: {}, allowPositionals: true });
        const [clientId, ...extra] = positionals;
        if (clientId === undefined) return { usageError: 'the client id is required' };
        if (extra.length > 0) return { usageError: `unexpected argument "${extra[0] ?? ''}"` };
        const secret = await (await context.services()).applications.rotateSecret(clientId, context.actor);
        context.out(`New secret of ${clientId} (copy it now; the old one no longer works):`);
        context.out(secret);
        return undefined;
      },
    },
  },
};

/** The `keys` command group. */
export const keyCommands: CommandGroup = {
  name: 'keys',
  summary: "rotate the OpenID provider's signing key",
  commands: {
    rotate: {
      summary: 'sign with a new key from now on; the old one stays published for 7 days',
      usage: [
        'Usage: roster keys rotate',
        '',
        'Creates a new signing key, which every instance signs with from its next request. The old',
        'key stays in the JWKS for 7 days, so that tokens it signed still verify.',
      ].join('\n'),
      async run(args, context) {
        parseArgs({ args, options: {} });
        const { kid, retired } = await (await context.services()).oidc.rotateKeys(context.actor);
        context.out(`New signing key ${kid}.${retired.length > 0 ? ` Retired: ${retired.join(', ')} (published for 7 more days).` : ''}`);
        return undefined;
      },
    },
  },
};

function formatTable(applications: readonly Application[]): string {
  const rows = [
    ['CLIENT ID', 'NAME', 'TYPE', 'ALLOWED GROUPS', 'REDIRECT URIS'],
    ...applications.map((application) => [
      application.clientId,
      application.name,
      application.public ? 'public' : 'confidential',
      application.allowedGroups.length === 0 ? '(everyone)' : application.allowedGroups.join(', '),
      application.redirectUris.join(' '),
    ]),
  ];
  return table(rows);
}
