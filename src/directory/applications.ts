/**
 * Applications that sign their users in through Roster's OpenID provider (issue 10):
 * registration by administrators (CLI, admin API), who may use each one, and the claims
 * they receive. One source of truth for the rules and messages, whichever way they are called.
 *
 * Client secrets are 256 random bits shown once; only their SHA-256 is stored, and the
 * provider compares hashes (http/oidc/ hashes the presented secret before the provider sees it).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Store } from '../store/index.ts';
import { createOidcQueries, type StoredApplication } from '../store/oidc.ts';
import { pendingLogoutsOf, type PendingLogout } from '../store/oidc-logouts.ts';
import { createGroupQueries } from '../store/groups.ts';
import { createUserQueries } from '../store/users.ts';
import type { Access } from './access.ts';
import { caseKey, revealHidden } from '../text.ts';
import { groupNameCharacterProblem } from './name-rules.ts';
import type { Actor } from '../journal/actor.ts';
import { createJournal } from '../journal/journal.ts';
import { checkFields, DirectoryError } from '../errors.ts';
import type { Executor } from '../store/executor.ts';
import { inBatches, transact } from '../store/transact.ts';
import { DEFAULT_SECRET_OVERLAP_SECONDS, checkOverlapSeconds, rotatedSinceShown, runningOverlap } from './secret-overlap.ts';

export type { PendingLogout };

/** The most waiting back-channel logouts an application's page lists. */
const PENDING_LOGOUTS_SHOWN = 100;

/** What registering an application takes. */
export interface NewApplication {
  readonly name: string;
  readonly redirectUris: readonly string[];
  /** A public client (a single-page or native app) has no secret and must use PKCE. */
  readonly public: boolean;
  /** Group names; when not empty, only their members may sign in. */
  readonly allowedGroups: readonly string[];
  /** Where Roster POSTs logout tokens (OpenID Connect Back-Channel Logout); absent or null: none. */
  readonly backchannelLogoutUri?: string | null;
}

/**
 * What an edit changes; a field left out keeps its value. The client id, the secret and whether
 * the application is public never change: the application keeps its configuration.
 */
export interface ApplicationChanges {
  readonly name?: string;
  readonly redirectUris?: readonly string[];
  readonly allowedGroups?: readonly string[];
  /** A new back-channel logout URI; null (or an empty text) removes it. */
  readonly backchannelLogoutUri?: string | null;
  /**
   * Values to add to, or remove from, the current lists instead of replacing them: applied under
   * the edit's row lock, so that an edit made meanwhile by someone else is not undone.
   */
  readonly add?: { readonly redirectUris?: readonly string[]; readonly allowedGroups?: readonly string[] };
  readonly remove?: { readonly redirectUris?: readonly string[]; readonly allowedGroups?: readonly string[] };
}

/** A field an edit changed. */
export type ApplicationField = 'name' | 'redirectUris' | 'allowedGroups' | 'backchannelLogoutUri';

/**
 * A list with `add` appended (those not in it yet) and `remove` taken out; `same` says when two
 * values are one (allowed groups compare as group names do, regardless of case). Removing a
 * value the list does not hold is refused: a typo must not pass as done.
 */
function applyDelta(field: 'redirectUris' | 'allowedGroups', list: readonly string[], add: readonly string[] = [], remove: readonly string[] = [], same: (a: string, b: string) => boolean): string[] {
  const label = field === 'redirectUris' ? 'redirect URIs' : 'allowed groups';
  for (const value of remove) {
    if (!list.some((item) => same(item, value))) throw refused(field, value, `"${value}" is not one of the application's ${label}.`, `is not one of the application's ${label}`);
  }
  const kept = list.filter((item) => !remove.some((value) => same(item, value)));
  return [...kept, ...add.filter((value, index) => !kept.some((item) => same(item, value)) && add.findIndex((other) => same(other, value)) === index)];
}

/** An application as administrators see it: never its secret. */
export interface Application {
  readonly clientId: string;
  readonly name: string;
  readonly public: boolean;
  readonly redirectUris: readonly string[];
  readonly allowedGroups: readonly string[];
  /** Where Roster POSTs logout tokens when a user's sign-in ends; null: the application is not told. */
  readonly backchannelLogoutUri: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Until when the secret before the last rotation still works beside the current one; null when none does. */
  readonly previousSecretExpiresAt: string | null;
}

/** What a rotation of a client secret returns: the new secret, shown once. */
export interface SecretRotation {
  readonly application: Application;
  readonly secret: string;
  /**
   * Until when the secret before the one just replaced would still have worked: a rotation
   * during an overlap stops it at once (one previous secret at a time). Null when none was valid.
   */
  readonly stoppedOverlapUntil: string | null;
}

/** What an application learns about a user (OpenID Connect claims). */
export interface UserClaims {
  readonly sub: string;
  readonly preferred_username: string;
  readonly name?: string;
  readonly email?: string;
  readonly groups: readonly string[];
}

/** The bounds of an application's fields (the console's fields take theirs from here). */
export const APPLICATION_LIMITS = { name: 100, redirectUris: 20, uri: 2000, allowedGroups: 50 } as const;
/** Expired provider rows deleted per statement by the hourly clean-up. */
const PURGE_BATCH = 5000;

/**
 * What allowed groups that do not exist mean for signing in, in the words the console and the CLI
 * share: nobody gets in only when none of the allowed groups exists.
 */
export function missingGroupsEffect(allowedGroups: readonly string[], missing: readonly string[]): string {
  return missing.length >= allowedGroups.length
    ? 'nobody can sign in to this application until one of its allowed groups exists'
    : 'only members of its other allowed groups can sign in to this application';
}

/** SHA-256 hex of a client secret, as stored and as the provider compares it. */
export function hashClientSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

function view(stored: StoredApplication, at = new Date()): Application {
  return {
    clientId: stored.clientId,
    name: stored.name,
    public: stored.secretHash === null,
    redirectUris: stored.redirectUris,
    allowedGroups: stored.allowedGroups,
    backchannelLogoutUri: stored.backchannelLogoutUri,
    createdAt: stored.createdAt,
    updatedAt: stored.updatedAt,
    previousSecretExpiresAt: runningOverlap(stored.previousSecretHash, stored.previousSecretExpiresAt, at),
  };
}

/**
 * The hashes a presented client secret may match now: the current secret's, and the previous
 * one's while its overlap runs. Read from the row at each authentication, so that every instance
 * stops accepting the previous secret at the same moment.
 */
export function acceptedSecretHashes(stored: StoredApplication, at = new Date()): string[] {
  if (stored.secretHash === null) return [];
  const previous = runningOverlap(stored.previousSecretHash, stored.previousSecretExpiresAt, at) !== null ? stored.previousSecretHash : null;
  return previous === null ? [stored.secretHash] : [stored.secretHash, previous];
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** A refusal of one value the administrator gave: the message for the API and the console, the reason for the CLI's option. */
function refused(field: ApplicationField, value: string, message: string, reason: string): DirectoryError {
  return new DirectoryError('invalid', message, field, { value, reason, plain: reason });
}

/** Checks one redirect URI: absolute, https (http only for localhost), no fragment (OAuth 2.0 §3.1.2). */
function checkRedirectUri(uri: string): string {
  if (uri.length === 0 || uri.length > APPLICATION_LIMITS.uri) throw refused('redirectUris', uri, `A redirect URI must have 1 to ${APPLICATION_LIMITS.uri} characters.`, `must have 1 to ${APPLICATION_LIMITS.uri} characters`);
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw refused('redirectUris', uri, `The redirect URI "${uri}" is not an absolute URL.`, 'is not an absolute URL');
  }
  if (url.hash !== '' || uri.includes('#')) throw refused('redirectUris', uri, `The redirect URI "${uri}" may not have a fragment (#…).`, 'may not have a fragment (#…)');
  if (url.protocol === 'http:' && !LOOPBACK.has(url.hostname)) {
    throw refused('redirectUris', uri, `The redirect URI "${uri}" must use https; http is allowed only for localhost.`, 'must use https; http is allowed only for localhost');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw refused('redirectUris', uri, `The redirect URI "${uri}" must use https.`, 'must use https');
  if (url.username !== '' || url.password !== '') throw refused('redirectUris', uri, `The redirect URI "${uri}" may not contain credentials.`, 'may not contain credentials');
  // Matched exactly, as given: no normalisation that could make two spellings equal.
  return uri;
}

/**
 * Checks a back-channel logout URI (OpenID Connect Back-Channel Logout 1.0 §2.2): absolute, no
 * fragment, and under the redirect URIs' rule of transport: https, http only for localhost (a
 * logout token names a user and is a signed order to sign them out; in clear, anyone on the
 * path would read it, or keep the application from getting it). A query is allowed, as the
 * specification allows. An empty text means none (null).
 */
function checkBackchannelLogoutUri(value: string | null): string | null {
  if (value === null || value.trim() === '') return null;
  const uri = value.trim();
  const field = 'backchannelLogoutUri';
  if (uri.length > APPLICATION_LIMITS.uri) throw refused(field, value, `A back-channel logout URI may have at most ${APPLICATION_LIMITS.uri} characters.`, `may have at most ${APPLICATION_LIMITS.uri} characters`);
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw refused(field, value, `The back-channel logout URI "${uri}" is not an absolute URL.`, 'is not an absolute URL');
  }
  if (url.hash !== '' || uri.includes('#')) throw refused(field, value, `The back-channel logout URI "${uri}" may not have a fragment (#…).`, 'may not have a fragment (#…)');
  if (url.protocol === 'http:' && !LOOPBACK.has(url.hostname)) {
    throw refused(field, value, `The back-channel logout URI "${uri}" must use https; http is allowed only for localhost.`, 'must use https; http is allowed only for localhost');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw refused(field, value, `The back-channel logout URI "${uri}" must use https.`, 'must use https');
  if (url.username !== '' || url.password !== '') throw refused(field, value, `The back-channel logout URI "${uri}" may not contain credentials.`, 'may not contain credentials');
  return uri;
}

function checkName(value: string): string {
  const name = value.trim();
  if (name.length === 0 || name.length > APPLICATION_LIMITS.name) throw refused('name', value, `An application's name must have 1 to ${APPLICATION_LIMITS.name} characters.`, `must have 1 to ${APPLICATION_LIMITS.name} characters`);
  return name;
}

function checkRedirectUris(uris: readonly string[]): string[] {
  if (uris.length === 0) throw new DirectoryError('invalid', 'An application needs at least one redirect URI.', 'redirectUris');
  if (uris.length > APPLICATION_LIMITS.redirectUris) throw new DirectoryError('invalid', `An application may have at most ${APPLICATION_LIMITS.redirectUris} redirect URIs.`, 'redirectUris');
  // Every refused URI at once, in one message: fixing them one per try would take as many tries.
  const refusals: DirectoryError[] = [];
  const checked: string[] = [];
  for (const uri of uris) {
    try {
      checked.push(checkRedirectUri(uri));
    } catch (error) {
      if (!(error instanceof DirectoryError)) throw error;
      refusals.push(error);
    }
  }
  const [first, ...others] = refusals;
  if (first !== undefined) throw others.length === 0 ? first : new DirectoryError('invalid', refusals.map((refusal) => refusal.message).join(' '), 'redirectUris', first.valueRefusal);
  return [...new Set(checked)];
}

function checkAllowedGroups(names: readonly string[]): string[] {
  if (names.length > APPLICATION_LIMITS.allowedGroups) throw new DirectoryError('invalid', `An application may name at most ${APPLICATION_LIMITS.allowedGroups} allowed groups.`, 'allowedGroups');
  const groups = names.map((group) => group.trim());
  const bad = groups.findIndex((group) => group.length === 0 || group.length > 255);
  if (bad !== -1) throw refused('allowedGroups', names[bad] ?? '', 'An allowed group name must have 1 to 255 characters.', 'must have 1 to 255 characters');
  // No group can hold such a name (name-rules.ts): one that looks like a real group's would
  // let nobody in while reading as if it did.
  for (const group of groups) {
    const problem = groupNameCharacterProblem(group);
    if (problem !== undefined) throw refused('allowedGroups', group, `The allowed group name "${revealHidden(group)}" ${problem}.`, problem);
  }
  return [...new Set(groups)];
}

/** Checks every field of a new application; a refusal carries the other fields' (checkFields). */
function checkNew(input: NewApplication): NewApplication {
  const checked = checkFields({
    name: () => checkName(input.name),
    redirectUris: () => checkRedirectUris(input.redirectUris),
    allowedGroups: () => checkAllowedGroups(input.allowedGroups),
    backchannelLogoutUri: () => checkBackchannelLogoutUri(input.backchannelLogoutUri ?? null),
  });
  return { ...checked, public: input.public };
}

/** What an edit may change, in the order they are reported. */
const EDITABLE = ['name', 'redirectUris', 'allowedGroups', 'backchannelLogoutUri'] as const;

type FieldValue = string | null | readonly string[];

function sameValue(a: FieldValue, b: FieldValue): boolean {
  return a === null || b === null || typeof a === 'string' || typeof b === 'string' ? a === b : a.length === b.length && a.every((item, index) => item === b[index]);
}

/** The applications service: closure over the store, wired once in services.ts. */
export function createApplications(store: Store, access: Access) {
  const queries = createOidcQueries();
  const users = createUserQueries(store.dialect);
  const groupQueries = createGroupQueries(store.dialect);
  const journal = createJournal(store.dialect);

  const notFound = (clientId: string) => new DirectoryError('not_found', `No application has the client id '${clientId}'.`);

  async function find(clientId: string): Promise<StoredApplication> {
    const stored = await queries.findApplication(store.db, clientId);
    if (stored === undefined) throw notFound(clientId);
    return stored;
  }

  /** A confidential application under its row's lock, with the rotation overlap running now (null: none). */
  async function lockConfidential(trx: Executor, clientId: string): Promise<{ current: StoredApplication; at: Date; running: string | null }> {
    const current = await queries.lockApplication(trx, store.dialect, clientId);
    if (current === undefined) throw notFound(clientId);
    if (current.secretHash === null) throw new DirectoryError('invalid', `The application '${current.name}' is public: it has no secret.`);
    const at = new Date();
    return { current, at, running: runningOverlap(current.previousSecretHash, current.previousSecretExpiresAt, at) };
  }

  /**
   * 128 random bits in base64url, never starting with "-": administrators pass a client id to
   * the CLI as an argument (`apps rotate-secret <client id>`), where a leading "-" reads as an
   * option (one id in 64 did).
   */
  function newClientId(): string {
    for (;;) {
      const id = randomBytes(16).toString('base64url');
      if (!id.startsWith('-')) return id;
    }
  }

  return {
    /** Registers an application; returns it and, unless it is public, its secret (shown once). */
    async create(input: NewApplication, actor: Actor): Promise<{ application: Application; secret: string | undefined }> {
      const checked = checkNew(input);
      const clientId = newClientId();
      const secret = checked.public ? undefined : randomBytes(32).toString('base64url');
      const now = new Date().toISOString();
      const stored: StoredApplication = {
        clientId,
        name: checked.name,
        secretHash: secret === undefined ? null : hashClientSecret(secret),
        previousSecretHash: null,
        previousSecretExpiresAt: null,
        redirectUris: checked.redirectUris,
        allowedGroups: checked.allowedGroups,
        backchannelLogoutUri: checked.backchannelLogoutUri ?? null,
        createdAt: now,
        updatedAt: now,
      };
      await store.db.transaction().execute(async (trx) => {
        await queries.insertApplication(trx, stored);
        await journal.record(trx, actor, {
          action: 'application.created',
          targetType: 'application',
          targetId: clientId,
          details: { name: stored.name, public: checked.public, redirectUris: stored.redirectUris, allowedGroups: stored.allowedGroups, backchannelLogoutUri: stored.backchannelLogoutUri },
        }, now);
      });
      return { application: view(stored), secret };
    },

    /**
     * Edits an application with the rules and messages of `create`, under its row's lock, with an
     * `application.updated` audit entry naming what changed (before and after); an edit that
     * changes nothing writes nothing. Returns the application and the fields that changed.
     *
     * Nothing else needs undoing: the provider reads the application from the database at every
     * request (a redirect URI removed is refused at once, on every instance), and checks the
     * allowed groups at every use of a grant (a user an edit leaves out is refused at the next
     * refresh, userinfo or introspection, and at the next authorization).
     */
    async update(clientId: string, changes: ApplicationChanges, actor: Actor): Promise<{ application: Application; changed: readonly ApplicationField[] }> {
      const replacesAndEdits = (['redirectUris', 'allowedGroups'] as const).find((field) => changes[field] !== undefined && (changes.add?.[field] !== undefined || changes.remove?.[field] !== undefined));
      if (replacesAndEdits !== undefined) throw new DirectoryError('invalid', `Give the whole list of ${replacesAndEdits}, or values to add and remove, not both.`, replacesAndEdits);
      const fields = checkFields({
        name: () => (changes.name !== undefined ? checkName(changes.name) : undefined),
        redirectUris: () => (changes.redirectUris !== undefined ? checkRedirectUris(changes.redirectUris) : undefined),
        allowedGroups: () => (changes.allowedGroups !== undefined ? checkAllowedGroups(changes.allowedGroups) : undefined),
        backchannelLogoutUri: () => (changes.backchannelLogoutUri !== undefined ? checkBackchannelLogoutUri(changes.backchannelLogoutUri) : undefined),
      });
      const checked: ApplicationChanges = {
        ...(fields.name !== undefined ? { name: fields.name } : {}),
        ...(fields.redirectUris !== undefined ? { redirectUris: fields.redirectUris } : {}),
        ...(fields.allowedGroups !== undefined ? { allowedGroups: fields.allowedGroups } : {}),
        ...(fields.backchannelLogoutUri !== undefined ? { backchannelLogoutUri: fields.backchannelLogoutUri } : {}),
      };
      return transact(store.db, async (trx) => {
        const current = await queries.lockApplication(trx, store.dialect, clientId);
        if (current === undefined) throw notFound(clientId);
        const edited = (field: 'redirectUris' | 'allowedGroups', same: (a: string, b: string) => boolean): readonly string[] | undefined =>
          changes.add?.[field] === undefined && changes.remove?.[field] === undefined ? undefined : applyDelta(field, current[field], changes.add?.[field], changes.remove?.[field], same);
        const editedUris = edited('redirectUris', (a, b) => a === b);
        const editedGroups = edited('allowedGroups', (a, b) => caseKey(a.trim()) === caseKey(b.trim()));
        const next = {
          name: checked.name ?? current.name,
          redirectUris: checked.redirectUris ?? (editedUris !== undefined ? checkRedirectUris(editedUris) : current.redirectUris),
          allowedGroups: checked.allowedGroups ?? (editedGroups !== undefined ? checkAllowedGroups(editedGroups) : current.allowedGroups),
          backchannelLogoutUri: checked.backchannelLogoutUri !== undefined ? checked.backchannelLogoutUri : current.backchannelLogoutUri,
        };
        const changed = EDITABLE.filter((field) => !sameValue(current[field], next[field]));
        if (changed.length === 0) return { application: view(current), changed };
        const now = new Date().toISOString();
        await queries.updateApplication(trx, clientId, next, now);
        const pick = (from: Readonly<Record<ApplicationField, FieldValue>>) => Object.fromEntries(changed.map((field) => [field, from[field]]));
        await journal.record(trx, actor, {
          action: 'application.updated',
          targetType: 'application',
          targetId: clientId,
          details: { name: current.name, before: pick(current), after: pick(next) },
        }, now);
        return { application: view({ ...current, ...next, updatedAt: now }), changed };
      });
    },

    /**
     * The names among `names` that no group has (regardless of case), in their order: an
     * application allowing only a group that does not exist lets nobody in. Not refused, since
     * the IdP may provision the group later; the API, the CLI and the console say so instead.
     */
    async missingGroups(names: readonly string[]): Promise<string[]> {
      const missing: string[] = [];
      for (const name of names) if ((await groupQueries.findByName(store.db, name)) === undefined) missing.push(name);
      return missing;
    },

    /** Every application, by name. */
    async list(): Promise<Application[]> {
      return (await queries.listApplications(store.db)).map((stored) => view(stored));
    },

    /** One application, or a not_found DirectoryError. */
    async get(clientId: string): Promise<Application> {
      return view(await find(clientId));
    },

    /** The back-channel logouts still to deliver to `clientId`, oldest first (at most PENDING_LOGOUTS_SHOWN). */
    async pendingLogouts(clientId: string): Promise<PendingLogout[]> {
      return pendingLogoutsOf(store.db, clientId, PENDING_LOGOUTS_SHOWN);
    },

    /** The stored application for the provider (with its secret's hash), or undefined. */
    async findForProvider(clientId: string): Promise<StoredApplication | undefined> {
      return queries.findApplication(store.db, clientId);
    },

    /** Deletes an application: its tokens stop working, since the provider no longer finds it. */
    async delete(clientId: string, actor: Actor): Promise<void> {
      await store.db.transaction().execute(async (trx) => {
        const stored = await queries.findApplication(trx, clientId);
        if (stored === undefined || !(await queries.deleteApplication(trx, clientId))) {
          throw new DirectoryError('not_found', `No application has the client id '${clientId}'.`);
        }
        await journal.record(trx, actor, { action: 'application.deleted', targetType: 'application', targetId: clientId, details: { name: stored.name } });
      });
    },

    /**
     * Issues a new secret for a confidential application (shown once, here). The secret it
     * replaces keeps working beside it for `overlapSeconds` (DEFAULT_SECRET_OVERLAP_SECONDS; 0:
     * it stops at once), so that the application can be given the new one without a failed
     * token request. One previous secret at a time: a secret still valid from an earlier
     * rotation stops at once (`stoppedOverlapUntil` says until when it would have worked). With
     * `seenOverlapUntil` (the console page's `previousSecretExpiresAt`), refused when another
     * rotation was made since the page was shown (rotatedSinceShown). Under the row's lock, with
     * an `application.secret_rotated` audit entry naming the overlap, never a secret.
     */
    async rotateSecret(clientId: string, actor: Actor, options: { readonly overlapSeconds?: number; readonly seenOverlapUntil?: string | null } = {}): Promise<SecretRotation> {
      const overlapSeconds = checkOverlapSeconds(options.overlapSeconds ?? DEFAULT_SECRET_OVERLAP_SECONDS);
      const secret = randomBytes(32).toString('base64url');
      return transact(store.db, async (trx) => {
        const { current, at, running } = await lockConfidential(trx, clientId);
        const refusal = rotatedSinceShown(running, options.seenOverlapUntil, { stillWorks: 'works' });
        if (refusal !== undefined) throw refusal;
        const hashes = {
          secretHash: hashClientSecret(secret),
          previousSecretHash: overlapSeconds === 0 ? null : current.secretHash,
          previousSecretExpiresAt: overlapSeconds === 0 ? null : new Date(at.getTime() + overlapSeconds * 1000).toISOString(),
        };
        const now = at.toISOString();
        await queries.setSecretHashes(trx, clientId, hashes, now);
        await journal.record(trx, actor, {
          action: 'application.secret_rotated',
          targetType: 'application',
          targetId: clientId,
          details: { name: current.name, overlapSeconds, previousSecretExpiresAt: hashes.previousSecretExpiresAt, stoppedOverlapUntil: running },
        }, now);
        return { application: view({ ...current, ...hashes, updatedAt: now }, at), secret, stoppedOverlapUntil: running };
      });
    },

    /**
     * Ends the overlap of a rotation now: the previous secret stops working, on every instance at
     * its next request (once the application runs with the new secret, or when the old one may
     * have leaked). Records `application.secret_overlap_ended`; when no previous secret is valid,
     * changes and records nothing (`ended` false).
     */
    async endSecretOverlap(clientId: string, actor: Actor): Promise<{ application: Application; ended: boolean }> {
      return transact(store.db, async (trx) => {
        const { current, at, running } = await lockConfidential(trx, clientId);
        if (running === null) return { application: view(current, at), ended: false };
        const hashes = { secretHash: current.secretHash, previousSecretHash: null, previousSecretExpiresAt: null };
        const now = at.toISOString();
        await queries.setSecretHashes(trx, clientId, hashes, now);
        await journal.record(trx, actor, {
          action: 'application.secret_overlap_ended',
          targetType: 'application',
          targetId: clientId,
          details: { name: current.name, previousSecretExpiresAt: running },
        }, now);
        return { application: view({ ...current, ...hashes, updatedAt: now }, at), ended: true };
      });
    },

    /**
     * Whether `userId` may sign in to `clientId` now: an active user, in one of the allowed
     * groups when the application names any (through access.groupsOf, the one rule). A refusal
     * is audited with who and why (unless `audit` is false: the checks of every token use),
     * and its reason returned for the error description.
     */
    async mayUse(clientId: string, userId: string, options: { audit?: boolean } = {}): Promise<{ ok: true } | { ok: false; reason: string }> {
      const application = await queries.findApplication(store.db, clientId);
      const user = await users.findById(store.db, userId);
      let reason: string | undefined;
      if (application === undefined) reason = 'The application is not registered.';
      else if (user === undefined || !user.active) reason = 'The account is not active.';
      else if (application.allowedGroups.length > 0) {
        // By case key, as group names are compared everywhere (two names that differ only in
        // case are one group's).
        const groups = new Set((await access.groupsOf(userId)).map((group) => caseKey(group.name)));
        if (!application.allowedGroups.some((group) => groups.has(caseKey(group)))) {
          reason = `Only members of ${application.allowedGroups.map((group) => `"${group}"`).join(', ')} may sign in to ${application.name}.`;
        }
      }
      if (reason === undefined) return { ok: true };
      if (options.audit === false) return { ok: false, reason };
      await journal.record(store.db, { kind: 'system' }, {
        action: 'application.access_refused',
        targetType: 'application',
        targetId: clientId,
        details: { userId, login: user?.login ?? null, application: application?.name ?? null, reason },
      });
      return { ok: false, reason };
    },

    /**
     * Records that `clientId` presented a code or refresh token already used, and that the
     * provider revoked the user's grant for it (everything it issued): the application itself
     * only hears `invalid_grant`.
     */
    async recordReuse(clientId: string, userId: string | null, presented: string): Promise<void> {
      const application = await queries.findApplication(store.db, clientId);
      const user = userId === null ? undefined : await users.findById(store.db, userId);
      await journal.record(store.db, { kind: 'system' }, {
        action: 'application.token_reused',
        targetType: 'application',
        targetId: clientId,
        details: { application: application?.name ?? null, userId, login: user?.login ?? null, presented, revoked: 'the grant and every token it issued' },
      });
    },

    /** Deletes the provider's expired codes, tokens, sessions and grants; returns how many. */
    async purgeExpired(): Promise<number> {
      const now = new Date().toISOString();
      return inBatches(store.db, PURGE_BATCH, (trx) => queries.purgeExpired(trx, now, PURGE_BATCH));
    },

    /** The claims of an active user; undefined for an unknown or inactive one (its tokens then count for nothing). */
    async claimsOf(userId: string): Promise<UserClaims | undefined> {
      const user = await users.findById(store.db, userId);
      if (user === undefined || !user.active) return undefined;
      const groups = (await access.groupsOf(userId)).map((group) => group.name);
      return {
        sub: user.id,
        preferred_username: user.login,
        ...(user.displayName !== null ? { name: user.displayName } : {}),
        ...(user.email !== null ? { email: user.email } : {}),
        groups,
      };
    },
  };
}

export type Applications = ReturnType<typeof createApplications>;

