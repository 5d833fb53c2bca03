/**
 * Requests that OpenID Connect lets an application send by form post as well as by link, each
 * answered by a 303 to the same request as a GET: the authorization request (Core §3.1.2.1) and
 * RP-initiated logout (RP-Initiated Logout 1.0 §2: the end_session_endpoint MUST support GET and
 * POST).
 *
 * Both need the browser's Roster session, whose cookie is SameSite=Lax: a browser leaves it out
 * of the application's cross-site form post. The provider could answer an authorization post
 * itself only with its session cookie SameSite=None, and even then a signed-in user would be sent
 * to the sign-in page (or answered login_required with prompt=none). A logout post the provider
 * answered itself would carry no cookie either, so logout.ts would see no Roster session to ask
 * about, and the provider's page would post `logout=yes` by itself from Roster's own origin,
 * with the Roster cookie: any site could sign a user out without the question. The browser
 * follows the 303 with a GET, a top-level navigation that carries Lax cookies, so the request
 * goes on exactly as a GET one does (the question included).
 */
import type { IncomingMessage } from 'node:http';

/**
 * The largest form read. The parameters travel on as a URL, which Node reads within its 16 KiB
 * of request head; an authorization request (no request objects here) is a few hundred bytes,
 * a logout request an ID token (about a kilobyte) and a URL.
 */
export const FORM_POST_LIMIT = 8 * 1024;

const FORM = 'application/x-www-form-urlencoded';

/** What a posted request becomes. */
export type PostedRequest =
  | { readonly ok: true; readonly location: string }
  | { readonly ok: false; readonly status: 413 | 415; readonly message: string };

/**
 * Reads the form of a POST to `path` and says where the browser goes on with it as a GET;
 * `request` names it in a refusal ("authorization request"). A refusal leaves the body unread:
 * answer it with Connection: close.
 */
export async function formPostAsGet(raw: IncomingMessage, path: string, request: string): Promise<PostedRequest> {
  const type = (raw.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== FORM) {
    return { ok: false, status: 415, message: `The ${request} is posted as an ${FORM} form.` };
  }
  const body = await readLimited(raw, FORM_POST_LIMIT);
  if (body === undefined) {
    return { ok: false, status: 413, message: `The ${request} is larger than ${FORM_POST_LIMIT / 1024} KiB, more than one needs.` };
  }
  // Re-encoded, so that the URL carries the parameters the form said, whatever its spelling.
  const params = new URLSearchParams(body);
  const query = params.toString();
  return { ok: true, location: query === '' ? path : `${path}?${query}` };
}

/**
 * The body as text, or undefined once it passes `limit` bytes: the rest is left unread (the
 * caller answers with Connection: close) rather than destroying the request, which would take
 * the socket and the answer with it.
 */
function readLimited(raw: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      raw.off('data', onData);
      raw.off('end', onEnd);
      raw.off('error', reject);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        stop();
        raw.pause();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      stop();
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    raw.on('data', onData);
    raw.on('end', onEnd);
    raw.on('error', reject);
  });
}
