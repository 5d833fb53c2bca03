/** Processes starting at once on an empty database apply the migrations once, under a lock. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { openStore } from '../../src/store/index.ts';
import { appliedMigrations, createTestDatabase, eachDatabase, MIGRATION_COUNT } from '../support/databases.ts';
import { ROOT } from '../support/process.ts';

function roster(databaseUrl: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/roster.ts', ...args], { cwd: ROOT, env: { ...process.env, ROSTER_DATABASE_URL: databaseUrl } });
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
});
