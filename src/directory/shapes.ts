/**
 * Users and groups as the admin API shows them (SonarQube's Web API v2 shapes). The one
 * definition: the admin API answers with it and the event feed carries it (journal/).
 */
import type { FeedEvent } from '../journal/journal.ts';
import type { StoredGroup } from '../store/groups.ts';
import type { StoredUser } from '../store/users.ts';

/** A user as the admin API and the events show it. */
// Type aliases rather than interfaces: they are JSON objects (Record<string, unknown>) as they are.
export type UserShape = {
  readonly id: string;
  readonly login: string;
  readonly name: string | null;
  readonly email: string | null;
  readonly active: boolean;
  readonly local: boolean;
  readonly managed: boolean;
  readonly externalLogin: string;
  readonly externalProvider: string;
  readonly externalId: string | null;
  readonly sonarQubeLastConnectionDate: string | null;
};

/** A group as the admin API and the events show it; Roster has no default group. */
export type GroupShape = {
  readonly id: string;
  readonly name: string;
  readonly description: string | null;
  readonly managed: boolean;
  readonly default: boolean;
};

/**
 * The identity provider a user signs in with, in SonarQube's terms: `roster` (a local password)
 * or `saml`, with the login as the SAML login (`externalLogin`). Roster's providers are fixed,
 * so both are derived and cannot be set. A local account SCIM manages keeps its password but
 * signs in through SAML only (password sign-in refuses managed accounts): `saml`.
 */
export function externalProviderOf(user: StoredUser): 'roster' | 'saml' {
  return user.local && user.scimId === null ? 'roster' : 'saml';
}

/** The admin API's user. */
export function userShape(user: StoredUser): UserShape {
  return {
    id: user.id,
    login: user.login,
    name: user.displayName,
    email: user.email,
    active: user.active,
    local: user.local,
    managed: user.scimId !== null,
    externalLogin: user.login,
    externalProvider: externalProviderOf(user),
    externalId: user.externalId,
    // SonarQube's field name, kept so that scripts written for SonarQube read it unchanged.
    sonarQubeLastConnectionDate: user.lastConnectionAt,
  };
}

/** The admin API's group. */
export function groupShape(group: StoredGroup): GroupShape {
  return { id: group.id, name: group.name, description: group.description, managed: group.scimId !== null, default: false };
}

/**
 * Whether a change shows in the shape: a write that changes only what the admin API does not
 * show (a SCIM attribute without a column, the sign-in time) gives no `*.updated` event.
 */
export function sameShape(a: UserShape | GroupShape, b: UserShape | GroupShape): boolean {
  const left: Record<string, unknown> = a;
  const right: Record<string, unknown> = b;
  const keys = new Set([...Object.keys(left), ...Object.keys(right)]);
  // The last sign-in moves on every sign-in; it alone is no change applications follow.
  keys.delete('sonarQubeLastConnectionDate');
  return [...keys].every((key) => left[key] === right[key]);
}

/**
 * The feed event of a change to a user, from its stored rows before (undefined: it is new)
 * and after: `user.created`, `user.deactivated`, `user.reactivated`, else `user.updated`, with
 * the shape before as `previous`. None when nothing the shape shows changed.
 */
export function userEvent(before: StoredUser | undefined, after: StoredUser): FeedEvent[] {
  const data = userShape(after);
  if (before === undefined) return [{ type: 'user.created', data }];
  const previous = userShape(before);
  const type = before.active && !after.active ? 'user.deactivated' : !before.active && after.active ? 'user.reactivated' : 'user.updated';
  if (type === 'user.updated' && sameShape(previous, data)) return [];
  return [{ type, data, previous }];
}

/** The feed event of a change to a group: `group.created`, else `group.updated` with `previous` when its shape changed. */
export function groupEvent(before: StoredGroup | undefined, after: StoredGroup): FeedEvent[] {
  const data = groupShape(after);
  if (before === undefined) return [{ type: 'group.created', data }];
  const previous = groupShape(before);
  return sameShape(previous, data) ? [] : [{ type: 'group.updated', data, previous }];
}
