/**
 * Turning ROSTER_SECRET_KEY on, and rotating it, with a rolling restart of `roster serve`
 * processes on one PostgreSQL database (docs/operations.md#secrets-at-rest-roster_secret_key).
 * An instance given the key reads the secrets as they are and leaves them in plaintext while an
 * instance without it still runs; `roster secrets seal` refuses until every instance has it, and
 * the start of the last instance given it seals them too. Throughout, relying parties driven by
 * openid-client ask every running instance for its OpenID configuration, its JWKS and an
 * authorization, and never get a 500; no secret is lost; an instance started without the key
 * afterwards refuses to start instead of serving errors.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import * as client from 'openid-client';
import { createSecretBox } from '../../src/store/secret-box.ts';
import { runRoster, type CliRun } from '../support/cli.ts';
import { createTestDatabase, POSTGRES_URL, type ScratchDatabase } from '../support/databases.ts';
import { startInstance, stop, waitHealthy, type Instance } from '../support/process.ts';

const REDIRECT = 'http://localhost:4000/callback';

/** The secrets as stored: the secret settings, the key check, and the webhooks' signing secrets. */
async function stored(url: string): Promise<{ settings: Map<string, string>; webhookSecrets: string[] }> {
  const db = new pg.Client({ connectionString: url, application_name: 'psql' });
  await db.connect();
  try {
    const settings = await db.query<{ key: string; value: string }>("select key, value from settings where key in ('oidc.keys', 'scim.cursorKey', 'secrets.keyCheck')");
    const webhooks = await db.query<{ secret: string }>('select secret from webhooks order by created_at');
    return { settings: new Map(settings.rows.map((row) => [row.key, row.value])), webhookSecrets: webhooks.rows.map((row) => row.secret) };
  } finally {
    await db.end();
  }
}

/**
 * What relying parties see of every instance in `targets`, asked again and again until stopped:
 * discovery, the JWKS, and the start of an authorization (the provider's signed cookies use the
 * sealed cookie keys). Every status of 500 or more, and every failed discovery, is kept.
 */
function probe(targets: Set<Instance>, clientId: string, secret: string) {
  const failures: string[] = [];
  let requests = 0;
  let running = true;
  const once = async (instance: Instance): Promise<void> => {
    try {
      const config = await client.discovery(new URL(instance.base), clientId, undefined, client.ClientSecretBasic(secret), { execute: [client.allowInsecureRequests] });
      const jwks = await fetch(config.serverMetadata().jwks_uri ?? '');
      const authorization = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()).toString(), code_challenge_method: 'S256' });
      const authorize = await fetch(authorization, { redirect: 'manual' });
      requests += 1;
      // An instance taken out of the targets while this round ran may be stopping (its 503
      // "shutting down" is the drain a load balancer retries elsewhere): only the others' count.
      if (!targets.has(instance)) return;
      for (const [what, response] of [['jwks', jwks], ['authorize', authorize]] as const) {
        if (response.status >= 500) failures.push(`${instance.base} ${what}: ${response.status} ${await response.text()}`);
      }
    } catch (error) {
      if (targets.has(instance)) failures.push(`${instance.base}: ${String(error)}`);
    }
  };
  const loop = (async () => {
    while (running) {
      await Promise.all([...targets].map(once));
      await sleep(50);
    }
  })();
  return {
    failures,
    requests: () => requests,
    async end(): Promise<void> {
      running = false;
      await loop;
    },
  };
}

describe('ROSTER_SECRET_KEY with a rolling restart (on PostgreSQL)', { skip: POSTGRES_URL === undefined ? 'PostgreSQL skipped: set ROSTER_TEST_POSTGRES_URL to run it' : false }, () => {
  const key = randomBytes(32).toString('base64');
  const next = randomBytes(32).toString('hex');
  let scratch: ScratchDatabase;
  const started: Instance[] = [];
  const live = new Set<Instance>();

  const start = async (env: Record<string, string>): Promise<Instance> => {
    const instance = await startInstance(scratch.url, env);
    started.push(instance);
    await waitHealthy(instance);
    live.add(instance);
    return instance;
  };
  const retire = async (instance: Instance): Promise<void> => {
    live.delete(instance);
    assert.equal(await stop(instance), 0, instance.output);
  };
  const roster = (args: readonly string[], env: Record<string, string> = {}): CliRun => runRoster(scratch.url, args, env);

  before(async () => {
    scratch = await createTestDatabase('postgres');
  });
  after(async () => {
    for (const instance of started) await stop(instance);
    await scratch.drop();
  });

  test('turning the key on one instance at a time, then rotating it with ROSTER_PREVIOUS_SECRET_KEY: no 500 on any instance, no secret lost, sealed once every instance has the key', async () => {
    let a = await start({});
    let b = await start({});
    const app = roster(['apps', 'create', '--name', 'Wiki', '--redirect-uri', REDIRECT]);
    assert.equal(app.status, 0, app.stderr);
    const [clientId = '', clientSecret = ''] = app.stdout.trimEnd().split('\n').slice(-2);
    const webhook = roster(['webhooks', 'create', '--url', 'https://receiver.example.com/hook']);
    assert.equal(webhook.status, 0, webhook.stderr);
    const whsec = webhook.lastLine;
    const jwks = async (at: Instance) => ((await (await fetch(`${at.base}/oidc/jwks`)).json()) as { keys: { kid: string }[] }).keys.map((one) => one.kid);
    const kids = await jwks(a);
    const plain = await stored(scratch.url);

    const prober = probe(live, clientId, clientSecret);
    try {
      // The first instance restarted with the key: the other has none, so nothing is sealed.
      await retire(a);
      a = await start({ ROSTER_SECRET_KEY: key });
      assert.match(a.output, /stored secrets are not encrypted with ROSTER_SECRET_KEY \(key [0-9a-f]{8}\) yet: other Roster processes without that key use the database \(connections: \d+ from /);
      assert.deepEqual(await stored(scratch.url), plain);
      const waiting = roster(['secrets', 'status'], { ROSTER_SECRET_KEY: key });
      assert.equal(waiting.status, 0, waiting.stderr);
      assert.match(waiting.stdout, /^Secrets are not encrypted at rest\.\n0 sealed, \d+ plaintext\nROSTER_SECRET_KEY is key [0-9a-f]{8}: Roster processes without it use the database \(connections: \d+ from [^)]+\): once every instance has it, the last to start seals the \d+ values in plaintext with it, or run `roster secrets seal`\.\n$/);

      // A command with the key refuses to seal under the instance without it, and changes nothing.
      const refused = roster(['secrets', 'seal'], { ROSTER_SECRET_KEY: key });
      assert.equal(refused.status, 1, refused.stdout + refused.stderr);
      assert.match(refused.stderr, /Roster processes without key [0-9a-f]{8} use this database \(connections: \d+ from .*they could not read the secrets once sealed.*Nothing was changed\./);
      assert.equal(refused.stdout, '');
      // A secret written meanwhile by a process with the key stays readable by the one without it.
      const rotated = roster(['keys', 'rotate', '--now'], { ROSTER_SECRET_KEY: key });
      assert.equal(rotated.status, 0, rotated.stderr);
      assert.doesNotMatch((await stored(scratch.url)).settings.get('oidc.keys') ?? '', /^enc:/);
      const rotatedKids = await jwks(b);
      assert.equal(rotatedKids.length, kids.length + 1);
      assert.deepEqual(await jwks(a), rotatedKids);

      // The second instance replaced by one with the key started beside it (an orchestrator's surge):
      // the old one is still connected at that start, so the secrets wait for the explicit step.
      const b2 = await start({ ROSTER_SECRET_KEY: key });
      assert.match(b2.output, /are not encrypted with ROSTER_SECRET_KEY/);
      await retire(b);
      b = b2;
      const sealed = roster(['secrets', 'seal'], { ROSTER_SECRET_KEY: key });
      assert.equal(sealed.status, 0, sealed.stderr);
      assert.match(sealed.lastLine, /^[0-9a-f]{8}$/);
      assert.match(sealed.stderr, /^Sealed \d+ secrets in plaintext with key [0-9a-f]{8}\.\n$/);
      const box = createSecretBox(Buffer.from(key, 'base64'));
      const after = await stored(scratch.url);
      for (const [name, value] of after.settings) assert.match(value, new RegExp(`^enc:v1:${sealed.lastLine}:`), name);
      // No secret lost: each opens to what it was.
      assert.equal(box.open(after.webhookSecrets[0] ?? ''), whsec);
      const signingKids = (text: string) => (JSON.parse(text) as { signingKeys: { jwk: { kid: string } }[] }).signingKeys.map((one) => one.jwk.kid).sort();
      assert.deepEqual(signingKids(box.open(after.settings.get('oidc.keys') ?? '')), [...rotatedKids].sort());
      assert.deepEqual(await jwks(a), rotatedKids);
      assert.deepEqual(await jwks(b), rotatedKids);
      // Run again, it changes nothing.
      const again = roster(['secrets', 'seal'], { ROSTER_SECRET_KEY: key });
      assert.equal(again.status, 0, again.stderr);
      assert.match(again.stderr, /already sealed with key/);
      const audit = roster(['audit', 'export', '--action', 'secrets.*'], { ROSTER_SECRET_KEY: key });
      const entries = audit.stdout.trim().split('\n').map((line) => JSON.parse(line) as { action: string; details: { to: string; sealed: number } });
      assert.deepEqual(entries.map((entry) => [entry.action, entry.details.to]), [['secrets.sealed', sealed.lastLine]]);

      // A secret written now by a running instance is sealed: the database's secrets are.
      const secondWebhook = roster(['webhooks', 'create', '--url', 'https://receiver.example.com/other'], { ROSTER_SECRET_KEY: key });
      assert.equal(secondWebhook.status, 0, secondWebhook.stderr);
      assert.match((await stored(scratch.url)).webhookSecrets[1] ?? '', /^enc:v1:/);

      // An instance without the key now refuses to start, and says why, rather than serving errors.
      const keyless = await startInstance(scratch.url, {});
      started.push(keyless);
      const exit = await new Promise<number | null>((resolve) => keyless.process.once('exit', (code) => resolve(code)));
      assert.equal(exit, 1, keyless.output);
      assert.match(keyless.output, /The database's secrets are sealed with key [0-9a-f]{8}, but ROSTER_SECRET_KEY is not set/);

      // A rolling rotation: each instance restarted with the new key and the old one as previous.
      const rolled = { ROSTER_SECRET_KEY: next, ROSTER_PREVIOUS_SECRET_KEY: key };
      await retire(a);
      a = await start(rolled);
      assert.match(a.output, /not encrypted with ROSTER_SECRET_KEY \(key [0-9a-f]{8}\) yet/);
      assert.match((await stored(scratch.url)).settings.get('secrets.keyCheck') ?? '', new RegExp(`^enc:v1:${sealed.lastLine}:`));
      const previous = roster(['secrets', 'status'], rolled);
      assert.match(previous.stdout, /ROSTER_PREVIOUS_SECRET_KEY the key that sealed them: Roster processes without it use the database/);
      // Written through the instance with both keys, still under the old key, which the other reads.
      const thirdWebhook = roster(['webhooks', 'create', '--url', 'https://receiver.example.com/third'], rolled);
      assert.equal(thirdWebhook.status, 0, thirdWebhook.stderr);
      assert.match((await stored(scratch.url)).webhookSecrets[2] ?? '', new RegExp(`^enc:v1:${sealed.lastLine}:`));
      // The last instance given the new key re-seals everything with it at its start.
      await retire(b);
      b = await start(rolled);
      assert.doesNotMatch(b.output, /not encrypted/);
      const nextBox = createSecretBox(Buffer.from(next, 'hex'));
      const resealed = await stored(scratch.url);
      for (const [name, value] of resealed.settings) assert.match(value, new RegExp(`^enc:v1:${nextBox.keyId ?? ''}:`), name);
      assert.equal(nextBox.open(resealed.webhookSecrets[0] ?? ''), whsec);
      assert.ok(resealed.webhookSecrets.every((value) => value.startsWith(`enc:v1:${nextBox.keyId ?? ''}:`)));
      assert.deepEqual(await jwks(a), rotatedKids);
      // The previous key can go: an instance with the new key alone starts and serves.
      await retire(a);
      a = await start({ ROSTER_SECRET_KEY: next });
      assert.deepEqual(await jwks(a), rotatedKids);
      assert.deepEqual(await jwks(b), rotatedKids);
    } finally {
      await prober.end();
    }
    assert.ok(prober.requests() > 10, `only ${prober.requests()} rounds of requests`);
    assert.deepEqual(prober.failures, []);
  });
});

describe('ROSTER_SECRET_KEY on one SQLite instance', () => {
  const key = randomBytes(32).toString('base64');
  let scratch: ScratchDatabase;
  let instance: Instance | undefined;

  before(async () => {
    scratch = await createTestDatabase('sqlite');
  });
  after(async () => {
    if (instance !== undefined) await stop(instance);
    await scratch.drop();
  });

  test('a command given the key beside an instance without it seals nothing, and the instance keeps serving; restarted with the key, the instance seals at its start', async () => {
    instance = await startInstance(scratch.url, {});
    await waitHealthy(instance);
    const jwks = async (at: Instance) => (await fetch(`${at.base}/oidc/jwks`)).status;
    assert.equal(await jwks(instance), 200);

    // Any command opens the database; with the key, it used to seal under the running instance.
    const command = runRoster(scratch.url, ['scim', 'status'], { ROSTER_SECRET_KEY: key });
    assert.equal(command.status, 0, command.stderr);
    assert.equal(await jwks(instance), 200);
    const refused = runRoster(scratch.url, ['secrets', 'seal'], { ROSTER_SECRET_KEY: key });
    assert.equal(refused.status, 1, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /^Another process \(a Roster instance or command\) has this SQLite database open, and nothing tells whether it has the key: .*Nothing was changed\.\n$/);
    assert.equal(await jwks(instance), 200);
    assert.match(runRoster(scratch.url, ['secrets', 'status']).stdout, /^Secrets are not encrypted at rest\./);
    const usage = runRoster(scratch.url, ['secrets', 'seal']);
    assert.equal(usage.status, 2, usage.stderr);
    assert.match(usage.stderr, /ROSTER_SECRET_KEY must be set/);

    // One instance: stop it, start it with the key, and its start seals (docs/operations.md).
    assert.equal(await stop(instance), 0, instance.output);
    instance = await startInstance(scratch.url, { ROSTER_SECRET_KEY: key, ROSTER_LOG_LEVEL: 'info' });
    await waitHealthy(instance);
    assert.match(instance.output, /encrypted \d+ stored secrets? with ROSTER_SECRET_KEY/);
    assert.doesNotMatch(instance.output, /not encrypted/);
    assert.equal(await jwks(instance), 200);
    const status = runRoster(scratch.url, ['secrets', 'status'], { ROSTER_SECRET_KEY: key });
    assert.match(status.stdout, /^Secrets are sealed with key [0-9a-f]{8} \(AES-256-GCM\)\.\n[1-9]\d* sealed, 0 plaintext\nROSTER_SECRET_KEY is that key\.\n$/);
  });
});
