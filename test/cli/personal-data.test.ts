/**
 * `roster users export <login>`: the person's data as the admin API answers it, printed as JSON
 * on stdout or written to a new file only its owner may read, and audited as the CLI's. A real
 * process on both databases, beside a running instance.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.ts';
import { runRoster } from '../support/cli.ts';
import { eachDatabase } from '../support/databases.ts';

const USERS = '/api/v2/users-management/users';

eachDatabase('roster users export', (database) => {
  let app: TestApp;
  let dir: string;
  let adaId: string;
  before(async () => {
    app = await startTestApp({ database, scim: false });
    dir = mkdtempSync(join(tmpdir(), 'roster-export-'));
    const created = await app.request('POST', USERS, { login: 'ada', name: 'Ada Lovelace', email: 'ada@corp.example', password: 'correct horse battery staple' });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    adaId = created.body.id;
    await app.tokenFor(adaId, 'ada-laptop');
  });
  after(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('prints the document as JSON on stdout, the same sections as the admin API, and the export is audited as the CLI\'s', async () => {
    const run = runRoster(app.databaseUrl, ['users', 'export', 'ADA']);
    assert.equal(run.status, 0, run.stderr);
    const data = JSON.parse(run.stdout);
    const api = (await app.request('GET', `${USERS}/${adaId}/personal-data`)).body;
    assert.deepEqual(Object.keys(data), Object.keys(api));
    assert.deepEqual([data.account.id, data.account.login, data.account.name, data.account.email], [adaId, 'ada', 'Ada Lovelace', 'ada@corp.example']);
    assert.deepEqual(data.apiTokens.items.map((item: { name: string }) => item.name), ['ada-laptop']);
    assert.doesNotMatch(run.stdout, /roster_[A-Za-z0-9_-]{20,}|scrypt\$/, 'no token secret, no password hash');
    const entries = (await app.request('GET', `/api/v2/audit-logs?action=user.personal_data_exported&targetId=${adaId}`)).body.auditLogs;
    assert.deepEqual(entries.map((entry: { actor: string }) => entry.actor), ['token:test-idp', 'cli'], 'newest first: the API\'s, then the CLI\'s');
  });

  test('--output writes a new file readable by its owner only, and never replaces one', () => {
    const file = join(dir, 'ada.json');
    const run = runRoster(app.databaseUrl, ['users', 'export', 'ada', '--output', file]);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, `Wrote the personal data of "ada" to ${file} (readable by you only).\n`);
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).account.login, 'ada');
    assert.equal(statSync(file).mode & 0o777, 0o600);

    const kept = join(dir, 'kept.json');
    writeFileSync(kept, 'mine');
    const refused = runRoster(app.databaseUrl, ['users', 'export', 'ada', '--output', kept]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /kept\.json" exists: personal data is written to a new file only/);
    assert.equal(readFileSync(kept, 'utf8'), 'mine');
  });

  test('an unknown login exits 1; no login, or a second one, is a usage error (exit 2)', () => {
    const unknown = runRoster(app.databaseUrl, ['users', 'export', 'nobody']);
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /No user has the login "nobody"\./);
    assert.equal(unknown.stdout, '');
    for (const args of [['users', 'export'], ['users', 'export', 'ada', 'bob'], ['users', 'export', 'ada', '--output', '']]) {
      const usage = runRoster(app.databaseUrl, args);
      assert.equal(usage.status, 2, args.join(' '));
      assert.match(usage.stderr, /Usage: roster users export <login> \[--output <file>\]/);
    }
  });
});
