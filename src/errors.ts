/**
 * The one error type for expected domain failures (a name already taken, a prerequisite
 * missing). It carries a code rather than an HTTP status so that directory/ stays free of
 * HTTP; http/ maps codes to statuses in one place and the CLI prints the message. A leaf
 * module (it imports nothing), so that auth/ raises the same errors as directory/.
 */

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
  readonly valueRefusal: { readonly value: string; readonly reason: string } | undefined;

  constructor(code: DirectoryErrorCode, message: string, field?: string, valueRefusal?: { readonly value: string; readonly reason: string }) {
    super(message);
    this.name = 'DirectoryError';
    this.code = code;
    this.field = field;
    this.valueRefusal = valueRefusal;
  }
}

/** The refusal of a change the identity provider owns. */
export function managedError(): DirectoryError {
  return new DirectoryError('managed', MANAGED_MESSAGE);
}

/** A refused field value, worded as SonarQube's Web API v2 words it (`{}` stands for no value). */
export function rejected(field: string, value: unknown, reason: string): DirectoryError {
  const shown = value === undefined || value === null ? '{}' : String(value);
  return new DirectoryError('invalid', `Value ${shown} for field ${field} was rejected. Error: ${reason}.`, field, { value: shown, reason });
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
