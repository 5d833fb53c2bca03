/**
 * The administrators' lists (users, groups, memberships: the admin API, the console, the CLI)
 * are reads: they answer while another process holds the SQLite file's write lock (a CLI
 * command in the middle of a long write, a second `roster serve`). They took the write lock
 * (BEGIN IMMEDIATE), so a list waited for the other writer (and failed after 5 s), and a list
 * of a million users held every other process's writes back while it read.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import SQLite from 'better-sqlite3';
import { createServices, type Services } from '../../src/services.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { createTestDatabase, type ScratchDatabase } from '../support/databases.ts';

const cli = { kind: 'cli' } as const;

let scratch: ScratchDatabase;
let store: Store;
let services: Services;
let path: string;

before(async () => {
  scratch = await createTestDatabase('sqlite');
  if (scratch.location.kind !== 'sqlite') throw new Error('SQLite expected');
  path = scratch.location.path;
  store = await openStore(scratch.location);
  services = createServices(store);
  const user = await services.accounts.create({ login: 'ada', name: 'Ada', email: null, local: true, password: 'a long enough password 42' }, cli);
  const group = await services.groupManagement.create({ name: 'pilots' }, cli);
  await services.memberships.add({ groupId: group.id, userId: user.id }, cli);
});

after(async () => {
  await store.close();
  await scratch.drop();
});

test('users, groups and memberships are listed while another process holds the write lock', async () => {
  const other = new SQLite(path);
  other.pragma('busy_timeout = 0');
  other.exec('BEGIN IMMEDIATE');
  try {
    const users = await services.accounts.list({}, { offset: 0, limit: 10 });
    assert.ok(users.users.some((user) => user.login === 'ada'));
    assert.equal((await services.groupManagement.list({}, { offset: 0, limit: 10 })).groups.some((group) => group.name === 'pilots'), true);
    assert.equal((await services.memberships.list({}, { offset: 0, limit: 10 })).total, 1);
  } finally {
    other.exec('ROLLBACK');
    other.close();
  }
});
