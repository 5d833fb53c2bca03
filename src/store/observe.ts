/**
 * Who wants to know how long queries take (the metrics of http/metrics.ts): Kysely calls
 * `log` after every statement it runs, in or out of a transaction, on both databases. Each
 * listener sees the statement's kind and duration, never its text or parameters.
 */
import type { LogEvent } from 'kysely';
import type { LongReadUse } from './long-reads.ts';

/** The kind of a statement, a short fixed list (a metrics label). */
export type QueryKind = 'select' | 'insert' | 'update' | 'delete' | 'transaction' | 'other';

/** One statement the database ran (or refused). */
export interface QueryObservation {
  readonly kind: QueryKind;
  readonly durationMs: number;
  readonly failed: boolean;
}

export type QueryObserver = (observation: QueryObservation) => void;

/** How a PostgreSQL pool is used right now (node-postgres's counters). */
export interface PoolUse {
  /** Connections open, idle or lent out. */
  readonly total: number;
  readonly idle: number;
  /** Queries waiting for a connection: a sustained non-zero value means the pool is too small. */
  readonly waiting: number;
  /** ROSTER_DATABASE_POOL_SIZE. */
  readonly max: number;
  /** Held snapshots (long reads) running and waiting for their share of the pool (long-reads.ts). */
  readonly longReads: LongReadUse;
}

const NODE_KINDS: Readonly<Record<string, QueryKind>> = {
  SelectQueryNode: 'select',
  InsertQueryNode: 'insert',
  UpdateQueryNode: 'update',
  DeleteQueryNode: 'delete',
};

const FIRST_WORDS: Readonly<Record<string, QueryKind>> = {
  select: 'select',
  with: 'select',
  insert: 'insert',
  update: 'update',
  delete: 'delete',
  begin: 'transaction',
  commit: 'transaction',
  rollback: 'transaction',
  savepoint: 'transaction',
  release: 'transaction',
};

/** The kind of a statement: from the query builder's tree, or the first word of raw SQL. */
function kindOf(event: LogEvent): QueryKind {
  const fromNode = NODE_KINDS[event.query.query.kind];
  if (fromNode !== undefined) return fromNode;
  const word = /^\s*([a-z]+)/i.exec(event.query.sql)?.[1]?.toLowerCase() ?? '';
  return FIRST_WORDS[word] ?? 'other';
}

/** The listeners of one store, and the Kysely `log` function that feeds them. */
export interface QueryObservers {
  readonly log: (event: LogEvent) => void;
  /** Adds a listener; the function returned removes it. */
  add(observer: QueryObserver): () => void;
}

/**
 * A set of listeners: `tell` gives a value to each, and a listener that throws is ignored
 * (measuring or reporting must never fail the work that is measured or reported).
 */
function listeners<T>(): { tell(value: T): void; add(listener: (value: T) => void): () => void; readonly size: number } {
  const set = new Set<(value: T) => void>();
  return {
    tell(value) {
      for (const listener of set) {
        try {
          listener(value);
        } catch {
          // ignored: the listener's own problem
        }
      }
    },
    add(listener) {
      set.add(listener);
      return () => void set.delete(listener);
    },
    get size() {
      return set.size;
    },
  };
}

/** Creates an empty set of listeners. */
export function createQueryObservers(): QueryObservers {
  const observers = listeners<QueryObservation>();
  return {
    log(event) {
      if (observers.size === 0) return;
      observers.tell({ kind: kindOf(event), durationMs: event.queryDurationMillis, failed: event.level === 'error' });
    },
    add: observers.add,
  };
}

/**
 * Something that went wrong beside a statement, which the statement's own error does not tell
 * (a cancel for a statement past its deadline that could not reach PostgreSQL): for the log.
 */
export interface StoreWarning {
  readonly message: string;
  readonly error: unknown;
}

export type WarningObserver = (warning: StoreWarning) => void;

/** The warning listeners of one store: `warn` tells every one of them, `add` adds one and returns its removal. */
export function createWarningObservers(): { warn: WarningObserver; add(observer: WarningObserver): () => void } {
  const observers = listeners<StoreWarning>();
  return { warn: observers.tell, add: observers.add };
}
