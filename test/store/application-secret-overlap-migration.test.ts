/**
 * Migration 027 on a database whose applications were registered before it: each keeps its
 * secret, has no previous one, and can be rotated with an overlap afterwards.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import { createServices } from '../../src/services.ts';
import { hashClientSecret } from '../../src/directory/applications.ts';
import { openStore } from '../../src/store/index.ts';
import { createTestDatabase, eachDatabase, type ScratchDatabase } from '../support/databases.ts';

eachDatabase('migration 027: previous client secrets', (database) => {
  let scratch: ScratchDatabase;
  before(async () => {
    scratch = await createTestDatabase(database);
  });
  after(async () => scratch.drop());

  test('an application registered before the migration keeps its secret and has no previous one; a rotation afterwards keeps the old secret for the overlap', async () => {
    let store = await openStore(scratch.location);
    // The database as the version before 027 left it, with an application that version registered.
    await sql`ALTER TABLE oidc_applications DROP COLUMN previous_secret_expires_at`.execute(store.db);
    await sql`ALTER TABLE oidc_applications DROP COLUMN previous_secret_hash`.execute(store.db);
    await sql`DELETE FROM kysely_migration WHERE name = '027-application-secret-overlap'`.execute(store.db);
    const at = '2026-12-01T10:00:00.000Z';
    await sql`INSERT INTO oidc_applications (client_id, name, secret_hash, redirect_uris, allowed_groups, created_at, updated_at)
      VALUES ('before-027', 'Older', ${hashClientSecret('the old secret')}, ${JSON.stringify(['https://older.example.com/cb'])}, '[]', ${at}, ${at})`.execute(store.db);
    await store.close();

    store = await openStore(scratch.location);
    try {
      const { applications } = createServices(store);
      const stored = await applications.findForProvider('before-027');
      assert.deepEqual([stored?.secretHash, stored?.previousSecretHash, stored?.previousSecretExpiresAt], [hashClientSecret('the old secret'), null, null]);
      assert.equal((await applications.get('before-027')).previousSecretExpiresAt, null);
      const rotation = await applications.rotateSecret('before-027', { kind: 'cli' }, { overlapSeconds: 600 });
      const after = await applications.findForProvider('before-027');
      assert.deepEqual([after?.secretHash, after?.previousSecretHash], [hashClientSecret(rotation.secret), hashClientSecret('the old secret')]);
      assert.equal(after?.previousSecretExpiresAt, rotation.application.previousSecretExpiresAt);
    } finally {
      await store.close();
    }
  });
});
