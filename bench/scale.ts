/**
 * Scale benchmark (not part of `npm test`): seeds 100k users and one group with 100k members
 * in a fresh SQLite file, starts Roster on a real port and measures, over HTTP, the latency of
 * the requests IdPs make most. Run with `npm run bench` (BENCH_USERS=… to change the size).
 * Figures go to docs/performance.md.
 */
import { performance } from 'node:perf_hooks';
import { buildApp } from '../src/http/app.ts';
import { createServices } from '../src/services.ts';
import { describeLocation } from '../src/store/index.ts';
import { testCertificate } from '../test/support/app.ts';
import { machine, measure as measureTimes, openBenchDatabase, type Timing } from './support.ts';

const USERS = Number(process.env.BENCH_USERS ?? 100_000);
const SMALL_GROUPS = Number(process.env.BENCH_GROUPS ?? 1_000);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 500);
const actor = { kind: 'system' } as const;

function measure(name: string, run: (i: number) => Promise<void>): Promise<Timing> {
  return measureTimes(name, run, SAMPLES);
}

async function main(): Promise<void> {
  // BENCH_DATABASE_URL (e.g. postgres://…/an_empty_database) measures another database;
  // by default a fresh SQLite file.
  const bench = await openBenchDatabase(process.env.BENCH_DATABASE_URL);
  const { store, location } = bench;
  console.log(`database: ${describeLocation(location)}`);
  const services = createServices(store);
  console.log(`machine: ${machine()}`);

  // SCIM is switched on as an administrator would (SAML first, then the switch): the seeding
  // below writes as the IdP does, which only works while SCIM is on.
  await services.saml.configure({ providerId: 'https://idp.example/bench', loginUrl: 'https://idp.example/sso', certificates: [testCertificate()] }, actor);
  await services.provisioning.enable(actor);

  // Seeding goes through the directory (the same code as SCIM writes), not raw SQL.
  let seedStart = performance.now();
  const userIds: string[] = [];
  for (let i = 0; i < USERS; i += 1) {
    const user = await services.users.create(
      {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
        userName: `user${i}@bench.example`,
        externalId: `ext-${i}`,
        name: { givenName: `Given${i}`, familyName: `Family${i}` },
        emails: [{ value: `user${i}@bench.example`, type: 'work', primary: true }],
      },
      actor,
    );
    userIds.push(user.scimId);
  }
  console.log(`seeded ${USERS} users in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);
  seedStart = performance.now();
  const big = await services.groups.create({ displayName: 'Everyone' }, userIds, actor);
  console.log(`created one group with ${USERS} members in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);
  const small = await services.groups.create({ displayName: 'Ten' }, userIds.slice(0, 10), actor);
  for (let g = 0; g < SMALL_GROUPS; g += 1) {
    await services.groups.create({ displayName: `Team ${g}` }, userIds.slice(g * 10, g * 10 + 10), actor);
  }
  // Users outside every group, to add to the big and the small group.
  const newcomers: string[] = [];
  for (let i = 0; i < 2 * (SAMPLES + 20); i += 1) {
    newcomers.push((await services.users.create({ userName: `newcomer${i}@bench.example` }, actor)).scimId);
  }

  await services.administrators.ensureAdministrator();
  const admin = await services.accounts.findByLogin('admin');
  if (!admin) throw new Error('no administrator');
  const { token } = await services.tokens.create('bench', actor, admin.id);
  const app = await buildApp({ services, baseUrl: 'http://127.0.0.1' });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' };
  const call = async (method: string, path: string, body?: unknown, expected = 200) => {
    const response = await fetch(`${address}/api/scim/v2${path}`, { method, headers, ...(body ? { body: JSON.stringify(body) } : {}) });
    await response.arrayBuffer();
    if (response.status !== expected) throw new Error(`${method} ${path}: ${response.status}`);
  };
  const pick = (i: number) => Math.floor((i * 7919) % USERS);
  const addMember = (id: string) => ({
    schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
    Operations: [{ op: 'add', path: 'members', value: [{ value: id }] }],
  });


  // Delta sync: what changed since the membership changes below began (about a thousand users).
  const since = new Date().toISOString();
  const results = [
    await measure('GET /Users?filter=userName eq "…"', (i) => call('GET', `/Users?filter=${encodeURIComponent(`userName eq "user${pick(i)}@bench.example"`)}`)),
    await measure('GET /Users/{id}', (i) => call('GET', `/Users/${userIds[pick(i)]}`)),
    await measure(`PATCH add 1 member to the ${USERS}-member group`, (i) => call('PATCH', `/Groups/${big.scimId}`, addMember(newcomers[i]!), 204)),
    await measure('PATCH add 1 member to a 10-member group', (i) => call('PATCH', `/Groups/${small.scimId}`, addMember(newcomers[SAMPLES + 20 + i]!), 204)),
    await measure('GET /Groups?excludedAttributes=members (100/page)', (i) => call('GET', `/Groups?excludedAttributes=members&startIndex=${(i % 10) * 100 + 1}&count=100`)),
    await measure('GET /Users (100/page)', (i) => call('GET', `/Users?startIndex=${(i % 10) * 100 + 1}&count=100`)),
    await measure('GET /Users?filter=meta.lastModified gt "…" (100/page)', () => call('GET', `/Users?filter=${encodeURIComponent(`meta.lastModified gt "${since}"`)}&count=100`)),
  ];
  console.log(JSON.stringify({ users: USERS, groups: SMALL_GROUPS + 2, samples: SAMPLES, results }));
  await app.close();
  await bench.dispose();
}

// `npm run bench -- --load`: the load mode (bench/load.ts) instead.
if (process.argv.includes('--load')) await import('./load.ts');
else await main();
