import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { createServices } from '../src/services.ts';
import { openStore } from '../src/store/index.ts';
import { startInstance, stop, waitHealthy } from './support/process.ts';
import { rosterArgs } from './support/roster-command.ts';

test('roster serve answers /healthz, prints the console and SCIM URLs, and exits cleanly on SIGTERM', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'roster-serve-'));
  // No ROSTER_BASE_URL: the default, http://localhost:<port>, is what the banner must show.
  const instance = await startInstance(`sqlite:${join(directory, 'roster.db')}`, { ROSTER_BASE_URL: '', ROSTER_LOG_LEVEL: 'info' });
  try {
    await waitHealthy(instance);
    assert.match(instance.output, new RegExp(`Console: http://localhost:${instance.port}/\n`));
    assert.match(instance.output, new RegExp(`SCIM base URL.*http://localhost:${instance.port}/api/scim/v2`));
    assert.match(instance.output, /tokens create --name/);
    assert.match(instance.output, new RegExp(`Sign in to the console at http://localhost:${instance.port}/ as "admin" with that password\.`));

    // Not a terminal: the password is in the file the output names, and signs in on the printed console, as a browser would.
    const file = join(directory, 'initial-admin-password');
    assert.ok(instance.output.includes(`Its password is in ${file}`), instance.output);
    const password = readFileSync(file, 'utf8').trim();
    assert.ok(!instance.output.includes(password), 'the password is not printed');
    const form = await fetch(`${instance.base}/sessions/new`);
    assert.equal(form.status, 200);
    const preSession = (form.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const token = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? '';
    const signIn = await fetch(`${instance.base}/sessions`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: preSession },
      body: new URLSearchParams({ _csrf: token, login: 'admin', password }).toString(),
    });
    assert.equal(signIn.status, 303);
    assert.match(signIn.headers.get('set-cookie') ?? '', /^roster_session=/);
    assert.equal(await stop(instance), 0, instance.output);
    assert.match(instance.output, /stopped cleanly/);
    // stdout is the log: JSON lines only, the banner and the password's whereabouts on stderr.
    const lines = instance.stdout.split('\n').filter((line) => line !== '');
    assert.ok(lines.length > 0);
    for (const line of lines) assert.doesNotThrow(() => JSON.parse(line), `not a JSON line on stdout: ${line}`);
  } finally {
    if (instance.process.exitCode === null) instance.process.kill('SIGKILL');
    rmSync(directory, { recursive: true, force: true });
  }
});

test('the banner says where Roster listens, and that a proxy is expected when ROSTER_HOST=127.0.0.1 serves a public https base URL', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'roster-serve-'));
  const instance = await startInstance(`sqlite:${join(directory, 'roster.db')}`, { ROSTER_BASE_URL: 'https://roster.example.com' });
  try {
    await waitHealthy(instance);
    const deadline = Date.now() + 10_000;
    while (!instance.output.includes('Create a token') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.match(instance.output, new RegExp(`Roster \\S+ is running on http://127\\.0\\.0\\.1:${instance.port} \\(this machine only\\) \\(database: `));
    assert.match(instance.output, /Base URL, for browsers and identity providers \(ROSTER_BASE_URL\): https:\/\/roster\.example\.com\n/);
    assert.match(instance.output, /Console: https:\/\/roster\.example\.com\/\n/);
    assert.ok(
      instance.output.includes(`Note: https://roster.example.com (ROSTER_BASE_URL) does not reach Roster directly: it is https, and Roster itself serves plain HTTP; it is on port 443, Roster on port ${instance.port}; Roster listens on 127.0.0.1, which only this machine can reach. A reverse proxy is expected to forward it to http://127.0.0.1:${instance.port}.`),
      instance.output,
    );
  } finally {
    await stop(instance);
    rmSync(directory, { recursive: true, force: true });
  }
});

test('the banner adds no note when the base URL reaches the listening address', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'roster-serve-'));
  // startInstance's own setup: ROSTER_HOST=127.0.0.1, ROSTER_BASE_URL=http://127.0.0.1:<port>.
  const instance = await startInstance(`sqlite:${join(directory, 'roster.db')}`);
  try {
    await waitHealthy(instance);
    const deadline = Date.now() + 10_000;
    while (!instance.output.includes('Create a token') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.match(instance.output, new RegExp(`is running on http://127\\.0\\.0\\.1:${instance.port} \\(this machine only\\)`));
    assert.doesNotMatch(instance.output, /does not reach Roster directly/);
  } finally {
    await stop(instance);
    rmSync(directory, { recursive: true, force: true });
  }
});

test('a bad ROSTER_PORT stops start-up with a message naming the variable', async () => {
  const child = spawn(process.execPath, rosterArgs('serve'), {
    env: { ...process.env, ROSTER_PORT: 'eighty' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.notEqual(code, 0);
  assert.match(stderr, /ROSTER_PORT/);
});

test('a port another process holds stops start-up: a message naming ROSTER_PORT, a non-zero exit, nothing left running, the first-start password delivered', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'roster-serve-'));
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const address = holder.address();
  assert.ok(address !== null && typeof address === 'object');
  const instance = await startInstance(`sqlite:${join(directory, 'roster.db')}`, { ROSTER_PORT: String(address.port) });
  try {
    const exited = new Promise<number | null>((resolve) => instance.process.once('exit', resolve));
    const code = await Promise.race([exited, new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), 60_000))]);
    assert.equal(code, 1, `the process should have exited; it printed: ${instance.output}`);
    assert.match(instance.output, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${address.port}: another process .* ROSTER_PORT`));
    assert.doesNotMatch(instance.output, /unexpected error/);
    // A new database: the administrator was created, and its password reached the operator all the same.
    const file = /Its password is in (\S+) /.exec(instance.output)?.[1];
    assert.ok(file !== undefined && readFileSync(file, 'utf8').trim().length >= 16, instance.output);
  } finally {
    if (instance.process.exitCode === null) instance.process.kill('SIGKILL');
    holder.close();
    rmSync(directory, { recursive: true, force: true });
  }
});

test('ROSTER_MAX_BODY_SIZE sets the largest body the server accepts: one byte over is 413, the limit itself passes', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'roster-serve-'));
  const path = join(directory, 'roster.db');
  const instance = await startInstance(`sqlite:${path}`, { ROSTER_MAX_BODY_SIZE: '64KiB' });
  try {
    await waitHealthy(instance);
    const store = await openStore({ kind: 'sqlite', path });
    let token: string;
    try {
      const services = createServices(store);
      const admin = await services.accounts.findByLogin('admin');
      assert.ok(admin, 'the server created the administrator');
      token = (await services.tokens.create('limit', { kind: 'cli' }, admin.id)).token;
    } finally {
      await store.close();
    }
    const post = async (size: number) => {
      const json = JSON.stringify({ name: `Group of ${size}` });
      const response = await fetch(`${instance.base}/api/v2/authorizations/groups`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: json + ' '.repeat(size - json.length),
      });
      return { status: response.status, body: (await response.json()) as { message?: string } };
    };
    const over = await post(64 * 1024 + 1);
    assert.equal(over.status, 413);
    assert.match(over.body.message ?? '', /larger than the 64 KiB Roster accepts/);
    assert.equal((await post(64 * 1024)).status, 201);
    assert.equal(await stop(instance), 0, instance.output);
  } finally {
    if (instance.process.exitCode === null) instance.process.kill('SIGKILL');
    rmSync(directory, { recursive: true, force: true });
  }
});

test('roster serve deletes provisioning activity past ROSTER_ACTIVITY_RETENTION_DAYS and audit entries past ROSTER_AUDIT_RETENTION_DAYS, and writes the last requests before it exits', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'roster-serve-'));
  const path = join(directory, 'roster.db');
  const request = (days: number, name: string) => ({
    at: new Date(Date.now() - days * 86_400_000),
    method: 'GET',
    path: `/api/scim/v2/Users/${name}`,
    query: '',
    filter: undefined,
    status: 200,
    durationMs: 1,
    token: { id: 'token-id', name: 'okta', login: 'admin' },
    source: '192.0.2.1',
    failure: null,
  });
  let store = await openStore({ kind: 'sqlite', path });
  let token: string;
  try {
    const services = createServices(store);
    await services.activity.record([request(8, 'old'), request(6, 'recent')]);
    await store.db.insertInto('audit_events').values([91, 89].map((days) => ({ at: new Date(Date.now() - days * 86_400_000).toISOString(), actor: 'cli', actor_user: null, action: 'setting.changed', target_type: 'setting', target_id: `${days}-days-old`, details: null }))).execute();
    await services.administrators.ensureAdministrator();
    const admin = await services.accounts.findByLogin('admin');
    assert.ok(admin);
    token = (await services.tokens.create('idp', { kind: 'cli' }, admin.id)).token;
  } finally {
    await store.close();
  }
  const instance = await startInstance(`sqlite:${path}`, { ROSTER_ACTIVITY_RETENTION_DAYS: '7', ROSTER_AUDIT_RETENTION_DAYS: '90' });
  try {
    await waitHealthy(instance);
    // SCIM is off: a 403, recorded all the same, and written before the process exits.
    assert.equal((await fetch(`${instance.base}/api/scim/v2/Users`, { headers: { authorization: `Bearer ${token}` } })).status, 403);
    assert.equal(await stop(instance), 0, instance.output);
    store = await openStore({ kind: 'sqlite', path });
    try {
      const { requests } = await createServices(store).activity.list({ failuresOnly: false, limit: 10, offset: 0 });
      assert.deepEqual(requests.map((entry) => [entry.path, entry.status]), [
        ['/api/scim/v2/Users', 403],
        ['/api/scim/v2/Users/recent', 200],
      ]);
      const audit = (await createServices(store).auditLog.list({}, { offset: 0, limit: 100, ascending: true })).events;
      assert.deepEqual(audit.filter((entry) => entry.targetType === 'setting').map((entry) => entry.targetId), ['89-days-old']);
      const purged = audit.filter((entry) => entry.action === 'audit.purged');
      assert.deepEqual(purged.map((entry) => entry.actor), ['system']);
      const { before, ...counted } = purged[0]!.details as { before: string };
      assert.deepEqual(counted, { retentionDays: 90, deleted: 1 });
      assert.ok(Math.abs(Date.parse(before) - (Date.now() - 90 * 86_400_000)) < 120_000, before);
    } finally {
      await store.close();
    }
  } finally {
    if (instance.process.exitCode === null) instance.process.kill('SIGKILL');
    rmSync(directory, { recursive: true, force: true });
  }
});

test('a ROSTER_HOST that is no address stops start-up with a message naming ROSTER_HOST, not "unexpected error"', async () => {
  const cases = [
    // Not an IPv4 address (256), so it is looked up as a host name, which does not resolve.
    { host: '256.1.1.1', message: /cannot listen on 256\.1\.1\.1:\d+: no such address or host name\. Check ROSTER_HOST/ },
    // Brackets belong in URLs, not in the address to listen on.
    { host: '[::1]', message: /cannot listen on \[::1\]: ROSTER_HOST takes an IPv6 address without brackets \(::1\)/ },
    // A link-local address without its interface: EINVAL, which said "unexpected error".
    { host: 'fe80::fc:ff:fe00:1', message: /cannot listen on \[fe80::fc:ff:fe00:1\]:\d+: the system refuses this address\. Check ROSTER_HOST \(a link-local IPv6 address needs its interface/ },
  ];
  await Promise.all(
    cases.map(async ({ host, message }) => {
      const directory = mkdtempSync(join(tmpdir(), 'roster-serve-'));
      const instance = await startInstance(`sqlite:${join(directory, 'roster.db')}`, { ROSTER_HOST: host });
      try {
        const exited = new Promise<number | null>((resolve) => instance.process.once('exit', resolve));
        const code = await Promise.race([exited, new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), 60_000))]);
        assert.equal(code, 1, `the process should have exited; it printed: ${instance.output}`);
        assert.match(instance.output, message);
        assert.doesNotMatch(instance.output, /unexpected error/);
      } finally {
        if (instance.process.exitCode === null) instance.process.kill('SIGKILL');
        rmSync(directory, { recursive: true, force: true });
      }
    }),
  );
});
