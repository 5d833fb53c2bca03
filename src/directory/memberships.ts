/**
 * Group memberships as administrators manage them (admin API, CLI). Read-only while SCIM is
 * on, whatever the group: the identity provider owns who belongs where.
 *
 * A membership's id encodes its key, (group id, user id), rather than living in a column:
 * the table keeps one narrow row per member, so SCIM writes to 100k-member groups pay
 * nothing for ids the admin API alone needs, and the id stays stable for as long as the
 * membership exists. It is base64url, so clients treat it as opaque.
 */
import type { Store } from '../store/index.ts';
import { createGroupQueries } from '../store/groups.ts';
import { createMembershipQueries, type MembershipFilter, type MembershipRow } from '../store/memberships.ts';
import { createUserQueries } from '../store/users.ts';
import type { PageRequest } from './accounts.ts';
import type { Actor } from '../journal/actor.ts';
import { createJournal } from '../journal/journal.ts';
import { DirectoryError, rejected } from '../errors.ts';
import { assertNotManagedInstance } from './managed-mode.ts';
import { createSettings } from '../settings.ts';
import { createAccess, type Access } from './access.ts';
import { readSnapshot, transact } from '../store/transact.ts';

/** A membership as the admin API shows it. */
export interface Membership {
  readonly id: string;
  readonly groupId: string;
  readonly userId: string;
}

// Internal ids never contain a newline, so it separates the two unambiguously.
const SEPARATOR = '\n';

/** The opaque, stable id of the membership of `userId` in `groupId`. */
export function membershipId(groupId: string, userId: string): string {
  return Buffer.from(`${groupId}${SEPARATOR}${userId}`, 'utf8').toString('base64url');
}

/** The key a membership id encodes, or undefined for anything that is not one. */
export function parseMembershipId(id: string): MembershipRow | undefined {
  if (!/^[A-Za-z0-9_-]{1,600}$/.test(id)) return undefined;
  const [groupId, userId, ...rest] = Buffer.from(id, 'base64url').toString('utf8').split(SEPARATOR);
  if (!groupId || !userId || rest.length > 0 || membershipId(groupId, userId) !== id) return undefined;
  return { groupId, userId };
}

function toMembership(row: MembershipRow): Membership {
  return { id: membershipId(row.groupId, row.userId), groupId: row.groupId, userId: row.userId };
}

/**
 * The membership administration service: closure over the store. `access` keeps an
 * administrator when a member leaves the administrators' group.
 */
export function createMembershipManagement(store: Store, access: Access = createAccess(store)) {
  const memberships = createMembershipQueries(store.dialect);
  const groups = createGroupQueries(store.dialect);
  const users = createUserQueries(store.dialect);
  const journal = createJournal(store.dialect);
  const settings = createSettings(store);

  function notFound(id: string): DirectoryError {
    return new DirectoryError('not_found', `Group membership '${id}' not found`);
  }

  return {
    /** A page of memberships of a group, of a user, or of both. */
    async list(filter: MembershipFilter, page: PageRequest): Promise<{ memberships: Membership[]; total: number }> {
      // A read: its own snapshot (the count and the page agree), and no write lock to wait for or hold.
      return readSnapshot(store.db, async (trx) => {
        const total = await memberships.count(trx, filter);
        const rows = page.limit === 0 ? [] : await memberships.list(trx, filter, page.offset, page.limit);
        return { memberships: rows.map(toMembership), total };
      });
    },

    /** Adds an active user to a group; refused while SCIM is on. */
    async add(input: { readonly groupId?: unknown; readonly userId?: unknown }, actor: Actor): Promise<Membership> {
      for (const field of ['groupId', 'userId'] as const) {
        const value = input[field];
        if (value === undefined || value === null) throw rejected(field, value, 'must not be null');
        if (typeof value !== 'string') throw rejected(field, value, 'must be a string');
      }
      const groupId = input.groupId as string;
      const userId = input.userId as string;
      return transact(store.db, async (trx) => {
        await assertNotManagedInstance(trx, settings);
        // Both rows locked until the commit (PostgreSQL), the user first as a deactivation
        // takes them: a deactivation or a group deletion committed meanwhile is seen here, not
        // undone by a member added to a deactivated user or inserted into a deleted group.
        const user = await users.findById(trx, userId, 'write');
        const group = await groups.findById(trx, groupId, 'write');
        if (!group) throw new DirectoryError('not_found', `Group '${groupId}' not found`);
        if (!user) throw new DirectoryError('not_found', `User '${userId}' not found`);
        // An administrator's deactivation removed the user from every group; adding it back
        // would undo that. (Only SCIM, which owns them, keeps a suspended user's memberships.)
        if (!user.active) throw new DirectoryError('invalid', `User '${user.login}' is deactivated and cannot join a group.`, 'userId');
        const alreadyMember = (): DirectoryError => new DirectoryError('conflict', `User '${user.login}' is already a member of group '${group.name}'.`, 'userId');
        if (await memberships.exists(trx, groupId, userId)) throw alreadyMember();
        const now = new Date().toISOString();
        // Nothing inserted: the same membership was added by a request that got there first.
        if ((await memberships.add(trx, groupId, [userId], now, journal.stamp(actor, now))) === 0) throw alreadyMember();
        await groups.touch(trx, groupId, now);
        const membership = toMembership({ groupId, userId });
        await journal.record(trx, actor, {
          action: 'membership.added',
          targetType: 'membership',
          targetId: membership.id,
          details: { groupId, userId, group: group.name, login: user.login },
        }, now);
        return membership;
      });
    },

    /** Removes a membership by id; refused while SCIM is on. */
    async remove(id: string, actor: Actor): Promise<void> {
      const key = parseMembershipId(id);
      if (!key) throw notFound(id);
      await transact(store.db, async (trx) => {
        // Both rows locked until the commit (PostgreSQL), in the order a deactivation takes them
        // (the administrators' rows first when the group is theirs, then the user, then the
        // group): a rename of either committed meanwhile is waited for, so that the event names
        // them as they are when this commits, after the rename in the feed.
        const seen = await groups.findById(trx, key.groupId);
        if (seen !== undefined && access.isAdminGroup(seen.name)) await access.lockAdministrators(trx);
        const user = await users.findById(trx, key.userId, 'write');
        const group = await groups.findById(trx, key.groupId, 'write');
        // The CLI names a group and a user, not the id it made of them: say what is wrong in those terms.
        const absent = (): DirectoryError => (group !== undefined && user !== undefined ? new DirectoryError('not_found', `User '${user.login}' is not a member of group '${group.name}'.`) : notFound(id));
        if (!(await memberships.exists(trx, key.groupId, key.userId))) throw absent();
        await assertNotManagedInstance(trx, settings);
        const now = new Date().toISOString();
        const remove = (): Promise<number> => memberships.remove(trx, key.groupId, [key.userId], journal.stamp(actor, now));
        // A member leaving the administrators' group stops being an administrator.
        const removed = await (group !== undefined && access.isAdminGroup(group.name) ? access.keepingAnAdministrator(trx, remove, 'group') : remove());
        // Nothing deleted: a request that got there first removed it (PostgreSQL), answered as a later request is.
        if (removed === 0) throw absent();
        await groups.touch(trx, key.groupId, now);
        // Named as membership.added names them: once the membership is gone, its id leads nowhere.
        await journal.record(trx, actor, {
          action: 'membership.removed',
          targetType: 'membership',
          targetId: id,
          details: { groupId: key.groupId, userId: key.userId, group: group?.name ?? null, login: user?.login ?? null },
        }, now);
      });
    },
  };
}

export type MembershipManagement = ReturnType<typeof createMembershipManagement>;
