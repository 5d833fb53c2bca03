/**
 * Read snapshots held across awaits, for answers written while they are read (a group's members,
 * streamed): every statement of one sees the database as it was when its first one ran, whatever
 * commits meanwhile, and a query's rows come a chunk at a time from one execution of it.
 *
 * One execution, not one statement per chunk with `scim_id > last`: no index gives a group's
 * members in SCIM id order (memberships are keyed by group and internal user id), so each such
 * statement would join and sort the whole group again, and reading a 1,000,000-member group by
 * 1,000 would cost a thousand full reads. One execution sorts once, as the read of all members
 * at once did, and hands its rows over as they are asked for.
 */
import { CompiledQuery, type Compilable, type Kysely } from 'kysely';
import type { Executor } from './executor.ts';
import type { Database } from './tables.ts';

/** How a query read through `rows` will be read. */
export interface RowsOptions {
  /**
   * Every row will be read (an answer written whole): PostgreSQL then plans the query for its
   * whole result, as it plans any other statement, instead of for its first tenth, its default
   * for a cursor (`cursor_tuple_fraction`). For a group's members that default chose a walk of
   * every SCIM user in id order, probing the group for each, which avoids the sort but reads
   * the whole tenant for a group of 400 (docs/performance.md, "A page of groups with members").
   */
  readonly readToEnd?: boolean;
}

/** A read-only snapshot held until `end()`. */
export interface HeldSnapshot {
  /** Runs ordinary queries in the snapshot. */
  readonly db: Executor;
  /**
   * The rows of `query` (built on `db`), `size` at a time, from one execution of it. One at a
   * time: the next query, or the next `rows`, waits until this one is read to its end or left.
   */
  rows<R>(query: Compilable<R>, size: number, options?: RowsOptions): AsyncGenerator<R[]>;
  /** Ends the snapshot (rows being read stop) and gives its connection back; later calls do nothing. */
  end(): Promise<void>;
}

/** How one database reads a compiled query a chunk at a time; `close` is called once, even when the rows were not all read. */
export interface ChunkedCursor {
  next(size: number): Promise<unknown[]>;
  close(): Promise<void>;
}

/**
 * A held snapshot over `db`: `open` starts the reading of a query, `finish` ends the snapshot
 * (after every cursor is closed). Whatever fails, the snapshot ends once.
 */
export function heldSnapshot(db: Executor, open: (query: CompiledQuery, options: RowsOptions) => Promise<ChunkedCursor>, finish: () => Promise<void>): HeldSnapshot {
  let ended: Promise<void> | undefined;
  const cursors = new Set<ChunkedCursor>();
  return {
    db,
    async *rows<R>(query: Compilable<R>, size: number, options: RowsOptions = {}): AsyncGenerator<R[]> {
      if (ended !== undefined) throw new Error('The read snapshot has ended.');
      const cursor = await open(query.compile(), options);
      cursors.add(cursor);
      try {
        for (;;) {
          if (ended !== undefined) return;
          const chunk = (await cursor.next(size)) as R[];
          if (chunk.length > 0) yield chunk;
          if (chunk.length < size) return;
        }
      } finally {
        if (cursors.delete(cursor)) await cursor.close();
      }
    },
    end() {
      ended ??= (async () => {
        const open = [...cursors];
        cursors.clear();
        try {
          for (const cursor of open) await cursor.close();
        } finally {
          await finish();
        }
      })();
      return ended;
    },
  };
}

let cursorNames = 0;

/**
 * A held snapshot on PostgreSQL: a REPEATABLE READ, READ ONLY transaction (one pool connection,
 * held until `end()`), whose queries are read through a server-side cursor (DECLARE … FETCH).
 */
export async function postgresSnapshot(db: Kysely<Database>): Promise<HeldSnapshot> {
  const trx = await db.startTransaction().setIsolationLevel('repeatable read').setAccessMode('read only').execute();
  // What cursor_tuple_fraction is in this transaction: a snapshot's reads are usually all of one kind.
  let wholeResults = false;
  return heldSnapshot(
    trx,
    async (query, options) => {
      const readToEnd = options.readToEnd === true;
      if (readToEnd !== wholeResults) {
        await trx.executeQuery(CompiledQuery.raw(`SET LOCAL cursor_tuple_fraction = ${readToEnd ? '1' : 'DEFAULT'}`));
        wholeResults = readToEnd;
      }
      cursorNames = (cursorNames + 1) % 1_000_000;
      const name = `roster_rows_${cursorNames}`;
      await trx.executeQuery(CompiledQuery.raw(`DECLARE ${name} NO SCROLL CURSOR FOR ${query.sql}`, [...query.parameters]));
      return {
        async next(size) {
          return (await trx.executeQuery(CompiledQuery.raw(`FETCH FORWARD ${Math.max(1, Math.floor(size))} FROM ${name}`))).rows as unknown[];
        },
        async close() {
          // Ended with the transaction anyway; closed now so that a list's next group starts clean.
          await trx.executeQuery(CompiledQuery.raw(`CLOSE ${name}`)).catch(() => {});
        },
      };
    },
    async () => {
      try {
        await trx.rollback().execute();
      } catch {
        // A connection lost mid-read: the pool discards it; the read's own error is the one reported.
      }
    },
  );
}
