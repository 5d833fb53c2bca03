/**
 * ROSTER_SECRET_KEY: secrets at rest are AES-256-GCM ciphertext in the database, everything
 * that uses them still works, a wrong or missing key stops start-up, plaintext is sealed when
 * a key is first configured, rotation re-seals everything, and db copy carries ciphertext.
 */
import assert from 'node:assert/strict';
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import * as client from 'openid-client';
import { createSettings } from '../../src/settings.ts';
import { createSamlConfigService } from '../../src/auth/saml-config.ts';
import { loadOidcKeys } from '../../src/auth/oidc-keys.ts';
import { copyDatabase } from '../../src/store/copy.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { createSecretBox, parseSecretKey, SecretsError } from '../../src/store/secret-box.ts';
import { rotateSecretKey } from '../../src/store/secrets.ts';
import { startTestApp, testCertificate, testKeyPair, TEST_IDP, type TestApp } from '../support/app.ts';
import { sessionFor } from '../support/console.ts';
import { createTestDatabase, eachDatabase, type ScratchDatabase } from '../support/databases.ts';
import { CookieJar, follow, relyingParty } from '../support/oidc.ts';
import { findWebhook } from '../../src/store/webhooks.ts';
import { SECRETS_UNREADABLE } from '../../src/http/errors.ts';
import { captureLog } from '../support/log-capture.ts';

const cli = { kind: 'cli' } as const;
const REDIRECT = 'https://app.example.com/callback';
const SECRET_SETTINGS = ['saml', 'oidc.keys', 'scim.cursorKey'];

async function storedSecrets(store: Store): Promise<Map<string, string>> {
  const rows = await store.db.selectFrom('settings').select(['key', 'value']).where('key', 'in', [...SECRET_SETTINGS, 'secrets.keyCheck']).execute();
  return new Map(rows.map((row) => [row.key, row.value]));
}

async function configureSigningSaml(store: Store): Promise<void> {
  const sp = testKeyPair('roster-sp');
  const result = await createSamlConfigService(createSettings(store)).configure(
    { ...TEST_IDP, certificates: [testCertificate()], signRequests: true, spCertificate: sp.certificate, spPrivateKey: sp.privateKey },
    cli,
  );
  assert.ok(result.ok, JSON.stringify(result));
}

describe('the secret box', () => {
  test('seals to enc:v1:<key id>:…, opens with the same key only, and passes plaintext through', () => {
    const key = randomBytes(32);
    const box = createSecretBox(key);
    const sealed = box.seal('-----BEGIN PRIVATE KEY-----');
    assert.match(sealed, new RegExp(`^enc:v1:${box.keyId}:[A-Za-z0-9_-]+$`));
    assert.notEqual(box.seal('same'), box.seal('same'), 'a fresh IV each time');
    assert.equal(box.open(sealed), '-----BEGIN PRIVATE KEY-----');
    assert.equal(box.open('{"plain":true}'), '{"plain":true}');
    assert.throws(() => createSecretBox(randomBytes(32)).open(sealed), SecretsError);
    assert.throws(() => createSecretBox(undefined).open(sealed), /ROSTER_SECRET_KEY is not set/);
    // The payload's first character: all six of its bits are data (the last character's low
    // bits may be padding a decoder ignores, and the old tamper could even rewrite it unchanged).
    const prefix = `enc:v1:${box.keyId}:`;
    const payload = sealed.slice(prefix.length);
    const tampered = `${prefix}${payload.startsWith('A') ? 'B' : 'A'}${payload.slice(1)}`;
    assert.throws(() => box.open(tampered), /does not decrypt|truncated/);
  });

  test('a previous key opens what it sealed and seals when named; another key is refused by id', () => {
    const old = randomBytes(32);
    const current = randomBytes(32);
    const before = createSecretBox(old);
    const box = createSecretBox(current, old);
    assert.equal(box.previousKeyId, before.keyId);
    assert.equal(box.open(before.seal('whsec_1')), 'whsec_1');
    assert.match(box.seal('x', before.keyId), new RegExp(`^enc:v1:${before.keyId}:`));
    assert.equal(before.open(box.seal('x', before.keyId ?? '')), 'x');
    assert.match(box.seal('x'), new RegExp(`^enc:v1:${box.keyId}:`));
    assert.throws(() => createSecretBox(current).open(before.seal('x')), SecretsError);
    assert.throws(() => box.seal('x', '00000000'), /sealed with key 00000000/);
  });

  test('keys are 64 hex digits or base64 of 32 bytes; anything else is refused without quoting it', () => {
    const key = randomBytes(32);
    assert.deepEqual(parseSecretKey(key.toString('hex')), key);
    assert.deepEqual(parseSecretKey(key.toString('base64')), key);
    assert.deepEqual(parseSecretKey(key.toString('base64url')), key);
    const refused = parseSecretKey('correct horse battery staple');
    assert.equal(typeof refused, 'string');
    assert.doesNotMatch(String(refused), /horse/);
    assert.equal(typeof parseSecretKey(randomBytes(16).toString('hex')), 'string');
  });
});

eachDatabase('secrets at rest', (database) => {
  const key = randomBytes(32);
  let app: TestApp;

  before(async () => {
    app = await startTestApp({ database, secretKey: key });
    await configureSigningSaml(app.services.store);
    await app.services.oidc.loadKeys();
    await app.services.listCursors.key();
  });
  after(async () => app.close());

  test('the SP private key, the OpenID signing keys and the cursor key are ciphertext in the database', async () => {
    const stored = await storedSecrets(app.services.store);
    for (const name of [...SECRET_SETTINGS, 'secrets.keyCheck']) {
      const value = stored.get(name);
      assert.ok(value !== undefined, `${name} is stored`);
      assert.match(value, /^enc:v1:[0-9a-f]{8}:/, `${name} is sealed`);
    }
    const all = [...stored.values()].join('\n');
    assert.doesNotMatch(all, /PRIVATE KEY|"d":|BEGIN CERTIFICATE/);
  });

  test('webhook signing secrets are ciphertext in the database, and both sign after a rotation', async () => {
    const actor = { kind: 'cli' } as const;
    const { webhook, secret } = await app.services.webhooks.create({ url: 'https://receiver.example.com/hook', types: null }, actor);
    const rotated = await app.services.webhooks.rotateSecret(webhook.id, actor);
    const row = await app.services.store.db.selectFrom('webhooks').select(['secret', 'previous_secret']).where('id', '=', webhook.id).executeTakeFirstOrThrow();
    assert.match(row.secret, /^enc:v1:[0-9a-f]{8}:/);
    assert.match(row.previous_secret ?? '', /^enc:v1:[0-9a-f]{8}:/);
    assert.doesNotMatch(`${row.secret} ${row.previous_secret ?? ''}`, /whsec_/);
    // What the delivery worker reads to sign: the plaintext pair, newest first.
    const stored = await findWebhook(app.services.store.db, app.services.store.dialect, app.services.store.secrets, webhook.id);
    assert.equal(stored?.secret, rotated.secret);
    assert.equal(stored?.previousSecret, secret);
  });

  test('SAML sign-in requests are still signed with the sealed SP key (the signature verifies with the SP certificate)', async () => {
    const redirect = await app.services.samlSp.loginRedirect('/', undefined);
    assert.ok(redirect);
    const query = redirect.url.slice(redirect.url.indexOf('?') + 1);
    const signed = query.split('&').filter((part) => !part.startsWith('Signature=')).join('&');
    const signature = new URL(redirect.url).searchParams.get('Signature');
    assert.ok(signature, 'the AuthnRequest is signed');
    assert.ok(verify('sha256', Buffer.from(signed), createPublicKey(testKeyPair('roster-sp').certificate), Buffer.from(signature, 'base64')));
  });

  test('OpenID ID tokens are still signed with the sealed key and verify against the JWKS', async () => {
    const { application, secret } = await app.services.applications.create({ name: 'Sealed', redirectUris: [REDIRECT], public: false, allowedGroups: [] }, cli);
    const config = await relyingParty(app, application.clientId, secret);
    const jar = new CookieJar();
    jar.add((await sessionFor(app, app.adminId)).cookie);
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state });
    const landing = await follow(app, url, jar);
    const tokens = await client.authorizationCodeGrant(config, landing.url, { pkceCodeVerifier: verifier, expectedState: state });
    const [header, payload, signature] = (tokens.id_token ?? '').split('.') as [string, string, string];
    const kid = JSON.parse(Buffer.from(header, 'base64url').toString()).kid as string;
    const jwks = JSON.parse((await app.app.inject({ method: 'GET', url: '/oidc/jwks' })).body) as { keys: { kid: string }[] };
    const publicKey = createPublicKey({ key: jwks.keys.find((candidate) => candidate.kid === kid) as never, format: 'jwk' });
    assert.ok(verify('sha256', Buffer.from(`${header}.${payload}`), publicKey, Buffer.from(signature, 'base64url')));
  });

  test('a wrong key, or none, stops start-up with a message naming the keys', async () => {
    const wrong = randomBytes(32);
    await assert.rejects(openStore(app.location, { secretKey: wrong }), (error: Error) => {
      assert.ok(error instanceof SecretsError);
      assert.match(error.message, new RegExp(`ROSTER_SECRET_KEY is key ${createSecretBox(wrong).keyId}, but the database's secrets are sealed with key ${createSecretBox(key).keyId}`));
      return true;
    });
    await assert.rejects(openStore(app.location), /sealed with key [0-9a-f]{8}, but ROSTER_SECRET_KEY is not set/);
  });
});

eachDatabase('secret key life cycle', (database) => {
  let scratch: ScratchDatabase;
  let copy: ScratchDatabase;
  before(async () => {
    scratch = await createTestDatabase(database);
    copy = await createTestDatabase(database);
  });
  after(async () => {
    await scratch.drop();
    await copy.drop();
  });

  test('plaintext secrets are sealed when a key is first configured; rotation re-seals them all; db copy carries the ciphertext', async () => {
    // Without a key: plaintext, as before.
    let store = await openStore(scratch.location);
    await configureSigningSaml(store);
    const keys = await loadOidcKeys(store);
    assert.match((await storedSecrets(store)).get('saml') ?? '', /^\{/);
    await store.close();

    // First start with a key: everything sealed, nothing lost.
    const first = randomBytes(32);
    store = await openStore(scratch.location, { secretKey: first });
    const sealed = await storedSecrets(store);
    assert.match(sealed.get('saml') ?? '', new RegExp(`^enc:v1:${createSecretBox(first).keyId}:`));
    assert.match(sealed.get('oidc.keys') ?? '', /^enc:v1:/);
    assert.deepEqual((await loadOidcKeys(store)).material, keys.material);
    assert.equal((await createSamlConfigService(createSettings(store)).get())?.spPrivateKey, testKeyPair('roster-sp').privateKey.trim());

    // Rotation: one transaction, then only the new key opens them.
    const second = randomBytes(32);
    const rotated = await rotateSecretKey(store, second);
    assert.equal(rotated.resealed, 2);
    await store.close();
    await assert.rejects(openStore(scratch.location, { secretKey: first }), /is key [0-9a-f]{8}, but the database's secrets are sealed with key/);
    store = await openStore(scratch.location, { secretKey: second });
    assert.match((await storedSecrets(store)).get('saml') ?? '', new RegExp(`^enc:v1:${createSecretBox(second).keyId}:`));
    assert.deepEqual((await loadOidcKeys(store)).material, keys.material);
    await store.close();

    // db copy: the source as it is, the target without a key; the ciphertext opens there with the key.
    const source = await openStore(scratch.location, { migrate: false });
    const target = await openStore(copy.location);
    await copyDatabase(source, target, () => {});
    await source.close();
    await target.close();
    store = await openStore(copy.location, { secretKey: second });
    assert.match((await storedSecrets(store)).get('saml') ?? '', /^enc:v1:/);
    assert.equal((await createSamlConfigService(createSettings(store)).get())?.spPrivateKey, testKeyPair('roster-sp').privateKey.trim());
    await store.close();
  });
});

eachDatabase('a secret the instance cannot open, while it serves', (database) => {
  const log = captureLog();
  let app: TestApp;
  const otherKey = createSecretBox(randomBytes(32));

  before(async () => {
    // Started without a key; then secrets sealed under a key it does not hold (a hand edit, or an
    // instance of a version without the sealing lock racing a seal): every read of them fails.
    app = await startTestApp({ database, logger: { level: 'info', stream: log.stream } });
    const at = new Date().toISOString();
    for (const [key, text] of [['saml', '{}'], ['scim.cursorKey', JSON.stringify(randomBytes(32).toString('base64url'))]] as const) {
      const value = otherKey.seal(text);
      await app.services.store.db.insertInto('settings').values({ key, value, updated_at: at }).onConflict((conflict) => conflict.column('key').doUpdateSet({ value })).execute();
    }
  });
  after(async () => app.close());

  test('the admin API and SCIM answer 503 saying the key cannot open it and what to do, logged once as an error naming the key', async () => {
    const before = log.lines.length;
    const api = await app.request('GET', '/api/v2/authentication/saml');
    assert.equal(api.status, 503, JSON.stringify(api.body));
    assert.equal(api.body.message, SECRETS_UNREADABLE);
    assert.equal(api.headers['retry-after'], undefined, 'waiting does not help');
    const errors = log.lines.slice(before).map((line) => JSON.parse(line) as { level: number; err?: { message: string } }).filter((line) => line.level >= 50);
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.match(errors[0]?.err?.message ?? '', new RegExp(`sealed with key ${otherKey.keyId}, but ROSTER_SECRET_KEY is not set`));

    const scim = await app.request('GET', '/Users?cursor=&count=1');
    assert.equal(scim.status, 503, JSON.stringify(scim.body));
    assert.equal(scim.body.detail, SECRETS_UNREADABLE);
  });

  test('the console page that reads it answers 503 with the same words, for the administrator reading it', async () => {
    const page = await app.app.inject({ method: 'GET', url: '/admin/authentication', headers: { cookie: (await sessionFor(app, app.adminId)).cookie } });
    assert.equal(page.statusCode, 503);
    assert.match(page.body, /A stored secret cannot be opened/);
    assert.match(page.body, /restart this instance with the key the secrets are sealed with/);
  });
});
