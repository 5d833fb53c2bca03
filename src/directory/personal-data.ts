/**
 * A person's data on request (GDPR Art. 15, the right of access): one JSON document of what
 * Roster holds of a user, each section named, for an administrator to hand over. The one
 * source of the document: the admin API (`GET …/users/{id}/personal-data`), `roster users
 * export` and the console's "Download personal data" all call `export`, which records the
 * access in the audit trail (`user.personal_data_exported`, repeating none of the data).
 *
 * Bounded, not streamed: each list holds the newest LIST_LIMIT items with how many there are in
 * all, and says where the rest is when it is cut (the audit log's own pages and export, which
 * are streamed). A person's lists are short; the ones that can grow long are the audit entries
 * of an administrator whose token the identity provider uses (every SCIM change names that
 * user as actor: millions) and the memberships of a user in thousands of groups. Every read goes
 * through an index on the user (store/personal-data.ts), in one read snapshot, so that the
 * sections agree with each other and a long count holds no other request (on SQLite a reader
 * thread, on PostgreSQL a connection of the long reads' share).
 *
 * Never a secret or what stands for one: no password hash, no token secret or hash, no session
 * or browser id, no OpenID code, token or row id.
 */
import type { Store } from '../store/index.ts';
import type { Executor } from '../store/executor.ts';
import { countEvents, listEvents, type EventFilter, type StoredEvent } from '../store/audit.ts';
import {
  applicationNames, eventsAbout, knownBrowsersOf, membershipsHeldBy, oidcHeldBy, sessionsHeldBy, signInAttemptsNaming, tokensHeldBy, type Bounded, type HeldOidcRow,
} from '../store/personal-data.ts';
import { readSnapshotAcrossTurns, transact } from '../store/transact.ts';
import { createUserQueries, type StoredUser } from '../store/users.ts';
import type { Actor } from '../journal/actor.ts';
import { createJournal } from '../journal/journal.ts';
import { DirectoryError } from '../errors.ts';
import type { Access } from './access.ts';
import { toEntry as auditEntryOf, type AuditEntry } from './audit-log.ts';
import { toEntry as feedEntryOf, type FeedEntry } from './event-feed.ts';
import { isAnonymized } from './login-rules.ts';
import { userDocument } from './users.ts';

/** The most items each list of the document holds (the newest); `total` says how many there are. */
export const LIST_LIMIT = 1000;

/** What the document says it is, for programs that read it. */
export const PERSONAL_DATA_FORMAT = 'roster-personal-data/1';

/** The audit action of an export. */
export const EXPORTED_ACTION = 'user.personal_data_exported';

/** A list of the document: the newest items, how many there are in all, and where the rest is when they are not all here. */
export interface Section<T> {
  readonly total: number;
  readonly items: readonly T[];
  /** Null when `items` holds all `total`; otherwise how to read the rest. */
  readonly rest: string | null;
}

/** The account, as Roster keeps it: never its password hash. */
export interface AccountData {
  readonly id: string;
  readonly login: string;
  readonly name: string | null;
  readonly email: string | null;
  readonly externalId: string | null;
  /** Signs in with a password (true) or through SAML. */
  readonly local: boolean;
  /** Linked to SCIM: the identity provider manages it. */
  readonly managed: boolean;
  readonly active: boolean;
  /** An administrator now (flagged, or in the administrators' group). */
  readonly administrator: boolean;
  /** Its personal data was deleted (its login is `anonymized-<id>`). */
  readonly anonymized: boolean;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly lastSignInAt: string | null;
}

/** An OpenID Connect grant: what the user consented an application may read. */
export interface GrantData {
  /** The application; `name` is null when it was deleted since. */
  readonly application: { readonly clientId: string; readonly name: string | null };
  readonly scopes: readonly string[];
  /** Claims asked for one by one, beside the scopes. */
  readonly claims: readonly string[];
  readonly grantedAt: string | null;
  readonly expiresAt: string | null;
  /** How many codes and tokens issued under the grant are stored (their values never are). */
  readonly issued: { readonly authorizationCodes: number; readonly accessTokens: number; readonly refreshTokens: number };
}

/** A session of the OpenID provider: the user signed in to applications through Roster. */
export interface ProviderSessionData {
  readonly signedInAt: string | null;
  readonly expiresAt: string | null;
  readonly applications: readonly { readonly clientId: string; readonly name: string | null }[];
}

/** The whole document. */
export interface PersonalData {
  readonly format: typeof PERSONAL_DATA_FORMAT;
  readonly exportedAt: string;
  /** The most items of each list (LIST_LIMIT). */
  readonly listLimit: number;
  readonly account: AccountData;
  /** The SCIM document as Roster keeps it (without `groups`: groupMemberships), or null for a user with none. */
  readonly scim: { readonly id: string | null; readonly document: Record<string, unknown> } | null;
  readonly groupMemberships: Section<{ readonly group: { readonly id: string; readonly name: string }; readonly since: string }>;
  readonly apiTokens: Section<{ readonly name: string; readonly createdAt: string; readonly lastUsedAt: string | null; readonly revokedAt: string | null }>;
  readonly browserSessions: Section<{ readonly createdAt: string; readonly lastSeenAt: string; readonly expiresAt: string; readonly address: string | null; readonly browser: string | null }>;
  readonly knownBrowsers: Section<{ readonly knownUntil: string }>;
  readonly openIdConnect: { readonly grants: Section<GrantData>; readonly sessions: Section<ProviderSessionData> };
  readonly samlSignInAttempts: Section<{ readonly login: string; readonly nameId: string | null; readonly email: string | null; readonly at: string; readonly outcome: string; readonly reason: string | null }>;
  readonly auditEntries: { readonly aboutUser: Section<AuditEntry>; readonly byUser: Section<AuditEntry> };
  readonly events: Section<FeedEntry>;
  /** What Roster keeps that names the person but is not in the document, and where it is. */
  readonly notIncluded: readonly string[];
}

/** Said in every document: the records outside it, and why. */
const NOT_INCLUDED: readonly string[] = [
  'The provisioning activity: the SCIM requests of the identity provider, whose filters may name the login (GET /api/v2/provisioning-activity; kept ROSTER_ACTIVITY_RETENTION_DAYS).',
  'The webhook deliveries: each names an event listed under events (by id) and keeps the first 1 KB of the receiving application\'s answer (GET /api/v2/webhooks/{id}/deliveries; kept ROSTER_EVENT_RETENTION_DAYS).',
  'Audit entries about a membership, named by the membership\'s id (GET /api/v2/audit-logs?targetType=membership&targetId=…); the membership changes are under events (group.user_added, group.user_removed) while the feed keeps them.',
  'Audit entries about a group whose members changed (group.created, group.members_changed), which name the user by id (its SCIM id for the identity provider\'s changes) among the members added or removed (GET /api/v2/audit-logs?targetType=group&targetId=…); the membership changes are under events while the feed keeps them.',
  'Audit entries about the user\'s API tokens (token.created names the user by id; token.revoked names the token), whose target is the token: among every token\'s at GET /api/v2/audit-logs?targetType=token, the user\'s are those whose token.created has details.userId the user\'s id; the tokens themselves are under apiTokens.',
  'The back-channel logouts waiting to be sent to applications the user had signed in to (each names the user by id and the application; kept until the application answers, or for about 16 hours), and those Roster gave up on: audit entries about the application, application.backchannel_logout_failed, whose details.userId is the user\'s id (GET /api/v2/audit-logs?targetType=application&action=application.backchannel_logout_failed).',
  'Audit entries recorded with the user as actor before it took its current login (byUser holds those from its creation or its last change of login on; the earlier ones are found in the audit log by the login it had then, GET /api/v2/audit-logs?actorUser=…&to=…), the server\'s log and backups.',
];

/** A section from bounded rows. */
function section<R, T>(bounded: Bounded<R>, present: (row: R) => T, rest: string): Section<T> {
  const items = bounded.rows.map(present);
  return { total: bounded.total, items, rest: bounded.total > items.length ? rest : null };
}

/** An ISO 8601 instant from the epoch seconds of an OpenID payload (`iat`, `loginTs`), or null. */
function instantOf(seconds: unknown): string | null {
  return typeof seconds === 'number' && Number.isFinite(seconds) ? new Date(seconds * 1000).toISOString() : null;
}

/** The parsed payload of an OpenID row (JSON text the adapter wrote), or an empty object. */
function payloadOf(row: HeldOidcRow): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(row.payload);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The words of a space-separated scope, or of a list of claims. */
function wordsOf(value: unknown): string[] {
  if (typeof value === 'string') return value.split(' ').filter((word) => word !== '');
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

/** The OpenID scopes a grant gives, as the provider reads them (Grant#getOIDCScope): those asked for but the rejected ones. */
function grantedScopes(payload: Record<string, unknown>): { scopes: string[]; claims: string[] } {
  const openid = (payload['openid'] ?? {}) as Record<string, unknown>;
  const rejected = ((payload['rejected'] ?? {}) as Record<string, unknown>)['openid'] as Record<string, unknown> | undefined;
  const refused = new Set(wordsOf(rejected?.['scope']).filter((scope) => scope !== 'openid'));
  const refusedClaims = new Set(wordsOf(rejected?.['claims']));
  const resources = Object.values((payload['resources'] ?? {}) as Record<string, unknown>).flatMap(wordsOf);
  return {
    scopes: [...new Set([...wordsOf(openid['scope']), ...resources])].filter((scope) => !refused.has(scope)),
    claims: wordsOf(openid['claims']).filter((claim) => !refusedClaims.has(claim)),
  };
}

/**
 * The audit filter of a user as target, and as the user behind the actor: by login (`actor` would
 * take in `cli` for a user called so), from the instant the user took that login (loginHeldSince),
 * so that the entries of an earlier holder of the login (an erased user's, a renamed user's)
 * are never handed to this one.
 */
function auditFilters(user: StoredUser, since: string): { about: EventFilter; by: EventFilter } {
  return { about: { targetType: 'user', targetId: user.id }, by: { actorUser: user.login, from: since } };
}

/** The login a user's audit entry says it had before and after (`before.login` of the admin API, `before.userName` of SCIM), or undefined. */
function loginsOf(details: unknown): { before: unknown; after: unknown } | undefined {
  if (typeof details !== 'object' || details === null) return undefined;
  const { before, after } = details as Record<string, unknown>;
  const loginIn = (value: unknown) => (typeof value === 'object' && value !== null ? ((value as Record<string, unknown>)['login'] ?? (value as Record<string, unknown>)['userName']) : undefined);
  return { before: loginIn(before), after: loginIn(after) };
}

/** Whether an audit entry about a user gave it another login (a rename, by the admin API or SCIM, a release, an erasure). */
function changedLogin(entry: StoredEvent): boolean {
  const details = auditEntryOf(entry).details;
  if (typeof details === 'object' && details !== null && 'releasedLogin' in details) return true;
  const logins = loginsOf(details);
  return logins !== undefined && typeof logins.before === 'string' && typeof logins.after === 'string' && logins.before !== logins.after;
}

/** Entries about a user read per statement while looking for its last change of login. */
const LOGIN_SCAN_BATCH = 1000;

/**
 * Since when the user has had its current login: its creation, or the newest audit entry about
 * it that changed its login. Entries under that login from before are another person's (an
 * erased user whose login was given again, a user renamed since) or the user's under a login it
 * left and took back: neither is listed as the user's. The audit retention removes the oldest
 * entries first, so a rename whose entry is gone leaves no older entry of the login either.
 */
async function loginHeldSince(db: Executor, user: StoredUser): Promise<string> {
  const filter: EventFilter = { targetType: 'user', targetId: user.id, actionPrefix: 'user.' };
  let afterSeq: number | undefined;
  for (;;) {
    const rows = await listEvents(db, filter, { limit: LOGIN_SCAN_BATCH, offset: 0, ascending: false, ...(afterSeq !== undefined ? { afterSeq } : {}) });
    const change = rows.find(changedLogin);
    if (change !== undefined) return change.at > user.createdAt ? change.at : user.createdAt;
    const last = rows.at(-1);
    if (last === undefined || rows.length < LOGIN_SCAN_BATCH) return user.createdAt;
    afterSeq = last.seq;
  }
}

/** The newest LIST_LIMIT audit entries matching `filter`, their count, and the next page's address when cut; `present` shows each. */
async function auditSection(db: Executor, filter: EventFilter, query: string, command: string, present: (entry: AuditEntry) => AuditEntry = (entry) => entry): Promise<Section<AuditEntry>> {
  const total = await countEvents(db, filter);
  const rows = total === 0 ? [] : await listEvents(db, filter, { limit: LIST_LIMIT, offset: 0, ascending: false });
  const last = rows.at(-1);
  const rest = last === undefined || total <= rows.length
    ? null
    : `The older ones: GET /api/v2/audit-logs?${query}&cursor=${last.seq} (pages, newest first), or all of them oldest first: GET /api/v2/audit-logs/export?${query}, or roster audit export ${command}.`;
  return { total, items: rows.map((row) => present(auditEntryOf(row))), rest };
}

/**
 * An entry about the user, as the user's document shows it: whole, but for the user who took its
 * login (`user.login_released`'s `takenBy`), named by its id alone: its previous login and SCIM
 * id are that other person's data.
 */
function aboutPartOf(entry: AuditEntry): AuditEntry {
  const details = entry.details;
  if (typeof details !== 'object' || details === null || !('takenBy' in details)) return entry;
  const takenBy = (details as Record<string, unknown>)['takenBy'];
  const id = typeof takenBy === 'object' && takenBy !== null ? (takenBy as Record<string, unknown>)['id'] ?? null : null;
  return { ...entry, details: { ...details, takenBy: { id } } };
}

/** The user an audit entry's details name by internal id (`userId` of a membership's or a token's), or undefined. */
function userNamedBy(details: unknown): unknown {
  return typeof details === 'object' && details !== null ? (details as Record<string, unknown>)['userId'] : undefined;
}

/**
 * An entry the user made as actor, as the user's document shows it: whole, unless it is about
 * another user (a user it created or changed, another user's membership or token), whose details
 * are that person's data (their name, email, login): those keep what the user did, when and to
 * which id, without the details. The other person's own document has them, and so has the audit log.
 */
function ownPartOf(userId: string): (entry: AuditEntry) => AuditEntry {
  return (entry) => {
    // A user entry without a target (a refused sign-in under the user's login) is the user's own.
    const other = entry.targetType === 'user' ? entry.targetId !== null && entry.targetId !== userId : (entry.targetType === 'membership' || entry.targetType === 'token') && userNamedBy(entry.details) !== undefined && userNamedBy(entry.details) !== userId;
    return other ? { ...entry, details: null } : entry;
  };
}

/** The export of a person's data over a store; `access` says whether the user is an administrator. */
export function createPersonalData(store: Store, access: Access) {
  const users = createUserQueries(store.dialect);
  const journal = createJournal(store.dialect);

  /** The document, read in one snapshot. */
  async function read(db: Executor, userId: string, exportedAt: string): Promise<PersonalData> {
    const user = await users.findById(db, userId);
    if (user === undefined) throw new DirectoryError('not_found', `User '${userId}' not found`);
    const id = encodeURIComponent(user.id);
    // Read one after the other: a snapshot is one connection.
    const memberships = await membershipsHeldBy(db, user.id, LIST_LIMIT);
    const tokens = await tokensHeldBy(db, user.id, LIST_LIMIT);
    const sessions = await sessionsHeldBy(db, user.id, LIST_LIMIT);
    const browsers = await knownBrowsersOf(db, user.id, LIST_LIMIT);
    const oidc = await oidcHeldBy(db, user.id, LIST_LIMIT);
    const attempts = await signInAttemptsNaming(db, { userId: user.id, login: user.login, email: user.email }, LIST_LIMIT);
    const events = await eventsAbout(db, user.id, LIST_LIMIT);
    const since = await loginHeldSince(db, user);
    const filters = auditFilters(user, since);
    const aboutUser = await auditSection(db, filters.about, `targetType=user&targetId=${id}`, `--target-type user --target-id ${user.id}`, aboutPartOf);
    const byUser = await auditSection(db, filters.by, `actorUser=${encodeURIComponent(user.login)}&from=${encodeURIComponent(since)}`, `--actor-user '${user.login.replace(/'/g, "'\\''")}' --from ${since}`, ownPartOf(user.id));

    const grantPayloads = { total: oidc.grants.total, rows: oidc.grants.rows.map((row) => ({ row, payload: payloadOf(row) })) };
    const sessionPayloads = { total: oidc.sessions.total, rows: oidc.sessions.rows.map((row) => ({ row, payload: payloadOf(row) })) };
    const clientIds = new Set<string>();
    for (const { payload } of grantPayloads.rows) if (typeof payload['clientId'] === 'string') clientIds.add(payload['clientId']);
    for (const { payload } of sessionPayloads.rows) for (const clientId of Object.keys((payload['authorizations'] ?? {}) as object)) clientIds.add(clientId);
    const names = await applicationNames(db, [...clientIds]);
    const application = (clientId: string) => ({ clientId, name: names.get(clientId) ?? null });

    return {
      format: PERSONAL_DATA_FORMAT,
      exportedAt,
      listLimit: LIST_LIMIT,
      account: {
        id: user.id,
        login: user.login,
        name: user.displayName,
        email: user.email,
        externalId: user.externalId,
        local: user.local,
        managed: user.scimId !== null,
        active: user.active,
        administrator: await access.isAdministrator(user.id, db),
        anonymized: isAnonymized(user),
        createdAt: user.createdAt,
        updatedAt: user.updatedAt,
        lastSignInAt: user.lastConnectionAt,
      },
      // A user SCIM never provisioned keeps no document; one provisioned before SCIM was turned off keeps its attributes.
      scim: user.scimId === null && Object.keys(user.data).length === 0 ? null : { id: user.scimId, document: userDocument(user) },
      groupMemberships: section(memberships, (row) => ({ group: { id: row.groupId, name: row.groupName }, since: row.since }), `All of them, by group name: GET /api/v2/authorizations/groups?userId=${id} (pages).`),
      apiTokens: section(tokens, (row) => row, 'All of them: roster tokens list --all.'),
      browserSessions: section(sessions, (row) => row, 'Only the most recently seen are listed.'),
      knownBrowsers: section(browsers, (row) => row, 'Only those known the longest are listed.'),
      openIdConnect: {
        grants: section(grantPayloads, ({ row, payload }) => {
          const issued = oidc.issued.get(row.key);
          return {
            application: application(typeof payload['clientId'] === 'string' ? payload['clientId'] : ''),
            ...grantedScopes(payload),
            grantedAt: instantOf(payload['iat']),
            expiresAt: row.expiresAt,
            issued: { authorizationCodes: issued?.get('AuthorizationCode') ?? 0, accessTokens: issued?.get('AccessToken') ?? 0, refreshTokens: issued?.get('RefreshToken') ?? 0 },
          };
        }, 'Only those that expire last are listed.'),
        sessions: section(sessionPayloads, ({ row, payload }) => ({
          signedInAt: instantOf(payload['loginTs']),
          expiresAt: row.expiresAt,
          applications: Object.keys((payload['authorizations'] ?? {}) as object).map(application),
        }), 'Only those that expire last are listed.'),
      },
      samlSignInAttempts: section(attempts, (row) => row, 'Only the latest are listed.'),
      auditEntries: { aboutUser, byUser },
      events: section(events, feedEntryOf, `All of them, oldest first: GET /api/v2/events?userId=${id}&limit=1000 (pages: ask again with each answer's next as after, until a page is short).`),
      notIncluded: NOT_INCLUDED,
    };
  }

  return {
    /**
     * What Roster holds of user `userId` (404 for an unknown id), for `actor` to hand over; the
     * access is recorded first, in its own transaction (`user.personal_data_exported`, naming the
     * user by id and login only), so that an export cut short is recorded too, and the document
     * lists its own entry among the audit entries about the user.
     */
    async export(userId: string, actor: Actor): Promise<PersonalData> {
      const found = await users.findById(store.db, userId);
      if (found === undefined) throw new DirectoryError('not_found', `User '${userId}' not found`);
      const exportedAt = new Date().toISOString();
      await transact(store.db, (trx) => journal.record(trx, actor, { action: EXPORTED_ACTION, targetType: 'user', targetId: found.id, details: { login: found.login } }, exportedAt));
      return readSnapshotAcrossTurns(store, (db) => read(db, found.id, exportedAt));
    },
  };
}

export type PersonalDataExport = ReturnType<typeof createPersonalData>;
