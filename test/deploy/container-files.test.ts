/**
 * The container files, read as Docker would (no Docker engine on the test machines): the image
 * runs as `node`, so the folder where first start writes the password of `admin`
 * (ROSTER_DATA_DIR) must be set, created and given to `node` before `USER node`, and compose.yaml
 * (PostgreSQL, so the password file goes to ROSTER_DATA_DIR, not beside a SQLite file) must keep
 * it on a volume. The default, ./data = /app/data, is root's: first start exited with EACCES.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { initialPasswordDirectory, initialPasswordFileName, loadConfig } from '../../src/config.ts';
import { ROOT } from '../support/process.ts';

/** The instructions of the Dockerfile's last stage, continuation lines joined, comments dropped. */
function runtimeStage(): string[] {
  const lines = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ').split('\n').filter((line) => line.trim() !== '' && !line.trimStart().startsWith('#'));
  const from = lines.map((line, index) => (/^FROM\s/i.test(line) ? index : -1)).filter((index) => index >= 0).pop() ?? 0;
  return lines.slice(from);
}

test('the image sets ROSTER_DATA_DIR to a folder it creates for the node user before running as node', () => {
  const stage = runtimeStage();
  const env = stage.filter((line) => /^ENV\s/i.test(line)).join(' ');
  const dataDir = /\bROSTER_DATA_DIR=(\S+)/.exec(env)?.[1];
  assert.ok(dataDir !== undefined && dataDir.startsWith('/'), `ROSTER_DATA_DIR is not set to an absolute path in the runtime stage: ${env}`);
  const user = stage.findIndex((line) => /^USER\s+node\b/i.test(line));
  assert.ok(user > 0, 'the runtime stage runs as node');
  const created = stage.slice(0, user).some((line) => /^RUN\s/i.test(line) && line.includes(`mkdir -p ${dataDir}`) && line.includes(`chown node:node ${dataDir}`));
  assert.ok(created, `${dataDir} is created and given to node before USER node`);
});

test('compose.yaml keeps the roster service\'s ROSTER_DATA_DIR on a named volume', () => {
  const compose = readFileSync(join(ROOT, 'compose.yaml'), 'utf8');
  const service = /\n {2}roster:\n((?: {4}.*\n|\s*\n)+)/.exec(compose)?.[1] ?? '';
  const dataDir = /^\s+ROSTER_DATA_DIR:\s*(\S+)/m.exec(service)?.[1];
  assert.ok(dataDir !== undefined, 'the roster service sets ROSTER_DATA_DIR');
  const volume = new RegExp(`^\\s+- (\\w+):${dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`, 'm').exec(service)?.[1];
  assert.ok(volume !== undefined, `the roster service mounts a volume at ${dataDir}`);
  assert.match(compose, new RegExp(`\\nvolumes:\\n(?: {2}\\S+:\\n)*? {2}${volume}:`), `the volume ${volume} is declared`);
});

test('the password file compose.yaml and deploy.md tell the user to read is the one Roster writes for compose.yaml\'s database', () => {
  const compose = readFileSync(join(ROOT, 'compose.yaml'), 'utf8');
  const service = /\n {2}roster:\n((?: {4}.*\n|\s*\n)+)/.exec(compose)?.[1] ?? '';
  const url = /^\s+ROSTER_DATABASE_URL:\s*(\S+)/m.exec(service)?.[1];
  const dataDir = /^\s+ROSTER_DATA_DIR:\s*(\S+)/m.exec(service)?.[1];
  assert.ok(url !== undefined && dataDir !== undefined, 'the roster service sets ROSTER_DATABASE_URL and ROSTER_DATA_DIR');
  const config = loadConfig({ ROSTER_DATABASE_URL: url, ROSTER_DATA_DIR: dataDir });
  const written = join(initialPasswordDirectory(config) ?? '', initialPasswordFileName(config.database));
  const deploy = readFileSync(join(ROOT, 'docs/deploy.md'), 'utf8');
  const told = [...`${compose}\n${deploy}`.matchAll(/docker compose exec roster cat (\S+)/g)].map(([, path]) => path);
  assert.ok(told.length >= 3, told.join(' '));
  for (const path of told) assert.equal(path, written, 'a user who runs the documented command finds the file');
});
