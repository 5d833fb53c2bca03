/**
 * One place where failures become responses (STYLE.md §5). SCIM routes answer with the
 * RFC 7644 error body; the admin API with SonarQube's v2 shape `{"message": …}`.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ScimError, type ScimErrorBody, type ScimType } from '../scim/errors.ts';
import { DirectoryError, RetryLaterError, type DirectoryErrorCode } from '../errors.ts';
import { isDatabaseDamaged, isDatabaseTimeout, isDatabaseUnavailable, SecretsError } from '../store/index.ts';
import { ADMIN_BODY_TYPES_MESSAGE, formatBytes } from './input.ts';
import { maskTokens } from '../auth/tokens.ts';

export const SCIM_CONTENT_TYPE = 'application/scim+json; charset=utf-8';

const DIRECTORY_STATUS: Record<DirectoryErrorCode, number> = {
  invalid: 400,
  not_found: 404,
  conflict: 409,
  precondition: 409,
  stale: 412,
  managed: 400,
  forbidden: 403,
};

const DIRECTORY_SCIM_TYPE: Partial<Record<DirectoryErrorCode, ScimType>> = {
  invalid: 'invalidValue',
  conflict: 'uniqueness',
  managed: 'mutability',
};

/**
 * Seconds a client is asked to wait when the database cannot be reached: long enough for a
 * PostgreSQL restart or failover to finish, short enough that the IdP's queue keeps moving.
 */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

/** The answer while the database cannot be reached or written (a SQLite disk full or read-only). */
export const DATABASE_UNAVAILABLE =
  'Roster cannot reach or write its database right now, so the request was not carried out. Send it again in a few seconds; the cause has been logged.';

/**
 * The answer when the database reports its content damaged (SQLITE_CORRUPT, PostgreSQL's class XX):
 * a 503 rather than a 500, since no request of the client's caused it and none will succeed
 * until the database is repaired; an IdP keeps the change queued meanwhile.
 */
export const DATABASE_DAMAGED =
  'Roster\'s database reports that its content is damaged, so the request was not carried out. An administrator must check and repair or restore it (docs/operations.md, "A damaged database"); the cause has been logged.';

/**
 * The answer when the database did not answer in time: a connection silent past the deadline
 * (a failover, a frozen backend), or PostgreSQL's statement_timeout or lock_timeout. It cannot
 * say "not carried out": a server frozen after it received the commit applies it when it resumes
 * (found by a probe: a create answered this was there afterwards). Sending the request again is
 * right either way: a create that was made then meets 409, a PATCH sets the same values again.
 */
export const DATABASE_TOO_SLOW =
  'Roster\'s database did not answer in time, so the request was most likely not carried out. Send it again in a few seconds (a create that was carried out then answers 409 uniqueness); the cause has been logged.';

/**
 * The answer when a secret stored in the database does not open with this instance's key
 * (SecretsError): ROSTER_SECRET_KEY is missing or not the key that sealed it, or the value was
 * altered. A 503 rather than a 500: no request of the client's caused it, and none that needs the
 * secret succeeds until an administrator restarts the instance with the right key. No Retry-After:
 * waiting does not help. The log has the error, which names the key ids.
 */
export const SECRETS_UNREADABLE =
  'Roster cannot open a secret stored in its database with its ROSTER_SECRET_KEY (the key is not set, or is not the key that sealed the secrets), so the request was not carried out. An administrator must restart this instance with the key the secrets are sealed with (`roster secrets status` names it; docs/operations.md, "Secrets at rest"); the cause has been logged.';

/** Why a request answered 503 failed, for its log line: a key that does not open a secret, or the database. */
export function unavailableCause(error: unknown): string {
  return error instanceof SecretsError ? 'a secret stored in the database does not open with ROSTER_SECRET_KEY' : 'the database is unavailable';
}

/** Sets Retry-After (seconds, RFC 9110 §10.2.3) when the refusal says when to come back. */
export function setRetryAfter(reply: FastifyReply, error: ScimError): void {
  if (error.retryAfter !== undefined) reply.header('retry-after', String(error.retryAfter));
}

/**
 * Logs a failure at the level it deserves: a refusal of the client's doing at info, a busy
 * instance or a rate limit at warn (they come in bursts, and mean "retry"), everything else
 * (the database gone, a bug) as an error with its cause.
 */
function logFailure(request: FastifyRequest, error: unknown, refused: ScimError, what: string): void {
  if (error instanceof RetryLaterError) request.log.warn({ status: refused.status, reason: error.reason, retryAfter: refused.retryAfter }, `${what} deferred: ${error.message}`);
  else if (refused.status >= 500) request.log.error({ err: error }, `${what} failed`);
  // At debug: the request's one line at info (request-log.ts) carries the status and scimType.
  else request.log.debug({ status: refused.status, scimType: refused.scimType, detail: maskTokens(refused.message) }, `${what} refused`);
}

/** The status recorded for a request whose client left before it was answered (nginx's 499 "client closed request"). */
export const CLIENT_CLOSED_REQUEST = 499;

/**
 * True for the failure of reading a request whose client closed the connection before sending
 * all of it: Node destroys the request with `Error: aborted` (code ECONNRESET). The code alone
 * would also match a database connection reset, which is Roster's trouble, not the client's.
 */
function isClientGone(error: unknown): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === 'ECONNRESET' && error.message === 'aborted';
}

/** Fastify's own errors (body too large, bad content type …) carry a statusCode below 500. */
function isClientFrameworkError(error: unknown): error is FastifyError & { statusCode: number } {
  return (
    typeof error === 'object' &&
    error !== null &&
    'statusCode' in error &&
    typeof (error as { statusCode: unknown }).statusCode === 'number' &&
    (error as { statusCode: number }).statusCode >= 400 &&
    (error as { statusCode: number }).statusCode < 500
  );
}

/**
 * Converts any error into a ScimError; unknown errors become a 500 without internals.
 * `bodyLimit` (bytes) lets a 413 say what the limit is.
 */
export function toScimError(error: unknown, bodyLimit?: number, api: 'scim' | 'admin' = 'scim'): ScimError {
  if (error instanceof ScimError) return error;
  // Before the database's checks, which read ECONNRESET as a lost database connection (a 503).
  if (isClientGone(error)) return new ScimError(CLIENT_CLOSED_REQUEST, undefined, 'The client closed the connection before it had sent the whole request.');
  if (error instanceof DirectoryError) {
    return new ScimError(DIRECTORY_STATUS[error.code], DIRECTORY_SCIM_TYPE[error.code], error.message);
  }
  if (error instanceof RetryLaterError) {
    return new ScimError(error.reason === 'rate_limited' ? 429 : 503, undefined, error.message, error.retryAfterSeconds);
  }
  if (isDatabaseTimeout(error)) return new ScimError(503, undefined, DATABASE_TOO_SLOW, DATABASE_RETRY_AFTER_SECONDS);
  if (isDatabaseUnavailable(error)) return new ScimError(503, undefined, DATABASE_UNAVAILABLE, DATABASE_RETRY_AFTER_SECONDS);
  if (isDatabaseDamaged(error)) return new ScimError(503, undefined, DATABASE_DAMAGED);
  if (error instanceof SecretsError) return new ScimError(503, undefined, SECRETS_UNREADABLE);
  if (isClientFrameworkError(error)) {
    const scimType: ScimType | undefined = error.statusCode === 400 ? 'invalidSyntax' : undefined;
    return new ScimError(error.statusCode, scimType, frameworkDetail(error, bodyLimit, api));
  }
  return new ScimError(500, undefined, 'Roster could not complete the request because of an internal error; it has been logged.');
}

function frameworkDetail(error: FastifyError & { statusCode: number }, bodyLimit: number | undefined, api: 'scim' | 'admin'): string {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return bodyLimit === undefined
        ? 'The request body is larger than Roster accepts.'
        : `The request body is larger than the ${formatBytes(bodyLimit)} Roster accepts (ROSTER_MAX_BODY_SIZE).`;
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      // Each API names the types it documents (the admin API's PATCH is a JSON merge patch).
      return api === 'scim'
        ? 'Send request bodies as application/scim+json or application/json.'
        : ADMIN_BODY_TYPES_MESSAGE;
    // The framework's own messages repeat the whole URL, which may be kilobytes of garbage.
    case 'FST_ERR_BAD_URL':
      return 'The URL is not valid: it contains a malformed percent-encoding.';
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return 'A path segment of the URL (an id) is longer than the 500 characters Roster accepts.';
    default:
      return error.message;
  }
}

/** Longest error message sent; messages quote the input, and the input may be megabytes. */
const MAX_DETAIL_LENGTH = 1000;

// An unbroken run this long is echoed input (a value, a path, JSON), never the words of a message.
const LONG_RUN = /\S{121,}/g;

/** The message shortened for a response: long echoed runs abbreviated, then the whole capped. */
function concise(message: string): string {
  const shortened = message.replace(LONG_RUN, (run) => `${run.slice(0, 80)}…(${run.length} characters)`);
  return shortened.length <= MAX_DETAIL_LENGTH ? shortened : `${shortened.slice(0, MAX_DETAIL_LENGTH - 1)}…`;
}

/**
 * A failure as SCIM reports it: the status and the RFC 7644 §3.12 body, logged. The error
 * handler sends it; a Bulk operation puts it in its `response` (RFC 7644 §3.7.3).
 */
export function describeScimError(error: unknown, request: FastifyRequest): { status: number; body: ScimErrorBody; retryAfter?: number } {
  const scimError = toScimError(error, request.routeOptions.bodyLimit);
  logFailure(request, error, scimError, 'SCIM request');
  return { status: scimError.status, body: { ...scimError.toBody(), detail: concise(scimError.message) }, ...(scimError.retryAfter !== undefined ? { retryAfter: scimError.retryAfter } : {}) };
}

/** The error handler of the SCIM routes. */
export function scimErrorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const { status, body, retryAfter } = describeScimError(error, request);
  if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
  if (status === 401) reply.header('WWW-Authenticate', 'Bearer realm="Roster SCIM"');
  // For the provisioning activity (http/activity.ts), which records what the IdP was told.
  request.scimFailure = { scimType: body.scimType, detail: body.detail };
  return reply.code(status).type(SCIM_CONTENT_TYPE).send(body);
}

/** True for the framework's refusal of a body larger than the route's limit. */
export function isBodyTooLarge(error: unknown): boolean {
  return isClientFrameworkError(error) && error.code === 'FST_ERR_CTP_BODY_TOO_LARGE';
}

/** The error handler of the admin API: `{"message": "…"}` as SonarQube's Web API v2 answers. */
export function apiErrorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const scimError = toScimError(error, request.routeOptions.bodyLimit, 'admin');
  if (scimError.status >= 500 || error instanceof RetryLaterError) logFailure(request, error, scimError, 'API request');
  setRetryAfter(reply, scimError);
  if (scimError.status === 401) reply.header('WWW-Authenticate', 'Bearer realm="Roster"');
  return reply.code(adminStatusOf(error, scimError)).send({ message: concise(scimError.message) });
}

/**
 * The status the admin API answers a failure with, and the console too, so that one refusal
 * has one status in both: SonarQube's 400 for a precondition (SCIM answers it 409).
 */
export function adminStatusOf(error: unknown, converted: ScimError = toScimError(error, undefined, 'admin')): number {
  return error instanceof DirectoryError && error.code === 'precondition' ? 400 : converted.status;
}
