/**
 * `npm start` runs the compiled JavaScript in dist/. In a clean copy of the working tree (no
 * dist/, no data), `npm run build` compiles it and `npm start` serves the contract. The copy
 * shares this checkout's node_modules (a symlink), so no download is needed; the install
 * without devDependencies (`npm ci --omit=dev`) is production-install.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../support/process.ts';
import { checkCompiledServer, cleanCopy, npm, productionSkip } from '../support/production.ts';

test('npm run build compiles src/ into dist/, and npm start serves /healthz, SCIM discovery and token-authenticated calls from it', { skip: productionSkip() ?? false, timeout: 180_000 }, async () => {
  const directory = cleanCopy();
  try {
    assert.ok(!existsSync(join(directory, 'dist')), 'the copy starts without dist/');
    symlinkSync(realpathSync(join(ROOT, 'node_modules')), join(directory, 'node_modules'), 'dir');
    const built = npm(directory, ['run', 'build']);
    assert.equal(built.status, 0, `npm run build failed:\n${built.stdout}\n${built.stderr}`);
    assert.ok(existsSync(join(directory, 'dist', 'cli', 'roster.js')));
    assert.ok(existsSync(join(directory, 'dist', 'http', 'console', 'assets', 'console.css')), 'the console assets are copied beside the compiled modules');
    // The compiled modules import compiled modules, never the TypeScript sources.
    assert.ok(!existsSync(join(directory, 'dist', 'cli', 'roster.ts')));
    await checkCompiledServer(directory);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});
