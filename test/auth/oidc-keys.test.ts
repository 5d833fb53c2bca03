/**
 * Signing-key rotation with the new key published ahead (oidc-keys.ts): `keys rotate` publishes
 * a key that signs only PUBLISH_AHEAD_MS later, so that relying parties and caches that keep the
 * key set for a while know it before they meet a token it signed; `--now` signs at once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { KEY_GRACE_MS, PUBLISH_AHEAD_MS, keysChangeAt, loadOidcKeys, publishedKeys, rotateOidcKeys } from '../../src/auth/oidc-keys.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { createTestDatabase, openTestStore, POSTGRES_URL } from '../support/databases.ts';
import { waitForLockWaits } from '../support/lock-waits.ts';

const cli = { kind: 'cli' } as const;
let store: Store;
before(async () => {
  store = await openTestStore('sqlite');
});
after(() => store.close());

const kids = (keys: Record<string, unknown>[]): string[] => keys.map((key) => String(key.kid));

test('a rotation publishes the new key at once and signs with it from ten minutes later; the old key signs until then and stays published for the grace period after', async () => {
  const first = String((await loadOidcKeys(store)).material.signingKeys[0]?.jwk.kid);
  const before = Date.now();
  const rotation = await rotateOidcKeys(store, cli);
  assert.equal(rotation.alreadyWaiting, false);
  assert.deepEqual(rotation.retired, [first]);
  const signsFrom = Date.parse(rotation.signsFrom);
  assert.ok(signsFrom >= before + PUBLISH_AHEAD_MS && signsFrom <= Date.now() + PUBLISH_AHEAD_MS);
  const { material } = await loadOidcKeys(store);
  // The first key published signs: the old one until the new one's time, then the new one.
  assert.deepEqual(kids(publishedKeys(material, Date.now())), [first, rotation.kid]);
  assert.deepEqual(kids(publishedKeys(material, signsFrom - 1)), [first, rotation.kid]);
  assert.deepEqual(kids(publishedKeys(material, signsFrom)), [rotation.kid, first]);
  assert.deepEqual(kids(publishedKeys(material, signsFrom + KEY_GRACE_MS)), [rotation.kid], 'the grace period counts from when the old key stopped signing');
  // The provider is rebuilt when the signer changes, and when the old key leaves the JWKS.
  assert.equal(keysChangeAt(material, Date.now()), signsFrom);
  assert.equal(keysChangeAt(material, signsFrom), signsFrom + KEY_GRACE_MS);
  assert.equal(keysChangeAt(material, signsFrom + KEY_GRACE_MS), undefined);

  // Asked again while the key waits: nothing changes, and the answer says which key waits.
  const again = await rotateOidcKeys(store, cli);
  assert.deepEqual([again.alreadyWaiting, again.kid, again.signsFrom], [true, rotation.kid, rotation.signsFrom]);
  assert.deepEqual((await loadOidcKeys(store)).material, material);

  // --now makes the waiting key sign at once (it is the one relying parties have had longest).
  const now = await rotateOidcKeys(store, cli, { now: true });
  assert.deepEqual([now.alreadyWaiting, now.kid, now.retired], [false, rotation.kid, [first]]);
  assert.deepEqual(kids(publishedKeys((await loadOidcKeys(store)).material, Date.now())), [rotation.kid, first]);

  // With no key waiting, --now signs with a new key at once.
  const urgent = await rotateOidcKeys(store, cli, { now: true });
  assert.notEqual(urgent.kid, rotation.kid);
  assert.deepEqual(urgent.retired, [rotation.kid]);
  assert.deepEqual(kids(publishedKeys((await loadOidcKeys(store)).material, Date.now())), [urgent.kid, rotation.kid, first]);
  const audit = await store.db.selectFrom('audit_events').select(['details']).where('action', '=', 'oidc.keys_rotated').orderBy('seq').execute();
  assert.equal(audit.length, 3, 'a rotation that changed nothing is not audited');
  assert.doesNotMatch(audit.map((row) => row.details).join(''), /"d"|"p"|"q"/, 'key ids and times only, never key material');
});

describe('two rotations at once (on PostgreSQL)', { skip: POSTGRES_URL === undefined ? 'PostgreSQL skipped: set ROSTER_TEST_POSTGRES_URL to run it' : false }, () => {
  test('the second sees the key the first published and keeps it (alreadyWaiting), rather than overwriting it', async () => {
    const scratch = await createTestDatabase('postgres', { migrated: true });
    const first = await openStore(scratch.location);
    const second = await openStore(scratch.location);
    const holder = new pg.Client({ connectionString: scratch.url, application_name: 'oidc keys row holder' });
    await holder.connect();
    try {
      await loadOidcKeys(first);
      // Both rotations reach the keys' row while another transaction holds it, then go on together.
      await holder.query('BEGIN');
      await holder.query("SELECT value FROM settings WHERE key = 'oidc.keys' FOR UPDATE");
      const rotations = Promise.all([rotateOidcKeys(first, cli), rotateOidcKeys(second, cli)]);
      await waitForLockWaits(holder, 2);
      await holder.query('COMMIT');
      const [a, b] = await rotations;
      assert.deepEqual([a.alreadyWaiting, b.alreadyWaiting].sort(), [false, true]);
      assert.equal(a.kid, b.kid, 'both name the one key published');
      const { material } = await loadOidcKeys(first);
      assert.ok(kids(material.signingKeys.map((key) => key.jwk)).includes(a.kid), 'the key the rotations named is the one stored');
      assert.equal(material.signingKeys.length, 2, 'the first key and the one published');
    } finally {
      await holder.end();
      await first.close();
      await second.close();
      await scratch.drop();
    }
  });
});
