/**
 * Events benchmark (not part of `npm test`): a SCIM PUT replacing every member of a
 * 100,000-member group, and a consumer reading the resulting 200,000 events from the feed,
 * with the time taken and how far the JS heap rose above its level before. Run with
 * `npm run bench:events` (BENCH_MEMBERS=… to change the size, BENCH_DATABASE_URL for an EMPTY
 * PostgreSQL database). Figures go to docs/performance.md. With a small heap
 * (`NODE_OPTIONS=--max-old-space-size=128`) it still completes: what the peak shows beyond the
 * request itself is garbage V8 had not yet needed to collect.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { decodeCursor } from '../src/directory/event-feed.ts';
import { buildApp } from '../src/http/app.ts';
import { createServices } from '../src/services.ts';
import { loadConfig } from '../src/config.ts';
import { describeLocation, openStore } from '../src/store/index.ts';
import { testCertificate } from '../test/support/app.ts';
import { seedUsers } from './support.ts';

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
  const directory = mkdtempSync(join(tmpdir(), 'roster-bench-'));
  const location = process.env.BENCH_DATABASE_URL
    ? loadConfig({ ROSTER_DATABASE_URL: process.env.BENCH_DATABASE_URL }).database
    : ({ kind: 'sqlite', path: join(directory, 'roster.db') } as const);
  const store = await openStore(location);
  if (await store.db.selectFrom('users').select('id').limit(1).executeTakeFirst()) {
    throw new Error('BENCH_DATABASE_URL must name an empty database: the benchmark seeds its own data.');
  }
  console.log(`database: ${describeLocation(location)}`);
  console.log(`machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`);
  const services = createServices(store);
  await services.saml.configure({ providerId: 'https://idp.example/bench', loginUrl: 'https://idp.example/sso', certificates: [testCertificate()] }, actor);
  await services.provisioning.enable(actor);
  await services.administrators.ensureAdministrator();
  const admin = await services.accounts.findByLogin('admin');
  if (!admin) throw new Error('no administrator');
  const { token } = await services.tokens.create('bench', actor, admin.id);
  const app = await buildApp({ services, baseUrl: 'http://127.0.0.1' });
  // Over a real port, as bench/scale.ts: inject() keeps each answer alive for a while, which
  // would be measured as the server's memory.
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
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
  await store.close();
  rmSync(directory, { recursive: true, force: true });
}

await main();
