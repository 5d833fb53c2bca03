/**
 * Configuration from the environment, parsed once and shared by the server and the CLI
 * (STYLE.md §7). A bad value stops start-up with a message naming the variable.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_ADMIN_GROUP } from './directory/access.ts';
import { DEFAULT_RETRY_SCHEDULE_MS, parseRetrySchedule } from './delivery/schedule.ts';
import { DEFAULT_LEASE_MS } from './delivery/worker.ts';
import { DEFAULT_EVENT_RETENTION_DAYS } from './directory/event-feed.ts';
import { DEFAULT_BODY_LIMIT, formatBytes } from './http/input.ts';
import type { DatabaseLocation, PostgresTls } from './store/index.ts';

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
  /** The group whose members are administrators, besides users flagged admin (ROSTER_ADMIN_GROUP). */
  readonly adminGroup: string;
  /** Days change events are kept in the feed (ROSTER_EVENT_RETENTION_DAYS). */
  readonly eventRetentionDays: number;
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
  const host = value(env, 'ROSTER_HOST') ?? '0.0.0.0';
  const baseUrl = parseBaseUrl(value(env, 'ROSTER_BASE_URL') ?? `http://localhost:${port}`);
  const database = Object.freeze(parseDatabase(env));
  const logLevel = parseLogLevel(value(env, 'ROSTER_LOG_LEVEL') ?? 'info');
  const maxBodySize = parseBodySize(value(env, 'ROSTER_MAX_BODY_SIZE'));
  const activityRetentionDays = parseRetentionDays('ROSTER_ACTIVITY_RETENTION_DAYS', value(env, 'ROSTER_ACTIVITY_RETENTION_DAYS'), DEFAULT_ACTIVITY_RETENTION_DAYS);
  const eventRetentionDays = parseRetentionDays('ROSTER_EVENT_RETENTION_DAYS', value(env, 'ROSTER_EVENT_RETENTION_DAYS'), DEFAULT_EVENT_RETENTION_DAYS);
  const adminGroup = parseAdminGroup(value(env, 'ROSTER_ADMIN_GROUP'));
  const webhookRetrySchedule = parseWebhookRetrySchedule(value(env, 'ROSTER_WEBHOOK_RETRY_SCHEDULE'));
  const webhookLeaseMs = parseLeaseSeconds(value(env, 'ROSTER_WEBHOOK_LEASE_SECONDS'));
  return Object.freeze({ port, host, baseUrl, database, logLevel, maxBodySize, activityRetentionDays, eventRetentionDays, adminGroup, webhookRetrySchedule, webhookLeaseMs });
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
  // Routes are appended as `${baseUrl}/api/...`; a trailing slash would double it.
  return url.href.replace(/\/+$/, '');
}

function parseDatabase(env: Env): DatabaseLocation {
  const location = parseDatabaseUrl(value(env, 'ROSTER_DATABASE_URL') ?? 'sqlite:./data/roster.db');
  const poolSize = value(env, 'ROSTER_DATABASE_POOL_SIZE');
  const ca = value(env, 'ROSTER_DATABASE_SSL_CA');
  if (location.kind === 'sqlite') {
    // Silently ignoring them would let an operator believe TLS or pooling is in effect.
    for (const [name, raw] of [['ROSTER_DATABASE_POOL_SIZE', poolSize], ['ROSTER_DATABASE_SSL_CA', ca]] as const) {
      if (raw !== undefined) throw new ConfigError(name, `${name} must be unset with a sqlite: ROSTER_DATABASE_URL (it only applies to PostgreSQL)`);
    }
    return location;
  }
  const tls = parseTls(location.url, ca);
  return {
    ...location,
    ...(poolSize !== undefined ? { poolSize: parsePoolSize(poolSize) } : {}),
    ...(tls !== undefined ? { tls: Object.freeze(tls) } : {}),
  };
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
  if (raw.startsWith('sqlite:') && raw.length > 'sqlite:'.length) {
    return { kind: 'sqlite', path: resolve(process.cwd(), raw.slice('sqlite:'.length)) };
  }
  if (raw.startsWith('postgres://') || raw.startsWith('postgresql://')) {
    try {
      new URL(raw);
    } catch {
      throw new ConfigError(variable, `${variable} must be a valid postgres:// URL (got "${redact(raw)}")`);
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

/** A group name can be at most this long (the admin API's limit). */
const MAX_GROUP_NAME = 255;

function parseAdminGroup(raw: string | undefined): string {
  if (raw === undefined) return DEFAULT_ADMIN_GROUP;
  // A name no group can have would silently make nobody an administrator through a group.
  if (raw.length > MAX_GROUP_NAME || /\p{Cc}/u.test(raw)) {
    throw new ConfigError('ROSTER_ADMIN_GROUP', `ROSTER_ADMIN_GROUP must be a group name of at most ${MAX_GROUP_NAME} characters without control characters (got "${raw.slice(0, 40)}${raw.length > 40 ? '…' : ''}")`);
  }
  return raw;
}

/** Hides a password in a URL-like value, since error messages end up in logs. */
function redact(raw: string): string {
  return raw.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, '$1***@');
}
