/**
 * Event-replay probe (not part of `npm test`): can an application rebuild the directory from the
 * events alone? Drives seeded random concurrent writes through SCIM (users, groups, members,
 * renames, deactivations, deletions, logins reused) and the admin API (while SCIM is on, what it
 * may still do; then with SCIM off, everything), against real `roster serve` processes: one on
 * SQLite, or two on one PostgreSQL database (requests spread over both). Meanwhile a feed
 * follower reads `GET /api/v2/events` with a small page from alternating instances, and a webhook
 * receiver verifies every request with the `standardwebhooks` package. At quiescence:
 *
 * - a replica built from the feed, read again from the start, and one built from the webhooks'
 *   payloads (in arrival order, repeats skipped by id) must each equal the directory as the admin
 *   API lists it, and as SCIM shows it;
 * - every event must apply cleanly (bench/replay/replica.ts): no update of an unknown user, a
 *   `previous` equal to what the feed said before, no member added twice, names as the feed has them;
 * - the follower, reading while writes committed, must have seen exactly the feed read afterwards.
 *
 * Run: `node --import tsx bench/event-replay.ts [--database sqlite|postgres] [--steps 600]
 * [--seed 1] [--workers 4] [--flaky]`; PostgreSQL needs ROSTER_TEST_POSTGRES_URL (a scratch database is
 * created and dropped); REPLAY_FEED_FILE=<path> writes the feed there as JSON, to study a problem. Exits
 * 1 when it finds a problem, listing each.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createServices } from '../src/services.ts';
import { openStore } from '../src/store/index.ts';
import { testCertificate, TEST_IDP } from '../test/support/app.ts';
import { createTestDatabase } from '../test/support/databases.ts';
import { startInstance, stop, waitHealthy, type Instance } from '../test/support/process.ts';
import { startReceiver } from '../test/support/receiver.ts';
import { contentTypeOf, driveRandomWrites, generator, readDirectory, SCIM, type Answer } from './replay/driver.ts';
import { compareWithDirectory, Replica, type ReplayEvent } from './replay/replica.ts';

const { values: options } = parseArgs({
  options: {
    database: { type: 'string', default: 'sqlite' },
    steps: { type: 'string', default: '600' },
    seed: { type: 'string', default: '1' },
    workers: { type: 'string', default: '4' },
    // The webhook receiver fails one request in ten (500), so that deliveries are retried.
    flaky: { type: 'boolean', default: false },
  },
});
const DATABASE = options.database === 'postgres' ? 'postgres' : 'sqlite';
const STEPS = Number(options.steps);
const SEED = Number(options.seed);
const WORKERS = Number(options.workers);
const cli = { kind: 'cli' } as const;

async function main(): Promise<void> {
  const scratch = await createTestDatabase(DATABASE);
  const env = { ROSTER_WEBHOOK_RETRY_SCHEDULE: '100ms,200ms,500ms', ROSTER_LOG_LEVEL: 'error', ROSTER_RATE_LIMIT: '0' };
  const instances: Instance[] = await Promise.all((DATABASE === 'postgres' ? [1, 2] : [1]).map(() => startInstance(scratch.url, env)));
  await Promise.all(instances.map(waitHealthy));
  const store = await openStore(scratch.location);
  const services = createServices(store);
  const receiver = await startReceiver();
  const started = Date.now();
  try {
    const configured = await services.saml.configure({ ...TEST_IDP, certificates: [testCertificate()] }, cli);
    if (!configured.ok) throw new Error('SAML configuration refused');
    const admin = await services.accounts.findByLogin('admin');
    if (admin === undefined) throw new Error('no admin');
    const { token } = await services.tokens.create('probe', cli, admin.id);
    const { secret } = await services.webhooks.create({ url: receiver.url }, cli);
    receiver.secrets = [secret];
    if (options.flaky) {
      const failing = generator(SEED + 1);
      receiver.answer = () => (failing() < 0.1 ? { status: 500 } : { status: 204, delayMs: Math.floor(failing() * 5) });
    }

    const statuses = new Map<string, number>();
    let round = 0;
    async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
      const instance = instances[round++ % instances.length]!;
      const response = await fetch(`${instance.base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body !== undefined ? { 'content-type': contentTypeOf(method, path) } : {}),
          ...headers,
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await response.text();
      let parsed: any;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch {
        parsed = text;
      }
      return { status: response.status, body: parsed };
    }
    const tally = (name: string, answer: Answer): Answer => {
      const label = `${name} ${answer.status}`;
      statuses.set(label, (statuses.get(label) ?? 0) + 1);
      if (answer.status >= 500) console.log(`5xx: ${name}: ${JSON.stringify(answer.body).slice(0, 300)}`);
      return answer;
    };

    // The feed follower: small pages from alternating instances while the writes go on.
    let following = true;
    const followed: string[] = [];
    const follower = (async () => {
      let cursor: string | undefined;
      for (;;) {
        // Asked before the read: a page that started before the last writes returned may miss them.
        const last = !following;
        const answer = await call('GET', `/api/v2/events?limit=7${cursor ? `&after=${cursor}` : ''}`);
        if (answer.status === 429 || answer.status === 503) {
          await new Promise((resolve) => setTimeout(resolve, 200));
          continue;
        }
        if (answer.status !== 200) throw new Error(`feed ${answer.status}: ${JSON.stringify(answer.body)}`);
        for (const event of answer.body.events) followed.push(event.id);
        cursor = answer.body.next;
        if (answer.body.events.length === 0) {
          if (last) return;
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }
    })();

    await driveRandomWrites(call, { seed: SEED, steps: STEPS, workers: WORKERS, onAnswer: (name, answer) => void tally(name, answer) });


    // Quiescence: the whole feed, read again from the start.
    following = false;
    await follower;
    const feed: ReplayEvent[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await call('GET', `/api/v2/events?limit=1000${cursor ? `&after=${cursor}` : ''}`);
      feed.push(...page.body.events);
      cursor = page.body.next;
      if (page.body.events.length < 1000) break;
    }
    const problems: string[] = [];
    if (process.env.REPLAY_FEED_FILE) writeFileSync(process.env.REPLAY_FEED_FILE, JSON.stringify(feed, null, 1));
    const feedIds = feed.map((event) => event.id);
    if (followed.join(',') !== feedIds.join(',')) {
      const missing = feedIds.filter((id) => !followed.includes(id));
      const where = missing.slice(0, 20).map((id) => `${id} (#${feedIds.indexOf(id) + 1})`);
      problems.push(`the follower saw ${followed.length} events, the feed holds ${feedIds.length}; skipped: ${where.join(', ')}`);
    }

    const directory = await readDirectory(call);

    const fromFeed = new Replica();
    for (const event of feed) fromFeed.apply(event);
    problems.push(...fromFeed.problems.map((text) => `feed: ${text}`));
    problems.push(...compareWithDirectory(fromFeed, directory).map((text) => `feed vs admin API: ${text}`));

    // The webhooks: every feed event, verified, then applied in arrival order.
    const last = feedIds.at(-1);
    await receiver.until(() => last === undefined || receiver.acceptedIds().includes(last), 120_000);
    const unverified = receiver.received.filter((request) => !request.verified).length;
    if (unverified > 0) problems.push(`${unverified} webhook requests did not verify`);
    // The receiver was registered after the first start: the events before its first are what a
    // first synchronisation from the lists gives (docs/events.md), taken here from the feed.
    const fromHooks = new Replica();
    const firstHook = receiver.received[0]?.payload.id;
    for (const event of feed) {
      if (event.id === firstHook) break;
      fromHooks.apply(event);
    }
    for (const request of receiver.received.filter((request) => request.accepted)) fromHooks.apply(request.payload);
    problems.push(...fromHooks.problems.map((text) => `webhooks: ${text}`));
    problems.push(...compareWithDirectory(fromHooks, directory).map((text) => `webhooks vs admin API: ${text}`));
    const hookOrder = [...new Set(receiver.acceptedIds())];
    const feedAfterHook = firstHook === undefined ? [] : feedIds.slice(feedIds.indexOf(firstHook));
    if (hookOrder.join(',') !== feedAfterHook.join(',')) problems.push(`webhooks delivered ${hookOrder.length} distinct events, not the feed's ${feedAfterHook.length} in its order`);

    // SCIM's view: its users and groups are the replica's managed ones.
    const scimUsersNow: any[] = (await call('GET', `${SCIM}/Users?count=1000`)).body.Resources;
    const scimGroupsNow: any[] = (await call('GET', `${SCIM}/Groups?count=1000`)).body.Resources;
    const byLogin = new Map([...fromFeed.users.values()].map((user) => [user.login, user]));
    const scimLogin = new Map(scimUsersNow.map((user) => [user.id, user.userName]));
    for (const user of scimUsersNow) {
      const kept = byLogin.get(user.userName);
      if (kept === undefined || !kept.managed || kept.active !== user.active || (kept.externalId ?? undefined) !== user.externalId) {
        problems.push(`SCIM user ${user.userName} (active ${user.active}, externalId ${user.externalId}) is not the replica's: ${JSON.stringify(kept)}`);
      }
    }
    const managedUsers = [...fromFeed.users.values()].filter((user) => user.managed).length;
    if (managedUsers !== scimUsersNow.length) problems.push(`SCIM shows ${scimUsersNow.length} users, the replica ${managedUsers} managed ones`);
    for (const group of scimGroupsNow) {
      const kept = [...fromFeed.groups.values()].find((candidate) => candidate.name === group.displayName);
      if (kept === undefined || !kept.managed) {
        problems.push(`SCIM group ${group.displayName} is not a managed group of the replica`);
        continue;
      }
      const scimMembers = (group.members ?? []).map((member: any) => scimLogin.get(member.value)).sort();
      const replicaMembers = [...fromFeed.members]
        .filter((entry) => entry.startsWith(`${kept.id}\n`))
        .map((entry) => fromFeed.users.get(entry.split('\n')[1]!))
        .filter((user) => user?.managed)
        .map((user) => user!.login)
        .sort();
      if (scimMembers.join(',') !== replicaMembers.join(',')) problems.push(`SCIM group ${group.displayName} has members ${scimMembers.join(',')}, the replica ${replicaMembers.join(',')}`);
    }

    const types = new Map<string, number>();
    for (const event of feed) types.set(event.type, (types.get(event.type) ?? 0) + 1);
    console.log(`database: ${DATABASE}, instances: ${instances.length}, seed ${SEED}, steps ${STEPS}, workers ${WORKERS}, ${((Date.now() - started) / 1000).toFixed(1)} s`);
    console.log(`requests: ${[...statuses].sort().map(([label, n]) => `${label}: ${n}`).join('; ')}`);
    console.log(`events: ${feed.length} (${[...types].sort().map(([type, n]) => `${type} ${n}`).join(', ')}); follower pages saw ${followed.length}`);
    console.log(`webhook requests: ${receiver.received.length} (repeats skipped: ${fromHooks.duplicates})`);
    console.log(`directory: ${directory.users.length} users, ${directory.groups.length} groups, ${directory.members.length} memberships`);
    const logged = instances.map((instance) => instance.output).join('').trim();
    if (logged !== '') console.log(`instance log:\n${logged.slice(0, 4000)}`);
    if (problems.length > 0) {
      console.log(`${problems.length} problems:`);
      for (const text of problems.slice(0, 60)) console.log(`  ${text}`);
      process.exitCode = 1;
    } else console.log('no problem: both replicas equal the directory');
  } finally {
    await Promise.all(instances.map(stop));
    await receiver.close();
    await store.close();
    await scratch.drop();
  }
}

await main();
