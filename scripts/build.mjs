// Compiles src/ into dist/ for `npm start` (tsconfig.build.json), then copies the files under
// src/ that are not TypeScript (the console's assets/) beside the compiled modules, which read
// them relative to their own URL. dist/ is emptied first, so a deleted source leaves no module.
// Plain JavaScript: it runs where tsx is not installed (`npm ci --omit=dev` runs `prepare`).
// --noCheck: emit without type-checking, which needs no @types packages, so that only
// typescript itself is a dependency; `npm run typecheck` and `npm test` check the types.
// (isolatedModules and verbatimModuleSyntax make each file's output independent of types.)
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const src = join(root, 'src');
const dist = join(root, 'dist');

rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--noCheck'], { stdio: 'inherit', cwd: root });

/** Every file under `directory` that tsc does not emit, as paths relative to src/. */
function assets(directory) {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return assets(path);
    return entry.name.endsWith('.ts') ? [] : [relative(src, path)];
  });
}
for (const file of assets(src)) cpSync(join(src, file), join(dist, file));
