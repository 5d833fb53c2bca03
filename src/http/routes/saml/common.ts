/** Helpers shared by the /saml routes. */
import type { FastifyReply } from 'fastify';

// Shared with the console's sign-in page, which validates return paths the same way.
export { auditSource, returnAddress, type ReturnTrust } from '../../client.ts';

/**
 * The largest body the /saml routes read, whatever its content type: a SAML response with a
 * few hundred group names stays well under it.
 */
export const SAML_BODY_LIMIT = 1024 * 1024;

/** `return_to` of a request started by GET /saml/validation: never a path, so never a redirect target. */
export const VALIDATION_MARKER = '#validation';

/** Sends an HTML page with headers that keep it out of caches and frames. */
export function sendHtml(reply: FastifyReply, status: number, html: string): FastifyReply {
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .header('x-frame-options', 'DENY')
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
    .type('text/html; charset=utf-8')
    .send(html);
}
