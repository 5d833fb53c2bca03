/**
 * The time of the list an IdP reads to import groups with their members (not part of `npm
 * test`): Okta's "Test Connector" and group import ask `GET /Groups?startIndex=1&count=100`,
 * members included. Seeds 5,000 users and 50 groups (3 of 3,000 members, 47 of 400) through the
 * directory, as SCIM writes them, then times the request against a Roster in a child process
 * (median of `--runs`, after one warm-up), reading the whole answer.
 *
 *   npx tsx bench/group-list.ts [--postgres <empty database url>] [--runs 5] [--port 0]
 *     [--keep <sqlite file>] [--reuse <sqlite file or postgres url>] [--profile <directory>]
 *
 * `--keep` seeds into that SQLite file and leaves it; `--reuse` serves a database seeded before
 * (so that two versions of the code are timed on the same rows); `--profile` runs the server
 * with `node --cpu-prof`, its profile written to that directory when the child exits.
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.ts';
import { openStore, type DatabaseLocation } from '../src/store/index.ts';
import { createServices } from '../src/services.ts';
import { machine, openBenchDatabase, seedUsers, switchScimOn } from './support.ts';
import { buildApp } from '../src/http/app.ts';

const { values } = parseArgs({
  options: {
    postgres: { type: 'string' },
    runs: { type: 'string', default: '5' },
    port: { type: 'string', default: '0' },
    keep: { type: 'string' },
    reuse: { type: 'string' },
    profile: { type: 'string' },
    serve: { type: 'string' },
  },
});

const USERS = 5000;
const LARGE = 3000;
const SMALL = 400;
const GROUPS = 50;
/** Where the three large groups fall among the 50, in provisioning (and so list) order. */
const LARGE_AT = new Set([4, 24, 44]);

function locationOf(database: string): DatabaseLocation {
  return database.startsWith('postgres') ? loadConfig({ ROSTER_DATABASE_URL: database }).database : { kind: 'sqlite', path: database };
}

if (values.serve !== undefined) {
  // The child: serves the database, says where, and waits to be killed.
  const store = await openStore(locationOf(values.serve));
  const services = createServices(store);
  await services.administrators.ensureAdministrator();
  const admin = await services.accounts.findByLogin('admin');
  if (!admin) throw new Error('no administrator');
  // A name of its own each time: a database seeded once is served several times (--reuse).
  const { token } = await services.tokens.create(`bench-${Date.now()}`, { kind: 'system' }, admin.id);
  const app = await buildApp({ services, baseUrl: 'http://127.0.0.1' });
  // Statements per request, as the store observes them (on SQLite, the main connection's only:
  // a held read's statements run on a reader connection of their own).
  let statements = 0;
  store.observeQueries(() => (statements += 1));
  app.addHook('onRequest', async () => {
    statements = 0;
  });
  app.addHook('onResponse', async () => {
    console.error(`  (server: ${statements} statements)`);
  });
  const address = await app.listen({ port: Number(values.port), host: '127.0.0.1' });
  process.on('SIGTERM', () => {
    // Exits through process.exit so that --cpu-prof writes its profile.
    void app.close().then(() => store.close()).finally(() => process.exit(0));
  });
  console.log(JSON.stringify({ address, token }));
} else {
  await main();
}

/** 5,000 users and 50 groups: 3 of 3,000 members, 47 of 400 (deterministic, overlapping). */
async function seed(database: string | undefined, keep: string | undefined): Promise<string> {
  const bench = keep !== undefined ? undefined : await openBenchDatabase(database);
  const store = bench?.store ?? (await openStore({ kind: 'sqlite', path: keep! }));
  const seeded = await seedUsers(store, { count: USERS });
  const services = createServices(store);
  await switchScimOn(services);
  const actor = { kind: 'system' } as const;
  let memberships = 0;
  for (let g = 0; g < GROUPS; g += 1) {
    const size = LARGE_AT.has(g) ? LARGE : SMALL;
    // A window of the users, starting at a different place for each group.
    const start = (g * 97) % USERS;
    const ids = Array.from({ length: size }, (_, k) => seeded.scimIds[(start + k * 7) % USERS]!);
    await services.groups.create({ displayName: `Group ${String(g).padStart(2, '0')}` }, ids, actor);
    memberships += new Set(ids).size;
  }
  console.log(`seeded ${USERS} users, ${GROUPS} groups, ${memberships} memberships`);
  if (bench !== undefined) {
    const url = bench.url;
    if (bench.location.kind === 'sqlite') {
      // The file is served by the child: closed here, removed at the end (dispose).
      await store.close();
      return url.replace(/^sqlite:/, '');
    }
    await store.close();
    return url;
  }
  await store.close();
  return keep!;
}

async function timedGet(url: string, token: string): Promise<{ first: number; total: number; bytes: number; members: number }> {
  const start = performance.now();
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  if (response.status !== 200 || response.body === null) throw new Error(`${url}: ${response.status}`);
  let first = NaN;
  const pieces: Uint8Array[] = [];
  for await (const piece of response.body) {
    if (Number.isNaN(first)) first = performance.now() - start;
    pieces.push(piece as Uint8Array);
  }
  const total = performance.now() - start;
  const body = JSON.parse(Buffer.concat(pieces).toString('utf8')) as { Resources: Array<{ members?: unknown[] }> };
  const members = body.Resources.reduce((sum, group) => sum + (group.members?.length ?? 0), 0);
  return { first, total, bytes: pieces.reduce((sum, piece) => sum + piece.byteLength, 0), members };
}

async function main(): Promise<void> {
  console.log(machine());
  const database = values.reuse ?? (await seed(values.postgres, values.keep));
  const runs = Number(values.runs);
  const profile = values.profile !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${values.profile}`] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', 'bench/group-list.ts', '--serve', database, '--port', values.port!], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
    const { address, token } = JSON.parse(line) as { address: string; token: string };
    const url = `${address}/api/scim/v2/Groups?startIndex=1&count=100`;
    const warm = await timedGet(url, token);
    console.log(`GET /Groups?startIndex=1&count=100: ${(warm.bytes / 2 ** 20).toFixed(2)} MiB, ${warm.members} members; warm-up ${warm.total.toFixed(0)} ms`);
    const totals: number[] = [];
    for (let run = 0; run < runs; run += 1) {
      const { first, total } = await timedGet(url, token);
      totals.push(total);
      console.log(`  run ${run + 1}: first byte ${first.toFixed(0)} ms, total ${total.toFixed(0)} ms`);
    }
    totals.sort((a, b) => a - b);
    console.log(`median ${totals[Math.floor(totals.length / 2)]!.toFixed(0)} ms (min ${totals[0]!.toFixed(0)}, max ${totals[totals.length - 1]!.toFixed(0)})`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    if (values.reuse === undefined && values.keep === undefined && values.postgres === undefined) {
      // A fresh SQLite file of openBenchDatabase: its directory goes with the run.
      const { rmSync } = await import('node:fs');
      const { dirname } = await import('node:path');
      rmSync(dirname(database), { recursive: true, force: true });
    }
  }
}
