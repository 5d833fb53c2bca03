/**
 * The shapes every `roster` command file shares: what a command may use, what it reports, and
 * how commands are grouped. Apart from roster.ts so that command files do not import the
 * dispatcher that imports them.
 */
import type { Config } from '../config.ts';
import type { Actor } from '../journal/actor.ts';
import type { Services } from '../services.ts';

/** What a command may use. The store is opened on first use (so `--help` never touches it) and closed by the dispatcher. */
export interface CliContext {
  readonly config: Readonly<Config>;
  readonly actor: Actor;
  out(text: string): void;
  err(text: string): void;
  /**
   * Opens the store. Unless `bootstrap` is false, first start creates the local administrator
   * and prints its password once on stderr (stdout stays the command's own output). Unless
   * `prepareSecrets` is false, ROSTER_SECRET_KEY is checked and plaintext secrets are sealed, as
   * at the start of `roster serve`. A database with no schema yet is migrated; an older one is
   * refused (a command must not upgrade it under an older Roster still serving it) unless
   * `upgrade` is true (`db migrate`), which is told the migrations it applies.
   */
  services(options?: { readonly bootstrap?: boolean; readonly prepareSecrets?: boolean; readonly upgrade?: (pending: readonly string[]) => void }): Promise<Services>;
}

/**
 * What a command reports when its arguments parse but do not make sense together (exit 2);
 * success is `undefined`. Failures of the operation itself are thrown.
 */
export type CommandOutcome = undefined | { readonly usageError: string };

export interface Command {
  /** One line for the group's usage. */
  readonly summary: string;
  /** The full usage, printed by `--help` and after a usage error. */
  readonly usage: string;
  /** Parses `args` (with `util.parseArgs`, whose errors become usage errors) and runs. */
  run(args: string[], context: CliContext): Promise<CommandOutcome>;
}

export interface CommandGroup {
  readonly name: string;
  readonly summary: string;
  readonly commands: Readonly<Record<string, Command>>;
}
