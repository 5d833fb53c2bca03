/**
 * A SCIM replace of a large group's members (issue 11): one event per member added or removed,
 * written set-based beside the change, with the group never loaded into memory. 10,000
 * members here; bench/events.ts runs the 100,000-member case and reports its memory.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { decodeCursor } from '../../src/directory/event-feed.ts';
import { newId } from '../../src/ids.ts';
import { createServices, type Services } from '../../src/services.ts';
import type { Store } from '../../src/store/index.ts';
import type { FeedPosition } from '../../src/store/journal.ts';
import { eachDatabase, openTestStore, turnScimOn } from '../support/databases.ts';

const MEMBERS = 10_000;
const actor = { kind: 'system' } as const;

/** `count` SCIM-linked users, inserted in bulk (the fixture, not the subject): their SCIM ids. */
async function seedUsers(store: Store, count: number): Promise<string[]> {
  const now = new Date().toISOString();
  const scimIds: string[] = [];
  for (let start = 0; start < count; start += 500) {
    const users = [];
    const links = [];
    for (let i = start; i < Math.min(count, start + 500); i += 1) {
      const id = newId();
      const scimId = newId();
      users.push({ id, login: `member${i}`, login_key: `member${i}`, display_name: null, display_name_key: null, email: null, email_key: null, scim_fold: store.dialect.toJsonParameter({}), active: 1, local: 0, password_hash: null, external_id: null, scim_data: store.dialect.toJsonParameter({}), created_at: now, updated_at: now, version: 1, last_connection_at: null });
      links.push({ scim_id: scimId, user_id: id });
      scimIds.push(scimId);
    }
    await store.db.insertInto('users').values(users).execute();
    await store.db.insertInto('scim_users').values(links).execute();
  }
  return scimIds;
}

/** The JS heap's high-water mark above its level at the start, while `work` runs. */
async function peakHeapGrowth(work: () => Promise<void>): Promise<number> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  const base = process.memoryUsage().heapUsed;
  let peak = base;
  const sample = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  }, 1);
  try {
    await work();
  } finally {
    clearInterval(sample);
  }
  return Math.max(peak, process.memoryUsage().heapUsed) - base;
}

eachDatabase(`replacing the members of a ${MEMBERS}-member group`, (database) => {
  let store: Store;
  let services: Services;
  let ids: string[];
  before(async () => {
    store = await openTestStore(database);
    services = createServices(store);
    await turnScimOn(store);
    ids = await seedUsers(store, MEMBERS * 2);
  });
  after(() => store.close());

  test('gives one event per member removed or added, and none for those kept, without growing the heap with the group', async () => {
    const group = await services.groups.create({ displayName: 'Everyone' }, ids.slice(0, MEMBERS), actor);
    const start = await settledEnd(services, store);
    // Half stay, half go, as many come: 5,000 removed and 5,000 added.
    const next = ids.slice(MEMBERS / 2, MEMBERS / 2 + MEMBERS);
    const growth = await peakHeapGrowth(async () => {
      await services.groups.update(group.scimId, (current) => ({ document: current, memberChanges: [{ kind: 'replace', ids: next }] }), () => true, actor);
    });
    // Generous: the ids of the request alone are about 1 MB; loading the group and its events
    // as objects would cost tens of MB more (bench/events.ts: the 100k case).
    assert.ok(growth < 48 * 2 ** 20, `the heap grew by ${(growth / 2 ** 20).toFixed(1)} MiB`);

    // The feed, read a page at a time as a consumer would.
    const counts = new Map<string, number>();
    const users = new Set<string>();
    let cursor = start;
    for (;;) {
      const page = await services.eventFeed.read({ after: positionOf(cursor), types: undefined, limit: 1000 });
      assert.equal(page.kind, 'page');
      if (page.kind !== 'page') return;
      for (const event of page.events) {
        counts.set(event.type, (counts.get(event.type) ?? 0) + 1);
        users.add(`${event.type} ${(event.data as { user: { login: string } }).user.login}`);
      }
      cursor = page.next;
      if (page.events.length < 1000 && !atOrBefore(positionOf(cursor), await lastPosition(store))) break;
    }
    assert.deepEqual(Object.fromEntries(counts), { 'group.user_removed': MEMBERS / 2, 'group.user_added': MEMBERS / 2 });
    assert.equal(users.size, MEMBERS, 'each member once');
    assert.ok(users.has(`group.user_removed member0`) && users.has(`group.user_added member${MEMBERS + MEMBERS / 2 - 1}`));
    assert.ok(!users.has(`group.user_removed member${MEMBERS / 2}`), 'a member kept gives no event');
    const members = await store.db.selectFrom('memberships').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    assert.equal(Number(members.n), MEMBERS);
    // Nothing staged outlives the change.
    assert.equal((await store.db.selectFrom('staged_members').select('batch').execute()).length, 0);
  });
});

/** The position of the last event written. */
async function lastPosition(store: Store): Promise<FeedPosition> {
  const last = await store.db.selectFrom('events').select(['tx', 'id']).orderBy('tx', 'desc').orderBy('id', 'desc').executeTakeFirstOrThrow();
  return { tx: Number(last.tx), id: Number(last.id) };
}

function atOrBefore(a: FeedPosition, b: FeedPosition): boolean {
  return a.tx < b.tx || (a.tx === b.tx && a.id <= b.id);
}

/**
 * The feed's end once every event written so far is below it: on PostgreSQL the horizon waits
 * for the oldest writing transaction of the whole server (other test files write meanwhile).
 */
async function settledEnd(services: Services, store: Store): Promise<string> {
  const last = await lastPosition(store);
  for (;;) {
    const answer = await services.eventFeed.read({ after: 'now', types: undefined, limit: 1 });
    if (!atOrBefore(positionOf(answer.next), last)) return answer.next;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The position of a cursor the feed handed out. */
function positionOf(cursor: string): FeedPosition {
  const position = decodeCursor(cursor);
  if (position === undefined) throw new Error(`not a cursor: ${cursor}`);
  return position;
}
