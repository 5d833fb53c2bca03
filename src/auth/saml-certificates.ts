/**
 * Certificate and key text as administrators paste it (PEM, a bundle, bare base64 DER): read,
 * described, and checked against what SAML in Roster can use (RSA of at least 2048 bits, within
 * its dates). Shared by the SAML configuration's rules (saml-config.ts) and the IdP metadata
 * reader (saml-metadata.ts); the words of each refusal are said here once.
 */
import { X509Certificate } from 'node:crypto';
import { readableTime } from '../text.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
/** A certificate expiring within this many days is stored with a warning. */
const EXPIRY_WARNING_DAYS = 30;

/** What an administrator needs to know about a certificate. Dates are ISO 8601. */
export interface CertificateInfo {
  readonly subject: string;
  readonly issuer: string;
  readonly validFrom: string;
  readonly validTo: string;
  readonly fingerprint256: string;
}

/** Splits a PEM file's text into its certificates (bare base64 counts as one); key blocks are ignored. */
export function splitPemCertificates(text: string): string[] {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
  if (blocks !== null) return blocks;
  const trimmed = text.trim();
  return trimmed === '' || trimmed.includes('-----BEGIN') ? [] : [trimmed];
}

/** Describes a PEM certificate for display (subject, issuer, validity, SHA-256 fingerprint). */
export function describeCertificate(pem: string): CertificateInfo {
  const cert = new X509Certificate(pem);
  return {
    // Node separates RDNs with newlines; one line reads better in a terminal and a log.
    subject: cert.subject.split('\n').join(', '),
    issuer: cert.issuer.split('\n').join(', '),
    validFrom: new Date(cert.validFrom).toISOString(),
    validTo: new Date(cert.validTo).toISOString(),
    fingerprint256: cert.fingerprint256,
  };
}

/** A certificate that may be stored (canonical PEM, described, with what to tell about it), or why not. */
export type CertificateCheck = { pem: string; info: CertificateInfo; warning?: string } | { error: string };

/**
 * Checks one certificate (PEM or bare base64 DER) for SAML: readable, a usable key, within its
 * dates. One in `kept` (fingerprints of those stored) that no longer passes stays, with a
 * warning to remove it: what a GET returned must PUT back.
 */
export function checkCertificate(text: string, now: Date, kept: ReadonlySet<string> = new Set()): CertificateCheck {
  const trimmed = text.trim();
  const pem = asPem(trimmed);
  let info: CertificateInfo;
  try {
    info = describeCertificate(pem);
  } catch (error) {
    return { error: pemProblem(trimmed, 'certificate', error) };
  }
  const validTo = Date.parse(info.validTo);
  const checked: { pem: string; info: CertificateInfo; warning?: string } = { pem: normalisePem(pem), info };
  const unusable = unusableKey(pem, info.subject);
  if (unusable !== undefined) {
    // One stored before this rule is kept, as an expired one is: what GET returned must PUT back.
    if (!kept.has(info.fingerprint256)) return { error: unusable };
    checked.warning = `${unusable}; remove it`;
  } else if (validTo <= now.getTime()) {
    if (!kept.has(info.fingerprint256)) return { error: `the certificate ${info.subject} expired on ${readableTime(info.validTo)}` };
    checked.warning = `the certificate ${info.subject} expired on ${readableTime(info.validTo)}: sign-in refuses responses it signs; remove it`;
  } else if (Date.parse(info.validFrom) > now.getTime()) {
    checked.warning = `the certificate ${info.subject} is not valid before ${info.validFrom}`;
  } else if (validTo - now.getTime() < EXPIRY_WARNING_DAYS * DAY_MS) {
    const days = Math.floor((validTo - now.getTime()) / DAY_MS);
    checked.warning = `the certificate ${info.subject} expires on ${readableTime(info.validTo)} (in ${days} days); ask the IdP for its next one`;
  }
  return checked;
}

/** The smallest RSA key Roster accepts (NIST SP 800-131A: 1024-bit RSA is disallowed for signatures). */
const MIN_RSA_BITS = 2048;

/**
 * Why a certificate's key can never serve: the signature library (xml-crypto) and the
 * decryption library verify and decrypt with RSA only, so an EC or other key would make every
 * sign-in fail; an RSA key under 2048 bits is too weak to trust. Undefined when it is fine.
 */
export function unusableKey(pem: string, subject: string): string | undefined {
  const key = new X509Certificate(pem).publicKey;
  if (key.asymmetricKeyType !== 'rsa') {
    const type = key.asymmetricKeyType === 'ec' ? 'an EC' : `a ${key.asymmetricKeyType ?? 'non-RSA'}`;
    return `the certificate ${subject} has ${type} key, which SAML signatures cannot be verified with in Roster (RSA only): use an RSA certificate of at least ${MIN_RSA_BITS} bits`;
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) return `the certificate ${subject} has a ${bits}-bit RSA key; at least ${MIN_RSA_BITS} bits are required`;
  return undefined;
}

/** A certificate's public key as SPKI PEM, to compare with a private key's; undefined when unreadable. */
export function publicKeyOf(pem: string): string | undefined {
  try {
    return new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  } catch {
    return undefined;
  }
}

/** The SHA-256 fingerprint of a certificate given as PEM or bare base64 DER (as everywhere else a certificate is accepted). */
export function fingerprintOf(text: string): string | undefined {
  try {
    return new X509Certificate(asPem(text)).fingerprint256;
  } catch {
    return undefined;
  }
}

/**
 * The certificates among `pems` that issued another of them (its issuer name matches and its key
 * verifies that one's signature): a chain's authorities rather than keys that sign responses.
 * Maps each one's index to the index of a certificate it issued; unreadable ones are skipped.
 */
export function chainIssuers(pems: readonly string[]): Map<number, number> {
  const certs = pems.map((pem) => {
    try {
      return new X509Certificate(pem);
    } catch {
      return undefined;
    }
  });
  const issuers = new Map<number, number>();
  certs.forEach((authority, at) => {
    if (authority === undefined) return;
    const child = certs.findIndex((cert) => cert !== undefined && cert.fingerprint256 !== authority.fingerprint256 && cert.checkIssued(authority) && cert.verify(authority.publicKey));
    if (child !== -1) issuers.set(at, child);
  });
  return issuers;
}

/** Rewrites a PEM certificate in the canonical layout, so stored values compare and print alike. */
function normalisePem(pem: string): string {
  return new X509Certificate(pem).toString().trim();
}

/** Certificate text as PEM: PEM as given (trimmed), bare base64 DER wrapped. */
export function asPem(text: string): string {
  const trimmed = text.trim();
  return trimmed.startsWith('-----BEGIN') ? trimmed : toPem(trimmed.replace(/\s+/g, ''));
}

export function toPem(base64: string): string {
  const lines = base64.match(/.{1,64}/g) ?? [];
  return ['-----BEGIN CERTIFICATE-----', ...lines, '-----END CERTIFICATE-----'].join('\n');
}

/**
 * Why pasted text is not the certificate or private key it should be, in words an administrator
 * can act on (OpenSSL's own, `error:04800064:PEM routines::bad base64 decode`, say nothing to
 * most): another kind of PEM block, an encrypted key, damaged base64, or something else.
 */
export function pemProblem(text: string, expected: 'certificate' | 'key', error: unknown): string {
  const what = expected === 'certificate' ? 'not a valid X.509 certificate' : 'not a valid unencrypted PEM private key';
  const paste = expected === 'certificate' ? 'paste the certificate (-----BEGIN CERTIFICATE-----) or its base64 text' : 'paste the key (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)';
  const label = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(text)?.[1];
  if (expected === 'key' && label !== undefined && label.includes('ENCRYPTED')) {
    return `${what}: the key is encrypted with a passphrase, which Roster cannot ask for; store it unencrypted (openssl pkey -in key.pem -out plain-key.pem)`;
  }
  const wanted = expected === 'certificate' ? label === 'CERTIFICATE' || label === 'X509 CERTIFICATE' : label !== undefined && label.endsWith('PRIVATE KEY');
  if (label !== undefined && !wanted) return `${what}: this is a ${label.toLowerCase().replace('rsa', 'RSA')} block; ${paste}`;
  if (/base64|bad end line|no start line/i.test(firstLine(error))) return `${what}: its base64 text is damaged (a character lost or added when it was copied); ${paste} again`;
  return `${what}: the text does not decode to one; ${paste}`;
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0] ?? message;
}
