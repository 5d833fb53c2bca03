/**
 * `roster secrets rotate-key` beside a running `roster serve` (docs/operations.md#secrets): an
 * instance holds the key it started with, so a rotation under it would leave it failing on every
 * re-sealed secret (its OpenID provider, SAML sign-in, webhook signatures) until restarted. The
 * command refuses while an instance runs, changes nothing, and the instance keeps serving; once
 * every instance is stopped it rotates, audited, and the instances start with the new key.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { runRoster } from '../support/cli.ts';
import { createTestDatabase, eachDatabase, type ScratchDatabase } from '../support/databases.ts';
import { startInstance, stop, waitHealthy, type Instance } from '../support/process.ts';

eachDatabase('secrets rotate-key beside roster serve', (database) => {
  const current = randomBytes(32).toString('hex');
  const next = randomBytes(32).toString('hex');
  let scratch: ScratchDatabase;
  let instance: Instance | undefined;

  before(async () => {
    scratch = await createTestDatabase(database);
  });
  after(async () => {
    if (instance !== undefined) await stop(instance);
    await scratch.drop();
  });

  /** The instance's JWKS: its OpenID provider reads the sealed signing keys at every request. */
  const jwksStatus = async (at: Instance) => (await fetch(`${at.base}/oidc/jwks`)).status;

  test('refused while an instance runs, which keeps serving; once it is stopped, rotated, audited, and served with the new key', async () => {
    instance = await startInstance(scratch.url, { ROSTER_SECRET_KEY: current });
    await waitHealthy(instance);
    assert.equal(await jwksStatus(instance), 200);

    const refused = runRoster(scratch.url, ['secrets', 'rotate-key'], { ROSTER_SECRET_KEY: current, ROSTER_NEW_SECRET_KEY: next });
    assert.equal(refused.status, 1, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /every instance must be stopped before the secrets are re-sealed/);
    assert.match(refused.stderr, /Nothing was changed/);
    assert.equal(refused.stdout, '');
    // Nothing changed under the running instance: it still opens its keys.
    assert.equal(await jwksStatus(instance), 200);
    assert.equal(runRoster(scratch.url, ['secrets', 'status'], { ROSTER_SECRET_KEY: current }).status, 0);

    await stop(instance);
    const rotated = runRoster(scratch.url, ['secrets', 'rotate-key'], { ROSTER_SECRET_KEY: current, ROSTER_NEW_SECRET_KEY: next });
    assert.equal(rotated.status, 0, rotated.stderr);
    assert.match(rotated.lastLine, /^[0-9a-f]{8}$/);

    const audit = runRoster(scratch.url, ['audit', 'export', '--action', 'secrets.*'], { ROSTER_SECRET_KEY: next });
    assert.equal(audit.status, 0, audit.stderr);
    const entries = audit.stdout.trim().split('\n').map((line) => JSON.parse(line) as { action: string; actor: string; details: { from: string; to: string } });
    assert.equal(entries.length, 1, audit.stdout);
    assert.equal(entries[0]?.action, 'secrets.key_rotated');
    assert.equal(entries[0]?.actor, 'cli');
    assert.equal(entries[0]?.details.to, rotated.lastLine);
    assert.match(entries[0]?.details.from ?? '', /^[0-9a-f]{8}$/);
    assert.notEqual(entries[0]?.details.from, rotated.lastLine);
    // Key ids only: neither key appears anywhere in the entry.
    assert.ok(!audit.stdout.includes(current) && !audit.stdout.includes(next));

    instance = await startInstance(scratch.url, { ROSTER_SECRET_KEY: next });
    await waitHealthy(instance);
    assert.equal(await jwksStatus(instance), 200);
  });
});
