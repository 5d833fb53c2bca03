/**
 * An application can rebuild the directory from the events alone (docs/events.md): the bounded,
 * sequential slice of the event-replay probe (bench/event-replay.ts, which runs the same writes
 * concurrently against real processes and webhooks). Seeded random writes through SCIM and the
 * admin API, SCIM on, off and on again; then a replica built from the whole feed must have applied
 * every event cleanly (bench/replay/replica.ts: no unknown user or group, each `previous` what
 * the feed said before, no member added twice or removed unknown, names as the feed has them) and
 * must equal the directory as the admin API lists it. One request at a time: a seed always sends
 * the same requests.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { contentTypeOf, driveRandomWrites, readDirectory, readFeed, type Call } from '../../bench/replay/driver.ts';
import { compareWithDirectory, Replica } from '../../bench/replay/replica.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';

const SEED = 65;
const STEPS = 300;

eachDatabase('the directory rebuilt from the event feed', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database, scim: false });
  });
  after(() => app.close());

  test(`${STEPS} seeded writes through SCIM and the admin API: the replica of the feed equals the directory`, async () => {
    const call: Call = (method, path, body, headers = {}) => app.request(method as 'GET', path, body, { ...(body !== undefined ? { 'content-type': contentTypeOf(method, path) } : {}), ...headers });
    const statuses = new Map<string, number>();
    await driveRandomWrites(call, {
      seed: SEED,
      steps: STEPS,
      workers: 1,
      onAnswer: (name, answer) => statuses.set(`${name} ${answer.status}`, (statuses.get(`${name} ${answer.status}`) ?? 0) + 1),
    });
    assert.deepEqual([...statuses.keys()].filter((label) => / 5\d\d$/.test(label)), [], 'no request failed');
    const feed = await readFeed(call);
    const replica = new Replica();
    for (const event of feed) replica.apply(event);
    assert.deepEqual(replica.problems, []);
    assert.deepEqual(compareWithDirectory(replica, await readDirectory(call)), []);
    // The slice exercises what the replica must follow, not only refusals.
    const types = new Set(feed.map((event) => event.type));
    for (const type of ['user.deactivated', 'user.reactivated', 'user.anonymized', 'group.updated', 'group.deleted', 'group.user_added', 'group.user_removed', 'provisioning.disabled']) {
      assert.ok(types.has(type), `the feed has a ${type}`);
    }
  });
});
