/**
 * Events benchmark (not part of `npm test`): a SCIM PUT replacing every member of a
 * 100,000-member group, and a consumer reading the resulting 200,000 events from the feed,
 * with the time taken and how far the JS heap rose above its level before. Run with
 * `npm run bench:events` (BENCH_MEMBERS=… to change the size, BENCH_DATABASE_URL for an EMPTY
 * PostgreSQL database). Figures go to docs/performance.md. With a small heap
 * (`NODE_OPTIONS=--max-old-space-size=128`) it still completes: what the peak shows beyond the
 * request itself is garbage V8 had not yet needed to collect.
 */
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { decodeCursor } from '../src/directory/event-feed.ts';
import { describeLocation } from '../src/store/index.ts';
import { machine, openBenchDatabase, seedUsers, startScimServer } from './support.ts';

const MEMBERS = Number(process.env.BENCH_MEMBERS ?? 100_000);
const actor = { kind: 'system' } as const;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * Runs `work`, returning its duration, the JS heap's high-water mark above the level before it
 * (garbage not yet collected included: V8 collects lazily), and what stays after a collection.
 */
async function measure(name: string, work: () => Promise<void>): Promise<{ name: string; seconds: number; heapMiB: number; retainedMiB: number }> {
  gc();
  const base = process.memoryUsage().heapUsed;
  let peak = base;
  const sample = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  }, 1);
  const start = performance.now();
  try {
    await work();
  } finally {
    clearInterval(sample);
  }
  const seconds = (performance.now() - start) / 1000;
  const heapMiB = (Math.max(peak, process.memoryUsage().heapUsed) - base) / 2 ** 20;
  gc();
  const retainedMiB = (process.memoryUsage().heapUsed - base) / 2 ** 20;
  console.log(`${name.padEnd(60)} ${seconds.toFixed(1).padStart(6)} s   heap peak +${heapMiB.toFixed(1)} MiB, retained +${retainedMiB.toFixed(1)} MiB`);
  return { name, seconds, heapMiB, retainedMiB };
}

async function main(): Promise<void> {
  const bench = await openBenchDatabase(process.env.BENCH_DATABASE_URL);
  const { store, location } = bench;
  console.log(`database: ${describeLocation(location)}`);
  console.log(`machine: ${machine()}`);
  const { services, app, address, token } = await startScimServer(store);
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' };

  const ids = (await seedUsers(store, { count: 2 * MEMBERS, login: (i) => `member${i}@bench.example` })).scimIds;
  const group = await services.groups.create({ displayName: 'Everyone' }, ids.slice(0, MEMBERS), actor);
  // The end of the feed once the group's own events are below it (on PostgreSQL the horizon
  // waits for the server's oldest writing transaction, whatever its database).
  const last = await store.db.selectFrom('events').select(['tx', 'id']).orderBy('tx', 'desc').orderBy('id', 'desc').executeTakeFirstOrThrow();
  let start = '';
  for (;;) {
    start = (await services.eventFeed.read({ after: 'now', types: undefined, limit: 1 })).next;
    const horizon = decodeCursor(start);
    if (horizon !== undefined && (horizon.tx > Number(last.tx) || (horizon.tx === Number(last.tx) && horizon.id > Number(last.id)))) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // The request body as an IdP sends it: every member replaced by another user.
  const body = JSON.stringify({
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
    displayName: 'Everyone',
    members: ids.slice(MEMBERS).map((value) => ({ value })),
  });
  const results = [];
  results.push(
    await measure(`PUT /Groups/{id} replacing all ${MEMBERS} members`, async () => {
      const response = await fetch(`${address}/api/scim/v2/Groups/${group.scimId}?excludedAttributes=members`, { method: 'PUT', headers, body });
      if (response.status !== 200) throw new Error(`PUT: ${response.status} ${await response.text()}`);
      await response.arrayBuffer();
    }),
  );
  let events = 0;
  results.push(
    await measure(`GET /api/v2/events: the ${2 * MEMBERS} events, 1000 a page`, async () => {
      let next = start;
      for (;;) {
        const response = await fetch(`${address}/api/v2/events?after=${next}&limit=1000`, { headers });
        const page = (await response.json()) as { events: unknown[]; next: string };
        events += page.events.length;
        next = page.next;
        if (events >= 2 * MEMBERS) break;
        // A short page: caught up with what has committed so far.
        if (page.events.length < 1000) await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }),
  );
  if (events !== 2 * MEMBERS) throw new Error(`expected ${2 * MEMBERS} events, read ${events}`);
  console.log(JSON.stringify({ members: MEMBERS, events, results }));
  await app.close();
  await bench.dispose();
}

await main();
