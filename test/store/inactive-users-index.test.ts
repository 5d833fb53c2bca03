/**
 * The users list filtered by `active` (admin API, console, CLI): deactivated users are read from
 * the partial index `users_inactive` (migration 022) instead of every user, and the active ones
 * are counted as all users less those; the answers stay what they were.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CompiledQuery, sql } from 'kysely';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';
import { createUserQueries } from '../../src/store/users.ts';
import { createTestDatabase, eachDatabase, type ScratchDatabase } from '../support/databases.ts';

eachDatabase('listing users by whether they are active', (database) => {
  let scratch: ScratchDatabase;
  let store: Store;
  const users = () => createUserQueries(store.dialect);
  before(async () => {
    scratch = await createTestDatabase(database);
    store = await openStore(scratch.location);
    const now = new Date().toISOString();
    for (let i = 0; i < 40; i += 1) {
      const login = `user-${String(i).padStart(2, '0')}`;
      await users().insertAccount(store.db, login, { login, displayName: null, email: null, local: true, passwordHash: null, admin: false }, now);
    }
    await sql`UPDATE users SET active = 0 WHERE login IN ('user-03', 'user-17', 'user-31')`.execute(store.db);
  });
  after(async () => {
    await store.close();
    await scratch.drop();
  });

  test('counts and pages are the same as reading every user', async () => {
    assert.equal(await users().countAccounts(store.db, { active: false }), 3);
    assert.equal(await users().countAccounts(store.db, { active: true }), 37);
    assert.deepEqual((await users().listAccounts(store.db, { active: false }, 0, 10, 3)).map((user) => user.login), ['user-03', 'user-17', 'user-31']);
    assert.deepEqual((await users().listAccounts(store.db, { active: false }, 2, 10, 3)).map((user) => user.login), ['user-31']);
    const active = await users().listAccounts(store.db, { active: true }, 35, 10, 37);
    assert.deepEqual(active.map((user) => user.login), ['user-38', 'user-39']);
    // With another filter, the active ones are counted as they are read.
    assert.equal(await users().countAccounts(store.db, { active: true, q: 'user-1' }), 9);
  });

  test('deactivated users are read from their index', async () => {
    const compiled = store.db.selectFrom('users as u').select('u.id').where(sql<boolean>`u.active = 0`).orderBy('u.login_key').orderBy('u.login_conflict').limit(10).compile();
    let plan: string[];
    if (database === 'sqlite') {
      plan = (await store.db.executeQuery<{ detail: string }>(CompiledQuery.raw(`EXPLAIN QUERY PLAN ${compiled.sql}`, [...compiled.parameters]))).rows.map((row) => row.detail);
    } else {
      plan = await store.db.transaction().execute(async (trx) => {
        await sql`SET LOCAL enable_seqscan = off`.execute(trx);
        return (await trx.executeQuery<{ 'QUERY PLAN': string }>(CompiledQuery.raw(`EXPLAIN ${compiled.sql}`, [...compiled.parameters]))).rows.map((row) => row['QUERY PLAN']);
      });
    }
    assert.match(plan.join('\n'), /users_inactive/);
  });
});
