/** Processes starting at once on an empty database apply the migrations once, under a lock. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { openStore } from '../../src/store/index.ts';
import { appliedMigrations, createTestDatabase, eachDatabase, MIGRATION_COUNT } from '../support/databases.ts';
import { ROOT, startInstance, stop, waitHealthy } from '../support/process.ts';
import { rosterArgs } from '../support/roster-command.ts';

function roster(databaseUrl: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, rosterArgs(...args), { cwd: ROOT, env: { ...process.env, ROSTER_DATABASE_URL: databaseUrl } });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

eachDatabase('migration lock', (database) => {
  test('three processes starting at once on an empty database all succeed; each migration ran once', async () => {
    const scratch = await createTestDatabase(database);
    try {
      const runs = await Promise.all([0, 1, 2].map(() => roster(scratch.url, ['tokens', 'list'])));
      for (const run of runs) assert.equal(run.code, 0, run.stderr);
      const store = await openStore(scratch.location, { migrate: false });
      try {
        assert.equal(await appliedMigrations(store), MIGRATION_COUNT);
      } finally {
        await store.close();
      }
    } finally {
      await scratch.drop();
    }
  });

  test('servers starting at once on an empty database: the one that applied the migrations says so, the others that another did', async () => {
    const scratch = await createTestDatabase(database);
    const instances = await Promise.all([0, 1, 2].map(() => startInstance(scratch.url, { ROSTER_LOG_LEVEL: 'info' })));
    try {
      await Promise.all(instances.map((instance) => waitHealthy(instance)));
      const messages = instances.map((instance) =>
        instance.stdout
          .split('\n')
          .filter((line) => line.includes('"msg":"database migrations applied'))
          .map((line) => JSON.parse(line) as { msg: string; migrations: string[] }),
      );
      const appliedHere = messages.flat().filter((entry) => entry.msg === 'database migrations applied');
      assert.equal(appliedHere.length, 1, JSON.stringify(messages));
      assert.equal(appliedHere[0]?.migrations.length, MIGRATION_COUNT);
      // An instance that found them pending and waited says another applied them (one that came
      // after them says nothing).
      for (const entry of messages.flat().filter((entry) => entry !== appliedHere[0])) {
        assert.equal(entry.msg, 'database migrations applied by another instance while this one waited for them');
      }
    } finally {
      await Promise.all(instances.map((instance) => stop(instance)));
      await scratch.drop();
    }
  });
});
