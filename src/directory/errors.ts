/**
 * The one error type for expected domain failures (a name already taken, a prerequisite
 * missing). It carries a code rather than an HTTP status so that directory/ stays free of
 * HTTP; http/ maps codes to statuses in one place and the CLI prints the message.
 */

/**
 * Why an operation was refused. Suggested HTTP mapping:
 * `invalid` → 400, `not_found` → 404, `conflict` → 409, `precondition` → 409 (the state of
 * the instance, not the request, must change first), `stale` → 412 (the client's version
 * of the resource, from If-Match, is out of date).
 */
export type DirectoryErrorCode = 'invalid' | 'not_found' | 'conflict' | 'precondition' | 'stale';

/** An expected failure whose message is written for the person who caused it. */
export class DirectoryError extends Error {
  readonly code: DirectoryErrorCode;
  /** The input field at fault, when there is one (e.g. `name`). */
  readonly field: string | undefined;

  constructor(code: DirectoryErrorCode, message: string, field?: string) {
    super(message);
    this.name = 'DirectoryError';
    this.code = code;
    this.field = field;
  }
}
