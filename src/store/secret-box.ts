/**
 * Secrets at rest (ROSTER_SECRET_KEY): AES-256-GCM with a random 96-bit IV per value (NIST SP
 * 800-38D §8.2.2) and its 128-bit tag. A sealed value is text, so it fits any TEXT column:
 *
 *     enc:v1:<key id>:<base64url(iv ‖ ciphertext ‖ tag)>
 *
 * The prefix tells sealed from plaintext (no JSON value and no generated secret starts with
 * `enc:`), `v1` leaves room for another scheme, and the key id (8 hex digits of the key's
 * SHA-256) names the key that sealed it, so a wrong key is reported as such rather than as a
 * failed decryption. The prefix is authenticated too (GCM's additional data).
 *
 * Usage for anything that stores a secret: `lockSecretsForWrite(trx, store.dialect)` first in its
 * transaction, then `sealForWrite(trx, store.secrets, text)` (store/secrets.ts: sealed only once
 * the database's secrets are) before writing and `store.secrets.open(text)` after
 * reading, in store/ code only, and name the column in SEALED_COLUMNS (store/secrets.ts) so that
 * sealing takes in old plaintext and `roster secrets rotate-key` re-encrypts it.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const PREFIX = 'enc:v1:';
const SEALED = /^enc:v1:([0-9a-f]{8}):([A-Za-z0-9_-]+)$/;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A sealed value that cannot be opened: no key, another key, or altered text. The message says which. */
export class SecretsError extends Error {
  override readonly name = 'SecretsError';
}

/** Seals and opens secrets with one key (and opens those of a previous one), or passes them through when no key is configured. */
export interface SecretBox {
  /** The configured key's id (8 hex digits), or undefined without a key. */
  readonly keyId: string | undefined;
  /** The id of the previous key (ROSTER_PREVIOUS_SECRET_KEY), accepted for opening and for sealing what it already sealed; undefined without one. */
  readonly previousKeyId: string | undefined;
  /** Whether this box holds the key of that id (the configured one or the previous one). */
  holds(keyId: string): boolean;
  /**
   * The sealed form of `text`, with the key of `keyId` (the configured key by default; it must
   * be held); `text` itself when no key is configured and none is named.
   */
  seal(text: string, keyId?: string): string;
  /** The plaintext of a sealed value (of either key held); plaintext (not yet sealed) is returned as is. */
  open(text: string): string;
}

/** Whether `text` is a sealed value (of any key). */
export function isSealed(text: string): boolean {
  return text.startsWith(PREFIX);
}

/** The id of the key that sealed `text`, or undefined for plaintext. */
export function sealedKeyId(text: string): string | undefined {
  return SEALED.exec(text)?.[1];
}

/** The short, public fingerprint of a key: 8 hex digits of its SHA-256. */
export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update('roster secret key id\0').update(key).digest('hex').slice(0, 8);
}

function sealWith(key: Buffer, keyId: string, text: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(`${PREFIX}${keyId}:`));
  const body = Buffer.concat([iv, cipher.update(text, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return `${PREFIX}${keyId}:${body.toString('base64url')}`;
}

function openWith(key: Buffer, keyId: string, data: string): string {
  const body = Buffer.from(data, 'base64url');
  if (body.length < IV_BYTES + TAG_BYTES) throw new SecretsError('A sealed secret in the database is truncated.');
  const decipher = createDecipheriv('aes-256-gcm', key, body.subarray(0, IV_BYTES));
  decipher.setAAD(Buffer.from(`${PREFIX}${keyId}:`));
  decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(body.subarray(IV_BYTES, body.length - TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    throw new SecretsError(`A sealed secret in the database does not decrypt with key ${keyId}: it was altered, or sealed by another key with the same id.`);
  }
}

/**
 * A box over a 32-byte key, or the pass-through box when `key` is undefined. `previousKey`
 * (ROSTER_PREVIOUS_SECRET_KEY, during a rolling key rotation) opens what it sealed, and seals
 * when asked by its id: while the database's secrets are still sealed with it.
 */
export function createSecretBox(key: Buffer | undefined, previousKey?: Buffer): SecretBox {
  if (key === undefined) {
    if (previousKey !== undefined) throw new Error('A previous key needs a current key.');
    return {
      keyId: undefined,
      previousKeyId: undefined,
      holds: () => false,
      seal(text, keyId) {
        if (keyId === undefined) return text;
        throw new SecretsError(`The database's secrets are sealed with key ${keyId}, but ROSTER_SECRET_KEY is not set: set it to that key.`);
      },
      open(text) {
        if (!isSealed(text)) return text;
        throw new SecretsError(`A secret in the database is sealed with key ${sealedKeyId(text) ?? '(unknown)'}, but ROSTER_SECRET_KEY is not set: set it to that key.`);
      },
    };
  }
  if (key.length !== 32 || (previousKey !== undefined && previousKey.length !== 32)) throw new Error('An AES-256 key is 32 bytes.');
  const keys = new Map<string, Buffer>([[keyIdOf(key), key]]);
  const keyId = keyIdOf(key);
  const previousKeyId = previousKey === undefined ? undefined : keyIdOf(previousKey);
  if (previousKey !== undefined && previousKeyId !== undefined && previousKeyId !== keyId) keys.set(previousKeyId, previousKey);
  const held = (id: string): string => (previousKeyId === undefined ? `ROSTER_SECRET_KEY is key ${keyId}` : `ROSTER_SECRET_KEY is key ${keyId} and ROSTER_PREVIOUS_SECRET_KEY key ${previousKeyId}`) + ` (not ${id})`;
  return {
    keyId,
    previousKeyId,
    holds: (id) => keys.has(id),
    seal(text, id = keyId) {
      const chosen = keys.get(id);
      if (chosen === undefined) throw new SecretsError(`The database's secrets are sealed with key ${id}, but ${held(id)}: start with the key that sealed them.`);
      return sealWith(chosen, id, text);
    },
    open(text) {
      if (!isSealed(text)) return text;
      const match = SEALED.exec(text);
      if (match === null) throw new SecretsError('A secret in the database is not a well-formed sealed value (enc:v1:<key id>:<data>).');
      const [, id = '', data = ''] = match;
      const chosen = keys.get(id);
      if (chosen === undefined) throw new SecretsError(`A secret in the database is sealed with key ${id}, but ${held(id)}: start with the key that sealed it (or rotate with \`roster secrets rotate-key\`).`);
      return openWith(chosen, id, data);
    },
  };
}

/**
 * Parses ROSTER_SECRET_KEY-style text: 32 bytes as 64 hex digits or as base64 / base64url
 * (`openssl rand -base64 32`). Returns an error message (never quoting the value) when it is neither.
 */
export function parseSecretKey(raw: string): Buffer | string {
  const text = raw.trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(text)) {
    const key = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (key.length === 32) return key;
  }
  return `must be 32 random bytes written as 64 hexadecimal digits or as base64 (make one with \`openssl rand -base64 32\`); the value given is ${text.length} characters long and is neither`;
}
