/**
 * The response headers every answer carries, decided in one place (app.ts applies them to
 * every reply; the OpenID provider's hijacked answers get them on the raw response). A route
 * that needs something stricter or looser sets its own header first and keeps it:
 *
 * - `X-Content-Type-Options: nosniff` everywhere: a JSON error echoing input, or the SAML
 *   metadata, must never be sniffed and rendered as HTML.
 * - `Cache-Control: no-store` unless the route chose a policy (the console's assets do): API
 *   answers carry tokens, client secrets, personal data; no shared or browser cache keeps them.
 * - `Strict-Transport-Security` when ROSTER_BASE_URL is https (RFC 6797; a year, without
 *   includeSubDomains, which would bind hosts Roster does not own).
 * - On HTML: a Content-Security-Policy, `X-Frame-Options: DENY` and a Referrer-Policy, unless
 *   the page set its own (the console's layout sets a stricter CSP).
 */
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';

/** HSTS: one year, as browsers' preload guidance asks at least. */
const HSTS = 'max-age=31536000';

/**
 * The CSP of HTML that does not set its own (SAML refusal pages, errors): nothing loads but
 * Roster's own styles, forms only to Roster, never framed.
 */
export const DEFAULT_HTML_CSP = "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/**
 * The CSP of the OpenID provider's pages (logout, error, form_post): inline style attributes,
 * and script only by hash (oidc-provider adds the hash of its form_post script to script-src);
 * no form-action, since form_post submits to the application's redirect URI.
 */
export const OIDC_CSP = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/** The header policy for one base URL. */
export interface SecurityHeaders {
  /** Fills in what `reply` has not set; call just before sending (onSend). */
  apply(reply: FastifyReply): void;
  /** The same for a response Fastify does not send (hijacked to the OpenID provider): set before the handler writes. */
  applyRaw(response: ServerResponse): void;
}

/** The header policy for an instance whose public URL is `baseUrl`. */
export function securityHeaders(baseUrl: string): SecurityHeaders {
  const https = baseUrl.startsWith('https:');
  return {
    apply(reply) {
      reply.header('x-content-type-options', 'nosniff');
      if (https) reply.header('strict-transport-security', HSTS);
      if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
      const type = reply.getHeader('content-type');
      if (typeof type === 'string' && type.startsWith('text/html')) {
        if (!reply.hasHeader('content-security-policy')) reply.header('content-security-policy', DEFAULT_HTML_CSP);
        if (!reply.hasHeader('x-frame-options')) reply.header('x-frame-options', 'DENY');
        if (!reply.hasHeader('referrer-policy')) reply.header('referrer-policy', 'same-origin');
      }
    },
    applyRaw(response) {
      response.setHeader('x-content-type-options', 'nosniff');
      if (https) response.setHeader('strict-transport-security', HSTS);
      // oidc-provider sets no-store itself where a token or code is in the answer; discovery
      // and the JWKS get a short public lifetime (oidc/provider.ts), so no default here.
      response.setHeader('content-security-policy', OIDC_CSP);
      response.setHeader('x-frame-options', 'DENY');
      // The authorization answer carries a code in the redirect: no page leaks its URL onward.
      response.setHeader('referrer-policy', 'no-referrer');
    },
  };
}
