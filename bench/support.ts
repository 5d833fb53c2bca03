/**
 * What the benchmarks share (not part of `npm test`): opening an empty database, describing the
 * machine, timing requests one at a time, and seeding users in batches straight into the tables
 * SCIM reads (users, scim_users, user_emails) — 100,000 SCIM creates take minutes, a batch
 * insert of the same rows seconds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../src/config.ts';
import { newId } from '../src/ids.ts';
import { describeLocation, openStore, type DatabaseLocation, type Store } from '../src/store/index.ts';
import { foldDocument } from '../src/scim/keys.ts';
import { caseKey } from '../src/text.ts';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { buildApp } from '../src/http/app.ts';
import { createServices, type Services } from '../src/services.ts';
import { testCertificate } from '../test/support/app.ts';

/** The median and 99th percentile of a timed request, in milliseconds. */
export interface Timing {
  readonly name: string;
  readonly median: number;
  readonly p99: number;
}

/** The value at percentile `p` of ascending `sorted`. */
export function percentile(sorted: readonly number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? NaN;
}

/** Times `run` `samples` times one after the other, after `warmUp` untimed runs, and prints the result. */
export async function measure(name: string, run: (i: number) => Promise<void>, samples: number, warmUp = 20): Promise<Timing> {
  for (let i = 0; i < warmUp; i += 1) await run(i);
  const times: number[] = [];
  for (let i = 0; i < samples; i += 1) {
    const start = performance.now();
    await run(i + warmUp);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  const result = { name, median: percentile(times, 50), p99: percentile(times, 99) };
  console.log(`${name.padEnd(60)} median ${result.median.toFixed(2).padStart(8)} ms   p99 ${result.p99.toFixed(2).padStart(8)} ms`);
  return result;
}

/** One line about the machine the figures come from. */
export function machine(): string {
  return `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`;
}

/** An empty database for a benchmark, and how to reach it from another process. */
export interface BenchDatabase {
  readonly store: Store;
  readonly location: DatabaseLocation;
  /** A ROSTER_DATABASE_URL naming it, for a Roster child process. */
  readonly url: string;
  /** Closes the store and deletes the SQLite file's directory (a PostgreSQL database is left). */
  dispose(): Promise<void>;
}

/**
 * Opens (and migrates) a fresh SQLite file, or the PostgreSQL database `postgresUrl`, which
 * must be empty: the benchmarks seed their own data.
 */
export async function openBenchDatabase(postgresUrl?: string): Promise<BenchDatabase> {
  const directory = mkdtempSync(join(tmpdir(), 'roster-bench-'));
  const url = postgresUrl ?? `sqlite:${join(directory, 'roster.db')}`;
  const location: DatabaseLocation = postgresUrl
    ? loadConfig({ ROSTER_DATABASE_URL: postgresUrl }).database
    : { kind: 'sqlite', path: join(directory, 'roster.db') };
  const store = await openStore(location);
  const existing = await store.db.selectFrom('users').select('id').limit(1).executeTakeFirst();
  if (existing) {
    await store.close();
    throw new Error(`${describeLocation(location)} must be an empty database: the benchmark seeds its own data.`);
  }
  return {
    store,
    location,
    url,
    async dispose() {
      await store.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** The users a seeding inserted: index i's internal id and SCIM id. */
export interface SeededUsers {
  readonly userIds: string[];
  readonly scimIds: string[];
}

/**
 * Inserts `count` users numbered from `from`, 1,000 per transaction, each with a name, a work
 * email and (two in three) a title; `login(i)` names user i (default `user<i>@bench.example`).
 */
export async function seedUsers(
  store: Store,
  options: { count: number; from?: number; login?: (i: number) => string; onProgress?: (done: number) => void },
): Promise<SeededUsers> {
  const from = options.from ?? 0;
  const login = options.login ?? ((i: number) => `user${i}@bench.example`);
  const userIds: string[] = [];
  const scimIds: string[] = [];
  const base = Date.parse('2026-01-01T00:00:00Z');
  for (let start = from; start < from + options.count; start += 1000) {
    const batch = Array.from({ length: Math.min(1000, from + options.count - start) }, (_, k) => {
      const i = start + k;
      const at = new Date(base + i * 1000).toISOString();
      return { i, id: newId(base + i), scimId: newId(base + i), at };
    });
    await store.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('users')
        .values(
          batch.map(({ i, id, at }) => {
            const data = {
              name: { givenName: `Given${i}`, familyName: `Family${i}` },
              emails: [{ value: `user${i}@bench.example`, type: 'work', primary: true }],
              ...(i % 3 === 0 ? {} : { title: `Title ${i % 50}` }),
            };
            // The case keys and folded document the store writes beside the values (migration 011).
            return {
              id,
              login: login(i),
              login_key: caseKey(login(i)),
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
        .values(batch.map(({ i, id }) => ({ user_id: id, position: 0, value: `user${i}@bench.example`, value_key: `user${i}@bench.example`, type: 'work', type_key: 'work', is_primary: 1, display: null, display_key: null })))
        .execute();
    });
    for (const { id, scimId } of batch) {
      userIds.push(id);
      scimIds.push(scimId);
    }
    options.onProgress?.(start + batch.length - from);
  }
  // A real deployment's autovacuum analyses tables that grew this much; without statistics,
  // PostgreSQL's planner takes the freshly filled tables for empty ones and scans them.
  if (store.dialect.name === 'postgres') await sql`ANALYZE`.execute(store.db);
  return { userIds, scimIds };
}

/**
 * SCIM switched on as an administrator would: SAML first, then the switch. Needed before the
 * directory's SCIM writes (they are refused while SCIM is off), seeding included.
 */
export async function switchScimOn(services: Services): Promise<void> {
  const actor = { kind: 'system' } as const;
  await services.saml.configure({ providerId: 'https://idp.example/bench', loginUrl: 'https://idp.example/sso', certificates: [testCertificate()] }, actor);
  await services.provisioning.enable(actor);
}

/**
 * Services over `store` set up as an IdP finds them: SAML configured, SCIM switched on, and a
 * token of the administrator `admin` (named `bench`).
 */
export async function provisionForBench(store: Store): Promise<{ services: Services; token: string }> {
  const actor = { kind: 'system' } as const;
  const services = createServices(store);
  await switchScimOn(services);
  await services.administrators.ensureAdministrator();
  const admin = await services.accounts.findByLogin('admin');
  if (!admin) throw new Error('no administrator');
  const { token } = await services.tokens.create('bench', actor, admin.id);
  return { services, token };
}

/**
 * A SCIM-enabled Roster over `store` on a free loopback port, with a token of `admin`: over a
 * real port rather than inject(), which keeps each answer alive for a while and would be
 * measured as the server's memory.
 */
export async function startScimServer(store: Store): Promise<{ services: Services; app: FastifyInstance; address: string; token: string }> {
  const { services, token } = await provisionForBench(store);
  const app = await buildApp({ services, baseUrl: 'http://127.0.0.1' });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  return { services, app, address, token };
}
