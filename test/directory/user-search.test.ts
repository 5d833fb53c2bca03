/**
 * A search of the users (`q`, and `managed` while SCIM is on) reads every user: no index serves
 * "contains". On SQLite a statement runs in Roster's own process, and one reading a million
 * users held every other request of the server for 1–2 s (an administrator typing in the
 * console's search box stalled the IdP's provisioning). The search now reads the login order a
 * window at a time with a turn of the event loop between windows; these tests check that the
 * windows give exactly the page and count one read gives, and that other work runs meanwhile.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { newId } from '../../src/ids.ts';
import { createServices, type Services } from '../../src/services.ts';
import type { Store } from '../../src/store/index.ts';
import { createUserQueries, type AccountFilter } from '../../src/store/users.ts';
import { caseKey } from '../../src/text.ts';
import { eachDatabase, openTestStore, turnScimOn } from '../support/databases.ts';
import { timerRunsDuring } from '../support/turns.ts';

/**
 * `count` users inserted in bulk (the fixture, not the subject): `login(i)`, a display name and
 * an email for most, every third linked to SCIM; `conflict(i)` marks logins equal but for case.
 */
async function seedUsers(store: Store, count: number, login: (i: number) => string, conflict: (i: number) => number = () => 0): Promise<void> {
  const now = new Date().toISOString();
  for (let start = 0; start < count; start += 500) {
    const users = [];
    const links = [];
    for (let i = start; i < Math.min(count, start + 500); i += 1) {
      const id = newId();
      const name = i % 4 === 0 ? null : `Person ${i} ${i % 7 === 0 ? 'Lovelace' : 'Hopper'}`;
      const email = i % 5 === 0 ? null : `p${i}@${i % 2 === 0 ? 'even' : 'odd'}.example`;
      users.push({
        id, login: login(i), login_key: caseKey(login(i)), login_conflict: conflict(i),
        display_name: name, display_name_key: name === null ? null : caseKey(name), email, email_key: email === null ? null : caseKey(email),
        scim_fold: store.dialect.toJsonParameter({}), active: i % 6 === 0 ? 0 : 1, local: 0, password_hash: null, external_id: null,
        scim_data: store.dialect.toJsonParameter({}), created_at: now, updated_at: now, version: 1, last_connection_at: null,
      });
      if (i % 3 === 0) links.push({ scim_id: newId(), user_id: id });
    }
    await store.db.insertInto('users').values(users).execute();
    if (links.length > 0) await store.db.insertInto('scim_users').values(links).execute();
  }
}

eachDatabase('a search read in windows of the login order', (database) => {
  let store: Store;
  before(async () => {
    store = await openTestStore(database);
    // Logins equal but for case share a login key and are told apart by their conflict mark: a
    // window may end between two of them.
    await seedUsers(store, 60, (i) => (i % 10 === 3 ? ['ada', 'Ada', 'ADA'][i % 3]! + (i % 20) : `user${i}`), (i) => (i % 10 === 3 ? i % 3 : 0));
  });
  after(() => store.close());

  test('gives the page and the count one read gives, whatever the window size, offset and limit', async () => {
    const users = createUserQueries(store.dialect);
    const filters: AccountFilter[] = [{ q: 'user1' }, { q: 'ADA' }, { q: 'lovelace' }, { q: 'EVEN.example' }, { q: 'nobody' }, { q: 'p' }, { q: 'user', active: false }, { managed: true }, { managed: false, q: 'ada' }];
    let compared = 0;
    for (const filter of filters) {
      const total = await users.countAccounts(store.db, filter);
      for (const [offset, limit] of [[0, 50], [0, 1], [3, 4], [7, 7], [total - 1, 5], [total, 5], [0, 0]] as const) {
        if (offset < 0) continue;
        const expected = (await users.listAccounts(store.db, filter, offset, limit, total)).map((user) => user.login);
        for (const slice of [1, 2, 7, 1000]) {
          const snapshot = await store.openSnapshot();
          try {
            const windowed = await users.listAccountsInSlices(snapshot.db, filter, offset, limit, slice);
            assert.equal(windowed.total, total, `${JSON.stringify(filter)} by ${slice}`);
            assert.deepEqual(windowed.users.map((user) => user.login), expected, `${JSON.stringify(filter)} at ${offset}+${limit} by ${slice}`);
            compared += 1;
          } finally {
            await snapshot.end();
          }
        }
      }
    }
    // The filters above do find users, and some pages are partial: the comparisons are not all of empty lists.
    assert.ok((await users.countAccounts(store.db, { q: 'ADA' })) >= 3);
    assert.ok(compared > 200);
  });
});

eachDatabase('searching many users', (database) => {
  let store: Store;
  let services: Services;
  before(async () => {
    store = await openTestStore(database);
    services = createServices(store);
    await seedUsers(store, 25_000, (i) => `member${i}`);
  });
  after(() => store.close());

  test('lets the server answer other requests before the search ends', async () => {
    const { value: found, timerRan } = await timerRunsDuring(() => services.accounts.list({ q: 'Lovelace' }, { offset: 10, limit: 20 }));
    assert.equal(timerRan, true);
    assert.equal(found.total, 2679);
    assert.equal(found.users.length, 20);
    assert.ok(found.users.every((user) => user.displayName?.endsWith('Lovelace')));
  });

  test('answers a managed filter only while SCIM is on, with the same words as before', async () => {
    await assert.rejects(services.accounts.list({ managed: true }, { offset: 0, limit: 5 }), /only available for managed instances/);
    await turnScimOn(store);
    const managed = await services.accounts.list({ managed: true, q: 'member2499' }, { offset: 0, limit: 50 });
    assert.deepEqual(managed.users.map((user) => user.login).sort(), ['member2499', 'member24990', 'member24993', 'member24996', 'member24999']);
    assert.equal(managed.total, 5);
  });
});
