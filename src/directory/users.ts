/**
 * Users: the domain rules for creating, updating, deactivating and finding users, whatever
 * API asks. Every write is one transaction that also appends its audit event.
 */
import { releasedLogin, SURROUNDING_SPACE_RULE } from './login-rules.ts';
import { CONTROL_CHARACTER_RULE, hasSurroundingSpace, INVISIBLE_CHARACTER_RULE } from './name-rules.ts';
import { hasControlCharacter, hasInvisibleCharacter, revealHidden } from '../text.ts';
import type { Filter, AttributePath } from '../scim/filter/ast.ts';
import { foldDocument } from '../scim/keys.ts';
import { ENTERPRISE_USER_SCHEMA, USER_SCHEMA, type ResourceSchemas } from '../scim/schemas.ts';
import { compileFilter, compileSort, groupValuesIn } from '../store/filter-sql.ts';
import { createGroupQueries } from '../store/groups.ts';
import type { Store } from '../store/index.ts';
import type { Executor } from '../store/executor.ts';
import { isUniqueViolation } from '../store/errors.ts';
import { readListSnapshot, transact } from '../store/transact.ts';
import { answeredByIndex } from '../store/indexed-filters.ts';
import { createMembershipQueries, type LinkedReference } from '../store/memberships.ts';
import { createUserQueries, type EmailRow, type RowLock, type StoredUser, type UserWrite } from '../store/users.ts';
import { createUserWriteQueries } from '../store/user-writes.ts';
import { newId } from '../ids.ts';
import type { Actor } from '../journal/actor.ts';
import { createJournal } from '../journal/journal.ts';
import { assertNotSelf, createDeactivation } from './deactivation.ts';
import { extensionUrns, sameAttributes, type Document, type WriteNotes } from './documents.ts';
import { userEvent } from './shapes.ts';
import { DirectoryError } from '../errors.ts';
import type { ScimSchemas } from './scim-schemas.ts';
import { createUniqueValues } from './unique-values.ts';
import { createMemberDisplay } from './member-display.ts';
import { readPage, wholeFirstPage, type Page, type PageRequest } from './paging.ts';
import { assertScimWritable } from './managed-mode.ts';
import { createSettings } from '../settings.ts';

export type { Document, WriteNotes } from './documents.ts';

/** A user with the groups it belongs to (SCIM-linked groups only), as read by the SCIM API. */
export interface ScimUser {
  readonly user: StoredUser;
  readonly scimId: string;
  /** The client-visible document without id and meta; `groups` is filled when loaded. */
  readonly document: Document;
  /** How the user that the enterprise `manager.value` names is shown, when it names one (manager.displayName). */
  readonly managerDisplay?: string;
}

export interface UserListQuery {
  readonly filter?: Filter;
  readonly sortBy?: AttributePath;
  /** The URL of the SCIM endpoint of these resources, with its trailing '/': filters and sorting read meta.location as this followed by the id. */
  readonly locationBase: string;
  readonly descending: boolean;
  readonly page: PageRequest;
  /** False when the caller will not show `groups`: memberships are then not read. */
  readonly withGroups: boolean;
  /** The schemas in force, when the caller has just read them (a request reads them once); else read here. */
  readonly schemas?: ResourceSchemas;
}

/** The attributes kept in columns rather than in the JSON document. */
const COLUMN_ATTRIBUTES = ['userName', 'externalId', 'active'] as const;

/**
 * Splits a validated SCIM User document into columns, JSON data (and its folded copy, by the
 * schemas in force) and the email index. `activeIfAbsent` is what a document without `active`
 * means: true for a new user, the current state for an existing one.
 */
function toWrite(document: Document, activeIfAbsent: boolean, schemas: ResourceSchemas): { write: UserWrite; emails: EmailRow[] } {
  const { userName, externalId, active, password: _password, groups: _groups, id: _id, meta: _meta, ...data } = document;
  // `password` is dropped on purpose: SCIM users sign in through SAML, so Roster never keeps a
  // password it would have to protect (docs/scim.md says so).
  if (typeof userName !== 'string' || userName.trim() === '') {
    throw new DirectoryError('invalid', 'userName is required.', 'userName');
  }
  const emailRows = emailRowsOf(data);
  const primaryEmail = emailRows.find((email) => email.primary) ?? emailRows[0];
  return {
    write: {
      login: userName,
      displayName: displayNameOf(data),
      email: primaryEmail?.value ?? null,
      // RFC 7643 leaves the default to the service provider: IdPs expect a new user to be active.
      // A PUT or PATCH that leaves `active` out (or sends null, i.e. unassigned) keeps it as it
      // is, as RFC 7644 §3.5.1 lets a server keep what the client cannot be expected to send:
      // only an explicit `active: true` reactivates a deactivated user.
      active: active === undefined ? activeIfAbsent : active === true,
      externalId: typeof externalId === 'string' ? externalId : null,
      data,
      fold: foldDocument(schemas, data),
    },
    emails: emailRows,
  };
}

/** The login rules every way in shares (login-rules.ts), worded for SCIM's userName. */
function checkUserName(userName: string): void {
  if (hasSurroundingSpace(userName)) throw new DirectoryError('invalid', `userName "${userName}" ${SURROUNDING_SPACE_RULE}.`, 'userName');
  if (hasControlCharacter(userName)) throw new DirectoryError('invalid', `userName "${revealHidden(userName)}" ${CONTROL_CHARACTER_RULE}.`, 'userName');
  if (hasInvisibleCharacter(userName)) throw new DirectoryError('invalid', `userName "${revealHidden(userName)}" ${INVISIBLE_CHARACTER_RULE}.`, 'userName');
}

/** The rows of user_emails a document's `emails` give. */
function emailRowsOf(data: Document): EmailRow[] {
  const emails = Array.isArray(data.emails) ? (data.emails as Record<string, unknown>[]) : [];
  return emails.map((email) => ({
    value: typeof email.value === 'string' ? email.value : null,
    type: typeof email.type === 'string' ? email.type : null,
    primary: email.primary === true,
    display: typeof email.display === 'string' ? email.display : null,
  }));
}

/** The name shown for a user: displayName, else the formatted name, else given and family names. */
function displayNameOf(data: Document): string | null {
  if (typeof data.displayName === 'string' && data.displayName !== '') return data.displayName;
  const name = data.name as Record<string, unknown> | undefined;
  if (name && typeof name === 'object') {
    if (typeof name.formatted === 'string' && name.formatted !== '') return name.formatted;
    const parts = [name.givenName, name.familyName].filter((part): part is string => typeof part === 'string' && part !== '');
    if (parts.length > 0) return parts.join(' ');
  }
  return null;
}

/** The SCIM document of a stored user (without id, meta and groups). */
export function userDocument(user: StoredUser): Document {
  const document: Document = { ...user.data, userName: user.login, active: user.active };
  if (user.externalId !== null) document.externalId = user.externalId;
  document.schemas = [USER_SCHEMA, ...extensionUrns(user.data)];
  return document;
}

/** The document with its `groups`: from the memberships read, or as an earlier document of the same user showed them (`shown`). */
function withGroups(document: Document, groups: readonly LinkedReference[] | undefined, shown?: unknown): Document {
  if (shown !== undefined) return { ...document, groups: shown };
  if (!groups || groups.length === 0) return document;
  return { ...document, groups: groups.map((group) => ({ value: group.scimId, display: group.display, type: 'direct' })) };
}

/** The SCIM id a user's enterprise `manager.value` names, if any. */
function managerIdOf(user: StoredUser): string | undefined {
  const extension = user.data[ENTERPRISE_USER_SCHEMA];
  const manager = extension !== null && typeof extension === 'object' ? (extension as Record<string, unknown>).manager : undefined;
  const value = manager !== null && typeof manager === 'object' ? (manager as Record<string, unknown>).value : undefined;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * The SCIM user of a stored, linked user, with its groups when they were read and its
 * manager's display name from `managers` (UserQueries.displaysByScimId of managerIdsOf).
 */
export function scimUserOf(user: StoredUser, groups: readonly LinkedReference[] | undefined, managers?: ReadonlyMap<string, string>): ScimUser {
  const managerId = managerIdOf(user);
  const managerDisplay = managerId === undefined ? undefined : managers?.get(managerId);
  return { user, scimId: user.scimId ?? '', document: withGroups(userDocument(user), groups), ...(managerDisplay !== undefined ? { managerDisplay } : {}) };
}

/** The SCIM ids the users' managers are named by, for one batched lookup of their display names. */
export function managerIdsOf(users: readonly StoredUser[]): string[] {
  return users.map(managerIdOf).filter((id): id is string => id !== undefined);
}

/**
 * The precondition of a write: true when it allows writing over `version` (the `meta.version`
 * GET shows, without `W/"…"`). `sent` is what the client sent as If-Match, for the message when
 * it does not. `refusal` explains a refusal that is not a stale copy (an If-None-Match naming
 * the current version): the rest of a sentence that starts with the resource's name.
 */
export type VersionCheck = ((version: string) => boolean) & {
  readonly sent?: string;
  readonly refusal?: (version: string) => string | undefined;
};

/**
 * Throws the domain's "stale" error (412) when `allows` refuses `version`. The message names
 * the version the client sent, not the current one: the client must fetch that anyway.
 */
export function assertVersion(allows: VersionCheck, resource: string, version: string): void {
  if (allows(version)) return;
  const reason = allows.refusal?.(version);
  if (reason !== undefined) throw new DirectoryError('stale', `${resource} ${reason}`);
  const since = allows.sent === undefined ? 'it was read' : `version ${allows.sent}`;
  throw new DirectoryError('stale', `${resource} has changed since ${since}; fetch it again.`);
}

/**
 * The user directory: closure over the store and the schemas in force, wired once in
 * services.ts. Every write reads the schemas in its own transaction, so that the folded
 * document and the unique values follow the schemas declared when it commits.
 */
export function createUserDirectory(store: Store, scimSchemas: ScimSchemas) {
  const users = createUserQueries(store.dialect);
  const userWrites = createUserWriteQueries(store.dialect);
  const memberships = createMembershipQueries(store.dialect);
  const groupRows = createGroupQueries(store.dialect);
  const deactivation = createDeactivation(store.dialect);
  const journal = createJournal(store.dialect);
  const settings = createSettings(store);
  const unique = createUniqueValues(store);
  const memberDisplay = createMemberDisplay(store.dialect);

  /** Reads a SCIM user; writers pass `lock` so that their If-Match check and write are one step. */
  async function load(db: Executor, scimId: string, includeGroups: boolean, lock?: RowLock): Promise<ScimUser> {
    if (includeGroups && lock === undefined) {
      // A read (GET): the user and its groups in one statement.
      const found = await users.findByScimIdWithGroups(db, scimId);
      if (!found || found.user.scimId === null) throw new DirectoryError('not_found', `User ${scimId} not found.`);
      return scimUserOf(found.user, found.groups, await users.displaysByScimId(db, managerIdsOf([found.user])));
    }
    const user = await users.findByScimId(db, scimId, lock);
    if (!user || user.scimId === null) throw new DirectoryError('not_found', `User ${scimId} not found.`);
    const groups = includeGroups ? (await memberships.groupsOf(db, [user.id])).get(user.id) : undefined;
    return scimUserOf(user, groups, await users.displaysByScimId(db, managerIdsOf([user])));
  }

  /**
   * Makes `login` free for `renamed`, renamed by SCIM (PUT, PATCH, in /Bulk too), or refuses it.
   * A name that is free, or the renamed user's own (a change of case), needs nothing. A name
   * held by a deactivated account that SCIM does not manage (a user deleted through SCIM, a
   * deactivated local one) is taken from it: identity providers routinely give a leaver's name
   * to another user, and the IdP could neither find what holds it (its filters show linked users
   * only) nor free it, while SCIM makes every account read-only for administrators.
   */
  async function takeLogin(db: Executor, login: string, renamed: StoredUser, actor: Actor, now: string): Promise<void> {
    // The usual case first, on the index and without a lock: nobody else holds the name.
    const holder = await userWrites.loginHolder(db, login);
    if (holder === undefined || holder.id === renamed.id) return;
    // Locked and read again (PostgreSQL): a POST linking the holder, or its deactivation, that
    // got there first is seen; one that comes later waits, then meets the unique index.
    const others = (await userWrites.lockLoginHolders(db, login)).filter((other) => other.id !== renamed.id);
    const [first] = others;
    if (first === undefined) return;
    // Taking a name from a case-conflict set would only pass it to the next of the set.
    if (others.length > 1 || first.scimId !== null) throw loginTaken(login);
    if (first.active) throw new DirectoryError('conflict', localHolderMessage(login, first.login), 'userName');
    await releaseLogin(db, first.id, { id: renamed.id, scimId: renamed.scimId, previousLogin: renamed.login }, actor, now);
  }

  /**
   * Moves the login of deactivated account `holderId` aside (releasedLogin) so that `takenBy`
   * (renamed, or about to be created) can take it. Recorded before the taker's own change, so
   * that the feed never shows two users with one login.
   */
  async function releaseLogin(db: Executor, holderId: string, takenBy: { readonly id: string; readonly scimId: string | null; readonly previousLogin: string | null }, actor: Actor, now: string): Promise<void> {
    const before = await users.findById(db, holderId);
    if (before === undefined) throw new Error('login holder vanished');
    let released = releasedLogin(before.login, holderId.replace(/-/g, '').slice(-12));
    // Twelve hex digits are unique in practice, but anyone may have chosen such a login; the whole id is unique.
    if ((await userWrites.loginHolder(db, released)) !== undefined) released = releasedLogin(before.login, holderId);
    const next = { login: released, displayName: before.displayName, email: before.email, externalId: before.externalId };
    await users.updateProfile(db, holderId, next, now);
    await memberDisplay.changed(db, holderId, before, next, now);
    const after = await users.findById(db, holderId);
    if (after === undefined) throw new Error('login holder vanished');
    await journal.record(db, actor, {
      action: 'user.login_released',
      targetType: 'user',
      targetId: holderId,
      details: { login: before.login, releasedLogin: released, takenBy },
      events: userEvent(before, after),
    }, now);
  }

  async function write<T>(work: (db: Executor) => Promise<T>, conflictMessage: string): Promise<T> {
    try {
      // Only while SCIM is on, as of this transaction: the request's own check came earlier.
      return await transact(store.db, async (trx) => {
        await assertScimWritable(trx, settings);
        return work(trx);
      });
    } catch (error) {
      // A racing request may have taken the name between our check and our write.
      if (isUniqueViolation(error)) throw new DirectoryError('conflict', conflictMessage, 'userName');
      throw error;
    }
  }

  return {
    /**
     * Creates a SCIM user. A user with the same login that is not linked to SCIM (a local user,
     * or one whose SCIM resource was deleted) is linked and updated instead of duplicated.
     */
    async create(document: Document, actor: Actor, notes: WriteNotes = {}): Promise<ScimUser> {
      return write(async (trx) => {
        const schemas = (await scimSchemas.current(trx)).User;
        const { write: values, emails } = toWrite(document, true, schemas);
        checkUserName(values.login);
        const now = new Date().toISOString();
        const scimId = newId();
        // Who holds the name, without reading the user in full: only a local user (or one whose
        // SCIM resource was deleted) is read, to be linked. The unique index on login_key stays
        // the judge of racing creates (write() turns its refusal into the same 409).
        const holder = await userWrites.loginHolder(trx, values.login);
        if (holder?.scimId != null) throw loginTaken(values.login);
        const insertNew = async (id: string): Promise<ScimUser> => {
          const inserted = await userWrites.insertNew(trx, id, scimId, values, emails, now);
          await unique.keep(trx, schemas, id, values.data);
          // A new user is in no group; it is read back only when its version depends on a manager's.
          const created = inserted === undefined ? await load(trx, scimId, true) : scimUserOf(inserted, undefined);
          await journal.record(trx, actor, {
            action: 'user.created',
            targetType: 'user',
            targetId: id,
            details: { scimId, after: redact(document), ...ignoredOf(notes) },
            events: userEvent(undefined, created.user),
          }, now);
          return created;
        };
        if (holder === undefined) return insertNew(newId());
        // Linking: the holder's row is locked first and then read in full (PostgreSQL), so that a
        // request changing it meanwhile has committed and is seen: one linking it, or an
        // administrator deleting its personal data, which gives it another login (the name is
        // then free, and this creates a new account rather than give the erased one the IdP's data).
        await userWrites.lockLoginHolders(trx, values.login);
        const existing = await users.findByLogin(trx, values.login);
        if (existing === undefined) return insertNew(newId());
        if (existing.scimId) throw loginTaken(values.login);
        if (!existing.active && anotherIdentity(existing.externalId, values.externalId)) {
          // The name of a deactivated account that the IdP knew as someone else (a leaver whose
          // name it gives to a newcomer): a new account, not the old one revived, since
          // applications know an account by its id (OpenID Connect `sub`) and would give the
          // newcomer the leaver's data.
          const id = newId();
          await releaseLogin(trx, existing.id, { id, scimId, previousLogin: null }, actor, now);
          return insertNew(id);
        }
        const id = existing.id;
        // Linking an active account with active=false suspends it like any SCIM active=false.
        const suspending = existing.active && !values.active;
        if (suspending) assertNotSelf(actor, id);
        await userWrites.update(trx, id, values, now);
        await userWrites.replaceEmails(trx, id, emails);
        await unique.keep(trx, schemas, id, values.data);
        await userWrites.link(trx, scimId, id);
        // A linked user appears in the members of the groups it already belonged to.
        await memberDisplay.linkChanged(trx, id, now);
        const suspended = suspending ? await deactivation.suspend(trx, id, now) : undefined;
        // A suspension ended them already; otherwise the account changes hands now. A deactivated
        // account linked active is reactivated: whatever credentials it still holds end too.
        const signedOut = suspending ? undefined : existing.active ? await deactivation.endSignIns(trx, id, 'taken_over') : await deactivation.endLeftovers(trx, id, now);
        const created = await load(trx, scimId, true);
        await journal.record(trx, actor, {
          action: 'user.linked',
          targetType: 'user',
          targetId: id,
          details: { scimId, after: redact(document), before: userDocument(existing), ...suspended, ...signedOut, ...ignoredOf(notes) },
          // Linking makes an account managed (and may suspend or reactivate it): an update to applications.
          events: userEvent(existing, created.user),
        }, now);
        return created;
      }, typeof document.userName === 'string' ? `userName "${document.userName}" is already used by another user.` : 'userName is already used by another user.');
    },

    /** Reads one SCIM user. */
    async get(scimId: string, includeGroups = true): Promise<ScimUser> {
      return load(store.db, scimId, includeGroups);
    },

    /**
     * The SCIM user of the account with this internal id (SCIM /Me, RFC 7644 §3.11): not_found
     * when the account is not provisioned through SCIM, since it then has no SCIM resource.
     */
    async getOwn(userId: string, includeGroups = true): Promise<ScimUser> {
      const user = await users.findById(store.db, userId);
      if (user === undefined) throw new DirectoryError('not_found', 'Your account no longer exists.');
      if (user.scimId === null) {
        throw new DirectoryError(
          'not_found',
          `You are signed in as "${user.login}", an account that is not provisioned through SCIM, so it has no SCIM resource for /Me to return. Your identity provider's users have one.`,
        );
      }
      return load(store.db, user.scimId, includeGroups);
    },

    /**
     * Updates a SCIM user in one transaction: `change` receives the current document and
     * returns the new one (a PUT body, or the result of PATCH operations). `notes` is read
     * after `change` ran, so that a PATCH can report what its operations ignored.
     */
    async update(scimId: string, change: (current: Document) => Document, allows: VersionCheck, actor: Actor, notes: WriteNotes = {}): Promise<ScimUser> {
      return write(async (trx) => {
        const schemas = (await scimSchemas.current(trx)).User;
        const current = await load(trx, scimId, true, 'write');
        // The version GET shows, groups included: a client that read the user before it joined a
        // group must not overwrite it unawares (RFC 7644 §3.14).
        assertVersion(allows, `User ${scimId}`, current.user.resourceVersion);
        const next = change(current.document);
        const { write: values, emails } = toWrite(next, current.user.active, schemas);
        // A login stored before this rule is kept as it is; only a new one is checked.
        if (values.login !== current.user.login) checkUserName(values.login);
        const before = userDocument(current.user);
        const after: Document = { ...values.data, userName: values.login, active: values.active };
        if (values.externalId !== null) after.externalId = values.externalId;
        if (sameAttributes(before, after)) {
          // Nothing changed: no new version. Attributes sent for nothing are still worth an
          // entry: the administrator learns that an IdP mapping has no effect.
          const ignored = ignoredOf(notes);
          if (ignored.ignoredAttributes !== undefined) {
            await journal.record(trx, actor, { action: 'user.attributes_ignored', targetType: 'user', targetId: current.user.id, details: { scimId, ...ignored } });
          }
          return current;
        }
        const deactivating = current.user.active && !values.active;
        const reactivating = !current.user.active && values.active;
        if (deactivating) assertNotSelf(actor, current.user.id);
        const now = new Date().toISOString();
        // An unchanged userName is the user's own: no other user has the same spelling (takeLogin
        // frees or refuses every new name), so only a new name is looked up.
        if (values.login !== current.user.login) await takeLogin(trx, values.login, current.user, actor, now);
        await userWrites.update(trx, current.user.id, values, now);
        // Rewritten only when they changed: most updates (a title, a name) leave them as they are.
        await userWrites.replaceChangedEmails(trx, current.user.id, emailRowsOf(current.user.data), emails);
        await unique.keep(trx, schemas, current.user.id, values.data);
        await memberDisplay.changed(trx, current.user.id, current.user, values, now);
        // active=false suspends: tokens and sessions end, memberships stay (the IdP owns them and
        // does not re-send them on active=true); they grant nothing while the user is inactive.
        // Reactivation changes nothing but the flag, so the trail says which memberships count again.
        const access = deactivating
          ? await deactivation.suspend(trx, current.user.id, now)
          : reactivating
            ? { memberships: 'kept', keptGroups: await deactivation.groupIdsOf(trx, current.user.id), ...(await deactivation.endLeftovers(trx, current.user.id, now)) }
            : undefined;
        // Read back only when the version depends on a manager's (or the clock went back);
        // otherwise it follows from what was read and written (store/user-writes.ts).
        const known = userWrites.updatedUser(current.user, values, now);
        const updated: ScimUser =
          known === undefined ? await load(trx, scimId, true) : { user: known, scimId, document: withGroups(userDocument(known), undefined, current.document.groups) };
        await journal.record(trx, actor, {
          action: deactivating ? 'user.deactivated' : reactivating ? 'user.reactivated' : 'user.updated',
          targetType: 'user',
          targetId: current.user.id,
          details: { scimId, before: redact(before), after: redact(after), ...access, ...ignoredOf(notes) },
          events: userEvent(current.user, updated.user),
        }, now);
        return updated;
      }, 'userName is already used by another user.');
    },

    /**
     * SCIM DELETE: the account is kept but deactivated with SonarQube's rule (removed from every
     * group, memberships kept by an earlier active=false included) and unlinked from SCIM, so
     * that the id answers 404 from now on while the history stays.
     */
    async remove(scimId: string, allows: VersionCheck, actor: Actor): Promise<void> {
      await write(async (trx) => {
        const current = await load(trx, scimId, false, 'delete');
        assertVersion(allows, `User ${scimId}`, current.user.resourceVersion);
        assertNotSelf(actor, current.user.id);
        const now = new Date().toISOString();
        const { write: values } = toWrite(current.document, current.user.active, (await scimSchemas.current(trx)).User);
        await userWrites.update(trx, current.user.id, { ...values, active: false }, now);
        const removed = await deactivation.deactivate(trx, current.user.id, now, journal.stamp(actor, now));
        await users.unlink(trx, current.user.id);
        // The SCIM resource is gone (404 from now on): its unique values are free again.
        await unique.forget(trx, 'User', current.user.id);
        // Whatever memberships remain, the user no longer appears among their groups' members.
        await memberDisplay.linkChanged(trx, current.user.id, now);
        const after = await users.findById(trx, current.user.id);
        if (after === undefined) throw new Error('deleted user vanished');
        await journal.record(trx, actor, {
          action: 'user.deleted',
          targetType: 'user',
          targetId: current.user.id,
          details: { scimId, login: current.user.login, wasActive: current.user.active, ...removed },
          // For applications a SCIM DELETE is a deactivation (the account and its history stay);
          // of a user already suspended, an update (it is no longer managed).
          events: userEvent(current.user, after),
        }, now);
      }, 'conflict');
    },

    /** A page of SCIM users and the total matching the filter. */
    async list(query: UserListQuery): Promise<Page<ScimUser>> {
      // Groups the filter names by SCIM id, read first (CompileOptions.groupIds says why).
      const named = query.filter ? groupValuesIn(query.filter) : [];
      const found = new Map((await groupRows.findByScimIds(store.db, named)).map((group) => [group.scimId, group.id]));
      const options = { locationBase: query.locationBase, ...(named.length > 0 ? { groupIds: new Map(named.map((scimId) => [scimId, found.get(scimId) ?? null])) } : {}) };
      const schemas = query.schemas ?? (await scimSchemas.current()).User;
      const where = query.filter ? compileFilter(query.filter, schemas, store.dialect, options) : undefined;
      const sort = query.sortBy ? compileSort(query.sortBy, schemas, store.dialect, options) : undefined;
      const userName = sort === undefined && query.filter ? userNameEquals(query.filter) : undefined;
      /** The page's users with their groups and managers, read on `db`. */
      const complete = async (db: Executor, page: Page<StoredUser>, known?: ReadonlyMap<string, LinkedReference[]>): Promise<Page<ScimUser>> => {
        const groups = query.withGroups ? (known ?? (await memberships.groupsOf(db, page.items.map((user) => user.id)))) : undefined;
        // One lookup for the page's managers, not one per user.
        const managers = await users.displaysByScimId(db, managerIdsOf(page.items));
        return { ...page, items: page.items.map((user) => scimUserOf(user, groups?.get(user.id), managers)) };
      };
      // The lookup IdPs make before each write, from a query compiled once. When its rows fit in
      // the first page, they are the whole answer (total included) from one statement: no
      // snapshot is needed to agree with a count, and the user and its groups are read as
      // GET /Users/{id} reads them.
      const firstPage = query.page.kind === 'index' ? query.page.offset === 0 : query.page.from === undefined;
      if (userName !== undefined && firstPage && query.page.limit > 0 && !query.descending) {
        const rows = await users.listLinkedByUserName(store.db, userName, query.page.limit);
        if (rows.length < query.page.limit) {
          const groups = new Map(rows.map((listed) => [listed.row.id, listed.groups]));
          return complete(store.db, wholeFirstPage(rows, query.page, scimIdOf), groups);
        }
      }
      // One snapshot for the count and the page, so that totalResults matches what was paged
      // through even while other instances write. On SQLite, unless an index finds the users,
      // it is read on a reader thread: a filter or sort no index serves reads every row, seconds
      // at a million, and on the main connection it held every other request meanwhile.
      const indexed = query.filter !== undefined && answeredByIndex(query.filter, 'User');
      return readListSnapshot(store, indexed, async (trx) => {
        const page = await readPage(
          {
            ...(where ? { where } : {}),
            ...(sort ? { orderBy: sort.expression, orderByNullable: sort.nullable } : {}),
            descending: query.descending,
            list: (listQuery) => users.listLinked(trx, listQuery),
            count: () => users.countLinked(trx, where),
            idOf: scimIdOf,
          },
          query.page,
        );
        return complete(trx, page);
      });
    },
  };
}

/**
 * Whether a deactivated account's externalId and the one a SCIM POST of its name sends name two
 * different identities at the IdP (RFC 7643 §3.1: the provisioning client's own identifier). An
 * account without one (a local or just-in-time account), or a POST without one, is taken to be
 * the same person, as SonarQube does.
 */
function anotherIdentity(stored: string | null, sent: string | null): boolean {
  return stored !== null && sent !== null && stored !== sent;
}

/** The 409 of a userName another user holds (the IdP can find it when it is linked). */
function loginTaken(login: string): DirectoryError {
  return new DirectoryError('conflict', `userName "${login}" is already used by another user.`, 'userName');
}

/**
 * The 409 of a userName held by an active account SCIM does not manage (a local break-glass
 * administrator, a just-in-time user): the IdP cannot see it, so the message says who can free
 * the name. RFC 7644 §3.12 has uniqueness cover a value "already in use or reserved".
 */
function localHolderMessage(login: string, holderLogin: string): string {
  return (
    `userName "${login}" is held by the local account "${holderLogin}", which the identity provider does not manage. ` +
    'If the name should go to this user, a Roster administrator can deactivate that account (console, admin API, or `roster users deactivate`); the rename then takes the name.'
  );
}

/** A listed user's SCIM id, the tie-breaker of list positions. */
function scimIdOf(user: StoredUser): string {
  return user.scimId ?? '';
}

/**
 * The value of a filter that is exactly `userName eq "<text>"` (with or without the core
 * schema's URN), else undefined. userName is compared regardless of case (RFC 7643 §4.1.1,
 * caseExact false), by its case key, as the filter compiler does.
 */
function userNameEquals(filter: Filter): string | undefined {
  if (filter.kind !== 'compare' || filter.op !== 'eq' || typeof filter.value !== 'string') return undefined;
  const { schema, attribute, subAttribute } = filter.path;
  if (subAttribute !== undefined || attribute.toLowerCase() !== 'username') return undefined;
  if (schema !== undefined && schema.toLowerCase() !== USER_SCHEMA.toLowerCase()) return undefined;
  return filter.value;
}

/** `ignoredAttributes` for an audit entry's details, when the write ignored any (WriteNotes). */
function ignoredOf(notes: WriteNotes): { ignoredAttributes?: readonly string[] } {
  const ignored = notes.ignoredAttributes;
  // A transaction run again (a transient conflict) runs a PATCH's operations, and fills the list, again.
  return ignored !== undefined && ignored.length > 0 ? { ignoredAttributes: [...new Set(ignored)] } : {};
}

/** A document fit for the audit trail: never the password. */
function redact(document: Document): Document {
  const { password: _password, groups: _groups, ...rest } = document;
  return rest;
}

export type UserDirectory = ReturnType<typeof createUserDirectory>;
