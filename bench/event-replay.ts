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
 * [--seed 1] [--workers 4]`; PostgreSQL needs ROSTER_TEST_POSTGRES_URL (a scratch database is
 * created and dropped). Exits 1 when it finds a problem, listing each.
 */
import { parseArgs } from 'node:util';
import { createServices } from '../src/services.ts';
import { openStore } from '../src/store/index.ts';
import { testCertificate, TEST_IDP } from '../test/support/app.ts';
import { createTestDatabase } from '../test/support/databases.ts';
import { startInstance, stop, waitHealthy, type Instance } from '../test/support/process.ts';
import { startReceiver } from '../test/support/receiver.ts';
import { compareWithDirectory, Replica, replicaGroup, replicaUser, type ReplayEvent } from './replay/replica.ts';

const { values: options } = parseArgs({
  options: {
    database: { type: 'string', default: 'sqlite' },
    steps: { type: 'string', default: '600' },
    seed: { type: 'string', default: '1' },
    workers: { type: 'string', default: '4' },
  },
});
const DATABASE = options.database === 'postgres' ? 'postgres' : 'sqlite';
const STEPS = Number(options.steps);
const SEED = Number(options.seed);
const WORKERS = Number(options.workers);
const SCIM = '/api/scim/v2';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const LOGINS = ['ada', 'bob', 'cyd', 'dee', 'eve', 'fay', 'gus', 'hal', 'ivy', 'jon', 'kim', 'lou'].map((name) => `${name}@ex.test`);
const GROUPS = ['red', 'blue', 'green', 'gold', 'grey', 'pink'];
const cli = { kind: 'cli' } as const;

/** mulberry32: a small seeded generator, so that a run can be repeated. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Answer {
  readonly status: number;
  readonly body: any;
  readonly etag: string | null;
}

async function main(): Promise<void> {
  const random = generator(SEED);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const chance = (p: number): boolean => random() < p;
  const subset = <T>(items: readonly T[], p: number): T[] => items.filter(() => chance(p));

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

    const statuses = new Map<string, number>();
    let round = 0;
    async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
      const instance = instances[round++ % instances.length]!;
      const response = await fetch(`${instance.base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body !== undefined ? { 'content-type': path.startsWith(SCIM) ? 'application/scim+json' : method === 'PATCH' ? 'application/merge-patch+json' : 'application/json' } : {}),
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
      return { status: response.status, body: parsed, etag: response.headers.get('etag') };
    }
    const tally = (name: string, answer: Answer): Answer => {
      const label = `${name} ${answer.status}`;
      statuses.set(label, (statuses.get(label) ?? 0) + 1);
      if (answer.status >= 500) console.log(`5xx: ${name}: ${JSON.stringify(answer.body).slice(0, 300)}`);
      return answer;
    };

    // Some local users and groups before SCIM is on: SCIM takes them over by name later.
    for (const login of LOGINS.slice(0, 3)) await call('POST', '/api/v2/users-management/users', { login, name: `local ${login}`, local: false });
    for (const name of GROUPS.slice(0, 2)) await call('POST', '/api/v2/authorizations/groups', { name });

    // The feed follower: small pages from alternating instances while the writes go on.
    let following = true;
    const followed: string[] = [];
    const follower = (async () => {
      let cursor: string | undefined;
      for (;;) {
        const answer = await call('GET', `/api/v2/events?limit=7${cursor ? `&after=${cursor}` : ''}`);
        if (answer.status === 429 || answer.status === 503) {
          await new Promise((resolve) => setTimeout(resolve, 200));
          continue;
        }
        if (answer.status !== 200) throw new Error(`feed ${answer.status}: ${JSON.stringify(answer.body)}`);
        for (const event of answer.body.events) followed.push(event.id);
        cursor = answer.body.next;
        if (answer.body.events.length === 0) {
          if (!following) return;
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }
    })();

    /** What the driver knows of the directory: read again now and then, stale in between on purpose. */
    let scimUsers: any[] = [];
    let scimGroups: any[] = [];
    let adminUsers: any[] = [];
    let adminGroups: any[] = [];
    async function look(): Promise<void> {
      const users = await call('GET', `${SCIM}/Users?count=1000`);
      const groups = await call('GET', `${SCIM}/Groups?count=1000&excludedAttributes=members`);
      if (users.status === 200) scimUsers = users.body.Resources;
      if (groups.status === 200) scimGroups = groups.body.Resources;
      adminUsers = (await call('GET', '/api/v2/users-management/users?pageSize=500')).body.users ?? [];
      adminGroups = (await call('GET', '/api/v2/authorizations/groups?pageSize=500')).body.groups ?? [];
    }
    const unknownId = '00000000-0000-4000-8000-000000000000';
    const memberValues = (p: number): { value: string }[] => subset(scimUsers, p).map((user) => ({ value: user.id }));
    const userDocument = (login: string): Record<string, unknown> => ({
      schemas: [USER_SCHEMA],
      userName: chance(0.1) ? login.toUpperCase() : login,
      ...(chance(0.7) ? { externalId: pick(['x1', 'x2']) + login } : {}),
      ...(chance(0.8) ? { displayName: `${pick(['A', 'B', 'C'])} ${login}` } : {}),
      ...(chance(0.6) ? { emails: [{ value: `${pick(['w', 'h'])}.${login}`, primary: true }] } : {}),
      active: chance(0.8),
    });

    const scimSteps: Array<[number, () => Promise<unknown>]> = [
      [3, async () => tally('POST /Users', await call('POST', `${SCIM}/Users`, userDocument(pick(LOGINS))))],
      [2, async () => {
        if (scimUsers.length === 0) return;
        const user = pick(scimUsers);
        tally('PUT /Users', await call('PUT', `${SCIM}/Users/${user.id}`, userDocument(chance(0.3) ? pick(LOGINS) : user.userName)));
      }],
      [3, async () => {
        if (scimUsers.length === 0) return;
        const user = pick(scimUsers);
        const operations = [
          ...(chance(0.4) ? [{ op: 'replace', path: 'active', value: chance(0.5) }] : []),
          ...(chance(0.3) ? [{ op: 'replace', path: 'displayName', value: `P ${Math.floor(random() * 5)}` }] : []),
          ...(chance(0.3) ? [{ op: 'replace', path: 'userName', value: pick(LOGINS) }] : []),
          ...(chance(0.2) ? [{ op: 'replace', path: 'externalId', value: `x${Math.floor(random() * 3)}` }] : []),
          ...(chance(0.2) ? [{ op: 'replace', value: { emails: [{ value: `p${Math.floor(random() * 3)}@ex.test`, primary: true }] } }] : []),
        ];
        if (operations.length === 0) operations.push({ op: 'replace', path: 'active', value: false });
        tally('PATCH /Users', await call('PATCH', `${SCIM}/Users/${user.id}`, { schemas: [PATCH_OP], Operations: operations }));
      }],
      [2, async () => {
        if (scimUsers.length === 0) return;
        tally('DELETE /Users', await call('DELETE', `${SCIM}/Users/${pick(scimUsers).id}`));
      }],
      [2, async () => tally('POST /Groups', await call('POST', `${SCIM}/Groups`, { schemas: [GROUP_SCHEMA], displayName: pick(GROUPS), members: memberValues(0.3) }))],
      [2, async () => {
        if (scimGroups.length === 0) return;
        const group = pick(scimGroups);
        tally('PUT /Groups', await call('PUT', `${SCIM}/Groups/${group.id}`, { schemas: [GROUP_SCHEMA], displayName: chance(0.3) ? pick(GROUPS) : group.displayName, members: memberValues(0.3) }));
      }],
      [5, async () => {
        if (scimGroups.length === 0) return;
        const group = pick(scimGroups);
        const operations: any[] = [];
        const count = 1 + Math.floor(random() * 3);
        for (let i = 0; i < count; i += 1) {
          const kind = pick(['add', 'add', 'remove', 'remove', 'replace', 'removeAll', 'rename']);
          if (kind === 'add') operations.push({ op: 'add', path: 'members', value: memberValues(0.25) });
          else if (kind === 'remove' && scimUsers.length > 0) operations.push({ op: 'remove', path: `members[value eq "${pick(scimUsers).id}"]` });
          else if (kind === 'replace') operations.push({ op: 'replace', path: 'members', value: memberValues(0.3) });
          else if (kind === 'removeAll') operations.push({ op: 'remove', path: 'members' });
          else if (kind === 'rename') operations.push({ op: 'replace', path: 'displayName', value: pick(GROUPS) });
        }
        // Sometimes a last operation that fails: the whole PATCH must leave nothing, events included.
        const failing = chance(0.15);
        if (failing) operations.push({ op: 'add', path: 'members', value: [{ value: unknownId }] });
        const answer = tally(`PATCH /Groups${failing ? ' (failing)' : ''}`, await call('PATCH', `${SCIM}/Groups/${group.id}`, { schemas: [PATCH_OP], Operations: operations }));
        if (failing && answer.status < 300) console.log('a failing PATCH succeeded');
      }],
      [1, async () => {
        if (scimGroups.length === 0) return;
        tally('DELETE /Groups', await call('DELETE', `${SCIM}/Groups/${pick(scimGroups).id}`));
      }],
      [1, async () => {
        // A stale If-Match: refused, nothing written.
        if (scimGroups.length === 0) return;
        const group = pick(scimGroups);
        tally('PATCH /Groups (If-Match stale)', await call('PATCH', `${SCIM}/Groups/${group.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: 'members' }] }, { 'if-match': 'W/"0"' }));
      }],
      [1, async () => {
        if (scimUsers.length === 0) return;
        const operations = [
          { method: 'POST', path: '/Users', bulkId: 'u', data: userDocument(pick(LOGINS)) },
          ...(scimGroups.length > 0 ? [{ method: 'PATCH', path: `/Groups/${pick(scimGroups).id}`, data: { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: 'bulkId:u' }, ...memberValues(0.2)] }] } }] : []),
          { method: 'DELETE', path: `/Users/${pick(scimUsers).id}` },
        ];
        tally('POST /Bulk', await call('POST', `${SCIM}/Bulk`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'], Operations: operations }));
      }],
      // The admin API while SCIM is on: local accounts may still be deactivated (and erased), local groups deleted.
      [1, async () => {
        if (adminUsers.length === 0) return;
        const user = pick(adminUsers.filter((candidate) => candidate.login !== 'admin'));
        if (user === undefined) return;
        tally('admin DELETE user', await call('DELETE', `/api/v2/users-management/users/${user.id}${chance(0.5) ? '?anonymize=true' : ''}`));
      }],
      [1, async () => {
        if (adminGroups.length === 0) return;
        tally('admin DELETE group', await call('DELETE', `/api/v2/authorizations/groups/${pick(adminGroups).id}`));
      }],
    ];

    const adminSteps: Array<[number, () => Promise<unknown>]> = [
      [3, async () => tally('admin POST user', await call('POST', '/api/v2/users-management/users', { login: pick(LOGINS), name: `N ${Math.floor(random() * 4)}`, ...(chance(0.5) ? { email: `a${Math.floor(random() * 3)}@ex.test` } : {}), local: false }))],
      [3, async () => {
        const user = pick(adminUsers.filter((candidate) => candidate.login !== 'admin'));
        if (user === undefined) return;
        const patch = {
          ...(chance(0.4) ? { login: pick(LOGINS) } : {}),
          ...(chance(0.5) ? { name: `M ${Math.floor(random() * 4)}` } : {}),
          ...(chance(0.3) ? { email: chance(0.3) ? null : `b${Math.floor(random() * 3)}@ex.test` } : {}),
          ...(chance(0.3) ? { externalId: chance(0.3) ? null : `e${Math.floor(random() * 3)}` } : {}),
        };
        tally('admin PATCH user', await call('PATCH', `/api/v2/users-management/users/${user.id}`, patch));
      }],
      [2, async () => {
        const user = pick(adminUsers.filter((candidate) => candidate.login !== 'admin'));
        if (user === undefined) return;
        tally('admin DELETE user', await call('DELETE', `/api/v2/users-management/users/${user.id}${chance(0.4) ? '?anonymize=true' : ''}`));
      }],
      [2, async () => tally('admin POST group', await call('POST', '/api/v2/authorizations/groups', { name: pick(GROUPS), ...(chance(0.5) ? { description: `d${Math.floor(random() * 3)}` } : {}) }))],
      [2, async () => {
        if (adminGroups.length === 0) return;
        tally('admin PATCH group', await call('PATCH', `/api/v2/authorizations/groups/${pick(adminGroups).id}`, { ...(chance(0.6) ? { name: pick(GROUPS) } : {}), description: chance(0.3) ? null : `e${Math.floor(random() * 3)}` }));
      }],
      [1, async () => {
        if (adminGroups.length === 0) return;
        tally('admin DELETE group', await call('DELETE', `/api/v2/authorizations/groups/${pick(adminGroups).id}`));
      }],
      [5, async () => {
        if (adminGroups.length === 0 || adminUsers.length === 0) return;
        tally('admin POST membership', await call('POST', '/api/v2/authorizations/group-memberships', { groupId: pick(adminGroups).id, userId: pick(adminUsers).id }));
      }],
      [3, async () => {
        if (adminGroups.length === 0) return;
        const listed = await call('GET', `/api/v2/authorizations/group-memberships?groupId=${pick(adminGroups).id}&pageSize=500`);
        const rows = listed.body?.groupMemberships ?? [];
        if (rows.length === 0) return;
        tally('admin DELETE membership', await call('DELETE', `/api/v2/authorizations/group-memberships/${pick(rows as any[]).id}`));
      }],
    ];

    async function run(steps: number, table: Array<[number, () => Promise<unknown>]>): Promise<void> {
      const total = table.reduce((sum, [weight]) => sum + weight, 0);
      let left = steps;
      await look();
      await Promise.all(
        Array.from({ length: WORKERS }, async () => {
          while (left > 0) {
            left -= 1;
            if (chance(0.15)) await look();
            let roll = random() * total;
            const step = table.find(([weight]) => (roll -= weight) < 0) ?? table[0]!;
            await step[1]();
          }
        }),
      );
    }

    // SCIM, then the admin API with SCIM off, then SCIM again (taking over what the admin made).
    const enable = async (): Promise<void> => void tally('enable SCIM', await call('POST', '/api/scim_management/enable'));
    const disable = async (): Promise<void> => void tally('disable SCIM', await call('POST', '/api/scim_management/disable?confirm=true'));
    await enable();
    await run(Math.floor(STEPS * 0.4), scimSteps);
    await disable();
    await run(Math.floor(STEPS * 0.3), adminSteps);
    await enable();
    await run(STEPS - Math.floor(STEPS * 0.4) - Math.floor(STEPS * 0.3), scimSteps);

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
    const feedIds = feed.map((event) => event.id);
    if (followed.join(',') !== feedIds.join(',')) {
      const missing = feedIds.filter((id) => !followed.includes(id));
      problems.push(`the follower saw ${followed.length} events, the feed holds ${feedIds.length}; skipped: ${missing.slice(0, 20).join(',')}`);
    }

    // The directory as the admin API lists it.
    const users: any[] = [];
    for (let page = 1; ; page += 1) {
      const answer = await call('GET', `/api/v2/users-management/users?pageSize=500&pageIndex=${page}`);
      users.push(...answer.body.users);
      if (users.length >= answer.body.page.total) break;
    }
    const groups: any[] = (await call('GET', '/api/v2/authorizations/groups?pageSize=500')).body.groups;
    const members: { groupId: string; userId: string }[] = [];
    for (const group of groups) members.push(...(await call('GET', `/api/v2/authorizations/group-memberships?groupId=${group.id}&pageSize=500`)).body.groupMemberships);
    const directory = { users: users.map(replicaUser), groups: groups.map(replicaGroup), members };

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
    console.log(`directory: ${users.length} users, ${groups.length} groups, ${members.length} memberships`);
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
