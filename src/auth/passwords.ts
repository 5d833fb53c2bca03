/**
 * Local passwords: scrypt (node:crypto) with a random salt per password. Stored as
 * `scrypt$N$r$p$salt$hash` (base64url), so that the cost can be raised without invalidating
 * existing hashes: a hash made with a lower cost still verifies, and `needsRehash` tells the
 * sign-in to store a new one (see directory/password-check.ts).
 */
import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { RetryLaterError } from '../errors.ts';

interface ScryptCost {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/**
 * OWASP's Password Storage Cheat Sheet (2025): scrypt with N=2^17, r=8, p=1. That is 128 MiB
 * and about a quarter of a second per hash on the 2-core development machine (docs/saml.md).
 */
const OWASP_COST: ScryptCost = { N: 2 ** 17, r: 8, p: 1 };
/**
 * For the test suite only (test/support/fast-password-hashing.mjs), as Rails' `min_cost` or
 * Django's test hashers: 1 MiB and a few milliseconds. Every test app and `roster serve` started
 * by a test hashes the first-start password, and the suite starts about a thousand; at the OWASP
 * cost that was a quarter of the suite's CPU. Nothing under src/ selects it (the architecture
 * test checks), no setting reads it, and a hash made with it is replaced by an OWASP one at
 * its next sign-in (needsRehash), should one ever reach a real database.
 */
const TEST_ONLY_COST: ScryptCost = { N: 2 ** 10, r: 8, p: 1 };
let current: ScryptCost = OWASP_COST;
const KEY_BYTES = 32;
const SALT_BYTES = 16;
// scrypt needs 128 × N × r bytes (128 MiB at the OWASP cost); Node refuses above maxmem.
const MAX_MEMORY = 128 * OWASP_COST.N * OWASP_COST.r + 16 * 1024 * 1024;
// Stored parameters come from our own database, but a corrupted or hand-edited row must not
// make one sign-in allocate gigabytes: anything above these bounds is a malformed hash.
const MAX_STORED = { N: 2 ** 20, r: 16, p: 16 } as const;
/**
 * At most this many hashes run at once in one process, so that a burst of sign-ins costs at
 * most 2 × 128 MiB of memory; the others wait their turn (libuv's pool would run 4 at once).
 */
const MAX_CONCURRENT_HASHES = 2;
/**
 * Hashes that may wait for one of those: about a second of work at a quarter of a second each.
 * Beyond, a check is refused as busy at once (a 503 with Retry-After) instead of queueing: each
 * waiting check holds a request slot of its own, and sign-ins spread over many addresses (past
 * the per-address backoff) waited up to 47 s each, taking every slot from SCIM.
 */
export const MAX_WAITING_HASHES = 8;

let running = 0;
const waiting: Array<() => void> = [];

async function withHashSlot<T>(work: () => Promise<T>): Promise<T> {
  if (running >= MAX_CONCURRENT_HASHES) {
    if (waiting.length >= MAX_WAITING_HASHES) throw new RetryLaterError('busy', 2, 'Too many password checks are in progress on this instance: try again in a few seconds.');
    await new Promise<void>((resolve) => waiting.push(resolve));
  } else {
    running += 1;
  }
  try {
    return await work();
  } finally {
    const next = waiting.shift();
    // The slot passes straight to the next waiter, so `running` only drops when nobody waits.
    if (next) next();
    else running -= 1;
  }
}

function scrypt(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return withHashSlot(
    () =>
      new Promise<Buffer>((resolve, reject) => {
        scryptCallback(password, salt, KEY_BYTES, { ...options, maxmem: MAX_MEMORY }, (error, key) => (error ? reject(error) : resolve(key)));
      }),
  );
}

interface StoredHash {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

function parseStored(stored: string): StoredHash | undefined {
  const [scheme, n, r, p, salt, hash, ...rest] = stored.split('$');
  if (scheme !== 'scrypt' || salt === undefined || hash === undefined || rest.length > 0) return undefined;
  const cost = { N: Number(n), r: Number(r), p: Number(p) };
  const powerOfTwo = Number.isInteger(cost.N) && cost.N > 1 && (cost.N & (cost.N - 1)) === 0;
  if (!powerOfTwo || cost.N > MAX_STORED.N) return undefined;
  if (!Number.isInteger(cost.r) || cost.r < 1 || cost.r > MAX_STORED.r) return undefined;
  if (!Number.isInteger(cost.p) || cost.p < 1 || cost.p > MAX_STORED.p) return undefined;
  return { ...cost, salt: Buffer.from(salt, 'base64url'), hash: Buffer.from(hash, 'base64url') };
}

/** Hashes a password for storage with the current cost. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await scrypt(password, salt, current);
  return ['scrypt', current.N, current.r, current.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** Checks a password against a stored hash, in constant time; false for any malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parseStored(stored);
  if (!parsed) return false;
  const key = await scrypt(password, parsed.salt, { N: parsed.N, r: parsed.r, p: parsed.p });
  return key.length === parsed.hash.length && timingSafeEqual(key, parsed.hash);
}

/** True when a stored hash was made with less than today's cost, so it should be replaced. */
export function needsRehash(stored: string): boolean {
  const parsed = parseStored(stored);
  if (!parsed) return false;
  return parsed.N < current.N || parsed.r < current.r || parsed.p < current.p;
}

/**
 * Which cost new hashes get in this process: `owasp` (the default, and the only one Roster
 * itself uses) or `test-only`. Called by the test suite's preload and by tests of the cost.
 */
export function usePasswordHashCost(which: 'owasp' | 'test-only'): void {
  current = which === 'owasp' ? OWASP_COST : TEST_ONLY_COST;
}

/** The cost new hashes get in this process (see usePasswordHashCost). */
export function passwordHashCost(): 'owasp' | 'test-only' {
  return current === OWASP_COST ? 'owasp' : 'test-only';
}

/** A random password for a new administrator: 24 base64url characters (144 bits). */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}
