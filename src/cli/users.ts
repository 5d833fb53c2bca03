/** `roster users …` and `roster groups …`: the admin API's user and group operations, same rules. */
import { writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { parseArgs } from './options.ts';
import { DirectoryError } from '../errors.ts';
import { membershipId } from '../directory/memberships.ts';
import type { Services } from '../services.ts';
import type { StoredUser } from '../store/users.ts';
import { wasReactivated } from '../directory/accounts.ts';
import { anonymizedLogin } from '../directory/login-rules.ts';
import type { CliContext, CommandGroup } from './command.ts';
import { printable, tabbed, writeOut } from './output.ts';

const LIST_LIMIT = 500;

async function userByLogin(services: Services, login: string): Promise<StoredUser> {
  const user = await services.accounts.findByLogin(login);
  if (user === undefined) throw new DirectoryError('not_found', `No user has the login "${login}".`, 'login');
  return user;
}

async function groupByName(services: Services, name: string): Promise<{ id: string; name: string }> {
  // By name, not by searching: a search's first page could miss it among 500 names containing it.
  const group = await services.groupManagement.findByName(name);
  if (group === undefined) throw new DirectoryError('not_found', `No group is named "${name}".`, 'name');
  return group;
}

function positional(args: string[], what: string): string | { usageError: string } {
  const { positionals } = parseArgs({ args, options: {}, allowPositionals: true });
  const [value, ...extra] = positionals;
  if (value === undefined) return { usageError: `the ${what} is required` };
  if (extra.length > 0) return { usageError: `unexpected argument "${extra[0] ?? ''}"` };
  return value;
}

/** The flags shown for a user; `admin` when it is an administrator now (flagged, or in the administrators' group). */
function flags(user: StoredUser, administrator: boolean): string {
  return [user.active ? 'active' : 'deactivated', user.local ? 'local' : 'saml', user.scimId !== null ? 'managed' : '', administrator ? 'admin' : '']
    .filter((flag) => flag !== '')
    .join(',');
}

async function listUsers(args: string[], context: CliContext): Promise<undefined> {
  const { values } = parseArgs({ args, options: { q: { type: 'string' } } });
  const services = await context.services();
  const { users, total } = await services.accounts.list(values.q !== undefined ? { q: values.q } : {}, { offset: 0, limit: LIST_LIMIT });
  for (const user of users) {
    const administrator = await services.access.isAdministrator(user.id);
    context.out(tabbed([user.login, user.displayName ?? '', user.email ?? '', flags(user, administrator)]));
  }
  if (total > users.length) context.err(`(${users.length} of ${total} shown; narrow with --q or use the admin API)`);
  return undefined;
}

/** The `users` command group. */
export const userCommands: CommandGroup = {
  name: 'users',
  summary: 'list, create, deactivate and export users',
  commands: {
    list: {
      summary: 'list users (login, name, email, flags)',
      usage: 'Usage: roster users list [--q <text>]\n\nOptions:\n  --q <text>  only users whose login, name or email contains <text>',
      run: listUsers,
    },
    create: {
      summary: 'create a local user (refused while SCIM is on)',
      usage: [
        'Usage: roster users create --login <login> --name <name> [--email <email>] [--saml]',
        '',
        'Creates a local user and prints its random password alone on the last line, or with --saml',
        'a user who signs in through SAML (no password). The console asks the user to choose their',
        'own password until they do.',
      ].join('\n'),
      async run(args, context) {
        const { values } = parseArgs({
          args,
          options: { login: { type: 'string' }, name: { type: 'string' }, email: { type: 'string' }, saml: { type: 'boolean', default: false } },
        });
        if (values.login === undefined || values.name === undefined) return { usageError: '--login and --name are required' };
        const services = await context.services();
        const account = { login: values.login, name: values.name, email: values.email };
        // A generated password is marked: the console asks the user to choose their own.
        const { user, password } = values.saml
          ? { user: await services.accounts.create({ ...account, local: false }, context.actor), password: undefined }
          : await services.accounts.createWithGeneratedPassword(account, context.actor);
        context.out(
          wasReactivated(user)
            ? `Reactivated user "${printable(user.login)}" (id ${user.id}), which was deactivated: its former group memberships, tokens and sessions are not restored.`
            : `Created user "${printable(user.login)}" (id ${user.id}).`,
        );
        if (password !== undefined) {
          context.out('Password (shown only this once):');
          context.out(password);
        }
        return undefined;
      },
    },
    deactivate: {
      summary: 'deactivate a user: memberships, tokens and sessions are removed; --anonymize deletes its personal data too',
      usage: [
        'Usage: roster users deactivate <login> [--anonymize]',
        '',
        'While SCIM is on, only local users may be deactivated here.',
        '',
        'Options:',
        "  --anonymize  also delete the user's personal data (name, email, external id, password,",
        '               SCIM attributes, tokens); its login becomes anonymized-<id>. Works on a user',
        '               already deactivated, or deleted by the identity provider. Cannot be undone.',
      ].join('\n'),
      async run(args, context) {
        const { values, positionals } = parseArgs({ args, options: { anonymize: { type: 'boolean', default: false } }, allowPositionals: true });
        const [login, ...extra] = positionals;
        if (login === undefined) return { usageError: 'the login is required' };
        if (extra.length > 0) return { usageError: `unexpected argument "${extra[0] ?? ''}"` };
        const services = await context.services();
        const user = await userByLogin(services, login);
        const changed = await services.accounts.deactivate(user.id, context.actor, { anonymize: values.anonymize });
        if (values.anonymize) {
          const name = printable(user.login);
          const done = user.active ? `Deactivated "${name}" and deleted its personal data` : `Deleted the personal data of "${name}"`;
          context.out(changed ? `${done}: the account is now "${anonymizedLogin(user.id)}".` : `"${name}" holds no personal data any more: nothing was changed.`);
          return undefined;
        }
        // As the console says it: a second deactivation changes nothing and must not claim to.
        context.out(changed ? `Deactivated "${printable(user.login)}".` : `"${printable(user.login)}" was already deactivated: nothing was changed.`);
        return undefined;
      },
    },
    export: {
      summary: 'print what Roster holds of a user as one JSON document (GDPR Art. 15)',
      usage: [
        'Usage: roster users export <login> [--output <file>]',
        '',
        'Prints the personal data Roster holds of the user as one JSON document, the same as the admin',
        "API's GET /api/v2/users-management/users/{id}/personal-data: the account, its SCIM document,",
        'group memberships, API tokens, sessions, OpenID Connect grants, SAML sign-in attempts, and',
        'the audit entries and events about it; never a password, token or session secret. Each list',
        'holds the newest 1000 items with how many there are, and says where the rest is. The export',
        'is recorded in the audit log (user.personal_data_exported, actor cli). Works for active,',
        'deactivated and anonymized users alike.',
        '',
        'Options:',
        '  --output <file>  write the document to a new file, readable by its owner only (mode 0600),',
        '                   instead of stdout; an existing file is not replaced',
      ].join('\n'),
      run: exportUser,
    },
  },
};

/**
 * `users export <login> [--output <file>]`: what Roster holds of the user, as the admin API's
 * `GET …/users/{id}/personal-data` answers it (the same document, from the same function), on
 * stdout or in a new file only its owner may read. The export is audited (actor `cli`).
 */
async function exportUser(args: string[], context: CliContext): Promise<{ usageError: string } | undefined> {
  const { values, positionals } = parseArgs({ args, options: { output: { type: 'string' } }, allowPositionals: true });
  const [login, ...extra] = positionals;
  if (login === undefined) return { usageError: 'the login is required' };
  if (extra.length > 0) return { usageError: `unexpected argument "${extra[0] ?? ''}"` };
  if (values.output === '') return { usageError: '--output "": must name a file' };
  // Checked before the export is read and recorded; the file is created below only if it still does not exist.
  if (values.output !== undefined && existsSync(values.output)) {
    throw new DirectoryError('conflict', `"${values.output}" exists: personal data is written to a new file only. Choose another name, or delete the file first.`, 'output');
  }
  const services = await context.services();
  const user = await userByLogin(services, login);
  const document = `${JSON.stringify(await services.personalData.export(user.id, context.actor), null, 2)}\n`;
  if (values.output === undefined) {
    await writeOut(document);
    return undefined;
  }
  try {
    await writeFile(values.output, document, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new DirectoryError('invalid', `The personal data of "${login}" could not be written to "${values.output}": ${reason}`, 'output');
  }
  context.out(`Wrote the personal data of "${printable(user.login)}" to ${printable(values.output)} (readable by you only).`);
  return undefined;
}

/** The `groups` command group. */
export const groupCommands: CommandGroup = {
  name: 'groups',
  summary: 'list, create and delete groups and change their members',
  commands: {
    list: {
      summary: 'list groups',
      usage: 'Usage: roster groups list [--q <text>]',
      async run(args, context) {
        const { values } = parseArgs({ args, options: { q: { type: 'string' } } });
        const services = await context.services();
        const { groups, total } = await services.groupManagement.list(values.q !== undefined ? { q: values.q } : {}, { offset: 0, limit: LIST_LIMIT });
        for (const group of groups) context.out(tabbed([group.name, group.scimId !== null ? 'managed' : 'local', group.description ?? '']));
        if (total > groups.length) context.err(`(${groups.length} of ${total} shown; narrow with --q or use the admin API)`);
        return undefined;
      },
    },
    create: {
      summary: 'create a local group (refused while SCIM is on)',
      usage: 'Usage: roster groups create --name <name> [--description <text>]',
      async run(args, context) {
        const { values } = parseArgs({ args, options: { name: { type: 'string' }, description: { type: 'string' } } });
        if (values.name === undefined) return { usageError: '--name is required' };
        const group = await (await context.services()).groupManagement.create({ name: values.name, description: values.description }, context.actor);
        context.out(`Created group "${printable(group.name)}" (id ${group.id}).`);
        return undefined;
      },
    },
    delete: {
      summary: 'delete a group (while SCIM is on, local groups only)',
      usage: 'Usage: roster groups delete <name>',
      async run(args, context) {
        const name = positional(args, 'group name');
        if (typeof name !== 'string') return name;
        const services = await context.services();
        const group = await groupByName(services, name);
        await services.groupManagement.delete(group.id, context.actor);
        context.out(`Deleted group "${printable(group.name)}".`);
        return undefined;
      },
    },
    'add-member': {
      summary: 'add a user to a group (refused while SCIM is on)',
      usage: 'Usage: roster groups add-member --group <name> --user <login>',
      async run(args, context) {
        const { values } = parseArgs({ args, options: { group: { type: 'string' }, user: { type: 'string' } } });
        if (values.group === undefined || values.user === undefined) return { usageError: '--group and --user are required' };
        const services = await context.services();
        const group = await groupByName(services, values.group);
        const user = await userByLogin(services, values.user);
        await services.memberships.add({ groupId: group.id, userId: user.id }, context.actor);
        context.out(`Added "${printable(user.login)}" to "${printable(group.name)}".`);
        return undefined;
      },
    },
    'remove-member': {
      summary: 'remove a user from a group (refused while SCIM is on)',
      usage: 'Usage: roster groups remove-member --group <name> --user <login>',
      async run(args, context) {
        const { values } = parseArgs({ args, options: { group: { type: 'string' }, user: { type: 'string' } } });
        if (values.group === undefined || values.user === undefined) return { usageError: '--group and --user are required' };
        const services = await context.services();
        const group = await groupByName(services, values.group);
        const user = await userByLogin(services, values.user);
        await services.memberships.remove(membershipId(group.id, user.id), context.actor);
        context.out(`Removed "${printable(user.login)}" from "${printable(group.name)}".`);
        return undefined;
      },
    },
  },
};
