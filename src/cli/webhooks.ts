/** `roster webhooks …`: webhook endpoints, their signing secrets, their deliveries (docs/events.md). */
import { parseArgs } from './options.ts';
import type { DeliveryInfo, WebhookInfo } from '../directory/webhooks.ts';
import { EVENT_TYPES } from '../journal/journal.ts';
import type { Command, CommandGroup } from './command.ts';
import { table } from './output.ts';
import { withOptionValues } from './options.ts';

/** A command taking one endpoint id and nothing else. */
function onOne(summary: string, usage: string, act: (id: string, context: Parameters<Command['run']>[1]) => Promise<void>): Command {
  return {
    summary,
    usage,
    async run(args, context) {
      const { positionals } = parseArgs({ args, options: {}, allowPositionals: true });
      const [id, ...extra] = positionals;
      if (id === undefined) return { usageError: 'the id of the webhook is required (see `roster webhooks list`)' };
      if (extra.length > 0) return { usageError: `unexpected argument "${extra[0] ?? ''}"` };
      await act(id, context);
      return undefined;
    },
  };
}

/** The `webhooks` command group. */
export const webhookCommands: CommandGroup = {
  name: 'webhooks',
  summary: 'send change events to applications: endpoints, secrets, deliveries',
  commands: {
    create: {
      summary: 'register an endpoint and print its signing secret once',
      usage: [
        'Usage: roster webhooks create --url <url> [--types <type,…>]',
        '',
        'Registers an endpoint: every change from now on is POSTed to it, signed (Standard Webhooks),',
        'in order. Prints the signing secret (whsec_…) ALONE on the last line: give it to the receiver.',
        '',
        'Options:',
        '  --url <url>          an http(s) URL; redirects are not followed',
        `  --types <type,…>     only these event types: ${EVENT_TYPES.join(', ')}`,
      ].join('\n'),
      async run(args, context) {
        const { values } = parseArgs({ args, options: { url: { type: 'string' }, types: { type: 'string' } } });
        if (values.url === undefined) return { usageError: '--url is required' };
        const services = await context.services();
        const types = values.types === undefined ? undefined : values.types.split(',');
        const { webhook, secret } = await services.webhooks.create({ url: values.url, ...(types !== undefined ? { types } : {}) }, context.actor);
        context.out(`Created webhook ${webhook.id} for ${webhook.url} (${describeTypes(webhook)}).`);
        context.out('Its signing secret, shown once (`roster webhooks rotate-secret` issues a new one):');
        // Alone on the last line, so that `... | tail -n 1` captures exactly the secret.
        context.out(secret);
        return undefined;
      },
    },
    list: {
      summary: 'list endpoints (never their secrets)',
      usage: 'Usage: roster webhooks list\n\nLists every endpoint: id, state, failures, URL and event types.',
      async run(args, context) {
        parseArgs({ args, options: {} });
        const webhooks = await (await context.services()).webhooks.list();
        if (webhooks.length === 0) {
          context.out('No webhooks.');
          return undefined;
        }
        context.out(
          table([
            ['ID', 'STATE', 'FAILED ATTEMPTS', 'URL', 'TYPES'],
            ...webhooks.map((webhook) => [webhook.id, webhook.enabled ? 'enabled' : `disabled: ${webhook.disabledReason ?? ''}`, String(webhook.failedAttempts), webhook.url, describeTypes(webhook)]),
          ]),
        );
        return undefined;
      },
    },
    enable: onOne('resume deliveries to an endpoint', 'Usage: roster webhooks enable <id>\n\nResumes deliveries at the event the endpoint stopped at.', async (id, context) => {
      const webhook = await (await context.services()).webhooks.enable(id, context.actor);
      context.out(`Enabled webhook ${webhook.id} (${webhook.url}).`);
    }),
    disable: onOne('stop deliveries to an endpoint', 'Usage: roster webhooks disable <id>\n\nStops deliveries; `enable` resumes them where they stopped.', async (id, context) => {
      const webhook = await (await context.services()).webhooks.disable(id, context.actor);
      context.out(`Disabled webhook ${webhook.id} (${webhook.url}).`);
    }),
    delete: onOne('delete an endpoint and its log of deliveries', 'Usage: roster webhooks delete <id>', async (id, context) => {
      await (await context.services()).webhooks.remove(id, context.actor);
      context.out(`Deleted webhook ${id}.`);
    }),
    'rotate-secret': onOne(
      'issue a new signing secret and print it once',
      'Usage: roster webhooks rotate-secret <id>\n\nIssues a new signing secret and prints it ALONE on the last line. For 24 hours the previous\nsecret signs too (two signatures per request), so the receiver can switch without losing events.',
      async (id, context) => {
        const { webhook, secret } = await (await context.services()).webhooks.rotateSecret(id, context.actor);
        context.out(`New signing secret of webhook ${webhook.id}; the previous one also signs until ${webhook.previousSecretExpiresAt ?? 'now'}:`);
        context.out(secret);
      },
    ),
    deliveries: {
      summary: 'print the last delivery attempts of an endpoint',
      usage: ['Usage: roster webhooks deliveries <id> [--limit <n>]', '', 'Prints the attempts newest first (default 20, at most 500): time, event, attempt, status,', 'latency, outcome and error.'].join('\n'),
      async run(args, context) {
        const { values, positionals } = parseArgs({ args, options: { limit: { type: 'string' } }, allowPositionals: true });
        const [id, ...extra] = positionals;
        if (id === undefined) return { usageError: 'the id of the webhook is required' };
        if (extra.length > 0) return { usageError: `unexpected argument "${extra[0] ?? ''}"` };
        const limit = values.limit === undefined ? 20 : /^\d{1,3}$/.test(values.limit) ? Number(values.limit) : NaN;
        if (!(limit >= 1 && limit <= 500)) return { usageError: '--limit must be a number from 1 to 500' };
        const { deliveries } = await (await context.services()).webhooks.deliveries(id, { limit });
        if (deliveries.length === 0) {
          context.out('No deliveries yet.');
          return undefined;
        }
        context.out(table([['TIME', 'EVENT', 'TYPE', 'ATTEMPT', 'STATUS', 'MS', 'OUTCOME', 'ERROR'], ...deliveries.map(deliveryRow)]));
        return undefined;
      },
    },
    replay: {
      summary: 'deliver again from an event onwards (and enable the endpoint)',
      usage: [
        'Usage: roster webhooks replay <id> --from <event id>',
        '',
        'Delivers again, in order, every event from <event id> (still kept: ROSTER_EVENT_RETENTION_DAYS)',
        'onwards, and enables the endpoint. Event ids are in the deliveries and in GET /api/v2/events.',
      ].join('\n'),
      async run(args, context) {
        const { values, positionals } = parseArgs({ args, options: { from: { type: 'string' } }, allowPositionals: true });
        const [id, ...extra] = positionals;
        if (id === undefined) return { usageError: 'the id of the webhook is required' };
        if (extra.length > 0) return { usageError: `unexpected argument "${extra[0] ?? ''}"` };
        if (values.from === undefined) return { usageError: '--from <event id> is required' };
        const from = values.from;
        return withOptionValues({ from: '--from' }, async () => {
          const webhook = await (await context.services()).webhooks.replay(id, from, context.actor);
          context.out(`Webhook ${webhook.id} delivers again from event ${from}; \`roster serve\` sends them.`);
          return undefined;
        });
      },
    },
  },
};

function describeTypes(webhook: WebhookInfo): string {
  return webhook.types === null ? 'all event types' : webhook.types.join(',');
}

function deliveryRow(delivery: DeliveryInfo): string[] {
  return [delivery.at, delivery.eventId, delivery.eventType, String(delivery.attempt), delivery.status === null ? '-' : String(delivery.status), String(delivery.latencyMs), delivery.outcome, delivery.error ?? ''];
}

