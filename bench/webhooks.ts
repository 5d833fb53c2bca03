/**
 * Webhooks benchmark (not part of `npm test`): a SCIM PUT replacing every member of a
 * 100,000-member group, and the resulting 200,000 events delivered to a webhook on 127.0.0.1,
 * one request each, in order; with the time taken and how far the JS heap rose above its
 * level before (the receiver lives in this process too, and keeps only counters). Run with
 * `npm run bench:webhooks` (BENCH_MEMBERS=… to change the size, BENCH_DATABASE_URL for an EMPTY
 * PostgreSQL database). The receiver checks that ids only grow, and verifies one request in
 * 1,000 with the `standardwebhooks` package.
 */
import { createServer } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Webhook } from 'standardwebhooks';
import { startDeliveries } from '../src/delivery/worker.ts';
import { describeLocation } from '../src/store/index.ts';
import { machine, openBenchDatabase, seedUsers, startScimServer } from './support.ts';

const MEMBERS = Number(process.env.BENCH_MEMBERS ?? 100_000);
const actor = { kind: 'system' } as const;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function main(): Promise<void> {
  const bench = await openBenchDatabase(process.env.BENCH_DATABASE_URL);
  const { store, location } = bench;
  console.log(`database: ${describeLocation(location)}`);
  console.log(`machine: ${machine()}`);
  const { services, app, address, token } = await startScimServer(store);

  // The receiver: counters only, so that what the heap shows is Roster's.
  let received = 0;
  let lastId = 0;
  let outOfOrder = 0;
  let unverified = 0;
  let verifier: Webhook | undefined;
  const receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const id = Number(request.headers['webhook-id']);
      if (id <= lastId) outOfOrder += 1;
      lastId = id;
      received += 1;
      if (received % 1000 === 1 && verifier !== undefined) {
        try {
          verifier.verify(Buffer.concat(chunks).toString('utf8'), request.headers as Record<string, string>);
        } catch {
          unverified += 1;
        }
      }
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const port = (receiver.address() as { port: number }).port;

  const ids = (await seedUsers(store, { count: 2 * MEMBERS, login: (i) => `member${i}@bench.example` })).scimIds;
  const group = await services.groups.create({ displayName: 'Everyone' }, ids.slice(0, MEMBERS), actor);
  // Created after the group: the endpoint receives the replace's events only.
  const { secret } = await services.webhooks.create({ url: `http://127.0.0.1:${port}/hook`, types: ['group.user_added', 'group.user_removed'] }, actor);
  verifier = new Webhook(secret);
  const worker = startDeliveries(store, services.eventFeed, { retrySchedule: [1000], retentionDays: 30 });

  const body = JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Everyone', members: ids.slice(MEMBERS).map((value) => ({ value })) });
  gc();
  const base = process.memoryUsage().heapUsed;
  let peak = base;
  const sample = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  }, 5);
  const started = performance.now();
  const response = await fetch(`${address}/api/scim/v2/Groups/${group.scimId}?excludedAttributes=members`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
    body,
  });
  if (response.status !== 200) throw new Error(`PUT: ${response.status} ${await response.text()}`);
  await response.arrayBuffer();
  const putSeconds = (performance.now() - started) / 1000;
  let lastReport = performance.now();
  while (received < 2 * MEMBERS) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    if (performance.now() - lastReport > 10_000) {
      lastReport = performance.now();
      console.log(`  … ${received} / ${2 * MEMBERS} delivered, heap +${((process.memoryUsage().heapUsed - base) / 2 ** 20).toFixed(1)} MiB`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sample);
  gc();
  const retained = process.memoryUsage().heapUsed - base;
  const result = {
    members: MEMBERS,
    events: received,
    putSeconds: Number(putSeconds.toFixed(1)),
    deliveredSeconds: Number(seconds.toFixed(1)),
    perSecond: Math.round(received / seconds),
    heapPeakMiB: Number(((peak - base) / 2 ** 20).toFixed(1)),
    retainedMiB: Number((retained / 2 ** 20).toFixed(1)),
    outOfOrder,
    unverified,
  };
  console.log(`PUT replacing ${MEMBERS} members, then its ${received} events delivered one request each: ${seconds.toFixed(1)} s (${result.perSecond}/s), heap peak +${result.heapPeakMiB} MiB, retained +${result.retainedMiB} MiB, out of order ${outOfOrder}, unverified ${unverified}`);
  console.log(JSON.stringify(result));
  await worker.stop();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
  await app.close();
  await bench.dispose();
}

await main();
