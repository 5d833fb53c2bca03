/**
 * Paging benchmark (not part of `npm test`): the cost of a page of GET /Users at the start and
 * at the end of a large list, by cursor (RFC 9865, keyset) and by startIndex (offset), over
 * HTTP. Run with `npm run bench:paging` (BENCH_USERS=… to change the size, BENCH_DATABASE_URL
 * for an empty PostgreSQL database). Figures go to docs/performance.md.
 *
 * The users are inserted in batches, straight into the tables SCIM reads (users, scim_users,
 * user_emails), rather than one SCIM create each as bench/scale.ts does: this measures reads,
 * and 100,000 creates take minutes.
 */
import { performance } from 'node:perf_hooks';
import { buildApp } from '../src/http/app.ts';
import { describeLocation } from '../src/store/index.ts';
import { machine, measure as measureTimes, openBenchDatabase, seedUsers, type Timing, provisionForBench } from './support.ts';

const USERS = Number(process.env.BENCH_USERS ?? 100_000);
const PAGE = 100;
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 100);

function measure(name: string, run: () => Promise<void>): Promise<Timing> {
  return measureTimes(name, run, SAMPLES, 5);
}

async function main(): Promise<void> {
  const bench = await openBenchDatabase(process.env.BENCH_DATABASE_URL);
  const { store, location } = bench;
  console.log(`database: ${describeLocation(location)}`);
  console.log(`machine: ${machine()}`);

  const seedStart = performance.now();
  // Names in an order unrelated to creation, so that sorting by userName is real work.
  await seedUsers(store, { count: USERS, login: (i) => `user${String((i * 7919) % USERS).padStart(6, '0')}@bench.example` });
  console.log(`inserted ${USERS} users in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);

  const { services, token } = await provisionForBench(store);
  const app = await buildApp({ services, baseUrl: 'http://127.0.0.1' });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  const headers = { authorization: `Bearer ${token}` };
  const get = async (path: string): Promise<{ nextCursor?: string; Resources: unknown[] }> => {
    const response = await fetch(`${address}/api/scim/v2${path}`, { headers });
    const body = (await response.json()) as { nextCursor?: string; Resources: unknown[] };
    if (response.status !== 200) throw new Error(`GET ${path}: ${response.status} ${JSON.stringify(body)}`);
    return body;
  };

  const pages = Math.ceil(USERS / PAGE);
  const results = [];
  for (const [label, query] of [
    ['default order', `count=${PAGE}`],
    ['sortBy=userName', `count=${PAGE}&sortBy=userName`],
    ['sortBy=title (nullable)', `count=${PAGE}&sortBy=title`],
  ] as const) {
    // The cursors of page 2 and of the last page, found by walking the whole list once.
    const walkStart = performance.now();
    let cursor = '';
    let second = '';
    for (let page = 1; page < pages; page += 1) {
      const body = await get(`/Users?${query}&cursor=${cursor}`);
      if (body.nextCursor === undefined) throw new Error(`the walk ended early, at page ${page}`);
      cursor = body.nextCursor;
      if (page === 1) second = cursor;
    }
    const last = await get(`/Users?${query}&cursor=${cursor}`);
    if (last.nextCursor !== undefined || last.Resources.length === 0) throw new Error('the last page is not the last');
    console.log(`${label}: walked all ${pages} pages by cursor in ${((performance.now() - walkStart) / 1000).toFixed(1)} s`);
    results.push(await measure(`cursor, page 1 (${label})`, async () => void (await get(`/Users?${query}&cursor=`))));
    results.push(await measure(`cursor, page 2 (${label})`, async () => void (await get(`/Users?${query}&cursor=${second}`))));
    results.push(await measure(`cursor, page ${pages} (${label})`, async () => void (await get(`/Users?${query}&cursor=${cursor}`))));
    results.push(await measure(`startIndex, page 1 (${label})`, async () => void (await get(`/Users?${query}&startIndex=1`))));
    results.push(await measure(`startIndex, page ${pages} (${label})`, async () => void (await get(`/Users?${query}&startIndex=${(pages - 1) * PAGE + 1}`))));
  }
  console.log(JSON.stringify({ users: USERS, page: PAGE, samples: SAMPLES, results }));
  await app.close();
  await bench.dispose();
}

await main();
