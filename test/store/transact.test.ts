/**
 * Write transactions (store/transact.ts): concurrent writes, which SQLite commits in groups,
 * each succeed or fail on their own, see the writes before them, and are on disk when
 * acknowledged.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { sql } from 'kysely';
import type { Store } from '../../src/store/index.ts';
import { GROUP_COMMIT_ACCESS_MODE, transact, withoutWaitingForDisk } from '../../src/store/transact.ts';
import { eachDatabase, openTestStore } from '../support/databases.ts';

const AT = '2026-01-01T00:00:00.000Z';

eachDatabase('concurrent write transactions', (database) => {
  let store: Store;
  before(async () => {
    store = await openTestStore(database);
  });
  after(async () => {
    await store.close();
  });

  const stored = async (prefix: string) =>
    (await store.db.selectFrom('settings').select('key').where('key', 'like', `${prefix}%`).orderBy('key').execute()).map((row) => row.key);

  it('a write that fails among concurrent writes leaves nothing behind, and the others are stored', async () => {
    const outcomes = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        transact(store.db, async (trx) => {
          await trx.insertInto('settings').values({ key: `batch-${i}-a`, value: 'v', updated_at: AT }).execute();
          if (i === 4) throw new Error('refused');
          // A duplicate key fails in the database itself.
          if (i === 7) await trx.insertInto('settings').values({ key: 'batch-0-a', value: 'v', updated_at: AT }).execute();
          await trx.insertInto('settings').values({ key: `batch-${i}-b`, value: 'v', updated_at: AT }).execute();
          return i;
        }),
      ),
    );
    assert.deepEqual(
      outcomes.map((outcome) => outcome.status),
      ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled'],
    );
    assert.equal((outcomes[4] as PromiseRejectedResult).reason.message, 'refused');
    assert.deepEqual(outcomes.filter((o) => o.status === 'fulfilled').map((o) => (o as PromiseFulfilledResult<number>).value), [0, 1, 2, 3, 5, 6, 8, 9]);
    const expected = [0, 1, 2, 3, 5, 6, 8, 9].flatMap((i) => [`batch-${i}-a`, `batch-${i}-b`]).sort();
    assert.deepEqual(await stored('batch-'), expected);
  });

  if (database === 'sqlite') {
    // SQLite has one writer: concurrent writes run one after the other (PostgreSQL runs them
    // side by side, and a read-then-write needs a row lock there).
    it('each of concurrent writes sees the writes queued before it', async () => {
      // Each reads the counter and writes it plus one: lost updates would leave less than 20.
      await Promise.all(
        Array.from({ length: 20 }, () =>
          transact(store.db, async (trx) => {
            const row = await trx.selectFrom('settings').select('value').where('key', '=', 'counter').executeTakeFirst();
            const next = String(Number(row?.value ?? 0) + 1);
            if (row === undefined) await trx.insertInto('settings').values({ key: 'counter', value: next, updated_at: AT }).execute();
            else await trx.updateTable('settings').set({ value: next }).where('key', '=', 'counter').execute();
          }),
        ),
      );
      const counter = await store.db.selectFrom('settings').select('value').where('key', '=', 'counter').executeTakeFirstOrThrow();
      assert.equal(counter.value, '20');
    });

    it('writes that arrive in separate turns of the event loop, as requests on separate sockets do, are committed together', async () => {
      // Each request is read in its own I/O callback; eight that arrived together must share
      // one commit (and its sync), not take eight. The transaction object tells the commits apart.
      const transactions = new Set<unknown>();
      const arrivals = Array.from(
        { length: 8 },
        (_, i) =>
          new Promise<void>((resolve, reject) =>
            setImmediate(() => {
              transact(store.db, async (trx) => {
                transactions.add(trx);
                await trx.insertInto('settings').values({ key: `arrived-${i}`, value: 'v', updated_at: AT }).execute();
              }).then(resolve, reject);
            }),
          ),
      );
      await Promise.all(arrivals);
      assert.equal(transactions.size, 1);
      assert.equal((await stored('arrived-')).length, 8);
    });

    it('SQLite syncs its log at every commit, so an acknowledged write survives a power cut', async () => {
      const result = await sql<{ synchronous: number }>`PRAGMA synchronous`.execute(store.db);
      // 2 is FULL; NORMAL (1) in WAL mode syncs only at checkpoints.
      assert.equal(result.rows[0]?.synchronous, 2);
    });

    it('writes that need not wait for the disk run alone, and every other write still syncs (FULL) before and after them', async () => {
      const seen: number[] = [];
      const relaxed = withoutWaitingForDisk(store, async (db) => {
        seen.push((await sql<{ synchronous: number }>`PRAGMA synchronous`.execute(db)).rows[0]!.synchronous);
        await db.insertInto('settings').values({ key: 'behind-1', value: 'v', updated_at: AT }).execute();
        // A write queued meanwhile waits for the connection: it never commits under NORMAL.
        await new Promise((resolve) => setTimeout(resolve, 20));
        await db.insertInto('settings').values({ key: 'behind-2', value: 'v', updated_at: AT }).execute();
      });
      const durable = transact(store.db, async (trx) => {
        seen.push((await sql<{ synchronous: number }>`PRAGMA synchronous`.execute(trx)).rows[0]!.synchronous);
        await trx.insertInto('settings').values({ key: 'behind-3', value: 'v', updated_at: AT }).execute();
      });
      await Promise.all([relaxed, durable]);
      assert.deepEqual(seen, [1, 2]);
      assert.deepEqual(await stored('behind-'), ['behind-1', 'behind-2', 'behind-3']);
      assert.equal((await sql<{ synchronous: number }>`PRAGMA synchronous`.execute(store.db)).rows[0]?.synchronous, 2);
    });

    it('a failing write that need not wait for the disk still leaves the connection syncing every commit', async () => {
      await assert.rejects(
        withoutWaitingForDisk(store, async (db) => {
          await db.insertInto('settings').values({ key: 'counter', value: 'dup', updated_at: AT }).execute();
        }),
      );
      assert.equal((await sql<{ synchronous: number }>`PRAGMA synchronous`.execute(store.db)).rows[0]?.synchronous, 2);
    });

    it('the group commit keeps its savepoints\' journal in memory; reads and other transactions keep temporary storage on disk', async () => {
      const tempStore = async () => (await sql<{ temp_store: number }>`PRAGMA temp_store`.execute(store.db)).rows[0]?.temp_store;
      // 0: the build's default, files (a large sort of a read spills to disk instead of memory).
      assert.equal(await tempStore(), 0);
      const during: unknown[] = [];
      // Concurrent writes, so that they commit as one group, each in its own savepoint; one fails.
      const outcomes = await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) =>
          transact(store.db, async (trx) => {
            during.push((await sql<{ temp_store: number }>`PRAGMA temp_store`.execute(trx)).rows[0]?.temp_store);
            await trx.insertInto('settings').values({ key: `journal-${i}`, value: 'x'.repeat(5000), updated_at: AT }).execute();
            if (i === 3) throw new Error('this one fails');
          }),
        ),
      );
      assert.deepEqual(outcomes.map((outcome) => outcome.status), ['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
      // 2: memory, for every write of the group.
      assert.deepEqual(during, [2, 2, 2, 2, 2, 2]);
      assert.deepEqual(await stored('journal-'), ['journal-0', 'journal-1', 'journal-2', 'journal-4', 'journal-5']);
      assert.equal(await tempStore(), 0);
      // Other write transactions (migrations, db copy) keep the default: a large sort in them
      // (an index built over a big table) still spills to a file.
      const plain = await store.db.transaction().execute(async (trx) => (await sql<{ temp_store: number }>`PRAGMA temp_store`.execute(trx)).rows[0]?.temp_store);
      assert.equal(plain, 0);
      // A group commit's transaction that fails to begin (here: one already open on the connection) leaves it as it was.
      await store.db.connection().execute(async (connection) => {
        await sql`BEGIN`.execute(connection);
        try {
          await assert.rejects(connection.transaction().setAccessMode(GROUP_COMMIT_ACCESS_MODE).execute(async () => undefined));
        } finally {
          await sql`ROLLBACK`.execute(connection);
        }
      });
      assert.equal(await tempStore(), 0);
    });
  }
});

