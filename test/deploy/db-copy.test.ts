/**
 * `roster db copy` round trip: SQLite → X → SQLite gives back the same data, where X is each
 * available database (PostgreSQL when ROSTER_TEST_POSTGRES_URL is set). The first hop runs
 * the real command line; the data is made through the real services.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import { decodeCursor } from '../../src/directory/event-feed.ts';
import { copyDatabase, COPIED_TABLES, CopyRefused } from '../../src/store/copy.ts';
import { createServices } from '../../src/services.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { createTestDatabase, eachDatabase, type ScratchDatabase } from '../support/databases.ts';
import { testCertificate } from '../support/app.ts';
import { createRateLimits } from '../../src/directory/rate-limits.ts';
import { rosterArgs } from '../support/roster-command.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const cli = { kind: 'cli' } as const;

/** Every row of every copied table, JSON columns parsed, in key order. */
async function dump(store: Store): Promise<Record<string, unknown[]>> {
  const result: Record<string, unknown[]> = {};
  for (const spec of COPIED_TABLES) {
    let query = store.db.selectFrom(spec.name).selectAll();
    for (const column of spec.key) query = query.orderBy(sql.ref(column));
    const rows = await query.execute();
    result[spec.name] = rows.map((row) => {
      const copy: Record<string, unknown> = { ...row };
      for (const column of spec.json ?? []) copy[column] = store.dialect.fromJsonColumn(copy[column]);
      return copy;
    });
  }
  return result;
}

/** Fills a store through the services: users with emails, groups with members, tokens, settings, audit events, a session. */
async function populate(store: Store): Promise<void> {
  const services = createServices(store);
  const saml = await services.saml.configure(
    { providerId: 'https://idp.example.com', loginUrl: 'https://idp.example.com/sso', certificates: [testCertificate()] },
    cli,
  );
  assert.ok(saml.ok);
  await services.provisioning.enable(cli);
  // A declared extension schema with a unique attribute (scim_schemas, scim_unique_values).
  const acme = 'urn:example:scim:acme:1.0:User';
  await services.scimSchemas.add({ id: acme, name: 'Acme', extends: 'User', attributes: [{ name: 'badge', type: 'string', uniqueness: 'server' }] }, cli);
  const ids: string[] = [];
  for (let i = 0; i < 12; i += 1) {
    const user = await services.users.create(
      {
        schemas: [USER],
        userName: `user${i}`,
        name: { givenName: `Given ${i}`, familyName: 'Family' },
        emails: [{ value: `user${i}@example.com`, primary: true }],
        externalId: `ext-${i}`,
        [acme]: { badge: `B-${i}` },
      },
      cli,
    );
    ids.push(user.scimId);
  }
  await services.users.remove(ids[11] as string, () => true, cli);
  await services.groups.create({ schemas: [GROUP], displayName: 'Everyone' }, ids.slice(0, 11), cli);
  await services.groups.create({ schemas: [GROUP], displayName: 'Few' }, ids.slice(0, 2), cli);
  await services.administrators.ensureAdministrator();
  const admin = await services.accounts.findByLogin('admin');
  assert.ok(admin);
  await services.tokens.create('okta', cli, admin.id);
  await services.tokens.revoke('okta', cli);
  const user = await store.db.selectFrom('users').select('id').where('login', '=', 'user0').executeTakeFirstOrThrow();
  const now = new Date().toISOString();
  await store.db.insertInto('sessions').values({ id: 'a'.repeat(64), user_id: user.id, created_at: now, last_seen_at: now, expires_at: now }).execute();
  await store.db.insertInto('known_browsers').values({ id: 'b'.repeat(64), user_id: user.id, expires_at: now }).execute();
  // The SAML bookkeeping too, so that every table (later migrations' included) carries rows.
  assert.ok(await services.samlSp.loginRedirect('/after-copy', undefined));
  await store.db.insertInto('saml_assertions').values({ id: '_assertion-1', expires_at: now }).execute();
  // A stretch of the feed a restore undid (roster db restore writes it): cursors in it stay refused after a copy.
  await store.db.insertInto('feed_gaps').values({ after_tx: 0, after_id: 1, through_tx: 0, through_id: 2, restored_at: now }).execute();
  await services.signIn.recordRefusal('not_provisioned', 'test', '192.0.2.1', { login: 'user0', name: null, email: 'user0@example.com', groups: null, nameId: 'user0' });
  // The provisioning activity: a request with a token, and one without (its budget row too).
  const request = { at: new Date(), method: 'GET', path: '/api/scim/v2/Users', query: '', filter: 'userName eq "user0"', status: 200, durationMs: 4, source: '192.0.2.1', failure: null };
  await services.activity.record([
    { ...request, token: { id: 'token-id', name: 'okta', login: 'admin' } },
    { ...request, status: 401, token: null, failure: { scimType: undefined, detail: 'Authentication required' } },
  ]);
  // A refused password sign-in: the backoff keeps its count.
  assert.equal((await services.passwordSignIn.signIn({ login: 'admin', password: 'wrong', source: '192.0.2.1' })).ok, false);
  // A token's rate-limit budget.
  await createRateLimits(store, { perMinute: 60, burst: 5 }).take('token:token-id');
  // An OpenID Connect application, and a row of what the provider stores (a grant).
  await services.applications.create({ name: 'Grafana', redirectUris: ['https://grafana.example.com/login/generic_oauth'], public: false, allowedGroups: ['Few'] }, cli);
  await new services.oidc.Adapter('Grant').upsert('grant-1', { accountId: user.id, clientId: 'client' }, 3600);
  // A back-channel logout waiting in the outbox (a deactivation writes those; no worker runs here).
  await store.db.insertInto('oidc_logouts').values({ id: 'logout-1', client_id: 'client', subject: user.id, cause: 'deactivated', created_at: now, attempts: 1, next_attempt_at: now, last_error: 'answered 503', claimed_by: null, lease_until: null }).execute();
  // A webhook endpoint and one logged attempt (the worker writes those; it does not run here).
  const { webhook } = await services.webhooks.create({ url: 'https://receiver.example.com/hook', types: ['user.created'] }, cli);
  await services.webhooks.rotateSecret(webhook.id, cli);
  await store.db.insertInto('webhook_deliveries').values({ webhook_id: webhook.id, event_id: 1, event_type: 'user.created', attempt: 1, at: now, status: 500, latency_ms: 12, response: 'oops', error: 'answered 500', outcome: 'retrying' }).execute();
  // More audit events than one page (500 rows), so that paging is exercised.
  const events = Array.from({ length: 1100 }, (_, i) => ({ at: now, actor: 'system', action: 'test.filler', target_type: 'user', target_id: null, details: JSON.stringify({ i }) }));
  for (let i = 0; i < events.length; i += 200) await store.db.insertInto('audit_events').values(events.slice(i, i + 200)).execute();
}

/** A change made on `services` after a copy is the first event after `cursor`, taken on the source. */
async function assertFeedContinues(services: ReturnType<typeof createServices>, cursor: string, login: string): Promise<void> {
  await services.users.create({ schemas: [USER], userName: login }, cli);
  const from = decodeCursor(cursor);
  assert.ok(from);
  let page = await services.eventFeed.read({ after: from, types: undefined, limit: 10 });
  // On PostgreSQL the feed waits for the server's oldest writing transaction, other tests' included.
  for (let waited = 0; page.kind === 'page' && page.events.length === 0 && waited < 30_000; waited += 50) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    page = await services.eventFeed.read({ after: from, types: undefined, limit: 10 });
  }
  assert.equal(page.kind, 'page');
  assert.deepEqual(page.kind === 'page' ? page.events.map((event) => [event.type, (event.data as { login: string }).login]) : [], [['user.created', login]]);
}

eachDatabase('db copy round trip through', (database) => {
  let origin: ScratchDatabase;
  let middle: ScratchDatabase;
  let back: ScratchDatabase;

  before(async () => {
    origin = await createTestDatabase('sqlite');
    middle = await createTestDatabase(database);
    back = await createTestDatabase('sqlite');
  });
  after(async () => {
    for (const scratch of [origin, middle, back]) await scratch.drop();
  });

  test('SQLite → here → SQLite gives the same users, groups, memberships, links, tokens and audit trail', async () => {
    const source = await openStore(origin.location);
    await populate(source);
    const before = await dump(source);
    // Where a reader of the source's event feed stands at the copy.
    const sourceEnd = await createServices(source).eventFeed.read({ after: 'now', types: undefined, limit: 1 });
    await source.close();
    // A table left empty here would be copied untested: a new table needs rows in populate().
    assert.deepEqual(COPIED_TABLES.filter((spec) => (before[spec.name]?.length ?? 0) === 0).map((spec) => spec.name), []);

    const run = spawnSync(process.execPath, rosterArgs('db', 'copy', '--from', origin.url, '--to', middle.url), { cwd: ROOT, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    // Progress is shown page by page: the audit trail is larger than one page.
    const events = before.audit_events?.length ?? 0;
    assert.ok(events > 1000);
    assert.match(run.stderr, new RegExp(`audit_events\\s+500 / ${events}\\n.*audit_events\\s+${events} / ${events}`, 's'));
    assert.match(run.stdout, /Copy complete/);
    // Counts line up under each other, however long the table's name (user_membership_changes).
    const columnOf = (lines: string[], marker: string) => new Set(lines.map((line) => line.indexOf(marker)));
    const progress = run.stderr.split('\n').filter((line) => / \/ \d+$/.test(line));
    const report = run.stdout.split('\n').filter((line) => /\d rows/.test(line));
    assert.equal(report.length, COPIED_TABLES.length, run.stdout);
    assert.equal(columnOf(progress, ' / ').size, 1, run.stderr);
    assert.equal(columnOf(report, ' rows').size, 1, run.stdout);

    const there = await openStore(middle.location);
    const home = await openStore(back.location);
    try {
      assert.deepEqual(await dump(there), before);
      const report = await copyDatabase(there, home, () => {});
      assert.ok(report.every((row) => row.source === row.target && row.source > 0 === (before[row.table]?.length ?? 0) > 0));
      assert.deepEqual(await dump(home), before);
      // The copied installation keeps working: new audit events follow the copied ones.
      const copied = createServices(there);
      const admin = await copied.accounts.findByLogin('admin');
      assert.ok(admin);
      await copied.tokens.create('after-copy', cli, admin.id);
      const last = await there.db.selectFrom('audit_events').select(['seq', 'action']).orderBy('seq', 'desc').executeTakeFirstOrThrow();
      assert.equal(last.action, 'token.created');
      assert.equal(last.seq, Math.max(...(before.audit_events as { seq: number }[]).map((row) => row.seq)) + 1);
      // And new feed events follow the copied ones: a reader's cursor goes on from where it was.
      await assertFeedContinues(copied, sourceEnd.next, 'after-copy');
      // Through two copies: `home` holds what `there` held when copied, which is what the source
      // held. (A cursor taken with after=now on PostgreSQL may stand behind the end while any
      // transaction on the server is open, other tests' included: the feed's horizon.)
      await assertFeedContinues(createServices(home), sourceEnd.next, 'after-second-copy');
    } finally {
      await there.close();
      await home.close();
    }
  });

  test('a source with a table the copy does not know is refused rather than copied in part', async () => {
    const extra = await createTestDatabase('sqlite');
    const empty = await createTestDatabase(database);
    const source = await openStore(extra.location);
    const target = await openStore(empty.location);
    try {
      await sql`CREATE TABLE added_later (id TEXT PRIMARY KEY)`.execute(source.db);
      await assert.rejects(copyDatabase(source, target, () => {}), (error: unknown) => error instanceof CopyRefused && /added_later/.test(error.message));
    } finally {
      await source.close();
      await target.close();
      await extra.drop();
      await empty.drop();
    }
  });

  test('a target that is not empty is refused, and left as it was', async () => {
    const run = spawnSync(process.execPath, rosterArgs('db', 'copy', '--from', origin.url, '--to', middle.url), { cwd: ROOT, encoding: 'utf8' });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /target database is not empty/);
  });
});

test('db copy from a SQLite file that does not exist is refused before anything is created', () => {
  const dir = mkdtempSync(join(tmpdir(), 'roster-copy-missing-'));
  try {
    const missing = join(dir, 'typo.db');
    const target = join(dir, 'target.db');
    const run = spawnSync(process.execPath, rosterArgs('db', 'copy', '--from', `sqlite:${missing}`, '--to', `sqlite:${target}`), { cwd: ROOT, encoding: 'utf8' });
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, /^The source database .*typo\.db does not exist: check the path in --from/m);
    assert.equal(existsSync(missing), false, 'the source was created');
    assert.equal(existsSync(target), false, 'the target was created');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('db copy into or out of sqlite::memory: is refused: that database is the command\'s own, empty and gone when it ends', () => {
  const dir = mkdtempSync(join(tmpdir(), 'roster-copy-memory-'));
  try {
    const file = join(dir, 'roster.db');
    const created = spawnSync(process.execPath, rosterArgs('tokens', 'list'), { cwd: ROOT, env: { ...process.env, ROSTER_DATABASE_URL: `sqlite:${file}` }, encoding: 'utf8' });
    assert.equal(created.status, 0, created.stderr);
    const copy = (from: string, to: string) => spawnSync(process.execPath, rosterArgs('db', 'copy', '--from', from, '--to', to), { cwd: ROOT, encoding: 'utf8' });

    // Before, this reported "Copy complete" for a copy that vanished with the process.
    const into = copy(`sqlite:${file}`, 'sqlite::memory:');
    assert.equal(into.status, 1, into.stdout + into.stderr);
    assert.match(into.stderr, /--to sqlite::memory: names a database in this command's memory, gone when it ends/);
    assert.doesNotMatch(into.stdout, /Copy complete/);

    const target = join(dir, 'target.db');
    const outOf = copy('sqlite::memory:', `sqlite:${target}`);
    assert.equal(outOf.status, 1, outOf.stdout + outOf.stderr);
    assert.match(outOf.stderr, /--from sqlite::memory: names a new, empty database in this command's memory/);
    assert.equal(existsSync(target), false, 'the target was created');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
