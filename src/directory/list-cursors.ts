/**
 * What cursor paging (RFC 9865) needs from the database: the key that signs cursors. It is
 * made on first use and kept in the settings table, so that every instance sharing the
 * database signs and checks cursors with the same key, and a walk started on one instance
 * continues on any other. No cursor is stored: a cursor carries its position and expiry.
 */
import { randomBytes } from 'node:crypto';
import type { CursorKey } from '../scim/cursor.ts';
import type { Store } from '../store/index.ts';
import { defineSetting, readOrInitialise } from '../settings.ts';

/** How long a cursor stays valid by default, in seconds (ServiceProviderConfig `cursorTimeout`). */
export const DEFAULT_CURSOR_TIMEOUT = 3600;

/** 256 random bits, base64url. No `audit`: the value is a secret. */
const cursorKeySetting = defineSetting<string>({
  key: 'scim.cursorKey',
  parse: (raw) => (typeof raw === 'string' && /^[A-Za-z0-9_-]{43}$/.test(raw) ? raw : undefined),
});

/** The cursor key and lifetime. */
export interface ListCursors {
  /** Seconds a cursor stays valid after the response that issued it. */
  readonly timeoutSeconds: number;
  /** The signing key, created on first use (insert-if-absent, so concurrent instances agree). */
  key(): Promise<CursorKey>;
}

/** Creates the cursor service over a store. */
export function createListCursors(store: Store, options: { timeoutSeconds?: number } = {}): ListCursors {
  // The key never changes once stored, so keeping it after the first read is a cache that
  // cannot go stale.
  let cached: CursorKey | undefined;
  return {
    timeoutSeconds: options.timeoutSeconds ?? DEFAULT_CURSOR_TIMEOUT,
    async key() {
      if (cached === undefined) {
        const text = await readOrInitialise(store, cursorKeySetting, () => randomBytes(32).toString('base64url'));
        cached = { secret: Buffer.from(text, 'base64url') };
      }
      return cached;
    },
  };
}
