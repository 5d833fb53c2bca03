/**
 * The one error type for expected domain failures (a name already taken, a prerequisite
 * missing). It carries a code rather than an HTTP status so that directory/ stays free of
 * HTTP; http/ maps codes to statuses in one place and the CLI prints the message. Nearly a
 * leaf (it imports only text.ts, which imports nothing), so that auth/ raises the same errors
 * as directory/.
 */
import { revealHidden } from './text.ts';

/**
 * Why an operation was refused. Suggested HTTP mapping:
 * `invalid` → 400, `not_found` → 404, `conflict` → 409, `precondition` → 409 (the state of
 * the instance, not the request, must change first), `stale` → 412 (the client's version
 * of the resource, from If-Match, is out of date), `managed` → 400 (the identity provider
 * owns this; SonarQube answers 400 too), `forbidden` → 403 (the caller may not do this at all).
 */
export type DirectoryErrorCode = 'invalid' | 'not_found' | 'conflict' | 'precondition' | 'stale' | 'managed' | 'forbidden';

/** SonarQube's exact words for a change refused because the identity provider owns the data. */
const MANAGED_MESSAGE = 'Operation not allowed when the instance is externally managed.';

/** SonarQube's exact words when an administrator tries to deactivate their own account. */
export const SELF_DEACTIVATION_MESSAGE = 'Self-deactivation is not possible';

/** SonarQube's exact words when the only administrator left would be deactivated. */
export const LAST_ADMINISTRATOR_MESSAGE = 'User is last administrator, and cannot be deactivated';

/** The same rule for a change of the administrators' group: the deactivation's words would not fit. */
export const LAST_ADMINISTRATOR_GROUP_MESSAGE =
  "No administrator would be left: the administrators' group holds the last administrator, who cannot leave it, and it cannot be renamed or deleted until another administrator exists.";

/** An expected failure whose message is written for the person who caused it. */
export class DirectoryError extends Error {
  readonly code: DirectoryErrorCode;
  /** The input field at fault, when there is one (e.g. `name`). */
  readonly field: string | undefined;
  /**
   * Why the field's value was refused, when the value itself is wrong (rejected()), apart from
   * the admin API's sentence: the CLI words it for its option, a console form beside its field.
   */
  readonly valueRefusal: ValueRefusal | undefined;
  /**
   * The other fields of the same input refused with this one (checkFields): the APIs say the
   * first, a console form marks them all at once.
   */
  readonly others: readonly DirectoryError[];

  constructor(code: DirectoryErrorCode, message: string, field?: string, valueRefusal?: ValueRefusal, others: readonly DirectoryError[] = []) {
    super(message);
    this.name = 'DirectoryError';
    this.code = code;
    this.field = field;
    this.valueRefusal = valueRefusal;
    this.others = others;
  }
}

/** Why a field's value was refused: the value shown, the reason in the admin API's words, and the same in plain words. */
export interface ValueRefusal {
  readonly value: string;
  readonly reason: string;
  /** The reason for someone at a form: "must not be empty" rather than SonarQube's "must not be null". */
  readonly plain: string;
}

/** The refusal of a change the identity provider owns. */
export function managedError(): DirectoryError {
  return new DirectoryError('managed', MANAGED_MESSAGE);
}

/** A refused field value, worded as SonarQube's Web API v2 words it (`{}` stands for no value). */
export function rejected(field: string, value: unknown, reason: string): DirectoryError {
  // Hidden characters written out: the message must show why, and a newline must not split it.
  const shown = value === undefined || value === null ? '{}' : revealHidden(String(value));
  return new DirectoryError('invalid', `Value ${shown} for field ${field} was rejected. Error: ${reason}.`, field, { value: shown, reason, plain: plainReason(reason) });
}

/**
 * A reason in SonarQube's bean-validation words as a person at a form reads it (the console
 * shows it beside the field; the APIs keep SonarQube's): its two technical shapes, a missing
 * value and a size, are reworded; every other reason is already written for people.
 */
function plainReason(reason: string): string {
  if (reason === 'must not be null') return 'must not be empty';
  const size = /^size must be between (\d+) and (\d+)$/.exec(reason);
  if (size === null) return reason;
  const [min, max] = [Number(size[1]), Number(size[2])];
  return min <= 1 ? `must be at most ${max} characters long` : `must be ${min} to ${max} characters long`;
}

/**
 * Runs every field check of one input, in order (the form's), and returns what each returned;
 * when some refuse (DirectoryErrors naming a field), throws the first, carrying the others.
 * The admin API still says only the first, in its words; a console form marks every field.
 */
export function checkFields<T extends Record<string, () => unknown>>(checks: T): { readonly [K in keyof T]: ReturnType<T[K]> } {
  const values: Record<string, unknown> = {};
  const refusals: DirectoryError[] = [];
  for (const [key, check] of Object.entries(checks)) {
    try {
      values[key] = check();
    } catch (error) {
      if (!(error instanceof DirectoryError) || error.field === undefined) throw error;
      refusals.push(error);
    }
  }
  const [first, ...others] = refusals;
  if (first !== undefined) throw new DirectoryError(first.code, first.message, first.field, first.valueRefusal, others);
  return values as { readonly [K in keyof T]: ReturnType<T[K]> };
}

/**
 * Why a request was not done and may be sent again later: the caller went past its rate limit,
 * this instance has too much work in progress, or the database cannot be reached.
 */
export type RetryReason = 'rate_limited' | 'busy' | 'unavailable';

/** A request refused for now, with how many seconds to wait (http/ answers 429 or 503 with Retry-After). */
export class RetryLaterError extends Error {
  readonly reason: RetryReason;
  readonly retryAfterSeconds: number;

  constructor(reason: RetryReason, retryAfterSeconds: number, message: string) {
    super(message);
    this.name = 'RetryLaterError';
    this.reason = reason;
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterSeconds));
  }
}
