/**
 * The OpenID provider's key material, in the `settings` table so that every instance signs
 * with the same key and accepts the same cookies: the signing keys (private JWKs, newest
 * first) and the keys oidc-provider signs its own cookies with. Created at first start by
 * whichever instance comes first; `roster keys rotate` puts a new signing key first, and the
 * old one stays in the JWKS for KEY_GRACE_MS so that tokens it signed still verify.
 * Never logged: nothing here is ever passed to a logger or an audit entry.
 */
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import type { Actor } from '../journal/actor.ts';
import { createJournal } from '../journal/journal.ts';
import type { Store } from '../store/index.ts';
import { createSettingQueries } from '../store/settings.ts';

const KEYS_SETTING = 'oidc.keys';
/** How long a replaced signing key stays published (clients cache JWKS; ID tokens live an hour). */
export const KEY_GRACE_MS = 7 * 24 * 60 * 60 * 1000;

/** A private signing key as JWK, with when it was replaced. */
export interface StoredSigningKey {
  readonly jwk: Readonly<Record<string, unknown>>;
  readonly createdAt: string;
  readonly retiredAt: string | null;
}

/** Everything the provider needs that must be the same on every instance. */
export interface OidcKeyMaterial {
  /** Newest first: the first one signs. */
  readonly signingKeys: readonly StoredSigningKey[];
  /** Keys of oidc-provider's signed cookies, newest first. */
  readonly cookieKeys: readonly string[];
}

/** The key material as stored, and its text (which changes exactly when the keys do). */
export interface LoadedKeys {
  readonly material: OidcKeyMaterial;
  readonly version: string;
}


function newSigningKey(now: string): StoredSigningKey {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
  return { jwk, createdAt: now, retiredAt: null };
}

function parse(text: string): OidcKeyMaterial {
  const value = JSON.parse(text) as OidcKeyMaterial;
  if (!Array.isArray(value.signingKeys) || value.signingKeys.length === 0 || !Array.isArray(value.cookieKeys)) {
    throw new Error(`The setting ${KEYS_SETTING} is not valid key material.`);
  }
  return value;
}

/** Reads the key material, creating it on first use. */
export async function loadOidcKeys(store: Store): Promise<LoadedKeys> {
  // Sealed with ROSTER_SECRET_KEY when it is set (store/secrets.ts).
  const queries = createSettingQueries(store.secrets);
  let text = await queries.read(store.db, KEYS_SETTING);
  if (text === undefined) {
    const now = new Date().toISOString();
    const material: OidcKeyMaterial = { signingKeys: [newSigningKey(now)], cookieKeys: [randomBytes(32).toString('base64url')] };
    await queries.insertIfAbsent(store.db, KEYS_SETTING, JSON.stringify(material), now);
    text = await queries.read(store.db, KEYS_SETTING);
    if (text === undefined) throw new Error(`The setting ${KEYS_SETTING} could not be created.`);
  }
  return { material: parse(text), version: text };
}

/** The private JWKs to publish and sign with at `now`: the current key first, retired ones within their grace period. */
export function publishedKeys(material: OidcKeyMaterial, now: number): Record<string, unknown>[] {
  return material.signingKeys
    .filter((key) => key.retiredAt === null || Date.parse(key.retiredAt) + KEY_GRACE_MS > now)
    .map((key) => ({ ...key.jwk }));
}

/** Puts a new signing key first and retires the others; returns the new key's id. Runs in one transaction. */
export async function rotateOidcKeys(store: Store, actor: Actor): Promise<{ kid: string; retired: string[] }> {
  await loadOidcKeys(store);
  const queries = createSettingQueries(store.secrets);
  return store.db.transaction().execute(async (trx) => {
    const text = await queries.read(trx, KEYS_SETTING);
    if (text === undefined) throw new Error(`The setting ${KEYS_SETTING} vanished.`);
    const material = parse(text);
    const now = new Date();
    const at = now.toISOString();
    const fresh = newSigningKey(at);
    // Keys past their grace period are dropped for good.
    const kept = material.signingKeys
      .filter((key) => key.retiredAt === null || Date.parse(key.retiredAt) + KEY_GRACE_MS > now.getTime())
      .map((key) => ({ ...key, retiredAt: key.retiredAt ?? at }));
    await queries.upsert(trx, KEYS_SETTING, JSON.stringify({ ...material, signingKeys: [fresh, ...kept] }), at);
    const result = {
      kid: String(fresh.jwk.kid),
      retired: material.signingKeys.filter((key) => key.retiredAt === null).map((key) => String(key.jwk.kid)),
    };
    // Key ids only: never key material.
    await createJournal(store.dialect).record(trx, actor, { action: 'oidc.keys_rotated', targetType: 'setting', targetId: KEYS_SETTING, details: result }, at);
    return result;
  });
}
