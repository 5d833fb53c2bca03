/**
 * Groups as administrators manage them (admin API, CLI). SCIM's view of groups is groups.ts.
 * While SCIM is on, groups are read-only except that a local group may still be deleted.
 */
import { newId } from '../ids.ts';
import type { Transaction } from 'kysely';
import type { Database, Store } from '../store/index.ts';
import { isUniqueViolation } from '../store/errors.ts';
import { createGroupQueries, type GroupFilter, type StoredGroup } from '../store/groups.ts';
import { createMembershipQueries } from '../store/memberships.ts';
import type { RowLock } from '../store/users.ts';
import type { PageRequest } from './accounts.ts';
import type { Actor } from '../journal/actor.ts';
import { createJournal } from '../journal/journal.ts';
import { checkFields, DirectoryError, managedError, rejected } from '../errors.ts';
import { assertNotManagedInstance, isManagedInstance } from './managed-mode.ts';
import { createSettings } from '../settings.ts';
import { groupEvent, groupShape } from './shapes.ts';
import { createAccess, type Access } from './access.ts';
import { readSnapshot, transact } from '../store/transact.ts';
import { displayTextProblem, groupNameProblem, MAX_GROUP_NAME } from './name-rules.ts';

/** The body of a create or a merge-patch: present keys are set. */
export interface GroupInput {
  readonly name?: unknown;
  readonly description?: unknown;
}

/**
 * A merge-patch of a group. A key sent with the value it already has changes nothing, so that
 * what the API shows of a group can be sent back as it is: the read-only keys are accepted
 * when they hold the group's value and refused otherwise.
 */
export interface GroupPatch extends GroupInput {
  /** Read-only. */
  readonly id?: unknown;
  /** Read-only: whether SCIM manages the group. */
  readonly managed?: unknown;
  /** Read-only and always false: Roster has no default group (SonarQube's `sonar-users`). */
  readonly default?: unknown;
}

/** The limits of a group's fields, shared with the admin API's schemas. */
export const GROUP_LIMITS = { name: MAX_GROUP_NAME, description: 200 } as const;
const MAX_DESCRIPTION = GROUP_LIMITS.description;

function checkName(value: unknown): string {
  if (value === undefined || value === null) throw rejected('name', value, 'must not be null');
  if (typeof value !== 'string') throw rejected('name', value, 'must be a string');
  const problem = groupNameProblem(value);
  if (problem !== undefined) throw rejected('name', value, problem);
  return value;
}

function checkDescription(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw rejected('description', value, 'must be a string');
  if (value.length > MAX_DESCRIPTION) throw rejected('description', value, `size must be between 0 and ${MAX_DESCRIPTION}`);
  const problem = displayTextProblem(value);
  if (problem !== undefined) throw rejected('description', value, problem);
  return value;
}

function nameTaken(name: string): DirectoryError {
  return new DirectoryError('conflict', `Group '${name}' already exists`, 'name');
}

/**
 * Why an administrator may not delete `group`, or undefined when they may: a group the
 * identity provider manages (SCIM-linked) is its to delete. The console greys its button out
 * by this same rule, and delete() throws what it returns.
 */
export function deletionRefusal(group: StoredGroup): DirectoryError | undefined {
  return group.scimId !== null ? managedError() : undefined;
}

/**
 * The group administration service: closure over the store. `access` keeps an administrator
 * when the administrators' group is renamed or deleted.
 */
export function createGroupManagement(store: Store, access: Access = createAccess(store)) {
  const groups = createGroupQueries(store.dialect);
  const memberships = createMembershipQueries(store.dialect);
  const journal = createJournal(store.dialect);
  const settings = createSettings(store);

  async function write<T>(name: () => string, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    try {
      return await transact(store.db, work);
    } catch (error) {
      // A racing request may have taken the name between our check and our write.
      if (isUniqueViolation(error)) throw nameTaken(name());
      throw error;
    }
  }

  /**
   * The group, its row locked until the commit (PostgreSQL). The administrators' group takes the
   * administrators' rows first, in the order a deactivation takes them: locked after the group,
   * they deadlocked with a rename of one of its members (the user's row, then its groups').
   */
  async function findLocked(trx: Transaction<Database>, id: string, lock: RowLock): Promise<StoredGroup | undefined> {
    const seen = await groups.findById(trx, id);
    if (seen !== undefined && access.isAdminGroup(seen.name)) await access.lockAdministrators(trx);
    if ((await groups.findById(trx, id, lock)) === undefined) return undefined;
    // Read again by a statement of its own, once the row is held (PostgreSQL): the locking read
    // shows the row as a transaction that held it left it, but its SCIM link (another table's
    // row) as it was when the read began. An identity provider's create that took the group over
    // meanwhile would not show, and a deletion would remove a managed group while SCIM is on.
    return groups.findById(trx, id);
  }

  return {
    /** A page of groups and the total; `managed` may only filter a managed instance. */
    async list(filter: GroupFilter, page: PageRequest): Promise<{ groups: StoredGroup[]; total: number }> {
      // A read: its own snapshot (the count and the page agree), and no write lock to wait for or hold.
      return readSnapshot(store.db, async (trx) => {
        if (filter.managed !== undefined && !(await isManagedInstance(trx))) {
          throw new DirectoryError('invalid', "The 'managed' parameter is only available for managed instances.", 'managed');
        }
        const total = await groups.countAll(trx, filter);
        const found = page.limit === 0 ? [] : await groups.listAll(trx, filter, page.offset, page.limit);
        return { groups: found, total };
      });
    },

    /** The group of that name (group names match by their case key, the exact spelling first), or undefined. */
    async findByName(name: string): Promise<StoredGroup | undefined> {
      return groups.findByName(store.db, name);
    },

    /** One group by internal id (404 otherwise). */
    async get(id: string): Promise<StoredGroup> {
      const group = await groups.findById(store.db, id);
      if (!group) throw new DirectoryError('not_found', `Group '${id}' not found`);
      return group;
    },

    /** Creates a local group; refused while SCIM is on. */
    async create(input: GroupInput, actor: Actor): Promise<StoredGroup> {
      const { name, description } = checkFields({ name: () => checkName(input.name), description: () => checkDescription(input.description) });
      return write(() => name, async (trx) => {
        await assertNotManagedInstance(trx, settings);
        if (await groups.findByName(trx, name)) throw nameTaken(name);
        const id = newId();
        const now = new Date().toISOString();
        await groups.insertLocal(trx, id, name, description, now);
        const created = await groups.findById(trx, id);
        if (!created) throw new Error('created group vanished');
        await journal.record(trx, actor, { action: 'group.created', targetType: 'group', targetId: id, details: { after: { name, description } }, events: groupEvent(undefined, created) }, now);
        return created;
      });
    },

    /**
     * Renames a group or changes its description; refused while SCIM is on. A patch that
     * changes nothing writes nothing (no audit entry), in any mode.
     */
    async update(id: string, patch: GroupPatch, actor: Actor): Promise<StoredGroup> {
      let name = '';
      const has = (key: keyof GroupPatch): boolean => Object.hasOwn(patch, key);
      return write(() => name, async (trx) => {
        // A parallel update waits and then starts from this one's result (no field written back
        // from a stale read); a parallel deletion waits, or was first (404).
        const current = await findLocked(trx, id, 'write');
        if (!current) throw new DirectoryError('not_found', `Group '${id}' not found`);
        const readOnly = (field: 'id' | 'managed' | 'default', value: unknown, why: string): void => {
          if (has(field) && patch[field] !== value) throw rejected(field, patch[field], why);
        };
        readOnly('id', current.id, 'is read-only: it must be the id in the URL');
        readOnly('managed', current.scimId !== null, 'is read-only: it says whether the identity provider manages the group through SCIM');
        readOnly('default', false, 'is read-only: Roster has no default group');
        const checked = checkFields({
          name: () => (has('name') && patch.name !== current.name ? checkName(patch.name) : current.name),
          description: () => (has('description') && patch.description !== current.description ? checkDescription(patch.description) : current.description),
        });
        name = checked.name;
        const { description } = checked;
        if (name === current.name && description === current.description) return current;
        await assertNotManagedInstance(trx, settings);
        const other = await groups.findByName(trx, name);
        if (other && other.id !== id) throw nameTaken(name);
        const now = new Date().toISOString();
        // Renamed away from the administrators' group's name, its members are administrators no more.
        const losesAdministrators = access.isAdminGroup(current.name) && !access.isAdminGroup(name);
        const update = (): Promise<void> => groups.updateLocal(trx, id, name, description, now);
        await (losesAdministrators ? access.keepingAnAdministrator(trx, update, 'group') : update());
        const updated = await groups.findById(trx, id);
        if (!updated) throw new Error('updated group vanished');
        await journal.record(trx, actor, {
          action: 'group.updated',
          targetType: 'group',
          targetId: id,
          details: { before: { name: current.name, description: current.description }, after: { name, description } },
          events: groupEvent(current, updated),
        }, now);
        return updated;
      });
    },

    /** Deletes a group and its memberships; a managed group is the identity provider's to delete. */
    async delete(id: string, actor: Actor): Promise<void> {
      await transact(store.db, async (trx) => {
        // Of parallel deletions, all but the first find no group (404), so it is deleted (and
        // said so) once.
        const current = await findLocked(trx, id, 'delete');
        if (!current) throw new DirectoryError('not_found', `Group '${id}' not found`);
        const refusal = deletionRefusal(current);
        if (refusal !== undefined) throw refusal;
        const members = await memberships.count(trx, { groupId: id });
        const now = new Date().toISOString();
        const remove = (): Promise<void> => groups.delete(trx, id, now);
        await (access.isAdminGroup(current.name) ? access.keepingAnAdministrator(trx, remove, 'group') : remove());
        // Its memberships go with it: `group.deleted` says so for all of them at once.
        await journal.record(trx, actor, {
          action: 'group.deleted',
          targetType: 'group',
          targetId: id,
          details: { name: current.name, before: { name: current.name, description: current.description }, members },
          events: [{ type: 'group.deleted', data: groupShape(current) }],
        }, now);
      });
    },
  };
}

export type GroupManagement = ReturnType<typeof createGroupManagement>;
