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
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildApp } from '../src/http/app.ts';
import { createServices } from '../src/services.ts';
import { loadConfig } from '../src/config.ts';
import { newId } from '../src/ids.ts';
import { foldDocument } from '../src/scim/keys.ts';
import { caseKey } from '../src/text.ts';
import { describeLocation, openStore } from '../src/store/index.ts';
import { testCertificate } from '../test/support/app.ts';

const USERS = Number(process.env.BENCH_USERS ?? 100_000);
const PAGE = 100;
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 100);
const actor = { kind: 'system' } as const;

function percentile(sorted: readonly number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? NaN;
}

async function measure(name: string, run: () => Promise<void>): Promise<{ name: string; median: number; p99: number }> {
  for (let i = 0; i < 5; i += 1) await run(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < SAMPLES; i += 1) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  const result = { name, median: percentile(times, 50), p99: percentile(times, 99) };
  console.log(`${name.padEnd(60)} median ${result.median.toFixed(2).padStart(8)} ms   p99 ${result.p99.toFixed(2).padStart(8)} ms`);
  return result;
}

async function main(): Promise<void> {
  const directory = mkdtempSync(join(tmpdir(), 'roster-bench-'));
  const location = process.env.BENCH_DATABASE_URL
    ? loadConfig({ ROSTER_DATABASE_URL: process.env.BENCH_DATABASE_URL }).database
    : ({ kind: 'sqlite', path: join(directory, 'roster.db') } as const);
  const store = await openStore(location);
  const existing = await store.db.selectFrom('users').select('id').limit(1).executeTakeFirst();
  if (existing) throw new Error('BENCH_DATABASE_URL must name an empty database: the benchmark seeds its own data.');
  console.log(`database: ${describeLocation(location)}`);
  console.log(`machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`);

  const seedStart = performance.now();
  const base = Date.parse('2026-01-01T00:00:00Z');
  for (let start = 0; start < USERS; start += 1000) {
    await store.db.transaction().execute(async (trx) => {
      const batch = Array.from({ length: Math.min(1000, USERS - start) }, (_, k) => {
        const i = start + k;
        const at = new Date(base + i * 1000).toISOString();
        return { i, id: newId(base + i), scimId: newId(base + i), at };
      });
      await trx
        .insertInto('users')
        .values(
          batch.map(({ i, id, at }) => {
            // Names in an order unrelated to creation, so that sorting by userName is real work.
            const login = `user${String((i * 7919) % USERS).padStart(6, '0')}@bench.example`;
            const data = {
              name: { givenName: `Given${i}`, familyName: `Family${i}` },
              emails: [{ value: `user${i}@bench.example`, type: 'work', primary: true }],
              ...(i % 3 === 0 ? {} : { title: `Title ${i % 50}` }),
            };
            // The case keys and folded document the store writes beside the values (migration 011).
            return {
              id,
              login,
              login_key: caseKey(login),
              display_name: `Given${i} Family${i}`,
              display_name_key: caseKey(`Given${i} Family${i}`),
              email: `user${i}@bench.example`,
              email_key: `user${i}@bench.example`,
              active: 1,
              local: 0,
              password_hash: null,
              external_id: `ext-${i}`,
              scim_data: store.dialect.toJsonParameter(data),
              scim_fold: store.dialect.toJsonParameter(foldDocument('User', data)),
              created_at: at,
              updated_at: at,
              version: 1,
              last_connection_at: null,
            };
          }),
        )
        .execute();
      await trx.insertInto('scim_users').values(batch.map(({ id, scimId }) => ({ scim_id: scimId, user_id: id }))).execute();
      await trx
        .insertInto('user_emails')
        .values(
          batch.map(({ i, id }) => ({
            user_id: id,
            position: 0,
            value: `user${i}@bench.example`,
            value_key: `user${i}@bench.example`,
            type: 'work',
            type_key: 'work',
            is_primary: 1,
            display: null,
            display_key: null,
          })),
        )
        .execute();
    });
  }
  console.log(`inserted ${USERS} users in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);

  const services = createServices(store);
  await services.saml.configure({ providerId: 'https://idp.example/bench', loginUrl: 'https://idp.example/sso', certificates: [testCertificate()] }, actor);
  await services.provisioning.enable(actor);
  await services.administrators.ensureAdministrator();
  const admin = await services.accounts.findByLogin('admin');
  if (!admin) throw new Error('no administrator');
  const { token } = await services.tokens.create('bench', actor, admin.id);
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
  await store.close();
  rmSync(directory, { recursive: true, force: true });
}

await main();
