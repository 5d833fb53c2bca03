import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  createSamlConfigService,
  rollSpKeys,
  samlSetting,
  validateSamlConfig,
  type SamlConfigInput,
  type SamlValidation,
} from '../../src/auth/saml-config.ts';
import { describeCertificate, splitPemCertificates } from '../../src/auth/saml-certificates.ts';
import { parseIdpMetadata } from '../../src/auth/saml-metadata.ts';
import { createSettings } from '../../src/settings.ts';
import { eachDatabase, openTestStore } from '../support/databases.ts';

const DAY = 24 * 60 * 60 * 1000;

let dir: string;
/** A self-signed certificate valid for a year. */
let validPem: string;
/** A self-signed certificate that expired in 2020. */
let expiredPem: string;
/** Certificates whose keys can never verify a SAML signature in Roster: EC P-256, RSA 1024. */
let ecPem: string;
let smallPem: string;
/** A certificate authority and a signing certificate it issued, as IdPs publish a chain. */
let caPem: string;
let issuedPem: string;

/** Generates throwaway certificates; `openssl ca` is the only way OpenSSL 3.0 sets a past end date. */
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'roster-saml-'));
  const run = (args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=test-idp', '-days', '365', '-keyout', 'valid.key', '-out', 'valid.pem']);
  writeFileSync(
    join(dir, 'ca.cnf'),
    ['[ca]', 'default_ca = d', '[d]', 'database = index.txt', 'new_certs_dir = .', 'serial = serial', 'default_md = sha256', 'policy = p', '[p]', 'commonName = supplied', ''].join('\n'),
  );
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '01\n');
  run(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=expired-idp', '-keyout', 'expired.key', '-out', 'expired.csr']);
  run(['ca', '-config', 'ca.cnf', '-selfsign', '-keyfile', 'expired.key', '-in', 'expired.csr', '-out', 'expired.pem', '-startdate', '20200101000000Z', '-enddate', '20200201000000Z', '-batch', '-notext']);
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=ec-idp', '-days', '365', '-keyout', 'ec.key', '-out', 'ec.pem']);
  run(['req', '-x509', '-newkey', 'rsa:1024', '-nodes', '-subj', '/CN=small-idp', '-days', '365', '-keyout', 'small.key', '-out', 'small.pem']);
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=idp-ca', '-days', '365', '-keyout', 'ca.key', '-out', 'ca.pem']);
  run(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=idp-signing', '-keyout', 'issued.key', '-out', 'issued.csr']);
  run(['x509', '-req', '-in', 'issued.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '365', '-out', 'issued.pem']);
  caPem = readFileSync(join(dir, 'ca.pem'), 'utf8');
  issuedPem = readFileSync(join(dir, 'issued.pem'), 'utf8');
  ecPem = readFileSync(join(dir, 'ec.pem'), 'utf8');
  smallPem = readFileSync(join(dir, 'small.pem'), 'utf8');
  validPem = readFileSync(join(dir, 'valid.pem'), 'utf8');
  expiredPem = readFileSync(join(dir, 'expired.pem'), 'utf8');
});
after(() => rmSync(dir, { recursive: true, force: true }));

function base64Of(pem: string): string {
  return pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
}

function input(overrides: Partial<SamlConfigInput> = {}): SamlConfigInput {
  return { providerId: 'https://sts.windows.net/tenant/', loginUrl: 'https://login.example.com/saml2', certificates: [validPem], ...overrides };
}

function errorsOf(result: SamlValidation): Array<[string, string]> {
  assert.equal(result.ok, false);
  return result.ok ? [] : result.errors.map((issue) => [issue.field, issue.message]);
}

describe('validateSamlConfig', () => {
  test('an SP certificate text with its chain keeps the certificate of the private key, says so, and refuses a key that belongs to none', () => {
    const key = readFileSync(join(dir, 'issued.key'), 'utf8');
    const chained = validateSamlConfig(input({ spCertificate: `${caPem}\n${issuedPem}`, spPrivateKey: key }));
    assert.ok(chained.ok, JSON.stringify(chained));
    assert.equal(describeCertificate(chained.config.spCertificate ?? '').fingerprint256, describeCertificate(issuedPem).fingerprint256);
    assert.deepEqual(
      chained.warnings.map((issue) => [issue.field, issue.message]),
      [['spCertificate', 'the SP certificate text holds 2 certificates; only the one the SP private key belongs to (CN=idp-signing) is stored, the others (a chain) are not needed']],
    );
    const other = readFileSync(join(dir, 'valid.key'), 'utf8');
    assert.deepEqual(errorsOf(validateSamlConfig(input({ spCertificate: `${issuedPem}\n${caPem}`, spPrivateKey: other }))), [
      ['spPrivateKey', 'the SP private key belongs to none of the 2 certificates in the SP certificate text; give the certificate of this key'],
    ]);
    const pair = validateSamlConfig(input({ spCertificate: validPem, spPrivateKey: other, spAdditionalKeyPairs: [{ certificate: `${issuedPem}${caPem}`, privateKey: key }] }));
    assert.ok(pair.ok, JSON.stringify(pair));
    assert.equal(describeCertificate(pair.config.spAdditionalKeyPairs[0]?.certificate ?? '').fingerprint256, describeCertificate(issuedPem).fingerprint256);
    assert.deepEqual(pair.warnings.map((issue) => [issue.field, issue.index, issue.part]), [['spAdditionalKeyPairs', 0, 'certificate']]);
  });

  test('keeps an expired certificate that is already stored, with a warning, and refuses one being added', () => {
    const kept = validateSamlConfig(input({ certificates: [expiredPem, validPem] }), new Date(), [expiredPem, validPem]);
    assert.ok(kept.ok, JSON.stringify(kept));
    assert.equal(kept.config.certificates.length, 2);
    assert.match(kept.warnings[0]?.message ?? '', /CN=expired-idp expired on 2020-02-01 00:00 UTC: sign-in refuses responses it signs; remove it/);
    const added = validateSamlConfig(input({ certificates: [expiredPem, validPem] }), new Date(), [validPem]);
    assert.deepEqual(errorsOf(added), [['certificates', 'the certificate CN=expired-idp expired on 2020-02-01 00:00 UTC']]);
  });

  test('refuses an IdP certificate with an EC key or an RSA key under 2048 bits, saying why; one already stored is kept with a warning', () => {
    const errors = errorsOf(validateSamlConfig(input({ certificates: [validPem, ecPem, smallPem] })));
    assert.deepEqual(errors, [
      ['certificates', 'the certificate CN=ec-idp has an EC key, which SAML signatures cannot be verified with in Roster (RSA only): use an RSA certificate of at least 2048 bits'],
      ['certificates', 'the certificate CN=small-idp has a 1024-bit RSA key; at least 2048 bits are required'],
    ]);
    const kept = validateSamlConfig(input({ certificates: [validPem, smallPem] }), new Date(), [validPem, smallPem]);
    assert.ok(kept.ok);
    assert.match(kept.warnings[0]?.message ?? '', /1024-bit RSA key; at least 2048 bits are required; remove it/);
  });

  test('accepts a valid configuration and reports the certificate expiry', () => {
    const result = validateSamlConfig(input());
    assert.ok(result.ok);
    assert.equal(result.warnings.length, 0);
    assert.equal(result.config.providerId, 'https://sts.windows.net/tenant/');
    assert.equal(result.certificates[0]?.subject, 'CN=test-idp');
    const validTo = Date.parse(result.certificates[0]?.validTo ?? '');
    assert.ok(Math.abs(validTo - (Date.now() + 365 * DAY)) < 2 * DAY);
    assert.match(result.config.certificates[0] ?? '', /^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----$/);
  });

  test('accepts a bare base64 certificate and stores it as PEM', () => {
    const result = validateSamlConfig(input({ certificates: [base64Of(validPem)] }));
    assert.ok(result.ok);
    assert.equal(result.config.certificates[0], validPem.trim());
  });

  test('an expired certificate is an error naming its expiry date', () => {
    const errors = errorsOf(validateSamlConfig(input({ certificates: [expiredPem] })));
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.[0], 'certificates');
    assert.match(errors[0]?.[1] ?? '', /CN=expired-idp expired on 2020-02-01 00:00 UTC/);
  });

  test('a certificate expiring within 30 days is a warning', () => {
    const validTo = Date.parse(describeCertificate(validPem).validTo);
    const result = validateSamlConfig(input(), new Date(validTo - 10 * DAY));
    assert.ok(result.ok);
    assert.equal(result.warnings.length, 1);
    assert.equal(result.warnings[0]?.field, 'certificates');
    assert.match(result.warnings[0]?.message ?? '', /expires on .* \(in 10 days\)/);
    assert.equal(validateSamlConfig(input(), new Date(validTo - 31 * DAY)).warnings.length, 0);
  });

  test('a value that is not a certificate is an error with its index', () => {
    const result = validateSamlConfig(input({ certificates: [validPem, 'not a certificate'] }));
    assert.ok(!result.ok);
    assert.equal(result.errors[0]?.field, 'certificates');
    assert.equal(result.errors[0]?.index, 1);
    assert.match(result.errors[0]?.message ?? '', /not a valid X\.509 certificate/);
  });

  test("a certificate or key pasted wrong is refused in words, not OpenSSL's codes", () => {
    const validKey = readFileSync(join(dir, 'valid.key'), 'utf8');
    execFileSync('openssl', ['pkey', '-in', 'valid.key', '-aes256', '-passout', 'pass:secret', '-out', 'encrypted.key'], { cwd: dir, stdio: 'pipe' });
    const encryptedKey = readFileSync(join(dir, 'encrypted.key'), 'utf8');
    const damaged = validPem.replace(/\n([A-Za-z0-9+/]{10})/, '\n$1!');
    const messages = (result: SamlValidation): string[] => errorsOf(result).map(([field, message]) => `${field}: ${message}`);
    const cases: Array<[Partial<SamlConfigInput>, RegExp]> = [
      [{ certificates: [damaged] }, /^certificates: not a valid X\.509 certificate: its base64 text is damaged \(a character lost or added when it was copied\); paste the certificate/],
      [{ certificates: [validKey] }, /^certificates: not a valid X\.509 certificate: this is a private key block; paste the certificate \(-----BEGIN CERTIFICATE-----\)/],
      [{ certificates: ['SGVsbG8gd29ybGQ='] }, /^certificates: not a valid X\.509 certificate: the text does not decode to one/],
      [{ spCertificate: validPem, spPrivateKey: encryptedKey }, /^spPrivateKey: not a valid unencrypted PEM private key: the key is encrypted with a passphrase, which Roster cannot ask for; store it unencrypted \(openssl pkey/],
      [{ spCertificate: validPem, spPrivateKey: validPem }, /^spPrivateKey: not a valid unencrypted PEM private key: this is a certificate block; paste the key \(-----BEGIN PRIVATE KEY-----/],
      [{ spCertificate: validPem, spPrivateKey: 'my key' }, /^spPrivateKey: not a valid unencrypted PEM private key: the text does not decode to one/],
    ];
    for (const [overrides, expected] of cases) {
      const said = messages(validateSamlConfig(input(overrides)));
      assert.equal(said.length, 1, said.join('\n'));
      assert.match(said[0] ?? '', expected);
      assert.doesNotMatch(said[0] ?? '', /error:|routines/);
    }
  });

  test("a chain's certificate authority is refused as a signer, naming what it issued; one already stored is kept with a warning", () => {
    // Trusting the authority's key would accept a response signed by any certificate it issues.
    const errors = errorsOf(validateSamlConfig(input({ certificates: [issuedPem, caPem] })));
    assert.equal(errors.length, 1);
    assert.deepEqual(errors[0]?.[0], 'certificates');
    assert.match(errors[0]?.[1] ?? '', /^the certificate CN=idp-ca issued CN=idp-signing listed beside it: it is a certificate authority's, not a signing certificate/);
    // The console's box and the CLI's file split a pasted chain into its certificates first.
    assert.equal(validateSamlConfig(input({ certificates: splitPemCertificates(`${issuedPem}\n${caPem}`) })).ok, false);
    const alone = validateSamlConfig(input({ certificates: [issuedPem, validPem] }));
    assert.ok(alone.ok, 'two unrelated certificates (a rollover) are both signers');
    assert.equal(alone.config.certificates.length, 2);
    const kept = validateSamlConfig(input({ certificates: [issuedPem, caPem] }), new Date(), [issuedPem, caPem]);
    assert.ok(kept.ok);
    assert.match(kept.warnings[0]?.message ?? '', /CN=idp-ca issued CN=idp-signing .*; remove it$/);
  });

  test('at least one certificate is required', () => {
    assert.deepEqual(errorsOf(validateSamlConfig(input({ certificates: [] }))), [['certificates', 'at least one IdP signing certificate is required']]);
  });

  test('the same certificate given twice is stored once', () => {
    const result = validateSamlConfig(input({ certificates: [validPem, base64Of(validPem)] }));
    assert.ok(result.ok);
    assert.equal(result.config.certificates.length, 1);
  });

  test('the login URL must be absolute https, or http on localhost', () => {
    for (const loginUrl of ['http://idp.example.com/sso', 'ftp://idp.example.com/sso', '/sso', 'not a url', '']) {
      const errors = errorsOf(validateSamlConfig(input({ loginUrl })));
      assert.equal(errors[0]?.[0], 'loginUrl', loginUrl);
      assert.match(errors[0]?.[1] ?? '', /absolute https URL/);
    }
    for (const loginUrl of ['http://localhost:8081/sso', 'http://127.0.0.1/sso', 'https://idp.example.com/sso?tenant=1']) {
      assert.ok(validateSamlConfig(input({ loginUrl })).ok, loginUrl);
    }
  });

  test('a login URL longer than 2,048 characters is refused, and no error quotes more than 200 characters of it', () => {
    const long = `https://idp.example.com/${'y'.repeat(2100)}`;
    const [tooLong] = errorsOf(validateSamlConfig(input({ loginUrl: long })));
    assert.equal(tooLong?.[0], 'loginUrl');
    assert.match(tooLong?.[1] ?? '', /^the IdP sign-in URL must be at most 2048 characters \(got "https:\/\/idp\.example\.com\/y+… \(\d+ more characters\)"\)$/);
    assert.ok((tooLong?.[1].length ?? 0) < 300);
    const [notUrl] = errorsOf(validateSamlConfig(input({ loginUrl: 'x'.repeat(140_000) })));
    assert.ok((notUrl?.[1].length ?? Infinity) < 300, notUrl?.[1].slice(0, 100));
    assert.ok(validateSamlConfig(input({ loginUrl: `https://idp.example.com/${'y'.repeat(2000)}` })).ok);
  });

  test('the provider ID must not be empty', () => {
    assert.deepEqual(errorsOf(validateSamlConfig(input({ providerId: '  ' }))), [['providerId', 'the IdP entity ID must not be empty']]);
  });

  test('every wrong field is reported at once', () => {
    const errors = errorsOf(validateSamlConfig({ providerId: '', loginUrl: 'http://idp', certificates: ['x'] }));
    assert.deepEqual(
      errors.map(([field]) => field),
      ['providerId', 'loginUrl', 'certificates'],
    );
  });
});

describe('splitPemCertificates', () => {
  test('finds every certificate block and ignores private keys', () => {
    const key = readFileSync(join(dir, 'valid.key'), 'utf8');
    assert.equal(splitPemCertificates(`${key}\n${validPem}\n${expiredPem}`).length, 2);
    assert.deepEqual(splitPemCertificates(key), []);
    assert.deepEqual(splitPemCertificates(` ${base64Of(validPem)}\n`), [base64Of(validPem)]);
  });
});

describe('parseIdpMetadata', () => {
  const metadata = (body: string, entityId = 'https://idp.example.com/metadata'): string => `<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${entityId}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">${body}
  </md:IDPSSODescriptor>
</md:EntityDescriptor>`;
  const key = (use: string | null, pem: string): string => `
    <md:KeyDescriptor${use === null ? '' : ` use="${use}"`}>
      <ds:KeyInfo><ds:X509Data><ds:X509Certificate>
        ${base64Of(pem)}
      </ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>`;
  const post = '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example.com/sso/post"/>';
  const redirect = '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.com/sso/redirect"/>';

  test('reads the entity ID, the Redirect sign-in URL and the signing certificates', () => {
    const result = parseIdpMetadata(metadata(key('signing', validPem) + key('encryption', expiredPem) + post + redirect));
    assert.ok(result.ok);
    assert.equal(result.input.providerId, 'https://idp.example.com/metadata');
    assert.equal(result.input.loginUrl, 'https://idp.example.com/sso/redirect');
    assert.deepEqual(result.input.certificates, [validPem.trim()]);
    assert.ok(validateSamlConfig(result.input).ok);
  });

  test('leaves out an expired signing certificate listed beside a valid one and says so; refuses metadata whose every one has expired', () => {
    const result = parseIdpMetadata(metadata(key('signing', expiredPem) + key('signing', validPem) + redirect));
    assert.ok(result.ok, result.ok ? '' : result.message);
    assert.deepEqual(result.input.certificates, [validPem.trim()]);
    assert.deepEqual(result.leftOut, ['left out the expired certificate CN=expired-idp, which expired on 2020-02-01 00:00 UTC']);
    assert.ok(validateSamlConfig(result.input).ok);
    const refused = parseIdpMetadata(metadata(key('signing', expiredPem) + redirect));
    assert.equal(refused.ok, false);
    assert.match(refused.ok ? '' : refused.message, /every signing certificate in the metadata has expired \(CN=expired-idp, which expired on 2020-02-01/);
  });

  test("keeps a KeyDescriptor's signing certificate and leaves out the authority that issued it, listed with it as its chain", () => {
    const chain = `
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo><ds:X509Data>
        <ds:X509Certificate>${base64Of(issuedPem)}</ds:X509Certificate>
        <ds:X509Certificate>${base64Of(caPem)}</ds:X509Certificate>
      </ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>`;
    const result = parseIdpMetadata(metadata(chain + redirect));
    assert.ok(result.ok, result.ok ? '' : result.message);
    assert.deepEqual(result.input.certificates, [issuedPem.trim()]);
    assert.deepEqual(result.leftOut, ['left out the certificate authority CN=idp-ca (it issued the signing certificate listed with it, and signs nothing itself)']);
    assert.ok(validateSamlConfig(result.input).ok);
  });

  // An EC or short RSA certificate beside an RSA one refused the whole file.
  test('leaves out a certificate whose key Roster cannot verify with when another one serves; refuses metadata with none', () => {
    const result = parseIdpMetadata(metadata(key('signing', validPem) + key('signing', ecPem) + key('signing', smallPem) + redirect));
    assert.ok(result.ok, result.ok ? '' : result.message);
    assert.deepEqual(result.input.certificates, [validPem.trim()]);
    assert.equal(result.leftOut.length, 2);
    assert.match(result.leftOut[0] ?? '', /^left out the certificate CN=[^ ]+, which has an EC key/);
    assert.match(result.leftOut[1] ?? '', /^left out the certificate CN=small-idp, which has a 1024-bit RSA key; at least 2048 bits are required$/);
    const refused = parseIdpMetadata(metadata(key('signing', ecPem) + redirect));
    assert.equal(refused.ok, false);
    assert.match(refused.ok ? '' : refused.message, /^no signing certificate in the metadata can be used \(the certificate CN=[^ ]+ has an EC key/);
  });

  // ADFS and Entra ID save their federation metadata with a UTF-8 byte-order mark, which the
  // parser took for content before the root element and refused.
  test('reads metadata that starts with a byte-order mark or with white space', () => {
    for (const text of [`\uFEFF${metadata(key('signing', validPem) + redirect)}`, `\n  ${metadata(key('signing', validPem) + redirect)}`]) {
      const result = parseIdpMetadata(text);
      assert.ok(result.ok, result.ok ? '' : result.message);
      assert.equal(result.input.providerId, 'https://idp.example.com/metadata');
    }
  });

  test('falls back to the POST binding and takes keys without a use', () => {
    const result = parseIdpMetadata(metadata(key(null, validPem) + post));
    assert.ok(result.ok);
    assert.equal(result.input.loginUrl, 'https://idp.example.com/sso/post');
    assert.equal(result.input.certificates.length, 1);
  });

  test('accepts unprefixed (default namespace) metadata inside an EntitiesDescriptor', () => {
    const xml = `<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">
      <EntityDescriptor entityID="urn:sp"><SPSSODescriptor protocolSupportEnumeration="x"/></EntityDescriptor>
      <EntityDescriptor entityID="urn:idp"><IDPSSODescriptor protocolSupportEnumeration="x">
        <KeyDescriptor><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>${base64Of(validPem)}</X509Certificate></X509Data></KeyInfo></KeyDescriptor>
        <SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp/sso"/>
      </IDPSSODescriptor></EntityDescriptor>
    </EntitiesDescriptor>`;
    const result = parseIdpMetadata(xml);
    assert.ok(result.ok, result.ok ? '' : result.message);
    assert.equal(result.input.providerId, 'urn:idp');
  });

  test('says what is missing or wrong', () => {
    const cases: Array<[string, RegExp]> = [
      ['<md:EntityDescriptor', /not well-formed XML/],
      ['<!DOCTYPE x [<!ENTITY a "b">]><x/>', /DOCTYPE/],
      // A saved portal or sign-in page is said to be one, not refused for its DOCTYPE.
      ['<!DOCTYPE html>\n<html lang="en"><head><title>Sign in to your account</title></head></html>', /^the metadata is a web page \(HTML\), not the identity provider’s metadata XML.*“App Federation Metadata Url”/],
      ['<!-- saved page -->\n<HTML><body>Okta</body></HTML>', /is a web page \(HTML\)/],
      ['<root/>', /EntityDescriptor/],
      [metadata(key('signing', validPem) + post, ''), /no entityID/],
      [metadata(key('signing', validPem)), /no SingleSignOnService/],
      [metadata(key('encryption', validPem) + post), /no signing certificate/],
      [
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="urn:sp"><md:SPSSODescriptor/></md:EntityDescriptor>',
        /no IDPSSODescriptor/,
      ],
    ];
    for (const [xml, expected] of cases) {
      const result = parseIdpMetadata(xml);
      assert.ok(!result.ok, xml);
      assert.match(result.message, expected);
    }
  });
});

describe('additional SP key pairs (a rollover)', () => {
  test('follow the current pair\'s rules, each problem named by its index, all at once', () => {
    const key = (name: string) => readFileSync(join(dir, `${name}.key`), 'utf8');
    const encrypted = '-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----';
    const result = validateSamlConfig(
      input({
        spCertificate: issuedPem,
        spPrivateKey: key('issued'),
        spAdditionalKeyPairs: [
          { certificate: ecPem, privateKey: key('ec') },
          { certificate: smallPem, privateKey: key('small') },
          { certificate: validPem, privateKey: key('issued') },
          { certificate: validPem, privateKey: encrypted },
          { certificate: issuedPem, privateKey: key('issued') },
          { certificate: validPem },
        ],
      }),
    );
    assert.ok(!result.ok);
    const issues = result.errors.map((issue) => [issue.field, issue.index, issue.part, issue.message]);
    assert.deepEqual(issues.map(([field, index, part]) => [field, index, part]), [
      ['spAdditionalKeyPairs', 0, 'certificate'],
      ['spAdditionalKeyPairs', 1, 'certificate'],
      ['spAdditionalKeyPairs', 2, 'privateKey'],
      ['spAdditionalKeyPairs', 3, 'privateKey'],
      ['spAdditionalKeyPairs', 4, 'certificate'],
      ['spAdditionalKeyPairs', 5, 'privateKey'],
    ]);
    assert.match(String(issues[0]?.[3]), /has an EC key/);
    assert.match(String(issues[1]?.[3]), /1024-bit RSA key; at least 2048 bits/);
    assert.match(String(issues[2]?.[3]), /the SP private key does not belong to the SP certificate/);
    assert.match(String(issues[3]?.[3]), /encrypted with a passphrase/);
    assert.match(String(issues[4]?.[3]), /already an SP key pair/);
    assert.match(String(issues[5]?.[3]), /the SP private key is required with the SP certificate/);
  });

  test('need a current pair beside them', () => {
    const result = validateSamlConfig(input({ spAdditionalKeyPairs: [{ certificate: validPem, privateKey: readFileSync(join(dir, 'valid.key'), 'utf8') }] }));
    assert.deepEqual(errorsOf(result).map(([field]) => field), ['spCertificate']);
  });

  test('rollSpKeys names a pair by its SHA-256 in any case, with or without colons, or by its certificate as PEM (CRLF too) or bare base64', () => {
    const key = (name: string) => readFileSync(join(dir, `${name}.key`), 'utf8');
    const validated = validateSamlConfig(input({ spCertificate: issuedPem, spPrivateKey: key('issued'), spAdditionalKeyPairs: [{ certificate: validPem, privateKey: key('valid') }] }));
    assert.ok(validated.ok);
    const config = validated.config;
    const sha = describeCertificate(validPem).fingerprint256;
    const bare = validPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
    for (const name of [sha, sha.toLowerCase(), sha.replace(/:/g, ''), sha.replace(/:/g, '').toLowerCase(), ` ${sha}\n`, validPem.replace(/\n/g, '\r\n'), bare, `\n${bare.match(/.{1,76}/g)?.join('\n')}\n`]) {
      const used = rollSpKeys(config, { use: name });
      assert.ok(used.ok, `use ${JSON.stringify(name.slice(0, 40))}: ${used.ok ? '' : used.message}`);
      assert.equal(describeCertificate(String(used.keys.spCertificate)).fingerprint256, sha);
      const removed = rollSpKeys(config, { remove: [name] });
      assert.ok(removed.ok, `remove ${JSON.stringify(name.slice(0, 40))}: ${removed.ok ? '' : removed.message}`);
      assert.deepEqual(removed.keys.spAdditionalKeyPairs, []);
    }
  });

  test('rollSpKeys refuses to make the current pair current again, naming that pair', () => {
    const key = (name: string) => readFileSync(join(dir, `${name}.key`), 'utf8');
    const validated = validateSamlConfig(input({ spCertificate: issuedPem, spPrivateKey: key('issued'), spAdditionalKeyPairs: [{ certificate: validPem, privateKey: key('valid') }] }));
    assert.ok(validated.ok);
    const current = describeCertificate(issuedPem);
    const refused = rollSpKeys(validated.config, { use: current.fingerprint256 });
    assert.ok(!refused.ok);
    assert.equal(refused.message, `the certificate ${current.subject} (SHA-256 ${current.fingerprint256}) is already the current SP key pair`);
  });

  test('rollSpKeys refuses text that holds no certificate (a private key file, nothing) instead of removing nothing', () => {
    const key = (name: string) => readFileSync(join(dir, `${name}.key`), 'utf8');
    const validated = validateSamlConfig(input({ spCertificate: issuedPem, spPrivateKey: key('issued'), spAdditionalKeyPairs: [{ certificate: validPem, privateKey: key('valid') }] }));
    assert.ok(validated.ok);
    for (const name of [key('valid'), '', '   ']) {
      for (const step of [{ remove: [name] }, { use: name }]) {
        const refused = rollSpKeys(validated.config, step);
        assert.ok(!refused.ok, `${JSON.stringify(step).slice(0, 60)} was accepted`);
        assert.match(refused.message, /the text holds no certificate: name the SP key pair by its certificate \(PEM\) or its SHA-256 fingerprint/);
      }
    }
  });

  test('a configuration stored before the rollover existed reads with none', () => {
    const stored = { providerId: 'https://idp', loginUrl: 'https://idp/sso', certificates: [validPem], spCertificate: null, spPrivateKey: null, signRequests: false };
    assert.deepEqual(samlSetting.parse(stored)?.spAdditionalKeyPairs, []);
    assert.equal(samlSetting.parse({ ...stored, spAdditionalKeyPairs: [{ certificate: validPem }] }), undefined, 'a pair without its key is malformed');
  });
});

eachDatabase('SAML configuration service', (database) => {
  test('stores a valid configuration under the `saml` setting and records setting.changed without PEM text', async () => {
    const store = await openTestStore(database);
    try {
      const saml = createSamlConfigService(createSettings(store));
      assert.equal(await saml.get(), undefined);
      const result = await saml.configure(input(), { kind: 'cli' });
      assert.ok(result.ok);
      assert.deepEqual(await saml.get(), result.config);

      const row = await store.db.selectFrom('settings').selectAll().where('key', '=', samlSetting.key).executeTakeFirstOrThrow();
      assert.equal(samlSetting.key, 'saml');
      assert.deepEqual(JSON.parse(row.value), result.config);

      const events = await store.db.selectFrom('audit_events').selectAll().execute();
      assert.equal(events.length, 1);
      assert.equal(events[0]?.action, 'setting.changed');
      assert.equal(events[0]?.target_id, 'saml');
      const details = JSON.parse(events[0]?.details ?? '{}') as { key: string; value: { certificates: string[] } };
      assert.equal(details.key, 'saml');
      assert.deepEqual(details.value.certificates, [result.certificates[0]?.fingerprint256]);
      assert.ok(!(events[0]?.details ?? '').includes('BEGIN CERTIFICATE'));
    } finally {
      await store.close();
    }
  });

  test('an invalid configuration is not stored', async () => {
    const store = await openTestStore(database);
    try {
      const saml = createSamlConfigService(createSettings(store));
      const result = await saml.configure(input({ certificates: [expiredPem] }), { kind: 'cli' });
      assert.ok(!result.ok);
      assert.equal(await saml.get(), undefined);
      assert.equal((await store.db.selectFrom('audit_events').selectAll().execute()).length, 0);
    } finally {
      await store.close();
    }
  });
});
