/**
 * Option values the domain refuses (an audit export's --format, a replay's --from) are command
 * line mistakes: exit 2 with the usage, naming the option as the user typed it, not the field
 * the domain calls it.
 */
import { parseArgs as parseArgsOnce, type ParseArgsConfig } from 'node:util';
import { DirectoryError } from '../errors.ts';
import type { CommandOutcome } from './command.ts';

/**
 * util.parseArgs, refusing an option given twice that takes one value (`--name b --name c`,
 * `--format csv --format jsonl`): parseArgs keeps the last, so a command acted on a value the
 * user may not have meant. Refused as parseArgs refuses a bad option (a usage error, exit 2).
 */
export function parseArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgsOnce<T>> {
  const parsed = parseArgsOnce({ ...config, tokens: true });
  const seen = new Set<string>();
  for (const token of parsed.tokens ?? []) {
    if (token.kind !== 'option') continue;
    const definition = config.options?.[token.name];
    if (definition === undefined || definition.multiple === true) continue;
    if (seen.has(token.name)) {
      throw Object.assign(new TypeError(`Option '--${token.name}' is given more than once; give it once`), { code: 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' });
    }
    seen.add(token.name);
  }
  return parsed as ReturnType<typeof parseArgsOnce<T>>;
}

/**
 * Runs `work`; a value refused for one of `options`' fields (field name → CLI option, e.g.
 * `targetType` → `--target-type`) becomes a usage error naming that option.
 */
export async function withOptionValues(options: Readonly<Record<string, string>>, work: () => Promise<CommandOutcome>): Promise<CommandOutcome> {
  try {
    return await work();
  } catch (error) {
    if (!(error instanceof DirectoryError) || error.valueRefusal === undefined || error.field === undefined) throw error;
    const option = options[error.field];
    if (option === undefined) throw error;
    return { usageError: `${option} ${JSON.stringify(error.valueRefusal.value)}: ${error.valueRefusal.reason}` };
  }
}
