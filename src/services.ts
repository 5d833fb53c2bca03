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
import { createProvisioningActivity, type ProvisioningActivity } from './directory/activity.ts';
import { createAccounts, type Accounts } from './directory/accounts.ts';
import { createAdministrators, type Administrators } from './directory/administrators.ts';
import { createAuditLog, type AuditLog } from './directory/audit-log.ts';
import { createEventFeed, DEFAULT_EVENT_RETENTION_DAYS, type EventFeed } from './directory/event-feed.ts';
import { createGroupManagement, type GroupManagement } from './directory/group-management.ts';
import { createGroupDirectory, type GroupDirectory } from './directory/groups.ts';
import { createMembershipManagement, type MembershipManagement } from './directory/memberships.ts';
import { createPasswordCheck, type PasswordCheck } from './directory/password-check.ts';
import { createPasswordSignIn, type PasswordSignIn } from './directory/password-sign-in.ts';
import { createProvisioning, type Provisioning } from './directory/provisioning.ts';
import { createSettings } from './directory/settings.ts';
import { createUserDirectory, type UserDirectory } from './directory/users.ts';
import { createWebhooks, type Webhooks } from './directory/webhooks.ts';
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
  /** The pull feed of change events and its retention. */
  readonly eventFeed: EventFeed;
  /** The SCIM requests the identity provider made, kept for the retention period. */
  readonly activity: ProvisioningActivity;
  /** The webhook endpoints administrators manage; delivery/ sends to them. */
  readonly webhooks: Webhooks;
}

export interface ServiceOptions {
  /** The public URL of this instance (ACS URL, entity ID, Secure cookies); see config.ts. */
  readonly baseUrl?: string;
  readonly sessionPolicy?: SessionPolicy;
  /** Days events are kept in the feed (ROSTER_EVENT_RETENTION_DAYS); 30 when unset. */
  readonly eventRetentionDays?: number;
  /** The group whose members are administrators (ROSTER_ADMIN_GROUP); DEFAULT_ADMIN_GROUP when unset. */
  readonly adminGroup?: string;
}

/** Builds every service over one store. */
export function createServices(store: Store, options: ServiceOptions = {}): Services {
  const baseUrl = options.baseUrl ?? 'http://localhost:8080';
  const settings = createSettings(store);
  const saml = createSamlConfigService(settings);
  const provisioning = createProvisioning(store, settings);
  const passwordCheck = createPasswordCheck(store);
  const access = createAccess(store, options.adminGroup !== undefined ? { adminGroup: options.adminGroup } : {});
  const eventFeed = createEventFeed(store, { retentionDays: options.eventRetentionDays ?? DEFAULT_EVENT_RETENTION_DAYS });
  return {
    store,
    tokens: createTokenService(store),
    saml,
    provisioning,
    users: createUserDirectory(store),
    groups: createGroupDirectory(store),
    samlSp: createSamlServiceProvider(store, saml, baseUrl),
    sessions: createSessions(store, {
      secure: baseUrl.startsWith('https:'),
      ...(options.sessionPolicy !== undefined ? { policy: options.sessionPolicy } : {}),
    }),
    signIn: createSignIn(store, provisioning, () => saml.get()),
    accounts: createAccounts(store),
    administrators: createAdministrators(store, access),
    passwordCheck,
    passwordSignIn: createPasswordSignIn(store, passwordCheck, () => saml.get()),
    groupManagement: createGroupManagement(store),
    memberships: createMembershipManagement(store),
    access,
    auditLog: createAuditLog(store),
    eventFeed,
    activity: createProvisioningActivity(store),
    webhooks: createWebhooks(store, eventFeed),
  };
}
