/**
 * An application's copy of the directory, kept from change events alone (docs/events.md), as
 * the event-replay probe (bench/event-replay.ts) and its tests build it. It applies each event
 * strictly: every event must make sense against what the events before it said (an update names
 * a user already known, whose state is its `previous`; a member added is not a member yet; a
 * membership event names the group and the user as they stand), so that an event a change forgot,
 * one out of order, or one whose payload disagrees with the feed, shows as a problem at once
 * instead of only as a difference at the end.
 */

/** A user as the replica keeps it: the fields of the events' user shape an application follows. */
// Type aliases rather than interfaces: compared field by field as records.
export type ReplicaUser = {
  readonly id: string;
  readonly login: string;
  readonly name: string | null;
  readonly email: string | null;
  readonly active: boolean;
  readonly local: boolean;
  readonly managed: boolean;
  readonly externalId: string | null;
};

/** A group as the replica keeps it. */
export type ReplicaGroup = {
  readonly id: string;
  readonly name: string;
  readonly description: string | null;
  readonly managed: boolean;
};

/** An event as the feed and webhooks give it (webhooks: `timestamp` for `occurredAt`, no actor). */
export interface ReplayEvent {
  readonly id: string;
  readonly type: string;
  readonly data: any;
  readonly previous?: any;
}

const USER_FIELDS = ['id', 'login', 'name', 'email', 'active', 'local', 'managed', 'externalId'] as const;
const GROUP_FIELDS = ['id', 'name', 'description', 'managed'] as const;

/** The replica's fields of an event's user. */
export function replicaUser(shape: any): ReplicaUser {
  return { id: shape.id, login: shape.login, name: shape.name, email: shape.email, active: shape.active, local: shape.local, managed: shape.managed, externalId: shape.externalId };
}

/** The replica's fields of an event's group. */
export function replicaGroup(shape: any): ReplicaGroup {
  return { id: shape.id, name: shape.name, description: shape.description, managed: shape.managed };
}

/** The fields on which `a` and `b` differ, as `field: a → b`. */
export function differences(a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>, fields: readonly string[]): string[] {
  return fields.filter((field) => a[field] !== b[field]).map((field) => `${field}: ${JSON.stringify(a[field])} → ${JSON.stringify(b[field])}`);
}

/** Logins and group names are unique regardless of case: close enough for the probe's ASCII names. */
function key(name: string): string {
  return name.normalize('NFKC').toLowerCase();
}

function membership(groupId: string, userId: string): string {
  return `${groupId}\n${userId}`;
}

/** A replica; `problems` lists every event that did not apply cleanly, with why. */
export class Replica {
  readonly users = new Map<string, ReplicaUser>();
  readonly groups = new Map<string, ReplicaGroup>();
  /** `group id \n user id`. */
  readonly members = new Set<string>();
  readonly problems: string[] = [];
  /** Ids of the events applied, to skip one delivered again. */
  readonly applied = new Set<string>();
  /** Events given again (skipped), and events given after a later one (applied all the same). */
  duplicates = 0;
  outOfOrder = 0;
  private lastId = 0;

  private problem(event: ReplayEvent, text: string): void {
    this.problems.push(`event ${event.id} ${event.type}: ${text}`);
  }

  /** Applies one event unless it was applied before (by id). */
  apply(event: ReplayEvent): void {
    if (this.applied.has(event.id)) {
      this.duplicates += 1;
      return;
    }
    this.applied.add(event.id);
    if (Number(event.id) < this.lastId) this.outOfOrder += 1;
    this.lastId = Math.max(this.lastId, Number(event.id));
    switch (event.type) {
      case 'user.created':
        return this.putUser(event, false);
      case 'user.updated':
      case 'user.deactivated':
      case 'user.reactivated':
        return this.putUser(event, true);
      case 'user.anonymized':
        return this.anonymize(event);
      case 'group.created':
        return this.putGroup(event, false);
      case 'group.updated':
        return this.putGroup(event, true);
      case 'group.deleted':
        return this.deleteGroup(event);
      case 'group.user_added':
      case 'group.user_removed':
        return this.changeMember(event);
      case 'provisioning.disabled':
        // Every user and group becomes local, with no event of their own (docs/events.md).
        for (const [id, user] of this.users) this.users.set(id, { ...user, managed: false });
        for (const [id, group] of this.groups) this.groups.set(id, { ...group, managed: false });
        return;
      case 'provisioning.enabled':
        return;
      default:
        this.problem(event, 'unknown type');
    }
  }

  /** Another user (than `id`) that holds `login`, regardless of case. */
  private loginHolder(login: string, id: string): ReplicaUser | undefined {
    for (const user of this.users.values()) if (user.id !== id && key(user.login) === key(login)) return user;
    return undefined;
  }

  private putUser(event: ReplayEvent, update: boolean): void {
    const next = replicaUser(event.data);
    const current = this.users.get(next.id);
    if (!update && current !== undefined) this.problem(event, `user ${next.id} (${next.login}) was created before`);
    if (update) {
      if (current === undefined) this.problem(event, `unknown user ${next.id} (${next.login})`);
      else if (event.previous === undefined) this.problem(event, 'no previous');
      else {
        // An anonymization that deactivates too gives a user.deactivated whose `previous` is the
        // account as erased, so that the feed never carries again what was deleted (docs/events.md).
        const erased = event.type === 'user.deactivated' && String(event.data.login).startsWith('anonymized-') && event.previous.login === event.data.login;
        const fields = erased ? USER_FIELDS.filter((field) => !['login', 'name', 'email', 'externalId'].includes(field)) : USER_FIELDS;
        const stale = differences(current, replicaUser(event.previous), fields);
        if (stale.length > 0) this.problem(event, `previous of ${next.login} is not the user as the feed left it: ${stale.join(', ')}`);
      }
      const wasActive = current?.active;
      if (event.type === 'user.deactivated' && !(wasActive === true && !next.active)) this.problem(event, 'not a deactivation');
      if (event.type === 'user.reactivated' && !(wasActive === false && next.active)) this.problem(event, 'not a reactivation');
      if (event.type === 'user.updated' && wasActive !== undefined && wasActive !== next.active) this.problem(event, 'active changed in a user.updated');
    }
    const holder = this.loginHolder(next.login, next.id);
    if (holder !== undefined) this.problem(event, `login ${next.login} is also held by user ${holder.id} (${holder.login}, active ${holder.active})`);
    this.users.set(next.id, next);
  }

  private anonymize(event: ReplayEvent): void {
    const next = replicaUser(event.data);
    const current = this.users.get(next.id);
    if (current === undefined) this.problem(event, `unknown user ${next.id}`);
    else if (current.active) this.problem(event, 'anonymized while active in the replica');
    for (const entry of this.members) if (entry.endsWith(`\n${next.id}`)) this.problem(event, `anonymized user still member of group ${entry.split('\n')[0]}`);
    this.users.set(next.id, next);
  }

  private putGroup(event: ReplayEvent, update: boolean): void {
    const next = replicaGroup(event.data);
    const current = this.groups.get(next.id);
    if (!update && current !== undefined) this.problem(event, `group ${next.id} (${next.name}) was created before`);
    if (update) {
      if (current === undefined) this.problem(event, `unknown group ${next.id} (${next.name})`);
      else if (event.previous === undefined) this.problem(event, 'no previous');
      else {
        const stale = differences(current, replicaGroup(event.previous), GROUP_FIELDS);
        if (stale.length > 0) this.problem(event, `previous of group ${next.name} is not the group as the feed left it: ${stale.join(', ')}`);
      }
    }
    for (const group of this.groups.values()) {
      if (group.id !== next.id && key(group.name) === key(next.name)) this.problem(event, `group name ${next.name} is also held by group ${group.id}`);
    }
    this.groups.set(next.id, next);
  }

  private deleteGroup(event: ReplayEvent): void {
    const id = String(event.data.id);
    if (!this.groups.has(id)) this.problem(event, `unknown group ${id} (${event.data.name})`);
    this.groups.delete(id);
    // Its memberships go with it: no group.user_removed for them.
    for (const entry of [...this.members]) if (entry.startsWith(`${id}\n`)) this.members.delete(entry);
  }

  private changeMember(event: ReplayEvent): void {
    const groupId = String(event.data?.group?.id);
    const userId = String(event.data?.user?.id);
    const group = this.groups.get(groupId);
    const user = this.users.get(userId);
    if (group === undefined) this.problem(event, `unknown group ${groupId} (${event.data?.group?.name})`);
    else if (group.name !== event.data.group.name) this.problem(event, `names group ${groupId} ${JSON.stringify(event.data.group.name)}, the feed says ${JSON.stringify(group.name)}`);
    if (user === undefined) this.problem(event, `unknown user ${userId} (${event.data?.user?.login})`);
    // The removals of an anonymization name the account by its new login, before the
    // user.deactivated and user.anonymized that say so (docs/events.md).
    else if (user.login !== event.data.user.login && !(event.type === 'group.user_removed' && event.data.user.login === `anonymized-${userId.replace(/-/g, '')}`)) this.problem(event, `names user ${userId} ${JSON.stringify(event.data.user.login)}, the feed says ${JSON.stringify(user.login)}`);
    const entry = membership(groupId, userId);
    if (event.type === 'group.user_added') {
      if (this.members.has(entry)) this.problem(event, `${event.data.user.login} is already a member of ${event.data.group.name}`);
      this.members.add(entry);
    } else {
      if (!this.members.has(entry)) this.problem(event, `${event.data.user.login} is not a member of ${event.data.group.name}`);
      this.members.delete(entry);
    }
  }
}

/** The directory as the admin API lists it, for comparison with a replica. */
export interface DirectoryState {
  readonly users: readonly ReplicaUser[];
  readonly groups: readonly ReplicaGroup[];
  readonly members: readonly { readonly groupId: string; readonly userId: string }[];
}

/** Every difference between a replica and the directory, one line each; empty when they agree. */
export function compareWithDirectory(replica: Replica, directory: DirectoryState): string[] {
  const found: string[] = [];
  const users = new Map(directory.users.map((user) => [user.id, user]));
  for (const user of directory.users) {
    const kept = replica.users.get(user.id);
    if (kept === undefined) found.push(`user ${user.id} (${user.login}) is missing from the replica`);
    else {
      const differ = differences(kept, user, USER_FIELDS);
      if (differ.length > 0) found.push(`user ${user.login} (${user.id}) differs, replica → directory: ${differ.join(', ')}`);
    }
  }
  for (const user of replica.users.values()) if (!users.has(user.id)) found.push(`user ${user.id} (${user.login}) is in the replica only`);
  const groups = new Map(directory.groups.map((group) => [group.id, group]));
  for (const group of directory.groups) {
    const kept = replica.groups.get(group.id);
    if (kept === undefined) found.push(`group ${group.id} (${group.name}) is missing from the replica`);
    else {
      const differ = differences(kept, group, GROUP_FIELDS);
      if (differ.length > 0) found.push(`group ${group.name} (${group.id}) differs, replica → directory: ${differ.join(', ')}`);
    }
  }
  for (const group of replica.groups.values()) if (!groups.has(group.id)) found.push(`group ${group.id} (${group.name}) is in the replica only`);
  const members = new Set(directory.members.map((row) => membership(row.groupId, row.userId)));
  const name = (entry: string): string => {
    const [groupId = '', userId = ''] = entry.split('\n');
    return `${users.get(userId)?.login ?? replica.users.get(userId)?.login ?? userId} in ${groups.get(groupId)?.name ?? replica.groups.get(groupId)?.name ?? groupId}`;
  };
  for (const entry of members) if (!replica.members.has(entry)) found.push(`membership ${name(entry)} is missing from the replica`);
  for (const entry of replica.members) if (!members.has(entry)) found.push(`membership ${name(entry)} is in the replica only`);
  return found;
}
