/**
 * The production install: `npm ci --omit=dev` in a clean copy (its `prepare` script builds
 * dist/ with typescript, a dependency for that reason), then `npm start`, with neither tsx
 * nor any other devDependency installed. It downloads every package, so it runs only with
 * ROSTER_TEST_NPM_CI=1 (.ci/run sets it). better-sqlite3 is installed from a prebuilt binary,
 * as with access to GitHub (support/production.ts betterSqlitePrebuild), not compiled.
 */
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { betterSqlitePrebuild, checkCompiledServer, cleanCopy, npm, productionSkip } from '../support/production.ts';

const skip = process.env['ROSTER_TEST_NPM_CI'] !== '1' ? 'skipped: set ROSTER_TEST_NPM_CI=1 to run `npm ci --omit=dev` in a clean copy (downloads packages, takes minutes)' : productionSkip();

test('npm ci --omit=dev builds dist/ without devDependencies, and npm start serves from it', { skip: skip ?? false, timeout: 900_000 }, async () => {
  const directory = cleanCopy();
  try {
    const installed = npm(directory, ['ci', '--omit=dev', '--no-audit', '--no-fund'], betterSqlitePrebuild(directory), 840_000);
    // A deadline that ran out shows as a signal (and an ETIMEDOUT error), not as npm's own failure.
    const how = installed.error !== undefined ? `${installed.error.message}, ` : '';
    assert.equal(installed.status, 0, `npm ci --omit=dev failed (${how}exit ${installed.status}, signal ${installed.signal}):\n${installed.stdout}\n${installed.stderr}`);
    assert.ok(!existsSync(join(directory, 'node_modules', 'tsx')), 'tsx is a devDependency: not installed');
    assert.ok(existsSync(join(directory, 'dist', 'cli', 'roster.js')), 'prepare built dist/ during npm ci');
    await checkCompiledServer(directory);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});
