/**
 * Which accounts sign in with a password Roster generated (migration 023): the first start's
 * `admin`, `roster admin reset-password` and `roster users create` mark it; the user's own
 * change, and a password an administrator typed, do not. The console and /api/users/current ask
 * passwordSignIn.signsInWithGeneratedPassword.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { hashPassword } from '../../src/auth/passwords.ts';
import { createServices, type Services } from '../../src/services.ts';
import type { Store } from '../../src/store/index.ts';
import { createUserQueries } from '../../src/store/users.ts';
import { eachDatabase, openTestStore } from '../support/databases.ts';

const cli = { kind: 'cli' } as const;

eachDatabase('generated passwords', (database) => {
  let store: Store;
  let services: Services;
  before(async () => {
    store = await openTestStore(database);
    services = createServices(store);
  });
  after(async () => store.close());

  /** Whether the console would remind the user with this login. */
  async function reminded(login: string): Promise<boolean> {
    const user = await services.accounts.findByLogin(login);
    assert.ok(user, login);
    return services.passwordSignIn.signsInWithGeneratedPassword({ id: user.id, local: user.local, managed: user.scimId !== null });
  }

  /** The user's own change of password, from My account. */
  async function change(login: string, current: string, next: string): Promise<void> {
    const user = await services.accounts.findByLogin(login);
    assert.ok(user, login);
    const result = await services.passwordSignIn.changePassword({ userId: user.id, current, next, source: '192.0.2.1' });
    assert.equal(result.ok, true, `${login} changes its password`);
  }

  test("the first start's admin password is generated until admin chooses one; a reset generates it again", async () => {
    const issued = await services.administrators.ensureAdministrator();
    assert.ok(issued, 'admin created');
    assert.equal(await reminded('admin'), true, 'first start');
    await change('admin', issued.password, 'admin chose this one');
    assert.equal(await reminded('admin'), false, 'after the change');
    await services.administrators.resetPassword('admin', cli);
    assert.equal(await reminded('admin'), true, 'after reset-password');
  });

  test('users create: a generated password is marked, a password the administrator chose is not; reactivation sets it either way', async () => {
    const { password } = await services.accounts.createWithGeneratedPassword({ login: 'grace', name: 'Grace' }, cli);
    assert.equal(await reminded('grace'), true, 'created with a generated password');
    await change('grace', password, 'grace chose this one');
    assert.equal(await reminded('grace'), false);

    await services.accounts.create({ login: 'alan', name: 'Alan', password: 'typed by the admin' }, cli);
    assert.equal(await reminded('alan'), false, 'the administrator chose it');
    const alan = await services.accounts.findByLogin('alan');
    assert.ok(alan);
    await services.accounts.deactivate(alan.id, cli);
    await services.accounts.createWithGeneratedPassword({ login: 'alan', name: 'Alan' }, cli);
    assert.equal(await reminded('alan'), true, 'reactivated with a generated password');
    await services.accounts.deactivate(alan.id, cli);
    await services.accounts.create({ login: 'alan', name: 'Alan', password: 'typed again by the admin' }, cli);
    assert.equal(await reminded('alan'), false, 'reactivated with a password the administrator chose');

    await services.accounts.create({ login: 'saml-user', name: 'SAML', local: false }, cli);
    assert.equal(await reminded('saml-user'), false, 'a SAML account has no password');
  });

  test('a stronger hash of the generated password keeps the mark; a password an older instance sets ends it', async () => {
    const users = createUserQueries(store.dialect);
    const { user } = await services.accounts.createWithGeneratedPassword({ login: 'rehashed', name: 'Rehashed' }, cli);
    const before = await users.passwordHashOf(store.db, user.id);
    assert.ok(before);
    assert.equal(await users.replacePasswordHash(store.db, user.id, before, `${before}-stronger`), true);
    assert.equal(await reminded('rehashed'), true, 'same password, new hash');
    // What an instance from before migration 023 writes: password_hash only.
    await store.db.updateTable('users').set({ password_hash: await hashPassword('chosen on an older instance') }).where('id', '=', user.id).execute();
    assert.equal(await reminded('rehashed'), false);
  });
});

// A first-start password an older Roster generated (before migration 023) carried no mark after
// the upgrade: admin went on signing in with it, the file beside the database still held it, and
// the console never asked for another.
eachDatabase('a first-start password generated before the mark existed', (database) => {
  let store: Store;
  let directory: string;
  before(async () => {
    store = await openTestStore(database);
    directory = mkdtempSync(join(tmpdir(), 'roster-initial-'));
  });
  after(async () => {
    await store.close();
    rmSync(directory, { recursive: true, force: true });
  });

  test('is marked at start while its file still holds it, and the file goes once admin chooses another', async () => {
    const services = createServices(store, { initialPasswordDirectory: directory });
    let issued: { password: string } | undefined;
    await services.administrators.ensureAdministrator((password) => {
      issued = password;
      services.initialPassword?.write(password.password);
    });
    assert.ok(issued);
    // What the older version left: the password and its file, no mark.
    await store.db.updateTable('users').set({ generated_password_hash: null }).where('login', '=', 'admin').execute();
    const admin = await services.accounts.findByLogin('admin');
    assert.ok(admin);
    const who = { id: admin.id, local: admin.local, managed: false };
    assert.equal(await services.passwordSignIn.signsInWithGeneratedPassword(who), false);

    assert.equal(await services.administrators.discardStaleInitialPassword(), false, 'the file is kept');
    assert.equal(existsSync(join(directory, 'initial-admin-password')), true);
    assert.equal(await services.passwordSignIn.signsInWithGeneratedPassword(who), true, 'marked as generated');

    const changed = await services.passwordSignIn.changePassword({ userId: admin.id, current: issued.password, next: 'admin chose this one', source: '192.0.2.1' });
    assert.equal(changed.ok, true);
    assert.equal(await services.passwordSignIn.signsInWithGeneratedPassword(who), false);
    assert.equal(existsSync(join(directory, 'initial-admin-password')), false, 'the file went with the change');
    // A password admin chose is never marked, whatever the start finds.
    assert.equal(await services.administrators.discardStaleInitialPassword(), false);
    assert.equal(await services.passwordSignIn.signsInWithGeneratedPassword(who), false);
  });
});
