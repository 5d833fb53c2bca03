import assert from 'node:assert/strict';
import { randomBytes, scryptSync } from 'node:crypto';
import { after, before, test } from 'node:test';
import { usePasswordHashCost, verifyPassword } from '../../src/auth/passwords.ts';
import { createAdministrators } from '../../src/directory/administrators.ts';
import { createPasswordCheck } from '../../src/directory/password-check.ts';
import type { Store } from '../../src/store/index.ts';
import { eachDatabase, openTestStore } from '../support/databases.ts';

// What this file checks is the real cost (npm test preloads the test-only one).
usePasswordHashCost('owasp');

/** A hash as Roster 0.1 stored it: scrypt with N=2^14, the cost this version raises. */
function legacyHash(password: string): string {
  const salt = randomBytes(16);
  const key = scryptSync(password, salt, 32, { N: 2 ** 14, r: 8, p: 1 });
  return ['scrypt', 2 ** 14, 8, 1, salt.toString('base64url'), key.toString('base64url')].join('$');
}

eachDatabase('password sign-in check', (database) => {
  let store: Store;
  let password: string;
  before(async () => {
    store = await openTestStore(database);
    ({ password } = await createAdministrators(store).resetPassword('admin', { kind: 'cli' }));
  });
  after(() => store.close());

  const storedHash = async () => (await store.db.selectFrom('users').select('password_hash').where('login', '=', 'admin').executeTakeFirstOrThrow()).password_hash ?? '';

  test('new passwords are hashed with scrypt N=2^17, r=8, p=1 (OWASP)', async () => {
    assert.match(await storedHash(), /^scrypt\$131072\$8\$1\$/);
  });

  test('the right password signs in, in any case of the login; a wrong one or an unknown login does not', async () => {
    assert.equal((await createPasswordCheck(store).verify('ADMIN', password))?.user.login, 'admin');
    assert.equal(await createPasswordCheck(store).verify('admin', `${password}x`), undefined);
    assert.equal(await createPasswordCheck(store).verify('nobody', password), undefined);
  });

  test('a hash made with the old cost is replaced on the next successful sign-in, and audited', async () => {
    const old = legacyHash('correct horse battery staple');
    await store.db.updateTable('users').set({ password_hash: old }).where('login', '=', 'admin').execute();
    const versionBefore = (await store.db.selectFrom('users').select('version').where('login', '=', 'admin').executeTakeFirstOrThrow()).version;

    assert.equal(await createPasswordCheck(store).verify('admin', 'wrong password'), undefined);
    assert.equal(await storedHash(), old, 'a failed sign-in changes nothing');

    assert.equal((await createPasswordCheck(store).verify('admin', 'correct horse battery staple'))?.user.login, 'admin');
    const upgraded = await storedHash();
    assert.match(upgraded, /^scrypt\$131072\$8\$1\$/);
    assert.equal(await verifyPassword('correct horse battery staple', upgraded), true);
    const versionAfter = (await store.db.selectFrom('users').select('version').where('login', '=', 'admin').executeTakeFirstOrThrow()).version;
    assert.equal(versionAfter, versionBefore, 'a rehash is not a change clients see');
    const events = await store.db.selectFrom('audit_events').select('action').where('action', '=', 'user.password_rehashed').execute();
    assert.equal(events.length, 1);
  });

  test('deactivated accounts and accounts that sign in through SAML cannot use a password', async () => {
    await store.db.updateTable('users').set({ password_hash: legacyHash('pw one two three') }).where('login', '=', 'admin').execute();
    await store.db.updateTable('users').set({ active: 0 }).where('login', '=', 'admin').execute();
    assert.equal(await createPasswordCheck(store).verify('admin', 'pw one two three'), undefined);
    await store.db.updateTable('users').set({ active: 1, local: 0 }).where('login', '=', 'admin').execute();
    assert.equal(await createPasswordCheck(store).verify('admin', 'pw one two three'), undefined);
  });

  test('a stored hash with absurd parameters is refused, not computed', async () => {
    const forged = ['scrypt', 2 ** 30, 8, 1, 'c2FsdA', 'aGFzaA'].join('$');
    assert.equal(await verifyPassword('anything', forged), false);
  });
});
