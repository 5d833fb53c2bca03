/**
 * SCIM protocol errors (RFC 7644 §3.12).
 *
 * Anything in the SCIM layers may throw a ScimError; one handler in http/ turns it into the
 * RFC 7644 error body. Unknown errors never reach the client as-is.
 */

/**
 * The `scimType` values RFC 7644 §3.12 defines (Table 9) and those RFC 9865 §2.1 adds for
 * cursor paging (Table 3), plus none for plain status errors.
 */
export type ScimType =
  | 'invalidFilter'
  | 'tooMany'
  | 'uniqueness'
  | 'mutability'
  | 'invalidSyntax'
  | 'invalidPath'
  | 'noTarget'
  | 'invalidValue'
  | 'invalidVers'
  | 'sensitive'
  | 'invalidCursor'
  | 'expiredCursor'
  | 'invalidCount';

export const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

/** A failure that the SCIM client caused or must be told about, with the RFC 7644 status and scimType. */
export class ScimError extends Error {
  readonly status: number;
  readonly scimType: ScimType | undefined;
  /** Seconds the client should wait before trying again (the Retry-After header of a 429 or 503). */
  readonly retryAfter: number | undefined;

  constructor(status: number, scimType: ScimType | undefined, detail: string, retryAfter?: number) {
    super(detail);
    this.name = 'ScimError';
    this.status = status;
    this.scimType = scimType;
    this.retryAfter = retryAfter;
  }

  /** The RFC 7644 §3.12 response body; `status` is a string there, as the RFC's examples show. */
  toBody(): ScimErrorBody {
    const body: ScimErrorBody = { schemas: [ERROR_SCHEMA], status: String(this.status), detail: this.message };
    if (this.scimType !== undefined) body.scimType = this.scimType;
    return body;
  }
}

export interface ScimErrorBody {
  schemas: [typeof ERROR_SCHEMA];
  status: string;
  scimType?: ScimType;
  detail: string;
}

/** 400 with a scimType: the most common client mistake. */
export function badRequest(scimType: ScimType, detail: string): ScimError {
  return new ScimError(400, scimType, detail);
}

/** 404 for a resource that does not exist (or is not visible through SCIM). */
export function notFound(detail: string): ScimError {
  return new ScimError(404, undefined, detail);
}
