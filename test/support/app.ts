/**
 * A Roster instance for HTTP tests: a fresh database of its own (a SQLite file in a temporary
 * directory, or a new PostgreSQL database), the real services, SAML configured with a
 * throwaway certificate, SCIM enabled, and one token.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, HTTPMethods, LightMyRequestResponse } from 'fastify';
import { buildApp, type AppOptions } from '../../src/http/app.ts';
import type { RateLimitPolicy } from '../../src/directory/rate-limits.ts';
import { createServices, type Services } from '../../src/services.ts';
import { installationId } from '../../src/directory/installation.ts';
import { parseDatabaseArgument } from '../../src/config.ts';
import { openStore, QUERY_DEADLINE_MS, type DatabaseLocation } from '../../src/store/index.ts';
import { createTestDatabase, type TestDatabase } from './databases.ts';

export const BASE_URL = 'https://roster.test';
export const SCIM = '/api/scim/v2';
/** The session cookie's name under BASE_URL: https without a cookie domain gives it the `__Host-` prefix. */
export const SESSION_COOKIE = '__Host-roster_session';

/** A private key (PEM) and its self-signed certificate (PEM). */
export interface TestKeyPair {
  readonly privateKey: string;
  readonly certificate: string;
}

const keyPairs = new Map<string, TestKeyPair>();

/** A self-signed key pair made with openssl, once per test process and `name`; `days` sets its validity. */
export function testKeyPair(name = 'test-idp', days = 365): TestKeyPair {
  const cacheKey = `${name}/${days}`;
  const cached = keyPairs.get(cacheKey);
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'roster-cert-'));
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-days', String(days), '-keyout', 'key.pem', '-out', 'cert.pem'],
      { cwd: dir, stdio: 'pipe' },
    );
    const pair = { privateKey: readFileSync(join(dir, 'key.pem'), 'utf8'), certificate: readFileSync(join(dir, 'cert.pem'), 'utf8') };
    keyPairs.set(cacheKey, pair);
    return pair;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

let expiredPair: TestKeyPair | undefined;

/**
 * A key pair whose self-signed certificate (CN=expired-idp) was valid in January 2020 only:
 * `openssl ca` is the only way OpenSSL 3.0 sets a past end date.
 */
export function expiredTestKeyPair(): TestKeyPair {
  if (expiredPair !== undefined) return expiredPair;
  const dir = mkdtempSync(join(tmpdir(), 'roster-cert-'));
  try {
    const run = (args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    writeFileSync(
      join(dir, 'ca.cnf'),
      ['[ca]', 'default_ca = d', '[d]', 'database = index.txt', 'new_certs_dir = .', 'serial = serial', 'default_md = sha256', 'policy = p', '[p]', 'commonName = supplied', ''].join('\n'),
    );
    writeFileSync(join(dir, 'index.txt'), '');
    writeFileSync(join(dir, 'serial'), '01\n');
    run(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=expired-idp', '-keyout', 'key.pem', '-out', 'req.csr']);
    run(['ca', '-config', 'ca.cnf', '-selfsign', '-keyfile', 'key.pem', '-in', 'req.csr', '-out', 'cert.pem', '-startdate', '20200101000000Z', '-enddate', '20200201000000Z', '-batch', '-notext']);
    expiredPair = { privateKey: readFileSync(join(dir, 'key.pem'), 'utf8'), certificate: readFileSync(join(dir, 'cert.pem'), 'utf8') };
    return expiredPair;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A self-signed IdP certificate, made once per test process (its key: `testKeyPair().privateKey`). */
export function testCertificate(): string {
  return testKeyPair().certificate;
}

/** The IdP that startTestApp() configures, for tests that sign in. */
export const TEST_IDP = { providerId: 'https://idp.example.com/metadata', loginUrl: 'https://idp.example.com/sso' } as const;

export interface TestApp {
  readonly app: FastifyInstance;
  readonly services: Services;
  /** A token of the local administrator `admin`, named `test-idp`. */
  readonly token: string;
  /** The internal id of the local administrator `admin`. */
  readonly adminId: string;
  /** Issues another token acting as `userId` (admin or not). */
  tokenFor(userId: string, name: string): Promise<string>;
  readonly directory: string;
  /** ROSTER_DATABASE_URL of the app's database, for the CLI or another instance. */
  readonly databaseUrl: string;
  /** Where its database is, for a second instance on the same data. */
  readonly location: DatabaseLocation;
  /** Sends a request with the bearer token and a JSON body; parses the JSON answer. */
  request(method: HTTPMethods, url: string, body?: unknown, headers?: Record<string, string>): Promise<TestResponse>;
  close(): Promise<void>;
}

export interface TestResponse {
  readonly status: number;
  readonly headers: LightMyRequestResponse['headers'];
  readonly body: any;
  readonly raw: LightMyRequestResponse;
}

/**
 * Starts a fresh instance on `database` (SQLite by default) with the local administrator
 * `admin` and a token of it; `scim: false` leaves provisioning off; `baseUrl` replaces the
 * https BASE_URL (the IdP helpers in test/saml/idp.ts assume BASE_URL); `maxBodySize` is ROSTER_MAX_BODY_SIZE;
 * `scimCursorTimeout` sets how many seconds SCIM list cursors stay valid; `secretKey` is ROSTER_SECRET_KEY;
 * `queryDeadlineMs` replaces the PostgreSQL statement deadline of `roster serve`; `logger` and
 * `metricsAllow` are buildApp's (a pino stream to read the log lines, ROSTER_METRICS_ALLOW).
 */
export async function startTestApp(
  options: {
    scim?: boolean;
    saml?: boolean;
    database?: TestDatabase;
    /** A database of the test's own (a throwaway PostgreSQL server, a SQLite file on a small disk) instead of a scratch one; close() leaves it. */
    location?: DatabaseLocation;
    baseUrl?: string;
    maxBodySize?: number;
    cookieDomain?: string;
    trustedHosts?: readonly string[];
    scimCursorTimeout?: number;
    /** More options for buildApp (limits). */
    app?: Partial<AppOptions>;
    /** ROSTER_RATE_LIMIT and ROSTER_RATE_LIMIT_BURST; no limit when unset. */
    rateLimit?: RateLimitPolicy;
    /** ROSTER_OIDC_RATE_LIMIT's policy; the default's when unset. */
    signInRateLimit?: RateLimitPolicy;
    secretKey?: Buffer;
    /** How long a PostgreSQL statement may go unanswered (QUERY_DEADLINE_MS, as `roster serve`, by default). */
    queryDeadlineMs?: number;
    logger?: AppOptions['logger'];
    metricsAllow?: AppOptions['metricsAllow'];
    trustedProxies?: AppOptions['trustedProxies'];
    /** Members read per statement round when an answer shows every member (1,000 by default). */
    memberChunk?: number;
  } = {},
): Promise<TestApp> {
  const directory = mkdtempSync(join(tmpdir(), 'roster-test-'));
  const scratch = options.location !== undefined ? { location: options.location, url: '', drop: async () => {} } : await createTestDatabase(options.database ?? 'sqlite', { migrated: true });
  const store = await openStore(scratch.location, { secretKey: options.secretKey, queryDeadlineMs: options.queryDeadlineMs ?? QUERY_DEADLINE_MS });
  const baseUrl = options.baseUrl ?? BASE_URL;
  const services = createServices(store, {
    baseUrl,
    cookieDomain: options.cookieDomain,
    ...(options.scimCursorTimeout !== undefined ? { scimCursorTimeout: options.scimCursorTimeout } : {}),
    rateLimit: options.rateLimit,
    ...(options.signInRateLimit !== undefined ? { signInRateLimit: options.signInRateLimit } : {}),
    ...(options.memberChunk !== undefined ? { memberChunk: options.memberChunk } : {}),
  });
  const actor = { kind: 'cli' } as const;
  if (options.saml !== false) {
    const result = await services.saml.configure(
      { ...TEST_IDP, certificates: [testCertificate()] },
      actor,
    );
    if (!result.ok) throw new Error('SAML test configuration refused');
  }
  if (options.scim !== false && options.saml !== false) await services.provisioning.enable(actor);
  // As `roster serve` does at its start (src/main.ts).
  await services.administrators.ensureAdministrator();
  await installationId(store);
  const admin = await services.accounts.findByLogin('admin');
  if (!admin) throw new Error('the local administrator was not created');
  const { token } = await services.tokens.create('test-idp', actor, admin.id);
  const app = await buildApp({
    services,
    baseUrl,
    ...(options.maxBodySize !== undefined ? { maxBodySize: options.maxBodySize } : {}),
    cookieDomain: options.cookieDomain,
    ...(options.trustedHosts !== undefined ? { trustedHosts: options.trustedHosts } : {}),
    ...options.app,
    ...(options.logger !== undefined ? { logger: options.logger } : {}),
    ...(options.metricsAllow !== undefined ? { metricsAllow: options.metricsAllow } : {}),
    ...(options.trustedProxies !== undefined ? { trustedProxies: options.trustedProxies } : {}),
  });
  await app.ready();

  return {
    app,
    services,
    token,
    adminId: admin.id,
    async tokenFor(userId, name) {
      return (await services.tokens.create(name, actor, userId)).token;
    },
    directory,
    databaseUrl: scratch.url,
    location: scratch.location,
    async request(method, url, body, headers = {}) {
      const raw: LightMyRequestResponse = await app.inject({
        method,
        url: url.startsWith('/') && !url.startsWith('/api') && !url.startsWith('/healthz') ? SCIM + url : url,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body !== undefined ? { 'content-type': 'application/scim+json' } : {}),
          ...headers,
        },
        ...(body !== undefined ? { payload: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      });
      // The provisioning activity is written after the response: wait, so tests can read it.
      await app.scimActivity.settle();
      let parsed: unknown;
      try {
        parsed = raw.body === '' ? undefined : JSON.parse(raw.body);
      } catch {
        parsed = raw.body;
      }
      return { status: raw.statusCode, headers: raw.headers, body: parsed, raw };
    },
    async close() {
      await app.close();
      await store.close();
      await scratch.drop();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** A minimal valid user for tests. */
export function userBody(userName: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName, ...extra };
}

/** A minimal valid group for tests. */
export function groupBody(displayName: string, memberIds: readonly string[] = []): Record<string, unknown> {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
    displayName,
    members: memberIds.map((value) => ({ value })),
  };
}

/**
 * A second instance on the app's database, answering as `app.request` does (SCIM paths, or
 * `/api/…`): on PostgreSQL an app of its own with its own connections, so that two requests run
 * in two transactions at once; on SQLite the app itself (one process shares one connection).
 */
export async function secondInstance(app: TestApp, database: TestDatabase): Promise<{ request: TestApp['request']; close(): Promise<void> }> {
  if (database === 'sqlite') return { request: app.request, close: async () => {} };
  const store = await openStore(parseDatabaseArgument(app.databaseUrl, 'database'));
  const other = await buildApp({ services: createServices(store, { baseUrl: 'https://roster.test' }), baseUrl: 'https://roster.test' });
  const token = (await app.services.tokens.create('second-instance', { kind: 'cli' }, app.adminId)).token;
  return {
    async request(method, url, body, headers = {}) {
      const raw = await other.inject({
        method,
        url: url.startsWith('/api') ? url : `/api/scim/v2${url}`,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/scim+json' } : {}), ...headers },
        ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
      });
      return { status: raw.statusCode, headers: raw.headers, body: raw.body === '' ? undefined : JSON.parse(raw.body), raw };
    },
    async close() {
      await other.close();
      await store.close();
    },
  };
}
