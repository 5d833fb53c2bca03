/** Helpers shared by the /saml routes. */
import type { FastifyReply } from 'fastify';

/**
 * The largest body the /saml routes read, whatever its content type: a SAML response with a
 * few hundred group names stays well under it.
 */
export const SAML_BODY_LIMIT = 1024 * 1024;

/** `return_to` of a request started by GET /saml/validation: never a path, so never a redirect target. */
export const VALIDATION_MARKER = '#validation';

/** True for a path on this server (`/…`), never `//host` or `/\host`, which browsers treat as other hosts. */
export function isLocalPath(value: string): boolean {
  return /^\/(?![/\\])/.test(value) && !/[\u0000-\u001f\u007f\\]/.test(value) && value.length <= 2048;
}

/** Sends an HTML page with headers that keep it out of caches and frames. */
export function sendHtml(reply: FastifyReply, status: number, html: string): FastifyReply {
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .header('x-frame-options', 'DENY')
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
    .type('text/html; charset=utf-8')
    .send(html);
}
