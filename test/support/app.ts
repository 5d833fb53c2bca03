/**
 * A Roster instance for HTTP tests: a fresh database of its own (a SQLite file in a temporary
 * directory, or a new PostgreSQL database), the real services, SAML configured with a
 * throwaway certificate, SCIM enabled, and one token.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, HTTPMethods, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../src/http/app.ts';
import { createServices, type Services } from '../../src/services.ts';
import { openStore } from '../../src/store/index.ts';
import { createTestDatabase, type TestDatabase } from './databases.ts';

export const BASE_URL = 'https://roster.test';
export const SCIM = '/api/scim/v2';

let certificate: string | undefined;

/** A self-signed IdP certificate, made once per test process. */
export function testCertificate(): string {
  if (certificate) return certificate;
  const dir = mkdtempSync(join(tmpdir(), 'roster-cert-'));
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=test-idp', '-days', '365', '-keyout', 'key.pem', '-out', 'cert.pem'],
      { cwd: dir, stdio: 'pipe' },
    );
    certificate = readFileSync(join(dir, 'cert.pem'), 'utf8');
    return certificate;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface TestApp {
  readonly app: FastifyInstance;
  readonly services: Services;
  readonly token: string;
  readonly directory: string;
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

/** Starts a fresh instance on `database` (SQLite by default); `scim: false` leaves provisioning off. */
export async function startTestApp(options: { scim?: boolean; saml?: boolean; database?: TestDatabase } = {}): Promise<TestApp> {
  const directory = mkdtempSync(join(tmpdir(), 'roster-test-'));
  const scratch = await createTestDatabase(options.database ?? 'sqlite');
  const store = await openStore(scratch.location);
  const services = createServices(store);
  const actor = { kind: 'cli' } as const;
  if (options.saml !== false) {
    const result = await services.saml.configure(
      { providerId: 'https://idp.example.com/metadata', loginUrl: 'https://idp.example.com/sso', certificates: [testCertificate()] },
      actor,
    );
    if (!result.ok) throw new Error('SAML test configuration refused');
  }
  if (options.scim !== false && options.saml !== false) await services.provisioning.enable(actor);
  const { token } = await services.tokens.create('test-idp', actor);
  const app = await buildApp({ services, baseUrl: BASE_URL });
  await app.ready();

  return {
    app,
    services,
    token,
    directory,
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
