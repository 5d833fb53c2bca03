/**
 * Writes of a fixed shape compiled once, the sibling of compiled.ts for statements whose values
 * are not all text (NULLs, numbers, JSON). Building and compiling an insert of a dozen columns
 * with Kysely cost about as much CPU as SQLite's own work for it, and a SCIM create makes
 * several (docs/performance.md, "Writes").
 */
import { randomBytes } from 'node:crypto';
import type { CompiledQuery, Compilable, QueryResult } from 'kysely';
import type { Executor } from './executor.ts';

/** A statement compiled once; each call runs it with its own values, in the markers' order. */
export type CompiledWrite<R> = (db: Executor, values: readonly unknown[]) => Promise<QueryResult<R>>;

/**
 * Wraps `build`, which receives `arity` markers and must use each only as a bound value (never
 * inspect it), giving a statement of the same shape whatever the values. The first call per
 * dialect builds and compiles it; every call executes that SQL with `values` in the markers'
 * places. Parameters the builder fixed itself (a literal 0, a NULL) keep their value.
 */
export function compiledWrite<R = unknown>(arity: number, build: (db: Executor, markers: readonly string[]) => Compilable<R>): CompiledWrite<R> {
  // By the dialect's adapter class, as compiled.ts does: one process may serve both databases.
  const compiledFor = new Map<unknown, { readonly query: CompiledQuery<R>; readonly slots: readonly number[] }>();
  return async (db, values) => {
    if (values.length !== arity) throw new Error(`compiledWrite: ${values.length} values for ${arity} markers`);
    const dialect = db.getExecutor().adapter.constructor;
    let compiled = compiledFor.get(dialect);
    if (compiled === undefined) {
      const nonce = randomBytes(8).toString('hex');
      const markers = Array.from({ length: arity }, (_, i) => `\u0000compiled-write:${nonce}:${i}`);
      const query = build(db, markers).compile();
      const slots = query.parameters.map((parameter) => markers.indexOf(parameter as string));
      // Every value must have become a bound parameter, or the SQL would hold a marker.
      for (let i = 0; i < arity; i += 1) {
        if (!slots.includes(i)) throw new Error(`compiledWrite: value ${i} is not a bound parameter of ${query.sql}`);
      }
      compiled = { query, slots };
      compiledFor.set(dialect, compiled);
    }
    const { query, slots } = compiled;
    const parameters = query.parameters.map((parameter, i) => {
      const slot = slots[i]!;
      return slot === -1 ? parameter : values[slot];
    });
    return db.executeQuery<R>({ ...query, parameters });
  };
}
