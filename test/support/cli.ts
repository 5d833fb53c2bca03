/** Runs the CLI as an operator does: `roster …` in a child process, on a given database. */
import { spawnSync } from 'node:child_process';
import { ROOT } from './process.ts';
import { rosterArgs } from './roster-command.ts';

export interface CliRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The last line of stdout, where commands print what an operator copies (a token, a feed end). */
  readonly lastLine: string;
}

/** `roster <args>` with ROSTER_DATABASE_URL=`databaseUrl`, to its end. */
export function runRoster(databaseUrl: string, args: readonly string[], env: Record<string, string> = {}): CliRun {
  const run = spawnSync(process.execPath, rosterArgs(...args), {
    cwd: ROOT,
    env: { ...process.env, ROSTER_DATABASE_URL: databaseUrl, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  const lines = run.stdout.trimEnd().split('\n');
  return { status: run.status, stdout: run.stdout, stderr: run.stderr, lastLine: lines.at(-1) ?? '' };
}
