/** Processes starting at once on an empty database apply the migrations once, under a lock. */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { openStore } from '../../src/store/index.ts';
import { createTestDatabase, eachDatabase } from '../support/databases.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

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
        const rows = await store.db.selectFrom('kysely_migration' as never).selectAll().execute();
        assert.equal(rows.length, readdirSync(new URL('../../src/store/migrations/', import.meta.url)).length);
      } finally {
        await store.close();
      }
    } finally {
      await scratch.drop();
    }
  });
});
