/**
 * The two races of sealing secrets (store/secrets.ts, "Locks"), each interleaving forced: one
 * side is held at its critical point (a sealer inside its transaction through `within`, or behind
 * a row another connection holds), the other side runs against it, and the test looks at what a
 * user would: whether a process without the key starts on secrets sealed under it, and whether
 * every secret ends up sealed with the current key (`secrets status`) with the value written.
 *
 * PostgreSQL only: on SQLite one transaction writes at a time (BEGIN IMMEDIATE), so neither race
 * exists there. Every connection has a lock_timeout, and each test a timeout, so that a deadlock
 * fails the test rather than hanging it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { DEFAULT_MIGRATION_LOCK_TABLE, Kysely, MIGRATION_LOCK_ID, PostgresAdapter, PostgresDialect } from 'kysely';
import pg from 'pg';
import { createSamlConfigService } from '../../src/auth/saml-config.ts';
import { loadOidcKeys, rotateOidcKeys } from '../../src/auth/oidc-keys.ts';
import { createEventFeed } from '../../src/directory/event-feed.ts';
import { createWebhooks } from '../../src/directory/webhooks.ts';
import { createSettings } from '../../src/settings.ts';
import { openStore, type Database, type Store } from '../../src/store/index.ts';
import { createSecretBox } from '../../src/store/secret-box.ts';
import { prepareSecrets, rotateSecretKey, sealAll, secretsStatus } from '../../src/store/secrets.ts';
import { findWebhook } from '../../src/store/webhooks.ts';
import { testCertificate, testKeyPair, TEST_IDP } from '../support/app.ts';
import { createTestDatabase, POSTGRES_URL, type ScratchDatabase } from '../support/databases.ts';

const cli = { kind: 'cli' } as const;
const TEST_TIMEOUT_MS = 60_000;
const keyIdOf = (key: Buffer): string => createSecretBox(key).keyId ?? '';

/** A gate a sealer waits at inside its transaction (`within`): `held` once it is there, `open()` lets it commit. */
function gate(): { held: Promise<void>; within: () => Promise<void>; open: () => void } {
  let arrived!: () => void;
  let opened!: () => void;
  const held = new Promise<void>((resolve) => (arrived = resolve));
  const opening = new Promise<void>((resolve) => (opened = resolve));
  return {
    held,
    within: async () => {
      arrived();
      await opening;
    },
    open: () => opened(),
  };
}

/**
 * Waits until `racer` settles or `count` other backends wait on a lock, whichever comes first:
 * the fixed code makes the racer wait, the code before it let the racer through, and either way
 * the test goes on (instead of waiting 10 s for a wait that never comes).
 */
async function untilWaitingOrDone(monitor: pg.Client, racer: Promise<unknown>, count = 1): Promise<'waiting' | 'done'> {
  let settled = false;
  racer.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let attempt = 0; attempt < 400; attempt += 1) {
    if (settled) return 'done';
    await monitor.query('SELECT pg_stat_clear_snapshot()');
    const waiting = await monitor.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'");
    if ((waiting.rowCount ?? 0) >= count) return 'waiting';
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`neither settled nor ${count} backend(s) waiting on a lock within 10 s`);
}

/** How a promise ended, without throwing. */
async function outcome<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error };
  }
}

describe('sealing secrets races (on PostgreSQL)', { skip: POSTGRES_URL === undefined ? 'PostgreSQL skipped: set ROSTER_TEST_POSTGRES_URL to run it' : false }, () => {
  let scratch: ScratchDatabase;
  let location: ScratchDatabase['location'];
  let monitor: pg.Client;
  const opened: Store[] = [];
  const open = async (options: Parameters<typeof openStore>[1] = {}): Promise<Store> => {
    const store = await openStore(location, options);
    opened.push(store);
    return store;
  };

  before(() => {
    // The server's: a lock waited for longer than this fails the statement (a deadlock the server
    // cannot see, one half of it in this process, would otherwise hang the test).
    process.env.PGOPTIONS = '-c lock_timeout=20000';
  });
  after(() => {
    delete process.env.PGOPTIONS;
  });
  beforeEach(async () => {
    scratch = await createTestDatabase('postgres', { migrated: true });
    location = scratch.location;
    monitor = new pg.Client({ connectionString: scratch.url, application_name: 'sealing race monitor' });
    await monitor.connect();
  });
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    await monitor.end();
    await scratch.drop();
  });

  /**
   * What an older Roster (no key; its `application_name` without a key id) does at start, as
   * far as secrets go: connects, runs its migrations under Kysely's migration lock, then reads the
   * key check, and stays connected. `keyCheck` is what it read: a sealed one makes it refuse to start.
   */
  async function olderInstanceStarts(keyId?: string): Promise<{ keyCheck: string | undefined; close: () => Promise<void> }> {
    const pool = new pg.Pool({ connectionString: scratch.url, max: 1, application_name: `roster 027 0badcafe${keyId === undefined ? '' : ` ${keyId}`}` });
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    const adapter = new PostgresAdapter();
    const options = { lockTable: DEFAULT_MIGRATION_LOCK_TABLE, lockRowId: MIGRATION_LOCK_ID };
    // One connection (max 1): the session lock is on the connection that reads after it.
    await adapter.acquireMigrationLock(db, options);
    await adapter.releaseMigrationLock(db, options);
    const row = await db.selectFrom('settings').select('value').where('key', '=', 'secrets.keyCheck').executeTakeFirst();
    return { keyCheck: row?.value, close: () => db.destroy() };
  }

  async function configureSaml(store: Store): Promise<string> {
    const sp = testKeyPair('roster-sp');
    const result = await createSamlConfigService(createSettings(store)).configure(
      { ...TEST_IDP, certificates: [testCertificate()], signRequests: true, spCertificate: sp.certificate, spPrivateKey: sp.privateKey },
      cli,
    );
    assert.ok(result.ok, JSON.stringify(result));
    return sp.privateKey.trim();
  }

  /** Asserts what `roster secrets status` with `key` would say: every value sealed with it, none in plaintext or under another key. */
  async function assertAllSealedWith(key: Buffer): Promise<void> {
    const store = await open({ secretKey: key, migrate: false });
    const status = await secretsStatus(store);
    assert.equal(status.keyId, keyIdOf(key));
    assert.equal(status.key, 'matches', status.refusal);
    assert.equal(status.plaintext, 0, 'no secret left in plaintext');
    assert.equal(status.earlierKeys, undefined, `no secret left under an earlier key: ${JSON.stringify(status.earlierKeys)}`);
  }

  test('an instance without the key starting while the secrets are sealed waits for the sealing, then refuses to start with the message', { timeout: TEST_TIMEOUT_MS }, async () => {
    const key = randomBytes(32);
    await configureSaml(await open());
    const sealer = await open({ secretKey: key, prepareSecrets: false });
    const held = gate();
    const sealing = sealAll(sealer, held.within);
    await held.held;

    const starting = outcome(open());
    const when = await untilWaitingOrDone(monitor, starting);
    held.open();
    await sealing;
    const started = await starting;
    assert.ok(!started.ok, 'an instance without the key does not start on secrets sealed as it starts');
    assert.match(String(started.error), new RegExp(`The database's secrets are sealed with key ${keyIdOf(key)}, but ROSTER_SECRET_KEY is not set`));
    assert.equal(when, 'waiting', 'the start waits for the sealing under way');
  });

  test('an older instance without the key starting while the secrets are sealed reads them sealed (and so refuses to start)', { timeout: TEST_TIMEOUT_MS }, async () => {
    const key = randomBytes(32);
    await configureSaml(await open());
    const sealer = await open({ secretKey: key, prepareSecrets: false });
    const held = gate();
    const sealing = sealAll(sealer, held.within);
    await held.held;

    const older = olderInstanceStarts();
    const when = await untilWaitingOrDone(monitor, older);
    held.open();
    await sealing;
    const { keyCheck, close } = await older;
    await close();
    assert.match(keyCheck ?? '(none)', new RegExp(`^enc:v1:${keyIdOf(key)}:`), 'it reads the key check the sealing wrote');
    assert.equal(when, 'waiting', 'its migration lock waits for the sealing under way');
  });

  test('an older instance with only the previous key, connected while a rolling re-seal is under way, is seen: nothing is re-sealed, and it reads every secret', { timeout: TEST_TIMEOUT_MS }, async () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    await configureSaml(await open({ secretKey: oldKey }));
    const starting = await open({ secretKey: newKey, previousSecretKey: oldKey, prepareSecrets: false });

    // The key check's row held by another transaction: the start-up's sealing stops there, in its
    // transaction (before this change: after it had looked for processes without the new key).
    const holder = new pg.Client({ connectionString: scratch.url, application_name: 'sealing race row holder' });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query("SELECT value FROM settings WHERE key = 'secrets.keyCheck' FOR UPDATE");
      const preparing = prepareSecrets(starting);
      assert.equal(await untilWaitingOrDone(monitor, preparing), 'waiting');
      // Meanwhile an instance of an older version with the old key alone starts.
      const older = olderInstanceStarts(keyIdOf(oldKey));
      await untilWaitingOrDone(monitor, older, 2);
      await holder.query('COMMIT');
      const report = await preparing;
      const { keyCheck, close } = await older;
      try {
        assert.match(report.waitingFor ?? '(not waiting)', /connections: 1 from /, 'the re-seal saw the older instance and did nothing');
        assert.match(keyCheck ?? '(none)', new RegExp(`^enc:v1:${keyIdOf(oldKey)}:`));
        // What the older instance goes on reading: everything still opens with its key.
        const rows = await monitor.query<{ value: string }>("SELECT value FROM settings WHERE key IN ('saml', 'secrets.keyCheck')");
        const box = createSecretBox(oldKey);
        for (const row of rows.rows) assert.doesNotThrow(() => box.open(row.value));
      } finally {
        await close();
      }
    } finally {
      await holder.end();
    }
  });

  test('a webhook created while the secrets are re-sealed (rolling rotation) is sealed with the new key, and its secret reads back', { timeout: TEST_TIMEOUT_MS }, async () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    await configureSaml(await open({ secretKey: oldKey }));
    // Two instances with both keys, the database still sealed with the old one.
    const writer = await open({ secretKey: newKey, previousSecretKey: oldKey, prepareSecrets: false });
    const sealer = await open({ secretKey: newKey, previousSecretKey: oldKey, prepareSecrets: false });
    const webhooks = createWebhooks(writer, createEventFeed(writer, { retentionDays: 30 }));
    const held = gate();
    const sealing = sealAll(sealer, held.within);
    await held.held;

    const creating = webhooks.create({ url: 'https://receiver.example.com/hook', types: null }, cli);
    await untilWaitingOrDone(monitor, creating);
    held.open();
    const sealed = await sealing;
    const { webhook, secret } = await creating;
    assert.equal(sealed.resealed, 1);
    await assertAllSealedWith(newKey);
    const stored = await findWebhook(writer.db, writer.dialect, createSecretBox(newKey), webhook.id);
    assert.equal(stored?.secret, secret);
  });

  test('the SAML configuration saved for the first time while the secrets are sealed is sealed too, and reads back', { timeout: TEST_TIMEOUT_MS }, async () => {
    const key = randomBytes(32);
    await loadOidcKeys(await open());
    // An instance given the key that has not sealed yet (an instance without it was running).
    const writer = await open({ secretKey: key, prepareSecrets: false });
    const sealer = await open({ secretKey: key, prepareSecrets: false });
    const held = gate();
    const sealing = sealAll(sealer, held.within);
    await held.held;

    const saving = configureSaml(writer);
    await untilWaitingOrDone(monitor, saving);
    held.open();
    await sealing;
    const privateKey = await saving;
    await assertAllSealedWith(key);
    assert.equal((await createSamlConfigService(createSettings(writer)).get())?.spPrivateKey, privateKey);
  });

  test('OpenID keys rotated while rotate-key re-seals are sealed with the new key, and are the rotated ones', { timeout: TEST_TIMEOUT_MS }, async () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const first = await open({ secretKey: oldKey });
    await loadOidcKeys(first);
    const writer = await open({ secretKey: newKey, previousSecretKey: oldKey, prepareSecrets: false });
    const held = gate();
    const rotating = rotateSecretKey(first, newKey, held.within);
    await held.held;

    const turning = rotateOidcKeys(writer, cli, { now: true });
    await untilWaitingOrDone(monitor, turning);
    held.open();
    await rotating;
    const rotation = await turning;
    await assertAllSealedWith(newKey);
    const reader = await open({ secretKey: newKey, migrate: false });
    assert.equal((await loadOidcKeys(reader)).material.signingKeys[0]?.jwk.kid, rotation.kid);
  });

  // The lock order itself: a write that read the key check FOR SHARE after locking its row
  // deadlocked here with the re-seal (which holds the key check and wants the row).
  test('a change of the SAML configuration holding its row while a re-seal waits: both finish (no deadlock), sealed with the new key', { timeout: TEST_TIMEOUT_MS }, async () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    await configureSaml(await open({ secretKey: oldKey }));
    const writer = await open({ secretKey: newKey, previousSecretKey: oldKey, prepareSecrets: false });
    const sealer = await open({ secretKey: newKey, previousSecretKey: oldKey, prepareSecrets: false });
    const holder = new pg.Client({ connectionString: scratch.url, application_name: 'sealing race row holder' });
    await holder.connect();
    try {
      // The change stops at the SAML row (another transaction holds it) ...
      await holder.query('BEGIN');
      await holder.query("SELECT value FROM settings WHERE key = 'saml' FOR UPDATE");
      const saving = outcome(configureSaml(writer));
      await untilWaitingOrDone(monitor, saving);
      // ... and a re-seal starts meanwhile: it needs that row, and the change needs the key check.
      const sealing = outcome(sealAll(sealer));
      await untilWaitingOrDone(monitor, sealing, 2);
      await holder.query('COMMIT');
      const saved = await saving;
      const sealed = await sealing;
      assert.ok(saved.ok, String(!saved.ok && saved.error));
      assert.ok(sealed.ok, String(!sealed.ok && sealed.error));
      await assertAllSealedWith(newKey);
      assert.equal((await createSamlConfigService(createSettings(writer)).get())?.spPrivateKey, saved.value);
    } finally {
      await holder.end();
    }
  });
});
