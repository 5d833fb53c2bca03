/**
 * Filter benchmark (not part of `npm test`): the time the database takes to run a compiled SCIM
 * filter that joins many terms with `or`, by number of terms, for the attributes a chain can
 * make expensive (a side table, a JSON collection, a JSON scalar, a column). It times the
 * statement itself (`SELECT count(*) … WHERE filter`), without HTTP, as the count of a
 * `GET /Users?filter=…` runs it. Figures go to docs/performance.md.
 *
 *   npx tsx bench/filters.ts                       # 100,000 users in a temporary SQLite file
 *   BENCH_USERS=20000 BENCH_DATABASE_URL=postgres://… npx tsx bench/filters.ts   # seeded if empty, kept
 *   BENCH_SQLITE_FILE=/tmp/f.db npx tsx bench/filters.ts   # seeds the file once, reuses it after
 *
 * BENCH_TERMS (default 10,20,40,80,160) lists the chain lengths; a family stops growing once one
 * run takes longer than BENCH_CUTOFF_MS (default 20,000), so that the old, quadratic cost does
 * not take an hour to show.
 */
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { loadConfig } from '../src/config.ts';
import { newId } from '../src/ids.ts';
import { parseFilter, type Filter } from '../src/scim/filter/index.ts';
import { compileFilter } from '../src/store/filter-sql.ts';
import { describeLocation, openStore, type Store } from '../src/store/index.ts';
import { caseKey } from '../src/text.ts';
import { machine, openBenchDatabase, seedUsers } from './support.ts';

const USERS = Number(process.env.BENCH_USERS ?? 100_000);
const TERMS = (process.env.BENCH_TERMS ?? '10,20,40,80,160').split(',').map(Number);
const CUTOFF_MS = Number(process.env.BENCH_CUTOFF_MS ?? 20_000);
const GROUP_SIZE = 100;

/** The chains timed: term i of each family, none of which matches a seeded user. */
const FAMILIES: readonly [string, (i: number) => string][] = [
  ['emails co', (i) => `emails co "x${i}q"`],
  ['emails[type eq and value co]', (i) => `emails[type eq "work" and value co "x${i}q"]`],
  ['emails[primary eq true and value co] (JSON)', (i) => `emails[primary eq true and value co "x${i}q"]`],
  ['groups.display co', (i) => `groups.display co "x${i}q"`],
  ['title co', (i) => `title co "x${i}q"`],
  ['userName co', (i) => `userName co "x${i}q"`],
];

/** Memberships for `groups.display`: every user in one group of GROUP_SIZE. */
async function seedGroups(store: Store, userIds: readonly string[]): Promise<void> {
  const now = new Date().toISOString();
  for (let start = 0; start < userIds.length; start += GROUP_SIZE * 10) {
    await store.db.transaction().execute(async (trx) => {
      for (let g = start; g < Math.min(userIds.length, start + GROUP_SIZE * 10); g += GROUP_SIZE) {
        const id = newId();
        const name = `Team ${g / GROUP_SIZE}`;
        await trx
          .insertInto('groups')
          .values({
            id,
            name,
            name_key: caseKey(name),
            description: null,
            external_id: null,
            scim_data: store.dialect.toJsonParameter({}),
            scim_fold: store.dialect.toJsonParameter({}),
            created_at: now,
            updated_at: now,
            version: 1,
          })
          .execute();
        await trx.insertInto('scim_groups').values({ scim_id: newId(), group_id: id }).execute();
        const members = userIds.slice(g, g + GROUP_SIZE).map((user_id) => ({ group_id: id, user_id, created_at: now }));
        if (members.length > 0) await trx.insertInto('memberships').values(members).execute();
      }
    });
  }
}

async function seed(store: Store): Promise<void> {
  const started = performance.now();
  const { userIds } = await seedUsers(store, { count: USERS });
  await seedGroups(store, userIds);
  // Statistics, as a deployment's autovacuum (or SQLite's PRAGMA optimize) gathers them.
  await sql`ANALYZE`.execute(store.db);
  console.log(`seeded ${USERS} users in groups of ${GROUP_SIZE} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

/** `t0 or t1 or …`, nested as the parser nests it (left-deep). */
function chain(count: number, term: (i: number) => string): Filter {
  const operands = Array.from({ length: count }, (_, i) => {
    const parsed = parseFilter(term(i));
    if (!parsed.ok) throw new Error(parsed.error.message);
    return parsed.value;
  });
  const [first, ...rest] = operands;
  if (first === undefined) throw new Error('no terms');
  return rest.reduce<Filter>((left, right) => ({ kind: 'or', left, right }), first);
}

async function main(): Promise<void> {
  // A database named by BENCH_SQLITE_FILE or BENCH_DATABASE_URL is seeded when empty and kept,
  // so that two versions of the compiler can be timed on the same data; otherwise a temporary file.
  const file = process.env.BENCH_SQLITE_FILE;
  const url = file === undefined ? process.env.BENCH_DATABASE_URL : `sqlite:${file}`;
  let store: Store;
  let dispose: () => Promise<void>;
  if (url !== undefined) {
    const location = loadConfig({ ROSTER_DATABASE_URL: url }).database;
    store = await openStore(location);
    dispose = () => store.close();
    console.log(`database: ${describeLocation(location)}`);
    if ((await store.db.selectFrom('users').select('id').limit(1).executeTakeFirst()) === undefined) await seed(store);
  } else {
    const bench = await openBenchDatabase();
    store = bench.store;
    dispose = () => bench.dispose();
    console.log(`database: ${describeLocation(bench.location)}`);
    await seed(store);
  }
  console.log(`machine: ${machine()}`);
  const users = await store.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  console.log(`users: ${users.n}`);

  for (const [name, term] of FAMILIES) {
    const line: string[] = [];
    for (const count of TERMS) {
      const where = compileFilter(chain(count, term), 'User', store.dialect, { locationBase: 'https://roster.test/api/scim/v2/Users/' });
      const query = store.db
        .selectFrom('users as u')
        .innerJoin('scim_users as su', 'su.user_id', 'u.id')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where(where);
      const started = performance.now();
      const row = await query.executeTakeFirstOrThrow();
      const ms = performance.now() - started;
      line.push(`${count}: ${ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`}${Number(row.n) === 0 ? '' : ` (${row.n} rows)`}`);
      if (ms > CUTOFF_MS) break;
    }
    console.log(`${name.padEnd(46)} ${line.join('   ')}`);
  }
  await dispose();
}

await main();
