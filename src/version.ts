/**
 * This installation's version, as package.json states it. Read from the file rather than
 * compiled in so that a build and `tsx` agree: src/ and dist/ both sit one level below it.
 */
import { readFileSync } from 'node:fs';

function readVersion(): string {
  try {
    const manifest: unknown = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    const version = typeof manifest === 'object' && manifest !== null ? (manifest as { version?: unknown }).version : undefined;
    return typeof version === 'string' ? version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The version in package.json ("unknown" if it cannot be read). */
export const ROSTER_VERSION = readVersion();
