/**
 * SQL for the per-token rate limits (directory/rate-limits.ts): GCRA over one row per key,
 * changed by one upsert per reservation of several requests at once.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { DialectAdapter } from './dialect.ts';
import type { Executor } from './executor.ts';
import type { Database } from './tables.ts';

/** What a reservation obtained. */
export interface Reservation {
  /** Requests granted, from 0 to the number asked for. */
  readonly granted: number;
  /** The key's theoretical arrival time after the reservation (microseconds since the epoch). */
  readonly freeAt: number;
}

/** The limit of a key in GCRA terms, in microseconds. */
export interface GcraLimit {
  /** Microseconds between two requests at the sustained rate. */
  readonly intervalUs: number;
  /** Requests that may come at once after a quiet period. */
  readonly burst: number;
}

/** Query factory for the rate limits. */
export function createRateLimitQueries(dialect: DialectAdapter) {
  const greatest = dialect.name === 'postgres' ? 'greatest' : 'max';
  const least = dialect.name === 'postgres' ? 'least' : 'min';
  // Every operand is a 64-bit integer, so `/` divides as integers on both databases.
  const int = (value: number): RawBuilder<number> => sql<number>`cast(${Math.round(value)} as bigint)`;

  /** The upsert of one reservation (see reserve). */
  async function upsert(db: Executor, key: string, want: number, nowUs: number, limit: GcraLimit): Promise<Reservation> {
    const interval = int(limit.intervalUs);
    const now = int(nowUs);
    const base = sql`${sql.raw(greatest)}(rate_limits.free_at, ${now})`;
    // Requests that fit before the budget is spent: (now + burst·T − base) / T, at least 0.
    const fits = sql`${sql.raw(greatest)}(cast(0 as bigint), (${now} + ${int(limit.burst * limit.intervalUs)} - ${base}) / ${interval})`;
    const granted = sql<number>`${sql.raw(least)}(${int(want)}, ${fits})`;
    const first = Math.min(want, limit.burst);
    const row = await db
      .insertInto('rate_limits')
      .values({ key, free_at: int(nowUs + first * limit.intervalUs), granted: first })
      .onConflict((conflict) =>
        conflict.column('key').doUpdateSet({
          granted,
          free_at: sql<number>`${base} + ${granted} * ${interval}`,
        }),
      )
      .returning(['granted', 'free_at'])
      .executeTakeFirstOrThrow();
    return { granted: Number(row.granted), freeAt: Number(row.free_at) };
  }

  return {
    /**
     * Takes up to `want` requests from `key`'s budget at `nowUs`, in one statement: the row is
     * created with a full budget, or updated from its previous value (every SET expression
     * reads the row as it was). On PostgreSQL the upsert locks the row, so reservations from
     * every instance are applied one after the other.
     */
    async reserve(db: Kysely<Database>, key: string, want: number, nowUs: number, limit: GcraLimit): Promise<Reservation> {
      if (dialect.name !== 'postgres') return upsert(db, key, want, nowUs, limit);
      // A reservation lost in a crash of the database costs nothing (the budget refills), so its
      // commit need not wait for the WAL to reach the disk: the flush was most of its cost.
      return db.transaction().execute(async (trx) => {
        await sql`SET LOCAL synchronous_commit = off`.execute(trx);
        return upsert(trx, key, want, nowUs, limit);
      });
    },

    /**
     * Deletes up to `limit` keys whose budget was whole again before `beforeUs` (they mean the
     * same as no row). Rows locked by a reservation in progress are skipped on PostgreSQL.
     */
    async purge(db: Executor, beforeUs: number, limit: number): Promise<number> {
      const result = await db
        .deleteFrom('rate_limits')
        .where('key', 'in', (eb) => {
          const stale = eb.selectFrom('rate_limits').select('key').where('free_at', '<', int(beforeUs)).limit(limit);
          return dialect.supportsRowLocks ? stale.forUpdate().skipLocked() : stale;
        })
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}

export type RateLimitQueries = ReturnType<typeof createRateLimitQueries>;
