/** Row types of every table, for Kysely (see migrations/ for the DDL and the reasons). */
import type { Generated } from 'kysely';

export interface UsersTable {
  id: string;
  login: string;
  display_name: string | null;
  email: string | null;
  active: number;
  local: number;
  password_hash: string | null;
  /** The hash of the password Roster generated for the account; it still signs in with it while password_hash equals it (migration 023). */
  generated_password_hash: string | null;
  external_id: string | null;
  /** JSON text (SQLite) or JSONB (PostgreSQL); read through the dialect adapter. */
  scim_data: unknown;
  created_at: string;
  updated_at: string;
  version: number;
  last_connection_at: string | null;
  is_admin: Generated<number>;
  /**
   * text.ts caseKey of login, display_name and email (migration 011): what uniqueness and
   * case-insensitive matching compare. Nullable in the database (added by ALTER TABLE), always
   * written by store/users.ts, hence required here.
   */
  login_key: string;
  /** 0, or n > 0 for the n-th user whose login migration 011 found equal to an older one's. */
  login_conflict: Generated<number>;
  display_name_key: string | null;
  email_key: string | null;
  /** scim_data with every case-insensitive text replaced by its key (scim/keys.ts foldDocument); what filters read. */
  scim_fold: unknown;
}

export interface ScimUsersTable {
  scim_id: string;
  user_id: string;
}

export interface UserEmailsTable {
  user_id: string;
  position: number;
  value: string | null;
  type: string | null;
  is_primary: number;
  display: string | null;
  /** text.ts caseKey of value, type and display (migration 011). */
  value_key: string | null;
  type_key: string | null;
  display_key: string | null;
}

export interface GroupsTable {
  id: string;
  name: string;
  description: string | null;
  external_id: string | null;
  scim_data: unknown;
  created_at: string;
  updated_at: string;
  version: number;
  /** text.ts caseKey of name; see UsersTable.login_key. */
  name_key: string;
  /** See UsersTable.login_conflict. */
  name_conflict: Generated<number>;
  /** See UsersTable.scim_fold. */
  scim_fold: unknown;
  /** Bumped when what users show of the group changes: its name, its SCIM link (migration 007). */
  name_version: Generated<number>;
  name_changed_at: Generated<string>;
}

export interface ScimGroupsTable {
  scim_id: string;
  group_id: string;
}

export interface MembershipsTable {
  group_id: string;
  user_id: string;
  created_at: string;
}

/** How many times and when a user's memberships last changed (migration 007). */
export interface UserMembershipChangesTable {
  user_id: string;
  changes: number;
  changed_at: string;
}

export interface TokensTable {
  id: string;
  name: string;
  user_id: string | null;
  hash: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface SettingsTable {
  key: string;
  value: string;
  updated_at: string;
}

export interface AuditEventsTable {
  seq: Generated<number>;
  at: string;
  actor: string;
  action: string;
  target_type: string;
  target_id: string | null;
  details: string | null;
  /** Login of the user behind the actor (a token's owner), when there is one. */
  actor_user: string | null;
}

export interface SessionsTable {
  /** SHA-256 hex of the cookie value. */
  id: string;
  user_id: string;
  created_at: string;
  last_seen_at: string;
  /** Absolute expiry; the idle expiry is computed from last_seen_at. */
  expires_at: string;
  /** The client address at sign-in (migration 017); null for sessions opened before it. For display only. */
  address: string | null;
  /** A short browser description at sign-in ("Firefox on Linux", migration 017); null before it. For display only. */
  browser: string | null;
  /**
   * 1 when the session was issued to an administrator, else 0 (migration 026): a session whose
   * user's rights differ from these ends (auth/sessions.ts). Null for sessions opened before it.
   */
  administrator: number | null;
}

export interface KnownBrowsersTable {
  /** SHA-256 hex of the browser's `roster_browser` cookie value. */
  id: string;
  /** The account the browser signed in to with its password. */
  user_id: string;
  /** When the browser stops being known unless it signs in again (ISO 8601). */
  expires_at: string;
}

export interface SamlRequestsTable {
  id: string;
  created_at: string;
  expires_at: string;
  return_to: string | null;
  /** SHA-256 hex of the browser's SAML request cookie value; null for requests older than migration 005. */
  browser_hash: string | null;
}

export interface SamlAssertionsTable {
  id: string;
  expires_at: string;
}

export interface SamlSignInAttemptsTable {
  /** lower(login), so each login has one row whatever its case. */
  login_key: string;
  login: string;
  name_id: string | null;
  email: string | null;
  at: string;
  /** 'accepted' or 'refused'. */
  outcome: string;
  reason: string | null;
}

export interface AuditBudgetsTable {
  /** Who writes: a client address for anonymous SAML posts. */
  source: string;
  /** The minute counted, `YYYY-MM-DDTHH:MMZ`. */
  minute: string;
  /** Audit entries the source asked to write in that minute, stored or not. */
  used: number;
  /** The `audit.suppressed` entry counting those past the budget, once there is one. */
  summary_seq: number | null;
}

/** One event of the feed; see migrations/010-events.ts. */
export interface EventsTable {
  id: Generated<number>;
  /** The writing transaction's clock value (store/journal.ts): the feed's order is (tx, id). */
  tx: number;
  type: string;
  occurred_at: string;
  /** JSON text of the actor (journal/actor.ts actorObject). */
  actor: string;
  /** JSON text of the event's data (a user, a group, a membership). */
  data: string;
  /** JSON text of the attributes before the change, for updates. */
  previous: string | null;
  /** The user of a membership event (group.user_added, group.user_removed), else null: migration 019. */
  user_id: string | null;
}

/**
 * PostgreSQL only (migration 015): the one row (id = 1) whose `last_ticket` is the number the
 * last committed transaction's events got (store/journal.ts).
 */
export interface EventTicketsTable {
  id: number;
  last_ticket: number;
}

/** The feed's single row of bookkeeping (id = 1), created on first use. */
/** A stretch of the feed a restore undid: positions after (after_tx, after_id), up to (through_tx, through_id). */
export interface FeedGapsTable {
  id: Generated<number>;
  after_tx: number;
  after_id: number;
  through_tx: number;
  through_id: number;
  restored_at: string;
}

export interface EventFeedTable {
  id: number;
  tx_offset: number;
  /** Retention deleted every event before (kept_from_tx, kept_from_id). */
  kept_from_tx: number;
  kept_from_id: number;
  /** No instance starts a clean-up before this instant (ISO 8601); null: any may. */
  cleanup_after: string | null;
}

/** SCIM member ids staged for one transaction's set-based member change. */
export interface StagedMembersTable {
  batch: string;
  scim_id: string;
  /** Order in the request, for messages and the order of events. */
  position: number;
}

export interface ScimSchemasTable {
  /** The URN lower-cased: URNs are unique regardless of case. */
  urn_key: string;
  urn: string;
  /** 'User' or 'Group'. */
  resource_type: string;
  /** The canonical definition (scim/custom-schemas.ts), as JSON text. */
  definition: string;
  created_at: string;
}

export interface ScimUniqueValuesTable {
  resource_type: string;
  /** `urn:…:attribute`, lower-cased. */
  attribute: string;
  /** SHA-256 (hex) of the value's key (scim/keys.ts uniqueValues). */
  value_hash: string;
  /** users.id or groups.id. */
  resource_id: string;
}

export interface ScimActivityTable {
  id: Generated<number>;
  /** When the request arrived, ISO 8601 UTC. */
  at: string;
  method: string;
  /** The path as the router read it, without the query string. */
  path: string;
  /** The request's `filter` query parameter, shortened; the only part of the query kept. */
  filter: string | null;
  status: number;
  duration_ms: number;
  /** The bearer token, once verified (even when its user may not call SCIM). */
  token_id: string | null;
  token_name: string | null;
  /** Login of the token's user. */
  token_user: string | null;
  /** The client address. */
  source: string | null;
  /** For failures: the SCIM error's scimType and detail, shortened. */
  scim_type: string | null;
  detail: string | null;
  /** Requests the row stands for: more than 1 only for folded unauthenticated requests. */
  request_count: number;
  /** Unauthenticated rows: `<minute> <source>` or `<minute> *`; null otherwise. */
  fold_key: string | null;
}

export interface ScimActivityBudgetsTable {
  /** The minute counted, `YYYY-MM-DDTHH:MMZ`. */
  minute: string;
  /** Sources of unauthenticated requests given a row of their own in that minute. */
  sources: number;
}

export interface RateLimitsTable {
  /** Who is limited: `token:<token id>` or `session:<user id>`. */
  key: string;
  /** GCRA's theoretical arrival time, microseconds since the epoch (see directory/rate-limits.ts). */
  free_at: number;
  /** Requests the last reservation obtained. */
  granted: number;
}

export interface PasswordBackoffTable {
  /** SHA-256 hex of what is counted: `login:<text.ts caseKey of the login>` or `source:<client address>`. */
  key: string;
  /** When the key has its whole allowance again (ISO 8601). */
  free_at: string;
}

/** What oidc-provider stores (migration 012): codes, tokens, sessions, grants, interactions. */
export interface OidcModelsTable {
  /** The provider's model name: `AuthorizationCode`, `RefreshToken`, `Session`, `Grant` … */
  model: string;
  id: string;
  /** The model's JSON text. */
  payload: string;
  grant_id: string | null;
  uid: string | null;
  user_code: string | null;
  /** The Roster user id the row belongs to, when it has one (deactivation deletes them). */
  account_id: string | null;
  expires_at: string | null;
  consumed_at: string | null;
}

/** Applications (OpenID Connect clients) registered by administrators (migration 012). */
/** A back-channel logout to deliver (migration 029): one application, one user. */
export interface OidcLogoutsTable {
  /** Also the logout token's jti. */
  id: string;
  client_id: string;
  /** The user's id: the `sub` of the application's ID tokens. */
  subject: string;
  /** What ended the user's sign-in: deactivated, suspended, signed_out, ... */
  cause: string;
  created_at: string;
  attempts: number;
  next_attempt_at: string;
  last_error: string | null;
  claimed_by: string | null;
  lease_until: string | null;
}

export interface OidcApplicationsTable {
  client_id: string;
  name: string;
  /** SHA-256 hex of the client secret; NULL for a public client. */
  secret_hash: string | null;
  /**
   * SHA-256 hex of the secret before the last rotation, still accepted until
   * `previous_secret_expires_at` (ISO 8601); both NULL when there is none (migration 027).
   */
  previous_secret_hash: string | null;
  previous_secret_expires_at: string | null;
  /** JSON array of exact redirect URIs. */
  redirect_uris: string;
  /** JSON array of group names; empty: everyone active may sign in. */
  allowed_groups: string;
  /** Where logout tokens are POSTed (OpenID Connect Back-Channel Logout); NULL: none (migration 029). */
  backchannel_logout_uri: string | null;
  created_at: string;
  updated_at: string;
}

/** A webhook endpoint and its delivery state; see migrations/013-webhooks.ts. */
export interface WebhooksTable {
  id: string;
  url: string;
  /** Comma-separated event types; null: all. */
  types: string | null;
  enabled: number;
  disabled_reason: string | null;
  disabled_at: string | null;
  /** `whsec_…`, in clear: signing needs it. */
  secret: string;
  /** The secret before the last rotation, still signing until previous_secret_until. */
  previous_secret: string | null;
  previous_secret_until: string | null;
  /** The next event to deliver is the first of the feed at or after (pos_tx, pos_id). */
  pos_tx: number;
  pos_id: number;
  /** Bumped by every replay (a position an administrator sets); a worker records its progress only while it is unchanged. */
  generation: number;
  /** Failed attempts at the event at the position, and when the first of them was made. */
  attempts: number;
  failing_since: string | null;
  /** No instance delivers before this instant (ISO 8601). */
  next_attempt_at: string;
  /** The instance delivering now, and until when its claim holds unless renewed. */
  claimed_by: string | null;
  lease_until: string | null;
  created_at: string;
  updated_at: string;
}

/** One delivery attempt; see migrations/013-webhooks.ts. */
export interface WebhookDeliveriesTable {
  id: Generated<number>;
  webhook_id: string;
  event_id: number;
  event_type: string;
  /** 1 for the first attempt at this event, 2 for the first retry … */
  attempt: number;
  at: string;
  /** The HTTP status, or null when no answer came (timeout, refused connection). */
  status: number | null;
  latency_ms: number;
  /** The first 1 KB of the answer's body. */
  response: string | null;
  error: string | null;
  /** `delivered`, `retrying`, `given_up` (the endpoint is disabled) or `gone` (410: disabled). */
  outcome: string;
}

export interface Database {
  users: UsersTable;
  scim_users: ScimUsersTable;
  user_emails: UserEmailsTable;
  groups: GroupsTable;
  scim_groups: ScimGroupsTable;
  memberships: MembershipsTable;
  user_membership_changes: UserMembershipChangesTable;
  tokens: TokensTable;
  settings: SettingsTable;
  audit_events: AuditEventsTable;
  audit_budgets: AuditBudgetsTable;
  sessions: SessionsTable;
  saml_requests: SamlRequestsTable;
  saml_assertions: SamlAssertionsTable;
  saml_sign_in_attempts: SamlSignInAttemptsTable;
  events: EventsTable;
  event_feed: EventFeedTable;
  feed_gaps: FeedGapsTable;
  event_tickets: EventTicketsTable;
  staged_members: StagedMembersTable;
  scim_schemas: ScimSchemasTable;
  scim_unique_values: ScimUniqueValuesTable;
  scim_activity: ScimActivityTable;
  scim_activity_budgets: ScimActivityBudgetsTable;
  password_backoff: PasswordBackoffTable;
  known_browsers: KnownBrowsersTable;
  rate_limits: RateLimitsTable;
  oidc_models: OidcModelsTable;
  oidc_applications: OidcApplicationsTable;
  oidc_logouts: OidcLogoutsTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
}
