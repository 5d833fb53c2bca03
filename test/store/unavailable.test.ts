/** Which database errors mean "the database cannot be reached or written now" (answered 503). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isDatabaseTimeout, isDatabaseUnavailable } from '../../src/store/index.ts';
import { QueryDeadlineError } from '../../src/store/errors.ts';

const withCode = (code: string, message = 'x'): Error => Object.assign(new Error(message), { code });

describe('isDatabaseUnavailable', () => {
  test('PostgreSQL shutting down, restarting or refusing connections, and lost sockets, are unavailability', () => {
    for (const code of ['57P01', '57P02', '57P03', '08006', '08001', '08P01', '53300', 'ECONNREFUSED', 'ECONNRESET']) {
      assert.equal(isDatabaseUnavailable(withCode(code)), true, code);
    }
    assert.equal(isDatabaseUnavailable(new Error('Connection terminated unexpectedly')), true);
    assert.equal(isDatabaseUnavailable(new Error('timeout exceeded when trying to connect')), true);
    assert.equal(isDatabaseUnavailable(new Error('wrapped', { cause: withCode('ECONNREFUSED') })), true);
  });

  test('a SQLite file on a full or read-only disk is unavailability', () => {
    for (const code of ['SQLITE_FULL', 'SQLITE_READONLY', 'SQLITE_READONLY_DBMOVED', 'SQLITE_CANTOPEN', 'SQLITE_IOERR', 'SQLITE_IOERR_WRITE']) {
      assert.equal(isDatabaseUnavailable(withCode(code)), true, code);
    }
  });

  test('errors of the request or of the code are not', () => {
    for (const code of ['23505', '22P02', '42P01', '40001', 'SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_ERROR', 'SQLITE_BUSY']) {
      assert.equal(isDatabaseUnavailable(withCode(code)), false, code);
    }
    assert.equal(isDatabaseUnavailable(new Error('boom')), false);
    assert.equal(isDatabaseUnavailable(undefined), false);
  });
});

describe('isDatabaseTimeout', () => {
  test("a connection past Roster's deadline, statement_timeout and lock_timeout are a database too slow, and unavailability", () => {
    for (const error of [new QueryDeadlineError(30_000), withCode('57014'), withCode('55P03'), new Error('wrapped', { cause: withCode('55P03') })]) {
      assert.equal(isDatabaseTimeout(error), true, String(error));
      assert.equal(isDatabaseUnavailable(error), true, String(error));
    }
  });

  test('a database that is gone, or an error of the request, is not', () => {
    for (const code of ['57P01', 'ECONNREFUSED', '23505', '40001']) assert.equal(isDatabaseTimeout(withCode(code)), false, code);
    assert.equal(isDatabaseTimeout(new Error('Connection terminated unexpectedly')), false);
  });
});
