import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { createTokenService, TOKEN_PREFIX, type TokenService } from '../../src/auth/tokens.ts';
import type { Actor } from '../../src/journal/actor.ts';
import { createAdministrators } from '../../src/directory/administrators.ts';
import { DirectoryError } from '../../src/errors.ts';
import type { Store } from '../../src/store/index.ts';
import { eachDatabase, openTestStore } from '../support/databases.ts';

const cli: Actor = { kind: 'cli' };

eachDatabase('token service', (database) => {
  let store: Store;
  let tokens: TokenService;

  let adminId: string;

  beforeEach(async () => {
    store = await openTestStore(database);
    tokens = createTokenService(store);
    await createAdministrators(store).ensureAdministrator();
    adminId = (await store.db.selectFrom('users').select('id').where('login', '=', 'admin').executeTakeFirstOrThrow()).id;
  });
  afterEach(async () => {
    await store.close();
  });

  test('create issues a prefixed 256-bit token that verifies', async () => {
    const { token, record } = await tokens.create('entra-id', cli, adminId);
    assert.match(token, /^roster_[A-Za-z0-9_-]{43}$/);
    assert.ok(token.startsWith(TOKEN_PREFIX));
    assert.equal(record.name, 'entra-id');
    assert.equal(record.userId, adminId);
    assert.equal(record.revokedAt, null);
    const verified = await tokens.verify(token);
    assert.equal(verified?.id, record.id);
  });

  test('tokens keep authenticating when a later migration adds columns while the server runs (a rolling upgrade)', async () => {
    const { token } = await tokens.create('entra-id', cli, adminId);
    // On PostgreSQL the lookup is a prepared statement kept per connection: its result must not
    // depend on the tables' whole column lists.
    for (let i = 0; i < 3; i += 1) assert.equal((await tokens.authenticate(token, 'roster-administrators'))?.owner?.administrator, true);
    await sql`ALTER TABLE tokens ADD COLUMN added_later TEXT`.execute(store.db);
    await sql`ALTER TABLE users ADD COLUMN added_later TEXT`.execute(store.db);
    await sql`ALTER TABLE scim_schemas ADD COLUMN added_later TEXT`.execute(store.db);
    for (let i = 0; i < 3; i += 1) assert.equal((await tokens.authenticate(token, 'roster-administrators'))?.owner?.administrator, true);
  });

  test('only the SHA-256 hex hash is stored, and no secret reaches the audit log', async () => {
    const { token, record } = await tokens.create('okta', cli, adminId);
    const row = await store.db.selectFrom('tokens').selectAll().where('id', '=', record.id).executeTakeFirstOrThrow();
    assert.equal(row.hash, createHash('sha256').update(token).digest('hex'));
    const dump = JSON.stringify([
      await store.db.selectFrom('tokens').selectAll().execute(),
      await store.db.selectFrom('audit_events').selectAll().execute(),
    ]);
    assert.ok(!dump.includes(token.slice(TOKEN_PREFIX.length)), 'the secret must not be stored');
    const events = await store.db.selectFrom('audit_events').selectAll().execute();
    assert.ok(events.every((event) => !(event.details ?? '').includes(row.hash)), 'the hash must not be in the audit log');
  });

  test('TokenInfo never carries the hash', async () => {
    const { token, record } = await tokens.create('a', cli, adminId);
    const listed = await tokens.list();
    const verified = await tokens.verify(token);
    for (const info of [record, verified]) {
      assert.deepEqual(Object.keys(info ?? {}).sort(), ['createdAt', 'id', 'lastUsedAt', 'name', 'revokedAt', 'userId']);
    }
    // A list names each token's owner too (read with the tokens, in one statement).
    for (const info of listed) {
      assert.deepEqual(Object.keys(info).sort(), ['createdAt', 'id', 'lastUsedAt', 'name', 'ownerLogin', 'revokedAt', 'userId']);
      assert.equal(info.ownerLogin, 'admin');
    }
    assert.deepEqual((await tokens.list(adminId)).map((info) => info.name), listed.filter((info) => info.userId === adminId).map((info) => info.name));
    assert.deepEqual(await tokens.list('no-such-user'), []);
  });

  test('verify refuses unknown, malformed and differently-prefixed tokens', async () => {
    const { token } = await tokens.create('a', cli, adminId);
    const other = 'roster_' + 'A'.repeat(43);
    assert.equal(await tokens.verify(other), undefined);
    assert.equal(await tokens.verify(''), undefined);
    assert.equal(await tokens.verify(token.slice(0, -1)), undefined);
    assert.equal(await tokens.verify(token + 'x'), undefined);
    assert.equal(await tokens.verify('sonar_' + token.slice(TOKEN_PREFIX.length)), undefined);
  });

  test('names are 1 to 100 characters', async () => {
    for (const name of ['', '   ', 'x'.repeat(101), 'bad\nname']) {
      await assert.rejects(tokens.create(name, cli, adminId), (error: unknown) => {
        assert.ok(error instanceof DirectoryError);
        assert.equal(error.code, 'invalid');
        assert.equal(error.field, 'name');
        return true;
      });
    }
    const { record } = await tokens.create('x'.repeat(100), cli, adminId);
    assert.equal(record.name.length, 100);
  });

  test('a name is unique among live tokens, and free again once revoked', async () => {
    await tokens.create('entra-id', cli, adminId);
    await assert.rejects(tokens.create('entra-id', cli, adminId), (error: unknown) => {
      assert.ok(error instanceof DirectoryError);
      assert.equal(error.code, 'conflict');
      assert.match(error.message, /"entra-id" already exists/);
      return true;
    });
    assert.equal(await tokens.revoke('entra-id', cli), true);
    const again = await tokens.create('entra-id', cli, adminId);
    assert.equal(again.record.name, 'entra-id');
  });

  test('revoke makes verify fail and records token.revoked; unknown names give false', async () => {
    const { token, record } = await tokens.create('a', cli, adminId);
    assert.equal(await tokens.revoke('a', cli), true);
    assert.equal(await tokens.verify(token), undefined);
    assert.equal(await tokens.revoke('a', cli), false);
    assert.equal(await tokens.revoke('nope', cli), false);

    const events = await store.db.selectFrom('audit_events').selectAll().orderBy('seq').execute();
    assert.deepEqual(
      events.map((event) => [event.action, event.target_type, event.target_id, event.actor]),
      [
        ['user.created', 'user', adminId, 'system'],
        ['token.created', 'token', record.id, 'cli'],
        ['token.revoked', 'token', record.id, 'cli'],
      ],
    );
    assert.deepEqual(JSON.parse(events[2]?.details ?? 'null'), { name: 'a' });
  });

  test('list returns live and revoked tokens, oldest first', async () => {
    await tokens.create('first', cli, adminId);
    await tokens.create('second', cli, adminId);
    await tokens.revoke('first', cli);
    const listed = await tokens.list();
    assert.deepEqual(
      listed.map((info) => [info.name, info.revokedAt === null]),
      [
        ['first', false],
        ['second', true],
      ],
    );
  });

  test('last_used_at is written on first use, then at most once a minute', async () => {
    const { token, record } = await tokens.create('a', cli, adminId);
    const lastUsed = async (): Promise<string | null> =>
      (await store.db.selectFrom('tokens').select('last_used_at').where('id', '=', record.id).executeTakeFirstOrThrow()).last_used_at;

    const first = await tokens.verify(token);
    const stamped = await lastUsed();
    assert.ok(stamped !== null);
    assert.equal(first?.lastUsedAt, stamped);

    await tokens.verify(token);
    assert.equal(await lastUsed(), stamped, 'a second use within a minute writes nothing');

    const twoMinutesAgo = new Date(Date.now() - 120_000).toISOString();
    await store.db.updateTable('tokens').set({ last_used_at: twoMinutesAgo }).where('id', '=', record.id).execute();
    await tokens.verify(token);
    const refreshed = await lastUsed();
    assert.ok(refreshed !== null && refreshed > twoMinutesAgo);
  });

  test('a token may act as an existing active user, not an unknown or deactivated one', async () => {
    const now = new Date().toISOString();
    const user = { login: 'ada', login_key: 'ada', active: 1, local: 0, version: 1, scim_data: '{}', created_at: now, updated_at: now };
    await store.db.insertInto('users').values({ ...user, id: 'u1' }).execute();
    await store.db.insertInto('users').values({ ...user, id: 'u2', login: 'bob', login_key: 'bob', active: 0 }).execute();

    const { token, record } = await tokens.create('ada-script', cli, 'u1');
    assert.equal(record.userId, 'u1');
    assert.equal((await tokens.verify(token))?.userId, 'u1');

    await assert.rejects(tokens.create('ghost', cli, 'missing'), (error: unknown) => error instanceof DirectoryError && error.code === 'not_found');
    await assert.rejects(tokens.create('bob', cli, 'u2'), (error: unknown) => error instanceof DirectoryError && error.code === 'invalid');
  });
});
