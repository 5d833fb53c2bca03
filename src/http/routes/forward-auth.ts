/**
 * Forward auth for reverse proxies (nginx `auth_request`, Traefik ForwardAuth, Caddy
 * `forward_auth`): before every request to an application, the proxy asks `GET /auth/verify`
 * with the browser's cookies. 200 lets the request through with who the user is in Remote-*
 * headers, which the proxy copies onto the request; 401 means "not signed in" (with a Location
 * to the sign-in page, which nginx can send on with `error_page 401 =302`); 403 means "signed
 * in, but in none of the groups this application asks for". `?redirect=true` answers 302 to
 * the sign-in page instead of 401, as Traefik and Caddy pass the answer to the browser.
 *
 * Each call costs one session lookup (which also reads the user) and one groups query: the
 * proxy asks before every request, so nothing else is read, and nothing is cached, so that a
 * deactivation or a membership change counts at the next request.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../../services.ts';
import { caseKey } from '../../text.ts';
import { returnAddress, type ReturnTrust } from '../client.ts';
import { UNTRUSTED_RETURN_NOTICE } from '../console/pages/sign-in.ts';
import { FORWARDED_URL_HEADERS, repeatedHeaders } from '../input.ts';

/** The path proxies are configured with. */
export const VERIFY_PATH = '/auth/verify';
/** Where browsers sign in (the console's sign-in page). */
const SIGN_IN_PATH = '/sessions/new';
/** More `group` parameters than any proxy configuration needs; beyond is a mistake. */
const MAX_GROUPS = 100;
const MAX_GROUP_NAME = 255;

/** The headers of a 200, as the proxies are told to copy them (docs/applications.md). */
export const IDENTITY_HEADERS = ['remote-user', 'remote-user-id', 'remote-name', 'remote-email', 'remote-groups'] as const;

/**
 * A header value that survives every proxy and says exactly what Roster holds: UTF-8,
 * percent-encoded (RFC 3986 §2.1) outside printable ASCII, the `%` sign itself, leading or
 * trailing spaces (which HTTP trims, RFC 9110 §5.5) and, in group names, the comma that
 * separates them. A plain ASCII login, name or email arrives unchanged; CR and LF can never
 * end a header early. Applications decode with decodeURIComponent or its equivalent.
 */
export function headerValue(text: string, options: { readonly encodeComma?: boolean } = {}): string {
  const trimmed = /^( *)(.*?)( *)$/s.exec(text);
  const [, lead = '', middle = '', trail = ''] = trimmed ?? [];
  const encoded = Array.from(middle, (char) => {
    const code = char.codePointAt(0) ?? 0;
    if (code >= 0x20 && code <= 0x7e && char !== '%' && !(options.encodeComma === true && char === ',')) return char;
    // Byte by byte: a lone surrogate becomes U+FFFD's bytes instead of throwing.
    return Array.from(Buffer.from(char, 'utf8'), (byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  }).join('');
  return `${'%20'.repeat(lead.length)}${encoded}${'%20'.repeat(trail.length)}`;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A header's text as the proxy meant it. Node reads header bytes as Latin-1; a proxy that passes
 * a path on without percent-encoding it (`X-Original-URL: /été` from a client that sent raw
 * UTF-8) sends UTF-8 bytes, which would come back to the browser as `/Ã©té`. Bytes that are
 * valid UTF-8 are read as such; anything else stays as Node read it.
 */
function headerText(value: string): string {
  if (!/[\u0080-\u00ff]/.test(value) || /[^\u0000-\u00ff]/.test(value)) return value;
  try {
    return utf8.decode(Buffer.from(value, 'latin1'));
  } catch {
    return value;
  }
}

/** The original URL the proxy asks about: nginx's X-Original-URL, else X-Forwarded-Proto/Host/Uri (Traefik, Caddy). */
function originalUrl(request: FastifyRequest): string | undefined {
  const header = (name: string): string | undefined => {
    const value = request.headers[name];
    const first = Array.isArray(value) ? value[0] : value;
    // A proxy chain may append: the first entry is the one the browser reached.
    return first === undefined || first === '' ? undefined : first.split(',')[0]?.trim();
  };
  const original = request.headers['x-original-url'];
  if (typeof original === 'string' && original !== '') return headerText(original);
  const host = header('x-forwarded-host');
  if (host === undefined) return undefined;
  const proto = header('x-forwarded-proto') ?? 'https';
  const uri = request.headers['x-forwarded-uri'];
  return `${proto}://${headerText(host)}${typeof uri === 'string' && uri.startsWith('/') ? headerText(uri) : '/'}`;
}

/** Why /auth/verify refused repeated headers of the original URL, and what to change in the proxy. */
function repeatedForwardedMessage(headers: readonly string[]): string {
  const named = headers.length === 1 ? `the ${headers[0]} header` : `the ${headers.slice(0, -1).join(', ')} and ${headers.at(-1)} headers`;
  return (
    `The request carries ${named} more than once; Roster cannot tell which one is the address the browser asked for, so it refuses the request. ` +
    'Configure the proxy to set the header, replacing any the client sent (nginx proxy_set_header, Traefik and Caddy do so), rather than add another.'
  );
}

type Outcome =
  | { readonly kind: 'sign-in'; readonly location: string }
  | { readonly kind: 'untrusted'; readonly url: string };

/** Where to send a signed-out browser: the sign-in page, coming back to the original URL when it may. */
function signInOutcome(request: FastifyRequest, baseUrl: string, trust: ReturnTrust): Outcome {
  const original = originalUrl(request);
  if (original === undefined) return { kind: 'sign-in', location: `${baseUrl}${SIGN_IN_PATH}` };
  const target = returnAddress(original, trust);
  if (target === undefined) return { kind: 'untrusted', url: original };
  return { kind: 'sign-in', location: `${baseUrl}${SIGN_IN_PATH}?${new URLSearchParams({ returnTo: target }).toString()}` };
}

/**
 * A URL for the log: origin and path, no query string or fragment, which may carry tokens
 * (docs/deploy.md: Roster logs no query strings), and at most 200 characters.
 */
function withoutQuery(url: string): string {
  const cut = url.search(/[?#]/);
  return (cut === -1 ? url : url.slice(0, cut)).slice(0, 200);
}

function text(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).header('content-type', 'text/plain; charset=utf-8').send(`${message}\n`);
}

/** The query parameters /auth/verify reads; any other is a mistake in the proxy's configuration. */
const PARAMETERS = new Set(['group', 'redirect']);

/** Reads `group` and `redirect`; a string when the query is unusable (the proxy's configuration is wrong). */
function readQuery(query: Record<string, string | string[] | undefined>): { groups: string[]; redirect: boolean } | string {
  // A misspelt restriction (`?Group=`, `?groups=`, `?group[]=`, or `R&D` written raw) ignored
  // would let every signed-in user in: refused, as an empty group name is.
  const unknown = Object.keys(query).find((name) => !PARAMETERS.has(name));
  if (unknown !== undefined) {
    return `Unknown query parameter ${JSON.stringify(unknown.slice(0, 100))}: /auth/verify reads group (repeatable) and redirect only. Check the proxy's configuration; a group name with & or + in it is written URL-encoded (%26, %2B).`;
  }
  const raw = query['group'];
  const groups = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  // An empty name is a restriction whose group went missing (Caddy's `group={$VAR}` with the
  // variable unset): ignoring it would let every signed-in user in.
  if (groups.some((name) => name.trim() === '')) {
    return 'A group parameter is empty: name the group whose members may pass (?group=<name>), or leave the parameter out to let every signed-in user in.';
  }
  if (groups.length > MAX_GROUPS || groups.some((name) => name.length > MAX_GROUP_NAME)) {
    return `At most ${MAX_GROUPS} group parameters of at most ${MAX_GROUP_NAME} characters each.`;
  }
  const redirect = query['redirect'];
  if (redirect !== undefined && (Array.isArray(redirect) || !['true', 'false', '1', '0'].includes(redirect))) {
    return 'The redirect parameter must be true or false.';
  }
  return { groups, redirect: redirect === 'true' || redirect === '1' };
}

/** Registers GET (and HEAD) /auth/verify. */
export function forwardAuthRoutes(app: FastifyInstance, options: { services: Services; baseUrl: string; trust: ReturnTrust }): void {
  const { services, baseUrl, trust } = options;

  app.get<{ Querystring: Record<string, string | string[] | undefined> }>(VERIFY_PATH, async (request, reply) => {
    // Every answer depends on the cookie: no cache between the proxy and Roster may keep one.
    reply.header('cache-control', 'no-store');
    const query = readQuery(request.query);
    if (typeof query === 'string') return text(reply, 400, query);
    // Two lines of a header the original URL is read from: which one the proxy meant cannot be
    // told (input.ts FORWARDED_URL_HEADERS), so neither is used, whoever is signed in.
    const repeated = repeatedHeaders(request.raw.rawHeaders, FORWARDED_URL_HEADERS);
    if (repeated.length > 0) {
      request.log.warn({ headers: repeated }, 'forward auth: a header of the original URL came more than once');
      return text(reply, 400, repeatedForwardedMessage(repeated));
    }

    const value = services.sessions.presented(request.headers.cookie);
    // find() refuses an ended session and the session of a user no longer active.
    const session = value === undefined ? undefined : await services.sessions.find(value);
    if (session === undefined) {
      const outcome = signInOutcome(request, baseUrl, trust);
      if (outcome.kind === 'untrusted') {
        request.log.warn({ url: withoutQuery(outcome.url) }, 'forward auth: the original URL is on a host Roster may not send browsers back to');
        // The address as Roster saw it: behind a proxy that ends TLS, an http:// here is the clue.
        const message = `Roster does not send browsers back to this address after sign-in: ${outcome.url.slice(0, 200)}. It must be an https URL (http only for localhost and 127.0.0.1) of at most 2048 characters, on Roster's own origin (scheme, host and port), on a host under ROSTER_COOKIE_DOMAIN or listed in ROSTER_TRUSTED_HOSTS.`;
        if (query.redirect) return text(reply, 400, message);
        // nginx turns a 401 into a redirect to its Location, and an empty one into a 302 that goes
        // nowhere: send the browser to the sign-in page, without a return address (never an open
        // redirect), where a notice says why it will not come back and what the administrator sets.
        return text(reply.header('location', `${baseUrl}${SIGN_IN_PATH}?notice=${UNTRUSTED_RETURN_NOTICE}`), 401, message);
      }
      if (query.redirect) return reply.redirect(outcome.location, 302);
      return text(reply.header('location', outcome.location), 401, 'Sign in to Roster first.');
    }

    // The one access rule: an inactive user counts in no group (services.access).
    const groups = await services.access.groupsOf(session.userId);
    if (query.groups.length > 0) {
      // Group names are unique regardless of case (text.ts caseKey), so they are matched that way.
      const wanted = new Set(query.groups.map(caseKey));
      if (!groups.some((group) => wanted.has(caseKey(group.name)))) {
        return text(reply, 403, 'Your Roster account is not in a group that may use this application. Ask your administrator for access.');
      }
    }
    return reply
      .header('remote-user', headerValue(session.login))
      .header('remote-user-id', session.userId)
      .header('remote-name', headerValue(session.name ?? ''))
      .header('remote-email', headerValue(session.email ?? ''))
      .header('remote-groups', groups.map((group) => headerValue(group.name, { encodeComma: true })).join(','))
      .code(200)
      .header('content-type', 'text/plain; charset=utf-8')
      .send('OK\n');
  });
}
