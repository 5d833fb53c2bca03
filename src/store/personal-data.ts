/**
 * SQL of a person's data: what an anonymization erases (directory/accounts.ts), and what the
 * export of a person's data reads (directory/personal-data.ts, GDPR Art. 15).
 *
 * The erasure: the one list of what Roster holds of a person in its own tables beyond what a
 * deactivation already removed (memberships, sessions, known browsers, OpenID grants;
 * store/user-credentials.ts, store/memberships.ts). The account row stays, under a login that
 * names nobody, so that the audit log and the event feed keep pointing at an id; what they
 * recorded before stays until their retention removes it (docs/operations.md).
 *
 * The export: one read per table that keeps rows of a person, each through an index on the
 * user (or on the login and email, for SAML sign-in attempts), newest first and at most `limit`
 * rows, with how many there are in all: a person in 50,000 groups gives a bounded document, read
 * in milliseconds. The audit log is read by store/audit.ts. Never a secret or what stands for
 * one: no password hash, no token hash, no session or browser id (the SHA-256 of a cookie), no
 * OpenID row id (a code's or token's SHA-256).
 */
import { sql, type ExpressionBuilder } from 'kysely';
import { caseKey } from '../text.ts';
import type { DialectAdapter } from './dialect.ts';
import type { Executor } from './executor.ts';
import type { Database } from './tables.ts';
import { toFeedEvent } from './feed.ts';
import type { StoredFeedEvent } from './journal.ts';

/** What an erasure removed besides the account's fields, for its audit entry. */
export interface Erased {
  /** API tokens of the user deleted (revoked ones keep their names otherwise). */
  readonly deletedTokens: number;
}

/**
 * Empties every personal field of user `id` (name, email, external id, password hashes, last
 * sign-in, the SCIM document and what is derived from it: emails, unique values of custom
 * schemas) and gives it `login`; deletes its API tokens and the record of the SAML sign-ins
 * attempted under its login or email (`person`), the same rows its export lists.
 */
export async function eraseUser(db: Executor, dialect: DialectAdapter, id: string, login: string, person: SignInNames, now: string): Promise<Erased> {
  await db
    .updateTable('users')
    .set({
      login,
      login_key: caseKey(login),
      // A name no user can share (it holds the account's own id): no conflict mark.
      login_conflict: 0,
      display_name: null,
      display_name_key: null,
      email: null,
      email_key: null,
      external_id: null,
      password_hash: null,
      generated_password_hash: null,
      last_connection_at: null,
      scim_data: dialect.toJsonParameter({}),
      scim_fold: dialect.toJsonParameter({}),
      updated_at: now,
      version: sql<number>`version + 1`,
    })
    .where('id', '=', id)
    .execute();
  await db.deleteFrom('user_emails').where('user_id', '=', id).execute();
  await db.deleteFrom('scim_unique_values').where('resource_type', '=', 'User').where('resource_id', '=', id).execute();
  const tokens = await db.deleteFrom('tokens').where('user_id', '=', id).executeTakeFirst();
  await db.deleteFrom('saml_sign_in_attempts').where(namingPerson(person)).execute();
  return { deletedTokens: Number(tokens.numDeletedRows) };
}

/** Some rows of a person, newest first, and how many there are in all. */
export interface Bounded<T> {
  readonly rows: T[];
  readonly total: number;
}

/** The number a `count(*) as n` statement answers. */
async function countOf(query: { executeTakeFirst(): Promise<{ n: unknown } | undefined> }): Promise<number> {
  return Number((await query.executeTakeFirst())?.n ?? 0);
}

/** A group the user belongs to, and since when. */
export interface HeldMembership {
  readonly groupId: string;
  readonly groupName: string;
  readonly since: string;
}

/** The user's group memberships, newest first (through memberships_user), at most `limit`. */
export async function membershipsHeldBy(db: Executor, userId: string, limit: number): Promise<Bounded<HeldMembership>> {
  const rows = await db
    .selectFrom('memberships as m')
    .innerJoin('groups as g', 'g.id', 'm.group_id')
    .select(['g.id', 'g.name', 'm.created_at'])
    .where('m.user_id', '=', userId)
    .orderBy('m.created_at', 'desc')
    .orderBy('g.name')
    .limit(limit)
    .execute();
  const total = await countOf(db.selectFrom('memberships').select(sql<number>`count(*)`.as('n')).where('user_id', '=', userId));
  return { rows: rows.map((row) => ({ groupId: row.id, groupName: row.name, since: row.created_at })), total };
}

/** An API token of the user, without its hash. */
export interface HeldToken {
  readonly name: string;
  readonly createdAt: string;
  readonly lastUsedAt: string | null;
  readonly revokedAt: string | null;
}

/** The user's API tokens, revoked ones included, newest first, at most `limit`. */
export async function tokensHeldBy(db: Executor, userId: string, limit: number): Promise<Bounded<HeldToken>> {
  const rows = await db
    .selectFrom('tokens')
    .select(['name', 'created_at', 'last_used_at', 'revoked_at'])
    .where('user_id', '=', userId)
    .orderBy('created_at', 'desc')
    .orderBy('name')
    .limit(limit)
    .execute();
  const total = await countOf(db.selectFrom('tokens').select(sql<number>`count(*)`.as('n')).where('user_id', '=', userId));
  return { rows: rows.map((row) => ({ name: row.name, createdAt: row.created_at, lastUsedAt: row.last_used_at, revokedAt: row.revoked_at })), total };
}

/** A browser session of the user as stored (ended ones stay until the hourly clean-up), without its id. */
export interface HeldSession {
  readonly createdAt: string;
  readonly lastSeenAt: string;
  readonly expiresAt: string;
  readonly address: string | null;
  readonly browser: string | null;
}

/** The user's browser sessions, most recently seen first (through sessions_user), at most `limit`. */
export async function sessionsHeldBy(db: Executor, userId: string, limit: number): Promise<Bounded<HeldSession>> {
  const rows = await db
    .selectFrom('sessions')
    .select(['created_at', 'last_seen_at', 'expires_at', 'address', 'browser'])
    .where('user_id', '=', userId)
    .orderBy('last_seen_at', 'desc')
    .orderBy('created_at', 'desc')
    .limit(limit)
    .execute();
  const total = await countOf(db.selectFrom('sessions').select(sql<number>`count(*)`.as('n')).where('user_id', '=', userId));
  return {
    rows: rows.map((row) => ({ createdAt: row.created_at, lastSeenAt: row.last_seen_at, expiresAt: row.expires_at, address: row.address, browser: row.browser })),
    total,
  };
}

/** Until when each browser that signed in to the user with its password is known (known_browsers_user), latest first, at most `limit`. */
export async function knownBrowsersOf(db: Executor, userId: string, limit: number): Promise<Bounded<{ readonly knownUntil: string }>> {
  const rows = await db.selectFrom('known_browsers').select('expires_at').where('user_id', '=', userId).orderBy('expires_at', 'desc').limit(limit).execute();
  const total = await countOf(db.selectFrom('known_browsers').select(sql<number>`count(*)`.as('n')).where('user_id', '=', userId));
  return { rows: rows.map((row) => ({ knownUntil: row.expires_at })), total };
}

/** An OpenID Connect provider row of the user: its payload (JSON text, which holds no code or token) and its expiry. */
export interface HeldOidcRow {
  /** The row's id: a grant's own id, to count what was issued under it. Never shown. */
  readonly key: string;
  readonly payload: string;
  readonly expiresAt: string | null;
}

/** What the OpenID provider keeps of the user (oidc_models_account): its grants and provider sessions, and how many codes and tokens each grant has. */
export interface HeldOidc {
  readonly grants: Bounded<HeldOidcRow>;
  readonly sessions: Bounded<HeldOidcRow>;
  /** Codes and tokens stored under each grant: grant id → model (`AccessToken`, `RefreshToken` …) → how many. */
  readonly issued: ReadonlyMap<string, ReadonlyMap<string, number>>;
}

/** The provider's rows of the user, latest to expire first within each model, at most `limit` of each. */
export async function oidcHeldBy(db: Executor, userId: string, limit: number): Promise<HeldOidc> {
  const ofModel = async (model: string): Promise<Bounded<HeldOidcRow>> => {
    const rows = await db
      .selectFrom('oidc_models')
      .select(['id', 'payload', 'expires_at'])
      .where('account_id', '=', userId)
      .where('model', '=', model)
      .orderBy('expires_at', 'desc')
      .orderBy('id')
      .limit(limit)
      .execute();
    const total = await countOf(db.selectFrom('oidc_models').select(sql<number>`count(*)`.as('n')).where('account_id', '=', userId).where('model', '=', model));
    return { rows: rows.map((row) => ({ key: row.id, payload: row.payload, expiresAt: row.expires_at })), total };
  };
  const grants = await ofModel('Grant');
  const sessions = await ofModel('Session');
  const counted = await db
    .selectFrom('oidc_models')
    .select(['grant_id', 'model', sql<number>`count(*)`.as('n')])
    .where('account_id', '=', userId)
    .where('grant_id', 'is not', null)
    .where('model', 'not in', ['Grant', 'Session', 'Interaction'])
    .groupBy(['grant_id', 'model'])
    .execute();
  const issued = new Map<string, Map<string, number>>();
  for (const row of counted) {
    if (row.grant_id === null) continue;
    const models = issued.get(row.grant_id) ?? new Map<string, number>();
    models.set(row.model, Number(row.n));
    issued.set(row.grant_id, models);
  }
  return { grants, sessions, issued };
}

/** The names of the applications with these client ids (an application deleted since has none). */
export async function applicationNames(db: Executor, clientIds: readonly string[]): Promise<Map<string, string>> {
  if (clientIds.length === 0) return new Map();
  const rows = await db.selectFrom('oidc_applications').select(['client_id', 'name']).where('client_id', 'in', clientIds).execute();
  return new Map(rows.map((row) => [row.client_id, row.name]));
}

/** A SAML sign-in attempt as recorded (the last one of each login). */
export interface HeldSignInAttempt {
  readonly login: string;
  readonly nameId: string | null;
  readonly email: string | null;
  readonly at: string;
  readonly outcome: string;
  readonly reason: string | null;
}

/** What names a person in the SAML sign-in attempts: the user's login and email; `userId` is the user's own id. */
export interface SignInNames {
  readonly userId: string;
  readonly login: string;
  readonly email: string | null;
}

/**
 * The SAML sign-in attempts that name the person, as the sign-in check finds the user's last one
 * (store/sign-in.ts latestAttemptOf): the rows of the login, those whose email is the login or
 * the email, those whose NameID is the login, each through its index; and the rows whose login
 * or NameID is the person's email, unless that row's login is another user's: an attempt under
 * another user's login that names this one only because its login spells this user's email is
 * the other user's sign-in (with the other user's email), not this person's. One predicate for
 * the export and the erasure, so that an erasure deletes every row the export showed, and no
 * other person's.
 */
function namingPerson(person: SignInNames) {
  const keysOf = (name: string) => [caseKey(name), name.toLowerCase()];
  const login = person.login.toLowerCase();
  const email = person.email?.toLowerCase();
  const names = [...new Set([login, ...(email === undefined ? [] : [email])])];
  const loginKeys = [...new Set(keysOf(person.login))];
  return (eb: ExpressionBuilder<Database, 'saml_sign_in_attempts'>) => {
    const own = [eb('login_key', 'in', loginKeys), eb(sql<string>`lower(email)`, 'in', names), eb(sql<string>`lower(name_id)`, '=', login)];
    if (person.email === null || email === undefined) return eb.or(own);
    const anotherUsersLogin = eb.exists(
      eb.selectFrom('users').select(sql<number>`1`.as('one')).whereRef('users.login_key', '=', 'saml_sign_in_attempts.login_key').where('users.id', '<>', person.userId),
    );
    const byEmail = eb.and([eb.or([eb('login_key', 'in', [...new Set(keysOf(person.email))]), eb(sql<string>`lower(name_id)`, '=', email)]), eb.not(anotherUsersLogin)]);
    return eb.or([...own, byEmail]);
  };
}

/** The recorded SAML sign-in attempts that name the person (namingPerson), latest first, at most `limit`. */
export async function signInAttemptsNaming(db: Executor, person: SignInNames, limit: number): Promise<Bounded<HeldSignInAttempt>> {
  const naming = db.selectFrom('saml_sign_in_attempts').where(namingPerson(person));
  const rows = await naming.select(['login', 'name_id', 'email', 'at', 'outcome', 'reason']).orderBy('at', 'desc').orderBy('login_key').limit(limit).execute();
  const total = await countOf(naming.select(sql<number>`count(*)`.as('n')));
  return { rows: rows.map((row) => ({ login: row.login, nameId: row.name_id, email: row.email, at: row.at, outcome: row.outcome, reason: row.reason })), total };
}

/** The events of the feed about the user (events_user: its own changes and its memberships'), newest first, at most `limit`. */
export async function eventsAbout(db: Executor, userId: string, limit: number): Promise<Bounded<StoredFeedEvent>> {
  const rows = await db
    .selectFrom('events')
    .select(['id', 'tx', 'type', 'occurred_at', 'actor', 'data', 'previous'])
    .where('user_id', '=', userId)
    .orderBy('tx', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  const total = await countOf(db.selectFrom('events').select(sql<number>`count(*)`.as('n')).where('user_id', '=', userId));
  return {
    rows: rows.map(toFeedEvent),
    total,
  };
}
