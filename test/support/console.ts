/**
 * Driving the console without a browser (inject): sessions for a user, form posts with or
 * without the CSRF token, and the token a page carries. Browser tests use test/support/browser.ts.
 */
import type { LightMyRequestResponse } from 'fastify';
import { csrfTokenFor } from '../../src/http/csrf.ts';
import { SESSION_COOKIE, type TestApp } from './app.ts';

/** A signed-in browser, as far as the server can tell: its cookie and its session's CSRF token. */
export interface ConsoleSession {
  /** `__Host-roster_session=…` (or `roster_session=…`: sessions.ts sessionCookieName), for a Cookie header. */
  readonly cookie: string;
  readonly csrf: string;
}

/** Opens a session for `userId` directly (as a sign-in would) and returns its cookie and CSRF token. */
export async function sessionFor(app: TestApp, userId: string): Promise<ConsoleSession> {
  const session = await app.services.sessions.open(userId);
  return { cookie: `${app.services.sessions.cookieName}=${session.value}`, csrf: csrfTokenFor(session.value) };
}

/** GET a console page as `session` (or signed out), accepting HTML as a browser does. */
export async function getPage(app: TestApp, url: string, session?: ConsoleSession, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return app.app.inject({ method: 'GET', url, headers: { accept: 'text/html', ...(session !== undefined ? { cookie: session.cookie } : {}), ...headers } });
}

/**
 * POSTs a urlencoded form as `session` would; `csrf: false` leaves the token out, a string
 * sends that token instead of the session's.
 */
export async function postForm(
  app: TestApp,
  url: string,
  fields: Record<string, string>,
  options: { session?: ConsoleSession; cookie?: string; csrf?: string | false; headers?: Record<string, string>; remoteAddress?: string } = {},
): Promise<LightMyRequestResponse> {
  const token = options.csrf === false ? undefined : (options.csrf ?? options.session?.csrf);
  const cookie = [options.session?.cookie, options.cookie].filter((item) => item !== undefined).join('; ');
  return app.app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie !== '' ? { cookie } : {}), ...options.headers },
    payload: new URLSearchParams({ ...fields, ...(token !== undefined ? { _csrf: token } : {}) }).toString(),
    ...(options.remoteAddress !== undefined ? { remoteAddress: options.remoteAddress } : {}),
  });
}

/** The `_csrf` value of the first form of a page. */
export function csrfOf(page: LightMyRequestResponse): string {
  const token = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1];
  if (token === undefined) throw new Error(`no CSRF field in the page:\n${page.body.slice(0, 500)}`);
  return token;
}

/** The `name=value` of a cookie set by a response, or undefined. */
export function setCookieOf(response: LightMyRequestResponse, name: string): string | undefined {
  const header = response.headers['set-cookie'];
  const all = Array.isArray(header) ? header : header === undefined ? [] : [header];
  return all.map((line) => line.split(';')[0] ?? '').find((pair) => pair.startsWith(`${name}=`));
}

/**
 * Signs in through the password form as a browser would (GET the form for its pre-session
 * cookie and token, then POST), and returns the POST's response.
 */
export async function passwordSignIn(
  app: TestApp,
  login: string,
  password: string,
  options: { returnTo?: string; remoteAddress?: string; headers?: Record<string, string>; cookie?: string } = {},
): Promise<LightMyRequestResponse> {
  const form = await getPage(app, '/sessions/new');
  const preSession = setCookieOf(form, '__Host-roster_csrf') ?? setCookieOf(form, 'roster_csrf');
  const cookie = [preSession, options.cookie].filter((item) => item !== undefined).join('; ');
  return postForm(app, '/sessions', { login, password, ...(options.returnTo !== undefined ? { returnTo: options.returnTo } : {}) }, {
    ...(cookie !== '' ? { cookie } : {}),
    csrf: csrfOf(form),
    ...(options.remoteAddress !== undefined ? { remoteAddress: options.remoteAddress } : {}),
    ...(options.headers !== undefined ? { headers: options.headers } : {}),
  });
}

/** The session of a sign-in response (its Set-Cookie), ready for later requests. */
export function sessionOf(response: LightMyRequestResponse): ConsoleSession {
  // `__Host-roster_session` under the tests' https BASE_URL, `roster_session` with a cookie domain or on http.
  // The other name comes deleted beside it (an empty value).
  const pair = [setCookieOf(response, SESSION_COOKIE), setCookieOf(response, 'roster_session')].find((line) => line !== undefined && !line.endsWith('='));
  const value = pair?.slice(pair.indexOf('=') + 1);
  if (value === undefined || value === '') throw new Error(`no session cookie in the answer (${response.statusCode}): ${response.body.slice(0, 300)}`);
  return { cookie: pair ?? '', csrf: csrfTokenFor(value) };
}
