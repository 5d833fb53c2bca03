/**
 * Long run (not part of `npm test`): mixed traffic on every surface of one or two `roster serve`
 * child processes for a while, sampling what a long-running instance could accumulate: RSS, the
 * V8 heap, open file descriptors, and the number of series /metrics exposes. Traffic: SCIM writes
 * and reads with many tokens, the admin API, SAML sign-ins, OpenID Connect sign-ins (authorization
 * code + PKCE through openid-client, refresh, userinfo) over many applications, forward auth with
 * many sessions and client addresses (X-Forwarded-For from a trusted proxy) and signed-out
 * redirects, console pages, wrong passwords from many addresses, event-feed long polls abandoned
 * mid-wait, and webhooks to receivers that are slow, refuse connections or never answer.
 *
 *   npm run bench:long-run -- [--minutes N] [--concurrency N] [--database postgres://…] [--instances 1|2]
 *
 * Two instances need PostgreSQL (they share it). Prints one line per sample and the growth from
 * the first sample after warm-up to the last; figures go to docs/performance.md ("A long run").
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { parseArgs } from 'node:util';
import * as client from 'openid-client';
import { createServices } from '../src/services.ts';
import { openStore, type DatabaseLocation } from '../src/store/index.ts';
import { TEST_IDP, testCertificate } from '../test/support/app.ts';
import { startInstance, stop, waitHealthy, type Instance } from '../test/support/process.ts';
import { buildResponse } from '../test/saml/idp.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '6' },
    database: { type: 'string' },
    instances: { type: 'string', default: '1' },
    'sample-seconds': { type: 'string', default: '30' },
  },
});
const minutes = Number(values.minutes);
const concurrency = Number(values.concurrency);
const instanceCount = Number(values.instances);
const sampleMs = Number(values['sample-seconds']) * 1000;
if (!(minutes > 0) || !Number.isInteger(concurrency) || concurrency < 1 || ![1, 2].includes(instanceCount) || (instanceCount === 2 && values.database === undefined)) {
  console.error('usage: npm run bench:long-run -- [--minutes N] [--concurrency N] [--database postgres://…] [--instances 1|2 (2 needs --database)]');
  process.exit(2);
}

const USERS = 200;
const TOKENS = 40;
const APPLICATIONS = 12;
const REDIRECT = 'http://127.0.0.1:9/callback';

/** A browser's cookies (name → value), for one origin. */
class Jar {
  readonly cookies = new Map<string, string>();
  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
  store(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const pair = line.split(';')[0] ?? '';
      const index = pair.indexOf('=');
      const name = pair.slice(0, index);
      const value = pair.slice(index + 1);
      if (value === '' || /max-age=0/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
}

const random = (n: number): number => Math.floor(Math.random() * n);
const pick = <T>(list: readonly T[]): T => list[random(list.length)]!;
const address = (): string => `10.${random(256)}.${random(256)}.${1 + random(254)}`;

/** Reads a response to its end (so that the keep-alive connection is reusable) and returns its status. */
async function drain(response: Response): Promise<number> {
  await response.arrayBuffer().catch(() => undefined);
  return response.status;
}

interface Figures {
  rssMiB: number;
  fds: number;
  heapMiB: number;
  series: number;
  handles: number;
  /** PostgreSQL connections of the pool, in use + idle (NaN on SQLite). */
  pool: string;
}

function rssMiB(pid: number): number {
  const kib = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return Math.round(kib / 102.4) / 10;
}

async function sample(instance: Instance): Promise<Figures> {
  const pid = instance.process.pid!;
  const text = await (await fetch(`${instance.base}/metrics`)).text();
  const lines = text.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
  const value = (name: string): number => Number(lines.find((line) => line.startsWith(`${name} `))?.split(' ')[1] ?? NaN);
  return {
    rssMiB: rssMiB(pid),
    fds: readdirSync(`/proc/${pid}/fd`).length,
    heapMiB: Math.round(value('nodejs_heap_size_used_bytes') / 104857.6) / 10,
    series: lines.length,
    handles: value('nodejs_active_handles_total'),
    pool: `${value('roster_db_pool_connections{state="in_use"}')}+${value('roster_db_pool_connections{state="idle"}')}`,
  };
}

/** A webhook receiver that answers after `delayMs`, or never (`hang`). */
function receiver(behaviour: 'slow' | 'hang'): Promise<{ url: string; server: Server }> {
  const server = createServer((request, response) => {
    request.resume();
    if (behaviour === 'hang') return;
    setTimeout(() => response.writeHead(204).end(), 1500);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const port = (server.address() as { port: number }).port;
    resolve({ url: `http://127.0.0.1:${port}/hook`, server });
  }));
}

async function main(): Promise<void> {
  const directory = mkdtempSync(join(tmpdir(), 'roster-long-run-'));
  const location: DatabaseLocation = values.database !== undefined ? { kind: 'postgres', url: values.database } : { kind: 'sqlite', path: join(directory, 'roster.db') };
  const databaseUrl = location.kind === 'postgres' ? location.url : `sqlite:${location.path}`;
  console.log(`machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}; ${location.kind}, ${instanceCount} instance(s), ${concurrency} workers, ${minutes} min`);

  const slow = await receiver('slow');
  const hang = await receiver('hang');
  const refusing = await receiver('slow');
  const refusingUrl = refusing.url;
  await new Promise((resolve) => refusing.server.close(resolve));

  // The instance as an administrator leaves it: SAML, SCIM on, tokens, applications, webhooks.
  const store = await openStore(location);
  const services = createServices(store);
  const actor = { kind: 'cli' } as const;
  const issued = await services.administrators.ensureAdministrator();
  if (issued === undefined) throw new Error('the database already has an administrator: give the long run an empty one');
  const admin = await services.accounts.findByLogin('admin');
  if (admin === undefined) throw new Error('no admin');
  const tokens: string[] = [];
  for (let i = 0; i < TOKENS; i += 1) tokens.push((await services.tokens.create(`long-run-${i}`, actor, admin.id)).token);
  const applications: Array<{ id: string; secret: string }> = [];
  for (let i = 0; i < APPLICATIONS; i += 1) {
    const { application, secret } = await services.applications.create({ name: `App ${i}`, redirectUris: [REDIRECT], public: false, allowedGroups: [] }, actor);
    applications.push({ id: application.clientId, secret: secret ?? '' });
  }
  for (const url of [slow.url, hang.url, refusingUrl]) await services.webhooks.create({ url }, actor);
  await store.close();

  const env = { ROSTER_LOG_LEVEL: 'error', ROSTER_TRUSTED_PROXIES: '127.0.0.1', ROSTER_TRUSTED_HOSTS: 'app.example.test', ROSTER_WEBHOOK_RETRY_SCHEDULE: '1s,2s,5s', ROSTER_MAX_CONCURRENT_REQUESTS: '0', ...(process.env['LONG_RUN_NODE_OPTIONS'] !== undefined ? { NODE_OPTIONS: process.env['LONG_RUN_NODE_OPTIONS'] } : {}) };
  const instances: Instance[] = [];
  for (let i = 0; i < instanceCount; i += 1) {
    const instance = await startInstance(databaseUrl, env);
    await waitHealthy(instance);
    instances.push(instance);
  }
  // SAML is configured over the first instance's base URL; the others are reached with it too
  // (same database), as a load balancer would.
  {
    const setup = await openStore(location);
    const later = createServices(setup);
    const configured = await later.saml.configure({ ...TEST_IDP, certificates: [testCertificate()] }, actor);
    if (!configured.ok) throw new Error('SAML configuration refused');
    await later.provisioning.enable(actor);
    await setup.close();
  }

  const counts = new Map<string, number>();
  const count = (what: string, status: number | string): void => {
    const key = `${what} ${status}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  };
  // The first answer of each unexpected kind, printed at the end.
  const examples = new Map<string, string>();
  const example = (kind: string, text: string): void => {
    if (!examples.has(kind)) examples.set(kind, text);
  };
  const bearer = (token = pick(tokens)) => ({ authorization: `Bearer ${token}` });
  const base = (): string => pick(instances).base;
  const userIds: string[] = [];
  // Everyone SAML signs in lands here; forward auth and OIDC use these browsers.
  const browsers: Jar[] = [];

  // The users SAML and OIDC sign in as.
  for (let i = 0; i < USERS; i += 1) {
    const response = await fetch(`${base()}/api/scim/v2/Users`, { method: 'POST', headers: { ...bearer(), 'content-type': 'application/scim+json' }, body: JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: `u${i}`, name: { givenName: 'U', familyName: String(i) }, emails: [{ value: `u${i}@example.test`, primary: true }], active: true }) });
    const body = (await response.json()) as { id?: string };
    if (response.status !== 201 || body.id === undefined) throw new Error(`user u${i}: ${response.status}`);
    userIds.push(body.id);
  }

  const actions: Array<[weight: number, name: string, run: () => Promise<void>]> = [
    [10, 'scim', async () => {
      const at = base();
      const roll = random(4);
      if (roll === 0) {
        const response = await fetch(`${at}/api/scim/v2/Users`, { method: 'POST', headers: { ...bearer(), 'content-type': 'application/scim+json' }, body: JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: `n-${randomUUID()}` }) });
        count('scim create', await drain(response));
      } else if (roll === 1) {
        const response = await fetch(`${at}/api/scim/v2/Users/${pick(userIds)}`, { method: 'PATCH', headers: { ...bearer(), 'content-type': 'application/scim+json' }, body: JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'displayName', value: `D ${random(1e6)}` }] }) });
        count('scim patch', await drain(response));
      } else if (roll === 2) {
        const response = await fetch(`${at}/api/scim/v2/Users?filter=${encodeURIComponent(`userName eq "u${random(USERS)}"`)}`, { headers: bearer() });
        count('scim filter', await drain(response));
      } else {
        // A token nobody issued: refused, from many addresses.
        const response = await fetch(`${at}/api/scim/v2/Users/${randomUUID()}`, { headers: { ...bearer(`rst_${randomUUID()}`), 'x-forwarded-for': address() } });
        count('scim bad token', await drain(response));
      }
    }],
    [4, 'admin api', async () => {
      const paths = ['/api/v2/users-management/users?pageSize=5', '/api/v2/authorizations/groups', `/api/v2/users-management/users/${pick(userIds)}`, '/api/v2/audit-logs?pageSize=5', '/api/v2/applications', '/api/v2/webhooks', '/api/v2/provisioning-activity?pageSize=5', '/api/v2/nothing-here/' + randomUUID()];
      count('admin api', await drain(await fetch(`${base()}${pick(paths)}`, { headers: bearer() })));
    }],
    [4, 'saml', async () => {
      // Each instance checks a response's Destination against its own ROSTER_BASE_URL, which
      // differs here (one port each), unlike instances behind one load balancer: SAML goes to the first.
      const at = instances[0]!.base;
      const jar = new Jar();
      const login = await fetch(`${at}/saml/login`, { redirect: 'manual', headers: { 'x-forwarded-for': address() } });
      jar.store(login);
      await drain(login);
      const samlRequest = new URL(login.headers.get('location') ?? '').searchParams.get('SAMLRequest') ?? '';
      const requestId = /\sID="([^"]+)"/.exec(inflateRawSync(Buffer.from(samlRequest, 'base64')).toString('utf8'))?.[1];
      const first = instances[0]!.base;
      const xml = buildResponse({ login: `u${random(USERS)}`, inResponseTo: requestId ?? null, destination: `${first}/saml/acs`, recipient: `${first}/saml/acs`, audience: `${first}/saml/metadata` });
      const response = await fetch(`${at}/saml/acs`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: jar.header() }, body: new URLSearchParams({ SAMLResponse: Buffer.from(xml).toString('base64') }).toString() });
      jar.store(response);
      count('saml acs', await drain(response));
      if ([...jar.cookies.keys()].some((name) => name.endsWith('roster_session'))) {
        if (browsers.length < 300) browsers.push(jar);
        else browsers[random(browsers.length)] = jar;
      }
    }],
    [5, 'oidc', async () => {
      const jar = browsers.length > 0 ? pick(browsers) : undefined;
      if (jar === undefined) return;
      const at = base();
      const forwardedFor = address();
      const app = pick(applications);
      const config = await client.discovery(new URL(at), app.id, undefined, client.ClientSecretBasic(app.secret), { execute: [client.allowInsecureRequests] });
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      let url = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid profile email groups offline_access', prompt: 'consent', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state });
      for (let hop = 0; hop < 12 && url.origin === new URL(at).origin; hop += 1) {
        const response = await fetch(url, { redirect: 'manual', headers: { cookie: jar.header(), accept: 'text/html', 'x-forwarded-for': forwardedFor } });
        jar.store(response);
        const body = await response.text();
        const refresh = response.status === 200 ? /<meta http-equiv="refresh" content="0;url=([^"]+)">/.exec(body)?.[1] : undefined;
        const location = refresh?.replace(/&amp;/g, '&') ?? response.headers.get('location');
        if (location === null) {
          count('oidc stopped', response.status);
          example(`oidc stopped ${response.status} at ${url.pathname}`, body.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').slice(0, 300));
          return;
        }
        url = new URL(location, url);
      }
      const tokens = await client.authorizationCodeGrant(config, url, { pkceCodeVerifier: verifier, expectedState: state });
      count('oidc code', 'ok');
      await client.fetchUserInfo(config, tokens.access_token, client.skipSubjectCheck);
      count('oidc userinfo', 'ok');
      if (tokens.refresh_token !== undefined) {
        await client.refreshTokenGrant(config, tokens.refresh_token);
        count('oidc refresh', 'ok');
      }
    }],
    [12, 'forward auth', async () => {
      const jar = browsers.length > 0 && random(4) > 0 ? pick(browsers) : undefined;
      const headers: Record<string, string> = { 'x-forwarded-for': address(), 'x-forwarded-proto': 'https', 'x-forwarded-host': 'app.example.test', 'x-forwarded-uri': `/page/${randomUUID()}` };
      if (jar !== undefined) headers['cookie'] = jar.header();
      const query = random(3) === 0 ? '?redirect=true' : random(2) === 0 ? `?group=g${random(5)}` : '';
      count('forward auth', await drain(await fetch(`${base()}/auth/verify${query}`, { redirect: 'manual', headers })));
    }],
    [4, 'console', async () => {
      const jar = browsers.length > 0 ? pick(browsers) : new Jar();
      const path = pick(['/', '/account', '/admin/users', '/sessions/new', '/admin/audit']);
      count('console page', await drain(await fetch(`${base()}${path}`, { redirect: 'manual', headers: { cookie: jar.header(), accept: 'text/html' } })));
    }],
    [4, 'wrong password', async () => {
      const at = base();
      const jar = new Jar();
      const forwardedFor = address();
      const form = await fetch(`${at}/sessions/new`, { headers: { 'x-forwarded-for': forwardedFor } });
      jar.store(form);
      const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? '';
      const login = random(2) === 0 ? 'admin' : `nobody-${random(1e6)}`;
      const response = await fetch(`${at}/sessions`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: jar.header(), 'x-forwarded-for': forwardedFor, origin: at }, body: new URLSearchParams({ login, password: 'wrong-' + randomUUID(), _csrf: csrf }).toString() });
      count('wrong password', await drain(response));
    }],
    [3, 'abandoned long poll', async () => {
      const at = base();
      // after=now answers at once: the wait starts from the end it gives.
      const { next } = (await (await fetch(`${at}/api/v2/events?after=now`, { headers: bearer() })).json()) as { next: string };
      const left = new AbortController();
      const leaving = setTimeout(() => left.abort(), 50 + random(400));
      try {
        const response = await fetch(`${at}/api/v2/events?after=${encodeURIComponent(next)}&types=provisioning.disabled&wait=25`, { headers: bearer(), signal: left.signal });
        count('long poll', await drain(response));
      } catch {
        count('long poll', 'abandoned');
      } finally {
        clearTimeout(leaving);
      }
    }],
  ];
  const total = actions.reduce((sum, [weight]) => sum + weight, 0);
  const chooseAction = () => {
    let roll = random(total);
    for (const action of actions) {
      roll -= action[0];
      if (roll < 0) return action;
    }
    return actions[0]!;
  };

  const endsAt = Date.now() + minutes * 60_000;
  let requests = 0;
  const errors = new Map<string, number>();
  const worker = async (): Promise<void> => {
    while (Date.now() < endsAt) {
      const [, name, run] = chooseAction();
      try {
        await run();
        requests += 1;
      } catch (error) {
        const key = `${name}: ${(error as Error).message.slice(0, 120)}`;
        const cause = (error as { cause?: unknown }).cause;
        example(key, JSON.stringify(cause instanceof Response ? { status: cause.status } : cause ?? null)?.slice(0, 300) ?? '');
        errors.set(key, (errors.get(key) ?? 0) + 1);
      }
    }
  };

  const samples: Array<Figures[]> = [];
  const started = Date.now();
  const report = async (): Promise<void> => {
    const figures = await Promise.all(instances.map(sample));
    samples.push(figures);
    const minute = ((Date.now() - started) / 60_000).toFixed(1);
    console.log(`${minute} min, pids ${instances.map((instance) => instance.process.pid).join(',')}, ${requests} flows, load ${loadavg()[0]?.toFixed(2)}: ` + figures.map((f, i) => `#${i} rss ${f.rssMiB} MiB heap ${f.heapMiB} MiB fds ${f.fds} handles ${f.handles} series ${f.series}${f.pool === 'NaN+NaN' ? '' : ` pool ${f.pool}`}`).join(' | '));
  };
  await report();
  const sampler = setInterval(() => void report(), sampleMs);
  await Promise.all(Array.from({ length: concurrency }, worker));
  clearInterval(sampler);
  await new Promise((resolve) => setTimeout(resolve, 5000));
  await report();

  console.log('\noutcomes:');
  for (const [key, n] of [...counts].sort()) console.log(`  ${key}: ${n}`);
  if (errors.size > 0) {
    console.log('driver errors:');
    for (const [key, n] of [...errors].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`  ${n} × ${key}`);
  }
  for (const [kind, text] of examples) console.log(`example of ${kind}: ${text}`);
  const warmed = samples[Math.min(2, samples.length - 1)]!;
  const last = samples[samples.length - 1]!;
  console.log('\ngrowth from the third sample to the last:');
  instances.forEach((_, i) => {
    const a = warmed[i]!;
    const b = last[i]!;
    console.log(`  #${i}: rss ${a.rssMiB} → ${b.rssMiB} MiB, heap ${a.heapMiB} → ${b.heapMiB} MiB, fds ${a.fds} → ${b.fds}, series ${a.series} → ${b.series}`);
  });
  for (const instance of instances) {
    if (/MaxListenersExceeded|Error/i.test(instance.output)) console.log(`output of ${instance.base}:\n${instance.output.slice(-3000)}`);
    await stop(instance);
  }
  slow.server.close();
  hang.server.closeAllConnections();
  hang.server.close();
}

await main();
