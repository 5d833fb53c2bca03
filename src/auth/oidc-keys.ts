/**
 * The OpenID provider's key material, in the `settings` table so that every instance signs
 * with the same key and accepts the same cookies: the signing keys (private JWKs, newest
 * first) and the keys oidc-provider signs its own cookies with. Created at first start by
 * whichever instance comes first; `roster keys rotate` publishes a new signing key, which signs
 * from PUBLISH_AHEAD_MS later (at once with `--now`), and the old one stays in the JWKS for
 * KEY_GRACE_MS after it stops signing, so that tokens it signed still verify.
 * Never logged: nothing here is ever passed to a logger or an audit entry.
 */
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import type { Actor } from '../journal/actor.ts';
import { createJournal } from '../journal/journal.ts';
import type { Store } from '../store/index.ts';
import { lockSecretsForWrite } from '../store/secrets.ts';
import { createSettingQueries } from '../store/settings.ts';
import { transact } from '../store/transact.ts';

const KEYS_SETTING = 'oidc.keys';
/** How long a replaced signing key stays published (clients cache JWKS; ID tokens live an hour). */
export const KEY_GRACE_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * How long a new key is published before it signs. Relying parties keep the key set for a while
 * (jose's remote key sets 10 minutes, a cache in between up to the JWKS's max-age of a minute),
 * and one that meets a token signed by a key it does not know yet may fail to verify it: by the
 * time the new key signs, every copy of the key set kept for less than this knows it.
 */
export const PUBLISH_AHEAD_MS = 10 * 60 * 1000;

/** A private signing key as JWK, with when it signs from and when it was replaced. */
export interface StoredSigningKey {
  readonly jwk: Readonly<Record<string, unknown>>;
  readonly createdAt: string;
  /** When it starts signing; null or absent (keys stored before publishing ahead): from its creation. */
  readonly activatesAt?: string | null;
  /** When it stopped (or stops) signing: the grace period counts from then. */
  readonly retiredAt: string | null;
}

/** Everything the provider needs that must be the same on every instance. */
export interface OidcKeyMaterial {
  /** Newest first: the first one signs. */
  readonly signingKeys: readonly StoredSigningKey[];
  /**
   * Keys of oidc-provider's signed cookies, newest first: the first signs, every one verifies.
   * A rotation puts a new one first and keeps the one before it (rotateOidcKeys).
   */
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

function newCookieKey(): string {
  return randomBytes(32).toString('base64url');
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
    const material: OidcKeyMaterial = { signingKeys: [newSigningKey(now)], cookieKeys: [newCookieKey()] };
    await transact(store.db, async (trx) => {
      // A secret's write: the sealing lock first (store/secrets.ts).
      await lockSecretsForWrite(trx, store.dialect);
      await queries.insertIfAbsent(trx, KEYS_SETTING, JSON.stringify(material), now);
    });
    text = await queries.read(store.db, KEYS_SETTING);
    if (text === undefined) throw new Error(`The setting ${KEYS_SETTING} could not be created.`);
  }
  return { material: parse(text), version: text };
}

/** Whether `key` signs (or has signed) by `now`, rather than only being published ahead. */
function isActive(key: StoredSigningKey, now: number): boolean {
  return key.activatesAt == null || Date.parse(key.activatesAt) <= now;
}

/** Whether `key` is still published at `now` (retired ones for their grace period). */
function isPublished(key: StoredSigningKey, now: number): boolean {
  return key.retiredAt === null || Date.parse(key.retiredAt) + KEY_GRACE_MS > now;
}

/**
 * The private JWKs to publish and sign with at `now`: the key that signs first (the newest of
 * those active), then the others active within their grace period, then the one published ahead.
 */
export function publishedKeys(material: OidcKeyMaterial, now: number): Record<string, unknown>[] {
  const published = material.signingKeys.filter((key) => isPublished(key, now));
  return [...published.filter((key) => isActive(key, now)), ...published.filter((key) => !isActive(key, now))].map((key) => ({ ...key.jwk }));
}

/**
 * The next instant after `now` at which publishedKeys changes with no new rotation (a key
 * published ahead starts signing, a retired one leaves), so the provider is rebuilt then.
 */
export function keysChangeAt(material: OidcKeyMaterial, now: number): number | undefined {
  const instants = material.signingKeys.flatMap((key) => [
    ...(key.activatesAt == null ? [] : [Date.parse(key.activatesAt)]),
    ...(key.retiredAt === null ? [] : [Date.parse(key.retiredAt) + KEY_GRACE_MS]),
  ]);
  const later = instants.filter((instant) => instant > now);
  return later.length === 0 ? undefined : Math.min(...later);
}

/** What a rotation did: the key that signs next, from when, and the keys it retires. */
export interface Rotation {
  readonly kid: string;
  /** When `kid` signs from (ISO 8601): now, or PUBLISH_AHEAD_MS later. */
  readonly signsFrom: string;
  readonly retired: readonly string[];
  /** True when a key published ahead was already waiting: nothing changed (without `now`). */
  readonly alreadyWaiting: boolean;
  /** When `kid` was published (ISO 8601): now for a new key, earlier for one that was waiting. */
  readonly publishedAt: string;
}

/**
 * Publishes a new signing key that signs from PUBLISH_AHEAD_MS later, or at once with `now`
 * (a key thought compromised), and retires the others from that instant. A key already published
 * ahead and waiting is kept rather than replaced (`alreadyWaiting`), and `now` makes it sign at
 * once: it is the one relying parties have had the longest. Runs in one transaction, the keys'
 * row locked (PostgreSQL): a second rotation at once sees the key the first published.
 *
 * The cookie keys turn with it, at once (they sign nothing another party keeps): a new key
 * signs the provider's cookies, and the one before it still verifies those it signed, so that a
 * sign-in under way and the provider's sessions carry on; older keys are dropped. With `now` the
 * key before is dropped too: the key material is thought to have leaked, and a browser whose
 * provider cookies no longer verify only goes through Roster's sign-in again.
 */
export async function rotateOidcKeys(store: Store, actor: Actor, options: { readonly now?: boolean } = {}): Promise<Rotation> {
  await loadOidcKeys(store);
  const queries = createSettingQueries(store.secrets);
  return store.db.transaction().execute(async (trx) => {
    // A secret's write: the sealing lock first, so that the value is sealed with the key the
    // database is sealed with when it commits, not one a re-sealing under way replaces.
    await lockSecretsForWrite(trx, store.dialect);
    // Locked: two rotations at once (two administrators, two instances) would both build on the
    // keys read before either wrote, and the second would overwrite the key the first published.
    const text = store.dialect.supportsRowLocks ? await queries.readLocked(trx, KEYS_SETTING) : await queries.read(trx, KEYS_SETTING);
    if (text === undefined) throw new Error(`The setting ${KEYS_SETTING} vanished.`);
    const material = parse(text);
    const now = new Date();
    const at = now.toISOString();
    // Keys past their grace period are dropped for good.
    const live = material.signingKeys.filter((key) => isPublished(key, now.getTime()));
    const waiting = live.find((key) => !isActive(key, now.getTime()));
    if (waiting !== undefined && options.now !== true) {
      return { kid: String(waiting.jwk.kid), signsFrom: String(waiting.activatesAt), retired: [], alreadyWaiting: true, publishedAt: waiting.createdAt };
    }
    const signsFrom = options.now === true ? at : new Date(now.getTime() + PUBLISH_AHEAD_MS).toISOString();
    const next = waiting === undefined ? { ...newSigningKey(at), activatesAt: signsFrom } : { ...waiting, activatesAt: signsFrom };
    const others = live.filter((key) => key !== waiting);
    const retired = others.filter((key) => key.retiredAt === null || Date.parse(key.retiredAt) > now.getTime());
    const kept = others.map((key) => (retired.includes(key) ? { ...key, retiredAt: signsFrom } : key));
    const cookieKeys = options.now === true ? [newCookieKey()] : [newCookieKey(), ...material.cookieKeys.slice(0, 1)];
    await queries.upsert(trx, KEYS_SETTING, JSON.stringify({ ...material, signingKeys: [next, ...kept], cookieKeys }), at);
    const result = { kid: String(next.jwk.kid), signsFrom, retired: retired.map((key) => String(key.jwk.kid)), alreadyWaiting: false, publishedAt: next.createdAt };
    // Key ids only: never key material.
    await createJournal(store.dialect).record(trx, actor, { action: 'oidc.keys_rotated', targetType: 'setting', targetId: KEYS_SETTING, details: { kid: result.kid, signsFrom, retired: result.retired, previousCookieKeyKept: options.now !== true } }, at);
    return result;
  });
}
