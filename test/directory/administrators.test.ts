import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generatePassword, hashPassword, verifyPassword } from '../../src/auth/passwords.ts';
import { createAdministrators } from '../../src/directory/administrators.ts';
import { membershipId, parseMembershipId } from '../../src/directory/memberships.ts';
import { openStore } from '../../src/store/index.ts';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'roster-admins-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('the bootstrap administrator', () => {
  test('two instances starting on one new database create it once; only one prints a password', async () => {
    const path = join(dir, 'race.db');
    const first = await openStore({ kind: 'sqlite', path });
    const second = await openStore({ kind: 'sqlite', path });
    try {
      const results = await Promise.all([createAdministrators(first).ensureAdministrator(), createAdministrators(second).ensureAdministrator()]);
      assert.equal(results.filter((result) => result !== undefined).length, 1);
      const admins = await first.db.selectFrom('users').select(['login', 'is_admin', 'local']).execute();
      assert.deepEqual(admins, [{ login: 'admin', is_admin: 1, local: 1 }]);
      assert.equal(await createAdministrators(first).ensureAdministrator(), undefined, 'later starts create nothing');
    } finally {
      await first.close();
      await second.close();
    }
  });

  test('tokens issued before tokens had owners are given to it, so an upgraded IdP keeps working', async () => {
    const store = await openStore({ kind: 'sqlite', path: ':memory:' });
    try {
      const now = new Date().toISOString();
      await store.db.insertInto('tokens').values({ id: 't1', name: 'legacy', user_id: null, hash: 'h', created_at: now, last_used_at: null, revoked_at: null }).execute();
      await createAdministrators(store).ensureAdministrator();
      const token = await store.db.selectFrom('tokens').select('user_id').where('id', '=', 't1').executeTakeFirstOrThrow();
      const admin = await store.db.selectFrom('users').select('id').where('login', '=', 'admin').executeTakeFirstOrThrow();
      assert.equal(token.user_id, admin.id);
    } finally {
      await store.close();
    }
  });

  test('reset-password sets a verifiable new password and refuses non-administrators', async () => {
    const store = await openStore({ kind: 'sqlite', path: ':memory:' });
    try {
      const administrators = createAdministrators(store);
      const issued = await administrators.resetPassword('admin', { kind: 'cli' });
      const again = await administrators.resetPassword('admin', { kind: 'cli' });
      const row = await store.db.selectFrom('users').select('password_hash').where('login', '=', 'admin').executeTakeFirstOrThrow();
      assert.equal(await verifyPassword(again.password, row.password_hash ?? ''), true);
      assert.equal(await verifyPassword(issued.password, row.password_hash ?? ''), false);
      await assert.rejects(administrators.resetPassword('nobody', { kind: 'cli' }), /No user has the login "nobody"/);
      const events = await store.db.selectFrom('audit_events').select(['action', 'details']).orderBy('seq').execute();
      assert.deepEqual(events.map((event) => event.action), ['user.created', 'user.password_reset']);
      assert.ok(events.every((event) => !(event.details ?? '').includes(again.password)));
    } finally {
      await store.close();
    }
  });
});

describe('passwords and membership ids', () => {
  test('scrypt hashes are salted and verify only the right password', async () => {
    const password = generatePassword();
    const [one, two] = [await hashPassword(password), await hashPassword(password)];
    assert.notEqual(one, two);
    assert.equal(await verifyPassword(password, one), true);
    assert.equal(await verifyPassword(`${password}x`, one), false);
    assert.equal(await verifyPassword(password, 'garbage'), false);
  });

  test('membership ids round-trip and reject anything else', () => {
    const id = membershipId('g-1', 'u-2');
    assert.deepEqual(parseMembershipId(id), { groupId: 'g-1', userId: 'u-2' });
    assert.equal(membershipId('g-1', 'u-2'), id, 'stable');
    for (const bad of ['', 'not base64!', Buffer.from('only-one-part').toString('base64url')]) assert.equal(parseMembershipId(bad), undefined);
  });
});
