#!/usr/bin/env node
// Reads the TAP output of a test run (Node's test runner) and, when a test failed, prints each
// failing test's name, file and error again, then the runner's summary again, so that a reader
// of the last screen of a CI log learns what failed without searching thousands of lines above.
// Prints nothing when nothing failed: the run's own output already ends with its summary.
//
// usage: node .ci/failures.mjs <tap-log>
import { readFileSync } from 'node:fs';

/** Lines kept of one failure's YAML block: the message and the top of the stack are enough. */
const MAX_BLOCK_LINES = 40;

const lines = readFileSync(process.argv[2] ?? '/dev/stdin', 'utf8').split('\n');
let summaryStart = -1;
for (let i = lines.length - 1; i >= 0; i -= 1) {
  if (/^# tests \d+/.test(lines[i])) {
    summaryStart = i;
    break;
  }
}

/** The failures whose cause is their own (a suite that failed because a test in it did is left out). */
const failures = [];
for (let i = 0; i < (summaryStart < 0 ? lines.length : summaryStart); i += 1) {
  const heading = /^(\s*)not ok \d+ - (.*)$/.exec(lines[i]);
  if (heading === null) continue;
  const indent = heading[1].length;
  const block = [];
  if (lines[i + 1]?.trim() === '---') {
    for (let j = i + 2; j < lines.length; j += 1) {
      const line = lines[j];
      if (line.trim() === '...' && line.length - line.trimStart().length === indent + 2) break;
      // Frames inside Node's own test runner say nothing about the failure.
      if (/^\s*(async )?\S+ \(node:/.test(line)) continue;
      block.push(line.slice(Math.min(indent + 2, line.length - line.trimStart().length)));
    }
  }
  if (block.some((line) => /^failureType: 'subtestsFailed'/.test(line))) continue;
  failures.push({ name: heading[2], block });
}

if (failures.length > 0) {
  console.log('');
  console.log(`# ${failures.length} failed ${failures.length === 1 ? 'test' : 'tests'}, repeated from above:`);
  for (const { name, block } of failures) {
    console.log(`# ✖ ${name}`);
    const shown = block.slice(0, MAX_BLOCK_LINES);
    for (const line of shown) console.log(`#     ${line}`);
    if (block.length > shown.length) console.log(`#     … ${block.length - shown.length} more lines above`);
  }
  console.log('');
  if (summaryStart >= 0) for (const line of lines.slice(summaryStart)) if (line !== '') console.log(line);
}
