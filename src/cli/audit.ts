/** `roster audit …`: export the audit trail, or cut it to its retention now. */
import { parseArgs } from './options.ts';
import { parseEventFilter, parseExportFormat } from '../directory/audit-log.ts';
import { withOptionValues } from './options.ts';
import { writeOut } from './output.ts';

/** The export's options, by the name of the filter field each one sets. */
const OPTION_OF_FIELD = { from: '--from', to: '--to', actor: '--actor', actorUser: '--actor-user', action: '--action', targetType: '--target-type', targetId: '--target-id', format: '--format' };
import type { CommandGroup } from './command.ts';

/** The `audit` command group. */
export const auditCommands: CommandGroup = {
  name: 'audit',
  summary: 'export the audit trail as JSON lines or CSV, or delete entries past their retention',
  commands: {
    export: {
      summary: 'print events as JSON lines (or CSV), oldest first',
      usage: [
        'Usage: roster audit export [--format jsonl|csv] [--from <time>] [--to <time>] [--actor <actor>]',
        '                           [--actor-user <login>] [--action <action>] [--target-type <type>] [--target-id <id>]',
        '',
        'Prints one JSON object per line to stdout (or CSV with a header line), oldest first. The log',
        'is read in pages, so any size can be exported: `roster audit export > audit.jsonl`.',
        '',
        'Options:',
        "  --format <f>          jsonl (default) or csv (a cell a spreadsheet would run as a formula starts with ')",
        '  --from <time>         ISO 8601, inclusive (e.g. 2025-01-01 or 2025-01-01T12:00:00Z)',
        '  --to <time>           ISO 8601, exclusive',
        '  --actor <actor>       e.g. token:entra-id, cli, system, or the login of a token\'s owner',
        '  --actor-user <login>  the entries of that user alone (its tokens, sessions, sign-ins)',
        '  --action <action>     e.g. user.created, or user.* for every action starting with user.',
        '  --target-type <type>  user, group, membership, token, setting, schema, application, webhook or audit',
        '  --target-id <id>      the internal id of the target',
      ].join('\n'),
      async run(args, context) {
        const { values } = parseArgs({
          args,
          options: {
            from: { type: 'string' },
            to: { type: 'string' },
            actor: { type: 'string' },
            'actor-user': { type: 'string' },
            action: { type: 'string' },
            format: { type: 'string' },
            'target-type': { type: 'string' },
            'target-id': { type: 'string' },
          },
        });
        return withOptionValues(OPTION_OF_FIELD, async () => {
          const filter = parseEventFilter({
            from: values.from,
            to: values.to,
            actor: values.actor,
            actorUser: values['actor-user'],
            action: values.action,
            targetType: values['target-type'],
            targetId: values['target-id'],
          });
          const format = parseExportFormat(values.format);
          const services = await context.services();
          // Written as produced: an export of any size never sits in memory.
          // A reader that stops early (`| head`) ends the export quietly, as it ends the other commands.
          for await (const line of services.auditLog.exportLines(filter, format)) {
            if (!(await writeOut(line))) break;
          }
          return undefined;
        });
      },
    },
    purge: {
      summary: 'delete audit entries older than ROSTER_AUDIT_RETENTION_DAYS now',
      usage: [
        'Usage: roster audit purge',
        '',
        'Deletes the audit entries older than ROSTER_AUDIT_RETENTION_DAYS days and records how many',
        'in one audit.purged entry (actor cli). `roster serve` does this every hour by itself when the',
        'variable is set; run it to reclaim space at once. Without the variable the audit trail is',
        'kept for ever and nothing is deleted.',
      ].join('\n'),
      async run(args, context) {
        parseArgs({ args, options: {} });
        const days = context.config.auditRetentionDays;
        if (days === null) {
          context.out('ROSTER_AUDIT_RETENTION_DAYS is not set: the audit trail is kept for ever, and nothing was deleted.');
          return undefined;
        }
        const deleted = await (await context.services()).auditLog.purge(days, { kind: 'cli' });
        context.out(`Deleted ${deleted} audit entr${deleted === 1 ? 'y' : 'ies'} older than ${days} day${days === 1 ? '' : 's'}.`);
        return undefined;
      },
    },
  },
};
