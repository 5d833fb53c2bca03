/**
 * `roster serve` listens before the retention clean-ups start: a backlog of old rows (a long
 * stop, a shortened retention) is deleted while /healthz already answers, instead of delaying
 * it (300,000 rows of old provisioning activity held a ready /healthz back 2.3 s on SQLite).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openStore } from '../../src/store/index.ts';
import { oldActivity } from '../support/backlog.ts';
import { createTestDatabase, eachDatabase, type ScratchDatabase } from '../support/databases.ts';
import { startInstance, stop, waitHealthy, type Instance } from '../support/process.ts';

const ROWS = 20_000;
const DELETED = 'deleted provisioning activity older than the retention period';
const LISTENING = 'Server listening at';

/** Resolves once the instance has printed `text`; fails after 60 s. */
async function printed(instance: Instance, text: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!instance.stdout.includes(text)) {
    if (Date.now() > deadline || instance.process.exitCode !== null) throw new Error(`never printed "${text}":\n${instance.output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

eachDatabase('roster serve on a database with a backlog of old rows', (database) => {
  let scratch: ScratchDatabase;
  let instance: Instance | undefined;
  before(async () => {
    scratch = await createTestDatabase(database);
    const store = await openStore(scratch.location);
    try {
      await oldActivity(store, ROWS);
    } finally {
      await store.close();
    }
  });
  after(async () => {
    if (instance !== undefined) await stop(instance);
    await scratch.drop();
  });

  test('listens (and so answers /healthz) before the clean-up deletes the backlog', async () => {
    instance = await startInstance(scratch.url, { ROSTER_LOG_LEVEL: 'info' });
    await waitHealthy(instance);
    await printed(instance, DELETED);
    const lines = instance.stdout.split('\n').filter((line) => line.includes(LISTENING) || line.includes(DELETED));
    assert.equal(lines.length, 2, instance.stdout);
    assert.match(lines[0]!, new RegExp(LISTENING), 'the clean-up ran before the server listened');
    assert.match(lines[1]!, new RegExp(`"deleted":${ROWS}\\b`));
  });
});
