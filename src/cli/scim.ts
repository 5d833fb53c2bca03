/** `roster scim …`: switch between just-in-time and SCIM provisioning; read the provisioning activity. */
import { parseArgs } from './options.ts';
import type { ActivityEntry } from '../directory/activity.ts';
import { DirectoryError } from '../errors.ts';
import { table } from './output.ts';
import { CLI_DISABLE_CONFIRMATION_MESSAGE, type Provisioning } from '../directory/provisioning.ts';
import type { CliContext, CommandGroup } from './command.ts';

/** The provisioning service over the CLI's store. */
async function provisioning(context: CliContext): Promise<Provisioning> {
  return (await context.services()).provisioning;
}

/**
 * The SCIM base URL an IdP is given as its "tenant URL", built from ROSTER_BASE_URL. A loopback
 * address (the default without ROSTER_BASE_URL, localhost and ROSTER_PORT, or one set so) is
 * not one an IdP can reach, and the text says so, whether it was set or guessed.
 */
function tenantUrl(context: CliContext): string {
  const url = `${context.config.baseUrl}/api/scim/v2`;
  const host = new URL(context.config.baseUrl).hostname;
  const loopback = host === 'localhost' || host === '[::1]' || /^127\./.test(host);
  return loopback ? `${url} (a loopback address, which your identity provider cannot reach: set ROSTER_BASE_URL to the address it reaches Roster at)` : url;
}

const DEFAULT_ACTIVITY_LIMIT = 20;
const MAX_ACTIVITY_LIMIT = 500;
/** Longest error shown in a table cell; the admin API has the whole (already shortened) detail. */
const MAX_ERROR_CELL = 120;

/** The `scim` command group. */
export const scimCommands: CommandGroup = {
  name: 'scim',
  summary: 'turn SCIM provisioning on or off (requires SAML), show what the IdP called',
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
        if (!values.yes) throw new DirectoryError('invalid', CLI_DISABLE_CONFIRMATION_MESSAGE, 'confirm');
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
    activity: {
      summary: 'print the last SCIM requests the identity provider made (--failures: only those that failed)',
      usage: [
        'Usage: roster scim activity [--failures] [--limit <n>]',
        '',
        'Prints the last SCIM requests, newest first: time, status, method, path with its filter,',
        'duration, token, and for failures the error sent to the identity provider. Requests',
        'without a valid token are folded per address and minute (×N says how many).',
        'Requests are kept for ROSTER_ACTIVITY_RETENTION_DAYS days (default 30).',
        '',
        'Options:',
        '  --failures   only requests answered with a status of 400 or more',
        `  --limit <n>  how many to print (default ${DEFAULT_ACTIVITY_LIMIT}, at most ${MAX_ACTIVITY_LIMIT})`,
      ].join('\n'),
      async run(args, context) {
        const { values } = parseArgs({ args, options: { failures: { type: 'boolean', default: false }, limit: { type: 'string' } } });
        const limit = parseLimit(values.limit);
        if (limit === undefined) return { usageError: `--limit must be a whole number from 1 to ${MAX_ACTIVITY_LIMIT}` };
        const page = await (await context.services()).activity.list({ failuresOnly: values.failures, limit, offset: 0 });
        if (page.requests.length === 0) {
          context.out(values.failures ? 'No failed SCIM requests recorded.' : 'No SCIM requests recorded.');
          return undefined;
        }
        context.out(formatActivity(page.requests));
        if (page.total > page.requests.length) context.out(`(${page.requests.length} of ${page.total}; --limit shows more)`);
        return undefined;
      },
    },
    'purge-activity': {
      summary: 'delete provisioning activity older than ROSTER_ACTIVITY_RETENTION_DAYS now',
      usage: [
        'Usage: roster scim purge-activity',
        '',
        'Deletes the recorded SCIM requests older than ROSTER_ACTIVITY_RETENTION_DAYS days.',
        '`roster serve` does this every hour by itself; run it to reclaim space at once,',
        'e.g. after lowering the retention.',
      ].join('\n'),
      async run(args, context) {
        parseArgs({ args, options: {} });
        const days = context.config.activityRetentionDays;
        const deleted = await (await context.services()).activity.purge(days);
        context.out(`Deleted ${deleted} SCIM request${deleted === 1 ? '' : 's'} older than ${days} day${days === 1 ? '' : 's'}.`);
        return undefined;
      },
    },
  },
};

/** The --limit option, or undefined when it is not a whole number in range. */
function parseLimit(raw: string | undefined): number | undefined {
  if (raw === undefined) return DEFAULT_ACTIVITY_LIMIT;
  const limit = /^\d{1,4}$/.test(raw) ? Number(raw) : NaN;
  return limit >= 1 && limit <= MAX_ACTIVITY_LIMIT ? limit : undefined;
}

function formatActivity(requests: readonly ActivityEntry[]): string {
  const rows = [
    ['TIME', 'STATUS', 'METHOD', 'PATH', 'MS', 'TOKEN', 'ERROR'],
    ...requests.map((entry) => {
      const error = entry.detail === null ? '' : `${entry.scimType === null ? '' : `${entry.scimType}: `}${entry.detail}`;
      return [
        entry.at,
        entry.count > 1 ? `${entry.status} ×${entry.count}` : String(entry.status),
        entry.method,
        entry.filter === null ? entry.path : `${entry.path}?filter=${entry.filter}`,
        String(entry.durationMs),
        entry.tokenName === null ? `- (${entry.source ?? 'other addresses'})` : entry.tokenName,
        error.length > MAX_ERROR_CELL ? `${error.slice(0, MAX_ERROR_CELL - 1)}…` : error,
      ];
    }),
  ];
  return table(rows);
}
