/**
 * A rollover of Roster's own SP key pair, as docs/saml.md describes it, while users sign in
 * through another instance on the same database: add the next pair beside the current one (both
 * published, both decrypting, requests still signed with the current key), make it current
 * (requests signed with the new key, the old one still decrypting), then remove the old one
 * (assertions encrypted to it refused). The CLI, the admin API and the console each drive it.
 */
import assert from 'node:assert/strict';
import { verify, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildApp } from '../../src/http/app.ts';
import { createServices } from '../../src/services.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { BASE_URL, startTestApp, testCertificate, testKeyPair, userBody, TEST_IDP, type TestApp, type TestKeyPair } from '../support/app.ts';
import { runRoster } from '../support/cli.ts';
import { eachDatabase } from '../support/databases.ts';
import { getPage, postForm, sessionFor, type ConsoleSession } from '../support/console.ts';
import { buildEncryptedResponse, postResponse, publishedCertificates, startLogin } from './idp.ts';

const SETTINGS = '/api/v2/authentication/saml';

const compact = (pem: string): string => pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
const fingerprint = (pair: TestKeyPair): string => new X509Certificate(pair.certificate).fingerprint256;

const published = publishedCertificates;

/** Which of `pairs` signed the AuthnRequest of a sign-in started now (redirect binding, Bindings §3.4.4.1). */
async function requestSigner(app: TestApp, pairs: readonly TestKeyPair[]): Promise<TestKeyPair | undefined> {
  const { location } = await startLogin(app);
  const query = new URL(location).search.slice(1);
  const parts = new Map(query.split('&').map((part) => [part.slice(0, part.indexOf('=')), part] as const));
  const signed = Buffer.from(['SAMLRequest', 'RelayState', 'SigAlg'].flatMap((name) => parts.get(name) ?? []).join('&'));
  const signature = Buffer.from(decodeURIComponent(parts.get('Signature')?.split('=')[1] ?? ''), 'base64');
  return pairs.find((pair) => verify('RSA-SHA256', signed, pair.certificate, signature));
}

eachDatabase('SP key pair rollover', (database) => {
  const old = testKeyPair('roster-sp');
  const next = testKeyPair('roster-sp-next');
  const stranger = testKeyPair('someone-elses-sp');
  let app: TestApp;
  let otherStore: Store;
  let other: TestApp;
  let dir: string;
  let admin: ConsoleSession;

  before(async () => {
    app = await startTestApp({ database });
    assert.equal((await app.request('POST', '/Users', userBody('ada'))).status, 201);
    otherStore = await openStore(app.location);
    const otherServices = createServices(otherStore, { baseUrl: BASE_URL });
    other = { ...app, services: otherServices, app: await buildApp({ services: otherServices, baseUrl: BASE_URL }) };
    dir = mkdtempSync(join(tmpdir(), 'roster-sp-rollover-'));
    for (const [name, pair] of [['old', old], ['next', next], ['stranger', stranger]] as const) {
      writeFileSync(join(dir, `${name}.pem`), pair.certificate);
      writeFileSync(join(dir, `${name}.key`), pair.privateKey);
    }
    admin = await sessionFor(app, app.adminId);
  });
  after(async () => {
    await other.app.close();
    await otherStore.close();
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Stores the old pair as the only one, signing requests (the state before a rollover). */
  async function startWithOldPair(): Promise<void> {
    const configured = await app.services.saml.configure(
      { ...TEST_IDP, certificates: [testCertificate()], spCertificate: old.certificate, spPrivateKey: old.privateKey, spAdditionalKeyPairs: [], signRequests: true },
      { kind: 'cli' },
    );
    assert.ok(configured.ok);
  }

  const roster = (...args: string[]) => runRoster(app.databaseUrl, args, { ROSTER_BASE_URL: BASE_URL, ROSTER_DATA_DIR: dir });
  /** The outcome of a sign-in on the other instance whose assertion is encrypted to `pair`'s certificate. */
  const signInEncryptedTo = async (pair: TestKeyPair): Promise<string> => {
    const { requestId } = await startLogin(other);
    const response = await postResponse(other, await buildEncryptedResponse({ login: 'ada', inResponseTo: requestId, encryptTo: pair.certificate }));
    if (response.statusCode === 303 && response.headers.location === '/') return 'signed in';
    const refusal = await app.services.store.db.selectFrom('audit_events').select('details').where('action', '=', 'saml.sign_in_refused').orderBy('seq', 'desc').executeTakeFirstOrThrow();
    return JSON.parse(refusal.details ?? '{}').reason;
  };

  test('saml configure: --add-sp-certificate/--add-sp-private-key, --use-sp-certificate, --remove-sp-certificate roll the SP key pair without a failed sign-in', async () => {
    await startWithOldPair();
    assert.equal(await signInEncryptedTo(old), 'signed in');
    assert.equal(await signInEncryptedTo(next), 'decryption_failed');

    const added = roster('saml', 'configure', '--add-sp-certificate', join(dir, 'next.pem'), '--add-sp-private-key', join(dir, 'next.key'));
    assert.equal(added.status, 0, added.stderr);
    assert.match(added.stdout, /^Changed: additional SP key pairs\.$/m);
    assert.match(added.stdout, /^Kept as stored: .*SP key pair, sign requests/m);
    assert.match(added.stdout, /^SP certificate 1: CN=roster-sp \(current: signs requests, decrypts\)$/m);
    assert.match(added.stdout, /^SP certificate 2: CN=roster-sp-next \(decrypts until removed\)$/m);
    // Both published, the current one first; requests still signed with the current key.
    assert.deepEqual(await published(other), { signing: [compact(old.certificate), compact(next.certificate)], encryption: [compact(old.certificate), compact(next.certificate)] });
    assert.equal(await requestSigner(other, [old, next]), old);
    assert.equal(await signInEncryptedTo(old), 'signed in');
    assert.equal(await signInEncryptedTo(next), 'signed in');
    assert.equal(await signInEncryptedTo(stranger), 'decryption_failed');

    const switched = roster('saml', 'configure', '--use-sp-certificate', fingerprint(next));
    assert.equal(switched.status, 0, switched.stderr);
    assert.match(switched.stdout, /^Changed: SP key pair, additional SP key pairs\.$/m);
    assert.equal(await requestSigner(other, [old, next]), next);
    assert.deepEqual((await published(other))['encryption'], [compact(next.certificate), compact(old.certificate)]);
    assert.equal(await signInEncryptedTo(old), 'signed in', 'the old key still decrypts after the switch');
    assert.equal(await signInEncryptedTo(next), 'signed in');

    const current = roster('saml', 'configure', '--remove-sp-certificate', fingerprint(next));
    assert.equal(current.status, 2);
    assert.match(current.stderr, /--remove-sp-certificate "[0-9A-F:]+": the certificate CN=roster-sp-next \(SHA-256 [0-9A-F:]+\) is the current SP key pair, which signs requests: make the next one current first \(--use-sp-certificate\)/);

    const removed = roster('saml', 'configure', '--remove-sp-certificate', join(dir, 'old.pem'));
    assert.equal(removed.status, 0, removed.stderr);
    assert.deepEqual(await published(other), { signing: [compact(next.certificate)], encryption: [compact(next.certificate)] });
    assert.equal(await signInEncryptedTo(old), 'decryption_failed');
    assert.equal(await signInEncryptedTo(next), 'signed in');
    assert.equal(await requestSigner(other, [old, next]), next);

    // Each step is audited as every SAML change is: fingerprints, never a key.
    const changes = await app.services.store.db.selectFrom('audit_events').select('details').where('action', '=', 'setting.changed').orderBy('seq', 'desc').limit(3).execute();
    const values = changes.map((row) => JSON.parse(row.details ?? '{}').value).reverse();
    assert.deepEqual(values.map((value) => [value.spCertificate, value.spAdditionalKeyPairs]), [
      [fingerprint(old), [fingerprint(next)]],
      [fingerprint(next), [fingerprint(old)]],
      [fingerprint(next), []],
    ]);
    assert.doesNotMatch(JSON.stringify(changes), /PRIVATE KEY/);
  });

  test('saml configure refuses a rollover step that cannot apply, saying why, and changes nothing', async () => {
    await startWithOldPair();
    const before = await app.services.saml.get();
    const cases: Array<[string[], RegExp]> = [
      [['--add-sp-certificate', join(dir, 'next.pem')], /give --add-sp-certificate and --add-sp-private-key together/],
      [['--add-sp-certificate', join(dir, 'old.pem'), '--add-sp-private-key', join(dir, 'old.key')], /--add-sp-certificate: the certificate CN=roster-sp \(SHA-256 [0-9A-F:]+\) is the current SP key pair/],
      [['--use-sp-certificate', fingerprint(next)], /--use-sp-certificate "[0-9A-F:]+": no SP key pair has the certificate with the SHA-256 [0-9A-F:]+ \(`roster saml show` lists them\)/],
      [['--sp-certificate', join(dir, 'next.pem'), '--sp-private-key', join(dir, 'next.key'), '--use-sp-certificate', fingerprint(next)], /--sp-certificate and --sp-private-key replace the current SP key pair/],
      // The key file given for the certificate: it names no pair, and is said to (it once removed nothing, exit 0).
      [['--remove-sp-certificate', join(dir, 'old.key')], /--remove-sp-certificate "[^"]*old\.key": the text holds no certificate: name the SP key pair by its certificate \(PEM\) or its SHA-256 fingerprint/],
      [['--remove-sp-certificate', ''], /--remove-sp-certificate "": the text holds no certificate/],
      // A fingerprint as other tools print it (no colons, lower case) is one, not a file name.
      [['--use-sp-certificate', fingerprint(next).replace(/:/g, '').toLowerCase()], /--use-sp-certificate "[0-9a-f]{64}": no SP key pair has the certificate with the SHA-256 [0-9A-F:]{95}/],
    ];
    for (const [args, message] of cases) {
      const refused = roster('saml', 'configure', ...args);
      assert.equal(refused.status, 2, args.join(' '));
      assert.match(refused.stderr, message);
    }
    // The same rules as the current pair's: the key must match its certificate, every problem at once.
    const mismatched = roster('saml', 'configure', '--add-sp-certificate', join(dir, 'next.pem'), '--add-sp-private-key', join(dir, 'stranger.key'), '--login-attribute', 'x'.repeat(2000));
    assert.notEqual(mismatched.status, 0);
    assert.match(mismatched.stderr, /--login-attribute: the attribute name must be at most 1024 characters/);
    assert.match(mismatched.stderr, /SP certificate 2: the SP private key does not belong to the SP certificate/);
    assert.deepEqual(await app.services.saml.get(), before);
  });

  test('PUT /api/v2/authentication/saml: spAdditionalKeyPairs adds the next pair, a pair named by its certificate keeps its key, and GET never shows a key', async () => {
    await startWithOldPair();
    const shown = await app.request('GET', SETTINGS);
    assert.deepEqual(shown.body.spAdditionalKeyPairs, []);
    const added = await app.request('PUT', SETTINGS, { ...shown.body, spAdditionalKeyPairs: [{ certificate: next.certificate, privateKey: next.privateKey }] });
    assert.equal(added.status, 200, JSON.stringify(added.body));
    assert.deepEqual(added.body.spAdditionalKeyPairs.map((pair: { certificate: string }) => compact(pair.certificate)), [compact(next.certificate)]);
    assert.deepEqual(added.body.spCertificateDetails.map((detail: { fingerprint256: string }) => detail.fingerprint256), [fingerprint(old), fingerprint(next)]);
    assert.doesNotMatch(JSON.stringify(added.body), /PRIVATE KEY/);
    assert.equal(await signInEncryptedTo(next), 'signed in');

    // What GET returns PUTs back unchanged: the keys are kept.
    const roundTrip = await app.request('PUT', SETTINGS, (await app.request('GET', SETTINGS)).body);
    assert.equal(roundTrip.status, 200, JSON.stringify(roundTrip.body));
    assert.equal(await signInEncryptedTo(next), 'signed in');
    assert.equal(await signInEncryptedTo(old), 'signed in');

    // The switch: the next certificate as spCertificate, the old one among the additional pairs, no key sent.
    const switched = await app.request('PUT', SETTINGS, { ...roundTrip.body, spCertificate: next.certificate, spAdditionalKeyPairs: [{ certificate: old.certificate }] });
    assert.equal(switched.status, 200, JSON.stringify(switched.body));
    assert.equal(await requestSigner(other, [old, next]), next);
    assert.equal(await signInEncryptedTo(old), 'signed in');

    // A pair whose key is not stored, and an unreadable certificate: every wrong field at once.
    const refused = await app.request('PUT', SETTINGS, { ...switched.body, loginUrl: 'ftp://idp.example.com', spAdditionalKeyPairs: [{ certificate: stranger.certificate }, { certificate: 'not a certificate', privateKey: stranger.privateKey }] });
    assert.equal(refused.status, 400);
    assert.deepEqual(refused.body.errors.map((error: { field: string; index?: number }) => [error.field, error.index]), [['loginUrl', undefined], ['spAdditionalKeyPairs', 0], ['spAdditionalKeyPairs', 1]]);
    assert.match(refused.body.errors[1].message, /the SP private key is required with the SP certificate/);
    assert.match(refused.body.errors[2].message, /not a valid X\.509 certificate/);

    const ended = await app.request('PUT', SETTINGS, { ...switched.body, spAdditionalKeyPairs: [] });
    assert.equal(ended.status, 200);
    assert.equal(await signInEncryptedTo(old), 'decryption_failed');
    assert.equal(await signInEncryptedTo(next), 'signed in');
  });

  test('PUT /api/v2/authentication/saml: another spCertificate with spAdditionalKeyPairs omitted keeps the pair it replaces decrypting, `[]` drops it', async () => {
    await startWithOldPair();
    const shown = (await app.request('GET', SETTINGS)).body;
    const { spAdditionalKeyPairs: _omitted, ...withoutPairs } = shown;
    // A whole new pair, as an administrator who never heard of the rollover would send it.
    const replaced = await app.request('PUT', SETTINGS, { ...withoutPairs, spCertificate: next.certificate, spPrivateKey: next.privateKey });
    assert.equal(replaced.status, 200, JSON.stringify(replaced.body));
    assert.deepEqual(replaced.body.spCertificateDetails.map((detail: { fingerprint256: string }) => detail.fingerprint256), [fingerprint(next), fingerprint(old)]);
    assert.equal(await requestSigner(other, [old, next]), next);
    assert.equal(await signInEncryptedTo(old), 'signed in', 'the IdP that still encrypts to the old certificate is not cut off');
    assert.equal(await signInEncryptedTo(next), 'signed in');

    // Back to the old pair, named by its certificate alone: the same swap, keys kept.
    const { spAdditionalKeyPairs: _again, ...back } = replaced.body;
    const swapped = await app.request('PUT', SETTINGS, { ...back, spCertificate: old.certificate });
    assert.equal(swapped.status, 200, JSON.stringify(swapped.body));
    assert.deepEqual(swapped.body.spCertificateDetails.map((detail: { fingerprint256: string }) => detail.fingerprint256), [fingerprint(old), fingerprint(next)]);
    assert.equal(await requestSigner(other, [old, next]), old);
    assert.equal(await signInEncryptedTo(next), 'signed in');

    // A leaked key is dropped at once by saying so.
    const cut = await app.request('PUT', SETTINGS, { ...back, spCertificate: next.certificate, spAdditionalKeyPairs: [] });
    assert.equal(cut.status, 200, JSON.stringify(cut.body));
    assert.deepEqual(cut.body.spAdditionalKeyPairs, []);
    assert.equal(await signInEncryptedTo(old), 'decryption_failed');
    assert.equal(await signInEncryptedTo(next), 'signed in');
  });

  test('GET /saml/metadata answers the same bytes on every request and instance, every KeyDescriptor on a line of its own, until the pairs change', async () => {
    await startWithOldPair();
    const metadata = async (instance: TestApp): Promise<string> => (await instance.app.inject({ method: 'GET', url: '/saml/metadata' })).body;
    const single = await metadata(app);
    assert.equal(await metadata(app), single, 'an IdP that diffs the metadata sees no change when there is none');
    assert.equal(await metadata(other), single);
    const third = testKeyPair('roster-sp-third');
    for (const pair of [next, third]) assert.ok((await app.services.saml.rollSpKeys({ add: pair }, { kind: 'cli' })).ok);
    const three = await metadata(app);
    assert.equal(await metadata(other), three);
    assert.notEqual(three, single);
    assert.notEqual(/\sID="([^"]+)"/.exec(three)?.[1], /\sID="([^"]+)"/.exec(single)?.[1], 'the document ID changes with the document');
    assert.match(String(/\sID="([^"]+)"/.exec(three)?.[1]), /^_[0-9a-f]{40}$/, 'an xs:ID (NCName)');
    assert.doesNotMatch(three, /><KeyDescriptor/);
    assert.equal(three.match(/^ {4}<KeyDescriptor use="(?:signing|encryption)">$/gm)?.length, 6);
    assert.deepEqual(await published(other), {
      signing: [compact(old.certificate), compact(next.certificate), compact(third.certificate)],
      encryption: [compact(old.certificate), compact(next.certificate), compact(third.certificate)],
    });
  });

  test('the console names each SP key pair by its fingerprint too: the docs’ openssl commands give every pair the subject CN=roster', async () => {
    const first = testKeyPair('roster', 365);
    const second = testKeyPair('roster', 730);
    const third = testKeyPair('roster', 1000);
    const configured = await app.services.saml.configure(
      { ...TEST_IDP, certificates: [testCertificate()], spCertificate: first.certificate, spPrivateKey: first.privateKey, spAdditionalKeyPairs: [second, third], signRequests: true },
      { kind: 'cli' },
    );
    assert.ok(configured.ok);
    const page = (await getPage(app, '/admin/authentication', admin)).body;
    const texts = (pattern: RegExp) => [...page.matchAll(pattern)].map((match) => String(match[1]).replace(/<[^>]+>/g, ''));
    const start = (pair: TestKeyPair) => fingerprint(pair).slice(0, 11);
    // What a screen reader announces for each button, and each confirmation's title.
    assert.deepEqual(texts(/<button type="submit" class="button default">(Make current<span[^]*?)<\/button>/g), [`Make current CN=roster (SHA-256 ${start(second)}…)`, `Make current CN=roster (SHA-256 ${start(third)}…)`]);
    assert.deepEqual(texts(/<button type="submit" class="button danger">(Remove<span[^]*?)<\/button>/g), [`Remove CN=roster (SHA-256 ${start(second)}…)`, `Remove CN=roster (SHA-256 ${start(third)}…)`]);
    assert.deepEqual(texts(/<h2 id="remove-sp-key-\d-title">([^<]*)<\/h2>/g), [`Remove the SP key pair CN=roster (SHA-256 ${start(second)}…)?`, `Remove the SP key pair CN=roster (SHA-256 ${start(third)}…)?`]);
    assert.match(page, new RegExp(`The certificate with the SHA-256 <code class="fingerprint">${fingerprint(third)}</code>, expiring <time`));
  });

  test('two administrators taking rollover steps at once on two instances lose neither step', async () => {
    const third = testKeyPair('roster-sp-third');
    for (let round = 0; round < 5; round += 1) {
      await startWithOldPair();
      // One adds the next pair in the console of one instance while the other adds another on the
      // second instance: each step reads the stored pairs and writes them back with its own.
      const [first, second] = await Promise.all([
        app.services.saml.rollSpKeys({ add: { certificate: next.certificate, privateKey: next.privateKey } }, { kind: 'cli' }),
        other.services.saml.rollSpKeys({ add: { certificate: third.certificate, privateKey: third.privateKey } }, { kind: 'cli' }),
      ]);
      assert.ok(first.ok && second.ok);
      const stored = await app.services.saml.get();
      assert.deepEqual(
        stored?.spAdditionalKeyPairs.map((pair) => new X509Certificate(pair.certificate).subject).sort(),
        ['CN=roster-sp-next', 'CN=roster-sp-third'],
        `round ${round}: a step was lost`,
      );
    }
  });

  test('a whole configuration made from what was read before another instance’s rollover step is refused, not written over the step', async () => {
    await startWithOldPair();
    // The command line (or a PUT) reads the configuration and makes its change from it …
    const read = await app.services.saml.get();
    assert.ok(read !== undefined);
    // … while an administrator adds the next pair in the console of another instance.
    assert.ok((await other.services.saml.rollSpKeys({ add: next }, { kind: 'cli' })).ok);
    await assert.rejects(
      app.services.saml.configure({ ...read, userLoginAttribute: 'upn' }, { kind: 'cli' }, { basedOn: read }),
      (error: Error & { code?: string }) => error.code === 'conflict' && /changed by someone else .* nothing was changed; read the configuration again and repeat the change/.test(error.message),
    );
    const stored = await app.services.saml.get();
    assert.deepEqual(stored?.spAdditionalKeyPairs.map((pair) => compact(pair.certificate)), [compact(next.certificate)], 'the added pair is kept');
    assert.equal(stored?.userLoginAttribute, read.userLoginAttribute);
    // Made from what is stored now, the same change applies.
    const again = await app.services.saml.configure({ ...stored!, userLoginAttribute: 'upn' }, { kind: 'cli' }, { basedOn: stored });
    assert.ok(again.ok);
    assert.equal(again.config.spAdditionalKeyPairs.length, 1);
  });

  test('the console’s Authentication page lists the SP key pairs and adds, switches and removes them with the domain’s rules and words', async () => {
    await startWithOldPair();
    const refused = await postForm(app, '/admin/authentication/saml/sp-keys', { nextSpCertificate: next.certificate, nextSpPrivateKey: stranger.privateKey }, { session: admin });
    assert.equal(refused.statusCode, 400);
    assert.match(refused.body, /the SP private key does not belong to the SP certificate/);
    const duplicate = await postForm(app, '/admin/authentication/saml/sp-keys', { nextSpCertificate: old.certificate, nextSpPrivateKey: old.privateKey }, { session: admin });
    assert.equal(duplicate.statusCode, 400);
    assert.match(duplicate.body, /is the current SP key pair/);

    const added = await postForm(app, '/admin/authentication/saml/sp-keys', { nextSpCertificate: next.certificate, nextSpPrivateKey: next.privateKey }, { session: admin });
    assert.equal(added.statusCode, 303, added.body);
    const page = await getPage(app, '/admin/authentication', admin);
    assert.match(page.body, /SP key pairs/);
    assert.match(page.body, /CN=roster-sp<\/td>\s*<td><span class="badge[^"]*">Current: signs requests, decrypts/);
    assert.match(page.body, /CN=roster-sp-next<\/td>\s*<td><span class="badge[^"]*">Decrypts only/);
    assert.equal(await signInEncryptedTo(next), 'signed in');
    assert.equal(await requestSigner(other, [old, next]), old);

    const switched = await postForm(app, '/admin/authentication/saml/sp-keys/use', { certificate: fingerprint(next) }, { session: admin });
    assert.equal(switched.statusCode, 303, switched.body);
    assert.equal(await requestSigner(other, [old, next]), next);
    const current = await postForm(app, '/admin/authentication/saml/sp-keys/remove', { certificate: fingerprint(next) }, { session: admin });
    assert.equal(current.statusCode, 400);
    assert.match(current.body, /is the current SP key pair, which signs requests: make the next one current first/);
    const nothing = await postForm(app, '/admin/authentication/saml/sp-keys/remove', { certificate: '' }, { session: admin });
    assert.equal(nothing.statusCode, 400, 'a form naming no certificate removes nothing, and says so');
    assert.match(nothing.body, /The text holds no certificate/);
    const removed = await postForm(app, '/admin/authentication/saml/sp-keys/remove', { certificate: fingerprint(old) }, { session: admin });
    assert.equal(removed.statusCode, 303, removed.body);
    assert.equal(await signInEncryptedTo(old), 'decryption_failed');
    assert.equal(await signInEncryptedTo(next), 'signed in');
  });
});
