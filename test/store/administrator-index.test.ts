/**
 * Whether the instance has an administrator (asked at every start) is answered from the partial
 * index `users_administrators` (migration 020), not by reading users until one is an
 * administrator: with a million users created before `admin`, that read the whole table.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CompiledQuery, sql } from 'kysely';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';
import { anyAdministrator, createUserQueries } from '../../src/store/users.ts';
import { createTestDatabase, eachDatabase, type ScratchDatabase } from '../support/databases.ts';

eachDatabase('finding an administrator', (database) => {
  let scratch: ScratchDatabase;
  let store: Store;
  before(async () => {
    scratch = await createTestDatabase(database);
    store = await openStore(scratch.location);
  });
  after(async () => {
    await store.close();
    await scratch.drop();
  });

  test('is answered from the administrators index', async () => {
    const compiled = anyAdministrator(store.db).compile();
    let plan: string[];
    if (database === 'sqlite') {
      const result = await store.db.executeQuery<{ detail: string }>(CompiledQuery.raw(`EXPLAIN QUERY PLAN ${compiled.sql}`, [...compiled.parameters]));
      plan = result.rows.map((row) => row.detail);
    } else {
      // A table this small is read whole anyway; without sequential scans, the plan says whether the index can serve.
      plan = await store.db.transaction().execute(async (trx) => {
        await sql`SET LOCAL enable_seqscan = off`.execute(trx);
        const result = await trx.executeQuery<{ 'QUERY PLAN': string }>(CompiledQuery.raw(`EXPLAIN ${compiled.sql}`, [...compiled.parameters]));
        return result.rows.map((row) => row['QUERY PLAN']);
      });
    }
    assert.match(plan.join('\n'), /users_administrators/);
  });

  test('says no until a user is an administrator, active or not', async () => {
    const users = createUserQueries(store.dialect);
    const now = new Date().toISOString();
    const account = (login: string, admin: boolean) => ({ login, displayName: null, email: null, local: true, passwordHash: null, admin });
    for (let i = 0; i < 50; i += 1) await users.insertAccount(store.db, `user-${i}`, account(`user-${i}`, false), now);
    assert.equal(await users.hasAdministrator(store.db), false);
    await users.insertAccount(store.db, 'root', account('root', true), now);
    await sql`UPDATE users SET active = 0 WHERE id = 'root'`.execute(store.db);
    assert.equal(await users.hasAdministrator(store.db), true);
  });
});
