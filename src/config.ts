/**
 * Configuration from the environment, parsed once and shared by the server and the CLI
 * (STYLE.md §7). A bad value stops start-up with a message naming the variable.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { DEFAULT_ADMIN_GROUP } from './directory/access.ts';
import { groupNameProblem } from './directory/name-rules.ts';
import { INITIAL_PASSWORD_FILE } from './directory/initial-password.ts';
import { revealHidden, shorten } from './text.ts';
import { DEFAULT_RETRY_SCHEDULE_MS, parseRetrySchedule } from './delivery/schedule.ts';
import { DEFAULT_LEASE_MS } from './delivery/worker.ts';
import { DEFAULT_EVENT_RETENTION_DAYS } from './directory/event-feed.ts';
import { DEFAULT_CURSOR_TIMEOUT } from './directory/list-cursors.ts';
import { LOOPBACK, parseAddressRange, type AddressRange } from './http/address-ranges.ts';
import { DEFAULT_BODY_LIMIT, formatBytes } from './http/input.ts';
import type { AdmissionPolicy } from './http/admission.ts';
import { DEFAULT_RATE_LIMIT_PER_MINUTE, DEFAULT_SIGN_IN_RATE_LIMIT, signInPolicy, type RateLimitPolicy } from './directory/rate-limits.ts';
import type { DatabaseLocation, PostgresTls } from './store/index.ts';
import { parseSecretKey } from './store/secret-box.ts';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  readonly port: number;
  readonly host: string;
  /** The public URL of this instance, without a trailing slash (e.g. `https://roster.example.com`). */
  readonly baseUrl: string;
  readonly database: DatabaseLocation;
  readonly logLevel: LogLevel;
  /** The largest request body accepted, in bytes. */
  readonly maxBodySize: number;
  /** Days the provisioning activity (the SCIM requests of the IdP) is kept. */
  readonly activityRetentionDays: number;
  /** Days audit entries are kept (ROSTER_AUDIT_RETENTION_DAYS); null keeps them for ever. */
  readonly auditRetentionDays: number | null;
  /** The group whose members are administrators, besides users flagged admin (ROSTER_ADMIN_GROUP). */
  readonly adminGroup: string;
  /** Days change events are kept in the feed (ROSTER_EVENT_RETENTION_DAYS). */
  readonly eventRetentionDays: number;
  /**
   * The Domain of the session cookie (ROSTER_COOKIE_DOMAIN, without its leading dot), so that
   * applications on sibling hosts behind forward auth receive it; undefined keeps it host-only.
   */
  readonly cookieDomain: string | undefined;
  /** Hosts outside the cookie domain that sign-in may send browsers back to (ROSTER_TRUSTED_HOSTS). */
  readonly trustedHosts: readonly string[];
  /** Seconds an OpenID Connect access token lives (ROSTER_OIDC_ACCESS_TOKEN_TTL). */
  readonly oidcAccessTokenTtlSeconds: number;
  /** Seconds a SCIM list cursor (RFC 9865) stays valid between pages. */
  readonly scimCursorTimeout: number;
  /** Requests in progress in this process and the queue before them; undefined: no limit. */
  readonly admission: AdmissionPolicy | undefined;
  /** Each token's (and session's) request rate on the SCIM and admin APIs, shared by all instances; undefined: no limit. */
  readonly rateLimit: RateLimitPolicy | undefined;
  /** ROSTER_OIDC_RATE_LIMIT: OpenID Connect sign-ins started per minute per client address. */
  readonly signInRateLimit: RateLimitPolicy;
  /** Where files of the instance go when the database is not a local file (ROSTER_DATA_DIR, absolute). */
  readonly dataDir: string;
  /** ROSTER_SECRET_KEY: the 32-byte key that seals secrets at rest, or undefined to keep them in plaintext. */
  readonly secretKey: Buffer | undefined;
  /** ROSTER_PREVIOUS_SECRET_KEY: during a rolling key rotation, the key the database's secrets may still be sealed with (read, never newly chosen). */
  readonly previousSecretKey: Buffer | undefined;
  /** The client addresses that may read /metrics without a token (ROSTER_METRICS_ALLOW). */
  readonly metricsAllow: readonly AddressRange[];
  /**
   * The reverse proxies whose X-Forwarded-For Roster believes (ROSTER_TRUSTED_PROXIES): a
   * request from one of them is taken to come from the client address the proxy names.
   */
  readonly trustedProxies: readonly AddressRange[];
  /** Delays before each retry of a failed webhook delivery, in ms (ROSTER_WEBHOOK_RETRY_SCHEDULE). */
  readonly webhookRetrySchedule: readonly number[];
  /** How long an instance's claim on a webhook endpoint lasts unless renewed, in ms (ROSTER_WEBHOOK_LEASE_SECONDS). */
  readonly webhookLeaseMs: number;
}

/** A configuration value that cannot be used; the message names the variable and what it expects. */
export class ConfigError extends Error {
  readonly variable: string;

  constructor(variable: string, message: string) {
    super(message);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** Reads and validates the configuration; throws ConfigError on the first bad value. */
export function loadConfig(env: Env = process.env): Readonly<Config> {
  const port = parsePort(value(env, 'ROSTER_PORT'));
  const host = parseHost(value(env, 'ROSTER_HOST'));
  const baseUrl = parseBaseUrl(value(env, 'ROSTER_BASE_URL') ?? `http://localhost:${port}`);
  const database = Object.freeze(parseDatabase(env));
  const logLevel = parseLogLevel(value(env, 'ROSTER_LOG_LEVEL') ?? 'info');
  const maxBodySize = parseBodySize(value(env, 'ROSTER_MAX_BODY_SIZE'));
  const activityRetentionDays = parseRetentionDays('ROSTER_ACTIVITY_RETENTION_DAYS', value(env, 'ROSTER_ACTIVITY_RETENTION_DAYS'), DEFAULT_ACTIVITY_RETENTION_DAYS);
  const eventRetentionDays = parseRetentionDays('ROSTER_EVENT_RETENTION_DAYS', value(env, 'ROSTER_EVENT_RETENTION_DAYS'), DEFAULT_EVENT_RETENTION_DAYS);
  // No default: an audit trail is evidence, and an upgrade must not start deleting it.
  const rawAuditRetention = value(env, 'ROSTER_AUDIT_RETENTION_DAYS');
  const auditRetentionDays = rawAuditRetention === undefined ? null : parseRetentionDays('ROSTER_AUDIT_RETENTION_DAYS', rawAuditRetention, 0);
  const adminGroup = parseAdminGroup(value(env, 'ROSTER_ADMIN_GROUP'));
  const cookieDomain = parseCookieDomain(value(env, 'ROSTER_COOKIE_DOMAIN'), baseUrl);
  const trustedHosts = Object.freeze(parseTrustedHosts(value(env, 'ROSTER_TRUSTED_HOSTS')));
  const oidcAccessTokenTtlSeconds = parseAccessTokenTtl(value(env, 'ROSTER_OIDC_ACCESS_TOKEN_TTL'));
  const scimCursorTimeout = parseCursorTimeout(value(env, 'ROSTER_SCIM_CURSOR_TIMEOUT'));
  const dataDir = resolve(process.cwd(), value(env, 'ROSTER_DATA_DIR') ?? './data');
  const secretKey = parseKey(env, 'ROSTER_SECRET_KEY');
  const previousSecretKey = parseKey(env, 'ROSTER_PREVIOUS_SECRET_KEY');
  if (previousSecretKey !== undefined && secretKey === undefined) throw new ConfigError('ROSTER_PREVIOUS_SECRET_KEY', 'ROSTER_PREVIOUS_SECRET_KEY must be unset while ROSTER_SECRET_KEY is not set: it only helps a rotation to the key in ROSTER_SECRET_KEY (docs/operations.md)');
  if (previousSecretKey !== undefined && secretKey !== undefined && previousSecretKey.equals(secretKey)) throw new ConfigError('ROSTER_PREVIOUS_SECRET_KEY', 'ROSTER_PREVIOUS_SECRET_KEY must be another key than ROSTER_SECRET_KEY (it is the same key): unset it, or set it to the key being rotated from');
  const metricsAllow = Object.freeze(parseMetricsAllow(value(env, 'ROSTER_METRICS_ALLOW')));
  const trustedProxies = Object.freeze(parseTrustedProxies(value(env, 'ROSTER_TRUSTED_PROXIES')));
  const webhookRetrySchedule = parseWebhookRetrySchedule(value(env, 'ROSTER_WEBHOOK_RETRY_SCHEDULE'));
  const webhookLeaseMs = parseLeaseSeconds(value(env, 'ROSTER_WEBHOOK_LEASE_SECONDS'));
  const admission = parseAdmission(env, database);
  const rateLimit = parseRateLimit(env);
  const signInRateLimit = signInPolicy(parseWhole(env, 'ROSTER_OIDC_RATE_LIMIT', 10, 1_000_000, 'a whole number of sign-ins per minute') ?? DEFAULT_SIGN_IN_RATE_LIMIT);
  return Object.freeze({ port, host, baseUrl, database, logLevel, maxBodySize, activityRetentionDays, auditRetentionDays, eventRetentionDays, adminGroup, cookieDomain, trustedHosts, oidcAccessTokenTtlSeconds, scimCursorTimeout, admission, rateLimit, signInRateLimit, dataDir, secretKey, previousSecretKey, metricsAllow, trustedProxies, webhookRetrySchedule, webhookLeaseMs });
}

/** A 32-byte key from `variable` (ROSTER_SECRET_KEY, ROSTER_NEW_SECRET_KEY, ROSTER_PREVIOUS_SECRET_KEY), or undefined when unset. */
export function parseKey(env: Env, variable: string): Buffer | undefined {
  const raw = value(env, variable);
  if (raw === undefined) return undefined;
  const key = parseSecretKey(raw);
  if (typeof key === 'string') throw new ConfigError(variable, `${variable} ${key}`);
  return key;
}

/**
 * The folder of the `initial-admin-password` file: beside a SQLite database file, where its
 * owner already keeps the data; ROSTER_DATA_DIR for PostgreSQL. None for an in-memory database:
 * its administrator ends with the process, and its file would replace the password of the
 * database kept in that folder (the next start of which then deleted it as changed).
 */
export function initialPasswordDirectory(config: Pick<Config, 'database' | 'dataDir'>): string | undefined {
  if (config.database.kind === 'postgres') return config.dataDir;
  return config.database.path === ':memory:' ? undefined : dirname(config.database.path);
}

/** The default SQLite database's file name (`sqlite:./data/roster.db`). */
const DEFAULT_SQLITE_FILE = 'roster.db';

/** Only characters every file system takes, none that climbs out of the folder. */
function fileNamePart(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
}

/** How long the name of an `initial-admin-password` file may be (file systems take 255 bytes). */
const MAX_FILE_NAME = 200;

/**
 * `initial-admin-password.<parts joined by ->`: the parts as they are when every file system takes
 * them; otherwise made so (fileNamePart), shortened to fit, and followed by a digest of the parts
 * as given, since two databases whose names differ only where that changed (`a b.db` and
 * `a_b.db`, `über.db` and `öber.db`, two names alike in their first 200 characters) would
 * otherwise share one file: the first start of one replaced the other's password, whose next
 * start then deleted it as stale.
 */
function passwordFileName(parts: readonly string[]): string {
  const plain = `${INITIAL_PASSWORD_FILE}.${parts.join('-')}`;
  const safe = `${INITIAL_PASSWORD_FILE}.${parts.map(fileNamePart).join('-')}`;
  if (safe === plain && plain.length <= MAX_FILE_NAME) return plain;
  const digest = createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 12);
  return `${safe.slice(0, MAX_FILE_NAME - digest.length - 1)}-${digest}`;
}

/**
 * The name of the `initial-admin-password` file (in initialPasswordDirectory). Beside a SQLite
 * file named `roster.db` (the default, which every guide shows), the plain name; beside any
 * other, `initial-admin-password.<file name>` (`initial-admin-password.staging.db`). For
 * PostgreSQL it names the server and database, `initial-admin-password.postgres-<host>-<port>-<database>`:
 * ROSTER_DATA_DIR defaults to ./data, which is also where the default SQLite database keeps its
 * own file. Several databases may share one folder; under one name, the file of one replaced
 * the other's, which was then read as its password (and deleted as stale by the other's next
 * start). An older version's file under the plain name is renamed at the next start when it
 * holds this database's password (initial-password.ts).
 */
export function initialPasswordFileName(database: DatabaseLocation): string {
  if (database.kind !== 'postgres') {
    const file = basename(database.path);
    return file === DEFAULT_SQLITE_FILE ? INITIAL_PASSWORD_FILE : passwordFileName([file]);
  }
  let parts: string[];
  try {
    const url = new URL(database.url);
    const host = url.searchParams.get('host') ?? (url.hostname === '' ? 'localhost' : url.hostname);
    const port = url.port === '' ? (url.searchParams.get('port') ?? '5432') : url.port;
    const name = decodeURIComponent(url.pathname.replace(/^\//, '')) || url.searchParams.get('dbname') || decodeURIComponent(url.username) || 'postgres';
    parts = [host, port, name];
  } catch {
    // parseDatabaseUrl accepted it; a URL the WHATWG parser refuses still gets a name of its own.
    parts = [createHash('sha256').update(database.url).digest('hex').slice(0, 16)];
  }
  return passwordFileName(['postgres', ...parts]);
}

/** Every variable Roster reads (ROSTER_NEW_SECRET_KEY: `roster secrets rotate-key`; ROSTER_PREVIOUS_SECRET_KEY: a rolling key rotation). */
const KNOWN_VARIABLES = [
  'ROSTER_PORT', 'ROSTER_HOST', 'ROSTER_BASE_URL', 'ROSTER_DATABASE_URL', 'ROSTER_DATABASE_POOL_SIZE', 'ROSTER_DATABASE_SSL_CA',
  'ROSTER_DATABASE_PREPARED_STATEMENTS', 'ROSTER_DATA_DIR', 'ROSTER_LOG_LEVEL', 'ROSTER_MAX_BODY_SIZE', 'ROSTER_ACTIVITY_RETENTION_DAYS',
  'ROSTER_AUDIT_RETENTION_DAYS', 'ROSTER_EVENT_RETENTION_DAYS', 'ROSTER_ADMIN_GROUP', 'ROSTER_COOKIE_DOMAIN', 'ROSTER_TRUSTED_HOSTS',
  'ROSTER_OIDC_ACCESS_TOKEN_TTL', 'ROSTER_SCIM_CURSOR_TIMEOUT', 'ROSTER_SECRET_KEY', 'ROSTER_NEW_SECRET_KEY', 'ROSTER_PREVIOUS_SECRET_KEY', 'ROSTER_METRICS_ALLOW',
  'ROSTER_TRUSTED_PROXIES', 'ROSTER_WEBHOOK_RETRY_SCHEDULE', 'ROSTER_WEBHOOK_LEASE_SECONDS', 'ROSTER_MAX_CONCURRENT_REQUESTS',
  'ROSTER_QUEUE_TIMEOUT_MS', 'ROSTER_RATE_LIMIT', 'ROSTER_RATE_LIMIT_BURST', 'ROSTER_OIDC_RATE_LIMIT',
] as const;

/**
 * A sentence for each variable of the environment that looks like a misspelling of one Roster
 * reads (`ROSTER_DATABSE_URL`, `roster_port`): it is ignored, and the setting it meant silently
 * keeps its default, a surprise best told at start. Names far from every known one (another
 * tool's ROSTER_… variables) are left alone.
 */
export function misspeltVariables(env: Env = process.env): string[] {
  const sentences: string[] = [];
  for (const name of Object.keys(env)) {
    if (!/^roster_/i.test(name) || (KNOWN_VARIABLES as readonly string[]).includes(name)) continue;
    const upper = name.toUpperCase();
    const meant = KNOWN_VARIABLES.find((known) => known === upper) ?? KNOWN_VARIABLES.find((known) => editDistance(upper, known) <= 2);
    if (meant !== undefined) sentences.push(`${name} is not a variable Roster reads, so it is ignored: did you mean ${meant}?`);
  }
  return sentences;
}

/** Letters to insert, delete, replace or swap with their neighbour to turn `a` into `b` (optimal string alignment). */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const row = rows[i] ?? [];
      const above = rows[i - 1] ?? [];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((above[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (above[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j] ?? 0, (rows[i - 2]?.[j - 2] ?? 0) + 1);
    }
  }
  return rows[a.length]?.[b.length] ?? 0;
}

/** An empty variable counts as unset: compose files and CI often define `VAR=` to mean "default". */
function value(env: Env, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw.trim() === '' ? undefined : raw.trim();
}

function parsePort(raw: string | undefined): number {
  if (raw === undefined) return 8080;
  const port = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    throw new ConfigError('ROSTER_PORT', `ROSTER_PORT must be an integer between 1 and 65535 (got "${raw}")`);
  }
  return port;
}

function parseBaseUrl(raw: string): string {
  const expected = 'ROSTER_BASE_URL must be an absolute http(s) URL without query, fragment or credentials';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('ROSTER_BASE_URL', `${expected} (got "${raw}")`);
  }
  // `new URL` drops an empty `?` or `#`, so look at the raw text too.
  if (
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    raw.includes('?') ||
    raw.includes('#') ||
    url.username !== '' ||
    url.password !== ''
  ) {
    throw new ConfigError('ROSTER_BASE_URL', `${expected} (got "${redact(raw)}")`);
  }
  // Clients, browsers and IdPs are sent to this address: a host no resolver accepts (`a..b`,
  // `-bad-.com`, a trailing dot, which browsers keep apart from the name without it for cookies
  // and origins) or port 0 would only fail later, at someone else's end.
  if (url.port === '0') {
    throw new ConfigError('ROSTER_BASE_URL', `ROSTER_BASE_URL must not name port 0: give the port clients reach Roster on, or none for the scheme's default (got "${redact(raw)}")`);
  }
  if (!isUrlHost(url.hostname)) {
    throw new ConfigError(
      'ROSTER_BASE_URL',
      `ROSTER_BASE_URL must name a host clients can reach: a DNS name (letters, digits and hyphens between dots, no hyphen at either end of a label, no trailing dot), an IPv4 address or a bracketed IPv6 address (got "${redact(raw)}")`,
    );
  }
  // Roster's routes, cookies, OpenID discovery and console redirects are all at the root of its
  // host; a path would be applied in some places and not others, so it is refused.
  if (url.pathname.replace(/\/+$/, '') !== '') {
    throw new ConfigError(
      'ROSTER_BASE_URL',
      `ROSTER_BASE_URL must not have a path: Roster must be served at the root of its host (e.g. https://roster.example.com, not https://example.com/roster); got "${redact(raw)}"`,
    );
  }
  // Routes are appended as `${baseUrl}/api/...`; a trailing slash would double it.
  return url.href.replace(/\/+$/, '');
}

function parseDatabase(env: Env): DatabaseLocation {
  const location = parseDatabaseUrl(value(env, 'ROSTER_DATABASE_URL') ?? `sqlite:./data/${DEFAULT_SQLITE_FILE}`);
  const poolSize = value(env, 'ROSTER_DATABASE_POOL_SIZE');
  const ca = value(env, 'ROSTER_DATABASE_SSL_CA');
  const prepared = value(env, 'ROSTER_DATABASE_PREPARED_STATEMENTS');
  if (location.kind === 'sqlite') {
    // Silently ignoring them would let an operator believe TLS or pooling is in effect.
    for (const [name, raw] of [['ROSTER_DATABASE_POOL_SIZE', poolSize], ['ROSTER_DATABASE_SSL_CA', ca], ['ROSTER_DATABASE_PREPARED_STATEMENTS', prepared]] as const) {
      if (raw !== undefined) throw new ConfigError(name, `${name} must be unset with a sqlite: ROSTER_DATABASE_URL (it only applies to PostgreSQL)`);
    }
    return location;
  }
  const tls = parseTls(location.url, ca);
  return {
    ...location,
    ...(poolSize !== undefined ? { poolSize: parsePoolSize(poolSize) } : {}),
    ...(tls !== undefined ? { tls: Object.freeze(tls) } : {}),
    ...(prepared !== undefined && !parsePreparedStatements(prepared) ? { preparedStatements: false } : {}),
  };
}

/**
 * ROSTER_DATABASE_PREPARED_STATEMENTS: `on` (the default) or `off`. Off is for a pooler that
 * cannot keep named prepared statements apart between clients (PgBouncer before 1.21, or
 * without `max_prepared_statements`, in transaction mode).
 */
function parsePreparedStatements(raw: string): boolean {
  const word = raw.toLowerCase();
  if (word === 'on') return true;
  if (word === 'off') return false;
  throw new ConfigError('ROSTER_DATABASE_PREPARED_STATEMENTS', `ROSTER_DATABASE_PREPARED_STATEMENTS must be on or off (got "${raw}")`);
}

/**
 * Parses a database URL given on the command line (e.g. `db copy --from`), with its TLS from
 * `sslmode`; `name` is what error messages call it.
 */
export function parseDatabaseArgument(raw: string, name: string): DatabaseLocation {
  const location = parseDatabaseUrl(raw, name);
  if (location.kind === 'sqlite') return Object.freeze(location);
  const tls = parseTls(location.url, undefined, name);
  return Object.freeze({ ...location, ...(tls !== undefined ? { tls: Object.freeze(tls) } : {}) });
}

function parseDatabaseUrl(raw: string, variable = 'ROSTER_DATABASE_URL'): DatabaseLocation {
  if (raw === 'sqlite::memory:') return { kind: 'sqlite', path: ':memory:' };
  // Forms that would otherwise open a file of a surprising name: `sqlite::memory` (a file
  // `:memory` in the working directory), `sqlite:~/x.db` (a folder named `~`: no shell expands it
  // in a service's environment), `sqlite:file:x.db?mode=ro` (a file named so; a path is expected).
  const path = raw.startsWith('sqlite:') ? raw.slice('sqlite:'.length) : undefined;
  if (path !== undefined && /^:|^~|^file:/i.test(path)) {
    const hint = path.startsWith(':') ? 'an in-memory database is sqlite::memory:' : path.startsWith('~') ? 'write the full path: ~ is not expanded here' : 'give a file path, not a file: URI';
    throw new ConfigError(variable, `${variable} must be sqlite:<path> or sqlite::memory: (got "${raw}"): ${hint}`);
  }
  if (raw.startsWith('sqlite:') && raw.length > 'sqlite:'.length) {
    return { kind: 'sqlite', path: resolve(process.cwd(), raw.slice('sqlite:'.length)) };
  }
  if (raw.startsWith('postgres://') || raw.startsWith('postgresql://')) {
    try {
      new URL(raw);
    } catch {
      throw new ConfigError(
        variable,
        `${variable} must be a valid postgres:// URL (got "${redact(raw)}"); characters such as @ / : # ? % in the user name or password must be percent-encoded (@ as %40, / as %2F)`,
      );
    }
    return { kind: 'postgres', url: raw };
  }
  throw new ConfigError(
    variable,
    `${variable} must be sqlite:<path>, sqlite::memory: or postgres://user:password@host/database (got "${redact(raw)}")`,
  );
}

const MAX_POOL_SIZE = 1000;

function parsePoolSize(raw: string): number {
  const size = /^\d{1,4}$/.test(raw) ? Number(raw) : NaN;
  if (!(size >= 1 && size <= MAX_POOL_SIZE)) {
    throw new ConfigError('ROSTER_DATABASE_POOL_SIZE', `ROSTER_DATABASE_POOL_SIZE must be an integer between 1 and ${MAX_POOL_SIZE} (got "${raw}")`);
  }
  return size;
}

/**
 * TLS from the URL's `sslmode` (libpq's names) and ROSTER_DATABASE_SSL_CA. `prefer` and
 * `allow` are refused: they fall back to plain text without saying so, and node-postgres
 * cannot do that fallback anyway.
 */
function parseTls(url: string, caPath: string | undefined, variable = 'ROSTER_DATABASE_URL'): PostgresTls | undefined {
  const mode = new URL(url).searchParams.get('sslmode') ?? undefined;
  const modes = ['disable', 'require', 'verify-ca', 'verify-full'];
  if (mode !== undefined && !modes.includes(mode)) {
    throw new ConfigError(variable, `${variable} must have sslmode set to one of ${modes.join(', ')} (got "${mode}")`);
  }
  let ca: string | undefined;
  if (caPath !== undefined) {
    if (mode === 'disable' || mode === 'require') {
      throw new ConfigError('ROSTER_DATABASE_SSL_CA', `ROSTER_DATABASE_SSL_CA must come with sslmode=verify-ca or verify-full in ROSTER_DATABASE_URL, not sslmode=${mode}`);
    }
    try {
      ca = readFileSync(resolve(process.cwd(), caPath), 'utf8');
    } catch (error) {
      throw new ConfigError('ROSTER_DATABASE_SSL_CA', `ROSTER_DATABASE_SSL_CA must name a readable PEM file (${(error as Error).message})`);
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) {
      throw new ConfigError('ROSTER_DATABASE_SSL_CA', `ROSTER_DATABASE_SSL_CA must name a PEM file of CA certificates (got "${caPath}")`);
    }
  }
  if (mode === undefined || mode === 'disable') return ca === undefined ? undefined : { mode: 'verify-full', ca };
  return { mode: mode as PostgresTls['mode'], ...(ca !== undefined ? { ca } : {}) };
}

function parseLogLevel(raw: string): LogLevel {
  const level = LOG_LEVELS.find((candidate) => candidate === raw.toLowerCase());
  if (level === undefined) {
    throw new ConfigError('ROSTER_LOG_LEVEL', `ROSTER_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got "${raw}")`);
  }
  return level;
}

// Below 64 KiB a single SCIM attribute (64 KiB of text) no longer fits, and `20` most likely
// meant MiB; above 256 MiB the decoded text nears V8's largest string.
const MIN_BODY_SIZE = 64 * 1024;
const MAX_BODY_SIZE = 256 * 1024 * 1024;
const UNITS: Readonly<Record<string, number>> = { '': 1, kib: 1024, mib: 1024 * 1024 };

function parseBodySize(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_BODY_LIMIT;
  const match = /^(\d{1,12})\s*(kib|mib)?$/i.exec(raw);
  const size = match ? Number(match[1]) * (UNITS[(match[2] ?? '').toLowerCase()] ?? NaN) : NaN;
  if (!(size >= MIN_BODY_SIZE && size <= MAX_BODY_SIZE)) {
    throw new ConfigError(
      'ROSTER_MAX_BODY_SIZE',
      `ROSTER_MAX_BODY_SIZE must be a size from ${formatBytes(MIN_BODY_SIZE)} to ${formatBytes(MAX_BODY_SIZE)}, in bytes or with a KiB or MiB suffix, e.g. 32MiB (got "${raw}")`,
    );
  }
  return size;
}

const DEFAULT_ACTIVITY_RETENTION_DAYS = 30;
// Ten years: beyond that the value is surely a mistake (milliseconds, a date), and the feed an
// archive, which the audit log export serves better.
const MAX_RETENTION_DAYS = 3650;

function parseRetentionDays(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const days = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
  if (!(days >= 1 && days <= MAX_RETENTION_DAYS)) {
    throw new ConfigError(name, `${name} must be a whole number of days from 1 to ${MAX_RETENTION_DAYS} (got "${raw}")`);
  }
  return days;
}

/** Five minutes: a deactivated user's access token outlives the deactivation at most this long. */
const DEFAULT_ACCESS_TOKEN_TTL = 300;
const MAX_ACCESS_TOKEN_TTL = 24 * 60 * 60;

function parseAccessTokenTtl(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_ACCESS_TOKEN_TTL;
  const seconds = /^\d{1,6}$/.test(raw) ? Number(raw) : NaN;
  if (!(seconds >= 30 && seconds <= MAX_ACCESS_TOKEN_TTL)) {
    throw new ConfigError('ROSTER_OIDC_ACCESS_TOKEN_TTL', `ROSTER_OIDC_ACCESS_TOKEN_TTL must be a whole number of seconds from 30 to ${MAX_ACCESS_TOKEN_TTL} (got "${raw}")`);
  }
  return seconds;
}

function parseWebhookRetrySchedule(raw: string | undefined): readonly number[] {
  if (raw === undefined) return DEFAULT_RETRY_SCHEDULE_MS;
  const schedule = parseRetrySchedule(raw);
  if (typeof schedule === 'string') {
    throw new ConfigError('ROSTER_WEBHOOK_RETRY_SCHEDULE', `ROSTER_WEBHOOK_RETRY_SCHEDULE must be comma-separated delays such as 5s,30s,2m,1h,1d: ${schedule}`);
  }
  return Object.freeze(schedule);
}

function parseLeaseSeconds(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_LEASE_MS;
  const seconds = /^\d{1,4}$/.test(raw) ? Number(raw) : NaN;
  // Renewed every third of it: one second is the least that leaves room for a database round trip.
  if (!(seconds >= 1 && seconds <= 3600)) {
    throw new ConfigError('ROSTER_WEBHOOK_LEASE_SECONDS', `ROSTER_WEBHOOK_LEASE_SECONDS must be a whole number of seconds from 1 to 3600 (got "${raw}")`);
  }
  return seconds * 1000;
}


/**
 * The address to listen on; `host:port` is refused here, naming ROSTER_PORT, where listening
 * failed with "cannot listen on [127.0.0.1:8080]:8080". (An IPv6 address has two colons or more.)
 */
function parseHost(raw: string | undefined): string {
  if (raw === undefined) return '0.0.0.0';
  if (/^[^:[\]]+:\d*$/.test(raw)) {
    throw new ConfigError('ROSTER_HOST', `ROSTER_HOST must be an address or host name without a port (got "${raw.slice(0, 80)}"): set the port with ROSTER_PORT`);
  }
  return raw;
}

function parseAdminGroup(raw: string | undefined): string {
  if (raw === undefined) return DEFAULT_ADMIN_GROUP;
  // Quotes kept by an env file or a compose list (`ROSTER_ADMIN_GROUP="admins"`) would be part of
  // the name, which no group has: nobody would be an administrator through it.
  if (/^(["']).*\1$/s.test(raw)) {
    throw new ConfigError('ROSTER_ADMIN_GROUP', `ROSTER_ADMIN_GROUP must be a group name without surrounding quotes (got ${raw.slice(0, 80)}): the quotes would be part of the name`);
  }
  // A name no group can have would silently make nobody an administrator through a group.
  const problem = groupNameProblem(raw);
  if (problem !== undefined) {
    throw new ConfigError('ROSTER_ADMIN_GROUP', `ROSTER_ADMIN_GROUP must be a name a group can have (${problem}; got "${revealHidden(shorten(raw, 60))}")`);
  }
  return raw;
}

/** A DNS host name: dot-separated labels of letters, digits and inner hyphens (IDNs in their xn-- form). */
const HOST_NAME = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * A parsed URL's hostname that names a reachable host: a DNS name (underscores allowed, as
 * container networks name services with them), an IPv4 address or an IPv6 literal.
 */
function isUrlHost(hostname: string): boolean {
  return HOST_NAME.test(hostname.replaceAll('_', 'u')) || IPV4.test(hostname) || (hostname.startsWith('[') && hostname.endsWith(']'));
}

const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;

/** `raw` as WHATWG URL parsing spells a host (lower case, IDNs as xn--), or undefined when it is not a bare host. */
function hostOf(raw: string): string | undefined {
  if (/[/:?#@\s\\]/.test(raw)) return undefined;
  try {
    return new URL(`https://${raw}`).hostname;
  } catch {
    return undefined;
  }
}

/**
 * The session cookie's Domain. Browsers refuse a Domain the page's host is not within (RFC 6265
 * §5.3 step 6), so a domain that does not contain the base URL's host would make every sign-in
 * silently fail; an IP address cannot have subdomains; a single label (`com`) is a public suffix.
 */
function parseCookieDomain(raw: string | undefined, baseUrl: string): string | undefined {
  if (raw === undefined) return undefined;
  const baseHost = new URL(baseUrl).hostname;
  const domain = hostOf(raw.replace(/^\./, ''));
  if (domain === undefined || !HOST_NAME.test(domain) || !domain.includes('.') || /^[\d.]+$/.test(domain)) {
    throw new ConfigError('ROSTER_COOKIE_DOMAIN', `ROSTER_COOKIE_DOMAIN must be a DNS domain of at least two labels, such as .example.com (got "${raw.slice(0, 80)}")`);
  }
  if (baseHost !== domain && !baseHost.endsWith(`.${domain}`)) {
    throw new ConfigError('ROSTER_COOKIE_DOMAIN', `ROSTER_COOKIE_DOMAIN must be a domain that the host of ROSTER_BASE_URL (${baseHost}) belongs to, such as .${baseHost.split('.').slice(1).join('.') || 'example.com'} (got "${raw.slice(0, 80)}")`);
  }
  return domain;
}

/** An IPv6 address, with or without its brackets, as a URL's hostname (`[2001:db8::1]`); undefined when it is none. */
function ipv6HostOf(raw: string): string | undefined {
  const bare = raw.replace(/^\[(.*)\]$/, '$1');
  if (!/^[0-9a-f:.]+$/i.test(bare)) return undefined;
  try {
    const hostname = new URL(`https://[${bare}]/`).hostname;
    return hostname.startsWith('[') ? hostname : undefined;
  } catch {
    return undefined;
  }
}

/** ROSTER_TRUSTED_HOSTS: comma-separated host names (no scheme, port or path), stored as URL parsing spells them. */
function parseTrustedHosts(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  const hosts: string[] = [];
  for (const entry of raw.split(',').map((item) => item.trim()).filter((item) => item !== '')) {
    // An IPv6 address, bracketed or not, is kept as a URL's hostname spells it (`[2001:db8::1]`).
    const host = entry.includes(':') ? ipv6HostOf(entry) : hostOf(entry);
    if (host === undefined || !isUrlHost(host)) {
      throw new ConfigError('ROSTER_TRUSTED_HOSTS', `ROSTER_TRUSTED_HOSTS must be comma-separated host names without scheme, port or path, such as app.example.com,grafana.example.org,[2001:db8::5] (got "${entry.slice(0, 80)}")`);
    }
    if (!hosts.includes(host)) hosts.push(host);
  }
  return hosts;
}

/** Comma-separated addresses and CIDR ranges; `none` lets no address in without a token. */
function parseMetricsAllow(raw: string | undefined): AddressRange[] {
  if (raw === undefined) return [...LOOPBACK];
  return parseAddressList('ROSTER_METRICS_ALLOW', raw);
}

/** ROSTER_TRUSTED_PROXIES: comma-separated addresses and CIDR ranges; none when unset or `none`. */
function parseTrustedProxies(raw: string | undefined): AddressRange[] {
  return raw === undefined ? [] : parseAddressList('ROSTER_TRUSTED_PROXIES', raw);
}

/** Comma-separated IP addresses and CIDR ranges of `variable`, or `none` (no address). */
function parseAddressList(variable: string, raw: string): AddressRange[] {
  if (raw.toLowerCase() === 'none') return [];
  const ranges: AddressRange[] = [];
  for (const entry of raw.split(',').map((item) => item.trim()).filter((item) => item !== '')) {
    const range = parseAddressRange(entry);
    if (typeof range === 'string') {
      throw new ConfigError(variable, `${variable} must be comma-separated IP addresses or CIDR ranges, such as 127.0.0.1,10.0.0.0/8, or none: ${range.slice(0, 120)}`);
    }
    ranges.push(Object.freeze(range));
  }
  return ranges;
}

// A cursor costs nothing to keep (it is not stored), so the bounds only keep the value sane:
// long enough to fetch a page, short enough that a leaked cursor soon stops working.
const MIN_CURSOR_TIMEOUT = 10;
const MAX_CURSOR_TIMEOUT = 7 * 24 * 3600;

function parseCursorTimeout(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_CURSOR_TIMEOUT;
  const seconds = /^\d{1,7}$/.test(raw) ? Number(raw) : NaN;
  if (!(seconds >= MIN_CURSOR_TIMEOUT && seconds <= MAX_CURSOR_TIMEOUT)) {
    throw new ConfigError(
      'ROSTER_SCIM_CURSOR_TIMEOUT',
      `ROSTER_SCIM_CURSOR_TIMEOUT must be a number of seconds from ${MIN_CURSOR_TIMEOUT} to ${MAX_CURSOR_TIMEOUT} (got "${raw}")`,
    );
  }
  return seconds;
}

/**
 * Hides a password in a URL-like value, since error messages end up in logs: everything from
 * the user name's colon to the last `@`, which a password holding `@`, `/` or `#` (not
 * percent-encoded, the very mistake the message reports) may hide behind.
 */
function redact(raw: string): string {
  const userinfo = /^([a-z][a-z0-9+.-]*:\/\/)(.*)@/is.exec(raw);
  if (userinfo === null) return raw;
  const [whole, scheme = '', credentials = ''] = userinfo;
  const colon = credentials.indexOf(':');
  const user = colon === -1 ? credentials : credentials.slice(0, colon);
  // No colon: a user name alone, unless it holds what only a password would (then hide it all).
  const shown = colon === -1 ? (/[/?#]/.test(credentials) ? '***' : user) : `${user}:***`;
  return `${scheme}${shown}@${raw.slice(whole.length)}`;
}

/** A whole number from `min` to `max`, or the ConfigError that names the variable. */
function parseWhole(env: Env, name: string, min: number, max: number, what: string): number | undefined {
  const raw = value(env, name);
  if (raw === undefined) return undefined;
  const number = /^\d{1,9}$/.test(raw) ? Number(raw) : NaN;
  if (!(number >= min && number <= max)) throw new ConfigError(name, `${name} must be ${what} from ${min} to ${max} (got "${raw.slice(0, 40)}")`);
  return number;
}

/** PostgreSQL pool size when ROSTER_DATABASE_POOL_SIZE is unset (store/postgres.ts). */
const DEFAULT_POOL_SIZE = 10;
/** SQLite runs one statement at a time; more requests in progress only wait longer for it. */
const SQLITE_CONCURRENCY = 16;
const DEFAULT_QUEUE_TIMEOUT_MS = 2000;
/** Queued requests per admitted one at most: a short queue, not a second place to pile up. */
const QUEUE_FACTOR = 8;

/**
 * ROSTER_MAX_CONCURRENT_REQUESTS (0: no limit) and ROSTER_QUEUE_TIMEOUT_MS. The default keeps
 * two requests per database connection in progress: one querying while the other computes.
 */
function parseAdmission(env: Env, database: DatabaseLocation): AdmissionPolicy | undefined {
  const configured = parseWhole(env, 'ROSTER_MAX_CONCURRENT_REQUESTS', 0, 100_000, 'a whole number of requests (0 for no limit)');
  const maxConcurrent = configured ?? (database.kind === 'postgres' ? 2 * (database.poolSize ?? DEFAULT_POOL_SIZE) : SQLITE_CONCURRENCY);
  const queueTimeoutMs = parseWhole(env, 'ROSTER_QUEUE_TIMEOUT_MS', 0, 60_000, 'a whole number of milliseconds') ?? DEFAULT_QUEUE_TIMEOUT_MS;
  if (maxConcurrent === 0) {
    // No limit means no queue: a timeout given for it would be silently ignored.
    if (value(env, 'ROSTER_QUEUE_TIMEOUT_MS') !== undefined) {
      throw new ConfigError('ROSTER_QUEUE_TIMEOUT_MS', 'ROSTER_QUEUE_TIMEOUT_MS must be unset with ROSTER_MAX_CONCURRENT_REQUESTS=0: without a limit on requests in progress nothing waits in a queue');
    }
    return undefined;
  }
  return Object.freeze({ maxConcurrent, queueTimeoutMs, maxQueued: QUEUE_FACTOR * maxConcurrent });
}

/** ROSTER_RATE_LIMIT (requests per minute per token; 0: no limit) and ROSTER_RATE_LIMIT_BURST. */
function parseRateLimit(env: Env): RateLimitPolicy | undefined {
  const perMinute = parseWhole(env, 'ROSTER_RATE_LIMIT', 0, 1_000_000, 'a whole number of requests per minute (0 for no limit)') ?? DEFAULT_RATE_LIMIT_PER_MINUTE;
  const burst = parseWhole(env, 'ROSTER_RATE_LIMIT_BURST', 1, 1_000_000, 'a whole number of requests');
  if (perMinute === 0) {
    if (burst !== undefined) throw new ConfigError('ROSTER_RATE_LIMIT_BURST', 'ROSTER_RATE_LIMIT_BURST must be unset when ROSTER_RATE_LIMIT is 0 (no rate limit)');
    return undefined;
  }
  // By default a client may send what the rate allows in six seconds at once.
  return Object.freeze({ perMinute, burst: burst ?? Math.max(1, Math.ceil(perMinute / 10)) });
}
