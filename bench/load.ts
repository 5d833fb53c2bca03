/**
 * Load benchmark (not part of `npm test`): `npm run bench -- --load` or `npm run bench:load`.
 * In one run it starts a bare Fastify route (bench/bare.ts) and Roster, each in a child process
 * as operators run it (`roster serve` on a real SQLite file, or PostgreSQL with --postgres),
 * seeds users straight into the tables (bench/support.ts), drives both with autocannon and prints
 * every measure of docs/performance.md as requests per second and as a ratio to the bare route
 * measured in the same run.
 *
 *   --users N            users seeded (default 20000); 1000000 for the memory target
 *   --postgres URL       a PostgreSQL server whose role may create databases: a fresh database
 *                        is created (and dropped); also runs two instances with mixed writes
 *   --duration S         seconds per read measure (default 5)
 *   --creates N          SCIM creates per create measure (default 3000)
 *   --warm-up N          SCIM creates before any measure, so that V8 has compiled the create
 *                        path (default 2000; with 200, the first create measure ran at 1.0 ms
 *                        of CPU per user against 0.7 ms once warm)
 *   --samples N          timed member additions per group (default 200)
 *   --mixed S            seconds of mixed writes on two instances (PostgreSQL; default 20)
 *   --only a,b           run only these measures: bare, floor, filter, get, verify, create, members, mixed
 *                        (floor: Roster's own pipeline with no directory read — /healthz, and the
 *                        authenticated SCIM ServiceProviderConfig — the least any read can cost;
 *                        verify: forward auth, GET /auth/verify with the session of one of 100
 *                        signed-in users, as a reverse proxy asks before every request)
 *   --profile DIR        run Roster under `node --cpu-prof`, profiles written to DIR
 *                        (summarise with `tsx bench/profile-summary.ts DIR/*.cpuprofile`)
 *   --log-level L        Roster's ROSTER_LOG_LEVEL (default info, what operators run)
 *   --roster-dir DIR     run `roster serve` from another checkout (e.g. an export of main with
 *                        node_modules linked), to compare before and after on the same machine
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import autocannon, { type Request, type Result } from 'autocannon';
import pg from 'pg';
import { describeLocation } from '../src/store/index.ts';
import { machine, measure, openBenchDatabase, seedUsers, type BenchDatabase, type Timing, provisionForBench } from './support.ts';

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== '--load'),
  options: {
    users: { type: 'string', default: '20000' },
    postgres: { type: 'string' },
    duration: { type: 'string', default: '5' },
    creates: { type: 'string', default: '3000' },
    'warm-up': { type: 'string', default: '2000' },
    samples: { type: 'string', default: '200' },
    mixed: { type: 'string', default: '20' },
    only: { type: 'string' },
    profile: { type: 'string' },
    'log-level': { type: 'string', default: 'info' },
    'roster-dir': { type: 'string' },
  },
});
const USERS = Number(args.users);
const DURATION = Number(args.duration);
const CREATES = Number(args.creates);
const SAMPLES = Number(args.samples);
const MIXED = Number(args.mixed);
const READ_CONNECTIONS = 16;
const WRITE_CONNECTIONS = 8;
const only = args.only === undefined ? undefined : new Set(args.only.split(','));
const runs = (name: string): boolean => only === undefined || only.has(name);
const actor = { kind: 'system' } as const;
const ROOT = new URL('..', import.meta.url).pathname;

/** A free TCP port on the loopback interface. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

interface Child {
  readonly process: ChildProcess;
  readonly url: string;
  /** Resident memory now, in MB, from /proc. */
  rss(): number;
  /** The most resident memory so far (VmHWM), in MB, from /proc. */
  peakRss(): number;
  /** CPU time used so far (user + system), in ms, from /proc. */
  cpu(): number;
  stop(): Promise<void>;
}

function rssOf(pid: number | undefined, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** CPU time of a process in ms: utime + stime (fields 14 and 15 of /proc/PID/stat, in 1/100 s). */
function cpuOf(pid: number | undefined): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function childOf(process: ChildProcess, url: string): Child {
  return {
    process,
    url,
    rss: () => rssOf(process.pid),
    peakRss: () => rssOf(process.pid, 'VmHWM'),
    cpu: () => cpuOf(process.pid),
    async stop() {
      if (process.exitCode !== null) return;
      const exited = new Promise((resolve) => process.once('exit', resolve));
      process.kill('SIGTERM');
      await exited;
    },
  };
}

/** Starts bench/bare.ts and waits for its address. */
async function startBare(): Promise<Child> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/bare.ts'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`bench/bare.ts exited with ${code}`)));
    child.stdout.once('data', (data: Buffer) => resolve(data.toString().trim()));
  });
  return childOf(child, url);
}

/** Starts `roster serve` on `databaseUrl` and waits until /healthz answers. */
async function startRoster(databaseUrl: string, label: string): Promise<Child> {
  const port = await freePort();
  const profile = args.profile ? ['--cpu-prof', `--cpu-prof-dir=${args.profile}`, `--cpu-prof-name=roster-${label}-${Date.now()}.cpuprofile`] : [];
  // What `npm start` runs: the compiled server when the checkout has one (npm install builds it),
  // else the sources through tsx (an older checkout given with --roster-dir).
  const directory = args['roster-dir'] ?? ROOT;
  const entry = existsSync(join(directory, 'dist/cli/roster.js')) ? ['dist/cli/roster.js'] : ['--import', 'tsx', 'src/cli/roster.ts'];
  const child = spawn(process.execPath, [...profile, ...entry, 'serve'], {
    cwd: directory,
    // The request log goes where an operator's would: written, then thrown away.
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      ROSTER_DATABASE_URL: databaseUrl,
      ROSTER_PORT: String(port),
      ROSTER_HOST: '127.0.0.1',
      ROSTER_BASE_URL: `http://127.0.0.1:${port}`,
      ROSTER_LOG_LEVEL: args['log-level'],
      // The per-token rate limit is a policy, not a capacity: off, so the bench measures the server.
      ROSTER_RATE_LIMIT: '0',
    },
  });
  const url = `http://127.0.0.1:${port}`;
  for (let waited = 0; ; waited += 100) {
    if (child.exitCode !== null) throw new Error(`roster serve exited with ${child.exitCode}`);
    if (waited > 60_000) throw new Error('roster serve did not answer /healthz within 60 s');
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return childOf(child, url);
}

/** Requests per second answered with a 2xx status; throws when any failed. */
function rate(result: Result, what: string): number {
  if (result.errors > 0 || result.non2xx > 0 || result.timeouts > 0) {
    throw new Error(`${what}: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx answers`);
  }
  return result['2xx'] / result.duration;
}

/** Throughput and the server's CPU time per request of one autocannon run against `child`. */
interface Load {
  readonly rate: number;
  /** Server CPU ms per answered request: what the throughput would follow on a machine where the server has a core to itself. */
  readonly cpuPerRequest: number;
  readonly result: Result;
}

async function load(child: Child, options: Omit<Parameters<typeof autocannon>[0], 'url'> & { path?: string }, what: string): Promise<Load> {
  const before = child.cpu();
  const result = await autocannon({ ...options, url: `${child.url}${options.path ?? ''}` });
  const used = child.cpu() - before;
  const value = rate(result, what);
  return { rate: value, cpuPerRequest: used / result['2xx'], result };
}

async function bare(child: Child): Promise<Load> {
  return load(child, { path: '/', connections: READ_CONNECTIONS, duration: DURATION }, 'bare');
}

const pickIndex = (): number => Math.floor(Math.random() * USERS);

/** Creates `amount` users over `connections` connections; users/s in the first thousand and overall. */
async function creates(child: Child, headers: Record<string, string>, prefix: string, amount: number): Promise<{ first: number; overall: number; cpuPerUser: number }> {
  const { url } = child;
  const cpuBefore = child.cpu();
  let answered = 0;
  let failed = 0;
  let firstThousand = NaN;
  let lastAnswer = NaN;
  let sequence = 0;
  const start = performance.now();
  const result = await autocannon({
    url: `${url}/api/scim/v2/Users`,
    connections: WRITE_CONNECTIONS,
    amount,
    requests: [
      {
        method: 'POST',
        headers,
        setupRequest: (request) => {
          sequence += 1;
          const userName = `${prefix}-${sequence}@load.example`;
          return {
            ...request,
            body: JSON.stringify({
              schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
              userName,
              externalId: `${prefix}-ext-${sequence}`,
              name: { givenName: 'Load', familyName: `User ${sequence}` },
              emails: [{ value: userName, type: 'work', primary: true }],
            }),
          };
        },
        onResponse: (status) => {
          if (status !== 201) failed += 1;
          answered += 1;
          lastAnswer = performance.now();
          if (answered === 1000) firstThousand = 1000 / ((lastAnswer - start) / 1000);
        },
      },
    ],
  });
  if (failed > 0 || result.errors > 0) throw new Error(`POST /Users: ${failed} failed answers, ${result.errors} errors`);
  // Up to the last answer: autocannon reports the end of a run given by `amount` only at its next
  // one-second tick, which capped the rate of 2,000 creates at 1,000/s.
  return { first: firstThousand, overall: result['2xx'] / ((lastAnswer - start) / 1000), cpuPerUser: (child.cpu() - cpuBefore) / result['2xx'] };
}

/** Creates a fresh PostgreSQL database on the server of `serverUrl`; returns its URL and how to drop it. */
async function freshPostgres(serverUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `roster_bench_${randomBytes(5).toString('hex')}`;
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return { url: url.href, drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

interface Row {
  readonly measure: string;
  readonly value: string;
  /** A read measure, to be compared with the bare route's. */
  readonly load?: Load;
}

const describeLoad = (what: string, measured: Load): string =>
  `${what}: ${measured.rate.toFixed(0)} req/s, p50 ${measured.result.latency.p50} ms, p99 ${measured.result.latency.p99} ms, ${measured.cpuPerRequest.toFixed(3)} CPU ms per request`;

async function main(): Promise<void> {
  const postgres = args.postgres === undefined ? undefined : await freshPostgres(args.postgres);
  const bench: BenchDatabase = await openBenchDatabase(postgres?.url);
  const { store } = bench;
  console.log(`database: ${describeLocation(bench.location)}`);
  console.log(`machine: ${machine()}`);
  console.log(`load average at start: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  const rows: Row[] = [];
  const children: Child[] = [];
  try {
    const { services, token } = await provisionForBench(store);
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' };

    const bareChild = await startBare();
    children.push(bareChild);
    const bareLoads: Load[] = [];
    if (runs('bare') || runs('floor') || runs('filter') || runs('get') || runs('verify')) {
      bareLoads.push(await bare(bareChild));
      console.log(describeLoad('bare Fastify route', bareLoads[0]!));
    }

    const roster = await startRoster(bench.url, 'a');
    children.push(roster);
    const idle = roster.rss();
    console.log(`Roster idle (empty database): ${idle.toFixed(0)} MB resident`);
    // Warm-up, so that the first measure is not the JIT's: reads of every kind measured, and a few creates.
    await autocannon({ url: roster.url, connections: WRITE_CONNECTIONS, duration: 2, headers, requests: [{ method: 'GET', path: '/api/scim/v2/Users?filter=userName%20eq%20%22nobody%40bench.example%22' }] });
    if (Number(args['warm-up']) > 0) await creates(roster, headers, 'warm-up', Number(args['warm-up']));

    let atZero: Awaited<ReturnType<typeof creates>> | undefined;
    if (runs('create')) {
      atZero = await creates(roster, headers, 'zero', CREATES);
      console.log(`POST /Users on a directory of only the ${args['warm-up']} warm-up users: ${atZero.first.toFixed(0)} users/s in the first thousand, ${atZero.overall.toFixed(0)} users/s over ${CREATES}, ${atZero.cpuPerUser.toFixed(2)} CPU ms per user`);
    }

    const seedStart = performance.now();
    const seeded = await seedUsers(store, {
      count: USERS,
      onProgress: (done) => {
        if (done % 100_000 === 0) console.log(`  … ${done} users`);
      },
    });
    // Users in no group, to add as members.
    const newcomers = await seedUsers(store, { count: 3 * (SAMPLES + 20), from: USERS, login: (i) => `newcomer${i}@bench.example` });
    console.log(`seeded ${USERS} users in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);
    const afterSeeding = roster.rss();

    const groupSizes = [10, 10_000, 100_000].filter((size) => size <= USERS);
    const groups: { size: number; scimId: string }[] = [];
    if (runs('members')) {
      for (const size of groupSizes) {
        const group = await services.groups.create({ displayName: `Members ${size}` }, seeded.scimIds.slice(0, size), actor);
        groups.push({ size, scimId: group.scimId });
      }
    }

    const reads = { connections: READ_CONNECTIONS, duration: DURATION, headers };
    if (runs('floor')) {
      // What every request pays before it reads the directory: routing, hooks, the log line, the
      // metrics; then the same with the bearer token, the SCIM switch and the activity record.
      const health = await load(roster, { connections: READ_CONNECTIONS, duration: DURATION, path: '/healthz' }, 'healthz');
      console.log(describeLoad('GET /healthz', health));
      rows.push({ measure: 'GET /healthz (no token, no read)', value: `${health.rate.toFixed(0)} req/s`, load: health });
      const config = await load(roster, { ...reads, path: '/api/scim/v2/ServiceProviderConfig' }, 'config');
      console.log(describeLoad('GET /ServiceProviderConfig', config));
      rows.push({ measure: 'GET /ServiceProviderConfig (token, no directory read)', value: `${config.rate.toFixed(0)} req/s`, load: config });
    }
    if (runs('filter')) {
      const measured = await load(
        roster,
        { ...reads, requests: [{ method: 'GET', setupRequest: (request) => ({ ...request, path: `/api/scim/v2/Users?filter=${encodeURIComponent(`userName eq "user${pickIndex()}@bench.example"`)}` }) }] },
        'filter',
      );
      console.log(describeLoad('GET /Users?filter=userName eq', measured));
      rows.push({ measure: `GET /Users?filter=userName eq "…" (${USERS} users)`, value: `${measured.rate.toFixed(0)} req/s`, load: measured });
    }
    if (runs('get')) {
      const measured = await load(roster, { ...reads, requests: [{ method: 'GET', setupRequest: (request) => ({ ...request, path: `/api/scim/v2/Users/${seeded.scimIds[pickIndex()]}` }) }] }, 'get');
      console.log(describeLoad('GET /Users/{id}', measured));
      rows.push({ measure: 'GET /Users/{id}', value: `${measured.rate.toFixed(0)} req/s`, load: measured });
    }
    if (runs('verify')) {
      const cookies: string[] = [];
      for (let i = 0; i < 100; i += 1) cookies.push(`roster_session=${(await services.sessions.open(seeded.userIds[pickIndex()]!)).value}`);
      const measured = await load(
        roster,
        { connections: READ_CONNECTIONS, duration: DURATION, requests: [{ method: 'GET', setupRequest: (request) => ({ ...request, path: '/auth/verify', headers: { ...request.headers, cookie: cookies[Math.floor(Math.random() * cookies.length)]! } }) }] },
        'verify',
      );
      console.log(describeLoad('GET /auth/verify', measured));
      rows.push({ measure: 'GET /auth/verify (forward auth, signed in)', value: `${measured.rate.toFixed(0)} req/s`, load: measured });
    }
    if (runs('create') && atZero !== undefined) {
      const atN = await creates(roster, headers, 'seeded', CREATES);
      console.log(`POST /Users at ${USERS} users: ${atN.first.toFixed(0)} users/s in the first thousand, ${atN.overall.toFixed(0)} users/s over ${CREATES}, ${atN.cpuPerUser.toFixed(2)} CPU ms per user`);
      rows.push({
        measure: `POST /Users, ${WRITE_CONNECTIONS} clients`,
        value: `${atZero.overall.toFixed(0)} users/s from ${args['warm-up']} (${atZero.first.toFixed(0)}/s in the first thousand); ${atN.overall.toFixed(0)} users/s at ${USERS}; ${atZero.cpuPerUser.toFixed(2)} and ${atN.cpuPerUser.toFixed(2)} CPU ms per user`,
      });
    }
    if (runs('members')) {
      const timings: Timing[] = [];
      let next = 0;
      for (const { size, scimId } of groups) {
        timings.push(
          await measure(
            `add 1 member to a ${size}-member group`,
            async () => {
              const member = newcomers.scimIds[next++];
              const response = await fetch(`${roster.url}/api/scim/v2/Groups/${scimId}`, {
                method: 'PATCH',
                headers,
                body: JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'add', path: 'members', value: [{ value: member }] }] }),
              });
              await response.arrayBuffer();
              if (response.status !== 204) throw new Error(`PATCH /Groups: ${response.status}`);
            },
            SAMPLES,
          ),
        );
      }
      rows.push({ measure: 'add one member (median)', value: timings.map((t, i) => `${groups[i]!.size}: ${t.median.toFixed(2)} ms`).join(', ') });
    }
    const loaded = roster.rss();
    // The figure after the load depends on when V8 last collected; the peak says how high it went.
    rows.push({ measure: 'resident memory', value: `${idle.toFixed(0)} MB idle, ${afterSeeding.toFixed(0)} MB after seeding ${USERS} users, ${loaded.toFixed(0)} MB after the load (peak ${roster.peakRss().toFixed(0)} MB)` });

    if (postgres !== undefined && runs('mixed')) {
      const second = await startRoster(bench.url, 'b');
      children.push(second);
      const mixedGroups: string[] = [];
      for (let g = 0; g < 100; g += 1) mixedGroups.push((await services.groups.create({ displayName: `Mixed ${g}` }, [], actor)).scimId);
      let failures = 0;
      const mixed = (url: string, prefix: string): Promise<Result> => {
        let sequence = 0;
        const request: Request = {
          headers,
          setupRequest: (base) => {
            const draw = Math.random();
            sequence += 1;
            if (draw < 0.4) {
              const userName = `${prefix}-${sequence}@mixed.example`;
              return { ...base, method: 'POST', path: '/api/scim/v2/Users', body: JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName, emails: [{ value: userName, primary: true }] }) };
            }
            if (draw < 0.7) {
              return {
                ...base,
                method: 'PATCH',
                path: `/api/scim/v2/Users/${seeded.scimIds[pickIndex()]}`,
                body: JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'title', value: `Title ${prefix} ${sequence}` }] }),
              };
            }
            return {
              ...base,
              method: 'PATCH',
              path: `/api/scim/v2/Groups/${mixedGroups[Math.floor(Math.random() * mixedGroups.length)]}`,
              body: JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'add', path: 'members', value: [{ value: seeded.scimIds[pickIndex()] }] }] }),
            };
          },
          onResponse: (status, body) => {
            if (status >= 300) {
              failures += 1;
              if (failures <= 5) console.log(`  mixed write failed: ${status} ${body.slice(0, 200)}`);
            }
          },
        };
        return autocannon({ url, connections: WRITE_CONNECTIONS, duration: MIXED, requests: [request] });
      };
      const [a, b] = await Promise.all([mixed(roster.url, 'a'), mixed(second.url, 'b')]);
      const writes = (a['2xx'] + b['2xx']) / Math.max(a.duration, b.duration);
      const errors = failures + a.errors + b.errors + a.timeouts + b.timeouts;
      console.log(`mixed writes on two instances: ${writes.toFixed(0)} writes/s, ${errors} errors`);
      rows.push({ measure: `mixed SCIM writes, 2 instances × ${WRITE_CONNECTIONS} clients, ${MIXED} s`, value: `${writes.toFixed(0)} writes/s, ${errors} errors` });
    }

    let bareLoad: Load | undefined;
    if (bareLoads.length > 0) {
      bareLoads.push(await bare(bareChild));
      console.log(describeLoad('bare Fastify route again', bareLoads[1]!));
      // The reference: the mean of the runs before and after, which the other work on the machine moves.
      bareLoad = {
        rate: (bareLoads[0]!.rate + bareLoads[1]!.rate) / 2,
        cpuPerRequest: (bareLoads[0]!.cpuPerRequest + bareLoads[1]!.cpuPerRequest) / 2,
        result: bareLoads[1]!.result,
      };
      rows.unshift({ measure: 'bare Fastify route, ~600-byte JSON', value: `${bareLoad.rate.toFixed(0)} req/s`, load: bareLoad });
    }
    console.log(`\n${describeLocation(bench.location).split(' ')[0]}, ${USERS} users, ${READ_CONNECTIONS} connections for reads; load average now ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}\n`);
    // Two ratios to bare: of throughput (what autocannon saw, which depends on the CPU share the
    // server got on a busy machine) and of server CPU time per request (its inverse ratio: what
    // the throughput ratio would be with a core to itself).
    console.log('| measure | result | ratio to bare (req/s) | ratio to bare (CPU per request) |\n|---|---|---|---|');
    for (const row of rows) {
      const ratios =
        row.load !== undefined && bareLoad !== undefined
          ? `${(row.load.rate / bareLoad.rate).toFixed(3)} × bare | ${(bareLoad.cpuPerRequest / row.load.cpuPerRequest).toFixed(3)} × bare (${row.load.cpuPerRequest.toFixed(3)} ms)`
          : ' | ';
      console.log(`| ${row.measure} | ${row.value} | ${ratios} |`);
    }
  } finally {
    for (const child of children.reverse()) await child.stop();
    await bench.dispose();
    await postgres?.drop();
  }
}

await main();
