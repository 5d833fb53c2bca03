/**
 * Groups and their memberships: the domain rules, whatever API asks. Member changes are
 * applied as row inserts and deletes, so their cost follows the members changed, never the
 * size of the group.
 */
import type { AttributePath, Filter } from '../scim/filter/ast.ts';
import { foldDocument } from '../scim/keys.ts';
import { GROUP_SCHEMA, type ResourceSchemas } from '../scim/schemas.ts';
import { compileFilter, compileSort } from '../store/filter-sql.ts';
import type { Store } from '../store/index.ts';
import type { Executor } from '../store/executor.ts';
import type { HeldSnapshot } from '../store/held-snapshot.ts';
import { createUserQueries, type RowLock } from '../store/users.ts';
import { isUniqueViolation } from '../store/errors.ts';
import { readListSnapshot, transact } from '../store/transact.ts';
import { answeredByIndex } from '../store/indexed-filters.ts';
import { createGroupQueries, type GroupWrite, type StoredGroup } from '../store/groups.ts';
import type { EventStamp } from '../store/journal.ts';
import { createMembershipQueries, INLINE_MEMBERS, MEMBER_LOOKUP_IDS, type GroupMember, type LinkedReference } from '../store/memberships.ts';
import { newId } from '../ids.ts';
import type { Actor } from '../journal/actor.ts';
import { createJournal } from '../journal/journal.ts';
import { extensionUrns, sameAttributes } from './documents.ts';
import { groupEvent, groupShape } from './shapes.ts';
import { DirectoryError } from '../errors.ts';
import type { Document, WriteNotes } from './documents.ts';
import { readPage, type Page, type PageRequest } from './paging.ts';
import type { ScimSchemas } from './scim-schemas.ts';
import { createUniqueValues } from './unique-values.ts';
import { assertVersion, type VersionCheck } from './users.ts';
import { assertScimWritable, isManagedInstance } from './managed-mode.ts';
import { SCIM_NOT_ENABLED_MESSAGE } from './provisioning.ts';
import { createSettings } from '../settings.ts';
import { groupNameCharacterProblem } from './name-rules.ts';
import { caseKey, revealHidden } from '../text.ts';

/** A change to a group's members, by SCIM user id, applied in the order given. */
export type MemberChange =
  | { readonly kind: 'add'; readonly ids: readonly string[] }
  | { readonly kind: 'remove'; readonly ids: readonly string[] }
  | { readonly kind: 'removeAll' }
  | { readonly kind: 'replace'; readonly ids: readonly string[] };

/**
 * Which members a read loads: all (true), none (false), or only the members among these SCIM
 * user ids (`among`: a member check, `attributes=members[value eq "<id>"]`), read by key without
 * the rest of the group.
 */
export type MemberRead = boolean | { readonly among: readonly string[] };

export interface ScimGroup {
  readonly group: StoredGroup;
  readonly scimId: string;
  /** Without id and meta; `members` is filled only when members were loaded. */
  readonly document: Document;
}

export interface GroupListQuery {
  readonly filter?: Filter;
  readonly sortBy?: AttributePath;
  /** The URL of the SCIM endpoint of these resources, with its trailing '/': filters and sorting read meta.location as this followed by the id. */
  readonly locationBase: string;
  readonly descending: boolean;
  readonly page: PageRequest;
  /** The members to read: false when `members` will not be shown (memberships are then never read), `among` for a member check. */
  readonly withMembers: MemberRead;
  /** The schemas in force, when the caller has just read them (a request reads them once); else read here. */
  readonly schemas?: ResourceSchemas;
}

/** What an update produces: the new document (without members) and the member changes. */
export interface GroupChange {
  readonly document: Document;
  readonly memberChanges: readonly MemberChange[];
}

/**
 * What a request's member changes did, for the audit trail: how many members came and went,
 * the ids its add and remove operations named, the whole list a replace set (it names the
 * members, not who came or went), and whether it removed every member. Who exactly came and
 * went is in the change events (group.user_added, group.user_removed).
 */
interface MemberCounts {
  readonly added: number;
  readonly removed: number;
  readonly addedIds: readonly string[];
  readonly removedIds: readonly string[];
  readonly replacedWith: readonly string[] | undefined;
  readonly removedAll: boolean;
}

/** Member ids an audit entry names at most per list: the entry says who was named, not a copy of the group. */
export const AUDITED_IDS = 100;

/**
 * `{[name]: ids}`, or the first AUDITED_IDS of them and `[name]Omitted`, how many more: an IdP
 * that PUTs a 50,000-member group on every cycle would otherwise add megabytes to the audit log
 * each time. The change events name every member who came or went.
 */
function listedIds(name: string, ids: readonly string[]): Record<string, unknown> {
  if (ids.length <= AUDITED_IDS) return { [name]: ids };
  return { [name]: ids.slice(0, AUDITED_IDS), [`${name}Omitted`]: ids.length - AUDITED_IDS };
}

/**
 * The character rules every group name follows (name-rules.ts), on a new or changed displayName.
 * Surrounding spaces stay the identity provider's choice: its groups are matched by id, and it
 * owns their spelling.
 */
function checkDisplayName(name: string): void {
  const problem = groupNameCharacterProblem(name);
  if (problem !== undefined) throw new DirectoryError('invalid', `displayName "${revealHidden(name)}" ${problem}.`, 'displayName');
}

function toWrite(document: Document, schemas: ResourceSchemas): GroupWrite {
  const { displayName, externalId, members: _members, id: _id, meta: _meta, ...data } = document;
  if (typeof displayName !== 'string' || displayName.trim() === '') {
    throw new DirectoryError('invalid', 'displayName is required.', 'displayName');
  }
  return { name: displayName, externalId: typeof externalId === 'string' ? externalId : null, data, fold: foldDocument(schemas, data) };
}

/** `ignoredAttributes` for an audit entry's details, when the write ignored any. */
function ignoredOf(notes: WriteNotes): { ignoredAttributes?: readonly string[] } {
  const ignored = notes.ignoredAttributes;
  // A transaction run again (a transient conflict) runs a PATCH's operations, and fills the list, again.
  return ignored !== undefined && ignored.length > 0 ? { ignoredAttributes: [...new Set(ignored)] } : {};
}

/** The SCIM document of a stored group, without id, meta and members. */
function groupDocument(group: StoredGroup): Document {
  const document: Document = { ...group.data, schemas: [GROUP_SCHEMA, ...extensionUrns(group.data)], displayName: group.name };
  if (group.externalId !== null) document.externalId = group.externalId;
  return document;
}

/** The SCIM values of `members` (Group.members[]), as every answer shows them. */
export function memberElements(members: readonly LinkedReference[]): Document[] {
  return members.map((member) => ({ value: member.scimId, display: member.display, type: 'User' }));
}

/** `members` is the document's last attribute (streamed answers rely on it: http/routes/scim/streamed.ts). */
function withMembers(document: Document, members: readonly LinkedReference[] | undefined): Document {
  if (!members || members.length === 0) return document;
  return { ...document, members: memberElements(members) };
}

/** Members read per statement round when a read is held (HeldRead); tests pass fewer (createGroupDirectory). */
export const MEMBER_CHUNK = 1000;

/**
 * Whether `read` selects every member, which a held read then gives a chunk at a time (more ids
 * than a member check looks up read every member too: readMembers).
 */
export function readsEveryMember(read: MemberRead): boolean {
  return read === true || (read !== false && read.among.length > MEMBER_LOOKUP_IDS);
}

/**
 * A read held open in one snapshot (store/held-snapshot.ts) while its answer is written: `value`
 * was read in it without members, and `members` reads a group's members in it, MEMBER_CHUNK at
 * a time, in the order of a whole read; the members of all the groups of `value` are read by
 * one statement, so its groups are asked for in their order in `value`, each once. Guaranteed: the members given are exactly those of the
 * group's version read with it (its ETag and meta), whatever is written meanwhile, and nothing
 * else ever holds the whole group in memory. `end()` must follow, once the answer is written or
 * abandoned (it may be called more than once).
 */
export interface HeldRead<T> {
  readonly value: T;
  /** The member values of `group` (one of `value`), a chunk at a time; chunks are never empty. */
  members(group: ScimGroup): AsyncIterable<readonly Document[]>;
  end(): Promise<void>;
}

/**
 * Each group's share of one read of the members of several groups (`chunks`: group after group,
 * in the order of `groupIds`), for a caller that asks for the groups in that order, as an answer
 * written resource by resource does. A group asked for gets its rows, a chunk at most at a time;
 * the rows of groups passed over without being asked for are skipped. Holds one chunk at most.
 */
export function membersInPageOrder(groupIds: readonly string[], chunks: () => AsyncIterable<readonly GroupMember[]>): (groupId: string) => AsyncIterable<readonly LinkedReference[]> {
  const positions = new Map(groupIds.map((id, index) => [id, index]));
  let source: AsyncIterator<readonly GroupMember[]> | undefined;
  let pending: readonly GroupMember[] = [];
  let exhausted = false;
  let asked = -1;
  return async function* (groupId) {
    const at = positions.get(groupId);
    // Rows already passed cannot be read again: a second reading would need a second statement.
    if (at === undefined || at <= asked) throw new Error(`members of group ${groupId} asked out of the order they are read in`);
    asked = at;
    for (;;) {
      let start = 0;
      while (start < pending.length && (positions.get(pending[start]!.groupId) ?? -1) < at) start += 1;
      let end = start;
      while (end < pending.length && pending[end]!.groupId === groupId) end += 1;
      const mine = pending.slice(start, end);
      pending = pending.slice(end);
      if (mine.length > 0) yield mine;
      // A later group's row is next: this group has no more.
      if (pending.length > 0 || exhausted) return;
      source ??= chunks()[Symbol.asyncIterator]();
      const next = await source.next();
      if (next.done === true) exhausted = true;
      else pending = next.value;
    }
  };
}

/**
 * A HeldRead over `snapshot`: reads `value` in it (and ends it when that fails); the members of
 * the groups `groupIdsOf(value)` names are read by one reading of `membersOf`, in that order.
 */
export async function holdRead<T>(
  snapshot: HeldSnapshot,
  read: (db: Executor) => Promise<T>,
  groupIdsOf: (value: T) => readonly string[],
  membersOf: (snapshot: HeldSnapshot, groupIds: readonly string[]) => AsyncIterable<readonly GroupMember[]>,
): Promise<HeldRead<T>> {
  let value: T;
  try {
    value = await read(snapshot.db);
  } catch (error) {
    await snapshot.end();
    throw error;
  }
  const groupIds = groupIdsOf(value);
  const membersOfGroup = membersInPageOrder(groupIds, () => membersOf(snapshot, groupIds));
  return {
    value,
    async *members(group) {
      for await (const chunk of membersOfGroup(group.group.id)) yield memberElements(chunk);
    },
    end: () => snapshot.end(),
  };
}

/** The SCIM group of a stored, linked group, with its members when they were read. */
export function scimGroupOf(group: StoredGroup, members: readonly LinkedReference[] | undefined): ScimGroup {
  return { group, scimId: group.scimId ?? '', document: withMembers(groupDocument(group), members) };
}

// How many unknown ids an error message lists before it says "and N more".
const LISTED_IDS = 10;

/** Options of the group directory. */
export interface GroupDirectoryOptions {
  /** Members read per statement round of a held read; MEMBER_CHUNK when unset. */
  readonly memberChunk?: number;
}

/**
 * The member changes of one request reduced to what the whole request does, the request being
 * atomic: for each user, the last change that names it decides (a replace or a removal of every
 * member decides for everyone, the changes after it then apply to its list). So operations that
 * cancel out (a member removed and added again, a user added and removed, a list replaced and
 * then emptied) write nothing, move no version and send no event for a group that ends as it
 * was. `named` are the users an add or a replace named that the reduced changes no longer add:
 * the request would have refused one that is no user, so the caller still checks them.
 * Undefined when reducing changes nothing (one change, or adds and removes that name no user
 * twice: the usual request).
 */
function netMemberChanges(changes: readonly MemberChange[]): { changes: MemberChange[]; named: string[] } | undefined {
  if (changes.length < 2) return undefined;
  const reset = changes.findLastIndex((change) => change.kind === 'replace' || change.kind === 'removeAll');
  const base = changes[reset];
  // A replace or a removal of all with other changes becomes one replace, which writes only the
  // difference (a removal of all followed by adds removed and added again every member kept).
  if (reset === -1) {
    const seen = new Set<string>();
    let repeated = false;
    for (const change of changes) {
      if (change.kind === 'removeAll') continue;
      for (const id of change.ids) {
        if (seen.has(id)) repeated = true;
        seen.add(id);
      }
    }
    if (!repeated) return undefined;
  }
  // Every user an add or a replace named: those the reduced changes do not add are checked apart.
  const proposed = new Set<string>();
  for (const change of changes) if (change.kind === 'add' || change.kind === 'replace') for (const id of change.ids) proposed.add(id);
  let reduced: MemberChange[];
  let kept: ReadonlySet<string>;
  if (base === undefined) {
    const last = new Map<string, 'add' | 'remove'>();
    for (const change of changes) if (change.kind === 'add' || change.kind === 'remove') for (const id of change.ids) last.set(id, change.kind);
    const adds = [...last].filter(([, kind]) => kind === 'add').map(([id]) => id);
    const removes = [...last].filter(([, kind]) => kind === 'remove').map(([id]) => id);
    reduced = [...(removes.length > 0 ? [{ kind: 'remove' as const, ids: removes }] : []), ...(adds.length > 0 ? [{ kind: 'add' as const, ids: adds }] : [])];
    kept = new Set(adds);
  } else {
    const members = new Set(base.kind === 'replace' ? base.ids : []);
    for (const change of changes.slice(reset + 1)) {
      if (change.kind === 'add') for (const id of change.ids) members.add(id);
      else if (change.kind === 'remove') for (const id of change.ids) members.delete(id);
    }
    reduced = [members.size === 0 ? { kind: 'removeAll' } : { kind: 'replace', ids: [...members] }];
    kept = members;
  }
  return { changes: reduced, named: [...proposed].filter((id) => !kept.has(id)) };
}

/** The group directory: closure over the store and the schemas in force (see createUserDirectory). */
export function createGroupDirectory(store: Store, scimSchemas: ScimSchemas, options: GroupDirectoryOptions = {}) {
  const memberChunk = options.memberChunk ?? MEMBER_CHUNK;
  const groups = createGroupQueries(store.dialect);
  const memberships = createMembershipQueries(store.dialect);
  const users = createUserQueries(store.dialect);
  const journal = createJournal(store.dialect);
  const settings = createSettings(store);
  const unique = createUniqueValues(store);

  /** The members `read` selects of each group, by internal id; undefined when it selects none. */
  async function readMembers(db: Executor, groupIds: readonly string[], read: MemberRead): Promise<Map<string, LinkedReference[]> | undefined> {
    if (read === false) return undefined;
    // More ids than one lookup takes: every member is read, and the projection picks the ones named.
    const among = read === true || read.among.length > MEMBER_LOOKUP_IDS ? undefined : read.among;
    return memberships.membersOf(db, groupIds, among);
  }

  /** The members of groups in a held snapshot, group after group, memberChunk at a time. */
  function membersOf(snapshot: HeldSnapshot, groupIds: readonly string[]) {
    return memberships.membersOfGroupsInChunks(snapshot, groupIds, memberChunk);
  }

  /** How list() reads a page of groups without members, the filter and sort compiled once. */
  async function pageReader(query: GroupListQuery): Promise<(db: Executor) => Promise<Page<ScimGroup>>> {
    const options = { locationBase: query.locationBase };
    const schemas = query.schemas ?? (await scimSchemas.current()).Group;
    const where = query.filter ? compileFilter(query.filter, schemas, store.dialect, options) : undefined;
    const sort = query.sortBy ? compileSort(query.sortBy, schemas, store.dialect, options) : undefined;
    return async (db) => {
      const page = await readPage(
        {
          ...(where ? { where } : {}),
          ...(sort ? { orderBy: sort.expression, orderByNullable: sort.nullable } : {}),
          descending: query.descending,
          list: (listQuery) => groups.listLinked(db, listQuery),
          count: () => groups.countLinked(db, where),
          idOf: (group) => group.scimId ?? '',
        },
        query.page,
      );
      return { ...page, items: page.items.map((group) => scimGroupOf(group, undefined)) };
    };
  }

  /** Reads a SCIM group; writers pass `lock` so that their If-Match check and write are one step. */
  async function load(db: Executor, scimId: string, read: MemberRead, lock?: RowLock): Promise<ScimGroup> {
    const group = await groups.findByScimId(db, scimId, lock);
    if (!group || group.scimId === null) throw new DirectoryError('not_found', `Group ${scimId} not found.`);
    const members = (await readMembers(db, [group.id], read))?.get(group.id);
    return { group, scimId: group.scimId, document: withMembers(groupDocument(group), members) };
  }

  /** The 400 for member ids that are no user: the first few (in request order) and how many. */
  function unknownMembers(ids: readonly string[], count: number): DirectoryError {
    const listed = ids.map((id) => `"${id}"`).join(', ');
    const more = count > LISTED_IDS ? ` and ${count - LISTED_IDS} more` : '';
    return new DirectoryError(
      'invalid',
      `members: no user has the id ${listed}${more}. Members must be ids of existing users, as returned by /Users.`,
      'members',
    );
  }

  /** Refuses staged ids that are no user, with a clear 400 naming the first few. */
  async function assertStagedKnown(db: Executor, batch: string): Promise<void> {
    const unknown = await memberships.unknownStaged(db, batch, LISTED_IDS);
    if (unknown.count > 0) throw unknownMembers(unknown.ids, unknown.count);
  }

  /**
   * Applies member changes in order; returns counts for the audit trail. The ids a change
   * names are staged in the database and applied with set-based statements that write one
   * event per member added or removed, so that the group's members never come into memory.
   * A few ids (the IdPs' one member per PATCH) are sent inline in the same statements instead,
   * with the same effects: staging them would cost more statements than the change itself.
   */
  async function applyMemberChanges(db: Executor, groupId: string, requested: readonly MemberChange[], now: string, stamp: EventStamp): Promise<MemberCounts> {
    const netted = netMemberChanges(requested);
    if (netted !== undefined && netted.named.length > 0) {
      // Their add or replace is gone from the changes, but it was part of the request: one naming no user is still a 400.
      const known = await users.displaysByScimId(db, netted.named);
      const unknown = netted.named.filter((id) => !known.has(id));
      if (unknown.length > 0) throw unknownMembers(unknown.slice(0, LISTED_IDS), unknown.length);
    }
    const changes = netted?.changes ?? requested;
    let added = 0;
    let removed = 0;
    const addedIds: string[] = [];
    const removedIds: string[] = [];
    // A replace names the whole new member list, not who was added or removed: recorded as such.
    let replacedWith: string[] | undefined;
    let removedAll = false;
    // Several changes in one request (one per PATCH operation) touch their users one change
    // at a time: lock all their users first, in one order, so that two such requests on
    // PostgreSQL wait for each other instead of deadlocking (store/memberships.ts lockChangeRows).
    const named = changes.flatMap((change) => (change.kind === 'removeAll' ? [] : change.ids));
    if (changes.length > 1 && named.length > 1 && memberships.locksRows) {
      const distinct = [...new Set(named)];
      if (distinct.length <= INLINE_MEMBERS) {
        await memberships.lockChangeRowsOf(db, distinct);
      } else {
        const batch = newId();
        await memberships.stage(db, batch, named);
        await memberships.lockChangeRows(db, batch);
        await memberships.unstage(db, batch);
      }
    }
    for (const change of changes) {
      if (change.kind === 'removeAll') {
        removed += await memberships.removeAll(db, groupId, stamp);
        removedAll = true;
        continue;
      }
      // Members are a set of users: an id named twice ({"value": id} and {"value": id, "type":
      // "User"} are two SCIM values but one member) is one change, and is recorded once.
      const ids = [...new Set(change.ids)];
      if (change.kind !== 'replace' && ids.length <= INLINE_MEMBERS) {
        if (change.kind === 'add') {
          const result = await memberships.addByScimIds(db, groupId, ids, now, stamp);
          if (result.known.size < ids.length) {
            // Thrown, the transaction is rolled back: what the statement may have added goes with it.
            const unknown = ids.filter((id) => !result.known.has(id));
            throw unknownMembers(unknown.slice(0, LISTED_IDS), unknown.length);
          }
          added += result.added;
          for (const id of ids) addedIds.push(id);
        } else {
          // Removing someone who is not a member, or not a user at all, leaves the group as asked.
          removed += await memberships.removeByScimIds(db, groupId, ids, stamp);
          for (const id of ids) removedIds.push(id);
        }
        continue;
      }
      const batch = newId();
      await memberships.stage(db, batch, change.ids);
      switch (change.kind) {
        case 'add':
          // Locked first, then checked: a user deleted meanwhile is waited for and then found
          // unknown (400), instead of passing the check and being skipped by the insert.
          await memberships.lockStaged(db, batch);
          await assertStagedKnown(db, batch);
          added += await memberships.addStaged(db, groupId, batch, now, stamp);
          // One by one: spread into push, 200,000 ids overflowed the call stack (a RangeError, 500).
          for (const id of new Set(change.ids)) addedIds.push(id);
          break;
        case 'remove':
          // Removing someone who is not a member, or not a user at all, leaves the group as asked.
          removed += await memberships.removeStaged(db, groupId, batch, stamp);
          for (const id of new Set(change.ids)) removedIds.push(id);
          break;
        case 'replace':
          // The membership diff: members not named go, users named and not yet members come.
          // Only the differences are written: members kept are not changed, nor are their
          // versions, and they give no event.
          await memberships.lockStaged(db, batch);
          await assertStagedKnown(db, batch);
          removed += await memberships.keepOnlyStaged(db, groupId, batch, stamp);
          added += await memberships.addStaged(db, groupId, batch, now, stamp);
          replacedWith = [...new Set(change.ids)];
          break;
      }
      await memberships.unstage(db, batch);
    }
    return { added, removed, addedIds, removedIds, replacedWith, removedAll };
  }

  /** A group.members_changed audit entry's details. */
  function memberChangeDetails(scimId: string, counts: MemberCounts) {
    return {
      scimId,
      added: counts.added,
      removed: counts.removed,
      ...listedIds('addedIds', counts.addedIds),
      ...listedIds('removedIds', counts.removedIds),
      ...(counts.replacedWith !== undefined ? listedIds('replacedWith', counts.replacedWith) : {}),
      ...(counts.removedAll ? { removedAll: true } : {}),
    };
  }

  /**
   * The group named `name`, its row locked (PostgreSQL) and then read again by a statement of its
   * own when it is local, to be taken over: an administrator's deletion of it committed meanwhile
   * leaves the name free (a new group is created; linking the deleted one's id failed with a 500),
   * and a rename the group's new name.
   */
  async function heldByName(db: Executor, name: string): Promise<StoredGroup | undefined> {
    const seen = await groups.findByName(db, name);
    if (seen === undefined || seen.scimId !== null) return seen;
    await groups.findById(db, seen.id, 'write');
    return groups.findByName(db, name);
  }

  async function write<T>(work: (db: Executor) => Promise<T>, name: () => string): Promise<T> {
    try {
      // Only while SCIM is on, as of this transaction: the request's own check came earlier.
      return await transact(store.db, async (trx) => {
        await assertScimWritable(trx, settings);
        return work(trx);
      });
    } catch (error) {
      if (isUniqueViolation(error)) {
        throw new DirectoryError('conflict', `displayName "${name()}" is already used by another group.`, 'displayName');
      }
      throw error;
    }
  }

  return {
    /**
     * Creates a SCIM group with its members. An existing group of the same name that is not
     * linked to SCIM is taken over (linked, renamed to the IdP's spelling, its members replaced).
     */
    async create(document: Document, memberIds: readonly string[], actor: Actor, notes: WriteNotes = {}): Promise<ScimGroup> {
      const name = typeof document.displayName === 'string' ? document.displayName : '';
      return write(async (trx) => {
        const schemas = (await scimSchemas.current(trx)).Group;
        const values = toWrite(document, schemas);
        checkDisplayName(values.name);
        const now = new Date().toISOString();
        const existing = await heldByName(trx, values.name);
        if (existing?.scimId) {
          throw new DirectoryError('conflict', `displayName "${values.name}" is already used by another group.`, 'displayName');
        }
        const scimId = newId();
        let id: string;
        if (existing) {
          id = existing.id;
          await groups.update(trx, id, values, now);
        } else {
          id = newId();
          await groups.insert(trx, id, values, now);
        }
        await unique.keep(trx, schemas, id, values.data);
        await groups.link(trx, scimId, id, now);
        const linked = await groups.findById(trx, id);
        if (linked === undefined) throw new Error('created group vanished');
        // Recorded before the members, so that its event comes before theirs in the feed.
        await journal.record(trx, actor, {
          action: existing ? 'group.linked' : 'group.created',
          targetType: 'group',
          targetId: id,
          // A new group gets every member named (an unknown id fails the whole create); a group
          // taken over has its members replaced, recorded below like any replace.
          details: { scimId, name: values.name, externalId: values.externalId, ...(existing ? {} : listedIds('membersAdded', [...new Set(memberIds)])), ...ignoredOf(notes) },
          events: groupEvent(existing, linked),
        }, now);
        const counts = await applyMemberChanges(trx, id, [existing ? { kind: 'replace', ids: memberIds } : { kind: 'add', ids: memberIds }], now, journal.stamp(actor, now));
        if (existing && (counts.added > 0 || counts.removed > 0)) {
          await journal.record(trx, actor, { action: 'group.members_changed', targetType: 'group', targetId: id, details: memberChangeDetails(scimId, counts) }, now);
        }
        // Without members: the answer reads them afterwards, a chunk at a time when it shows them all.
        return load(trx, scimId, false);
      }, () => name);
    },

    /** Reads one SCIM group with the members `read` selects. */
    async get(scimId: string, read: MemberRead): Promise<ScimGroup> {
      return load(store.db, scimId, read);
    },

    /**
     * The group, held open with its members to be read a chunk at a time (HeldRead): for an
     * answer that shows every member.
     */
    async hold(scimId: string): Promise<HeldRead<ScimGroup>> {
      return holdRead(
        await store.openSnapshot(),
        async (db) => {
          try {
            return await load(db, scimId, false);
          } catch (error) {
            // Gone because SCIM was turned off since the request arrived (the answer to a write
            // that committed just before the switch unlinked it, say): the endpoint's own answer
            // while SCIM is off, not a 404 for a group the IdP has just been told was written.
            if (error instanceof DirectoryError && error.code === 'not_found' && !(await isManagedInstance(db))) throw new DirectoryError('forbidden', SCIM_NOT_ENABLED_MESSAGE);
            throw error;
          }
        },
        (group) => [group.group.id],
        membersOf,
      );
    },

    /**
     * A group read without its members (get(…, false)), with the members `read` selects: so
     * that a conditional GET compares the version before reading any member (a 304 for a
     * 100,000-member group read them all, 0.8 s and 70 MB, to send nothing).
     */
    async withMembersRead(group: ScimGroup, read: MemberRead): Promise<ScimGroup> {
      const members = await readMembers(store.db, [group.group.id], read);
      return members === undefined ? group : scimGroupOf(group.group, members.get(group.group.id));
    },

    /**
     * Updates a group in one transaction: `change` receives the current document WITHOUT
     * members (never loaded, however big the group) and returns the new one plus member changes.
     * `notes` is read after `change` ran (see the user directory's update).
     */
    async update(scimId: string, change: (current: Document) => GroupChange, allows: VersionCheck, actor: Actor, notes: WriteNotes = {}): Promise<ScimGroup> {
      let name = '';
      return write(async (trx) => {
        const schemas = (await scimSchemas.current(trx)).Group;
        const current = await load(trx, scimId, false, 'write');
        assertVersion(allows, `Group ${scimId}`, String(current.group.version));
        const next = change(current.document);
        const values = toWrite(next.document, schemas);
        if (values.name !== current.group.name) checkDisplayName(values.name);
        name = values.name;
        const now = new Date().toISOString();
        const attributesChanged = !sameAttributes(groupDocument(current.group), {
          ...values.data,
          displayName: values.name,
          ...(values.externalId !== null ? { externalId: values.externalId } : {}),
        });
        // The group as it stands after this write: the row is locked ('write'), so only this
        // transaction changes it, and it is not read back at the end.
        let result: StoredGroup = current.group;
        if (attributesChanged) {
          const other = await groups.findByName(trx, values.name);
          if (other && other.id !== current.group.id) {
            throw new DirectoryError('conflict', `displayName "${values.name}" is already used by another group.`, 'displayName');
          }
          await groups.update(trx, current.group.id, values, now);
          await unique.keep(trx, schemas, current.group.id, values.data);
          const updated = await groups.findById(trx, current.group.id);
          if (updated === undefined) throw new Error('updated group vanished');
          result = updated;
          await journal.record(trx, actor, {
            action: 'group.updated',
            targetType: 'group',
            targetId: current.group.id,
            details: { scimId, before: groupDocument(current.group), after: { ...values.data, displayName: values.name, externalId: values.externalId }, ...ignoredOf(notes) },
            events: groupEvent(current.group, updated),
          }, now);
        }
        const counts = await applyMemberChanges(trx, current.group.id, next.memberChanges, now, journal.stamp(actor, now));
        const ignored = ignoredOf(notes);
        if (!attributesChanged && ignored.ignoredAttributes !== undefined) {
          // Attributes sent for nothing: the administrator learns that an IdP mapping has no effect.
          await journal.record(trx, actor, { action: 'group.attributes_ignored', targetType: 'group', targetId: current.group.id, details: { scimId, ...ignored } }, now);
        }
        if (counts.added > 0 || counts.removed > 0) {
          if (!attributesChanged) {
            await groups.touch(trx, current.group.id, now);
            result = { ...result, updatedAt: now, version: result.version + 1 };
          }
          await journal.record(trx, actor, {
            action: 'group.members_changed',
            targetType: 'group',
            targetId: current.group.id,
            details: memberChangeDetails(scimId, counts),
          }, now);
        }
        return scimGroupOf(result, undefined);
      }, () => name);
    },

    /** Deletes a group and its memberships. */
    async remove(scimId: string, allows: VersionCheck, actor: Actor): Promise<void> {
      await write(async (trx) => {
        const current = await load(trx, scimId, false, 'delete');
        assertVersion(allows, `Group ${scimId}`, String(current.group.version));
        const now = new Date().toISOString();
        // Counted before they go, as the admin API's deletion records them.
        const members = await memberships.count(trx, { groupId: current.group.id });
        await unique.forget(trx, 'Group', current.group.id);
        await groups.delete(trx, current.group.id, now);
        // Its memberships go with it: `group.deleted` says so for all of them at once.
        await journal.record(trx, actor, {
          action: 'group.deleted',
          targetType: 'group',
          targetId: current.group.id,
          details: { scimId, name: current.group.name, before: groupDocument(current.group), members },
          events: [{ type: 'group.deleted', data: groupShape(current.group) }],
        }, now);
      }, () => '');
    },

    /** A page of SCIM groups and the total matching the filter. */
    async list(query: GroupListQuery): Promise<Page<ScimGroup>> {
      const read = await pageReader(query);
      // One snapshot for the count and the page, so that totalResults matches what was paged
      // through even while other instances write. On SQLite, unless an index finds the groups
      // and their members are not read, it is read on a reader thread: a filter or sort no index
      // serves reads every row, and a page's members may be many (store/sqlite-readers.ts).
      const indexed = query.filter !== undefined && query.withMembers === false && answeredByIndex(query.filter, 'Group');
      return readListSnapshot(store, indexed, async (trx) => {
        const page = await read(trx);
        const members = await readMembers(trx, page.items.map((item) => item.group.id), query.withMembers);
        return { ...page, items: page.items.map((item) => scimGroupOf(item.group, members?.get(item.group.id))) };
      });
    },

    /** list() held open (HeldRead), its groups without members: for a page that shows every member. */
    async holdList(query: GroupListQuery): Promise<HeldRead<Page<ScimGroup>>> {
      const read = await pageReader(query);
      return holdRead(await store.openSnapshot(), read, (page) => page.items.map((group) => group.group.id), membersOf);
    },
  };
}

export type GroupDirectory = ReturnType<typeof createGroupDirectory>;
