/**
 * Audit purge beside a running server (not part of `npm test`): seeds BENCH_AUDIT_ENTRIES old
 * audit entries (default 500,000) in a new SQLite file, serves SCIM from it in this process,
 * PATCHes one user every 50 ms and meanwhile runs `roster audit purge` as its own process, as
 * an operator's cron job does. Reports the purge's duration and the PATCHes' latencies while it
 * ran: on SQLite both processes share one write lock, and a purge that took it back at once
 * after each batch made the server's writes wait seconds. Run with `npm run bench:purge`;
 * figures go to docs/performance.md.
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { describeLocation } from '../src/store/index.ts';
import { machine, openBenchDatabase, percentile, startScimServer } from './support.ts';

const ENTRIES = Number(process.env.BENCH_AUDIT_ENTRIES ?? 500_000);
const DAY = 24 * 60 * 60 * 1000;

async function seedOldEntries(bench: Awaited<ReturnType<typeof openBenchDatabase>>): Promise<void> {
  const at = new Date(Date.now() - 400 * DAY).toISOString();
  const details = JSON.stringify({ note: 'seeded by bench/purge-beside-server.ts' });
  for (let done = 0; done < ENTRIES; done += 5_000) {
    const rows = Array.from({ length: Math.min(5_000, ENTRIES - done) }, (_, i) => ({
      at,
      actor: 'system',
      action: 'user.updated',
      target_type: 'user',
      target_id: `seed-${done + i}`,
      details,
      actor_user: null,
    }));
    await bench.store.db.transaction().execute(async (trx) => {
      for (let i = 0; i < rows.length; i += 500) await trx.insertInto('audit_events').values(rows.slice(i, i + 500)).execute();
    });
  }
}

function runPurge(databaseUrl: string): Promise<{ ms: number; code: number | null; stdout: string }> {
  const start = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/roster.ts', 'audit', 'purge'], {
    env: { ...process.env, ROSTER_DATABASE_URL: databaseUrl, ROSTER_AUDIT_RETENTION_DAYS: '30', ROSTER_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ ms: performance.now() - start, code, stdout: stdout.trim() })));
}

async function main(): Promise<void> {
  const bench = await openBenchDatabase();
  console.log(`database: ${describeLocation(bench.location)}`);
  console.log(`machine: ${machine()}`);
  await seedOldEntries(bench);
  await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(bench.store.db);
  console.log(`seeded ${ENTRIES} audit entries 400 days old`);
  const { app, address, token } = await startScimServer(bench.store);
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' };
  const created = await fetch(`${address}/api/scim/v2/Users`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'purge-bench@example.com' }),
  });
  const { id } = (await created.json()) as { id: string };

  let purging = true;
  const latencies: number[] = [];
  let failures = 0;
  const load = (async () => {
    for (let i = 0; purging; i++) {
      const start = performance.now();
      const response = await fetch(`${address}/api/scim/v2/Users/${id}`, {
        method: 'PATCH',
        headers,
        body: JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'title', value: `T${i}` }] }),
      });
      await response.text();
      latencies.push(performance.now() - start);
      if (response.status !== 200) failures++;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  const purge = await runPurge(bench.url);
  purging = false;
  await load;
  await app.close();
  await bench.dispose();

  const sorted = [...latencies].sort((a, b) => a - b);
  console.log(`purge: exit ${purge.code} in ${(purge.ms / 1000).toFixed(1)} s: ${purge.stdout}`);
  console.log(
    `PATCH beside it: ${sorted.length} sent, ${failures} not 200, p50 ${percentile(sorted, 50).toFixed(1)} ms, ` +
      `p99 ${percentile(sorted, 99).toFixed(1)} ms, max ${sorted.at(-1)?.toFixed(1)} ms, over 100 ms: ${sorted.filter((ms) => ms > 100).length}`,
  );
  if (purge.code !== 0 || failures > 0) process.exitCode = 1;
}

await main();
