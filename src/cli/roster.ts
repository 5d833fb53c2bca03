/**
 * The `roster` command line: `roster <group> <command> [options]`, plus `roster serve`.
 *
 * Exit codes: 0 success, 1 the operation failed (the message says why), 2 the command line
 * itself was wrong (usage is printed). Results go to stdout, everything else to stderr, so
 * that scripts can capture output (e.g. a new token on the last line) safely.
 */
import { ConfigError, initialPasswordDirectory, initialPasswordFileName, loadConfig, misspeltVariables } from '../config.ts';
import { DirectoryError } from '../errors.ts';
import { printableLines } from './output.ts';
import { createServices, type Services } from '../services.ts';
import { DatabaseRefused, isDatabaseUnavailable, openStore, writesRefused, type DatabaseLocation, type Store } from '../store/index.ts';
import { SecretsError } from '../store/secret-box.ts';
import { knownMigrations } from '../store/migrate.ts';
import { ROSTER_VERSION } from '../version.ts';
import type { CliContext, CommandGroup } from './command.ts';
import { adminCommands } from './admin.ts';
import { appCommands, keyCommands } from './apps.ts';
import { deliverFirstStartPassword, PasswordFileNotWritten } from '../first-start.ts';
import { auditCommands } from './audit.ts';
import { dbCommands } from './db.ts';
import { samlCommands } from './saml.ts';
import { schemaCommands } from './schemas.ts';
import { scimCommands } from './scim.ts';
import { secretsCommands } from './secrets.ts';
import { tokenCommands } from './tokens.ts';
import { groupCommands, userCommands } from './users.ts';
import { webhookCommands } from './webhooks.ts';

const GROUPS: readonly CommandGroup[] = [tokenCommands, samlCommands, scimCommands, schemaCommands, userCommands, groupCommands, adminCommands, auditCommands, dbCommands, appCommands, keyCommands, secretsCommands, webhookCommands];

const USAGE = [
  'Usage: roster <command> [options]',
  '',
  'Commands:',
  '  serve                 start the Roster server',
  '  version               print this version and the database schema it brings (also --version)',
  ...GROUPS.map((group) => `  ${`${group.name} <command>`.padEnd(22)}${group.summary}`),
  '',
  'Run `roster <command> --help` for details. Configuration comes from ROSTER_* environment variables.',
].join('\n');

const SERVE_USAGE = 'Usage: roster serve\n\nStarts the server with the configuration from the ROSTER_* environment variables.';

/**
 * Whether the reader of stdout went away (`roster saml show | head -3`). What is left to print
 * has nobody to read it: the command finishes quietly instead of crashing on EPIPE.
 */
let stdoutClosed = false;
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  stdoutClosed = true;
});

/** Runs one command line and returns the exit code. */
async function runCli(argv: readonly string[]): Promise<number> {
  const out = (text: string): void => {
    if (!stdoutClosed) process.stdout.write(`${text}\n`);
  };
  const err = (text: string): void => void process.stderr.write(`${text}\n`);
  const usageError = (message: string, usage: string): number => {
    err(`roster: ${message}\n\n${usage}`);
    return 2;
  };
  const help = (usage: string): number => {
    out(usage);
    return 0;
  };

  const [first, second, ...rest] = argv;
  if (first === undefined) return usageError('no command given', USAGE);
  if (isHelp(first)) return help(USAGE);
  if (first === '--version' || first === 'version') {
    if (second !== undefined) return usageError(`unexpected argument "${second}"`, USAGE);
    // The schema is the newest migration this code knows; the database itself is not opened.
    out(`roster ${ROSTER_VERSION} (database schema ${knownMigrations().at(-1) ?? 'none'})`);
    return 0;
  }

  if (first === 'serve') {
    if (second !== undefined && isHelp(second)) return help(SERVE_USAGE);
    if (second !== undefined) return usageError(`unexpected argument "${second}"`, SERVE_USAGE);
    let database: DatabaseLocation | undefined;
    return failures(err, async () => {
      const config = loadConfig();
      database = config.database;
      await import('../main.ts').then((m) => m.serve(config));
      return 0;
    }, () => database);
  }

  const group = GROUPS.find((candidate) => candidate.name === first);
  if (group === undefined) return usageError(`unknown command "${first}"`, USAGE);
  const groupUsage = usageOf(group);
  if (second === undefined) return usageError(`"${group.name}" needs a command`, groupUsage);
  if (isHelp(second)) return help(groupUsage);
  const command = Object.hasOwn(group.commands, second) ? group.commands[second] : undefined;
  if (command === undefined) return usageError(`unknown command "${group.name} ${second}"`, groupUsage);
  if (wantsHelp(rest)) return help(command.usage);

  let store: Store | undefined;
  let services: Services | undefined;
  let database: DatabaseLocation | undefined;
  const result = await failures(err, async () => {
    const config = loadConfig();
    database = config.database;
    for (const warning of misspeltVariables()) err(`roster: warning: ${warning}`);
    const context: CliContext = {
      config,
      actor: { kind: 'cli' },
      out,
      err,
      async services(options = {}) {
        store ??= await openStore(config.database, {
          secretKey: config.secretKey,
          previousSecretKey: config.previousSecretKey,
          prepareSecrets: options.prepareSecrets !== false,
          migrate: options.upgrade !== undefined ? true : 'new-database',
          ...(options.upgrade !== undefined ? { onMigrating: options.upgrade } : {}),
        });
        services ??= createServices(store, { baseUrl: config.baseUrl, adminGroup: config.adminGroup, initialPasswordDirectory: initialPasswordDirectory(config), initialPasswordName: initialPasswordFileName(config.database) });
        if (options.bootstrap !== false) {
          const initialPassword = services.initialPassword;
          // stderr carries it (stdout is the command's own output): shown if stderr is a terminal;
          // the file is written before the administrator is committed (ensureAdministrator).
          let message: string | undefined;
          await services.administrators.ensureAdministrator((issued) => {
            message = deliverFirstStartPassword(issued, process.stderr.isTTY === true, initialPassword).message;
          });
          if (message !== undefined) err(message);
        }
        return services;
      },
    };
    try {
      const outcome = await command.run(rest, context);
      return outcome === undefined ? 0 : usageError(outcome.usageError, command.usage);
    } catch (error) {
      if (isParseArgsError(error)) return usageError(error.message, command.usage);
      throw error;
    }
  }, () => database);
  await store?.close();
  return result;
}

/**
 * Maps expected failures to their message and exit code 1; anything else is reported as
 * unexpected. `database()` is where the command works, once its configuration is read.
 */
async function failures(err: (text: string) => void, body: () => Promise<number>, database: () => DatabaseLocation | undefined = () => undefined): Promise<number> {
  try {
    return await body();
  } catch (caught) {
    // A read-only PostgreSQL refuses the command's first write, at start or later: said the same way.
    const location = database();
    const error = (location === undefined ? undefined : writesRefused(location, caught)) ?? caught;
    if (error instanceof DirectoryError || error instanceof ConfigError || error instanceof SecretsError || error instanceof DatabaseRefused) {
      // A refusal may quote a name the identity provider or an API caller chose.
      err(printableLines(error.message));
      return 1;
    }
    if (error instanceof PasswordFileNotWritten) {
      err(`roster: ${error.message}. Make ROSTER_DATA_DIR writable, or run the command again on a terminal (the password is shown there).`);
      return 1;
    }
    if (isDatabaseUnavailable(error)) {
      // A full disk, a read-only file system or standby, a database that went away: the
      // command did not complete, and the driver's words alone ("database or disk is full") do
      // not say what to look at.
      const code = typeof error === 'object' && error !== null && 'code' in error ? ` (${String((error as { code: unknown }).code)})` : '';
      err(
        `roster: the database could not be reached or written: ${error instanceof Error ? error.message : String(error)}${code}. Check that the disk that holds it has room and is writable (SQLite), or that PostgreSQL is running and accepts writes (ROSTER_DATABASE_URL), then run the command again.`,
      );
      return 1;
    }
    const debug = /^(debug|trace)$/i.test(process.env['ROSTER_LOG_LEVEL'] ?? '');
    err(`roster: unexpected error: ${error instanceof Error ? (debug ? (error.stack ?? error.message) : error.message) : String(error)}`);
    return 1;
  }
}

function usageOf(group: CommandGroup): string {
  const lines = Object.entries(group.commands).map(([name, command]) => `  ${name.padEnd(20)}${command.summary}`);
  return [`Usage: roster ${group.name} <command> [options]`, '', 'Commands:', ...lines, '', `Run \`roster ${group.name} <command> --help\` for details.`].join('\n');
}

function isHelp(arg: string): boolean {
  return arg === '--help' || arg === '-h' || arg === 'help';
}

/** `--help` anywhere before a `--` terminator; `help` is not special here because it may be a value. */
function wantsHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((arg) => arg === '--help' || arg === '-h');
}

/** util.parseArgs throws TypeErrors with codes like ERR_PARSE_ARGS_UNKNOWN_OPTION. */
function isParseArgsError(error: unknown): error is Error {
  if (!(error instanceof Error) || !('code' in error)) return false;
  return typeof error.code === 'string' && error.code.startsWith('ERR_PARSE_ARGS_');
}

process.exitCode = await runCli(process.argv.slice(2));
