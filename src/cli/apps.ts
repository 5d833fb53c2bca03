/** `roster apps …` and `roster keys rotate`: applications of the OpenID provider and its signing keys. */
import { parseArgs } from './options.ts';
import { missingGroupsEffect, type Application, type ApplicationField } from '../directory/applications.ts';
import type { CliContext, CommandGroup } from './command.ts';
import { withOptionValues } from './options.ts';
import { printable, table } from './output.ts';
import { readableTime } from '../text.ts';
import { MAX_SECRET_OVERLAP_SECONDS } from '../directory/secret-overlap.ts';

/** The options that set each field, for a value the domain refuses (exit 2 naming the option). */
const OPTION_OF_FIELD = { name: '--name', redirectUris: '--redirect-uri', allowedGroups: '--allowed-group', backchannelLogoutUri: '--backchannel-logout-uri' };

/** The `apps` command group. */
export const appCommands: CommandGroup = {
  name: 'apps',
  summary: 'register the applications that sign users in through Roster (OpenID Connect)',
  commands: {
    create: {
      summary: 'register an application; prints its client id and secret',
      usage: [
        'Usage: roster apps create --name <name> --redirect-uri <uri> [--redirect-uri <uri>…] [--public] [--allowed-group <group>…]',
        '                          [--backchannel-logout-uri <uri>]',
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
        '  --backchannel-logout-uri <uri>',
        '                           where Roster POSTs a logout token when a user\'s sign-in ends',
        '                           (OpenID Connect Back-Channel Logout); https, or http for localhost only',
      ].join('\n'),
      async run(args, context) {
        const { values } = parseArgs({
          args,
          options: {
            name: { type: 'string' },
            'redirect-uri': { type: 'string', multiple: true },
            public: { type: 'boolean', default: false },
            'allowed-group': { type: 'string', multiple: true },
            'backchannel-logout-uri': { type: 'string' },
          },
        });
        if (values.name === undefined) return { usageError: '--name is required' };
        if (values['redirect-uri'] === undefined) return { usageError: 'at least one --redirect-uri is required' };
        const { name, 'redirect-uri': redirectUris } = values;
        return withOptionValues(OPTION_OF_FIELD, async () => {
          const services = await context.services();
          const { application, secret } = await services.applications.create(
            { name, redirectUris, public: values.public ?? false, allowedGroups: values['allowed-group'] ?? [], backchannelLogoutUri: values['backchannel-logout-uri'] ?? null },
            context.actor,
          );
          context.out(`Registered application "${printable(application.name)}"${application.public ? ' (public: PKCE, no secret)' : ''}.`);
          await warnMissingGroups(context, application);
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
        });
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
    update: {
      summary: 'change an application\'s name, redirect URIs, allowed groups or back-channel logout URI; the client id and secret stay',
      usage: [
        'Usage: roster apps update <client id> [--name <name>] [--redirect-uri <uri>…] [--allowed-group <group>…] [--no-allowed-groups]',
        '                          [--add-redirect-uri <uri>…] [--remove-redirect-uri <uri>…] [--add-allowed-group <group>…] [--remove-allowed-group <group>…]',
        '                          [--backchannel-logout-uri <uri> | --no-backchannel-logout-uri]',
        '',
        'Changes the application in place: its client id and secret stay the same. Options not given',
        'keep their values; --redirect-uri and --allowed-group replace the whole list (give every value',
        'the application keeps), --add-… and --remove-… change the current list by those values only.',
        'Prints what changed.',
        '',
        'Options:',
        '  --name <name>            the new name (1-100 characters)',
        '  --redirect-uri <uri>     the redirect URIs, matched exactly; https, or http for localhost only',
        '                           (repeatable). One left out is refused from now on.',
        '  --allowed-group <group>  only members of these groups may sign in (repeatable: any of them).',
        '                           A user left out is refused from their next token refresh.',
        '  --no-allowed-groups      every active user may sign in',
        '  --add-redirect-uri <uri>, --remove-redirect-uri <uri>',
        '  --add-allowed-group <group>, --remove-allowed-group <group>',
        '                           add to or remove from the current list (repeatable); removing a',
        '                           value the list does not hold is refused',
        '  --backchannel-logout-uri <uri>',
        '                           where Roster POSTs logout tokens; https, or http for localhost only',
        '  --no-backchannel-logout-uri',
        '                           send the application no more logout tokens',
      ].join('\n'),
      async run(args, context) {
        const { values, positionals } = parseArgs({
          args,
          options: {
            name: { type: 'string' },
            'redirect-uri': { type: 'string', multiple: true },
            'allowed-group': { type: 'string', multiple: true },
            'no-allowed-groups': { type: 'boolean', default: false },
            'add-redirect-uri': { type: 'string', multiple: true },
            'remove-redirect-uri': { type: 'string', multiple: true },
            'add-allowed-group': { type: 'string', multiple: true },
            'remove-allowed-group': { type: 'string', multiple: true },
            'backchannel-logout-uri': { type: 'string' },
            'no-backchannel-logout-uri': { type: 'boolean', default: false },
          },
          allowPositionals: true,
        });
        const [clientId, ...extra] = positionals;
        if (clientId === undefined) return { usageError: 'the client id is required (see `roster apps list`)' };
        if (extra.length > 0) return { usageError: `unexpected argument "${extra[0] ?? ''}"` };
        const everyone = values['no-allowed-groups'] === true;
        if (everyone && values['allowed-group'] !== undefined) return { usageError: '--allowed-group and --no-allowed-groups contradict each other' };
        const allowedGroups = everyone ? [] : values['allowed-group'];
        const add = { redirectUris: values['add-redirect-uri'], allowedGroups: values['add-allowed-group'] };
        const remove = { redirectUris: values['remove-redirect-uri'], allowedGroups: values['remove-allowed-group'] };
        if (values['redirect-uri'] !== undefined && (add.redirectUris !== undefined || remove.redirectUris !== undefined)) {
          return { usageError: '--redirect-uri replaces the whole list: use it, or --add-redirect-uri and --remove-redirect-uri, not both' };
        }
        if (allowedGroups !== undefined && (add.allowedGroups !== undefined || remove.allowedGroups !== undefined)) {
          return { usageError: '--allowed-group and --no-allowed-groups replace the whole list: use them, or --add-allowed-group and --remove-allowed-group, not both' };
        }
        const noLogoutUri = values['no-backchannel-logout-uri'] === true;
        if (noLogoutUri && values['backchannel-logout-uri'] !== undefined) return { usageError: '--backchannel-logout-uri and --no-backchannel-logout-uri contradict each other' };
        const backchannelLogoutUri = noLogoutUri ? null : values['backchannel-logout-uri'];
        const edits = [add.redirectUris, add.allowedGroups, remove.redirectUris, remove.allowedGroups].some((list) => list !== undefined);
        if (values.name === undefined && values['redirect-uri'] === undefined && allowedGroups === undefined && backchannelLogoutUri === undefined && !edits) {
          return { usageError: 'nothing to change: give --name, --redirect-uri, --allowed-group, --no-allowed-groups, --backchannel-logout-uri, --no-backchannel-logout-uri, or --add-… / --remove-…' };
        }
        const optionOf = {
          ...OPTION_OF_FIELD,
          ...(add.redirectUris !== undefined || remove.redirectUris !== undefined ? { redirectUris: '--add-redirect-uri/--remove-redirect-uri' } : {}),
          ...(add.allowedGroups !== undefined || remove.allowedGroups !== undefined ? { allowedGroups: '--add-allowed-group/--remove-allowed-group' } : {}),
        };
        return withOptionValues(optionOf, async () => {
          const services = await context.services();
          const before = await services.applications.get(clientId);
          const { application, changed } = await services.applications.update(
            clientId,
            {
              ...(values.name !== undefined ? { name: values.name } : {}),
              ...(values['redirect-uri'] !== undefined ? { redirectUris: values['redirect-uri'] } : {}),
              ...(allowedGroups !== undefined ? { allowedGroups } : {}),
              ...(backchannelLogoutUri !== undefined ? { backchannelLogoutUri } : {}),
              ...(add.redirectUris !== undefined || add.allowedGroups !== undefined ? { add: definedOnly(add) } : {}),
              ...(remove.redirectUris !== undefined || remove.allowedGroups !== undefined ? { remove: definedOnly(remove) } : {}),
            },
            context.actor,
          );
          if (changed.length === 0) {
            context.out(`Nothing changed: application "${printable(application.name)}" (${clientId}) already has these values.`);
          } else {
            context.out(`Updated application "${printable(application.name)}" (${clientId}); its client id and secret are unchanged:`);
            for (const field of changed) context.out(`  ${FIELD_LABEL[field]}: ${describe(before, field)} → ${describe(application, field)}`);
          }
          if (changed.includes('allowedGroups')) await warnMissingGroups(context, application);
          return undefined;
        });
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
      summary: 'give an application a new secret, the old one working for an overlap; prints it',
      usage: [
        'Usage: roster apps rotate-secret <client id> [--overlap <duration>]',
        '       roster apps rotate-secret <client id> --end-overlap',
        '',
        'Issues a new secret and prints it ALONE on the last line. The old secret keeps working beside',
        'it for the overlap (24 hours unless --overlap says otherwise), so the application can be given',
        'the new one without a failed request. One previous secret at a time: rotating again during an',
        'overlap stops at once the secret before the old one (the output says so).',
        '',
        'Options:',
        '  --overlap <duration>  how long the old secret keeps working: 0 (it stops at once), or a',
        '                        number with s, m, h or d (90m, 24h, 7d), at most 7d',
        '  --end-overlap         issue no new secret: stop the old secret now (once the application',
        '                        runs with the new one, or if the old one may have leaked)',
      ].join('\n'),
      async run(args, context) {
        const { values, positionals } = parseArgs({ args, options: { overlap: { type: 'string' }, 'end-overlap': { type: 'boolean', default: false } }, allowPositionals: true });
        const [clientId, ...extra] = positionals;
        if (clientId === undefined) return { usageError: 'the client id is required' };
        if (extra.length > 0) return { usageError: `unexpected argument "${extra[0] ?? ''}"` };
        const applications = (await context.services()).applications;
        if (values['end-overlap'] === true) {
          if (values.overlap !== undefined) return { usageError: '--end-overlap issues no new secret: it takes no --overlap' };
          const { application, ended } = await applications.endSecretOverlap(clientId, context.actor);
          context.out(ended ? `The previous secret of ${clientId} no longer works; only the current one does.` : `Nothing changed: ${application.clientId} has no previous secret that still works.`);
          return undefined;
        }
        const overlapSeconds = values.overlap === undefined ? undefined : parseOverlap(values.overlap);
        if (overlapSeconds === null) return { usageError: `--overlap "${values.overlap ?? ''}": must be 0, or a number with s, m, h or d (90m, 24h, 7d), at most ${MAX_SECRET_OVERLAP_SECONDS / 86400}d` };
        const { application, secret, stoppedOverlapUntil } = await applications.rotateSecret(clientId, context.actor, overlapSeconds === undefined ? {} : { overlapSeconds });
        if (stoppedOverlapUntil !== null) {
          context.out(`The secret before the old one, which worked until ${readableTime(stoppedOverlapUntil)}, no longer works (one previous secret at a time).`);
        }
        const old = application.previousSecretExpiresAt === null ? 'the old one no longer works' : `the old one also works until ${readableTime(application.previousSecretExpiresAt)}`;
        context.out(`New secret of ${clientId} (copy it now; ${old}):`);
        // Alone on the last line, so that `... | tail -n 1` captures exactly the secret.
        context.out(secret);
        return undefined;
      },
    },
  },
};

/**
 * `--overlap` in seconds: `0`, or a whole number with a unit (`90m`, `24h`, `7d`), up to
 * MAX_SECRET_OVERLAP_SECONDS; null when it is none of these.
 */
function parseOverlap(text: string): number | null {
  if (text === '0') return 0;
  const match = /^(\d{1,7})([smhd])$/.exec(text);
  if (match === null) return null;
  const seconds = Number(match[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[match[2] as 's' | 'm' | 'h' | 'd'];
  return seconds <= MAX_SECRET_OVERLAP_SECONDS ? seconds : null;
}

/** The `keys` command group. */
export const keyCommands: CommandGroup = {
  name: 'keys',
  summary: "rotate the OpenID provider's signing key",
  commands: {
    rotate: {
      summary: 'publish a new signing key, which signs 10 minutes later (--now: at once)',
      usage: [
        'Usage: roster keys rotate [--now]',
        '',
        'Publishes a new signing key in the JWKS at once; every instance signs with it from 10',
        'minutes later, when applications and caches that keep the key set for a while know it.',
        'The old key signs until then and stays in the JWKS for 7 days more, so that tokens it',
        'signed still verify. Run again while a key waits, it says so and changes nothing.',
        'The key of the provider\'s cookies is replaced at once; the one before still verifies',
        'the cookies it signed (--now drops it: browsers go through Roster\'s sign-in again).',
        '',
        '  --now   sign with the new key (or the one waiting) from the next request: for a key',
        '          that may have leaked. An application that kept the previous key set may fail',
        '          to verify ID tokens until it fetches the JWKS again.',
      ].join('\n'),
      async run(args, context) {
        const { values } = parseArgs({ args, options: { now: { type: 'boolean' } } });
        const rotation = await (await context.services()).oidc.rotateKeys(context.actor, { now: values.now === true });
        const when = values.now === true ? 'from now on' : `from ${readableTime(rotation.signsFrom)}`;
        if (rotation.alreadyWaiting) {
          context.out(`Signing key ${rotation.kid} is already published and signs ${when}: nothing changed. Run \`roster keys rotate --now\` to sign with it at once.`);
          return undefined;
        }
        // --now may promote the key an earlier rotation published ahead: it is not new, and
        // applications may have had it since then.
        const key = rotation.publishedAt === rotation.signsFrom || values.now !== true ? `New signing key ${rotation.kid}: published now,` : `Signing key ${rotation.kid}, published ${readableTime(rotation.publishedAt)},`;
        const retiredUntil = values.now === true ? 'stopped signing now' : 'signs until then';
        context.out(`${key} signs ${when}.${rotation.retired.length > 0 ? ` Retired: ${rotation.retired.join(', ')} (${retiredUntil}, published for 7 days more).` : ''}`);
        return undefined;
      },
    },
  },
};

const FIELD_LABEL: Readonly<Record<ApplicationField, string>> = { name: 'name', redirectUris: 'redirect URIs', allowedGroups: 'allowed groups', backchannelLogoutUri: 'back-channel logout URI' };

/** The lists of an add or remove that were given (the domain's optional fields take no undefined). */
function definedOnly(lists: { redirectUris: string[] | undefined; allowedGroups: string[] | undefined }): { redirectUris?: string[]; allowedGroups?: string[] } {
  return { ...(lists.redirectUris !== undefined ? { redirectUris: lists.redirectUris } : {}), ...(lists.allowedGroups !== undefined ? { allowedGroups: lists.allowedGroups } : {}) };
}

/** One field of an application as `apps update` prints it. */
function describe(application: Application, field: ApplicationField): string {
  if (field === 'name') return `"${printable(application.name)}"`;
  if (field === 'redirectUris') return application.redirectUris.map(printable).join(' ');
  if (field === 'backchannelLogoutUri') return application.backchannelLogoutUri === null ? '(none)' : printable(application.backchannelLogoutUri);
  return application.allowedGroups.length === 0 ? '(everyone)' : application.allowedGroups.map((group) => `"${printable(group)}"`).join(', ');
}

/** The warning (on stderr) when allowed groups do not exist, saying who can still sign in. */
async function warnMissingGroups(context: CliContext, application: Application): Promise<void> {
  const missing = await (await context.services()).applications.missingGroups(application.allowedGroups);
  if (missing.length > 0) {
    context.err(`warning: no group is named ${missing.map((group) => `"${printable(group)}"`).join(', ')}: ${missingGroupsEffect(application.allowedGroups, missing)} (check the spelling, or provision the group).`);
  }
}

function formatTable(applications: readonly Application[]): string {
  const rows = [
    ['CLIENT ID', 'NAME', 'TYPE', 'ALLOWED GROUPS', 'REDIRECT URIS', 'PREVIOUS SECRET WORKS UNTIL', 'BACK-CHANNEL LOGOUT URI'],
    ...applications.map((application) => [
      application.clientId,
      application.name,
      application.public ? 'public' : 'confidential',
      application.allowedGroups.length === 0 ? '(everyone)' : application.allowedGroups.join(', '),
      application.redirectUris.join(' '),
      application.previousSecretExpiresAt === null ? '-' : readableTime(application.previousSecretExpiresAt),
      application.backchannelLogoutUri ?? '-',
    ]),
  ];
  return table(rows);
}
