/** `roster webhooks …` as a user runs it: a real process on a fresh SQLite file per test. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createServices } from '../../src/services.ts';
import { openStore } from '../../src/store/index.ts';
import { ROOT } from '../support/process.ts';
import { rosterArgs } from '../support/roster-command.ts';

let dir: string;
let count = 0;

function roster(database: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, rosterArgs(...args), {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, ROSTER_DATABASE_URL: `sqlite:${database}` },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const lastLine = (text: string): string => text.trimEnd().split('\n').at(-1) ?? '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'roster-cli-webhooks-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('roster webhooks', () => {
  test('create prints the signing secret alone on the last line; list shows the endpoint, never the secret', () => {
    const database = join(dir, `${(count += 1)}.db`);
    const created = roster(database, ['webhooks', 'create', '--url', 'https://app.example.com/hooks', '--types', 'user.created,group.user_added']);
    assert.equal(created.status, 0, created.stderr);
    const secret = lastLine(created.stdout);
    assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    const id = /Created webhook (\S+) for/.exec(created.stdout)?.[1] ?? '';
    const list = roster(database, ['webhooks', 'list']);
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`${id}\\s+enabled\\s+0\\s+https://app.example.com/hooks\\s+user.created,group.user_added`));
    assert.ok(!list.stdout.includes(secret));
  });

  test('disable, enable, rotate-secret, deliveries, replay and delete; each change in the audit log', async () => {
    const database = join(dir, `${(count += 1)}.db`);
    const created = roster(database, ['webhooks', 'create', '--url', 'http://127.0.0.1:9/hook']);
    const id = /Created webhook (\S+) for/.exec(created.stdout)?.[1] ?? '';
    const old = lastLine(created.stdout);

    assert.match(roster(database, ['webhooks', 'disable', id]).stdout, /Disabled webhook/);
    assert.match(roster(database, ['webhooks', 'list']).stdout, /disabled: disabled by an administrator/);
    assert.match(roster(database, ['webhooks', 'enable', id]).stdout, /Enabled webhook/);

    const rotated = roster(database, ['webhooks', 'rotate-secret', id]);
    assert.equal(rotated.status, 0, rotated.stderr);
    assert.match(lastLine(rotated.stdout), /^whsec_/);
    assert.notEqual(lastLine(rotated.stdout), old);
    assert.match(rotated.stdout, /previous one also signs until \d{4}-/);

    assert.equal(roster(database, ['webhooks', 'deliveries', id]).stdout.trim(), 'No deliveries yet.');

    assert.equal(roster(database, ['groups', 'create', '--name', 'replayed']).status, 0);
    const store = await openStore({ kind: 'sqlite', path: database });
    const page = await createServices(store).eventFeed.read({ after: undefined, types: ['group.created'], limit: 10 });
    await store.close();
    const eventId = page.kind === 'page' ? (page.events[0]?.id ?? '') : '';
    // A malformed value is a command line mistake: exit 2, naming the option.
    const malformed = roster(database, ['webhooks', 'replay', id, '--from', 'abc']);
    assert.equal(malformed.status, 2);
    assert.match(malformed.stderr, /^roster: --from "abc": must be the id of an event of the feed\n\nUsage: roster webhooks replay/m);
    const replayed = roster(database, ['webhooks', 'replay', id, '--from', eventId]);
    assert.equal(replayed.status, 0, replayed.stderr);
    assert.match(replayed.stdout, new RegExp(`delivers again from event ${eventId}`));
    const missing = roster(database, ['webhooks', 'replay', id, '--from', '424242']);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /The event 424242 is not in the feed/);
    assert.equal(roster(database, ['webhooks', 'replay', id]).status, 2);

    assert.match(roster(database, ['webhooks', 'delete', id]).stdout, /Deleted webhook/);
    const gone = roster(database, ['webhooks', 'disable', id]);
    assert.equal(gone.status, 1);
    assert.match(gone.stderr, /No webhook has the id/);

    const audit = roster(database, ['audit', 'export', '--target-type', 'webhook']);
    assert.equal(audit.status, 0, audit.stderr);
    const actions = audit.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { action: string }).action);
    assert.deepEqual(actions, ['webhook.created', 'webhook.disabled', 'webhook.enabled', 'webhook.secret_rotated', 'webhook.replayed', 'webhook.deleted']);
    assert.ok(!audit.stdout.includes('whsec_'), 'no secret in the audit log');
  });

  test('create refuses what is not an http(s) URL and unknown types (exit 1), and needs --url (exit 2)', () => {
    const database = join(dir, `${(count += 1)}.db`);
    const ftp = roster(database, ['webhooks', 'create', '--url', 'ftp://example.com/x']);
    assert.equal(ftp.status, 1);
    assert.match(ftp.stderr, /must be an absolute http or https URL/);
    const types = roster(database, ['webhooks', 'create', '--url', 'https://example.com/x', '--types', 'user.exploded']);
    assert.equal(types.status, 1);
    assert.match(types.stderr, /field types was rejected/);
    assert.equal(roster(database, ['webhooks', 'create']).status, 2);
  });
});
