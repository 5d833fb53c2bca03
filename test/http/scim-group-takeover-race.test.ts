/**
 * A SCIM `POST /Groups` whose name is a local group's takes that group over (docs/scim.md). An
 * administrator may still delete a local group while SCIM is on; found by the event-replay probe
 * (bench/event-replay.ts) on two PostgreSQL instances: a create meeting a deletion in progress
 * read the group before the deletion committed, then linked the group that was gone (a foreign
 * key violation, answered 500). The create now locks the group it takes over and reads it again.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { groupBody, startTestApp, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { waitForLockWaits } from '../support/lock-waits.ts';

eachDatabase('SCIM create of a local group being deleted', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database, scim: false });
  });
  after(() => app.close());

  test('makes a new group once the deletion commits', { skip: database === 'sqlite' ? 'SQLite runs one write transaction at a time: the deletion commits before the create reads' : false }, async () => {
    const local = await app.request('POST', '/api/v2/authorizations/groups', { name: 'hangar' });
    assert.equal(local.status, 201);
    assert.equal((await app.request('POST', '/api/scim_management/enable')).status, 204);
    // The deletion waits at its commit, its change made, while the create runs beside it.
    const holder = new pg.Client({ connectionString: app.databaseUrl });
    await holder.connect();
    let deleted: { status: number };
    let created: { status: number; body: any };
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT last_ticket FROM event_tickets FOR UPDATE');
      const deleting = app.request('DELETE', `/api/v2/authorizations/groups/${local.body.id}`);
      await waitForLockWaits(holder, 1);
      const creating = app.request('POST', '/Groups', groupBody('hangar'));
      await waitForLockWaits(holder, 2);
      await holder.query('ROLLBACK');
      [deleted, created] = await Promise.all([deleting, creating]);
    } finally {
      await holder.end();
    }
    assert.equal(deleted.status, 204);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const group = await app.services.groupManagement.findByName('hangar');
    assert.ok(group !== undefined && group.id !== local.body.id, 'a new group');
    assert.equal(group.scimId, created.body.id);
  });

  test('takes a local group over when nothing else happens to it', async () => {
    const scim = await app.request('GET', '/api/scim_management/status');
    if (scim.body.enabled) assert.equal((await app.request('POST', '/api/scim_management/disable?confirm=true')).status, 204);
    const local = await app.request('POST', '/api/v2/authorizations/groups', { name: 'dock' });
    assert.equal((await app.request('POST', '/api/scim_management/enable')).status, 204);
    const created = await app.request('POST', '/Groups', groupBody('dock'));
    assert.equal(created.status, 201);
    assert.equal((await app.services.groupManagement.findByName('dock'))?.id, local.body.id);
  });
});
