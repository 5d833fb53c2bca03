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
import { createMembershipQueries } from '../../src/store/memberships.ts';
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

  test('the administrators a deactivation checks (before and after it) are read from indexes, not by visiting every user', { skip: database === 'postgres' ? 'SQLite plans: PostgreSQL reads tables this small whole' : false }, async () => {
    // Every statement administratorIds sends, compiled as sent.
    const sent: CompiledQuery[] = [];
    const watched = store.db.withPlugin({
      transformQuery: ({ node, queryId }) => {
        sent.push(store.db.getExecutor().compileQuery(node, queryId));
        return node;
      },
      transformResult: async ({ result }) => result,
    });
    await createMembershipQueries(store.dialect).administratorIds(watched, 'roster-administrators', false);
    assert.ok(sent.length > 0);
    for (const compiled of sent) {
      const result = await store.db.executeQuery<{ detail: string }>(CompiledQuery.raw(`EXPLAIN QUERY PLAN ${compiled.sql}`, [...compiled.parameters]));
      const plan = result.rows.map((row) => row.detail);
      // A SCAN of u visits every user (in the order of whichever index it names), except one of
      // the partial index of administrators; a SEARCH looks rows up by key.
      assert.ok(!plan.some((line) => /^SCAN u\b/.test(line) && !line.includes('users_administrators')), `${compiled.sql}\n${plan.join('\n')}`);
    }
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
