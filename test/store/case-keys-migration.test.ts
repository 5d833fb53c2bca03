/**
 * Migration 011 on a database written before it: case keys filled for every row, and names that
 * become equal under Unicode case folding kept, marked and reported rather than failing the
 * migration (or silently merging two people).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Migrator, sql, type Kysely, type Migration } from 'kysely';
import { createServices, type Services } from '../../src/services.ts';
import type { DialectAdapter } from '../../src/store/dialect.ts';
import { migrate } from '../../src/store/migrate.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import * as initial from '../../src/store/migrations/001-initial.ts';
import * as accounts from '../../src/store/migrations/002-accounts-and-sessions.ts';
import * as signInAttempts from '../../src/store/migrations/003-saml-sign-in-attempts.ts';
import * as managedMode from '../../src/store/migrations/004-managed-mode.ts';
import * as samlBinding from '../../src/store/migrations/005-saml-binding-and-audit-budget.ts';
import * as embeddedVersions from '../../src/store/migrations/007-embedded-versions.ts';
import * as passwordBackoff from '../../src/store/migrations/008-password-backoff.ts';
import * as provisioningActivity from '../../src/store/migrations/009-provisioning-activity.ts';
import * as oidc from '../../src/store/migrations/012-oidc.ts';
import { createTestDatabase, eachDatabase, turnScimOn, type ScratchDatabase } from '../support/databases.ts';

const BEFORE_011: Record<string, (db: Kysely<unknown>, dialect: DialectAdapter) => Promise<void>> = {
  '001-initial': initial.up,
  '002-accounts-and-sessions': accounts.up,
  '003-saml-sign-in-attempts': signInAttempts.up,
  '004-managed-mode': managedMode.up,
  '005-saml-binding-and-audit-budget': samlBinding.up,
  '007-embedded-versions': embeddedVersions.up,
  '008-password-backoff': passwordBackoff.up,
  '009-provisioning-activity': provisioningActivity.up,
  // Released before 011: a database that ran it must still take 011 (unordered migrations).
  '012-oidc': oidc.up,
};

const cli = { kind: 'cli' } as const;

/** Brings a fresh database to the schema Roster had before migration 011, 012 included. */
async function migrateBefore011(store: Store): Promise<void> {
  const migrations: Record<string, Migration> = {};
  for (const [name, up] of Object.entries(BEFORE_011)) migrations[name] = { up: (db) => up(db, store.dialect) };
  const { error } = await new Migrator({ db: store.db, provider: { getMigrations: async () => migrations } }).migrateToLatest();
  if (error) throw error;
}

eachDatabase('migration 011: case keys for existing rows', (database) => {
  let scratch: ScratchDatabase;
  let store: Store;
  let services: Services;
  // PostgreSQL's old lower(login) index already folded É, so only SQLite can hold Émile and émile.
  const sqliteOnly = database === 'sqlite';

  before(async () => {
    scratch = await createTestDatabase(database);
    store = await openStore(scratch.location, { migrate: false });
    await migrateBefore011(store);
    const json = (value: unknown) => store.dialect.toJsonParameter(value);
    const users: [string, string, string, Record<string, unknown>][] = [
      ['u1', 'STRASSE@example.com', '2024-01-01T00:00:00.000Z', {}],
      ['u2', 'straße@example.com', '2024-02-01T00:00:00.000Z', {}],
      ['u3', 'mueller@example.com', '2024-03-01T00:00:00.000Z', { name: { familyName: 'Müller' } }],
      ...(sqliteOnly
        ? ([
            ['u4', 'émile@example.com', '2024-04-01T00:00:00.000Z', {}],
            ['u5', 'Émile@example.com', '2023-12-01T00:00:00.000Z', {}],
          ] as [string, string, string, Record<string, unknown>][])
        : []),
    ];
    for (const [id, login, createdAt, data] of users) {
      await sql`INSERT INTO users (id, login, display_name, email, active, local, external_id, scim_data, created_at, updated_at, version)
        VALUES (${id}, ${login}, NULL, NULL, 1, 0, NULL, ${json(data)}, ${createdAt}, ${createdAt}, 1)`.execute(store.db);
      await sql`INSERT INTO scim_users (scim_id, user_id) VALUES (${`s-${id}`}, ${id})`.execute(store.db);
    }
    await sql`INSERT INTO user_emails (user_id, position, value, type, is_primary, display) VALUES ('u3', 0, 'Ölaf.Müller@Example.com', 'Work', 1, NULL)`.execute(store.db);
    for (const [id, name, createdAt] of [['g1', 'MASSE', '2024-01-01T00:00:00.000Z'], ['g2', 'maße', '2024-01-02T00:00:00.000Z']]) {
      await sql`INSERT INTO groups (id, name, description, external_id, scim_data, created_at, updated_at, version) VALUES (${id}, ${name}, NULL, NULL, ${json({})}, ${createdAt}, ${createdAt}, 1)`.execute(store.db);
    }
    await migrate(store);
    // The rows above are SCIM users: as in the database they came from, SCIM is on.
    await turnScimOn(store);
    services = createServices(store);
  });
  after(async () => {
    await store.close();
    await scratch.drop();
  });

  async function userNames(filter: string): Promise<string[]> {
    const { parseFilter } = await import('../../src/scim/filter/index.ts');
    const parsed = parseFilter(filter);
    assert.ok(parsed.ok);
    const result = await services.users.list({ filter: parsed.value, locationBase: 'https://roster.test/api/scim/v2/Users/', descending: false, page: { kind: 'index', offset: 0, limit: 100 }, withGroups: false });
    return result.items.map((user) => user.user.login).sort();
  }

  test('keeps every row whose name became equal to another, marks all but the oldest, and lists them', async () => {
    const rows = await store.db.selectFrom('users').select(['id', 'login_key', 'login_conflict']).orderBy('id').execute();
    const marks = Object.fromEntries(rows.map((row) => [row.id, row.login_conflict]));
    assert.equal(marks.u1, 0, 'STRASSE is older than straße: it keeps the name');
    assert.equal(marks.u2, 1);
    assert.equal(marks.u3, 0);
    if (sqliteOnly) assert.deepEqual([marks.u5, marks.u4], [0, 1], 'the oldest keeps the name');

    const conflicts = await services.caseConflicts.list();
    assert.deepEqual(
      conflicts.map((conflict) => [conflict.kind, conflict.members.map((member) => member.name)]),
      [
        ['user', ['STRASSE@example.com', 'straße@example.com']],
        // Keys in code-point order: "émile" (U+00E9) after "strasse".
        ...(sqliteOnly ? [['user', ['Émile@example.com', 'émile@example.com']]] : []),
        ['group', ['MASSE', 'maße']],
      ],
    );
  });

  test('records one audit event per conflicting set, naming the rows and what to do', async () => {
    const events = await store.db.selectFrom('audit_events').select(['action', 'actor', 'target_id', 'details']).where('action', 'like', '%.name_conflict').orderBy('seq').execute();
    const users = events.filter((event) => event.action === 'user.name_conflict');
    assert.equal(users.length, sqliteOnly ? 2 : 1);
    const strasse = users.map((event) => JSON.parse(event.details ?? '{}')).find((details) => details.key === 'strasse@example.com');
    assert.deepEqual(strasse.kept, { id: 'u1', login: 'STRASSE@example.com' });
    assert.deepEqual(strasse.conflicting, [{ id: 'u2', login: 'straße@example.com' }]);
    assert.match(strasse.reason, /rename one/);
    const group = events.find((event) => event.action === 'group.name_conflict');
    assert.equal(group?.actor, 'system');
    assert.equal(group?.target_id, 'g1');
  });

  test('fills the keys that lookups and filters read: names, emails, JSON attributes', async () => {
    assert.deepEqual(await userNames('userName eq "strasse@EXAMPLE.com"'), ['STRASSE@example.com', 'straße@example.com'], 'both match; neither is lost');
    assert.deepEqual(await userNames('emails[value eq "ölaf.müller@example.com" and type eq "work"]'), ['mueller@example.com']);
    assert.deepEqual(await userNames('name.familyName eq "MÜLLER"'), ['mueller@example.com']);
    assert.equal((await services.accounts.findByLogin('straße@example.com'))?.id, 'u2', 'the exact spelling finds its own account');
    assert.equal((await services.accounts.findByLogin('STRASSE@EXAMPLE.COM'))?.id, 'u1', 'otherwise the one that kept the name');
  });

  test('a marked user stays writable, no new name can join a set, and renaming resolves it', async () => {
    const patched = await services.users.update('s-u2', (current) => ({ ...current, displayName: 'Anna Straße' }), () => true, cli);
    assert.equal(patched.user.displayName, 'Anna Straße');
    await assert.rejects(services.users.create({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'STRAẞE@example.com' }, cli), /already used/);
    await services.users.update('s-u2', (current) => ({ ...current, userName: 'anna@example.com' }), () => true, cli);
    const remaining = await services.caseConflicts.list();
    assert.ok(!remaining.some((conflict) => conflict.key === 'strasse@example.com'), JSON.stringify(remaining));
    await assert.rejects(services.users.update('s-u2', (current) => ({ ...current, userName: 'straße@example.com' }), () => true, cli), /already used/);
  });
});
