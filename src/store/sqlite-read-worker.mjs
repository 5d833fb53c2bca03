// The SQLite reader thread (sqlite-readers.ts): the read-only connections of held snapshots live
// here, so that a statement that runs for seconds (a list no index serves, at a million users)
// holds this thread and not the one answering every other request: better-sqlite3 runs a
// statement to its end before it returns.
//
// Plain JavaScript, on purpose: a worker thread does not inherit the TypeScript loader the tests
// and `npm run dev` run under (Node 20), and loading it into the thread took most of a second;
// this file starts in milliseconds everywhere and is copied to dist/ as it is (scripts/build.mjs).
//
// Messages: { id, op, connection, ... }; every one is answered { id, result } or { id, error }.
// Each connection runs what it is sent in order; a connection is one snapshot at a time.
import { parentPort } from 'node:worker_threads';
import SQLite from 'better-sqlite3';

/** Statements kept per connection (as the main connection keeps its own, sqlite.ts). */
const STATEMENT_CACHE_SIZE = 200;

/** @type {Map<number, { raw: SQLite.Database, statements: Map<string, SQLite.Statement>, cursor?: IterableIterator<unknown> }>} */
const connections = new Map();

/** Buffers come through postMessage as plain Uint8Arrays, which better-sqlite3 does not bind. */
function bindable(parameters) {
  return parameters.map((value) => (value instanceof Uint8Array && !Buffer.isBuffer(value) ? Buffer.from(value.buffer, value.byteOffset, value.byteLength) : value));
}

function connectionOf(message) {
  const connection = connections.get(message.connection);
  if (connection === undefined) throw new Error(`No reader connection ${message.connection}.`);
  return connection;
}

function prepared(connection, text) {
  let statement = connection.statements.get(text);
  if (statement !== undefined) {
    connection.statements.delete(text);
  } else {
    statement = connection.raw.prepare(text);
    if (connection.statements.size >= STATEMENT_CACHE_SIZE) connection.statements.delete(connection.statements.keys().next().value);
  }
  connection.statements.set(text, statement);
  return statement;
}

const operations = {
  open(message) {
    const raw = new SQLite(message.path, { fileMustExist: true });
    try {
      // Reads only; waits as the main connection does for another process's checkpoint or recovery.
      raw.pragma('query_only = ON');
      raw.pragma('busy_timeout = 5000');
      // 2 MB of pages rather than better-sqlite3's 16 MB: the cache also bounds the sorter, which
      // spills to a temporary file past it, and sixteen answers in progress held 16 MB each.
      raw.pragma('cache_size = -2000');
    } catch (error) {
      raw.close();
      throw error;
    }
    connections.set(message.connection, { raw, statements: new Map() });
    return null;
  },
  begin(message) {
    connectionOf(message).raw.prepare('BEGIN').run();
    return null;
  },
  query(message) {
    const statement = prepared(connectionOf(message), message.sql);
    const parameters = bindable(message.parameters);
    if (statement.reader) return { rows: statement.all(...parameters) };
    // A connection that only reads (query_only) runs nothing else that returns rows: a PRAGMA, say.
    statement.run(...parameters);
    return { rows: [] };
  },
  iterate(message) {
    const connection = connectionOf(message);
    // A statement of its own: a kept one could be asked for again while this one is read.
    connection.cursor = connection.raw.prepare(message.sql).iterate(...bindable(message.parameters));
    return null;
  },
  next(message) {
    const connection = connectionOf(message);
    const rows = [];
    let done = connection.cursor === undefined;
    while (!done && rows.length < message.size) {
      const step = connection.cursor.next();
      if (step.done === true) done = true;
      else rows.push(step.value);
    }
    if (done) connection.cursor = undefined;
    return { rows, done };
  },
  closeCursor(message) {
    const connection = connectionOf(message);
    // Resets the statement: the snapshot cannot end while one of its statements is still open.
    connection.cursor?.return?.();
    connection.cursor = undefined;
    return null;
  },
  end(message) {
    const connection = connectionOf(message);
    connection.cursor?.return?.();
    connection.cursor = undefined;
    if (connection.raw.inTransaction) connection.raw.prepare('COMMIT').run();
    return null;
  },
  close(message) {
    const connection = connections.get(message.connection);
    connections.delete(message.connection);
    connection?.raw.close();
    return null;
  },
};

parentPort.on('message', (message) => {
  try {
    parentPort.postMessage({ id: message.id, result: operations[message.op](message) });
  } catch (error) {
    const { name, message: text, code } = error instanceof Error ? error : new Error(String(error));
    parentPort.postMessage({ id: message.id, error: { name, message: text, code } });
  }
});
