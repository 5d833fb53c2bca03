/**
 * Queries of a fixed shape compiled once. Kysely builds and compiles a query on every call,
 * which cost more CPU than SQLite's own work for the lookups every request makes (the bearer
 * token, the user by SCIM id: docs/performance.md). A query compiled here is built once, with
 * markers where its values go, and each call executes the same SQL with its own values.
 */
import { randomBytes } from 'node:crypto';
import type { CompiledQuery, Compilable, QueryResult } from 'kysely';
import type { Executor } from './executor.ts';

/**
 * The SQL of every query compiled here, with a name for it as a server-side prepared statement:
 * a fixed, small set (the queries of every request). The PostgreSQL connections prepare these
 * once each and then only bind and execute them (postgres.ts), which spares the server parsing
 * and planning them on every call.
 */
const preparedNames = new Map<string, string>();

/** The prepared-statement name of `sql` if it is a query compiled once, else undefined. */
export function preparedNameOf(sql: string): string | undefined {
  return preparedNames.get(sql);
}

/**
 * Compiles `build` once per dialect, with markers where its values go, and runs that SQL with
 * each call's values in the markers' places. `label` names the caller in errors.
 */
function withMarkers<R>(label: string, build: (db: Executor, markers: readonly string[]) => Compilable<R>): (db: Executor, values: readonly unknown[]) => Promise<QueryResult<R>> {
  // By the dialect's adapter class: query factories may serve a SQLite and a PostgreSQL store
  // in one process (the tests, `db copy`), and their SQL differs (`?` against `$1`, quoting).
  const compiledFor = new Map<unknown, { readonly query: CompiledQuery<R>; readonly slots: readonly number[] }>();
  return async (db, values) => {
    const dialect = db.getExecutor().adapter.constructor;
    let compiled = compiledFor.get(dialect);
    if (compiled === undefined) {
      const nonce = randomBytes(8).toString('hex');
      const markers = values.map((_, i) => `\u0000${label}:${nonce}:${i}`);
      const query = build(db, markers).compile();
      const slots = query.parameters.map((parameter) => markers.indexOf(parameter as string));
      // Every value must have become a bound parameter, or the SQL would hold a marker.
      for (let i = 0; i < markers.length; i += 1) {
        if (!slots.includes(i)) throw new Error(`${label}: value ${i} is not a bound parameter of ${query.sql}`);
      }
      compiled = { query, slots };
      compiledFor.set(dialect, compiled);
      if (!preparedNames.has(query.sql)) preparedNames.set(query.sql, `roster_${preparedNames.size + 1}`);
    }
    const { query, slots } = compiled;
    // Parameters the builder fixed itself (a literal 0, a NULL) keep their value.
    const parameters = query.parameters.map((parameter, i) => {
      const slot = slots[i]!;
      return slot === -1 ? parameter : values[slot];
    });
    return db.executeQuery<R>({ ...query, parameters });
  };
}

/**
 * Wraps `build`, which must give a query of the same shape whatever its text arguments are
 * (each used only as a bound value, never inspected): the first call builds it with markers,
 * and every call executes that compiled SQL with its own `values` in the markers' places.
 * The SQL depends on the dialect only: one compiled query per dialect serves every database
 * and transaction of it.
 */
export function compiledOnce<R, A extends readonly string[]>(build: (db: Executor, ...values: A) => Compilable<R>): (db: Executor, ...values: A) => Promise<R[]> {
  const run = withMarkers<R>('compiledOnce', (db, markers) => build(db, ...(markers as unknown as A)));
  return async (db, ...values) => (await run(db, values)).rows;
}

/** A write compiled once (compiledWrite); each call runs it with its own values, in the markers' order. */
export type CompiledWrite<R> = (db: Executor, values: readonly unknown[]) => Promise<QueryResult<R>>;

/**
 * compiledOnce for statements whose values are not all text (NULLs, numbers, JSON): `build`
 * receives `arity` markers and must use each only as a bound value. Building and compiling an
 * insert of a dozen columns with Kysely cost about as much CPU as SQLite's own work for it, and
 * a SCIM create makes several (docs/performance.md, "Writes").
 */
export function compiledWrite<R = unknown>(arity: number, build: (db: Executor, markers: readonly string[]) => Compilable<R>): CompiledWrite<R> {
  const run = withMarkers<R>('compiledWrite', build);
  return async (db, values) => {
    if (values.length !== arity) throw new Error(`compiledWrite: ${values.length} values for ${arity} markers`);
    return run(db, values);
  };
}
