import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { runEachStep, runPeriodically } from '../src/periodic.ts';

test('a periodic task runs at once, then again after each interval, never two runs at a time', async () => {
  let runs = 0;
  let inFlight = 0;
  let overlapped = false;
  const periodic = runPeriodically(async () => {
    runs += 1;
    inFlight += 1;
    overlapped ||= inFlight > 1;
    await sleep(15);
    inFlight -= 1;
  }, 5);
  assert.equal(runs, 1, 'the first run starts at once');
  await sleep(120);
  await periodic.stop();
  assert.ok(runs >= 3, String(runs));
  assert.equal(overlapped, false);
  const stoppedAt = runs;
  await sleep(40);
  assert.equal(runs, stoppedAt, 'no run after stop()');
});

test('a failing run does not stop the next ones, and stop() waits for the run in flight', async () => {
  let runs = 0;
  let finished = false;
  const periodic = runPeriodically(async () => {
    runs += 1;
    if (runs === 1) throw new Error('the database is away');
    await sleep(30);
    finished = true;
  }, 5);
  await sleep(15);
  await periodic.stop();
  assert.equal(runs, 2);
  assert.equal(finished, true);
});

test('a clean-up step that fails is reported, and the steps after it still run', async () => {
  const ran: string[] = [];
  const failures: string[] = [];
  await runEachStep(
    [
      { name: 'first', run: async () => void ran.push('first') },
      { name: 'broken', run: async () => Promise.reject(new Error('table locked')) },
      { name: 'last', run: async () => void ran.push('last') },
    ],
    (step, error) => failures.push(`${step.name}: ${(error as Error).message}`),
  );
  assert.deepEqual(ran, ['first', 'last']);
  assert.deepEqual(failures, ['broken: table locked']);
});
