/**
 * Big-group write benchmark (not part of `npm test`): seeds BENCH_USERS users (default 100k),
 * then sends the full-list writes Okta's and Entra's pushes make on a group of all of them, over
 * HTTP, and measures each one's duration and, meanwhile, the event loop's longest block (how
 * long the write kept every other request of the server waiting). Run with `npm run bench:big-groups`;
 * BENCH_DATABASE_URL=postgres://… measures an empty PostgreSQL database instead of a new SQLite
 * file. Figures go to docs/performance.md.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { describeLocation } from '../src/store/index.ts';
import { machine, openBenchDatabase, seedUsers, startScimServer } from './support.ts';

const USERS = Number(process.env.BENCH_USERS ?? 100_000);

async function main(): Promise<void> {
  const bench = await openBenchDatabase(process.env.BENCH_DATABASE_URL);
  console.log(`database: ${describeLocation(bench.location)}`);
  console.log(`machine: ${machine()}`);
  const seeded = await seedUsers(bench.store, { count: USERS });
  const ids = seeded.scimIds;
  const { app, address, token } = await startScimServer(bench.store);
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' };
  const body = (displayName: string, members: readonly string[]) =>
    JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName, members: members.map((value) => ({ value })) });

  const results: { write: string; status: number; ms: number; longestBlockMs: number }[] = [];
  // The event loop's longest block during each write: how long every other request (`/livez`
  // included) waited at worst. Measured in this process, where the server runs: a poller here
  // would only see the blocks that begin while its request is in flight.
  const blocks = monitorEventLoopDelay({ resolution: 10 });
  blocks.enable();
  async function timed(write: string, method: string, path: string, payload: string): Promise<Record<string, unknown>> {
    blocks.reset();
    const start = performance.now();
    const response = await fetch(`${address}/api/scim/v2${path}`, { method, headers, ...(payload ? { body: payload } : {}) });
    const text = await response.text();
    const ms = performance.now() - start;
    const longest = blocks.max / 1e6;
    results.push({ write, status: response.status, ms: Math.round(ms), longestBlockMs: Math.round(longest) });
    console.log(`${write}: ${response.status} in ${Math.round(ms)} ms, longest block of the event loop ${Math.round(longest)} ms`);
    if (response.status >= 300) throw new Error(`${write}: ${response.status} ${text.slice(0, 300)}`);
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  }

  const created = await timed(`POST /Groups with ${USERS} members`, 'POST', '/Groups?excludedAttributes=members', body('Everyone', ids));
  const group = `/Groups/${String(created.id)}?excludedAttributes=members`;
  await timed(`PUT the same ${USERS} members (no change)`, 'PUT', group, body('Everyone', ids));
  await timed(`PUT without 1,000 of them`, 'PUT', group, body('Everyone', ids.slice(1000)));
  await timed(`PUT with the 1,000 back`, 'PUT', group, body('Everyone', ids));
  await timed(`PUT the same members, renamed`, 'PUT', group, body('Everyone (renamed)', ids));
  await timed(`PUT half of them`, 'PUT', group, body('Everyone (renamed)', ids.slice(USERS / 2)));
  await timed(`DELETE the group`, 'DELETE', `/Groups/${String(created.id)}`, '');
  console.log(JSON.stringify({ users: USERS, results }));
  await app.close();
  await bench.dispose();
}

await main();
