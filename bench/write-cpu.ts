/**
 * CPU per SCIM write, in-process (not part of `npm test`): a Roster app over a fresh database,
 * requests through `app.inject` one after the other, `process.cpuUsage()` around each kind.
 * One request at a time, so that the figure is the work of one write, without the HTTP stack's
 * sockets or the load generator (which `npm run bench:load` includes). Usage:
 *
 *   tsx bench/write-cpu.ts [--postgres URL] [--count N] [--users N] [--profile FILE] [--trace]
 *
 *   --postgres URL   an EMPTY PostgreSQL database (default: a SQLite file in a temporary directory)
 *   --count N        requests per kind (default 2000)
 *   --users N        users seeded before the updates (default 5000)
 *   --profile FILE   V8 CPU profiles of the creates (FILE, and FILE-directory for the directory's alone) and of the user PATCHes (FILE-user-patch); bench/profile-summary.ts reads them
 *   --trace          print the SQL statements of one create, one user PATCH and one member PATCH (add, then remove)
 *   --only members   measure the member PATCHes alone
 *   --timing         the time SQLite spends in each statement (wall, fsync included), per request kind
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { buildApp } from '../src/http/app.ts';
import { machine, openBenchDatabase, seedUsers, provisionForBench } from './support.ts';

const { values: args } = parseArgs({
  options: {
    postgres: { type: 'string' },
    count: { type: 'string', default: '2000' },
    users: { type: 'string', default: '5000' },
    profile: { type: 'string' },
    trace: { type: 'boolean', default: false },
    timing: { type: 'boolean', default: false },
    only: { type: 'string' },
  },
});
const COUNT = Number(args.count);
const USERS = Number(args.users);

// The statements SQLite runs, when tracing: better-sqlite3's statement methods, wrapped.
const traced: string[] = [];
let tracing = false;
const timings = new Map<string, { count: number; ms: number }>();
if (args.trace || args.timing) {
  const probe = new SQLite(':memory:');
  const prototype = Object.getPrototypeOf(probe.prepare('select 1')) as Record<string, (...rest: unknown[]) => unknown>;
  probe.close();
  for (const method of ['run', 'get', 'all', 'iterate']) {
    const original = prototype[method]!;
    prototype[method] = function (this: { source: string }, ...rest: unknown[]) {
      if (tracing) traced.push(this.source.replace(/\s+/g, ' ').slice(0, 160));
      if (!args.timing) return original.apply(this, rest);
      const start = performance.now();
      try {
        return original.apply(this, rest);
      } finally {
        const key = this.source.replace(/\s+/g, ' ').slice(0, 100);
        const entry = timings.get(key) ?? { count: 0, ms: 0 };
        entry.count += 1;
        entry.ms += performance.now() - start;
        timings.set(key, entry);
      }
    };
  }
}

if (args.trace && args.postgres !== undefined) {
  // PostgreSQL: the statements node-postgres sends, BEGIN and COMMIT included.
  const prototype = pg.Client.prototype as unknown as { query: (...rest: unknown[]) => unknown };
  const original = prototype.query;
  prototype.query = function (this: unknown, ...rest: unknown[]) {
    const [first] = rest;
    const text = typeof first === 'string' ? first : typeof first === 'object' && first !== null && 'text' in first ? String((first as { text: unknown }).text) : '?';
    if (tracing) traced.push(text.replace(/\s+/g, ' ').slice(0, 160));
    return original.apply(this, rest);
  };
}
const bench = await openBenchDatabase(args.postgres);
const actor = { kind: 'system' } as const;
const { services, token } = await provisionForBench(bench.store);
const app = await buildApp({ services, baseUrl: 'http://127.0.0.1' });
const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' };

let sequence = 0;
async function create(): Promise<string> {
  sequence += 1;
  const userName = `cpu-${sequence}@load.example`;
  const response = await app.inject({
    method: 'POST',
    url: '/api/scim/v2/Users',
    headers,
    payload: JSON.stringify({
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      userName,
      externalId: `ext-${sequence}`,
      name: { givenName: 'Load', familyName: `User ${sequence}` },
      emails: [{ value: userName, type: 'work', primary: true }],
    }),
  });
  if (response.statusCode !== 201) throw new Error(`POST /Users: ${response.statusCode} ${response.body}`);
  return response.json<{ id: string }>().id;
}

const seeded = await seedUsers(bench.store, { count: USERS, login: (i) => `seeded${i}@bench.example` });
const groups: string[] = [];
for (let g = 0; g < 20; g += 1) groups.push((await services.groups.create({ displayName: `CPU ${g}` }, [], actor)).scimId);
const pick = (): string => seeded.scimIds[Math.floor(Math.random() * seeded.scimIds.length)]!;

async function patchUser(): Promise<void> {
  sequence += 1;
  const response = await app.inject({
    method: 'PATCH',
    url: `/api/scim/v2/Users/${pick()}`,
    headers,
    payload: JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'title', value: `Title ${sequence}` }] }),
  });
  if (response.statusCode !== 200) throw new Error(`PATCH /Users: ${response.statusCode} ${response.body}`);
}

// The members added, so that the removals remove real members (as an IdP does).
const added: Array<{ group: string; user: string }> = [];
async function addMember(): Promise<void> {
  const group = groups[Math.floor(Math.random() * groups.length)]!;
  const user = pick();
  const response = await app.inject({
    method: 'PATCH',
    url: `/api/scim/v2/Groups/${group}`,
    headers,
    payload: JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'add', path: 'members', value: [{ value: user }] }] }),
  });
  if (response.statusCode !== 204 && response.statusCode !== 200) throw new Error(`PATCH /Groups: ${response.statusCode} ${response.body}`);
  added.push({ group, user });
}

async function removeMember(): Promise<void> {
  const member = added.pop();
  if (member === undefined) throw new Error('no member left to remove: add more first');
  const response = await app.inject({
    method: 'PATCH',
    url: `/api/scim/v2/Groups/${member.group}`,
    headers,
    payload: JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'remove', path: `members[value eq "${member.user}"]` }] }),
  });
  if (response.statusCode !== 204 && response.statusCode !== 200) throw new Error(`PATCH /Groups: ${response.statusCode} ${response.body}`);
}

/** CPU ms and wall ms per request of `count` runs of `run`, after a warm-up. */
async function measure(name: string, run: () => Promise<unknown>, profile?: string): Promise<void> {
  for (let i = 0; i < 200; i += 1) await run();
  const session = profile === undefined ? undefined : new Session();
  if (session !== undefined) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  timings.clear();
  let statements = 0;
  const stopCounting = bench.store.observeQueries(() => {
    statements += 1;
  });
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < COUNT; i += 1) await run();
  const wall = performance.now() - start;
  const used = process.cpuUsage(cpu);
  stopCounting();
  if (session !== undefined && profile !== undefined) {
    const { profile: data } = await session.post('Profiler.stop');
    writeFileSync(profile, JSON.stringify(data));
    session.disconnect();
  }
  if (args.timing) {
    const rows = [...timings.entries()].sort((a, b) => b[1].ms - a[1].ms);
    let total = 0;
    for (const [, { ms }] of rows) total += ms;
    console.log(`${name}: SQLite ${(total / COUNT).toFixed(3)} ms per request`);
    for (const [key, { count, ms }] of rows.slice(0, 20)) console.log(`  ${(ms / COUNT).toFixed(3)} ms/req  ${(count / COUNT).toFixed(2)}×  ${key}`);
  }
  const perRequest = (used.user + used.system) / 1000 / COUNT;
  console.log(`${name.padEnd(24)} ${perRequest.toFixed(3)} CPU ms per request (user ${(used.user / 1000 / COUNT).toFixed(3)}, system ${(used.system / 1000 / COUNT).toFixed(3)}), ${(wall / COUNT).toFixed(3)} wall ms, ${(statements / COUNT).toFixed(1)} statements`);
}

console.log(`database: ${args.postgres === undefined ? 'SQLite (temporary file)' : 'PostgreSQL'}; ${machine()}`);
if (args.trace) {
  for (const [name, run] of [['create', create], ['user PATCH', patchUser], ['member PATCH (add)', addMember], ['member PATCH (remove)', removeMember]] as const) {
    await run();
    traced.length = 0;
    tracing = true;
    await run();
    tracing = false;
    console.log(`${name}: ${traced.length} statements`);
    for (const statement of traced) console.log(`  ${statement}`);
  }
}
// The directory's create alone (no HTTP, no token check): what a create costs below the routes.
const directoryDocument = (n: number) => ({
  schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
  userName: `direct-${n}@load.example`,
  externalId: `direct-ext-${n}`,
  name: { givenName: 'Load', familyName: `User ${n}` },
  emails: [{ value: `direct-${n}@load.example`, type: 'work', primary: true }],
});
if (args.only !== 'members') {
  await measure('users.create (directory)', () => services.users.create(directoryDocument((sequence += 1)), actor), args.profile?.replace(/(\.cpuprofile)?$/, '-directory.cpuprofile'));
  await measure('POST /Users', create, args.profile);
  await measure('PATCH /Users (title)', patchUser, args.profile?.replace(/(\.cpuprofile)?$/, '-user-patch.cpuprofile'));
}
await measure('PATCH /Groups (add 1)', addMember);
// As many removals as the warm-up and the measure of the adds left members to remove.
await measure('PATCH /Groups (remove 1)', removeMember);
await app.close();
await bench.dispose();
