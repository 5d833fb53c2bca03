/**
 * Rotating a secret with an overlap: the secret it replaces keeps working beside the new one for
 * a while, so that whoever holds it (a webhook receiver, an application) can switch without a
 * single failure. One set of rules for webhook signing secrets (directory/webhooks.ts) and
 * application client secrets (directory/applications.ts): one previous secret at a time, its
 * expiry stored with it and compared with the clock at each use, so every instance agrees.
 */
import { DirectoryError, rejected } from '../errors.ts';
import { readableTime } from '../text.ts';

/** How long the previous secret keeps working after a rotation unless told otherwise: 24 hours. */
export const DEFAULT_SECRET_OVERLAP_SECONDS = 24 * 60 * 60;
/**
 * The longest overlap an administrator may choose: 7 days. Long enough for a weekly deployment;
 * a secret rotated because it leaked should not stay valid for longer.
 */
export const MAX_SECRET_OVERLAP_SECONDS = 7 * 24 * 60 * 60;

/** Until when the previous secret is still valid at `at`: its expiry while ahead of `at`, else null. */
export function runningOverlap(previous: string | null, expiresAt: string | null, at: Date): string | null {
  return previous !== null && expiresAt !== null && Date.parse(expiresAt) > at.getTime() ? expiresAt : null;
}

/** An overlap in whole seconds from 0 (the previous secret stops at once) to MAX_SECRET_OVERLAP_SECONDS. */
export function checkOverlapSeconds(value: number, field = 'overlapSeconds'): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_SECRET_OVERLAP_SECONDS) {
    throw rejected(field, value, `must be a whole number of seconds from 0 (the previous secret stops at once) to ${MAX_SECRET_OVERLAP_SECONDS} (7 days)`);
  }
  return value;
}

/**
 * The refusal of a rotation asked from a page that showed the overlap `seen` (null: none), when
 * another rotation was made since (two pages open together): rotating again would stop at once
 * the secret that rotation kept valid, which the holder may still use. Undefined when the
 * rotation may go ahead: `seen` not given (the CLI, the API, an older page), or the same overlap
 * still running, or none running (an overlap seen that has since ended is no reason to refuse).
 * `rotatedAt` is named when known; `stillWorks` says what the older secret does ("signs").
 */
export function rotatedSinceShown(running: string | null, seen: string | null | undefined, options: { readonly rotatedAt?: string; readonly stillWorks: string }): DirectoryError | undefined {
  if (seen === undefined || running === null || running === seen) return undefined;
  const when = options.rotatedAt !== undefined ? ` at ${readableTime(options.rotatedAt)}` : '';
  return new DirectoryError(
    'conflict',
    `The secret was rotated${when}, after this page was shown; whoever rotated it was shown the new secret. Rotating again would stop at once the older secret, which still ${options.stillWorks} until ${readableTime(running)}: do it only if the new one is lost.`,
  );
}
