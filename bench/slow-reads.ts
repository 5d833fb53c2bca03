/**
 * Slow-read benchmark (not part of `npm test`): what the rest of an instance sees while a SCIM
 * list that no index serves runs at a million users. It starts `roster serve` (the sources of the
 * current directory, so that an older checkout can be measured on the same file), sends one such
 * request at a time and, until it is answered, probes `/healthz` and the userName lookup IdPs
 * make before each write, one after the other; it reports the slow request's time and status and
 * the probes' latencies. Figures go to docs/performance.md ("Lists no index serves").
 *
 *   BENCH_SQLITE_FILE=/tmp/slow.db npx tsx bench/slow-reads.ts   # seeds the file once, reuses it after
 *   BENCH_POSTGRES_URL=postgres://…/slow npx tsx bench/slow-reads.ts   # the same on PostgreSQL
 *   BENCH_USERS (default 1,000,000) users are seeded into an empty database; BENCH_SLOW=0 times the
 *   indexed lookups alone. BENCH_BURST=N also sends N of each slow list at once (as a script or
 *   a dashboard refreshing in parallel would) and probes until they are all answered; the
 *   server's pool is BENCH_POOL_SIZE (default 10) connections on PostgreSQL.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { describeLocation, openStore, type DatabaseLocation } from '../src/store/index.ts';
import { machine, percentile, provisionForBench, seedUsers } from './support.ts';

const USERS = Number(process.env.BENCH_USERS ?? 1_000_000);

/** Lists an IdP or a script may ask for that no index serves (each user compared, or sorted). */
const SLOW: readonly string[] = [
  'filter=title eq "Title 7"&count=10',
  'filter=name.familyName eq "Family999999"',
  'sortBy=title&count=10',
  'filter=meta.lastModified gt "2026-01-02T00:00:00Z"&count=10',
];

async function timed(url: string, token: string): Promise<{ ms: number; status: number }> {
  const started = performance.now();
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  await response.arrayBuffer();
  return { ms: performance.now() - started, status: response.status };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

async function main(): Promise<void> {
  const postgres = process.env.BENCH_POSTGRES_URL;
  const temporary = process.env.BENCH_SQLITE_FILE === undefined && postgres === undefined ? mkdtempSync(join(tmpdir(), 'roster-bench-')) : undefined;
  const path = process.env.BENCH_SQLITE_FILE ?? join(temporary ?? tmpdir(), 'roster.db');
  const location: DatabaseLocation = postgres !== undefined ? { kind: 'postgres', url: postgres } : { kind: 'sqlite', path };
  const store = await openStore(location);
  console.log(`database: ${describeLocation(location)}`);
  console.log(`machine: ${machine()}`);
  if ((await store.db.selectFrom('users').select('id').limit(1).executeTakeFirst()) === undefined) {
    const started = performance.now();
    await seedUsers(store, { count: USERS, onProgress: (done) => done % 100_000 === 0 && console.log(`seeded ${done}`) });
    await sql`ANALYZE`.execute(store.db);
    console.log(`seeded ${USERS} users in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }
  if (process.env.BENCH_SEED_ONLY === '1') {
    await store.close();
    return;
  }
  // A file seeded by an earlier run holds that run's token: a new one is issued.
  await store.db.deleteFrom('tokens').where('name', '=', 'bench').execute();
  const { token } = await provisionForBench(store);
  const users = await store.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  console.log(`users: ${users.n}`);
  await store.close();

  // In a process of its own: a statement that holds the server's thread must not hold the probes'.
  const port = await freePort();
  const server = spawn(process.execPath, ['--import', 'tsx', 'src/cli/roster.ts', 'serve'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      ROSTER_DATABASE_URL: postgres ?? `sqlite:${path}`,
      ROSTER_DATABASE_POOL_SIZE: process.env.BENCH_POOL_SIZE ?? '10',
      ROSTER_PORT: String(port), ROSTER_HOST: '127.0.0.1', ROSTER_BASE_URL: `http://127.0.0.1:${port}`, ROSTER_RATE_LIMIT: '0',
    },
  });
  const address = `http://127.0.0.1:${port}`;
  for (let waited = 0; ; waited += 100) {
    if (server.exitCode !== null || waited > 60_000) throw new Error('roster serve did not start');
    if (await fetch(`${address}/healthz`).then((response) => response.ok, () => false)) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const base = `${address}/api/scim/v2/Users`;
  // The first list starts what it needs (a reader thread): not measured.
  await timed(`${base}?count=1`, token);
  // What the reader thread costs a list an index serves (the lookups IdPs make, other than userName eq).
  for (const [name, filter] of [
    ['externalId eq', (i: number) => `externalId eq "ext-${i}"`],
    ['emails.value eq', (i: number) => `emails.value eq "user${i}@bench.example"`],
  ] as const) {
    const times: number[] = [];
    for (let i = 0; i < 300; i += 1) times.push((await timed(`${base}?filter=${encodeURIComponent(filter((i * 7919) % USERS))}`, token)).ms);
    const sorted = times.slice(50).sort((a, b) => a - b);
    console.log(`fast list, ${name}: median ${percentile(sorted, 50).toFixed(2)} ms, p99 ${percentile(sorted, 99).toFixed(2)} ms (250 requests one at a time)`);
  }
  const burst = Number(process.env.BENCH_BURST ?? 0);
  const runs = process.env.BENCH_SLOW === '0' ? [] : [...SLOW.map((query) => ({ query, copies: 1 })), ...(burst > 0 ? SLOW.map((query) => ({ query, copies: burst })) : [])];
  for (const { query, copies } of runs) {
    const probes: number[] = [];
    const probeStatuses = new Map<number, number>();
    let done = false;
    const slow = Promise.all(Array.from({ length: copies }, () => timed(`${base}?${query}`, token))).finally(() => {
      done = true;
    });
    // Lets the slow request reach the database before the first probe.
    await new Promise((resolve) => setTimeout(resolve, 50));
    let i = 0;
    while (!done) {
      const started = performance.now();
      const health = await fetch(`${address}/healthz`);
      await health.arrayBuffer();
      const lookup = await timed(`${base}?filter=${encodeURIComponent(`userName eq "user${(i * 7919) % USERS}@bench.example"`)}`, token);
      for (const status of [health.status, lookup.status]) probeStatuses.set(status, (probeStatuses.get(status) ?? 0) + 1);
      probes.push(performance.now() - started);
      i += 1;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const answers = await slow;
    const sorted = [...probes].sort((a, b) => a - b);
    const ms = (value: number) => `${value.toFixed(0)} ms`;
    const statuses = (counts: Map<number, number>) => [...counts].map(([status, n]) => `${n} × ${status}`).join(', ');
    const answerStatuses = new Map<number, number>();
    for (const answer of answers) answerStatuses.set(answer.status, (answerStatuses.get(answer.status) ?? 0) + 1);
    const times = answers.map((answer) => answer.ms).sort((a, b) => a - b);
    const took = copies === 1 ? `in ${((times[0] ?? 0) / 1000).toFixed(2)} s` : `in ${((times[0] ?? 0) / 1000).toFixed(2)}–${((times.at(-1) ?? 0) / 1000).toFixed(2)} s`;
    console.log(
      `${copies > 1 ? `${copies} at once: ` : ''}${query.padEnd(62)} ${statuses(answerStatuses)} ${took}; ${probes.length} probes (healthz + lookup): median ${ms(percentile(sorted, 50))}, p99 ${ms(percentile(sorted, 99))}, max ${ms(sorted.at(-1) ?? 0)}; probe answers ${statuses(probeStatuses)}`,
    );
  }
  const status = await import('node:fs').then((fs) => fs.readFileSync(`/proc/${server.pid}/status`, 'utf8'), () => '');
  const rss = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  if (rss !== undefined) console.log(`server resident memory at the end: ${(Number(rss) / 1024).toFixed(0)} MB`);
  server.kill('SIGTERM');
  await new Promise((resolve) => server.once('exit', resolve));
  if (temporary !== undefined) rmSync(temporary, { recursive: true, force: true });
}

await main();
