/**
 * A secret left under the earlier key after a rolling rotation (written by an instance with both
 * keys as the others re-sealed everything: docs/operations.md#secrets-at-rest-roster_secret_key).
 * `roster secrets status` must not say the previous key can go while only it opens that value,
 * and an instance started without it must say how to get out: set ROSTER_PREVIOUS_SECRET_KEY
 * again and run `roster secrets seal`, which re-seals the value with the current key.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { openStore, type Store } from '../../src/store/index.ts';
import { createSecretBox } from '../../src/store/secret-box.ts';
import { runRoster } from '../support/cli.ts';
import { createTestDatabase, eachDatabase, type ScratchDatabase } from '../support/databases.ts';

eachDatabase('a secret left under the earlier key after a rolling rotation', (database) => {
  const oldKey = randomBytes(32).toString('base64');
  const newKey = randomBytes(32).toString('hex');
  const oldId = createSecretBox(Buffer.from(oldKey, 'base64')).keyId ?? '';
  const newId = createSecretBox(Buffer.from(newKey, 'hex')).keyId ?? '';
  const both = { ROSTER_SECRET_KEY: newKey, ROSTER_PREVIOUS_SECRET_KEY: oldKey };
  let scratch: ScratchDatabase;
  // Opened only for a moment: the CLI counts another process with the database open (SQLite) or
  // connected without the key (PostgreSQL) as an instance that could not read sealed secrets.
  const withStore = async <T>(use: (store: Store) => Promise<T>): Promise<T> => {
    const store = await openStore(scratch.location, { migrate: false });
    try {
      return await use(store);
    } finally {
      await store.close();
    }
  };

  before(async () => {
    scratch = await createTestDatabase(database);
    const first = runRoster(scratch.url, ['webhooks', 'create', '--url', 'https://receiver.example.com/a'], { ROSTER_SECRET_KEY: oldKey });
    assert.equal(first.status, 0, first.stderr);
    const second = runRoster(scratch.url, ['webhooks', 'create', '--url', 'https://receiver.example.com/b'], { ROSTER_SECRET_KEY: oldKey });
    assert.equal(second.status, 0, second.stderr);
    const underOld = await withStore((store) => store.db.selectFrom('webhooks').select(['id', 'secret']).orderBy('created_at').executeTakeFirstOrThrow());
    const sealed = runRoster(scratch.url, ['secrets', 'seal'], both);
    assert.equal(sealed.status, 0, sealed.stderr);
    // The straggler: written under the old key by an instance with both, as the seal committed.
    await withStore((store) => store.db.updateTable('webhooks').set({ secret: underOld.secret }).where('id', '=', underOld.id).execute());
  });
  after(async () => {
    await scratch.drop();
  });

  test('secrets status with both keys names the value under the earlier key, and says to keep ROSTER_PREVIOUS_SECRET_KEY', () => {
    const status = runRoster(scratch.url, ['secrets', 'status'], both);
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`ROSTER_SECRET_KEY is that key\\.\\n1 value still sealed with key ${oldId} \\(ROSTER_PREVIOUS_SECRET_KEY\\): keep it set until \`roster secrets seal\`, or the next start of Roster, re-seals it with key ${newId}; an instance without it does not start until then\\.\\n$`));
  });

  test('secrets status with the new key alone refuses as start-up does, and says how to get out', () => {
    const status = runRoster(scratch.url, ['secrets', 'status'], { ROSTER_SECRET_KEY: newKey });
    assert.equal(status.status, 1, status.stdout);
    assert.doesNotMatch(status.stdout, /ROSTER_SECRET_KEY is that key/);
    assert.match(status.stderr, new RegExp(`1 secret in the database is still sealed with key ${oldId}, an earlier key, although the others are sealed with ROSTER_SECRET_KEY \\(key ${newId}\\): set ROSTER_PREVIOUS_SECRET_KEY to key ${oldId} and run \`roster secrets seal\``));
    const command = runRoster(scratch.url, ['tokens', 'list'], { ROSTER_SECRET_KEY: newKey });
    assert.equal(command.status, 1, command.stdout);
    assert.match(command.stderr, new RegExp(`still sealed with key ${oldId}, an earlier key.*set ROSTER_PREVIOUS_SECRET_KEY to key ${oldId} and run \`roster secrets seal\``));
    assert.doesNotMatch(command.stderr, /rotate-key/);
  });

  test('secrets seal with both keys re-seals it with the current key, and says so; then the new key alone starts', async () => {
    const sealed = runRoster(scratch.url, ['secrets', 'seal'], both);
    assert.equal(sealed.status, 0, sealed.stderr);
    assert.equal(sealed.stderr, 'Sealed 0 secrets in plaintext and re-sealed 1 secret left under an earlier key with key ' + newId + '.\n');
    const secrets = await withStore((store) => store.db.selectFrom('webhooks').select('secret').execute());
    assert.ok(secrets.every((row) => row.secret.startsWith(`enc:v1:${newId}:`)));
    const status = runRoster(scratch.url, ['secrets', 'status'], { ROSTER_SECRET_KEY: newKey });
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, /ROSTER_SECRET_KEY is that key\.\n$/);
    const command = runRoster(scratch.url, ['webhooks', 'list'], { ROSTER_SECRET_KEY: newKey });
    assert.equal(command.status, 0, command.stderr);
  });
});
