/**
 * What differs between SQLite and PostgreSQL, in one place (STYLE.md §1). Everything else in
 * store/ is shared Kysely code.
 */
import { sql, type RawBuilder } from 'kysely';

export interface DialectAdapter {
  readonly name: 'sqlite' | 'postgres';
  /** Column type for JSON documents. */
  readonly jsonColumnType: string;
  /** Column definition for an auto-incrementing integer primary key. */
  readonly serialPrimaryKey: string;
  /**
   * The value at `path` inside a JSON document column, as SQL text (strings unquoted).
   * Booleans come out as `'true'`/`'false'` on both databases, numbers as their text.
   */
  jsonText(document: RawBuilder<unknown>, path: readonly string[]): RawBuilder<string | null>;
  /**
   * A table expression with one row per element of the JSON array at `path`, aliased `alias`,
   * for use in `EXISTS (SELECT 1 FROM <this> WHERE …)`.
   */
  jsonArrayElements(document: RawBuilder<unknown>, path: readonly string[], alias: string): RawBuilder<unknown>;
  /** The document without its top-level member `key` (an extension removed from every resource). */
  jsonWithout(document: RawBuilder<unknown>, key: string): RawBuilder<unknown>;
  /** The value at `path` inside one element produced by jsonArrayElements (empty path: the element itself). */
  jsonElementText(alias: string, path: readonly string[]): RawBuilder<string | null>;
  /**
   * The 1-based position of `needle` in `haystack`, 0 when absent; case-sensitive on both
   * databases (SQLite's LIKE ignores ASCII case, so it cannot test caseExact containment).
   */
  strpos(haystack: RawBuilder<unknown>, needle: RawBuilder<unknown>): RawBuilder<number>;
  /**
   * The expression compared in code-point order, as SQLite's default BINARY collation does;
   * for ordering (`gt`, `lt`, sortBy) only, so that equality keeps using the indexes.
   */
  binaryOrder(expression: RawBuilder<unknown>): RawBuilder<unknown>;
  /**
   * The largest of two or more values that are never NULL (SQLite's max() would answer NULL
   * for a NULL argument, PostgreSQL's GREATEST would skip it: wrap nullable ones in coalesce).
   */
  greatest(values: readonly RawBuilder<unknown>[]): RawBuilder<string>;
  /**
   * Whether, in `ORDER BY … LIMIT n` without OFFSET, subqueries of the select list run for the
   * n rows returned only: PostgreSQL evaluates costly ones after its sort and limit, SQLite's
   * sorter for every row it sorts. Decides whether a page is read in one statement (users.ts).
   */
  readonly limitsSelectListWork: boolean;
  /**
   * Whether each statement is a round trip to a server that plans it (PostgreSQL), rather than
   * a call into this process (SQLite). Decides whether the members of a page of groups are read
   * by one statement or by one per group (memberships.ts membersOfGroupsInChunks), and whether a
   * search of every user, or a read of the event feed limited to some types, is read in windows
   * with turns of the event loop between them, since a statement in this process holds every
   * other request until it ends (accounts.ts list, event-feed.ts).
   */
  readonly remoteStatements: boolean;
  /**
   * Whether SELECT … FOR UPDATE / FOR SHARE exist. PostgreSQL locks rows; SQLite has no row
   * locks and needs none, since its transactions are serialised (BEGIN IMMEDIATE, sqlite.ts).
   */
  readonly supportsRowLocks: boolean;
  /**
   * The largest value a serial column's counter has handed out, rows deleted since included
   * (one row, `last`; none or null when it never handed one out): db copy carries it over, so
   * that the target never hands out a value the source did (an event id after a restore).
   */
  lastSerial(table: string, column: string): RawBuilder<{ last: number | string | null }>;
  /**
   * After rows were inserted with explicit values for a serial column (db copy), the
   * statements that make the next generated value follow the largest one and `atLeast`.
   */
  resyncSerial(table: string, column: string, atLeast: number): RawBuilder<unknown>[];
  /**
   * How the event feed puts transactions in commit order (store/journal.ts), the one place
   * where "one order, never a skip" differs between databases:
   *
   * - `serialised` (SQLite): writes are serialised (BEGIN IMMEDIATE, sqlite.ts), so event
   *   ids are in commit order; an event's `tx` is `event_feed.tx_offset` (0 until a copy).
   * - `at-commit` (PostgreSQL): an event is written with `pendingTx`, a placeholder below 0
   *   unique to its transaction, and the database numbers the transaction at COMMIT, under a
   *   lock held until the commit is done (migration 015's trigger): commit order, whatever
   *   order the transactions started, wrote or waited for each other's rows in.
   *
   * An adapter for another database must do one or the other.
   */
  readonly feedNumbering: { readonly kind: 'serialised' } | { readonly kind: 'at-commit'; readonly pendingTx: RawBuilder<number> };
  /**
   * Whether `WITH changed AS (DELETE … RETURNING …) INSERT … SELECT … FROM changed` works
   * (PostgreSQL, CockroachDB). Without it (SQLite) the rows a statement will change are read
   * first, which is exact only because SQLite's writes are serialised.
   */
  readonly dataModifyingCte: boolean;
  /** A JSON object built from SQL values (nest by passing jsonObject results as values). */
  jsonObject(entries: ReadonlyArray<readonly [string, RawBuilder<unknown>]>): RawBuilder<unknown>;
  /** A jsonObject result as JSON text, for a TEXT column. */
  jsonAsText(json: RawBuilder<unknown>): RawBuilder<string>;
  /** Serialises a JSON document for a parameter of jsonColumnType. */
  toJsonParameter(document: unknown): unknown;
  /** Reads a jsonColumnType value back into an object. */
  fromJsonColumn(value: unknown): unknown;
}

/**
 * A JSON path as an SQL literal. Keys come from the schema (attribute names and URNs), never
 * from raw client text, so they need no parameter (which would count against SQLite's limit
 * on bound values); quoted all the same, since URNs contain ':' and '.'.
 */
function jsonPathLiteral(path: readonly string[]): RawBuilder<string> {
  return sql.lit('$' + path.map((key) => `."${key.replace(/"/g, '')}"`).join(''));
}

/** SQLite: JSON kept as TEXT and read with the JSON1 functions. */
export const sqliteDialect: DialectAdapter = {
  name: 'sqlite',
  jsonColumnType: 'TEXT',
  serialPrimaryKey: 'INTEGER PRIMARY KEY AUTOINCREMENT',
  jsonText(document, path) {
    const p = jsonPathLiteral(path);
    // json_extract gives 1/0 for JSON booleans; json_type tells them apart from numbers.
    return sql<string | null>`(CASE json_type(${document}, ${p}) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(json_extract(${document}, ${p}) AS TEXT) END)`;
  },
  jsonArrayElements(document, path, alias) {
    return sql`json_each(${document}, ${jsonPathLiteral(path)}) AS ${sql.ref(alias)}`;
  },
  jsonWithout(document, key) {
    return sql`json_remove(${document}, ${jsonPathLiteral([key])})`;
  },
  jsonElementText(alias, path) {
    const value = sql.ref(`${alias}.value`);
    if (path.length === 0) {
      const type = sql.ref(`${alias}.type`);
      return sql<string | null>`(CASE ${type} WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(${value} AS TEXT) END)`;
    }
    const p = jsonPathLiteral(path);
    return sql<string | null>`(CASE json_type(${value}, ${p}) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(json_extract(${value}, ${p}) AS TEXT) END)`;
  },
  strpos(haystack, needle) {
    return sql<number>`instr(${haystack}, ${needle})`;
  },
  binaryOrder(expression) {
    return expression;
  },
  greatest(values) {
    // max() with several arguments is SQLite's scalar maximum (with one, it is the aggregate).
    return sql<string>`max(${sql.join(values)})`;
  },
  limitsSelectListWork: false,
  remoteStatements: false,
  supportsRowLocks: false,
  lastSerial(table) {
    return sql<{ last: number | null }>`SELECT seq AS last FROM sqlite_sequence WHERE name = ${table}`;
  },
  resyncSerial(table, _column, atLeast) {
    // AUTOINCREMENT already follows the largest id inserted; sqlite_sequence may lack the row.
    return [
      sql`UPDATE sqlite_sequence SET seq = max(seq, CAST(${atLeast} AS INTEGER)) WHERE name = ${table}`,
      sql`INSERT INTO sqlite_sequence (name, seq) SELECT ${table}, CAST(${atLeast} AS INTEGER) WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = ${table})`,
    ];
  },
  feedNumbering: { kind: 'serialised' },
  dataModifyingCte: false,
  jsonObject(entries) {
    return sql`json_object(${sql.join(entries.map(([key, value]) => sql`${sql.lit(key)}, ${value}`))})`;
  },
  jsonAsText(json) {
    return sql<string>`${json}`;
  },
  toJsonParameter(document) {
    return JSON.stringify(document);
  },
  fromJsonColumn(value) {
    return typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
  },
};

/** PostgreSQL: JSON kept as JSONB and read with its operators. */
export const postgresDialect: DialectAdapter = {
  name: 'postgres',
  jsonColumnType: 'JSONB',
  serialPrimaryKey: 'BIGSERIAL PRIMARY KEY',
  jsonText(document, path) {
    return sql<string | null>`(${document} #>> ${sql.lit(`{${path.map((k) => `"${k}"`).join(',')}}`)})`;
  },
  jsonArrayElements(document, path, alias) {
    const p = sql.lit(`{${path.map((k) => `"${k}"`).join(',')}}`);
    return sql`jsonb_array_elements(CASE jsonb_typeof(${document} #> ${p}) WHEN 'array' THEN ${document} #> ${p} ELSE '[]'::jsonb END) AS ${sql.ref(alias)}(value)`;
  },
  jsonWithout(document, key) {
    return sql`(${document} - ${key})`;
  },
  jsonElementText(alias, path) {
    const value = sql.ref(`${alias}.value`);
    if (path.length === 0) return sql<string | null>`(${value} #>> '{}')`;
    return sql<string | null>`(${value} #>> ${sql.lit(`{${path.map((k) => `"${k}"`).join(',')}}`)})`;
  },
  strpos(haystack, needle) {
    return sql<number>`strpos(${haystack}, ${needle})`;
  },
  binaryOrder(expression) {
    // The database's own collation (en_US.UTF-8, say) would order 'a' < 'B' < 'b'; "C" is
    // code-point order, like SQLite, whatever locale the database was created with.
    return sql`(${expression} COLLATE "C")`;
  },
  greatest(values) {
    return sql<string>`GREATEST(${sql.join(values)})`;
  },
  limitsSelectListWork: true,
  remoteStatements: true,
  supportsRowLocks: true,
  lastSerial(table, column) {
    return sql<{ last: string | null }>`SELECT pg_sequence_last_value(pg_get_serial_sequence(${table}, ${column})::regclass) AS last`;
  },
  resyncSerial(table, column, atLeast) {
    // Marked as called with the value given out last, so that lastSerial reads it back (it reads
    // NULL from a sequence set as not called); a sequence never used restarts at 1.
    const sequence = sql`pg_get_serial_sequence(${table}, ${column})`;
    return [
      sql`SELECT CASE WHEN last >= 1 THEN setval(${sequence}, last, true) ELSE setval(${sequence}, 1, false) END
          FROM (SELECT GREATEST(COALESCE((SELECT max(${sql.ref(column)}) FROM ${sql.table(table)}), 0), ${atLeast}::bigint) AS last) AS wanted`,
    ];
  },
  feedNumbering: {
    kind: 'at-commit',
    // Minus the 64-bit transaction id (xid8 has no direct cast to bigint; its text form is
    // the number): unique to the transaction, and below every number a committed event gets.
    pendingTx: sql<number>`(-(pg_current_xact_id()::text::bigint))`,
  },
  dataModifyingCte: true,
  jsonObject(entries) {
    // json, not jsonb: the keys keep the order given.
    return sql`json_build_object(${sql.join(entries.map(([key, value]) => sql`${sql.lit(key)}::text, ${value}`))})`;
  },
  jsonAsText(json) {
    return sql<string>`(${json})::text`;
  },
  toJsonParameter(document) {
    return JSON.stringify(document);
  },
  fromJsonColumn(value) {
    return typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
  },
};
