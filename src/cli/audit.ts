/** `roster audit …`: export the audit trail. */
import { parseArgs } from 'node:util';
import { parseEventFilter } from '../directory/audit-log.ts';
import type { CommandGroup } from './roster.ts';

/** The `audit` command group. */
export const auditCommands: CommandGroup = {
  name: 'audit',
  summary: 'export the audit trail as JSON lines',
  commands: {
    export: {
      summary: 'print events as JSON lines, oldest first',
      usage: [
        'Usage: roster audit export [--from <time>] [--to <time>] [--actor <actor>] [--target-type <type>] [--target-id <id>]',
        '',
        'Prints one JSON object per line to stdout, oldest first. The log is read in pages, so any',
        'size can be exported: `roster audit export > audit.jsonl`.',
        '',
        'Options:',
        '  --from <time>         ISO 8601, inclusive (e.g. 2025-01-01 or 2025-01-01T12:00:00Z)',
        '  --to <time>           ISO 8601, exclusive',
        '  --actor <actor>       e.g. token:entra-id, cli, system, or the login of a token\'s owner',
        '  --target-type <type>  user, group, membership, token or setting',
        '  --target-id <id>      the internal id of the target',
      ].join('\n'),
      async run(args, context) {
        const { values } = parseArgs({
          args,
          options: {
            from: { type: 'string' },
            to: { type: 'string' },
            actor: { type: 'string' },
            'target-type': { type: 'string' },
            'target-id': { type: 'string' },
          },
        });
        const filter = parseEventFilter({
          from: values.from,
          to: values.to,
          actor: values.actor,
          targetType: values['target-type'],
          targetId: values['target-id'],
        });
        const services = await context.services();
        for await (const event of services.auditLog.stream(filter)) context.out(JSON.stringify(event));
        return undefined;
      },
    },
  },
};
