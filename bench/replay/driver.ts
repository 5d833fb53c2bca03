/**
 * The writes of the event-replay probe (bench/event-replay.ts) and of its slice in the test suite
 * (test/http/event-replay.test.ts): seeded random requests through SCIM (users, groups, members,
 * renames, deactivations, deletions, logins reused, a PATCH whose last operation fails, a stale
 * If-Match, /Bulk) and the admin API, in three phases: SCIM on, SCIM off (the admin API does
 * everything), SCIM on again (taking over by name what the administrators made). `workers`
 * requests run at once; with one, a seed always sends the same requests.
 */
import { replicaGroup, replicaUser, type DirectoryState } from './replica.ts';

/** An answer as the driver reads it. */
export interface Answer {
  readonly status: number;
  readonly body: any;
}

/** Sends one request (SCIM paths under /api/scim/v2) with the probe's token; `body` as JSON of the route's type. */
export type Call = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<Answer>;

export const SCIM = '/api/scim/v2';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const LOGINS = ['ada', 'bob', 'cyd', 'dee', 'eve', 'fay', 'gus', 'hal', 'ivy', 'jon', 'kim', 'lou'].map((name) => `${name}@ex.test`);
const GROUPS = ['red', 'blue', 'green', 'gold', 'grey', 'pink'];

/** The content type each route takes. */
export function contentTypeOf(method: string, path: string): string {
  return path.startsWith(SCIM) ? 'application/scim+json' : method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
}

/** mulberry32: a small seeded generator, so that a run can be repeated. */
export function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Options of a run of random writes. */
export interface DriveOptions {
  readonly seed: number;
  readonly steps: number;
  readonly workers: number;
  /** Told of every answer, named by what was asked (`PATCH /Groups`, `admin DELETE user` …). */
  readonly onAnswer?: (name: string, answer: Answer) => void;
}

/** Sends the seeded writes, phase after phase; resolves once every answer is in. */
export async function driveRandomWrites(call: Call, options: DriveOptions): Promise<void> {
  const random = generator(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const chance = (p: number): boolean => random() < p;
  const subset = <T>(items: readonly T[], p: number): T[] => items.filter(() => chance(p));
  const STEPS = options.steps;
  const WORKERS = options.workers;
  const tally = (name: string, answer: Answer): Answer => {
    options.onAnswer?.(name, answer);
    return answer;
  };

  // Some local users and groups before SCIM is on: SCIM takes them over by name later.
  for (const login of LOGINS.slice(0, 3)) await call('POST', '/api/v2/users-management/users', { login, name: `local ${login}`, local: false });
  for (const name of GROUPS.slice(0, 2)) await call('POST', '/api/v2/authorizations/groups', { name });

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
}

/** The directory as the admin API lists it: every user, group and membership. */
export async function readDirectory(call: Call): Promise<DirectoryState> {
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
  return directory;
}

/** The whole feed, read from the start. */
export async function readFeed(call: Call): Promise<Array<{ id: string; type: string; data: any; previous?: any }>> {
  const feed: Array<{ id: string; type: string; data: any; previous?: any }> = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await call('GET', `/api/v2/events?limit=1000${cursor ? `&after=${cursor}` : ''}`);
    feed.push(...page.body.events);
    cursor = page.body.next;
    if (page.body.events.length < 1000) return feed;
  }
}
