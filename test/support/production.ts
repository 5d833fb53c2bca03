/**
 * The production runtime as an operator gets it: a copy of the working tree without dist/,
 * data or node_modules, built and started through npm (`npm start` runs dist/, not tsx).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_IDP, testCertificate } from './app.ts';
import { freePort, ROOT } from './process.ts';

/** Why the production tests cannot run here (no git, no npm), or undefined when they can. */
export function productionSkip(): string | undefined {
  for (const [command, args] of [['git', ['--version']], ['npm', ['--version']]] as const) {
    if (spawnSync(command, args).status !== 0) return `skipped: \`${command}\` is not available`;
  }
  return undefined;
}

/**
 * Copies the files git would put in a clone of the working tree (tracked, and new files not
 * ignored) into a fresh directory: no dist/, no data/, no node_modules.
 */
export function cleanCopy(): string {
  const directory = mkdtempSync(join(tmpdir(), 'roster-production-'));
  const listed = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(listed.status, 0, listed.stderr);
  for (const file of listed.stdout.split('\0').filter((name) => name !== '' && !name.startsWith('node_modules'))) {
    try {
      cpSync(join(ROOT, file), join(directory, file));
    } catch (error) {
      // A file deleted in the working tree but not yet in the index is not part of the copy.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return directory;
}

/**
 * What an install with access to GitHub gets for better-sqlite3: a prebuilt binary for this Node
 * and platform, which prebuild-install unpacks instead of compiling SQLite (minutes of one core;
 * it made the production install run past its deadline on a loaded machine). Offline, it is the
 * binary the checkout's own install built, packed as a release asset and handed over as a local
 * prebuild (`npm_config_better_sqlite3_local_prebuilds`). Returns the environment to pass to
 * npm, or {} when the checkout has no binary (npm then compiles, as before).
 */
export function betterSqlitePrebuild(directory: string): Record<string, string> {
  const packageDirectory = join(ROOT, 'node_modules', 'better-sqlite3');
  const binary = join('build', 'Release', 'better_sqlite3.node');
  if (!existsSync(join(packageDirectory, binary))) return {};
  const { version } = JSON.parse(readFileSync(join(packageDirectory, 'package.json'), 'utf8')) as { version: string };
  const prebuilds = join(directory, 'prebuilds');
  mkdirSync(prebuilds, { recursive: true });
  // prebuild-install's name for the asset: {name}-v{version}-{runtime}-v{abi}-{platform}{libc}-{arch}.tar.gz (glibc: no libc part).
  const asset = join(prebuilds, `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`);
  const packed = spawnSync('tar', ['-czf', asset, '-C', packageDirectory, binary], { encoding: 'utf8' });
  assert.equal(packed.status, 0, packed.stderr);
  return { npm_config_better_sqlite3_local_prebuilds: prebuilds };
}

/** Runs `npm <args>` in `cwd`, with ROSTER_* from `env` only (never the test's own). */
export function npm(cwd: string, args: readonly string[], env: Record<string, string> = {}, timeoutMs = 300_000): SpawnSyncReturns<string> {
  return spawnSync('npm', [...args], { cwd, env: { ...cleanEnv(), ...env }, encoding: 'utf8', timeout: timeoutMs });
}

function cleanEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined && !entry[0].startsWith('ROSTER_')));
}

/**
 * In a built copy: configures SAML, enables SCIM and creates an administrator's token with
 * `npm run roster`, starts `npm start`
 * on an empty SQLite database, and checks the contract a deployment relies on: /healthz, the
 * SCIM discovery document and an admin API call with the token (and without it: 401), the
 * console's stylesheet, and the first OpenID Connect and SAML requests (their libraries load then).
 */
export async function checkCompiledServer(directory: string): Promise<void> {
  const env = { ROSTER_DATABASE_URL: `sqlite:${join(directory, 'data', 'roster.db')}`, ROSTER_LOG_LEVEL: 'warn' };
  // The README's three steps, through `npm run roster` (dist/ too).
  const certificate = join(directory, 'idp.pem');
  writeFileSync(certificate, testCertificate());
  const roster = (...args: string[]): SpawnSyncReturns<string> => {
    const result = npm(directory, ['run', '--silent', 'roster', '--', ...args], env, 60_000);
    assert.equal(result.status, 0, `npm run roster -- ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`);
    return result;
  };
  // The compiled CLI finds package.json from dist/ as src/version.ts does from src/.
  assert.match(roster('--version').stdout, /^roster \d+\.\d+\.\d+ \(database schema \d{3}-/);
  roster('saml', 'configure', '--idp-entity-id', TEST_IDP.providerId, '--idp-sso-url', TEST_IDP.loginUrl, '--idp-certificate', certificate);
  roster('scim', 'enable');
  const created = roster('tokens', 'create', '--name', 'production-check');
  const token = created.stdout.trim().split('\n').at(-1) ?? '';
  assert.match(token, /^roster_\S+$/, created.stdout);

  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // Its own process group, so that the server under npm's shell stops with it.
  const child = spawn('npm', ['start'], {
    cwd: directory,
    env: { ...cleanEnv(), ...env, ROSTER_PORT: String(port), ROSTER_HOST: '127.0.0.1', ROSTER_BASE_URL: base },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      assert.equal(child.exitCode, null, `npm start exited:\n${output}`);
      assert.ok(Date.now() < deadline, `npm start: /healthz not ready after 30 s:\n${output}`);
      const health = await fetch(`${base}/healthz`).catch(() => undefined);
      if (health?.status === 200) {
        assert.deepEqual(await health.json(), { status: 'ok' });
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // The compiled server, not tsx: the process npm started runs dist/.
    assert.match(output, /Roster \d+\.\d+\.\d+ is running on/);

    const bearer = { authorization: `Bearer ${token}` };
    const config = await fetch(`${base}/api/scim/v2/ServiceProviderConfig`, { headers: bearer });
    assert.equal(config.status, 200, await config.clone().text());
    const serviceProvider = (await config.json()) as { schemas: string[]; documentationUri?: string };
    assert.deepEqual(serviceProvider.schemas, ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig']);
    // docs/ is found from dist/ as from src/ (http/docs.ts): the documentationUri answers.
    assert.equal(serviceProvider.documentationUri, `${base}/docs/scim.md`);
    const documentation = await fetch(serviceProvider.documentationUri);
    assert.equal(documentation.status, 200);
    assert.equal(documentation.headers.get('content-type'), 'text/markdown; charset=utf-8');

    const users = await fetch(`${base}/api/v2/users-management/users`, { headers: bearer });
    assert.equal(users.status, 200, await users.clone().text());
    const listed = (await users.json()) as { users: { login: string }[] };
    assert.ok(listed.users.some((user) => user.login === 'admin'));
    const scimUsers = await fetch(`${base}/api/scim/v2/Users?filter=${encodeURIComponent('userName eq "nobody"')}`, { headers: bearer });
    assert.equal(scimUsers.status, 200);
    assert.equal(((await scimUsers.json()) as { totalResults: number }).totalResults, 0);
    assert.equal((await fetch(`${base}/api/v2/users-management/users`)).status, 401);

    // The console's stylesheet is served from dist/ too (non-TypeScript files are copied).
    const page = await (await fetch(`${base}/sessions/new`)).text();
    const stylesheet = /href="(\/assets\/console\.css\?v=[0-9a-f]+)"/.exec(page)?.[1];
    assert.ok(stylesheet, 'the sign-in page links the stylesheet');
    const css = await fetch(`${base}${stylesheet}`);
    assert.equal(css.status, 200);
    assert.match(css.headers.get('content-type') ?? '', /^text\/css/);

    // Loaded by their first request, not at start-up (docs/performance.md, "Start-up"): the
    // OpenID provider and the SAML libraries answer their first requests.
    const [discovery, samlLogin] = await Promise.all([
      fetch(`${base}/.well-known/openid-configuration`),
      fetch(`${base}/saml/login`, { redirect: 'manual' }),
    ]);
    assert.equal(discovery.status, 200, await discovery.clone().text());
    assert.equal(((await discovery.json()) as { issuer: string }).issuer, base);
    assert.equal(samlLogin.status, 302, await samlLogin.clone().text());
    assert.ok((samlLogin.headers.get('location') ?? '').startsWith(`${TEST_IDP.loginUrl}?SAMLRequest=`));

    // A streamed answer (a group's creation shows its members as they are read) leaves nothing on
    // stderr: it printed a MaxListenersExceededWarning for every one, read as a memory leak.
    const group = await fetch(`${base}/api/scim/v2/Groups`, {
      method: 'POST',
      headers: { ...bearer, 'content-type': 'application/scim+json' },
      body: JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Streamed' }),
    });
    assert.equal(group.status, 201, await group.clone().text());
    assert.equal(((await group.json()) as { displayName: string }).displayName, 'Streamed');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.doesNotMatch(output, /Warning/, output);
  } finally {
    if (child.exitCode === null && child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
    await exited;
  }
}

