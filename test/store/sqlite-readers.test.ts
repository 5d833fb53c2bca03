/**
 * SQLite's held snapshots run on reader threads (store/sqlite-readers.ts): a long read holds its
 * thread, not the one answering requests, and what a snapshot answers is what the main
 * connection would have answered.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { parseFilter } from '../../src/scim/filter/index.ts';
import { createServices } from '../../src/services.ts';
import type { Store } from '../../src/store/index.ts';
import { openTestStore } from '../support/databases.ts';

/** A statement that counts to `n` in SQL: seconds of one thread for tens of millions, whatever the data. */
function countTo(n: number) {
  return sql<{ n: number }>`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${n}) SELECT count(*) AS n FROM c`;
}

describe('SQLite read snapshots on reader threads', () => {
  let store: Store;
  before(async () => {
    store = await openTestStore('sqlite');
  });
  after(async () => {
    await store.close();
  });

  test('while a snapshot runs a long statement, statements on the main connection are answered', async () => {
    const snapshot = await store.openSnapshot();
    try {
      const order: string[] = [];
      const long = countTo(5_000_000)
        .execute(snapshot.db)
        .then((result) => {
          order.push('long read');
          return result.rows[0]?.n;
        });
      // Run on the main connection after the long read started; on the main thread they would wait for it.
      for (let i = 0; i < 3; i += 1) {
        await sql`SELECT 1`.execute(store.db);
        order.push(`main ${i}`);
      }
      assert.equal(await long, 5_000_000);
      assert.deepEqual(order, ['main 0', 'main 1', 'main 2', 'long read']);
    } finally {
      await snapshot.end();
    }
  });

  test('several snapshots at once each see their own snapshot, and read what the main connection wrote before they began', async () => {
    await store.db.insertInto('settings').values({ key: 'reader-test', value: '"first"', updated_at: new Date().toISOString() }).execute();
    const early = await store.openSnapshot();
    // A snapshot begins at its first read (SQLite's BEGIN is deferred).
    const read = (db: Store['db'] | typeof early.db) => db.selectFrom('settings').select('value').where('key', '=', 'reader-test').executeTakeFirstOrThrow();
    assert.equal((await read(early.db)).value, '"first"');
    await store.db.updateTable('settings').set({ value: '"second"' }).where('key', '=', 'reader-test').execute();
    const later = await Promise.all(Array.from({ length: 6 }, () => store.openSnapshot()));
    try {
      assert.equal((await read(early.db)).value, '"first"', 'after the main connection wrote');
      for (const snapshot of later) assert.equal((await read(snapshot.db)).value, '"second"');
    } finally {
      await Promise.all([early, ...later].map((snapshot) => snapshot.end()));
    }
  });

  test('rows come a chunk at a time, blobs as Buffers, and a failed statement keeps SQLite\'s code', async () => {
    await store.db
      .insertInto('settings')
      .values(Array.from({ length: 2_500 }, (_, i) => ({ key: `chunk-${String(i).padStart(4, '0')}`, value: 'null', updated_at: new Date().toISOString() })))
      .execute();
    const snapshot = await store.openSnapshot();
    try {
      const chunks: number[] = [];
      const keys: string[] = [];
      for await (const chunk of snapshot.rows(snapshot.db.selectFrom('settings').select('key').where('key', 'like', 'chunk-%').orderBy('key'), 1_000)) {
        chunks.push(chunk.length);
        keys.push(...chunk.map((row) => row.key));
      }
      assert.deepEqual(chunks, [1_000, 1_000, 500]);
      assert.equal(keys[0], 'chunk-0000');
      assert.equal(keys.at(-1), 'chunk-2499');
      const values = snapshot.db.selectNoFrom(sql<Buffer>`x'00ff10'`.as('blob'));
      const { blob } = await values.executeTakeFirstOrThrow();
      assert.ok(Buffer.isBuffer(blob), 'a blob is a Buffer, as the main connection gives it');
      assert.deepEqual([...blob], [0, 255, 16]);
      await assert.rejects(sql`SELECT * FROM no_such_table`.execute(snapshot.db), (error: unknown) => error instanceof Error && (error as { code?: string }).code === 'SQLITE_ERROR' && /no such table: no_such_table/.test(error.message));
      // The snapshot goes on after a failed statement.
      assert.equal((await sql<{ one: number }>`SELECT 1 AS one`.execute(snapshot.db)).rows[0]?.one, 1);
    } finally {
      await snapshot.end();
    }
  });
  test('with both reader threads busy, an IdP lookup list is answered at once and a list no index serves waits its turn', async () => {
    const { users, rootSearch } = createServices(store);
    const parse = (filter: string) => {
      const parsed = parseFilter(filter);
      if (!parsed.ok) throw new Error(parsed.error.message);
      return parsed.value;
    };
    const list = (filter: string) =>
      users.list({ filter: parse(filter), locationBase: 'https://roster.test/api/scim/v2/Users/', descending: false, page: { kind: 'index', offset: 0, limit: 10 }, withGroups: true });
    // The root search (/.search) chooses as the lists do.
    const search = (filter: string) =>
      rootSearch.list({
        filter: parse(filter),
        locationBases: { User: 'https://roster.test/api/scim/v2/Users/', Group: 'https://roster.test/api/scim/v2/Groups/' },
        descending: false,
        page: { kind: 'index', offset: 0, limit: 10 },
        withGroups: false,
        withMembers: false,
      });
    await list('title eq "warm-up"');
    // Two snapshots, each on its own thread (the second opens while the first is busy), each running a long statement.
    const first = await store.openSnapshot();
    const order: string[] = [];
    const long1 = countTo(5_000_000).execute(first.db).then(() => order.push('long read'));
    // A turn of the event loop: the statement has been sent to its thread by then, which is busy.
    await new Promise((resolve) => setImmediate(resolve));
    const second = await store.openSnapshot();
    const long2 = countTo(5_000_000).execute(second.db).then(() => order.push('long read'));
    // The same for the second thread.
    await new Promise((resolve) => setImmediate(resolve));
    try {
      const lookup = list('externalId eq "ext-1"').then(() => order.push('lookup'));
      const scan = list('title eq "Boss"').then(() => order.push('scan'));
      const rootScan = search('title eq "Boss"').then(() => order.push('root scan'));
      await Promise.all([long1, long2, lookup, scan, rootScan]);
      assert.equal(order[0], 'lookup', `the lookup waited for a reader thread: ${order.join(', ')}`);
      assert.ok(order.indexOf('scan') > order.indexOf('long read'), `the scan ran on the main connection: ${order.join(', ')}`);
      assert.ok(order.indexOf('root scan') > order.indexOf('long read'), `the root search's scan ran on the main connection: ${order.join(', ')}`);
    } finally {
      await Promise.all([first.end(), second.end()]);
    }
  });
});
