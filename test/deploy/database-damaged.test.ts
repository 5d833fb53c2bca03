/**
 * A SQLite file whose content is damaged (a page overwritten on the disk, as a failing disk or a
 * copy over a live file leaves it). SQLite refuses to read it with SQLITE_CORRUPT; Roster answers
 * that 503 in the SCIM error shape, saying the database is damaged and what to do, not a 500
 * "internal error" that sends the operator looking for a bug.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, openSync, rmSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sql } from 'kysely';
import { isDatabaseDamaged } from '../../src/store/index.ts';
import { SCIM, groupBody, startTestApp, userBody } from '../support/app.ts';

const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

test('SQLite: a damaged page is answered 503 naming the damage (was 500 "internal error")', async (t) => {
  const directory = mkdtempSync(join(tmpdir(), 'roster-damaged-'));
  t.after(() => rmSync(directory, { recursive: true, force: true }));
  const location = { kind: 'sqlite', path: join(directory, 'roster.db') } as const;

  const first = await startTestApp({ location });
  assert.equal((await first.request('POST', `${SCIM}/Users`, userBody('kept@example.com'))).status, 201);
  for (let i = 0; i < 50; i += 1) assert.equal((await first.request('POST', `${SCIM}/Groups`, groupBody(`group ${i} ${'x'.repeat(200)}`))).status, 201);
  const { db } = first.services.store;
  await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(db);
  const pageSize = Number((await sql<{ page_size: number }>`PRAGMA page_size`.execute(db)).rows[0]?.page_size);
  const root = Number((await sql<{ rootpage: number }>`SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = 'groups'`.execute(db)).rows[0]?.rootpage);
  // The next test app issues its token under the same name.
  await db.deleteFrom('tokens').execute();
  await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(db);
  await first.close();

  // The groups table's root page, overwritten with bytes no B-tree page begins with.
  const fd = openSync(location.path, 'r+');
  writeSync(fd, Buffer.alloc(pageSize, 0xa5), 0, pageSize, (root - 1) * pageSize);
  closeSync(fd);

  const roster = await startTestApp({ location });
  t.after(() => roster.close());
  const answer = await roster.request('GET', `${SCIM}/Groups`);
  assert.equal(answer.status, 503, JSON.stringify(answer.body));
  assert.deepEqual(answer.body.schemas, [ERROR_SCHEMA]);
  assert.equal(answer.body.status, '503');
  assert.match(answer.body.detail, /database reports that its content is damaged/);
  assert.match(answer.body.detail, /repair or restore/);
  // Nothing says "retry in a few seconds": no retry helps.
  assert.equal(answer.headers['retry-after'], undefined);

  const admin = await roster.app.inject({ method: 'GET', url: '/api/v2/authorizations/groups', headers: { authorization: `Bearer ${roster.token}` } });
  assert.equal(admin.statusCode, 503, admin.body);
  assert.match(JSON.parse(admin.body).message, /content is damaged/);

  // The process lives on: a restart does not repair the file.
  assert.equal((await roster.app.inject({ method: 'GET', url: '/livez' })).statusCode, 200);
});

test('what counts as a damaged database: SQLite corruption codes and PostgreSQL class XX data and index corruption, through causes', () => {
  for (const code of ['SQLITE_CORRUPT', 'SQLITE_CORRUPT_INDEX', 'SQLITE_CORRUPT_VTAB', 'SQLITE_NOTADB', 'XX001', 'XX002']) {
    assert.ok(isDatabaseDamaged(Object.assign(new Error('x'), { code })), code);
  }
  assert.ok(isDatabaseDamaged(new Error('wrapped', { cause: Object.assign(new Error('x'), { code: 'SQLITE_CORRUPT' }) })));
  for (const code of ['SQLITE_BUSY', 'SQLITE_IOERR', 'SQLITE_CONSTRAINT_UNIQUE', 'XX000', '23505', undefined]) {
    assert.ok(!isDatabaseDamaged(Object.assign(new Error('x'), { code })), String(code));
  }
});
