/**
 * The suite hashes new passwords at a test-only cost (test/support/fast-password-hashing.mjs);
 * Roster itself hashes at OWASP's. What keeps the two apart: a hash made at the lower cost
 * still verifies but is replaced at its next sign-in, and the `roster` processes a test starts
 * hash at the cost of that test, so a test that asks for the real cost gets it there too.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { hashPassword, needsRehash, passwordHashCost, usePasswordHashCost, verifyPassword } from '../../src/auth/passwords.ts';
import { openStore } from '../../src/store/index.ts';
import { rosterArgs } from '../support/roster-command.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('the test-only password cost', () => {
  const before = passwordHashCost();
  const directory = mkdtempSync(join(tmpdir(), 'roster-cost-'));
  after(() => {
    usePasswordHashCost(before);
    rmSync(directory, { recursive: true, force: true });
  });

  test('Roster hashes at the OWASP cost unless a test asks otherwise; a test-only hash verifies and is replaced at its next sign-in', async () => {
    usePasswordHashCost('test-only');
    const low = await hashPassword('correct horse battery staple');
    assert.match(low, /^scrypt\$1024\$8\$1\$/);
    assert.equal(needsRehash(low), false, 'not while the suite hashes at that cost');
    usePasswordHashCost('owasp');
    assert.equal(await verifyPassword('correct horse battery staple', low), true);
    assert.equal(await verifyPassword('wrong', low), false);
    assert.equal(needsRehash(low), true, 'at the OWASP cost the next sign-in stores a new hash');
    assert.match(await hashPassword('correct horse battery staple'), /^scrypt\$131072\$8\$1\$/);
  });

  for (const cost of ['test-only', 'owasp'] as const) {
    test(`a roster child process hashes at the cost of the test that starts it (${cost})`, async () => {
      usePasswordHashCost(cost);
      const path = join(directory, `${cost}.db`);
      const run = spawnSync(process.execPath, rosterArgs('admin', 'reset-password'), {
        cwd: ROOT,
        encoding: 'utf8',
        env: { ...process.env, ROSTER_DATABASE_URL: `sqlite:${path}`, ROSTER_BASE_URL: 'https://roster.example.com' },
      });
      assert.equal(run.status, 0, run.stderr);
      const store = await openStore({ kind: 'sqlite', path });
      try {
        const row = await store.db.selectFrom('users').select('password_hash').where('login', '=', 'admin').executeTakeFirstOrThrow();
        assert.match(row.password_hash ?? '', cost === 'owasp' ? /^scrypt\$131072\$/ : /^scrypt\$1024\$/);
        assert.equal(await verifyPassword(run.stdout.trimEnd().split('\n').at(-1) ?? '', row.password_hash ?? ''), true);
      } finally {
        await store.close();
      }
    });
  }
});
