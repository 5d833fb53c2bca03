/**
 * Queries compiled once (store/compiled.ts): each call gets the rows of its own values, in the
 * database or in a transaction, and a value that would not be a bound parameter is refused.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { sql } from 'kysely';
import { compiledOnce } from '../../src/store/compiled.ts';
import type { Executor } from '../../src/store/executor.ts';
import { openStore, type DatabaseLocation, type Store } from '../../src/store/index.ts';
import { POSTGRES_URL, createTestDatabase, eachDatabase, openTestStore } from '../support/databases.ts';

const AT = '2026-01-01T00:00:00.000Z';

eachDatabase('queries compiled once', (database) => {
  let store: Store;
  before(async () => {
    store = await openTestStore(database);
    await store.db
      .insertInto('settings')
      .values([
        { key: 'one', value: '1', updated_at: AT },
        { key: 'two', value: '2', updated_at: AT },
        { key: 'ONE-upper', value: 'U', updated_at: AT },
      ])
      .execute();
  });
  after(async () => {
    await store.close();
  });

  it('answers each call with the rows of its own values, on the database and in a transaction', async () => {
    const byKeys = compiledOnce((db: Executor, first: string, second: string) =>
      db.selectFrom('settings').select('value').where((eb) => eb.or([eb('key', '=', first), eb(sql<string>`lower(key)`, '=', sql<string>`lower(${second})`)])).orderBy('value'),
    );
    assert.deepEqual(await byKeys(store.db, 'one', 'nothing'), [{ value: '1' }]);
    assert.deepEqual(await byKeys(store.db, 'two', 'one-UPPER'), [{ value: '2' }, { value: 'U' }]);
    await store.db.transaction().execute(async (trx) => {
      await trx.updateTable('settings').set({ value: '22' }).where('key', '=', 'two').execute();
      assert.deepEqual(await byKeys(trx, 'two', 'x'), [{ value: '22' }]);
      throw new Error('roll back');
    }).catch(() => undefined);
    assert.deepEqual(await byKeys(store.db, 'nothing', 'two'), [{ value: '2' }]);
  });

  it('refuses a query in which a value is not a bound parameter', async () => {
    const inlined = compiledOnce((db: Executor, key: string) => db.selectFrom('settings').select('value').where('key', '=', sql.lit(key)));
    await assert.rejects(inlined(store.db, 'one'), /is not a bound parameter/);
  });
});

it('one compiled query serves a SQLite and a PostgreSQL store in the same process', { skip: POSTGRES_URL === undefined ? 'PostgreSQL skipped: set ROSTER_TEST_POSTGRES_URL to run it' : false }, async () => {
  const byKey = compiledOnce((db: Executor, key: string) => db.selectFrom('settings').select('value').where('key', '=', key));
  const stores = [await openTestStore('sqlite'), await openTestStore('postgres'), await openTestStore('sqlite')];
  try {
    for (const [i, store] of stores.entries()) {
      await store.db.insertInto('settings').values({ key: 'k', value: `store ${i}`, updated_at: AT }).execute();
      assert.deepEqual(await byKey(store.db, 'k'), [{ value: `store ${i}` }]);
    }
  } finally {
    for (const store of stores) await store.close();
  }
});

it('on PostgreSQL a query compiled once is prepared once per connection, then only executed, and answers as before', { skip: POSTGRES_URL === undefined ? 'PostgreSQL skipped: set ROSTER_TEST_POSTGRES_URL to run it' : false }, async () => {
  const byKey = compiledOnce((db: Executor, key: string) => db.selectFrom('settings').select(['key', 'value']).where('key', '=', key));
  const store = await openTestStore('postgres');
  try {
    await store.db.insertInto('settings').values([{ key: 'a', value: 'A', updated_at: AT }, { key: 'b', value: 'B', updated_at: AT }]).execute();
    await store.db.connection().execute(async (connection) => {
      assert.deepEqual(await byKey(connection, 'a'), [{ key: 'a', value: 'A' }]);
      assert.deepEqual(await byKey(connection, 'b'), [{ key: 'b', value: 'B' }]);
      assert.deepEqual(await byKey(connection, 'none'), []);
      const prepared = await sql<{ statement: string; calls: number }>`SELECT statement, (generic_plans + custom_plans)::int AS calls FROM pg_prepared_statements`.execute(connection);
      const ours = prepared.rows.filter((row) => row.statement === 'select "key", "value" from "settings" where "key" = $1');
      assert.equal(ours.length, 1, JSON.stringify(prepared.rows));
      assert.equal(ours[0]?.calls, 3);
      // Other queries are not kept as prepared statements.
      assert.ok(!prepared.rows.some((row) => row.statement.includes('pg_prepared_statements')));
    });
  } finally {
    await store.close();
  }
});

it('with prepared statements off (ROSTER_DATABASE_PREPARED_STATEMENTS=off) nothing is kept on the connection, and the answers are the same', { skip: POSTGRES_URL === undefined ? 'PostgreSQL skipped: set ROSTER_TEST_POSTGRES_URL to run it' : false }, async () => {
  const byKey = compiledOnce((db: Executor, key: string) => db.selectFrom('settings').select(['key', 'value']).where('key', '=', key));
  const scratch = await createTestDatabase('postgres');
  assert.equal(scratch.location.kind, 'postgres');
  const store = await openStore({ ...scratch.location, preparedStatements: false } as DatabaseLocation);
  try {
    await store.db.insertInto('settings').values([{ key: 'a', value: 'A', updated_at: AT }]).execute();
    await store.db.connection().execute(async (connection) => {
      assert.deepEqual(await byKey(connection, 'a'), [{ key: 'a', value: 'A' }]);
      assert.deepEqual(await byKey(connection, 'none'), []);
      const prepared = await sql<{ statement: string }>`SELECT statement FROM pg_prepared_statements`.execute(connection);
      assert.deepEqual(prepared.rows, []);
    });
  } finally {
    await store.close();
    await scratch.drop();
  }
});
