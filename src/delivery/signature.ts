/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com/): HMAC-SHA256 of
 * `<webhook-id>.<webhook-timestamp>.<body>`, keyed by the base64-decoded part of the secret
 * after `whsec_`, sent as `v1,<base64>`; several space-separated during a secret rotation.
 */
import { createHmac } from 'node:crypto';
import { SECRET_PREFIX } from '../directory/webhooks.ts';

/** The `webhook-signature` header for a message, one `v1,…` per secret. */
export function signatureHeader(secrets: readonly string[], id: string, timestamp: number, body: string): string {
  return secrets
    .map((secret) => {
      const key = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');
      return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`, 'utf8').digest('base64')}`;
    })
    .join(' ');
}
