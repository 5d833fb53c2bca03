/**
 * How tests run `roster` in a child process: the compiled CLI (dist/cli/roster.js, what
 * `npm start` runs) when dist/ is at least as new as every file under src/, else the sources
 * through tsx. `npm test` builds dist/ first, so the suite takes the compiled one: starting a
 * process through tsx costs about a second more CPU (its loader hooks see every module), and the
 * suite starts several hundred. A file edited since the last build makes every spawn fall back
 * to the sources, so a test run by hand never exercises stale code.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { passwordHashCost } from '../../src/auth/passwords.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const COMPILED = join(ROOT, 'dist', 'cli', 'roster.js');

/** The newest modification time of any file under `directory`, in milliseconds. */
function newestUnder(directory: string): number {
  let newest = 0;
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestUnder(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function compiledIsCurrent(): boolean {
  try {
    return statSync(COMPILED).mtimeMs >= newestUnder(join(ROOT, 'src'));
  } catch {
    return false;
  }
}

let compiled: boolean | undefined;

/**
 * The arguments of `process.execPath` that run `roster <args>` from the project's root (the
 * spawn's `cwd` must be ROOT): `spawn(process.execPath, rosterArgs('serve'), { cwd: ROOT })`.
 * The child hashes new passwords at the cost this test process uses (usePasswordHashCost):
 * the test-only one under `npm test`, OWASP's in a test that asked for it.
 */
export function rosterArgs(...args: readonly string[]): string[] {
  // Decided once per test process: every spawn of one file runs the same code.
  compiled ??= compiledIsCurrent();
  const fast = passwordHashCost() === 'test-only';
  const entry = compiled
    ? [...(fast ? ['--import', './test/support/fast-password-hashing-compiled.mjs'] : []), 'dist/cli/roster.js']
    : ['--import', 'tsx', ...(fast ? ['--import', './test/support/fast-password-hashing.mjs'] : []), 'src/cli/roster.ts'];
  return [...entry, ...args];
}
