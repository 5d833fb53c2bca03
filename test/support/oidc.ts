/**
 * Driving Roster's OpenID provider as a relying party does, without a network: openid-client
 * (a real, certified relying-party library) whose fetch goes through Fastify's inject(), and a
 * small browser that follows redirects on Roster with a cookie jar until it is sent back to
 * the application's redirect URI.
 */
import type { FastifyInstance } from 'fastify';
import * as client from 'openid-client';
import { BASE_URL, type TestApp } from './app.ts';

/** A fetch over `app.inject()`: what openid-client sends to Roster never leaves the process. */
export function injectFetch(app: FastifyInstance): (url: string, init: { method: string; headers: Headers | Record<string, string>; body?: unknown }) => Promise<Response> {
  return async (input, init) => {
    const url = new URL(input);
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, key) => {
      headers[key] = value;
    });
    const body = init.body === undefined || init.body === null ? undefined : String(init.body);
    const response = await app.inject({
      method: init.method as 'GET',
      url: `${url.pathname}${url.search}`,
      headers,
      ...(body !== undefined ? { payload: body } : {}),
    });
    const out = new Headers();
    for (const [key, value] of Object.entries(response.headers)) {
      if (value === undefined) continue;
      for (const one of Array.isArray(value) ? value : [String(value)]) out.append(key, one);
    }
    return new Response(response.statusCode === 204 || response.statusCode === 304 ? null : response.rawPayload, { status: response.statusCode, headers: out });
  };
}

/** openid-client's configuration for an application registered in `app`, discovered through inject. */
export async function relyingParty(app: TestApp, clientId: string, secret: string | undefined): Promise<client.Configuration> {
  const fetchImpl = injectFetch(app.app);
  const auth = secret === undefined ? client.None() : client.ClientSecretBasic(secret);
  return client.discovery(new URL(BASE_URL), clientId, undefined, auth, { [client.customFetch]: fetchImpl, execute: [] });
}

/** A browser's cookie jar for one host (name → value). */
export class CookieJar {
  readonly #cookies = new Map<string, string>();

  /** The Cookie header to send. */
  header(): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  /** Adds `name=value` pairs, e.g. a Roster session cookie. */
  add(pair: string): void {
    const index = pair.indexOf('=');
    this.#cookies.set(pair.slice(0, index), pair.slice(index + 1));
  }

  /** Stores the Set-Cookie headers of a response (expired ones removed). */
  store(setCookie: string | string[] | undefined): void {
    for (const line of Array.isArray(setCookie) ? setCookie : setCookie === undefined ? [] : [setCookie]) {
      const pair = line.split(';')[0] ?? '';
      const index = pair.indexOf('=');
      const name = pair.slice(0, index);
      if (/max-age=0|expires=thu, 01 jan 1970/i.test(line) || pair.slice(index + 1) === '') this.#cookies.delete(name);
      else this.#cookies.set(name, pair.slice(index + 1));
    }
  }
}

/** Where a browser ended after following Roster's redirects from `url`. */
export interface BrowserLanding {
  /** The last location: the application's redirect URI, or a Roster page. */
  readonly url: URL;
  readonly status: number;
  readonly body: string;
}

/**
 * Follows redirects from `start` on Roster (any absolute URL on another origin ends the walk,
 * like the application's redirect URI), with `jar`'s cookies.
 */
export async function follow(app: TestApp, start: URL | string, jar: CookieJar, maxHops = 12): Promise<BrowserLanding> {
  let url = new URL(start.toString(), BASE_URL);
  for (let hop = 0; hop < maxHops; hop += 1) {
    if (url.origin !== new URL(BASE_URL).origin) return { url, status: 0, body: '' };
    const response = await app.app.inject({ method: 'GET', url: `${url.pathname}${url.search}`, headers: { cookie: jar.header(), accept: 'text/html' } });
    jar.store(response.headers['set-cookie']);
    // Roster's interaction page moves on with a meta refresh (see http/oidc/routes.ts).
    const refresh = response.statusCode === 200 ? /<meta http-equiv="refresh" content="0;url=([^"]+)">/.exec(response.body)?.[1] : undefined;
    if (refresh !== undefined) {
      url = new URL(refresh.replace(/&amp;/g, '&'), url);
      continue;
    }
    const location = response.headers.location;
    if (response.statusCode < 300 || response.statusCode >= 400 || typeof location !== 'string') return { url, status: response.statusCode, body: response.body };
    url = new URL(location, url);
  }
  throw new Error(`more than ${maxHops} redirects from ${start.toString()}`);
}

/**
 * Runs the whole authorization code flow with PKCE for `jar`'s browser (already signed in to
 * Roster) and returns the application's tokens.
 */
export async function tokensThroughBrowser(app: TestApp, config: client.Configuration, jar: CookieJar, redirectUri: string, scope: string): Promise<client.TokenEndpointResponse & client.TokenEndpointResponseHelpers> {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, { redirect_uri: redirectUri, scope, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state });
  const landing = await follow(app, url, jar);
  return client.authorizationCodeGrant(config, landing.url, { pkceCodeVerifier: verifier, expectedState: state });
}
