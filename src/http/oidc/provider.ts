/**
 * Roster's OpenID provider: panva's oidc-provider (a certified implementation; Roster writes
 * none of the protocol), configured over Roster's database and users. Issuer: ROSTER_BASE_URL;
 * discovery at `/.well-known/openid-configuration`, every other endpoint under `/oidc/`.
 *
 * Nothing lives only in this process: codes, tokens, sessions and grants are rows of
 * `oidc_models`, clients are Roster's applications, and the keys are in the database. The
 * provider object is rebuilt when the stored keys change (`roster keys rotate` on any
 * instance), so every instance signs with the new key from its next request.
 *
 * The library (with Koa and jose, about 15 % of the start-up's CPU and 25 MB of memory) is
 * loaded when the first OpenID Connect request needs the provider, not at start-up: most
 * instances serve only SCIM and SAML.
 */
import { timingSafeEqual } from 'node:crypto';
import type { default as Provider, KoaContextLike } from 'oidc-provider';
import { acceptedSecretHashes, hashClientSecret } from '../../directory/applications.ts';
import { keysChangeAt, publishedKeys } from '../../auth/oidc-keys.ts';
import type { OidcAdapter } from '../../auth/oidc-adapter.ts';
import type { Services } from '../../services.ts';
import { escapeHtml } from '../console/html.ts';
import { afterLogoutPage, endRosterSessionOnLogout, logoutQuestion } from './logout.ts';
import { plainPage } from '../routes/saml/pages.ts';
import { DATABASE_DAMAGED, DATABASE_RETRY_AFTER_SECONDS, DATABASE_UNAVAILABLE } from '../errors.ts';
import { REQUEST_ID_HEADER } from '../request-log.ts';
import { isDatabaseDamaged, isDatabaseUnavailable } from '../../store/index.ts';

/** Where the provider's endpoints live (the discovery document is at the issuer's root). */
export const OIDC_PREFIX = '/oidc';
/** The client metadata holding the previous secret's hash while a rotation's overlap runs (not a registered name: Roster's own). */
const PREVIOUS_SECRET_HASH = 'roster_previous_secret_hash';
/** The interaction (sign-in) page the provider sends the browser to. */
export const INTERACTION_PATH = `${OIDC_PREFIX}/interaction`;

/** How long access tokens live when ROSTER_OIDC_ACCESS_TOKEN_TTL is not set: five minutes. */
export const DEFAULT_ACCESS_TOKEN_TTL_SECONDS = 300;
// Rebuilt at least this often, so that a retired key leaves the JWKS once its grace period ends.
const REBUILD_MS = 60 * 60 * 1000;

export interface OidcOptions {
  readonly baseUrl: string;
  readonly accessTokenTtlSeconds?: number;
  /** Told what the provider does, for the log and the metrics. */
  readonly observer?: OidcObserver;
}

/** What the provider reports of its requests. */
export interface OidcObserver {
  /** A request the provider failed (a 500, or a 503 when the database is unavailable). */
  failed(error: unknown, requestId: string | undefined): void;
  /** An application's sign-in: `success` when a code was issued, else the OAuth error code the application got. */
  authorization(outcome: string): void;
  /** A code or refresh token presented again: its sign-in's grant was revoked (and audited). */
  reused(what: { clientId: string; userId: string | null; presented: string; requestId: string | undefined }): void;
}

/** The OAuth error code of the provider's answer while Roster's database cannot be reached. */
const UNAVAILABLE = 'temporarily_unavailable';

/** The provider of the current keys, rebuilt when they change. */
export interface OidcProviderCache {
  current(): Promise<Provider>;
}

type OidcLibrary = typeof import('oidc-provider');
let library: Promise<OidcLibrary> | undefined;
/** oidc-provider, imported once per process on first use; a failed import is tried again by the next request. */
function oidcLibrary(): Promise<OidcLibrary> {
  library ??= import('oidc-provider').catch((error: unknown) => {
    library = undefined;
    throw error;
  });
  return library;
}

/**
 * Builds the provider lazily and again whenever the stored keys change, or the keys it publishes
 * do with time (a key published ahead starts signing, a retired one leaves the JWKS).
 */
export function createProviderCache(services: Services, options: OidcOptions): OidcProviderCache {
  let cached: { version: string; builtAt: number; changesAt: number; provider: Provider } | undefined;
  return {
    async current() {
      const keys = await services.oidc.loadKeys();
      const now = Date.now();
      if (cached === undefined || cached.version !== keys.version || now - cached.builtAt > REBUILD_MS || now >= cached.changesAt) {
        const oidc = await oidcLibrary();
        const provider = buildProvider(oidc, services, options, publishedKeys(keys.material, now), [...keys.material.cookieKeys]);
        cached = { version: keys.version, builtAt: now, changesAt: keysChangeAt(keys.material, now) ?? Number.POSITIVE_INFINITY, provider };
      }
      return cached.provider;
    },
  };
}

/** The Roster user signed in in the browser of this request, if any. */
async function rosterSessionUser(services: Services, cookieHeader: string | undefined): Promise<string | undefined> {
  const value = services.sessions.presented(cookieHeader);
  if (value === undefined) return undefined;
  return (await services.sessions.find(value))?.userId;
}

/** How the provider names what a reuse presented, in the error's detail (its log). */
const REUSE_LABELS: Readonly<Record<string, string>> = { AuthorizationCode: 'authorization code', RefreshToken: 'refresh token' };

/**
 * What the provider revokes when it sees a code or refresh token reused (oidc-provider
 * lib/helpers/revoke.js, for Roster's clients, which have the authorization_code and
 * refresh_token grants only): the grant's codes, access and refresh tokens, and, by its default
 * revokeGrantPolicy at the token endpoint, the grant itself; without the grant, a token the
 * other request saves after the revocation does not work either.
 */
const GRANT_MODELS = ['AccessToken', 'RefreshToken', 'AuthorizationCode'] as const;

/** The property of a reuse error (the adapter's consume) that names the token's user. */
const REUSED_BY = 'rosterReusedBy';

function buildProvider(oidc: OidcLibrary, services: Services, options: OidcOptions, jwks: Record<string, unknown>[], cookieKeys: string[]): Provider {
  const { default: Provider, errors, interactionPolicy } = oidc;
  const Base = services.oidc.Adapter;
  /** Revokes what `grantId` issued, and the grant, as the provider does on a reuse. */
  async function revokeGrant(grantId: string): Promise<void> {
    await Promise.all([...GRANT_MODELS.map((model) => new Base(model).revokeByGrantId(grantId)), new Base('Grant').destroy(grantId)]);
  }
  // Clients are Roster's applications: the provider asks its 'Client' adapter for them.
  class Adapter extends Base implements OidcAdapter {
    readonly #model: string;
    constructor(model: string) {
      super(model);
      this.#model = model;
    }
    /**
     * The provider refuses a code or refresh token it reads consumed, but two token requests
     * with the same one at the same moment (on one instance or two) both read it unconsumed;
     * the store consumes it for one of them only, and the other is refused here as the provider
     * refuses a reuse it sees: `invalid_grant`, and everything the grant issued revoked, the
     * tokens just given to the first request included (RFC 6749 §4.1.2, RFC 9700 §4.14.2).
     */
    override async consume(id: string): Promise<boolean> {
      if (await super.consume(id)) return true;
      // A pushed authorization request is used up by the authorization, with no grant yet.
      if (this.#model === 'PushedAuthorizationRequest') throw new errors.InvalidRequestUri('request_uri is invalid, expired, or was already used');
      const found = await super.find(id);
      if (typeof found?.grantId === 'string') await revokeGrant(found.grantId);
      // The user it was issued to, for the audit entry (auditReuses), when the provider has not
      // set the token as the request's entity.
      throw Object.assign(new errors.InvalidGrant(`${REUSE_LABELS[this.#model] ?? this.#model} already used`), { [REUSED_BY]: found?.accountId });
    }
    override async find(id: string) {
      if (this.#model === 'Grant') return this.#liveGrant(id);
      if (this.#model === 'AuthorizationCode') return this.#liveCode(id);
      if (this.#model !== 'Client') return super.find(id);
      const application = await services.applications.findForProvider(id);
      if (application === undefined) return undefined;
      const confidential = application.secretHash !== null;
      // After a rotation the previous secret's hash, while its overlap runs: decided here, from
      // the row just read, at every request that authenticates the client, so that it stops
      // being accepted on every instance when the overlap ends.
      const previousSecretHash = acceptedSecretHashes(application)[1];
      return {
        client_id: application.clientId,
        client_name: application.name,
        redirect_uris: [...application.redirectUris],
        post_logout_redirect_uris: [...application.redirectUris],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        // Every ID token says when the user signed in to Roster, so that an application can
        // judge how fresh the sign-in is without asking for max_age.
        require_auth_time: true,
        // The secret in the Authorization header (or, as the provider also takes it, in the
        // form body); compared by its hash (compareClientSecret below).
        token_endpoint_auth_method: confidential ? 'client_secret_basic' : 'none',
        ...(confidential ? { client_secret: application.secretHash } : {}),
        ...(previousSecretHash !== undefined ? { [PREVIOUS_SECRET_HASH]: previousSecretHash } : {}),
      };
    }
    /**
     * A grant counts only while its user may still use its application: the provider loads the
     * grant on every refresh, userinfo and introspection, so a user who left the allowed groups
     * (or was deactivated) is refused there too, not only at the next authorization.
     */
    async #liveGrant(id: string) {
      const grant = await super.find(id);
      const accountId = grant?.['accountId'];
      const clientId = grant?.['clientId'];
      if (typeof accountId !== 'string' || typeof clientId !== 'string') return grant;
      return (await services.applications.mayUse(clientId, accountId, { audit: false })).ok ? grant : undefined;
    }
    /**
     * A code counts only while its redirect URI is still registered: the provider checks the
     * client's redirect URIs at the authorization only, so a code issued just before an
     * administrator removed the URI could still be exchanged for its 60 seconds.
     */
    async #liveCode(id: string) {
      const code = await super.find(id);
      const clientId = code?.['clientId'];
      const redirectUri = code?.['redirectUri'];
      if (typeof clientId !== 'string' || typeof redirectUri !== 'string') return code;
      const application = await services.applications.findForProvider(clientId);
      return application?.redirectUris.includes(redirectUri) === true ? code : undefined;
    }
  }

  const policy = interactionPolicy.base();
  // The browser's Roster session is the sign-in: the provider's own session counts only
  // while the same user is signed in to Roster (a sign-out or a deactivation ends both).
  policy.get('login')?.checks.add(
    // login_required: what a silent request (prompt=none) must get when the user has to sign in
    // (OpenID Connect Core 3.1.2.6); without it the check answered interaction_required.
    new interactionPolicy.Check('roster_session', 'the Roster session ended or changed user', 'login_required', async (ctx: KoaContextLike) => {
      const userId = await rosterSessionUser(services, ctx.get('cookie') || undefined);
      return userId === undefined || userId !== ctx.oidc.session?.accountId;
    }),
  );

  const ttl = options.accessTokenTtlSeconds ?? DEFAULT_ACCESS_TOKEN_TTL_SECONDS;
  const provider = new Provider(options.baseUrl, {
    adapter: Adapter,
    jwks: { keys: jwks },
    cookies: { keys: cookieKeys },
    async findAccount(_ctx: unknown, sub: string) {
      // An inactive or unknown user has no account: userinfo answers 401, introspection inactive.
      const claims = await services.applications.claimsOf(sub);
      if (claims === undefined) return undefined;
      return { accountId: sub, claims: async () => ({ ...claims, groups: [...claims.groups] }) };
    },
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email'],
      groups: ['groups'],
    },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
    // The claims of the granted scopes in the ID token too, not only from userinfo.
    conformIdTokenClaims: false,
    interactions: {
      policy,
      url: (_ctx: unknown, interaction: { uid: string }) => `${INTERACTION_PATH}/${interaction.uid}`,
    },
    // OpenID Connect Back-Channel Logout 1.0 §2.1: Roster sends logout tokens itself, from a
    // durable outbox (delivery/logouts.ts), not through the provider's own feature, which sends
    // them from the request that ended the session and forgets those that fail. Its ID tokens
    // carry no `sid`, so its logout tokens carry none either: an application ends every session
    // of the `sub` (docs/applications.md).
    discovery: { claim_types_supported: ['normal'], backchannel_logout_supported: true, backchannel_logout_session_supported: false },
    // What applications may use, and what discovery advertises: a secret (Basic, or the form
    // body as the provider takes both), or none with PKCE.
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
    // Roster's own client metadata: the previous secret's hash during a rotation's overlap
    // (Adapter.find above), which compareClientSecret accepts beside the current one.
    extraClientMetadata: { properties: [PREVIOUS_SECRET_HASH] },
    // The authorization code flow only, as every application is registered (response_types
    // ['code'] above): the provider's default also advertised the implicit and hybrid flows
    // (`id_token`, `code id_token`, the `implicit` grant) that every client was refused.
    responseTypes: ['code'],
    features: {
      devInteractions: { enabled: false },
      // Sender-constrained tokens (RFC 9449) are on in oidc-provider by default; Roster's
      // introspection, revocation and deactivation are tested with bearer tokens only, so
      // discovery does not offer what nothing here checks.
      dPoP: { enabled: false },
      introspection: {
        enabled: true,
        // An application learns about its own tokens only (RFC 7662 §4): another application's
        // token answers {"active": false}, as an unknown one does. The provider's default lets
        // any application with a secret read who holds any token, with its scopes.
        allowedPolicy: async (_ctx: unknown, client: { clientId: string }, token: { clientId?: string }) => token.clientId === client.clientId,
      },
      revocation: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        // The provider's own page loads web fonts; this one loads nothing.
        async logoutSource(ctx: { body: string; type: string }, form: string) {
          ctx.type = 'html';
          ctx.body = logoutQuestion(form);
        },
        postLogoutSuccessSource: afterLogoutPage(services.sessions),
      },
      userinfo: { enabled: true },
    },
    // Registered applications are trusted: no consent screen. Every authorization asks here,
    // so the application's group restriction is checked on each one (also with a provider
    // session and an existing grant).
    async loadExistingGrant(ctx: KoaContextLike & { oidc: { provider: Provider; session: { accountId?: string; grantIdFor(clientId: string): string | undefined } } }) {
      const clientId = ctx.oidc.client?.clientId;
      const accountId = ctx.oidc.session.accountId;
      if (clientId === undefined || accountId === undefined) return undefined;
      const decision = await services.applications.mayUse(clientId, accountId);
      if (!decision.ok) throw new errors.AccessDenied(decision.reason);
      const grantId = (ctx.oidc.result?.consent as { grantId?: string } | undefined)?.grantId ?? ctx.oidc.session.grantIdFor(clientId);
      const existing = grantId === undefined ? undefined : await ctx.oidc.provider.Grant.find(grantId);
      const grant = existing ?? new ctx.oidc.provider.Grant({ accountId, clientId });
      const scope = typeof ctx.oidc.params?.scope === 'string' ? ctx.oidc.params.scope : 'openid';
      grant.addOIDCScope(scope);
      await grant.save();
      return grant;
    },
    pkce: {
      // Public clients must use PKCE (S256, the only method oidc-provider v9 accepts); confidential ones may.
      required: (_ctx: unknown, client: { clientAuthMethod: string }) => client.clientAuthMethod === 'none',
    },
    async renderError(ctx: { body: string; type: string }, out: { error?: string; error_description?: string }) {
      ctx.type = 'html';
      ctx.body = plainPage('Sign-in failed', `<p>${escapeHtml(out.error_description ?? out.error ?? 'The request could not be completed.')}</p><p>Go back to the application and try again.</p>`);
    },
    rotateRefreshToken: true,
    ttl: {
      AccessToken: ttl,
      AuthorizationCode: 60,
      IdToken: 3600,
      // A sign-in to finish within 15 minutes, as a SAML request (saml-requests.ts): each one
      // started is a stored row until then, and anyone may start them.
      Interaction: 15 * 60,
      Grant: 14 * 24 * 3600,
      Session: 14 * 24 * 3600,
      RefreshToken: 14 * 24 * 3600,
    },
    routes: {
      authorization: `${OIDC_PREFIX}/auth`,
      backchannel_authentication: `${OIDC_PREFIX}/backchannel`,
      code_verification: `${OIDC_PREFIX}/device`,
      challenge: `${OIDC_PREFIX}/challenge`,
      device_authorization: `${OIDC_PREFIX}/device/auth`,
      end_session: `${OIDC_PREFIX}/session/end`,
      introspection: `${OIDC_PREFIX}/token/introspection`,
      jwks: `${OIDC_PREFIX}/jwks`,
      pushed_authorization_request: `${OIDC_PREFIX}/request`,
      registration: `${OIDC_PREFIX}/reg`,
      revocation: `${OIDC_PREFIX}/token/revocation`,
      token: `${OIDC_PREFIX}/token`,
      userinfo: `${OIDC_PREFIX}/me`,
      credential: `${OIDC_PREFIX}/credential`,
    },
  });
  // Outermost, so that it sees the status the answer leaves with (503 for a database outage).
  cachePublicDocuments(provider);
  reportOutcomes(provider, options.observer);
  auditReuses(provider, services, options.observer);
  endRosterSessionOnLogout(provider, services.sessions, services.oidc.queueLogouts, (error, requestId) => options.observer?.failed(error, requestId));
  // Only the secret's SHA-256 is stored (directory/applications.ts), and the provider holds it
  // as the client's secret: every presented secret is hashed before the comparison, wherever
  // the client put it (Basic header or form body, which the provider treats alike, at every
  // endpoint that authenticates clients), so the stored hash itself is no credential. During a
  // rotation's overlap the previous secret's hash is accepted too; both are compared, in
  // constant time, whichever matches.
  provider.Client.prototype.compareClientSecret = function compareClientSecret(this: { clientSecret?: string; [PREVIOUS_SECRET_HASH]?: unknown }, actual: unknown): boolean {
    if (typeof actual !== 'string' || typeof this.clientSecret !== 'string') return false;
    const presented = Buffer.from(hashClientSecret(actual));
    const previous = this[PREVIOUS_SECRET_HASH];
    const accepted = typeof previous === 'string' ? [this.clientSecret, previous] : [this.clientSecret];
    let matches = false;
    for (const hash of accepted) {
      const stored = Buffer.from(hash);
      if (presented.length === stored.length && timingSafeEqual(presented, stored)) matches = true;
    }
    return matches;
  };
  // The route sets the forwarded protocol and host from ROSTER_BASE_URL (never the client's).
  provider.proxy = true;
  return provider;
}

/**
 * How long relying parties and caches between them may keep the discovery document and the
 * JWKS, which oidc-provider answers without Cache-Control (so caches guessed: a CDN keeps such an
 * answer for its default, up to a day). Discovery changes only with Roster's configuration and
 * version, never with the keys (its jwks_uri is fixed): five minutes. The JWKS changes with
 * `roster keys rotate`, whose new key is published PUBLISH_AHEAD_MS (10 minutes) before it signs,
 * far longer than this minute, so no cached copy lacks it by then; with `--now` it signs from the
 * next request, and one minute bounds how long a cache in between may serve a copy without it. A
 * retired key stays published for KEY_GRACE_MS (7 days), far longer than any cached copy, so
 * tokens it signed keep verifying.
 */
export const DISCOVERY_CACHE_CONTROL = 'public, max-age=300';
export const JWKS_CACHE_CONTROL = 'public, max-age=60';

/** Gives the provider's successful discovery and JWKS answers their Cache-Control; its errors keep none. */
function cachePublicDocuments(provider: Provider): void {
  type Context = { status: number; method: string; oidc?: { route?: string }; set(name: string, value: string): void };
  const policies: ReadonlyMap<string, string> = new Map([
    ['discovery', DISCOVERY_CACHE_CONTROL],
    ['jwks', JWKS_CACHE_CONTROL],
  ]);
  provider.use(async (ctx: Context, next: () => Promise<void>) => {
    await next();
    const policy = policies.get(ctx.oidc?.route ?? '');
    if (policy !== undefined && ctx.status === 200) ctx.set('cache-control', policy);
  });
}

/**
 * Makes a code or refresh token presented again visible: the application only gets
 * `invalid_grant` ("… already used"), the same as for a user deactivated or moved out of its
 * groups, while the user's sign-in to it has just been revoked whole (a stolen token, or an
 * application that refreshes twice at once). An `application.token_reused` audit entry and a
 * `warn` line say which application, which user and what was presented, whichever detected it:
 * the provider (one after the other) or the adapter's consume (two at the same moment).
 */
function auditReuses(provider: Provider, services: Services, observer: OidcObserver | undefined): void {
  type Context = {
    res: { getHeader(name: string): unknown };
    oidc?: { client?: { clientId: string }; entities?: Record<string, { accountId?: unknown } | undefined> };
  };
  // The answer says only "grant request is invalid"; what was wrong is in the error's detail,
  // seen by the grant.error event while the answer is made.
  const reuses = new WeakMap<object, { clientId: string; userId: string | null; presented: string }>();
  provider.on('grant.error', (...args: unknown[]) => {
    const [ctx, error] = args as [Context, { error?: unknown; error_detail?: unknown; [REUSED_BY]?: unknown } | undefined];
    const detail = typeof error?.error_detail === 'string' ? error.error_detail : '';
    const presented = /^(refresh token|authorization code) already (?:used|consumed)$/.exec(detail)?.[1];
    const clientId = ctx.oidc?.client?.clientId;
    if (error?.error !== 'invalid_grant' || presented === undefined || clientId === undefined) return;
    const entities = ctx.oidc?.entities ?? {};
    const accountId = error[REUSED_BY] ?? (presented === 'refresh token' ? entities.RefreshToken : entities.AuthorizationCode)?.accountId;
    reuses.set(ctx, { clientId, userId: typeof accountId === 'string' ? accountId : null, presented });
  });
  // After the answer is made and before it is sent: the entry is written by the time the
  // application hears of the revocation.
  provider.use(async (ctx: Context, next: () => Promise<void>) => {
    await next();
    const reuse = reuses.get(ctx);
    if (reuse === undefined) return;
    const header = ctx.res.getHeader(REQUEST_ID_HEADER);
    const requestId = typeof header === 'string' ? header : undefined;
    observer?.reused({ ...reuse, requestId });
    try {
      await services.applications.recordReuse(reuse.clientId, reuse.userId, reuse.presented);
    } catch (failure) {
      // The answer stands (the grant is revoked either way); the missing entry is logged.
      observer?.failed(failure, requestId);
    }
  });
}

/**
 * Reports the provider's failures and applications' sign-ins, and answers a request the
 * database failed as unavailable (503, Retry-After, the error code `temporarily_unavailable`;
 * a page for a browser) rather than with the provider's generic 500 `server_error`, as every
 * other part of Roster answers a database outage.
 */
function reportOutcomes(provider: Provider, observer: OidcObserver | undefined): void {
  // Why the database failed a request, when it did: unreachable for now, or damaged.
  const unavailable = new WeakMap<object, 'unreachable' | 'damaged'>();
  type Context = { status: number; body: unknown; type: string; set(name: string, value: string): void; res: { getHeader(name: string): unknown } };
  provider.on('server_error', (...args: unknown[]) => {
    const [ctx, error] = args as [Context, unknown];
    if (isDatabaseUnavailable(error)) unavailable.set(ctx, 'unreachable');
    else if (isDatabaseDamaged(error)) unavailable.set(ctx, 'damaged');
    const requestId = ctx.res.getHeader(REQUEST_ID_HEADER);
    observer?.failed(error, typeof requestId === 'string' ? requestId : undefined);
  });
  provider.on('authorization.success', () => observer?.authorization('success'));
  provider.on('authorization.error', (...args: unknown[]) => {
    const error = args[1] as { error?: unknown } | undefined;
    observer?.authorization(typeof error?.error === 'string' ? error.error : 'error');
  });
  provider.use(async (ctx: Context, next: () => Promise<void>) => {
    await next();
    const cause = unavailable.get(ctx);
    if (cause === undefined) return;
    ctx.status = 503;
    if (cause === 'unreachable') ctx.set('Retry-After', String(DATABASE_RETRY_AFTER_SECONDS));
    if (typeof ctx.body === 'string') {
      ctx.type = 'html';
      ctx.body = cause === 'unreachable'
        ? plainPage('Temporarily unavailable', `<p>Roster cannot reach its database right now. Wait ${DATABASE_RETRY_AFTER_SECONDS} seconds and try again.</p>`)
        : plainPage('Unavailable', '<p>Roster\'s database is damaged, so sign-in cannot proceed. Tell your administrator.</p>');
    } else {
      ctx.body = { error: UNAVAILABLE, error_description: cause === 'unreachable' ? DATABASE_UNAVAILABLE : DATABASE_DAMAGED };
    }
  });
}
