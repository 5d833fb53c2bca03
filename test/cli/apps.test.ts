/** `roster apps …` and `roster keys rotate`, run as a user would, then checked against a running app on the same database. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { buildApp } from '../../src/http/app.ts';
import { createServices } from '../../src/services.ts';
import { openStore } from '../../src/store/index.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BASE = 'https://roster.example.com';
let dir: string;
let database: string;

function roster(args: string[]) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/roster.ts', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, ROSTER_DATABASE_URL: `sqlite:${database}`, ROSTER_BASE_URL: BASE },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, lines: result.stdout.trimEnd().split('\n') };
}

/** POSTs to the introspection endpoint with HTTP Basic client credentials; returns the status. */
async function introspectAs(clientId: string, secret: string): Promise<number> {
  const store = await openStore({ kind: 'sqlite', path: database });
  try {
    const app = await buildApp({ services: createServices(store, { baseUrl: BASE }), baseUrl: BASE });
    const response = await app.inject({
      method: 'POST',
      url: '/oidc/token/introspection',
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'token=not-a-token',
    });
    await app.close();
    return response.statusCode;
  } finally {
    await store.close();
  }
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'roster-apps-'));
  database = join(dir, 'roster.db');
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('apps create prints the client id and the secret alone on the last two lines; the secret authenticates, a wrong one does not', async () => {
  const run = roster(['apps', 'create', '--name', 'Grafana', '--redirect-uri', 'https://grafana.example.com/login/generic_oauth', '--allowed-group', 'grafana-users']);
  assert.equal(run.status, 0, run.stderr);
  const [clientId, secret] = run.lines.slice(-2) as [string, string];
  assert.match(clientId, /^[\w-]{22}$/);
  assert.match(secret, /^[\w-]{43}$/);
  assert.equal(await introspectAs(clientId, secret), 200);
  assert.equal(await introspectAs(clientId, `${secret}x`), 401);
  // No group of that name exists: a warning on stderr, the secret still alone on stdout's last line.
  assert.match(run.stderr, /warning: no group is named "grafana-users": nobody can sign in to this application until one of its allowed groups exists/);

  const listed = roster(['apps', 'list']);
  assert.equal(listed.status, 0, listed.stderr);
  assert.match(listed.stdout, new RegExp(`${clientId}\\s+Grafana\\s+confidential\\s+grafana-users\\s+https://grafana.example.com/login/generic_oauth`));
  assert.doesNotMatch(listed.stdout, new RegExp(secret));

  const rotated = roster(['apps', 'rotate-secret', clientId]);
  assert.equal(rotated.status, 0, rotated.stderr);
  const fresh = rotated.lines.at(-1) as string;
  assert.notEqual(fresh, secret);
  assert.equal(await introspectAs(clientId, fresh), 200);
  assert.equal(await introspectAs(clientId, secret), 401);

  const deleted = roster(['apps', 'delete', clientId]);
  assert.equal(deleted.status, 0, deleted.stderr);
  assert.equal(await introspectAs(clientId, fresh), 401);
  assert.equal(roster(['apps', 'delete', clientId]).status, 1);
});

test('apps create --public prints only the client id; http redirect URIs are refused except for localhost', () => {
  const run = roster(['apps', 'create', '--name', 'CLI tool', '--public', '--redirect-uri', 'http://127.0.0.1:8400/callback']);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.lines.at(-1) as string, /^[\w-]{22}$/);
  assert.match(run.lines.at(-2) as string, /^Client id:$/);
  assert.doesNotMatch(run.stderr, /warning/, 'no allowed group named, nothing to warn about');

  const refused = roster(['apps', 'create', '--name', 'Plain', '--redirect-uri', 'http://app.example.com/callback']);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /must use https; http is allowed only for localhost/);
  assert.equal(roster(['apps', 'create', '--name', 'No URI']).status, 2);
});

test('keys rotate names the new key and the retired one', () => {
  const first = roster(['keys', 'rotate']);
  assert.equal(first.status, 0, first.stderr);
  const second = roster(['keys', 'rotate']);
  const newKid = /New signing key ([\w-]+)\./.exec(first.stdout)?.[1];
  assert.ok(newKid);
  assert.match(second.stdout, new RegExp(`Retired: ${newKid}`));
});
