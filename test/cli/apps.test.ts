/** `roster apps …` and `roster keys rotate`, run as a user would, then checked against a running app on the same database. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { buildApp } from '../../src/http/app.ts';
import { createServices } from '../../src/services.ts';
import { openStore } from '../../src/store/index.ts';
import { rosterArgs } from '../support/roster-command.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BASE = 'https://roster.example.com';
let dir: string;
let database: string;

function roster(args: string[]) {
  const result = spawnSync(process.execPath, rosterArgs(...args), {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, ROSTER_DATABASE_URL: `sqlite:${database}`, ROSTER_BASE_URL: BASE },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, lines: result.stdout.trimEnd().split('\n') };
}

/** POSTs to the introspection endpoint with HTTP Basic client credentials; returns the status. */
async function introspectAs(clientId: string, secret: string): Promise<number> {
  const store = await openStore({ kind: 'sqlite', path: database });
  try {
    const app = await buildApp({ services: createServices(store, { baseUrl: BASE }), baseUrl: BASE });
    const response = await app.inject({
      method: 'POST',
      url: '/oidc/token/introspection',
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'token=not-a-token',
    });
    await app.close();
    return response.statusCode;
  } finally {
    await store.close();
  }
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'roster-apps-'));
  database = join(dir, 'roster.db');
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('apps create prints the client id and the secret alone on the last two lines; the secret authenticates, a wrong one does not', async () => {
  const run = roster(['apps', 'create', '--name', 'Grafana', '--redirect-uri', 'https://grafana.example.com/login/generic_oauth', '--allowed-group', 'grafana-users']);
  assert.equal(run.status, 0, run.stderr);
  const [clientId, secret] = run.lines.slice(-2) as [string, string];
  assert.match(clientId, /^[\w-]{22}$/);
  assert.match(secret, /^[\w-]{43}$/);
  assert.equal(await introspectAs(clientId, secret), 200);
  assert.equal(await introspectAs(clientId, `${secret}x`), 401);
  // No group of that name exists: a warning on stderr, the secret still alone on stdout's last line.
  assert.match(run.stderr, /warning: no group is named "grafana-users": nobody can sign in to this application until one of its allowed groups exists/);
  // One allowed group exists: the warning names the other without saying that nobody can sign in.
  assert.equal(roster(['groups', 'create', '--name', 'loki-users']).status, 0);
  const partly = roster(['apps', 'create', '--name', 'Loki', '--redirect-uri', 'https://loki.example.com/cb', '--allowed-group', 'loki-users', '--allowed-group', 'loki-admnis']);
  assert.equal(partly.status, 0, partly.stderr);
  assert.match(partly.stderr, /^warning: no group is named "loki-admnis": only members of its other allowed groups can sign in to this application \(check the spelling/m);

  const listed = roster(['apps', 'list']);
  assert.equal(listed.status, 0, listed.stderr);
  assert.match(listed.stdout, new RegExp(`${clientId}\\s+Grafana\\s+confidential\\s+grafana-users\\s+https://grafana.example.com/login/generic_oauth`));
  assert.doesNotMatch(listed.stdout, new RegExp(secret));

  // Rotated with the default overlap: the old secret keeps working beside the new one.
  const rotated = roster(['apps', 'rotate-secret', clientId]);
  assert.equal(rotated.status, 0, rotated.stderr);
  const fresh = rotated.lines.at(-1) as string;
  assert.notEqual(fresh, secret);
  assert.match(fresh, /^[\w-]{43}$/);
  assert.match(rotated.lines.at(-2) as string, new RegExp(`^New secret of ${clientId} \\(copy it now; the old one also works until \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC\\):$`));
  assert.equal(await introspectAs(clientId, fresh), 200);
  assert.equal(await introspectAs(clientId, secret), 200);
  assert.match(roster(['apps', 'list']).stdout, /PREVIOUS SECRET WORKS UNTIL[\s\S]*Grafana.*\d{4}-\d\d-\d\d \d\d:\d\d UTC/);
  // Ended early: only the new secret works.
  const ended = roster(['apps', 'rotate-secret', clientId, '--end-overlap']);
  assert.equal(ended.status, 0, ended.stderr);
  assert.equal(ended.stdout, `The previous secret of ${clientId} no longer works; only the current one does.\n`);
  assert.equal(await introspectAs(clientId, secret), 401);
  assert.equal(await introspectAs(clientId, fresh), 200);

  const deleted = roster(['apps', 'delete', clientId]);
  assert.equal(deleted.status, 0, deleted.stderr);
  assert.equal(await introspectAs(clientId, fresh), 401);
  assert.equal(roster(['apps', 'delete', clientId]).status, 1);
});

test('apps create --public prints only the client id; http redirect URIs are refused except for localhost (exit 2, naming the option)', () => {
  const run = roster(['apps', 'create', '--name', 'CLI tool', '--public', '--redirect-uri', 'http://127.0.0.1:8400/callback']);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.lines.at(-1) as string, /^[\w-]{22}$/);
  assert.match(run.lines.at(-2) as string, /^Client id:$/);
  assert.doesNotMatch(run.stderr, /warning/, 'no allowed group named, nothing to warn about');

  // A refused value is a command line mistake: exit 2 with the usage, naming the option.
  const refused = roster(['apps', 'create', '--name', 'Plain', '--redirect-uri', 'http://app.example.com/callback']);
  assert.equal(refused.status, 2);
  assert.match(refused.stderr, /^roster: --redirect-uri "http:\/\/app.example.com\/callback": must use https; http is allowed only for localhost\n\nUsage: roster apps create/);
  assert.equal(roster(['apps', 'create', '--name', '', '--redirect-uri', 'https://app.example.com/callback']).status, 2);
  assert.doesNotMatch(roster(['apps', 'list']).stdout, /Plain/);
  assert.equal(roster(['apps', 'create', '--name', 'No URI']).status, 2);
});

test('apps update changes redirect URIs, allowed groups and name in place, prints what changed, and keeps the client id, the secret and what was not given', async () => {
  const created = roster(['apps', 'create', '--name', 'Wiki', '--redirect-uri', 'https://wiki.example.com/callback', '--allowed-group', 'staff']);
  assert.equal(created.status, 0, created.stderr);
  const [clientId, secret] = created.lines.slice(-2) as [string, string];

  const moved = roster(['apps', 'update', clientId, '--redirect-uri', 'https://wiki.example.com/callback', '--redirect-uri', 'https://docs.example.com/callback']);
  assert.equal(moved.status, 0, moved.stderr);
  assert.equal(moved.stdout, [
    `Updated application "Wiki" (${clientId}); its client id and secret are unchanged:`,
    '  redirect URIs: https://wiki.example.com/callback → https://wiki.example.com/callback https://docs.example.com/callback',
    '',
  ].join('\n'));
  assert.doesNotMatch(moved.stderr, /warning/, 'the allowed groups were not changed: nothing to warn about again');

  const renamed = roster(['apps', 'update', clientId, '--name', 'Docs', '--allowed-group', 'readers', '--allowed-group', 'staff']);
  assert.equal(renamed.status, 0, renamed.stderr);
  assert.match(renamed.stdout, /  name: "Wiki" → "Docs"\n  allowed groups: "staff" → "readers", "staff"\n/);
  assert.match(renamed.stderr, /warning: no group is named "readers", "staff": nobody can sign in to this application until one of its allowed groups exists/);

  const opened = roster(['apps', 'update', clientId, '--no-allowed-groups']);
  assert.equal(opened.status, 0, opened.stderr);
  assert.match(opened.stdout, /  allowed groups: "readers", "staff" → \(everyone\)/);
  const again = roster(['apps', 'update', clientId, '--no-allowed-groups']);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /^Nothing changed: application "Docs" \(.+\) already has these values\.$/m);

  const listed = roster(['apps', 'list']);
  assert.match(listed.stdout, new RegExp(`${clientId}\\s+Docs\\s+confidential\\s+\\(everyone\\)\\s+https://wiki.example.com/callback https://docs.example.com/callback`));
  assert.equal(await introspectAs(clientId, secret), 200, 'the secret still authenticates');
});

test('apps update: a bad option value exits 2 naming the option, and nothing changes; an unknown client id exits 1', () => {
  const created = roster(['apps', 'create', '--name', 'Strict', '--redirect-uri', 'https://strict.example.com/cb']);
  const clientId = created.lines.at(-2) as string;

  const plain = roster(['apps', 'update', clientId, '--redirect-uri', 'http://strict.example.com/cb']);
  assert.equal(plain.status, 2);
  assert.match(plain.stderr, /^roster: --redirect-uri "http:\/\/strict.example.com\/cb": must use https; http is allowed only for localhost\n\nUsage: roster apps update/);
  const name = roster(['apps', 'update', clientId, '--name', ' ']);
  assert.equal(name.status, 2);
  assert.match(name.stderr, /^roster: --name " ": must have 1 to 100 characters/);
  const group = roster(['apps', 'update', clientId, '--allowed-group', '']);
  assert.equal(group.status, 2);
  assert.match(group.stderr, /^roster: --allowed-group "": must have 1 to 255 characters/);
  assert.equal(roster(['apps', 'update', clientId]).status, 2, 'nothing to change');
  assert.equal(roster(['apps', 'update', '--name', 'X']).status, 2, 'no client id');
  assert.equal(roster(['apps', 'update', clientId, '--allowed-group', 'a', '--no-allowed-groups']).status, 2);
  assert.match(roster(['apps', 'list']).stdout, new RegExp(`${clientId}\\s+Strict\\s+confidential\\s+\\(everyone\\)\\s+https://strict.example.com/cb`));

  const unknown = roster(['apps', 'update', 'no-such-client', '--name', 'X']);
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /No application has the client id 'no-such-client'/);
});

test('apps create and update --backchannel-logout-uri: set, shown by apps list, refused with the reason naming the option, removed with --no-backchannel-logout-uri', () => {
  const created = roster(['apps', 'create', '--name', 'Listening', '--redirect-uri', 'https://listening.example.com/cb', '--backchannel-logout-uri', 'https://listening.example.com/logout']);
  assert.equal(created.status, 0, created.stderr);
  const clientId = created.lines.at(-2) as string;
  assert.match(roster(['apps', 'list']).stdout, /BACK-CHANNEL LOGOUT URI[\s\S]*Listening.*https:\/\/listening\.example\.com\/logout/);

  const plain = roster(['apps', 'create', '--name', 'Plain logout', '--redirect-uri', 'https://plain.example.com/cb', '--backchannel-logout-uri', 'http://plain.example.com/logout']);
  assert.equal(plain.status, 2);
  assert.match(plain.stderr, /^roster: --backchannel-logout-uri "http:\/\/plain.example.com\/logout": must use https; http is allowed only for localhost\n\nUsage: roster apps create/);
  const fragment = roster(['apps', 'update', clientId, '--backchannel-logout-uri', 'https://listening.example.com/logout#x']);
  assert.equal(fragment.status, 2);
  assert.match(fragment.stderr, /^roster: --backchannel-logout-uri "https:\/\/listening.example.com\/logout#x": may not have a fragment/);
  assert.equal(roster(['apps', 'update', clientId, '--backchannel-logout-uri', 'x', '--no-backchannel-logout-uri']).status, 2);

  const moved = roster(['apps', 'update', clientId, '--backchannel-logout-uri', 'http://localhost:9000/logout']);
  assert.equal(moved.status, 0, moved.stderr);
  assert.match(moved.stdout, /  back-channel logout URI: https:\/\/listening.example.com\/logout → http:\/\/localhost:9000\/logout\n/);
  const removed = roster(['apps', 'update', clientId, '--no-backchannel-logout-uri']);
  assert.equal(removed.status, 0, removed.stderr);
  assert.match(removed.stdout, /  back-channel logout URI: http:\/\/localhost:9000\/logout → \(none\)\n/);
});

// Adding one redirect URI used to mean typing every other one again, and losing any added
// meanwhile by someone else.
test('apps update --add-… and --remove-… change the current lists by those values only; removing one the list does not hold is refused', () => {
  const created = roster(['apps', 'create', '--name', 'Lists', '--redirect-uri', 'https://one.example.com/cb', '--allowed-group', 'Staff']);
  const clientId = created.lines.at(-2) as string;

  const added = roster(['apps', 'update', clientId, '--add-redirect-uri', 'https://two.example.com/cb', '--add-redirect-uri', 'https://one.example.com/cb', '--add-allowed-group', 'readers']);
  assert.equal(added.status, 0, added.stderr);
  assert.match(added.stdout, /  redirect URIs: https:\/\/one.example.com\/cb → https:\/\/one.example.com\/cb https:\/\/two.example.com\/cb\n  allowed groups: "Staff" → "Staff", "readers"\n/);
  const removed = roster(['apps', 'update', clientId, '--remove-redirect-uri', 'https://one.example.com/cb', '--remove-allowed-group', 'STAFF']);
  assert.equal(removed.status, 0, removed.stderr);
  assert.match(removed.stdout, /  redirect URIs: https:\/\/one.example.com\/cb https:\/\/two.example.com\/cb → https:\/\/two.example.com\/cb\n  allowed groups: "Staff", "readers" → "readers"\n/);

  const absent = roster(['apps', 'update', clientId, '--remove-redirect-uri', 'https://three.example.com/cb']);
  assert.equal(absent.status, 2);
  assert.match(absent.stderr, /^roster: --add-redirect-uri\/--remove-redirect-uri "https:\/\/three.example.com\/cb": is not one of the application's redirect URIs/);
  const last = roster(['apps', 'update', clientId, '--remove-redirect-uri', 'https://two.example.com/cb']);
  assert.equal(last.status, 1);
  assert.match(last.stderr, /An application needs at least one redirect URI/);
  const both = roster(['apps', 'update', clientId, '--redirect-uri', 'https://four.example.com/cb', '--add-redirect-uri', 'https://five.example.com/cb']);
  assert.equal(both.status, 2);
  assert.match(both.stderr, /--redirect-uri replaces the whole list/);
  assert.match(roster(['apps', 'list']).stdout, new RegExp(`${clientId}\\s+Lists\\s+confidential\\s+readers\\s+https://two.example.com/cb`));
});

test('keys rotate publishes a key that signs ten minutes later; again, it says the key waits; --now makes that key (published earlier, not new) sign and then rotates at once', () => {
  const first = roster(['keys', 'rotate']);
  assert.equal(first.status, 0, first.stderr);
  const newKid = /New signing key ([\w-]+): published now, signs from \d{4}-\d\d-\d\d \d\d:\d\d UTC\. Retired: [\w-]+ \(signs until then/.exec(first.stdout)?.[1];
  assert.ok(newKid, first.stdout);
  const again = roster(['keys', 'rotate']);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`Signing key ${newKid} is already published and signs from .*: nothing changed\\. Run \`roster keys rotate --now\``));
  const now = roster(['keys', 'rotate', '--now']);
  // The key that waited was published by the first rotation: applications may know it already.
  assert.match(now.stdout, new RegExp(`^Signing key ${newKid}, published \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC, signs from now on\\. Retired: [\\w-]+ \\(stopped signing now, published for 7 days more\\)\\.$`, 'm'));
  const urgent = roster(['keys', 'rotate', '--now']);
  assert.match(urgent.stdout, new RegExp(`^New signing key [\\w-]+: published now, signs from now on\\. Retired: ${newKid} \\(stopped signing now`, 'm'));
});

test('apps rotate-secret --overlap chooses the overlap (0: the old secret stops at once), says what a second rotation stops, and keeps the secret alone on the last line', async () => {
  const created = roster(['apps', 'create', '--name', 'Rotated', '--redirect-uri', 'https://rotated.example.com/cb']);
  assert.equal(created.status, 0, created.stderr);
  const [clientId, first] = created.lines.slice(-2) as [string, string];

  const none = roster(['apps', 'rotate-secret', clientId, '--overlap', '0']);
  assert.equal(none.status, 0, none.stderr);
  assert.deepEqual(none.lines.slice(0, -1), [`New secret of ${clientId} (copy it now; the old one no longer works):`]);
  const second = none.lines.at(-1) as string;
  assert.equal(await introspectAs(clientId, first), 401);
  assert.equal(await introspectAs(clientId, second), 200);

  const hour = roster(['apps', 'rotate-secret', clientId, '--overlap', '90m']);
  assert.equal(hour.status, 0, hour.stderr);
  const third = hour.lines.at(-1) as string;
  const until = /also works until (\d{4}-\d\d-\d\d \d\d:\d\d UTC)/.exec(hour.stdout)?.[1];
  assert.ok(until !== undefined, hour.stdout);
  assert.ok(Math.abs(Date.parse(until.replace(' UTC', 'Z').replace(' ', 'T')) - Date.now() - 90 * 60_000) < 2 * 60_000, until);

  // During that overlap: the second secret (the previous one) stops, and the output says so.
  const again = roster(['apps', 'rotate-secret', clientId]);
  assert.equal(again.status, 0, again.stderr);
  assert.deepEqual(again.lines.slice(0, -2), [`The secret before the old one, which worked until ${until}, no longer works (one previous secret at a time).`]);
  const fourth = again.lines.at(-1) as string;
  assert.match(fourth, /^[\w-]{43}$/);
  assert.deepEqual([await introspectAs(clientId, second), await introspectAs(clientId, third), await introspectAs(clientId, fourth)], [401, 200, 200]);

  // Command line mistakes: exit 2, nothing rotated.
  for (const overlap of ['8d', '-1h', '24', 'forever']) {
    const refused = roster(['apps', 'rotate-secret', clientId, `--overlap=${overlap}`]);
    assert.equal(refused.status, 2, overlap);
    assert.match(refused.stderr, new RegExp(`^roster: --overlap "${overlap}": must be 0, or a number with s, m, h or d \\(90m, 24h, 7d\\), at most 7d`), overlap);
  }
  assert.equal(roster(['apps', 'rotate-secret', clientId, '--end-overlap', '--overlap', '1h']).status, 2);
  assert.equal(await introspectAs(clientId, fourth), 200);

  const audit = roster(['audit', 'export', '--target-type', 'application']);
  assert.equal(audit.status, 0, audit.stderr);
  const entries = audit.stdout.trim().split('\n').map((line) => JSON.parse(line) as { action: string; targetId: string; details: Record<string, unknown> }).filter((entry) => entry.targetId === clientId);
  assert.deepEqual(entries.map((entry) => [entry.action, entry.details['overlapSeconds']]), [['application.created', undefined], ['application.secret_rotated', 0], ['application.secret_rotated', 5400], ['application.secret_rotated', 86400]]);
  for (const secret of [first, second, third, fourth]) assert.ok(!audit.stdout.includes(secret), 'no secret in the audit log');
});
