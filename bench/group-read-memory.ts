/**
 * The memory and time of reads that show every member of a large group (not part of `npm test`):
 * a fresh SQLite database with `--members` users (50,000 by default) all in one group, served by
 * a Roster in a child process, whose resident memory is read from /proc (the peak, VmHWM, reset
 * before each measure). Measures one `GET /Groups/{id}` (time to first byte, total), `--parallel`
 * of them at once (16 by default), and as many `GET /Groups?count=10` (the group on the page).
 *
 *   npx tsx bench/group-read-memory.ts [--members 50000] [--parallel 16]
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { openStore } from '../src/store/index.ts';
import { createServices } from '../src/services.ts';
import { machine, openBenchDatabase, seedUsers, startScimServer, switchScimOn } from './support.ts';

const { values } = parseArgs({
  options: { members: { type: 'string', default: '50000' }, parallel: { type: 'string', default: '16' }, serve: { type: 'string' } },
});

if (values.serve !== undefined) {
  // The child: serves the database, says where, and waits to be killed.
  const store = await openStore({ kind: 'sqlite', path: values.serve });
  const server = await startScimServer(store);
  const group = await store.db.selectFrom('scim_groups').select('scim_id').executeTakeFirstOrThrow();
  console.log(JSON.stringify({ address: server.address, token: server.token, groupId: group.scim_id }));
} else {
  await main(Number(values.members), Number(values.parallel));
}

function memoryOf(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

/** One GET: milliseconds to the first byte and to the last, and the bytes read. */
async function timedGet(url: string, token: string): Promise<{ first: number; total: number; bytes: number }> {
  const start = performance.now();
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  if (response.status !== 200 || response.body === null) throw new Error(`${url}: ${response.status}`);
  let first = NaN;
  let bytes = 0;
  for await (const piece of response.body) {
    if (Number.isNaN(first)) first = performance.now() - start;
    bytes += (piece as Uint8Array).byteLength;
  }
  return { first, total: performance.now() - start, bytes };
}

async function main(members: number, parallel: number): Promise<void> {
  console.log(`${machine()}; ${members} members, ${parallel} in parallel`);
  const bench = await openBenchDatabase();
  if (bench.location.kind !== 'sqlite') throw new Error('SQLite only');
  const seeded = await seedUsers(bench.store, { count: members });
  const services = createServices(bench.store);
  await switchScimOn(services);
  // Added 50,000 at a time: one request naming 200,000 ids overflows the stack (addedIds.push(...ids)).
  const group = await services.groups.create({ displayName: 'All employees' }, [], { kind: 'system' });
  for (let start = 0; start < seeded.scimIds.length; start += 50_000) {
    const ids = seeded.scimIds.slice(start, start + 50_000);
    await services.groups.update(group.scimId, (current) => ({ document: current, memberChanges: [{ kind: 'add', ids }] }), () => true, { kind: 'system' });
  }
  for (let i = 0; i < 9; i += 1) await services.groups.create({ displayName: `Small ${i}` }, seeded.scimIds.slice(i * 10, i * 10 + 10), { kind: 'system' });

  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/group-read-memory.ts', '--serve', bench.location.path], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
    const { address, token, groupId } = JSON.parse(line) as { address: string; token: string; groupId: string };
    const pid = child.pid!;
    const one = `${address}/api/scim/v2/Groups/${groupId}`;
    const list = `${address}/api/scim/v2/Groups?count=10`;
    await timedGet(one, token);
    const idle = memoryOf(pid, 'VmRSS');
    console.log(`server RSS after one read: ${idle.toFixed(0)} MB`);
    for (let run = 0; run < 3; run += 1) {
      const { first, total, bytes } = await timedGet(one, token);
      console.log(`GET /Groups/{id}: first byte ${first.toFixed(0)} ms, total ${total.toFixed(0)} ms, ${(bytes / 2 ** 20).toFixed(1)} MiB`);
    }
    for (const [name, url] of [['GET /Groups/{id}', one], ['GET /Groups?count=10', list]] as const) {
      // Resets VmHWM to the current RSS (Linux: /proc/<pid>/clear_refs, 5).
      writeFileSync(`/proc/${pid}/clear_refs`, '5');
      const base = memoryOf(pid, 'VmRSS');
      const start = performance.now();
      const results = await Promise.all(Array.from({ length: parallel }, () => timedGet(url, token)));
      const wall = performance.now() - start;
      const firsts = results.map((result) => result.first).sort((a, b) => a - b);
      console.log(
        `${parallel} × ${name} in parallel: ${wall.toFixed(0)} ms wall, first bytes ${firsts[0]!.toFixed(0)}–${firsts[firsts.length - 1]!.toFixed(0)} ms, ` +
          `RSS ${base.toFixed(0)} MB → peak ${memoryOf(pid, 'VmHWM').toFixed(0)} MB`,
      );
    }
  } finally {
    child.kill();
    await bench.dispose();
  }
}
