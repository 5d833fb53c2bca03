/** `roster scim …`: switch between just-in-time and SCIM provisioning. */
import { parseArgs } from 'node:util';
import { DirectoryError } from '../directory/errors.ts';
import { DISABLE_CONFIRMATION_MESSAGE, type Provisioning } from '../directory/provisioning.ts';
import type { CliContext, CommandGroup } from './roster.ts';

/** The provisioning service over the CLI's store. */
async function provisioning(context: CliContext): Promise<Provisioning> {
  return (await context.services()).provisioning;
}

/** The SCIM base URL an IdP is given as its "tenant URL". */
function tenantUrl(context: CliContext): string {
  return `${context.config.baseUrl}/api/scim/v2`;
}

/** The `scim` command group. */
export const scimCommands: CommandGroup = {
  name: 'scim',
  summary: 'turn SCIM provisioning on or off (requires SAML)',
  commands: {
    enable: {
      summary: 'let the identity provider manage users and groups',
      usage: [
        'Usage: roster scim enable',
        '',
        'Users, groups and memberships become managed by your identity provider.',
        'Existing local users and groups are kept. SAML must be configured first.',
      ].join('\n'),
      async run(args, context) {
        parseArgs({ args, options: {} });
        await (await provisioning(context)).enable(context.actor);
        context.out('SCIM provisioning is enabled. Users, groups and memberships are now managed by your identity provider;');
        context.out('existing local users and groups are kept.');
        context.out(`Give your identity provider the tenant URL ${tenantUrl(context)} and a token from \`roster tokens create\`.`);
        return undefined;
      },
    },
    disable: {
      summary: 'return to just-in-time provisioning (removes every SCIM link; needs --yes)',
      usage: [
        'Usage: roster scim disable --yes',
        '',
        'Returns to just-in-time provisioning: users are created at their first SAML sign-in.',
        'Every SCIM link is removed: all users and groups become local, and the identity provider',
        'can no longer update them. Nothing else is lost. This cannot be undone, hence --yes.',
        '',
        'Options:',
        '  --yes  confirm',
      ].join('\n'),
      async run(args, context) {
        const { values } = parseArgs({ args, options: { yes: { type: 'boolean', default: false } } });
        if (!values.yes) throw new DirectoryError('invalid', DISABLE_CONFIRMATION_MESSAGE, 'confirm');
        await (await provisioning(context)).disable(context.actor);
        context.out('SCIM provisioning is disabled; every user and group is local again. Users are provisioned just in time at SAML sign-in.');
        return undefined;
      },
    },
    status: {
      summary: 'print whether SCIM provisioning is enabled',
      usage: 'Usage: roster scim status',
      async run(args, context) {
        parseArgs({ args, options: {} });
        const { enabled } = await (await provisioning(context)).status();
        context.out(
          enabled
            ? `SCIM provisioning: enabled (tenant URL ${tenantUrl(context)})`
            : 'SCIM provisioning: disabled (just-in-time provisioning at SAML sign-in)',
        );
        return undefined;
      },
    },
  },
};
