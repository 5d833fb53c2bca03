/**
 * One-time form tokens: what keeps a reload, or Back and resubmit, from repeating an action
 * whose answer shows a secret once (a webhook's or an application's secret, a SCIM token).
 * The page puts a fresh token in the form; the post claims it in the database before acting,
 * so a second post of the same form, on any instance, finds it claimed and does nothing.
 * The secret itself is never kept to be shown again.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Store } from '../store/index.ts';
import { createFormSubmissionQueries } from '../store/form-submissions.ts';

/**
 * How long a form's token can be claimed. Its claim is kept as long, so a repeat within that
 * time is recognised; a form older than this is refused as stale rather than acted on.
 */
export const FORM_TOKEN_LIFETIME_MS = 12 * 60 * 60 * 1000;
/** Clock difference between instances tolerated for a token issued "in the future". */
const CLOCK_SKEW_MS = 60 * 1000;

const TOKEN_PATTERN = /^([0-9a-z]{1,11})\.[A-Za-z0-9_-]{22}$/;

/**
 * What a post's token allows: `act` (first post, or a post without a token, such as a
 * script's), `repeat` (the form was already sent: do nothing), `stale` (too old or malformed).
 */
export type FormClaim = 'act' | 'repeat' | 'stale';

/** The console's one-time form tokens. */
export interface FormSubmissions {
  /** A fresh token for a form: when it was issued, and 128 random bits. */
  issue(): string;
  /** Claims a posted token; undefined (no token sent) always acts. */
  claim(token: string | undefined): Promise<FormClaim>;
  /** Gives a claimed token back when its action failed, so that the form may be sent again. */
  release(token: string | undefined): Promise<void>;
  /**
   * Claims a creation by what it was sent with (`fingerprint`: the user, the form and its values)
   * for SAME_VALUES_WINDOW_MS: false when the same was sent within that time. Back and resubmit
   * loads the form again (its pages are not cached) with a fresh token, and the browser fills in
   * the same values: the token alone let a second webhook or application be created.
   */
  claimValues(fingerprint: string): Promise<boolean>;
  /** Gives a claim of `claimValues` back when the creation failed. */
  releaseValues(fingerprint: string): Promise<void>;
}

/** How long a creation sent again with the same values counts as a repeat. */
export const SAME_VALUES_WINDOW_MS = 10 * 60 * 1000;

/** Builds the form tokens over a store (shared by every instance). */
export function createFormSubmissions(store: Store, now: () => number = Date.now): FormSubmissions {
  const queries = createFormSubmissionQueries();
  return {
    issue: () => `${now().toString(36)}.${randomBytes(16).toString('base64url')}`,

    async claim(token) {
      if (token === undefined) return 'act';
      const issuedAt = parseInt(TOKEN_PATTERN.exec(token)?.[1] ?? '', 36);
      const at = now();
      if (Number.isNaN(issuedAt) || issuedAt > at + CLOCK_SKEW_MS || at - issuedAt > FORM_TOKEN_LIFETIME_MS) return 'stale';
      const claimed = await queries.claim(store.db, token, new Date(issuedAt + FORM_TOKEN_LIFETIME_MS).toISOString(), new Date(at).toISOString());
      return claimed ? 'act' : 'repeat';
    },

    async release(token) {
      if (token !== undefined && TOKEN_PATTERN.test(token)) await queries.release(store.db, token);
    },

    async claimValues(fingerprint) {
      const at = now();
      return queries.claim(store.db, valuesKey(fingerprint), new Date(at + SAME_VALUES_WINDOW_MS).toISOString(), new Date(at).toISOString());
    },

    async releaseValues(fingerprint) {
      await queries.release(store.db, valuesKey(fingerprint));
    },
  };
}

/** The claim key of a creation's values: its SHA-256, under a prefix no token can have. */
function valuesKey(fingerprint: string): string {
  return `values:${createHash('sha256').update(fingerprint).digest('base64url')}`;
}
