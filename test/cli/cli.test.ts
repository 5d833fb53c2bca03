import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { createTokenService } from '../../src/auth/tokens.ts';
import { createSessions } from '../../src/auth/sessions.ts';
import { createServices } from '../../src/services.ts';
import { openStore } from '../../src/store/index.ts';
import { knownMigrations } from '../../src/store/migrate.ts';
import { turnScimOn } from '../support/databases.ts';
import { rosterArgs } from '../support/roster-command.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let dir: string;
let certFile: string;
let certBase64: string;
let databaseCount = 0;

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A fresh database file per test, so tests do not depend on each other's state. */
function freshDatabase(): string {
  databaseCount += 1;
  return join(dir, `roster-${databaseCount}.db`);
}

/** Runs `roster …` as a user would, against the database at `database`. */
function roster(database: string, args: string[], env: Record<string, string> = {}): Run {
  const result = spawnSync(process.execPath, rosterArgs(...args), {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, ROSTER_DATABASE_URL: `sqlite:${database}`, ROSTER_BASE_URL: 'https://roster.example.com', ...env },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function configureSaml(database: string): void {
  const run = roster(database, ['saml', 'configure', '--idp-entity-id', 'https://idp.example.com', '--idp-sso-url', 'https://idp.example.com/sso', '--idp-certificate', certFile]);
  assert.equal(run.status, 0, run.stderr);
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'roster-cli-'));
  spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=cli-test-idp', '-days', '365', '-keyout', 'idp.key', '-out', 'idp.pem'], {
    cwd: dir,
    stdio: 'pipe',
  });
  certFile = join(dir, 'idp.pem');
  certBase64 = readFileSync(certFile, 'utf8').replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, '');
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('roster (usage)', () => {
  test('no command prints usage on stderr and exits 2', () => {
    const run = roster(freshDatabase(), []);
    assert.equal(run.status, 2);
    assert.match(run.stderr, /Usage: roster <command>/);
    assert.equal(run.stdout, '');
  });

  test('--help prints usage on stdout and exits 0, at every level', () => {
    for (const args of [['--help'], ['tokens', '--help'], ['tokens', 'create', '--help'], ['saml', 'configure', '--help'], ['scim', 'status', '--help'], ['serve', '--help']]) {
      const run = roster(freshDatabase(), args);
      assert.equal(run.status, 0, args.join(' '));
      assert.match(run.stdout, /Usage: roster/, args.join(' '));
    }
  });

  test('--version (or version) prints the package version and the newest schema, without a database', () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const args of [['--version'], ['version']]) {
      // A database location nothing can open: the version needs none.
      const run = roster('/proc/no-such-dir/roster.db', args);
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout, `roster ${version} (database schema ${knownMigrations().at(-1)})\n`);
    }
    assert.equal(roster(freshDatabase(), ['version', 'x']).status, 2);
  });

  test('tokens --help says a token acts as any user, not only an administrator', () => {
    const run = roster(freshDatabase(), ['tokens', '--help']);
    assert.equal(run.status, 0);
    assert.match(run.stdout, /^ {2}create +create a token acting as a user \(default: admin\) and print it once$/m);
  });

  test('unknown commands and flags print usage on stderr and exit 2', () => {
    for (const args of [['frobnicate'], ['tokens', 'frobnicate'], ['tokens'], ['tokens', 'create', '--name', 'x', '--colour', 'red'], ['scim', 'status', 'extra']]) {
      const run = roster(freshDatabase(), args);
      assert.equal(run.status, 2, args.join(' '));
      assert.match(run.stderr, /^roster: .*\n\nUsage: roster/, args.join(' '));
    }
  });

  test('a reader that closes stdout early (`| head`) ends the command quietly: exit 0, no EPIPE stack', () => {
    const database = freshDatabase();
    for (const args of [['--help'], ['tokens', 'create', '--name', 'piped']]) {
      // `true` reads nothing and exits: every write finds the pipe closed.
      const command = [process.execPath, ...rosterArgs(...args)].map((word) => `'${word}'`).join(' ');
      const result = spawnSync('bash', ['-c', `${command} | true; exit \${PIPESTATUS[0]}`], {
        cwd: ROOT,
        encoding: 'utf8',
        env: { ...process.env, ROSTER_DATABASE_URL: `sqlite:${database}`, ROSTER_BASE_URL: 'https://roster.example.com' },
      });
      assert.equal(result.status, 0, `${args.join(' ')}: ${result.stderr}`);
      assert.doesNotMatch(result.stderr, /EPIPE|unexpected error/, args.join(' '));
    }
  });

  test('an audit export larger than the pipe, read by `head -1`, ends quietly: exit 0, one line', async () => {
    const database = freshDatabase();
    assert.equal(roster(database, ['users', 'list']).status, 0);
    const store = await openStore({ kind: 'sqlite', path: database });
    try {
      // About 1.5 MB of JSON lines, many times a pipe's 64 KB buffer.
      for (let done = 0; done < 6000; done += 500) {
        const rows = Array.from({ length: 500 }, (_, i) => ({
          at: new Date(Date.UTC(2026, 0, 1) + (done + i) * 1000).toISOString(),
          actor: 'cli',
          actor_user: null,
          action: 'user.updated',
          target_type: 'user',
          target_id: `user-${done + i}`,
          details: JSON.stringify({ note: 'x'.repeat(200) }),
        }));
        await store.db.insertInto('audit_events').values(rows).execute();
      }
    } finally {
      await store.close();
    }
    const command = [process.execPath, ...rosterArgs('audit', 'export')].map((word) => `'${word}'`).join(' ');
    const result = spawnSync('bash', ['-c', `set -o pipefail; ${command} | head -1`], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, ROSTER_DATABASE_URL: `sqlite:${database}`, ROSTER_BASE_URL: 'https://roster.example.com' },
    });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trimEnd().split('\n').length, 1);
    assert.match(result.stdout, /^\{"seq":1,/);
    assert.doesNotMatch(result.stderr, /EPIPE|unexpected error|Warning/);
  });

  test('a bad configuration value exits 1 naming the variable', () => {
    const run = roster(freshDatabase(), ['scim', 'status'], { ROSTER_PORT: 'abc' });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /^ROSTER_PORT must be an integer between 1 and 65535 \(got "abc"\)/);
  });
});

describe('roster tokens', () => {
  test('create prints the token alone on the last line, and it verifies', async () => {
    const database = freshDatabase();
    const run = roster(database, ['tokens', 'create', '--name', 'entra-id']);
    assert.equal(run.status, 0, run.stderr);
    const lines = run.stdout.trimEnd().split('\n');
    assert.ok(lines.length >= 2, 'a human line comes first');
    const token = lines.at(-1) ?? '';
    assert.match(token, /^roster_[A-Za-z0-9_-]{43}$/);

    const store = await openStore({ kind: 'sqlite', path: database });
    try {
      assert.equal((await createTokenService(store).verify(token))?.name, 'entra-id');
    } finally {
      await store.close();
    }
  });

  test('create without --name is a usage error; a taken name is exit 1', () => {
    const database = freshDatabase();
    assert.equal(roster(database, ['tokens', 'create']).status, 2);
    assert.equal(roster(database, ['tokens', 'create', '--name', 'okta']).status, 0);
    const again = roster(database, ['tokens', 'create', '--name', 'okta']);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /A token named "okta" already exists/);
  });

  test('list shows the token without its secret; revoke removes it', () => {
    const database = freshDatabase();
    const token = roster(database, ['tokens', 'create', '--name', 'okta']).stdout.trimEnd().split('\n').at(-1) ?? '';
    const listed = roster(database, ['tokens', 'list']);
    assert.equal(listed.status, 0);
    assert.match(listed.stdout, /^okta\s+admin\s+\S+\s+never\s+live$/m);
    assert.ok(!listed.stdout.includes(token.slice('roster_'.length)));

    const revoked = roster(database, ['tokens', 'revoke', 'okta']);
    assert.equal(revoked.status, 0, revoked.stderr);
    assert.match(revoked.stdout, /Revoked token "okta"/);
    assert.match(roster(database, ['tokens', 'list']).stdout, /No live tokens/);
    assert.match(roster(database, ['tokens', 'list', '--all']).stdout, /^okta\s.*revoked /m);

    const again = roster(database, ['tokens', 'revoke', 'okta']);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /No live token is named "okta"/);
  });
});

describe('roster saml', () => {
  test('configure with a certificate file, then show prints subject and expiry', () => {
    const database = freshDatabase();
    const before = roster(database, ['saml', 'show']);
    assert.match(before.stdout, /SAML is not configured/);
    configureSaml(database);
    const shown = roster(database, ['saml', 'show']);
    assert.equal(shown.status, 0);
    assert.match(shown.stdout, /IdP entity ID: +https:\/\/idp\.example\.com$/m);
    assert.match(shown.stdout, /IdP sign-in URL: +https:\/\/idp\.example\.com\/sso$/m);
    assert.match(shown.stdout, /Certificate 1: +CN=cli-test-idp$/m);
    assert.match(shown.stdout, /expires: +\d{4}-\d\d-\d\dT/);
  });

  test('configure with the attribute, SP key and IdP-initiated options, then show prints them', () => {
    const database = freshDatabase();
    const run = roster(database, [
      'saml', 'configure', '--idp-entity-id', 'https://idp.example.com', '--idp-sso-url', 'https://idp.example.com/sso', '--idp-certificate', certFile,
      '--login-attribute', 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name', '--email-attribute', 'mail', '--provider-name', 'Entra ID',
      '--sp-certificate', certFile, '--sp-private-key', join(dir, 'idp.key'), '--sign-requests', '--allow-idp-initiated',
    ]);
    assert.equal(run.status, 0, run.stderr);
    const shown = roster(database, ['saml', 'show']).stdout;
    assert.match(shown, /Provider name: +Entra ID$/m);
    assert.match(shown, /Application ID: +https:\/\/roster\.example\.com\/saml\/metadata$/m);
    assert.match(shown, /ACS URL: +https:\/\/roster\.example\.com\/saml\/acs$/m);
    assert.match(shown, /Login attribute: +http:\/\/schemas\.xmlsoap\.org\/ws\/2005\/05\/identity\/claims\/name$/m);
    assert.match(shown, /Sign requests: +yes$/m);
    assert.match(shown, /IdP-initiated: +allowed$/m);
    const refused = roster(freshDatabase(), ['saml', 'configure', '--idp-entity-id', 'urn:idp', '--idp-sso-url', 'https://idp.example.com/sso', '--idp-certificate', certFile, '--sign-requests']);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /--sign-requests: signing requests needs the SP certificate and private key/);
  });

  test('configure with metadata XML', () => {
    const database = freshDatabase();
    const metadata = join(dir, 'idp-metadata.xml');
    writeFileSync(
      metadata,
      `<?xml version="1.0" encoding="utf-8"?>
<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sts.example.com/tenant/">
  <IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <KeyDescriptor use="signing">
      <KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>${certBase64}</X509Certificate></X509Data></KeyInfo>
    </KeyDescriptor>
    <SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://login.example.com/tenant/saml2" />
  </IDPSSODescriptor>
</EntityDescriptor>`,
    );
    const run = roster(database, ['saml', 'configure', '--idp-metadata', metadata]);
    assert.equal(run.status, 0, run.stderr);
    const shown = roster(database, ['saml', 'show']).stdout;
    assert.match(shown, /IdP entity ID: +https:\/\/sts\.example\.com\/tenant\/$/m);
    assert.match(shown, /IdP sign-in URL: +https:\/\/login\.example\.com\/tenant\/saml2$/m);
  });

  test('a re-run changes only what its options give: a certificate rollover through metadata keeps the attributes and the SP key pair', () => {
    const database = freshDatabase();
    const first = roster(database, [
      'saml', 'configure', '--idp-entity-id', 'https://idp.example.com', '--idp-sso-url', 'https://idp.example.com/sso', '--idp-certificate', certFile,
      '--login-attribute', 'upn', '--name-attribute', 'displayname', '--email-attribute', 'mail', '--group-attribute', 'groups',
      '--sp-certificate', certFile, '--sp-private-key', join(dir, 'idp.key'), '--sign-requests', '--allow-idp-initiated',
    ]);
    assert.equal(first.status, 0, first.stderr);
    const metadata = join(dir, 'rollover-metadata.xml');
    writeFileSync(
      metadata,
      `<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example.com">
  <IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <KeyDescriptor use="signing"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>${certBase64}</X509Certificate></X509Data></KeyInfo></KeyDescriptor>
    <SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.com/sso2" />
  </IDPSSODescriptor>
</EntityDescriptor>`,
    );
    const rerun = roster(database, ['saml', 'configure', '--idp-metadata', metadata]);
    assert.equal(rerun.status, 0, rerun.stderr);
    assert.match(rerun.stdout, /^Changed: IdP sign-in URL\.$/m);
    assert.match(rerun.stdout, /^Kept as stored: .*login attribute, name attribute, email attribute, group attribute, SP key pair, sign requests, IdP-initiated sign-in\.$/m);
    const shown = roster(database, ['saml', 'show']).stdout;
    assert.match(shown, /IdP sign-in URL: +https:\/\/idp\.example\.com\/sso2$/m);
    assert.match(shown, /Login attribute: +upn$/m);
    assert.match(shown, /Name attribute: +displayname$/m);
    assert.match(shown, /Email attribute: +mail$/m);
    assert.match(shown, /Group attribute: +groups$/m);
    assert.match(shown, /SP key pair: +CN=cli-test-idp$/m);
    assert.match(shown, /Sign requests: +yes$/m);
    assert.match(shown, /IdP-initiated: +allowed$/m);

    // An empty value clears an optional setting; --no-… turns a switch off; one option alone is enough.
    const cleared = roster(database, ['saml', 'configure', '--group-attribute', '', '--no-allow-idp-initiated']);
    assert.equal(cleared.status, 0, cleared.stderr);
    assert.match(cleared.stdout, /^Changed: group attribute, IdP-initiated sign-in\.$/m);
    const after = roster(database, ['saml', 'show']).stdout;
    assert.match(after, /Group attribute: +\(none\)$/m);
    assert.match(after, /IdP-initiated: +refused$/m);
    assert.match(after, /Login attribute: +upn$/m);
    const dropped = roster(database, ['saml', 'configure', '--sp-certificate', '', '--sp-private-key', '', '--no-sign-requests']);
    assert.equal(dropped.status, 0, dropped.stderr);
    assert.match(roster(database, ['saml', 'show']).stdout, /SP key pair: +\(none\)$/m);
  });

  test('a wrong value exits 1 naming the option', () => {
    const database = freshDatabase();
    const run = roster(database, ['saml', 'configure', '--idp-entity-id', 'urn:idp', '--idp-sso-url', 'http://idp.example.com/sso', '--idp-certificate', certFile]);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /--idp-sso-url: the IdP sign-in URL must be an absolute https URL/);
    assert.match(roster(database, ['saml', 'show']).stdout, /SAML is not configured/);
  });

  test('a missing file exits 1; mixing metadata with options or omitting one is a usage error', () => {
    const database = freshDatabase();
    const missing = roster(database, ['saml', 'configure', '--idp-metadata', join(dir, 'nope.xml')]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /Cannot read the --idp-metadata file .*ENOENT/);
    assert.equal(roster(database, ['saml', 'configure', '--idp-metadata', 'x.xml', '--idp-entity-id', 'urn:idp']).status, 2);
    assert.equal(roster(database, ['saml', 'configure', '--idp-entity-id', 'urn:idp', '--idp-certificate', certFile]).status, 2);
  });
});

describe('roster scim', () => {
  test('enable is refused before SAML is configured and accepted after', () => {
    const database = freshDatabase();
    const refused = roster(database, ['scim', 'enable']);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /^SCIM provisioning requires SAML to be configured first: .*`npm run roster -- saml configure …` \(CLI\)\.$/m);
    assert.match(roster(database, ['scim', 'status']).stdout, /SCIM provisioning: disabled/);

    configureSaml(database);
    const enabled = roster(database, ['scim', 'enable']);
    assert.equal(enabled.status, 0, enabled.stderr);
    assert.match(enabled.stdout, /https:\/\/roster\.example\.com\/api\/scim\/v2/);
    const status = roster(database, ['scim', 'status']);
    assert.equal(status.status, 0);
    assert.match(status.stdout, /SCIM provisioning: enabled \(tenant URL https:\/\/roster\.example\.com\/api\/scim\/v2\)/);
    // Without ROSTER_BASE_URL the URL is a guess (localhost and the port), which no IdP reaches;
    // so is a loopback address set on purpose (it said "not set" then).
    const guessed = roster(database, ['scim', 'status'], { ROSTER_BASE_URL: '', ROSTER_PORT: '9099' });
    assert.match(guessed.stdout, /tenant URL http:\/\/localhost:9099\/api\/scim\/v2 \(a loopback address, which your identity provider cannot reach: set ROSTER_BASE_URL to the address it reaches Roster at\)/);
    for (const loopback of ['http://localhost:8080', 'http://127.0.0.1:8080']) {
      const set = roster(database, ['scim', 'status'], { ROSTER_BASE_URL: loopback });
      assert.match(set.stdout, new RegExp(`tenant URL ${loopback.replace(/\./g, '\\.')}/api/scim/v2 \\(a loopback address, which your identity provider cannot reach`));
      assert.doesNotMatch(set.stdout, /not set/);
    }

    const unconfirmed = roster(database, ['scim', 'disable']);
    assert.equal(unconfirmed.status, 1);
    assert.match(unconfirmed.stderr, /removes every SCIM link.*cannot be undone\. Confirm with --yes: roster scim disable --yes\.$/m);
    assert.doesNotMatch(unconfirmed.stderr, /"confirm"/);
    assert.match(roster(database, ['scim', 'status']).stdout, /SCIM provisioning: enabled/);
    assert.equal(roster(database, ['scim', 'disable', '--yes']).status, 0);
    assert.match(roster(database, ['scim', 'status']).stdout, /SCIM provisioning: disabled/);
  });

  test('users create says whether it created a user or reactivated a deactivated one', () => {
    const database = freshDatabase();
    const created = roster(database, ['users', 'create', '--login', 'dora', '--name', 'Dora']);
    assert.equal(created.status, 0, created.stderr);
    const id = /^Created user "dora" \(id (\S+)\)\.$/m.exec(created.stdout)?.[1];
    assert.ok(id, created.stdout);
    assert.equal(roster(database, ['users', 'deactivate', 'dora']).status, 0);
    const again = roster(database, ['users', 'create', '--login', 'Dora', '--name', 'Dora B']);
    assert.equal(again.status, 0, again.stderr);
    assert.doesNotMatch(again.stdout, /Created user/);
    assert.match(again.stdout, new RegExp(`^Reactivated user "Dora" \\(id ${id}\\), which was deactivated: its former group memberships, tokens and sessions are not restored\\.$`, 'm'));
    assert.match(again.stdout, /^Password \(shown only this once\):$/m);
    assert.match(roster(database, ['users', 'list', '--q', 'dora']).stdout, /^Dora\tDora B\t\tactive,local$/m);
  });

  test('users deactivate --anonymize deletes the personal data, of an active or a deactivated user, and says what the account is now', () => {
    const database = freshDatabase();
    const created = roster(database, ['users', 'create', '--login', 'erin', '--name', 'Erin Example', '--email', 'erin@corp.example']);
    const id = /^Created user "erin" \(id (\S+)\)\.$/m.exec(created.stdout)?.[1];
    assert.ok(id, created.stdout);
    const login = `anonymized-${id.replace(/-/g, '')}`;
    const erased = roster(database, ['users', 'deactivate', 'erin', '--anonymize']);
    assert.equal(erased.status, 0, erased.stderr);
    assert.equal(erased.stdout.trim(), `Deactivated "erin" and deleted its personal data: the account is now "${login}".`);
    assert.match(roster(database, ['users', 'list']).stdout, new RegExp(`^${login}\t\t\tdeactivated,local$`, 'm'));
    assert.doesNotMatch(roster(database, ['users', 'list']).stdout, /Erin|erin@/);
    const again = roster(database, ['users', 'deactivate', login, '--anonymize']);
    assert.equal(again.stdout.trim(), `"${login}" holds no personal data any more: nothing was changed.`);

    roster(database, ['users', 'create', '--login', 'finn', '--name', 'Finn', '--saml']);
    assert.equal(roster(database, ['users', 'deactivate', 'finn']).status, 0);
    const later = roster(database, ['users', 'deactivate', 'finn', '--anonymize']);
    assert.equal(later.status, 0, later.stderr);
    assert.match(later.stdout, /^Deleted the personal data of "finn": the account is now "anonymized-[0-9a-f]{32}"\.$/m);
  });

  test('while SCIM is on, users and groups cannot be created from the CLI either', () => {
    const database = freshDatabase();
    configureSaml(database);
    assert.equal(roster(database, ['scim', 'enable']).status, 0);
    const user = roster(database, ['users', 'create', '--login', 'ada', '--name', 'Ada']);
    assert.equal(user.status, 1);
    assert.equal(user.stderr.trim(), 'Operation not allowed when the instance is externally managed.');
    const group = roster(database, ['groups', 'create', '--name', 'ops']);
    assert.equal(group.stderr.trim(), 'Operation not allowed when the instance is externally managed.');
  });

  test('while SCIM is on, members cannot change from the CLI; a local user may be deactivated and a local group deleted', () => {
    const database = freshDatabase();
    configureSaml(database);
    for (const args of [
      ['users', 'create', '--login', 'bea', '--name', 'Bea', '--saml'],
      ['users', 'create', '--login', 'cy', '--name', 'Cy', '--saml'],
      ['groups', 'create', '--name', 'ops'],
      ['groups', 'add-member', '--group', 'ops', '--user', 'bea'],
      ['scim', 'enable'],
    ]) assert.equal(roster(database, args).status, 0, args.join(' '));
    for (const args of [
      ['groups', 'add-member', '--group', 'ops', '--user', 'cy'],
      ['groups', 'remove-member', '--group', 'ops', '--user', 'bea'],
    ]) {
      const refused = roster(database, args);
      assert.equal(refused.status, 1, args.join(' '));
      assert.equal(refused.stderr.trim(), 'Operation not allowed when the instance is externally managed.');
    }
    assert.equal(roster(database, ['users', 'deactivate', 'cy']).status, 0);
    assert.match(roster(database, ['users', 'list', '--q', 'cy']).stdout, /^cy\tCy\t\tdeactivated,saml$/m);
    // A local user deactivated here loses its memberships (SonarQube's rule), and the trail says so.
    assert.equal(roster(database, ['users', 'deactivate', 'bea']).status, 0);
    const events = roster(database, ['audit', 'export', '--target-type', 'user']).stdout.trimEnd().split('\n').map((line) => JSON.parse(line));
    const bea = events.filter((event) => event.action === 'user.deactivated').at(-1);
    assert.equal(bea.details.memberships, 'removed');
    assert.equal(bea.details.removedFromGroups.length, 1);
    assert.equal(roster(database, ['groups', 'delete', 'ops']).status, 0);
    assert.equal(roster(database, ['groups', 'list']).stdout.trim(), '');
  });

  test('activity prints the last SCIM requests as a table, failures alone with --failures; purge-activity applies the retention', async () => {
    const database = freshDatabase();
    const store = await openStore({ kind: 'sqlite', path: database });
    try {
      const request = { method: 'GET', query: '', filter: undefined, durationMs: 12, source: '192.0.2.1', token: { id: 'token-id', name: 'entra-id', login: 'admin' } };
      await createServices(store).activity.record([
        { ...request, at: new Date(Date.now() - 40 * 86_400_000), path: '/api/scim/v2/Users/ancient', status: 200, failure: null },
        { ...request, at: new Date(Date.now() - 2000), path: '/api/scim/v2/Users', filter: 'userName eq "ada"', status: 200, failure: null },
        { ...request, at: new Date(Date.now() - 1000), method: 'POST', path: '/api/scim/v2/Users/\u001b[31mred', status: 409, failure: { scimType: 'uniqueness', detail: 'The userName "ada" is already taken.' } },
      ]);
    } finally {
      await store.close();
    }
    const all = roster(database, ['scim', 'activity']);
    assert.equal(all.status, 0, all.stderr);
    const lines = all.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^TIME\s+STATUS\s+METHOD\s+PATH\s+MS\s+TOKEN\s+ERROR$/);
    assert.match(lines[1] ?? '', /409\s+POST\s+\/api\/scim\/v2\/Users\/\\x1b\[31mred\s+12\s+entra-id\s+uniqueness: The userName "ada" is already taken\.$/);
    assert.match(lines[2] ?? '', /200\s+GET\s+\/api\/scim\/v2\/Users\?filter=userName eq "ada"\s+12\s+entra-id$/);
    assert.ok(!all.stdout.includes('\u001b'), 'no control character reaches the terminal');
    const failures = roster(database, ['scim', 'activity', '--failures', '--limit', '5']);
    assert.equal(failures.stdout.trimEnd().split('\n').length, 2);
    const one = roster(database, ['scim', 'activity', '--limit', '1']);
    assert.match(one.stdout, /\(1 of 3; --limit shows more\)/);
    assert.equal(roster(database, ['scim', 'activity', '--limit', '0']).status, 2);
    const purge = roster(database, ['scim', 'purge-activity'], { ROSTER_ACTIVITY_RETENTION_DAYS: '30' });
    assert.equal(purge.status, 0, purge.stderr);
    assert.equal(purge.stdout.trim(), 'Deleted 1 SCIM request older than 30 days.');
    assert.ok(!roster(database, ['scim', 'activity']).stdout.includes('ancient'));
  });
});

describe('roster admin, users and audit', () => {
  test('first start creates admin once and, without a terminal, writes its password to a file beside the database; reset-password prints a new one and deletes the file', async () => {
    const database = freshDatabase();
    const first = roster(database, ['scim', 'status']);
    assert.match(first.stderr, /Created the local administrator "admin"/);
    // Several databases share this folder: each one's file is named after it.
    const file = join(dir, `initial-admin-password.${basename(database)}`);
    assert.ok(first.stderr.includes(file), first.stderr);
    const password = readFileSync(file, 'utf8').trim();
    assert.ok(password.length >= 20);
    assert.ok(!first.stdout.includes(password) && !first.stderr.includes(password));
    const second = roster(database, ['scim', 'status']);
    assert.doesNotMatch(second.stderr, /Created the local administrator/);
    const signedIn = await openStore({ kind: 'sqlite', path: database });
    try {
      const admin = await signedIn.db.selectFrom('users').select('id').where('login', '=', 'admin').executeTakeFirstOrThrow();
      await createSessions(signedIn, { secure: false, adminGroup: 'roster-administrators' }).open(admin.id);
    } finally {
      await signedIn.close();
    }

    const reset = roster(database, ['admin', 'reset-password']);
    assert.equal(reset.status, 0, reset.stderr);
    assert.match(reset.stdout, /Ended 1 browser session of "admin"\./);
    const fresh = reset.stdout.trimEnd().split('\n').at(-1) ?? '';
    assert.notEqual(fresh, password);
    assert.equal(existsSync(file), false);
    const store = await openStore({ kind: 'sqlite', path: database });
    try {
      const { verifyPassword } = await import('../../src/auth/passwords.ts');
      const row = await store.db.selectFrom('users').select(['password_hash', 'is_admin', 'local']).where('login', '=', 'admin').executeTakeFirstOrThrow();
      assert.equal(await verifyPassword(fresh, row.password_hash ?? ''), true);
      assert.equal(await verifyPassword(password, row.password_hash ?? ''), false);
      assert.deepEqual([row.is_admin, row.local], [1, 1]);
    } finally {
      await store.close();
    }
  });

  test('reset-password refuses an administrator the identity provider manages, saying why, until SCIM is turned off', async () => {
    const database = freshDatabase();
    configureSaml(database);
    assert.equal(roster(database, ['scim', 'enable']).status, 0);
    // The IdP provisions userName "admin": the bootstrap administrator becomes managed.
    const store = await openStore({ kind: 'sqlite', path: database });
    const hashOf = async () => (await store.db.selectFrom('users').select('password_hash').where('login', '=', 'admin').executeTakeFirstOrThrow()).password_hash;
    let before: string | null;
    try {
      await createServices(store).users.create({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'admin' }, { kind: 'token', name: 'idp' });
      before = await hashOf();
    } finally {
      await store.close();
    }

    const refused = roster(database, ['admin', 'reset-password']);
    assert.equal(refused.status, 1);
    assert.doesNotMatch(refused.stdout, /New password/);
    assert.match(refused.stderr, /The administrator "admin" is managed by your identity provider \(SCIM\), so it signs in through SAML, not with a password: no password was set\./);
    assert.match(refused.stderr, /scim disable --yes/);
    const unchanged = await openStore({ kind: 'sqlite', path: database });
    try {
      assert.equal((await unchanged.db.selectFrom('users').select('password_hash').where('login', '=', 'admin').executeTakeFirstOrThrow()).password_hash, before);
    } finally {
      await unchanged.close();
    }

    assert.equal(roster(database, ['scim', 'disable', '--yes']).status, 0);
    const reset = roster(database, ['admin', 'reset-password']);
    assert.equal(reset.status, 0, reset.stderr);
    assert.match(reset.stdout, /New password for "admin"/);
  });

  test('tokens create --user names the owner; a non-administrator gets a warning; unknown logins exit 1', () => {
    const database = freshDatabase();
    const created = roster(database, ['users', 'create', '--login', 'ada', '--name', 'Ada', '--saml']);
    assert.equal(created.status, 0, created.stderr);
    const token = roster(database, ['tokens', 'create', '--name', 'ada-script', '--user', 'ada']);
    assert.equal(token.status, 0, token.stderr);
    assert.match(token.stderr, /"ada" is not an administrator/);
    assert.match(token.stdout.trimEnd().split('\n').at(-1) ?? '', /^roster_/);
    const unknown = roster(database, ['tokens', 'create', '--name', 'x', '--user', 'nobody']);
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /No user has the login "nobody"/);
    const deactivated = roster(database, ['users', 'deactivate', 'ada']);
    assert.equal(deactivated.status, 0, deactivated.stderr);
    assert.match(roster(database, ['tokens', 'list', '--all']).stdout, /^ada-script\s+ada\s.*revoked /m);
    assert.equal(deactivated.stdout, 'Deactivated "ada".\n');
    // A second time changes nothing, and says so (exit 0, as the API's 204).
    const again = roster(database, ['users', 'deactivate', 'ada']);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stdout, '"ada" was already deactivated: nothing was changed.\n');
  });

  test('an option given twice that takes one value, and a token name the domain refuses, are usage errors naming the option (exit 2)', () => {
    const database = freshDatabase();
    const twice = roster(database, ['tokens', 'create', '--name', 'b', '--name', 'c']);
    assert.equal(twice.status, 2, twice.stderr);
    assert.match(twice.stderr, /Option '--name' is given more than once; give it once/);
    assert.doesNotMatch(roster(database, ['tokens', 'list']).stdout, /^[bc]\s/m, 'no token was created');
    const format = roster(database, ['audit', 'export', '--format', 'csv', '--format', 'jsonl']);
    assert.equal(format.status, 2, format.stderr);
    assert.match(format.stderr, /Option '--format' is given more than once/);
    const empty = roster(database, ['tokens', 'create', '--name', '   ']);
    assert.equal(empty.status, 2, empty.stderr);
    assert.match(empty.stderr, /--name: A token name must be 1 to 100 characters long\./);
  });

  test('users create and groups create without their required options are usage errors (exit 2, usage printed)', () => {
    const database = freshDatabase();
    for (const [args, missing] of [
      [['users', 'create', '--login', 'abcd'], '--login and --name are required'],
      [['users', 'create', '--name', 'Abcd'], '--login and --name are required'],
      [['groups', 'create'], '--name is required'],
      [['groups', 'create', '--description', 'd'], '--name is required'],
    ] as const) {
      const run = roster(database, [...args]);
      assert.equal(run.status, 2, args.join(' '));
      assert.match(run.stderr, new RegExp(missing));
      assert.match(run.stderr, /Usage: roster (users|groups) create/);
    }
  });

  test('the last administrator cannot be deactivated (SonarQube\'s rule); once another exists, it can', () => {
    const database = freshDatabase();
    // The CLI acts as no user, so "not yourself" does not stop it: only this rule does.
    const refused = roster(database, ['users', 'deactivate', 'admin']);
    assert.equal(refused.status, 1);
    // (The first command also says where the first start put admin's password.)
    assert.equal(refused.stderr.trim().split('\n').at(-1), 'User is last administrator, and cannot be deactivated');
    assert.match(roster(database, ['users', 'list', '--q', 'admin']).stdout, /^admin\t.*\tactive,local,admin$/m);
    for (const args of [
      ['users', 'create', '--login', 'bob', '--name', 'Bob', '--saml'],
      ['groups', 'create', '--name', 'roster-administrators'],
      ['groups', 'add-member', '--group', 'roster-administrators', '--user', 'bob'],
    ]) assert.equal(roster(database, args).status, 0, args.join(' '));
    assert.equal(roster(database, ['users', 'deactivate', 'admin']).status, 0);
    // bob, an administrator through the group, is now the last one.
    const last = roster(database, ['users', 'deactivate', 'bob']);
    assert.equal(last.status, 1);
    assert.equal(last.stderr.trim(), 'User is last administrator, and cannot be deactivated');
    assert.match(roster(database, ['tokens', 'create', '--name', 't', '--user', 'admin']).stderr, /The user "admin" is deactivated\./);
    // Nor can bob leave the administrators' group, nor the group go: the same rule, in words for the group.
    for (const args of [
      ['groups', 'remove-member', '--group', 'roster-administrators', '--user', 'bob'],
      ['groups', 'delete', 'roster-administrators'],
    ]) {
      const run = roster(database, args);
      assert.equal(run.status, 1, args.join(' '));
      assert.match(run.stderr.trim(), /^No administrator would be left: the administrators' group holds the last administrator, who cannot leave it/, args.join(' '));
    }
    // admin's password cannot be reset while it is deactivated; the message says how to get it back.
    const reset = roster(database, ['admin', 'reset-password']);
    assert.equal(reset.status, 1);
    assert.match(reset.stderr, /The user "admin" is deactivated\. .*`npm run roster -- users create --login admin --name <name>` reactivates it as an administrator and prints its new password\./);
    const reactivated = roster(database, ['users', 'create', '--login', 'admin', '--name', 'Administrator']);
    assert.equal(reactivated.status, 0, reactivated.stderr);
    assert.match(roster(database, ['users', 'list', '--q', 'admin']).stdout, /^admin\t.*\tactive,local,admin$/m);
  });

  test('groups remove-member for a user who is not a member says so, naming both', () => {
    const database = freshDatabase();
    for (const args of [
      ['users', 'create', '--login', 'zed', '--name', 'Zed', '--saml'],
      ['groups', 'create', '--name', 'ops'],
    ]) assert.equal(roster(database, args).status, 0, args.join(' '));
    const run = roster(database, ['groups', 'remove-member', '--group', 'ops', '--user', 'zed']);
    assert.equal(run.status, 1);
    assert.equal(run.stderr.trim().split('\n').at(-1), "User 'zed' is not a member of group 'ops'.");
  });

  test('groups are found by name however many other names contain it (a search\'s first 500 missed it)', async () => {
    const database = freshDatabase();
    assert.equal(roster(database, ['users', 'create', '--login', 'bea', '--name', 'Bea', '--saml']).status, 0);
    const store = await openStore({ kind: 'sqlite', path: database });
    try {
      const services = createServices(store);
      // 501 names containing "ops" that sort before it.
      for (let index = 0; index < 501; index += 1) await services.groupManagement.create({ name: `a-ops-${String(index).padStart(3, '0')}` }, { kind: 'cli' });
      await services.groupManagement.create({ name: 'ops' }, { kind: 'cli' });
    } finally {
      await store.close();
    }
    const added = roster(database, ['groups', 'add-member', '--group', 'OPS', '--user', 'bea']);
    assert.equal(added.status, 0, added.stderr);
    assert.equal(roster(database, ['groups', 'delete', 'ops']).status, 0);
    const gone = roster(database, ['groups', 'delete', 'ops']);
    assert.equal(gone.status, 1);
    assert.match(gone.stderr, /No group is named "ops"/);
  });

  test('names from outside are printed with their control characters escaped: no forged row, no escape sequence, in users, groups and apps list', async () => {
    const database = freshDatabase();
    assert.equal(roster(database, ['users', 'list']).status, 0);
    const store = await openStore({ kind: 'sqlite', path: database });
    try {
      const services = createServices(store);
      const cli = { kind: 'cli' } as const;
      // What an identity provider may send as a displayName: a forged row of the listing.
      await services.accounts.create({ login: 'tabby', name: 'Evil\tName\nroot\tRoot\t\tactive,local,admin', local: false }, cli);
      // Group names with control characters are refused now; one stored before that rule remains.
      const group = await services.groupManagement.create({ name: 'Ops', description: 'red\u001b]0;title\u0007' }, cli);
      await store.db.updateTable('groups').set({ name: 'Ops\u001b[31m\nFAKE\tlocal', name_key: 'ops\u001b[31m\nfake\tlocal' }).where('id', '=', group.id).execute();
      await services.applications.create({ name: 'A\u001b[31mpp\nFAKE', redirectUris: ['https://x.example.com/cb'], public: false, allowedGroups: [] }, cli);
    } finally {
      await store.close();
    }
    const users = roster(database, ['users', 'list']);
    assert.equal(users.status, 0, users.stderr);
    assert.deepEqual(users.stdout.trimEnd().split('\n').map((line) => line.split('\t')[0]), ['admin', 'tabby']);
    assert.match(users.stdout, /^tabby\tEvil\\x09Name\\x0aroot\\x09Root\\x09\\x09active,local,admin\t\tactive,saml$/m);
    const groups = roster(database, ['groups', 'list']);
    assert.equal(groups.stdout, 'Ops\\x1b[31m\\x0aFAKE\\x09local\tlocal\tred\\x1b]0;title\\x07\n');
    const apps = roster(database, ['apps', 'list']);
    assert.equal(apps.status, 0, apps.stderr);
    assert.equal(apps.stdout.trimEnd().split('\n').length, 2, apps.stdout);
    assert.match(apps.stdout, /A\\x1b\[31mpp\\x0aFAKE/);
    for (const run of [users, groups, apps]) assert.doesNotMatch(run.stdout, /\u001b/);
    // A refusal quoting the name escapes it too.
    const taken = roster(database, ['groups', 'create', '--name', 'ops\u001b[31m\nfake\tlocal']);
    assert.equal(taken.status, 1);
    assert.doesNotMatch(taken.stderr, /\u001b/);
    assert.match(taken.stderr, /must not contain control characters/);
  });

  test('a member of the administrators\' group is listed as admin and gets no warning for its token', () => {
    const database = freshDatabase();
    for (const args of [
      ['users', 'create', '--login', 'bob', '--name', 'Bob', '--saml'],
      ['groups', 'create', '--name', 'Ops Admins'],
      ['groups', 'add-member', '--group', 'Ops Admins', '--user', 'bob'],
    ]) assert.equal(roster(database, args).status, 0, args.join(' '));
    assert.match(roster(database, ['users', 'list', '--q', 'bob']).stdout, /^bob\tBob\t\tactive,saml$/m, 'not an administrator under the default group name');
    const env = { ROSTER_ADMIN_GROUP: 'ops admins' };
    assert.match(roster(database, ['users', 'list', '--q', 'bob'], env).stdout, /^bob\tBob\t\tactive,saml,admin$/m);
    const token = roster(database, ['tokens', 'create', '--name', 'bob-script', '--user', 'bob'], env);
    assert.equal(token.status, 0, token.stderr);
    assert.doesNotMatch(token.stderr, /not an administrator/);
  });

  test('audit export with a bad option value exits 2 naming the option, with the usage', () => {
    const database = freshDatabase();
    for (const [args, message] of [
      [['--format', 'xml'], /^roster: --format "xml": must be one of/m],
      [['--target-type', 'foo'], /^roster: --target-type "foo": must be one of user, group/m],
      [['--from', 'yesterday'], /^roster: --from "yesterday": must be an ISO 8601 date/m],
    ] as const) {
      const run = roster(database, ['audit', 'export', ...args]);
      assert.equal(run.status, 2, args.join(' '));
      assert.match(run.stderr, message);
      assert.match(run.stderr, /Usage: roster audit export/);
      assert.doesNotMatch(run.stderr, /for field/);
    }
  });

  test('audit export prints JSON lines, oldest first, with filters', () => {
    const database = freshDatabase();
    roster(database, ['groups', 'create', '--name', 'ops']);
    const run = roster(database, ['audit', 'export']);
    assert.equal(run.status, 0, run.stderr);
    const events = run.stdout.trimEnd().split('\n').map((line) => JSON.parse(line));
    assert.deepEqual(events.map((event) => event.action), ['user.created', 'group.created']);
    assert.ok(events[0].seq < events[1].seq);
    const filtered = roster(database, ['audit', 'export', '--actor', 'cli', '--target-type', 'group']);
    assert.equal(filtered.stdout.trimEnd().split('\n').length, 1);
    // The user behind the actor alone: no user is behind the command line's entries.
    const byUser = roster(database, ['audit', 'export', '--actor-user', 'cli']);
    assert.equal(byUser.status, 0, byUser.stderr);
    assert.equal(byUser.stdout, '');
    const future = roster(database, ['audit', 'export', '--from', '2999-01-01']);
    assert.equal(future.stdout, '');
    // A bad option value is a command-line error: exit 2, naming the option.
    const soon = roster(database, ['audit', 'export', '--from', 'soon']);
    assert.equal(soon.status, 2);
    assert.match(soon.stderr, /--from "soon"/);
    const csv = roster(database, ['audit', 'export', '--format', 'csv', '--action', 'group.*']);
    assert.equal(csv.status, 0, csv.stderr);
    const records = csv.stdout.split('\r\n');
    assert.equal(records[0], 'seq,at,actor,actorUser,action,targetType,targetId,details');
    assert.match(records[1] ?? '', /^\d+,[^,]+,cli,,group\.created,group,[^,]+,"\{""after"":\{""name"":""ops""/);
    assert.equal(records[2], '');
    assert.equal(roster(database, ['audit', 'export', '--format', 'xml']).status, 2);
  });

  test('audit purge deletes entries past ROSTER_AUDIT_RETENTION_DAYS and says so in the trail; without the variable it deletes nothing', async () => {
    const database = freshDatabase();
    roster(database, ['groups', 'create', '--name', 'ops']);
    const store = await openStore({ kind: 'sqlite', path: database });
    try {
      await store.db.insertInto('audit_events').values({ at: new Date(Date.now() - 400 * 86_400_000).toISOString(), actor: 'cli', actor_user: null, action: 'group.created', target_type: 'group', target_id: 'ancient', details: null }).execute();
    } finally {
      await store.close();
    }
    const kept = roster(database, ['audit', 'purge']);
    assert.equal(kept.status, 0, kept.stderr);
    assert.equal(kept.stdout.trim(), 'ROSTER_AUDIT_RETENTION_DAYS is not set: the audit trail is kept for ever, and nothing was deleted.');
    const purge = roster(database, ['audit', 'purge'], { ROSTER_AUDIT_RETENTION_DAYS: '365' });
    assert.equal(purge.status, 0, purge.stderr);
    assert.equal(purge.stdout.trim(), 'Deleted 1 audit entry older than 365 days.');
    const events = roster(database, ['audit', 'export']).stdout.trimEnd().split('\n').map((line) => JSON.parse(line));
    assert.deepEqual(events.map((event) => [event.action, event.actor, event.targetId]), [['user.created', 'system', events[0].targetId], ['group.created', 'cli', events[1].targetId], ['audit.purged', 'cli', null]]);
    assert.equal(events[2].details.deleted, 1);
    assert.equal(events[2].details.retentionDays, 365);
  });
});

describe('roster schemas and db case-conflicts', () => {
  const URN = 'urn:ietf:params:scim:schemas:extension:acme:2.0:User';

  test('schemas add, list and remove, refused while users carry it unless --force', async () => {
    const database = freshDatabase();
    const file = join(dir, 'acme.json');
    writeFileSync(file, JSON.stringify({ id: URN, name: 'AcmeUser', extends: 'User', attributes: [{ name: 'badge', type: 'string', uniqueness: 'server' }, { name: 'skills', type: 'string', multiValued: true }] }));
    const added = roster(database, ['schemas', 'add', file]);
    assert.equal(added.status, 0, added.stderr);
    assert.match(added.stdout, new RegExp(`^Declared ${URN} \\(extends User, 2 attributes\\)\\.$`, 'm'));
    assert.equal(roster(database, ['schemas', 'list']).stdout, `${URN}\tUser\tAcmeUser\tbadge (string), skills (string[])\n`);

    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{"id": ');
    const notJson = roster(database, ['schemas', 'add', broken]);
    assert.equal(notJson.status, 1);
    assert.match(notJson.stderr, /broken\.json is not JSON/);
    writeFileSync(broken, JSON.stringify({ id: URN, name: 'Again', extends: 'Users', attributes: [] }));
    const invalid = roster(database, ['schemas', 'add', broken]);
    assert.equal(invalid.status, 1);
    assert.match(invalid.stderr, /^The schema definition is not valid: id: .* is already declared.*; extends: must be "User" or "Group" \(not "Users"\); attributes: must be a non-empty array/);
    assert.equal(roster(database, ['schemas', 'add']).status, 2);

    const store = await openStore({ kind: 'sqlite', path: database });
    try {
      const { createServices } = await import('../../src/services.ts');
      // Written as the IdP would write it, so with SCIM on.
      await turnScimOn(store);
      await createServices(store).users.create({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'ada', [URN]: { badge: 'B1' } }, { kind: 'cli' });
    } finally {
      await store.close();
    }
    const refused = roster(database, ['schemas', 'remove', URN]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /is in use: 1 user carries its attributes\. Remove it with --force/);
    const removed = roster(database, ['schemas', 'remove', URN, '--force']);
    assert.equal(removed.status, 0, removed.stderr);
    assert.match(removed.stdout, new RegExp(`^Removed ${URN}; its values were deleted from 1 user\\.$`, 'm'));
    assert.match(roster(database, ['schemas', 'list']).stderr, /No extension schema is declared/);
  });

  test('db case-conflicts prints nothing when names are unique, and each shared name with exit 1', async () => {
    const database = freshDatabase();
    const clean = roster(database, ['db', 'case-conflicts']);
    assert.equal(clean.status, 0, clean.stderr);
    assert.equal(clean.stdout, '');

    // What migration 011 leaves when two existing logins differ only in case (see its test).
    const store = await openStore({ kind: 'sqlite', path: database });
    try {
      const { createServices } = await import('../../src/services.ts');
      const services = createServices(store);
      const anna = await services.accounts.create({ login: 'anna', name: 'Anna', local: false }, { kind: 'cli' });
      const other = await services.accounts.create({ login: 'other', name: 'Other', local: false }, { kind: 'cli' });
      await store.db.updateTable('users').set({ login: 'ANNA', login_key: 'anna', login_conflict: 1 }).where('id', '=', other.id).execute();
      const run = roster(database, ['db', 'case-conflicts']);
      assert.equal(run.status, 1);
      assert.equal(run.stdout, `users "anna" (id ${anna.id}), "ANNA" (id ${other.id}) have the same name regardless of case\n`);
      assert.match(run.stderr, /1 name is shared regardless of case: rename all but one/);
    } finally {
      await store.close();
    }
  });
});

describe('roster secrets', () => {
  test('status only reports: with a key on a plaintext database it says what the next start would seal, and seals nothing; without the key on a sealed one it says Roster will not start, exit 0', () => {
    const database = freshDatabase();
    const key = randomBytes(32).toString('base64');
    configureSaml(database);
    const keyId = (run: Run) => /key ([0-9a-f]{8})/.exec(run.stdout)?.[1];
    for (let round = 0; round < 2; round += 1) {
      const status = roster(database, ['secrets', 'status'], { ROSTER_SECRET_KEY: key });
      assert.equal(status.status, 0, status.stderr);
      assert.match(status.stdout, /^Secrets are not encrypted at rest\.\n0 sealed, [1-9]\d* plaintext\nROSTER_SECRET_KEY is key [0-9a-f]{8}: the next start of Roster .* seals the \d+ values? in plaintext with it\.\n$/, `round ${round}`);
    }
    assert.match(roster(database, ['secrets', 'status']).stdout, /^Secrets are not encrypted at rest\.\n0 sealed, [1-9]\d* plaintext\nROSTER_SECRET_KEY is not set\.\n$/);

    // Another command starts Roster, which seals; status then names the key, and reports its absence.
    const sealedBy = roster(database, ['scim', 'status'], { ROSTER_SECRET_KEY: key });
    assert.equal(sealedBy.status, 0, sealedBy.stderr);
    const matches = roster(database, ['secrets', 'status'], { ROSTER_SECRET_KEY: key });
    assert.match(matches.stdout, /^Secrets are sealed with key [0-9a-f]{8} \(AES-256-GCM\)\.\n[1-9]\d* sealed, 0 plaintext\nROSTER_SECRET_KEY is that key\.\n$/);
    const missing = roster(database, ['secrets', 'status']);
    assert.equal(missing.status, 0, missing.stderr);
    assert.match(missing.stdout, /^Secrets are sealed with key [0-9a-f]{8} \(AES-256-GCM\)\.\n[1-9]\d* sealed, 0 plaintext\nROSTER_SECRET_KEY is not set: Roster does not start without key [0-9a-f]{8}\.\n$/);
    assert.equal(keyId(missing), keyId(matches));
    const wrong = roster(database, ['secrets', 'status'], { ROSTER_SECRET_KEY: randomBytes(32).toString('base64') });
    assert.equal(wrong.status, 1);
    assert.match(wrong.stdout, /^Secrets are sealed with key [0-9a-f]{8}/);
    assert.match(wrong.stderr, /^ROSTER_SECRET_KEY is key [0-9a-f]{8}, but the database's secrets are sealed with key [0-9a-f]{8}/);
  });

  test('a wrong or malformed ROSTER_SECRET_KEY stops commands and serve with a clear message; rotate-key re-seals with the new key', () => {
    const database = freshDatabase();
    const first = randomBytes(32).toString('base64');
    const second = randomBytes(32).toString('hex');
    const configured = roster(database, ['saml', 'configure', '--idp-entity-id', 'https://idp.example.com', '--idp-sso-url', 'https://idp.example.com/sso', '--idp-certificate', certFile], { ROSTER_SECRET_KEY: first });
    assert.equal(configured.status, 0, configured.stderr);
    assert.match(roster(database, ['secrets', 'status'], { ROSTER_SECRET_KEY: first }).stdout, /^Secrets are sealed with key [0-9a-f]{8} \(AES-256-GCM\)\.\n\d+ sealed, 0 plaintext/);

    const malformed = roster(database, ['scim', 'status'], { ROSTER_SECRET_KEY: 'hunter2' });
    assert.equal(malformed.status, 1);
    assert.match(malformed.stderr, /^ROSTER_SECRET_KEY must be 32 random bytes written as 64 hexadecimal digits or as base64/);
    assert.doesNotMatch(malformed.stderr, /hunter2/);
    const wrong = roster(database, ['scim', 'status'], { ROSTER_SECRET_KEY: second });
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /^ROSTER_SECRET_KEY is key [0-9a-f]{8}, but the database's secrets are sealed with key [0-9a-f]{8}/);
    const serve = roster(database, ['serve'], { ROSTER_SECRET_KEY: second, ROSTER_PORT: '65531' });
    assert.equal(serve.status, 1);
    assert.match(serve.stderr, /ROSTER_SECRET_KEY is key [0-9a-f]{8}, but the database's secrets are sealed with key/);
    const none = roster(database, ['scim', 'status']);
    assert.equal(none.status, 1);
    assert.match(none.stderr, /sealed with key [0-9a-f]{8}, but ROSTER_SECRET_KEY is not set/);

    const rotated = roster(database, ['secrets', 'rotate-key'], { ROSTER_SECRET_KEY: first, ROSTER_NEW_SECRET_KEY: second });
    assert.equal(rotated.status, 0, rotated.stderr);
    assert.match(rotated.stdout.trim(), /^[0-9a-f]{8}$/);
    assert.equal(roster(database, ['scim', 'status'], { ROSTER_SECRET_KEY: first }).status, 1);
    const after = roster(database, ['secrets', 'status'], { ROSTER_SECRET_KEY: second });
    assert.equal(after.status, 0, after.stderr);
    assert.ok(after.stdout.includes(`sealed with key ${rotated.stdout.trim()}`));
  });
});
