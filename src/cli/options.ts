/**
 * Option values the domain refuses (an audit export's --format, a replay's --from) are command
 * line mistakes: exit 2 with the usage, naming the option as the user typed it, not the field
 * the domain calls it.
 */
import { DirectoryError } from '../errors.ts';
import type { CommandOutcome } from './command.ts';

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
