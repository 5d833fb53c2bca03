/**
 * An instance's clock against the database's (store/clock.ts): what `roster serve` warns about
 * every five minutes and /metrics shows as roster_clock_offset_seconds.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { clockOffsetWarning, createSharedClock } from '../../src/store/clock.ts';
import type { Store } from '../../src/store/index.ts';
import { eachDatabase, openTestStore } from '../support/databases.ts';

eachDatabase('the clock offset', (database) => {
  let store: Store;
  before(async () => {
    store = await openTestStore(database);
  });
  after(() => store.close());

  test('measured against PostgreSQL, in either direction; SQLite has nothing to compare with', async () => {
    const actual = await createSharedClock(store).measure();
    if (database === 'sqlite') {
      assert.equal(actual, undefined);
      assert.equal(clockOffsetWarning(actual), undefined);
      return;
    }
    assert.ok(actual !== undefined && Math.abs(actual) < 1000, String(actual));
    assert.equal(clockOffsetWarning(actual), undefined, 'a clock in step says nothing');
    // An instance whose clock runs 10 s fast, then 3 s slow.
    const ahead = await createSharedClock(store, () => Date.now() + 10_000).measure();
    assert.ok(ahead !== undefined && Math.abs(ahead + 10_000) < 1000, String(ahead));
    assert.match(clockOffsetWarning(ahead) ?? '', /^this instance's clock is (9\.\d|10\.\d) s ahead of the database's: .*synchronise every host with NTP/);
    const behind = await createSharedClock(store, () => Date.now() - 3_000).measure();
    assert.match(clockOffsetWarning(behind) ?? '', /^this instance's clock is (2\.\d|3\.\d) s behind the database's/);
  });

  test('align applies what it measured; measure alone changes nothing', { skip: database === 'postgres' ? false : 'SQLite: one host, one clock' }, async () => {
    const behind = createSharedClock(store, () => Date.now() - 20_000);
    await behind.measure();
    assert.ok(Math.abs(behind.now() - (Date.now() - 20_000)) < 100, 'measure leaves the host clock');
    await behind.align();
    assert.ok(Math.abs(behind.now() - Date.now()) < 1000, 'align moves it to the database clock');
  });
});

describe('clockOffsetWarning', () => {
  test('silent within a second either way', () => {
    assert.equal(clockOffsetWarning(999), undefined);
    assert.equal(clockOffsetWarning(-1000), undefined);
    assert.match(clockOffsetWarning(-1001) ?? '', /1\.0 s ahead of/);
  });
});
