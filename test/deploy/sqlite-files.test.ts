/**
 * The SQLite database file at start: who may read it (a new database is Roster's user's alone),
 * and whether Roster may write it (a file it cannot write stops it at start).
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openStore } from '../../src/store/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'roster-files-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const modeOf = (path: string): string => (statSync(path).mode & 0o777).toString(8);

test('a new SQLite database is created readable by its owner alone: directory 0700, file, -wal and -shm 0600', async () => {
  const path = join(dir, 'new', 'data', 'roster.db');
  const store = await openStore({ kind: 'sqlite', path });
  try {
    assert.equal(modeOf(join(dir, 'new')), '700');
    assert.equal(modeOf(join(dir, 'new', 'data')), '700');
    assert.equal(modeOf(path), '600');
    // Open in WAL mode: SQLite created them with the database file's mode.
    assert.equal(modeOf(`${path}-wal`), '600');
    assert.equal(modeOf(`${path}-shm`), '600');
  } finally {
    await store.close();
  }
});

test('an existing database file keeps the mode its owner gave it', async () => {
  const path = join(dir, 'existing.db');
  writeFileSync(path, '');
  chmodSync(path, 0o640);
  const store = await openStore({ kind: 'sqlite', path });
  await store.close();
  assert.equal(modeOf(path), '640');
});
