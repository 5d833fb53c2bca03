import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { createSamlConfigService } from '../../src/auth/saml-config.ts';
import type { Actor } from '../../src/journal/actor.ts';
import { DirectoryError } from '../../src/errors.ts';
import { createProvisioning, provisioningModeSetting, SAML_REQUIRED_MESSAGE, type Provisioning } from '../../src/directory/provisioning.ts';
import { createSettings } from '../../src/settings.ts';
import { createGroupManagement } from '../../src/directory/group-management.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { PROVISIONING_MODE_KEY } from '../../src/store/migrations/025-provisioning-mode-row.ts';
import { createTestDatabase, eachDatabase, openTestStore } from '../support/databases.ts';
import { waitForLockWaits } from '../support/lock-waits.ts';

const cli: Actor = { kind: 'cli' };
let dir: string;
let certificate: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'roster-provisioning-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=test-idp', '-days', '365', '-keyout', 'k.pem', '-out', 'c.pem'], { cwd: dir, stdio: 'pipe' });
  certificate = readFileSync(join(dir, 'c.pem'), 'utf8');
});
after(() => rmSync(dir, { recursive: true, force: true }));


/**
 * What a write came to: 'ok', or the code of the DirectoryError refusing it. Handles the promise
 * at once, so a refusal that arrives while the test waits on something else is not reported as
 * an unhandled rejection.
 */
function settle(write: Promise<unknown>): Promise<string> {
  return write.then(
    () => 'ok',
    (error: unknown) => {
      if (error instanceof DirectoryError) return error.code;
      throw error;
    },
  );
}

eachDatabase('provisioning mode', (database) => {
  let store: Store;
  let provisioning: Provisioning;

  async function configureSaml(): Promise<void> {
    const result = await createSamlConfigService(createSettings(store)).configure(
      { providerId: 'https://idp.example.com', loginUrl: 'https://idp.example.com/sso', certificates: [certificate] },
      cli,
    );
    assert.ok(result.ok);
  }

  async function actions(): Promise<string[]> {
    const events = await store.db.selectFrom('audit_events').select('action').orderBy('seq').execute();
    return events.map((event) => event.action);
  }

  beforeEach(async () => {
    store = await openTestStore(database);
    provisioning = createProvisioning(store, createSettings(store));
  });
  afterEach(async () => {
    await store.close();
  });

  test('is just-in-time by default', async () => {
    assert.deepEqual(await provisioning.status(), { enabled: false });
    assert.equal(await provisioning.isScimEnabled(), false);
  });

  test('a new database holds the switch as a row to lock, under the key the setting reads', async () => {
    // Local writes share-lock that row (managed-mode.ts lockProvisioningMode); migration 025
    // writes it under a key of its own, which must stay the setting's.
    assert.equal(PROVISIONING_MODE_KEY, provisioningModeSetting.key);
    const row = await store.db.selectFrom('settings').select('value').where('key', '=', provisioningModeSetting.key).executeTakeFirst();
    assert.equal(row?.value, '"jit"');
  });

  test('enable is refused until SAML is configured, and nothing is written', async () => {
    await assert.rejects(provisioning.enable(cli), (error: unknown) => {
      assert.ok(error instanceof DirectoryError);
      assert.equal(error.code, 'precondition');
      assert.equal(error.message, SAML_REQUIRED_MESSAGE);
      assert.match(error.message, /npm run roster -- saml configure/);
      return true;
    });
    assert.equal(await provisioning.isScimEnabled(), false);
    assert.deepEqual(await actions(), []);
  });

  test('enable after SAML turns SCIM on and records provisioning.enabled', async () => {
    await configureSaml();
    await provisioning.enable(cli);
    assert.deepEqual(await provisioning.status(), { enabled: true });
    assert.equal(await provisioning.isScimEnabled(), true);
    assert.deepEqual(await actions(), ['setting.changed', 'provisioning.enabled']);
    const event = await store.db.selectFrom('audit_events').selectAll().where('action', '=', 'provisioning.enabled').executeTakeFirstOrThrow();
    assert.equal(event.actor, 'cli');
    assert.deepEqual(JSON.parse(event.details ?? '{}'), { from: 'jit', to: 'scim' });
  });

  test('disable returns to just-in-time and records provisioning.disabled', async () => {
    await configureSaml();
    await provisioning.enable(cli);
    await provisioning.disable(cli);
    assert.deepEqual(await provisioning.status(), { enabled: false });
    assert.deepEqual(await actions(), ['setting.changed', 'provisioning.enabled', 'provisioning.disabled']);
    const row = await store.db.selectFrom('settings').select('value').where('key', '=', provisioningModeSetting.key).executeTakeFirstOrThrow();
    assert.equal(JSON.parse(row.value), 'jit');
  });

  test('enabling or disabling twice records one event', async () => {
    await configureSaml();
    await provisioning.enable(cli);
    await provisioning.enable(cli);
    await provisioning.disable(cli);
    await provisioning.disable(cli);
    assert.deepEqual(await actions(), ['setting.changed', 'provisioning.enabled', 'provisioning.disabled']);
  });

  test('a malformed stored mode is an error, not silently just-in-time', async () => {
    const now = new Date().toISOString();
    // The row exists from the start (migration 025); a stored value no version writes:
    await store.db.updateTable('settings').set({ value: '"managed"', updated_at: now }).where('key', '=', 'provisioning.mode').execute();
    await assert.rejects(provisioning.status(), /setting "provisioning.mode" is malformed/);
  });
});

eachDatabase('provisioning mode across instances', (database) => {
  test('lives in the database: a second instance on the same database sees the switch', async () => {
    const scratch = await createTestDatabase(database);
    const first = await openStore(scratch.location);
    const second = await openStore(scratch.location);
    try {
      const result = await createSamlConfigService(createSettings(first)).configure(
        { providerId: 'urn:idp', loginUrl: 'https://idp.example.com/sso', certificates: [certificate] },
        cli,
      );
      assert.ok(result.ok);
      const a = createProvisioning(first, createSettings(first));
      const b = createProvisioning(second, createSettings(second));
      assert.equal(await b.isScimEnabled(), false);
      await a.enable(cli);
      assert.equal(await b.isScimEnabled(), true);
      await b.disable(cli);
      assert.equal(await a.isScimEnabled(), false);
    } finally {
      await first.close();
      await second.close();
      await scratch.drop();
    }
  });

  // Two instances turning SCIM off at once: the second used to read the mode before the first
  // committed, so both recorded provisioning.disabled (and sent its event twice). PostgreSQL
  // only: SQLite serialises write transactions.
  /** A store with SAML configured, its provisioning switch, and a second connection to the same database (another instance's). */
  async function withSamlAndOtherConnection() {
    const scratch = await createTestDatabase(database);
    const store = await openStore(scratch.location);
    const other = new pg.Client({ connectionString: scratch.url });
    await other.connect();
    const result = await createSamlConfigService(createSettings(store)).configure(
      { providerId: 'urn:idp', loginUrl: 'https://idp.example.com/sso', certificates: [certificate] },
      cli,
    );
    assert.ok(result.ok);
    const close = async (): Promise<void> => {
      await other.end();
      await store.close();
      await scratch.drop();
    };
    return { store, other, provisioning: createProvisioning(store, createSettings(store)), close };
  }

  if (database === 'postgres') {
    test('a switch made while another instance makes the same switch records nothing more', async () => {
      const { store, other, provisioning, close } = await withSamlAndOtherConnection();
      try {
        await provisioning.enable(cli);
        // The other instance's switch to just-in-time, written and not yet committed.
        await other.query('BEGIN');
        await other.query(`UPDATE settings SET value = '"jit"' WHERE key = $1`, [provisioningModeSetting.key]);
        const disabling = settle(provisioning.disable(cli));
        await waitForLockWaits(other);
        await other.query('COMMIT');
        assert.equal(await disabling, 'ok');
        const recorded = await store.db.selectFrom('audit_events').select('action').where('action', '=', 'provisioning.disabled').execute();
        assert.equal(recorded.length, 0, 'the switch was already made: nothing to record');
        const events = await store.db.selectFrom('events').select('type').where('type', '=', 'provisioning.disabled').execute();
        assert.equal(events.length, 0);
      } finally {
        await close();
      }
    });

    // Found by a probe: a local write in progress when SCIM was turned on read the mode unlocked,
    // and committed after the switch (70 local groups created under SCIM in one run; a member
    // added to a group the IdP had just linked, which the IdP never sent and cannot remove).
    test('turning SCIM on waits for local writes in progress, and a local write arriving during the switch is refused', async () => {
      const { store, other, provisioning, close } = await withSamlAndOtherConnection();
      try {
        const groups = createGroupManagement(store);
        // Holds the group create after it has read the mode, as a slow statement would.
        await other.query('BEGIN');
        await other.query('LOCK TABLE groups IN SHARE ROW EXCLUSIVE MODE');
        const creating = settle(groups.create({ name: 'created-locally' }, cli));
        await waitForLockWaits(other, 1);
        let enabled = false;
        const enabling = settle(
          provisioning.enable(cli).then(() => {
            enabled = true;
          }),
        );
        // The switch waits on the mode the create holds: two transactions now wait on locks.
        await waitForLockWaits(other, 2);
        assert.equal(enabled, false, 'the switch waits for the local write in progress');
        await other.query('COMMIT');
        assert.equal(await creating, 'ok');
        assert.equal(await enabling, 'ok');
        const order = (await store.db.selectFrom('audit_events').select('action').where('action', 'in', ['group.created', 'provisioning.enabled']).orderBy('seq').execute()).map((row) => row.action);
        assert.deepEqual(order, ['group.created', 'provisioning.enabled']);

        // A local write that starts while the switch holds the mode waits for it, then is refused.
        await provisioning.disable(cli);
        await other.query('BEGIN');
        await other.query(`SELECT value FROM settings WHERE key = $1 FOR UPDATE`, [provisioningModeSetting.key]);
        await other.query(`UPDATE settings SET value = '"scim"' WHERE key = $1`, [provisioningModeSetting.key]);
        const late = settle(groups.create({ name: 'too-late' }, cli));
        await waitForLockWaits(other, 1);
        await other.query('COMMIT');
        assert.equal(await late, 'managed');
        assert.equal(await store.db.selectFrom('groups').select('id').where('name', '=', 'too-late').executeTakeFirst(), undefined);
      } finally {
        await close();
      }
    });
  }
});
