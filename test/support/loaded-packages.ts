/**
 * Which npm packages this process has loaded: the ESM loader's modules (through a module hook
 * that must be registered before the code under test is imported) and CommonJS's module cache.
 * For tests that keep heavy optional libraries out of start-up.
 */
import { createRequire, register } from 'node:module';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The package a module path or URL belongs to (`@scope/name` or `name`), if under node_modules. */
function packageOf(path: string): string | undefined {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*node_modules\/)/.exec(path);
  return match?.[1];
}

/** Starts recording; call before importing the code under test. Returns what is loaded so far, on each call. */
export function watchLoadedPackages(): () => Set<string> {
  const file = join(mkdtempSync(join(tmpdir(), 'roster-modules-')), 'loaded');
  writeFileSync(file, '');
  register('./loaded-packages-hooks.mjs', import.meta.url, { data: { file } });
  const cache = createRequire(import.meta.url).cache;
  return () => {
    const paths = [...readFileSync(file, 'utf8').split('\n'), ...Object.keys(cache)];
    return new Set(paths.map(packageOf).filter((name): name is string => name !== undefined));
  };
}
