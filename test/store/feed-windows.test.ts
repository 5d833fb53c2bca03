/**
 * A read of the event feed limited to some types (`types=`, a webhook's event types) on SQLite
 * reads the feed a window at a time with a turn of the event loop between windows: one statement
 * read the whole retained feed when the types were rare (2.4 s at two million events, every other
 * request of the server held meanwhile). The windows must give exactly the page one statement
 * gives; a read of rare types must let other work run before it ends.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createServices, type Services } from '../../src/services.ts';
import { CompiledQuery, type Compilable } from 'kysely';
import { deleteBefore, feedPage, feedPageInWindows, feedPageQuery } from '../../src/store/feed.ts';
import type { Store } from '../../src/store/index.ts';
import { eachDatabase, openTestStore } from '../support/databases.ts';
import { timerRunsDuring } from '../support/turns.ts';

const TYPES = ['user.created', 'user.updated', 'group.created', 'group.user_added', 'provisioning.enabled'];

/**
 * `count` events in bulk (the fixture, not the subject): mostly user updates, every `rare`-th a
 * group creation; `perTransaction` events share a transaction's clock value (0 for all: how
 * SQLite numbers them, under the feed's horizon on both databases).
 */
async function seedEvents(store: Store, count: number, rare: number, perTransaction: number): Promise<void> {
  const at = new Date().toISOString();
  for (let start = 0; start < count; start += 1000) {
    const rows = Array.from({ length: Math.min(1000, count - start) }, (_, k) => {
      const i = start + k;
      return {
        tx: perTransaction === 0 ? 0 : Math.floor(i / perTransaction),
        type: i % rare === 0 ? 'group.created' : TYPES[i % 2]!,
        occurred_at: at,
        actor: '{"type":"system"}',
        data: JSON.stringify({ i }),
        previous: null,
        user_id: null,
      };
    });
    await store.db.insertInto('events').values(rows).execute();
  }
}

eachDatabase('a page of the event feed read in windows', (database) => {
  let store: Store;
  before(async () => {
    store = await openTestStore(database);
    await seedEvents(store, 500, 37, 7);
  });
  after(() => store.close());

  test('is the page one statement gives, whatever the window, types and limit', async () => {
    const everything = { from: { tx: 0, id: 0 }, before: { tx: 1_000_000, id: 0 } };
    const ids = await store.db.selectFrom('events').select('id').orderBy('tx').orderBy('id').execute();
    const middle = { tx: 30, id: Number(ids[212]?.id) };
    let compared = 0;
    for (const range of [everything, { from: middle, before: everything.before }, { from: everything.from, before: middle }]) {
      for (const types of [undefined, ['group.created'], ['user.updated', 'group.created'], ['provisioning.enabled']]) {
        for (const limit of [1, 5, 100, 1000]) {
          const expected = await feedPage(store.db, range, types, limit);
          for (const window of [1, 3, 50, 10_000]) {
            assert.deepEqual(await feedPageInWindows(store.db, range, types, limit, window), expected, `${JSON.stringify(types)} ${limit} by ${window}`);
            compared += 1;
          }
        }
      }
    }
    assert.equal(compared, 192);
    assert.equal((await feedPage(store.db, everything, ['group.created'], 1000)).length, 14);
  });
});

eachDatabase('reading rare event types from a long feed', (database) => {
  let store: Store;
  let services: Services;
  before(async () => {
    store = await openTestStore(database);
    services = createServices(store);
    await seedEvents(store, 60_000, 20_000, 0);
  });
  after(() => store.close());

  test('lets the server answer other requests before the read ends, and finds them all', async () => {
    const { value: answer, timerRan } = await timerRunsDuring(() => services.eventFeed.read({ after: undefined, types: ['group.created'], limit: 100 }));
    assert.equal(timerRan, true);
    assert.equal(answer.kind, 'page');
    if (answer.kind === 'page') assert.deepEqual(answer.events.map((event) => event.type), ['group.created', 'group.created', 'group.created']);
  });
});

eachDatabase('the event feed on SQLite', (database) => {
  let store: Store;
  before(async () => {
    store = await openTestStore(database);
  });
  after(() => store.close());

  test('reads near the end of the feed, and deletes its oldest events, as ranges of the position index', { skip: database === 'sqlite' ? false : 'the plans checked are SQLite’s' }, async () => {
    // Every event since the last copy has one clock value: a row-value range was read by that
    // value alone, so every read near the end (a waiting reader, each webhook poll) and each
    // batch of the clean-up read the whole feed's index (120–450 ms a read at a million events).
    const plan = async (query: Compilable<unknown>): Promise<string> => {
      const compiled = query.compile();
      const result = await store.db.executeQuery<{ detail: string }>(CompiledQuery.raw(`EXPLAIN QUERY PLAN ${compiled.sql}`, [...compiled.parameters]));
      return result.rows.map((row) => row.detail).join('\n');
    };
    const page = await plan(feedPageQuery(store.db, { from: { tx: 0, id: 900_000 }, before: { tx: 0, id: 1_000_000 } }, undefined, 100));
    assert.match(page, /events_position \(tx=\? AND id>\? AND id<\?\)/, page);
    const purge = await plan(deleteBefore(store.db, { tx: 0, id: 5_000 }));
    assert.match(purge, /events_position \(tx=\? AND id<\?\)/, purge);
    // One user's events through their own index, whatever the feed holds of everyone else's.
    const user = await plan(feedPageQuery(store.db, { from: { tx: 0, id: 0 }, before: { tx: 0, id: 1_000_000 } }, ['group.user_added'], 100, '0192f0f0-0000-7000-8000-000000000000'));
    assert.match(user, /^SEARCH events USING INDEX events_user \(user_id=\?\)$/, user);
  });
});
