/**
 * An IdP signing-certificate rollover done with the CLI as docs/saml.md says, while users sign
 * in through another instance: add the next certificate beside the current one, let the IdP
 * switch, then remove the old one, naming it by the SHA-256 `saml show` prints. Nothing else is
 * retyped, and at no step does a sign-in signed with the certificate the IdP uses fail.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildApp } from '../../src/http/app.ts';
import { createServices } from '../../src/services.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { BASE_URL, startTestApp, testKeyPair, userBody, type TestApp } from '../support/app.ts';
import { runRoster } from '../support/cli.ts';
import { eachDatabase } from '../support/databases.ts';
import { signIn } from './idp.ts';

eachDatabase('SAML IdP certificate rollover with saml configure', (database) => {
  let app: TestApp;
  let otherStore: Store;
  let other: TestApp;
  let dir: string;
  const current = testKeyPair();
  const next = testKeyPair('next-idp');

  before(async () => {
    // startTestApp trusts `current` only.
    app = await startTestApp({ database });
    assert.equal((await app.request('POST', '/Users', userBody('ada'))).status, 201);
    // The sign-ins go to a second instance on the same database, as behind a load balancer.
    otherStore = await openStore(app.location);
    other = { ...app, app: await buildApp({ services: createServices(otherStore, { baseUrl: BASE_URL }), baseUrl: BASE_URL }) };
    dir = mkdtempSync(join(tmpdir(), 'roster-rollover-'));
    writeFileSync(join(dir, 'next-idp.pem'), next.certificate);
  });
  after(async () => {
    await other.app.close();
    await otherStore.close();
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const roster = (...args: string[]) => runRoster(app.databaseUrl, args, { ROSTER_BASE_URL: BASE_URL, ROSTER_DATA_DIR: dir });
  /** Where the ACS sent the browser: `/` signed in, else the sign-in page with the error. */
  const signedIn = async (keyPair: typeof current) => {
    const answer = await signIn(other, { login: 'ada', keyPair });
    return answer.statusCode === 303 && answer.headers.location === '/';
  };

  test('--add-idp-certificate trusts the next certificate beside the current one; --remove-idp-certificate <SHA-256> then stops trusting the old one, and nothing else changes', async () => {
    assert.equal(await signedIn(current), true);
    assert.equal(await signedIn(next), false);

    const added = roster('saml', 'configure', '--add-idp-certificate', join(dir, 'next-idp.pem'));
    assert.equal(added.status, 0, added.stderr);
    assert.match(added.stdout, /^Changed: IdP certificates\.$/m);
    assert.match(added.stdout, /^Certificate 1: +CN=test-idp$/m);
    assert.match(added.stdout, /^Certificate 2: +CN=next-idp$/m);
    // Both sign in while the IdP switches, whichever it signs with.
    assert.equal(await signedIn(current), true);
    assert.equal(await signedIn(next), true);

    const again = roster('saml', 'configure', '--add-idp-certificate', join(dir, 'next-idp.pem'));
    assert.equal(again.status, 2);
    assert.match(again.stderr, /--add-idp-certificate: the certificate CN=next-idp \(SHA-256 [0-9A-F:]+\) is already trusted/);

    const oldFingerprint = new X509Certificate(current.certificate).fingerprint256;
    assert.match(roster('saml', 'show').stdout, new RegExp(`SHA-256: +${oldFingerprint}`));
    // As openssl and other tools print it too: without colons, in lower case.
    const removed = roster('saml', 'configure', '--remove-idp-certificate', oldFingerprint.replace(/:/g, '').toLowerCase());
    assert.equal(removed.status, 0, removed.stderr);
    assert.doesNotMatch(removed.stdout, /CN=test-idp/);
    assert.match(removed.stdout, /^Kept as stored: IdP entity ID, IdP sign-in URL/m);
    assert.equal(await signedIn(current), false);
    assert.equal(await signedIn(next), true);

    const gone = roster('saml', 'configure', '--remove-idp-certificate', oldFingerprint);
    assert.equal(gone.status, 2);
    assert.match(gone.stderr, /no trusted certificate has the SHA-256/);
    const mixed = roster('saml', 'configure', '--idp-certificate', join(dir, 'next-idp.pem'), '--add-idp-certificate', join(dir, 'next-idp.pem'));
    assert.equal(mixed.status, 2);
    assert.match(mixed.stderr, /--idp-certificate replaces the whole list/);
  });
});
