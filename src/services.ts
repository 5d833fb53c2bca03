/**
 * The application services, wired once over a store. main.ts, the CLI and the tests all build
 * them here, so there is one composition of the domain (STYLE.md §4).
 */
import { createSamlConfigService, type SamlConfigService } from './auth/saml-config.ts';
import { createSamlServiceProvider, type SamlServiceProvider } from './auth/saml.ts';
import { createSessions, type SessionPolicy, type Sessions } from './auth/sessions.ts';
import { createTokenService, type TokenService } from './auth/tokens.ts';
import { createSignIn, type SignIn } from './directory/sign-in.ts';
import { createAccess, type Access } from './directory/access.ts';
import { createApplications, type Applications } from './directory/applications.ts';
import { createOidcAdapter, type OidcAdapter } from './auth/oidc-adapter.ts';
import { loadOidcKeys, rotateOidcKeys, type LoadedKeys, type Rotation } from './auth/oidc-keys.ts';
import { queueApplicationLogouts } from './auth/application-logouts.ts';
import { transact } from './store/transact.ts';
import type { Actor } from './journal/actor.ts';
import { createProvisioningActivity, type ProvisioningActivity } from './directory/activity.ts';
import { createAccounts, type Accounts } from './directory/accounts.ts';
import { createAdministrators, type Administrators } from './directory/administrators.ts';
import { initialPasswordFile, type InitialPasswordFile } from './directory/initial-password.ts';
import { createAuditLog, type AuditLog } from './directory/audit-log.ts';
import { createMembershipHistory, type MembershipHistory } from './directory/membership-history.ts';
import { createPersonalData, type PersonalDataExport } from './directory/personal-data.ts';
import { createEventFeed, DEFAULT_EVENT_RETENTION_DAYS, type EventFeed } from './directory/event-feed.ts';
import { createCaseConflicts, type CaseConflicts } from './directory/case-conflicts.ts';
import { createGroupManagement, type GroupManagement } from './directory/group-management.ts';
import { createGroupDirectory, type GroupDirectory } from './directory/groups.ts';
import { createListCursors, type ListCursors } from './directory/list-cursors.ts';
import { createRootSearch, type RootSearch } from './directory/search.ts';
import { createMembershipManagement, type MembershipManagement } from './directory/memberships.ts';
import { createPasswordCheck, type PasswordCheck } from './directory/password-check.ts';
import { createPasswordSignIn, type PasswordSignIn } from './directory/password-sign-in.ts';
import { createProvisioning, type Provisioning } from './directory/provisioning.ts';
import { createScimSchemas, type ScimSchemas } from './directory/scim-schemas.ts';
import { createSharedClock, type SharedClock } from './store/clock.ts';
import { DEFAULT_SIGN_IN_RATE_LIMIT, createRateLimits, signInPolicy, type RateLimitPolicy, type RateLimits } from './directory/rate-limits.ts';
import { createSettings } from './settings.ts';
import { createScimState, type ScimState } from './directory/scim-state.ts';
import { createUserDirectory, type UserDirectory } from './directory/users.ts';
import { createWebhooks, type Webhooks } from './directory/webhooks.ts';
import { createFormSubmissions, type FormSubmissions } from './directory/form-submissions.ts';
import type { Store } from './store/index.ts';

export interface Services {
  readonly store: Store;
  readonly tokens: TokenService;
  readonly saml: SamlConfigService;
  readonly provisioning: Provisioning;
  /** SCIM's view of users. */
  readonly users: UserDirectory;
  /** SCIM's view of groups. */
  readonly groups: GroupDirectory;
  /** SCIM's search over Users and Groups at once (the root /.search). */
  readonly rootSearch: RootSearch;
  /** The signing key and lifetime of SCIM list cursors (RFC 9865). */
  readonly listCursors: ListCursors;
  /** Roster as a SAML service provider (login redirect, metadata, response validation). */
  readonly samlSp: SamlServiceProvider;
  readonly sessions: Sessions;
  readonly signIn: SignIn;
  /** Users as administrators manage them (admin API, CLI). */
  readonly accounts: Accounts;
  readonly administrators: Administrators;
  /** The password check of local accounts (sign-in with a password). */
  readonly passwordCheck: PasswordCheck;
  /** Groups as administrators manage them (admin API, CLI). */
  readonly groupManagement: GroupManagement;
  readonly memberships: MembershipManagement;
  /** The groups that count for a user's access, and whether a user is an administrator: every access decision asks here. */
  readonly access: Access;
  /** Password sign-in of local accounts, with its backoff and audit trail. */
  readonly passwordSignIn: PasswordSignIn;
  readonly auditLog: AuditLog;
  /** Which groups each user joined and left, from the event feed. */
  readonly membershipHistory: MembershipHistory;
  /** What Roster holds of one person, as one document (GDPR Art. 15), for the admin API, the CLI and the console. */
  readonly personalData: PersonalDataExport;
  /** The pull feed of change events and its retention. */
  readonly eventFeed: EventFeed;
  /** The SCIM schemas in force, and the extension schemas administrators declare. */
  readonly scimSchemas: ScimSchemas;
  /** Whether SCIM is on and the schemas in force: what every SCIM request reads first, in one statement. */
  readonly scimState: ScimState;
  /** Names equal regardless of case that migration 011 found on several users or groups. */
  readonly caseConflicts: CaseConflicts;
  /** The SCIM requests the identity provider made, kept for the retention period. */
  readonly activity: ProvisioningActivity;
  /** The webhook endpoints administrators manage; delivery/ sends to them. */
  readonly webhooks: Webhooks;
  /** Applications that sign their users in through Roster's OpenID provider. */
  readonly applications: Applications;
  /** One-time tokens of the console forms whose answer shows a secret once: a repeated post does not act again. */
  readonly formSubmissions: FormSubmissions;
  /** The OpenID provider's shared storage and keys. */
  readonly oidc: OidcStorage;
  /** Per-token request budgets of the SCIM and admin APIs, shared by every instance. */
  readonly rateLimits: RateLimits;
  /** OpenID Connect sign-ins started per client address (ROSTER_OIDC_RATE_LIMIT), shared by every instance. */
  readonly authorizationLimits: RateLimits;
  /** The time written where other instances compare it (store/clock.ts); `roster serve` aligns it with the database's. */
  readonly clock: SharedClock;
  /** Where the first-start password goes when no terminal shows it; undefined without a data directory. */
  readonly initialPassword: InitialPasswordFile | undefined;
}

/** What the OpenID provider keeps in the database, so that every instance shares it. */
export interface OidcStorage {
  /** oidc-provider's adapter class over this store. */
  readonly Adapter: new (model: string) => OidcAdapter;
  /** The signing and cookie keys, created on first use. */
  loadKeys(): Promise<LoadedKeys>;
  /** Publishes a new signing key, signing 10 minutes later (at once with `now`); the old one stays published for the grace period. */
  rotateKeys(actor: Actor, options?: { readonly now?: boolean }): Promise<Rotation>;
  /**
   * Queues a back-channel logout of `userId` for each of `clientIds` with a back-channel logout
   * URI (RP-initiated logout: the applications the browser's provider session signed in to);
   * returns the client ids queued for.
   */
  queueLogouts(userId: string, clientIds: readonly string[]): Promise<readonly string[]>;
}

export interface ServiceOptions {
  /** The public URL of this instance (ACS URL, entity ID, Secure cookies); see config.ts. */
  readonly baseUrl?: string;
  readonly sessionPolicy?: SessionPolicy;
  /** Days events are kept in the feed (ROSTER_EVENT_RETENTION_DAYS); 30 when unset. */
  readonly eventRetentionDays?: number;
  /** The group whose members are administrators (ROSTER_ADMIN_GROUP); DEFAULT_ADMIN_GROUP when unset. */
  readonly adminGroup?: string;
  /** The session cookie's Domain (ROSTER_COOKIE_DOMAIN); host-only when unset. */
  readonly cookieDomain?: string | undefined;
  /** Seconds a SCIM list cursor stays valid (ROSTER_SCIM_CURSOR_TIMEOUT). */
  readonly scimCursorTimeout?: number;
  /** ROSTER_RATE_LIMIT and ROSTER_RATE_LIMIT_BURST; no limit when unset. */
  readonly rateLimit?: RateLimitPolicy | undefined;
  /** ROSTER_OIDC_RATE_LIMIT; DEFAULT_SIGN_IN_RATE_LIMIT when unset. */
  readonly signInRateLimit?: RateLimitPolicy;
  /** This host's clock (Date.now); tests set one out of step. */
  readonly hostClock?: () => number;
  /** Members read per statement round when an answer shows every member of a group (1,000); tests set fewer. */
  readonly memberChunk?: number;
  /** The folder of the `initial-admin-password` file (see config.ts `initialPasswordDirectory`). */
  readonly initialPasswordDirectory?: string | undefined;
  /** The file's name there (config.ts `initialPasswordFileName`): `initial-admin-password` when unset. */
  readonly initialPasswordName?: string | undefined;
}

function memberChunkOf(options: ServiceOptions): { memberChunk?: number } {
  return options.memberChunk !== undefined ? { memberChunk: options.memberChunk } : {};
}

/** Builds every service over one store. */
export function createServices(store: Store, options: ServiceOptions = {}): Services {
  const baseUrl = options.baseUrl ?? 'http://localhost:8080';
  const settings = createSettings(store);
  const clock = createSharedClock(store, options.hostClock);
  const saml = createSamlConfigService(settings);
  const provisioning = createProvisioning(store, settings);
  const scimSchemas = createScimSchemas(store, settings);
  const passwordCheck = createPasswordCheck(store);
  const access = createAccess(store, options.adminGroup !== undefined ? { adminGroup: options.adminGroup } : {});
  const initialPassword = options.initialPasswordDirectory !== undefined ? initialPasswordFile(options.initialPasswordDirectory, options.initialPasswordName) : undefined;
  const eventFeed = createEventFeed(store, { retentionDays: options.eventRetentionDays ?? DEFAULT_EVENT_RETENTION_DAYS });
  const sessions = createSessions(store, {
    secure: baseUrl.startsWith('https:'),
    domain: options.cookieDomain,
    adminGroup: access.adminGroup,
    ...(options.sessionPolicy !== undefined ? { policy: options.sessionPolicy } : {}),
  });
  return {
    store,
    tokens: createTokenService(store),
    saml,
    provisioning,
    users: createUserDirectory(store, scimSchemas),
    groups: createGroupDirectory(store, scimSchemas, memberChunkOf(options)),
    rootSearch: createRootSearch(store, scimSchemas, memberChunkOf(options)),
    listCursors: createListCursors(store, options.scimCursorTimeout !== undefined ? { timeoutSeconds: options.scimCursorTimeout } : {}),
    samlSp: createSamlServiceProvider(store, saml, baseUrl),
    sessions,
    signIn: createSignIn(store, provisioning, () => saml.get(), sessions, access),
    accounts: createAccounts(store, access, initialPassword),
    administrators: createAdministrators(store, access, initialPassword),
    passwordCheck,
    passwordSignIn: createPasswordSignIn(store, passwordCheck, () => saml.get(), initialPassword),
    groupManagement: createGroupManagement(store, access),
    memberships: createMembershipManagement(store, access),
    access,
    auditLog: createAuditLog(store),
    membershipHistory: createMembershipHistory(store),
    personalData: createPersonalData(store, access),
    eventFeed,
    scimSchemas,
    scimState: createScimState(store, settings, scimSchemas),
    caseConflicts: createCaseConflicts(store),
    activity: createProvisioningActivity(store),
    applications: createApplications(store, access),
    formSubmissions: createFormSubmissions(store),
    oidc: {
      Adapter: createOidcAdapter(store),
      loadKeys: () => loadOidcKeys(store),
      rotateKeys: (actor, options) => rotateOidcKeys(store, actor, options),
      queueLogouts: (userId, clientIds) => transact(store.db, (trx) => queueApplicationLogouts(trx, userId, clientIds, 'signed_out')),
    },
    rateLimits: createRateLimits(store, options.rateLimit, { now: clock.now }),
    authorizationLimits: createRateLimits(store, options.signInRateLimit ?? signInPolicy(DEFAULT_SIGN_IN_RATE_LIMIT), {
      now: clock.now,
      refusal: (policy, seconds) =>
        `Too many sign-ins started from this address: Roster allows ${policy.perMinute} a minute per client address, ${policy.burst} at once (ROSTER_OIDC_RATE_LIMIT). Retry after ${seconds} seconds.`,
    }),
    clock,
    initialPassword,
    webhooks: createWebhooks(store, eventFeed),
  };
}
