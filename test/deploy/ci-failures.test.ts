/**
 * .ci/failures.mjs: when a test of a CI run failed, the end of the log names it (with its file
 * and error) just above the runner's summary, printed again; when nothing failed it adds nothing.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

const scratch = mkdtempSync(join(tmpdir(), 'roster-ci-failures-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs a test file through Node's test runner (TAP, as in CI) and hands its log to .ci/failures.mjs. */
function digestOf(source: string): { log: string; digest: string } {
  const file = join(scratch, `run-${Math.random().toString(36).slice(2)}.test.mjs`);
  writeFileSync(file, source);
  // Without NODE_TEST_CONTEXT, which would make the inner runner report to this one instead of printing TAP.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const run = spawnSync(process.execPath, ['--test', '--test-reporter=tap', file], { encoding: 'utf8', env });
  const log = join(scratch, 'log');
  writeFileSync(log, run.stdout + run.stderr);
  return { log: run.stdout, digest: execFileSync(process.execPath, ['.ci/failures.mjs', log], { encoding: 'utf8' }) };
}

test('a failing test is repeated with its file and message, then the summary ends the output', () => {
  const { digest } = digestOf(`
    import { describe, test } from 'node:test';
    import assert from 'node:assert/strict';
    describe('a suite', () => {
      test('holds', () => {});
      test('breaks on purpose', () => assert.equal(1, 2, 'one is not two'));
    });
  `);
  assert.match(digest, /# 1 failed test, repeated from above:/);
  assert.match(digest, /# ✖ breaks on purpose\n/);
  assert.doesNotMatch(digest, /✖ a suite/, 'the suite failed only because its test did');
  assert.match(digest, /location: '.*run-.*\.test\.mjs:6:\d+'/);
  assert.match(digest, /one is not two/);
  assert.doesNotMatch(digest, /\(node:internal/);
  const last = digest.trimEnd().split('\n');
  assert.match(last.at(-8)!, /^# tests 2$/);
  assert.match(last.at(-5)!, /^# fail 1$/);
  assert.match(last.at(-1)!, /^# duration_ms /);
});

test('a run without failures gets nothing added', () => {
  const { digest } = digestOf(`import { test } from 'node:test'; test('holds', () => {});`);
  assert.equal(digest, '');
});
