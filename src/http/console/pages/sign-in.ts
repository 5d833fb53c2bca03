/**
 * The sign-in page (`GET /sessions/new`), password sign-in (`POST /sessions`) and sign-out
 * (`POST /sessions/sign-out`). The page offers "Sign in with <provider>" when SAML is
 * configured, which starts /saml/login with the same return path, and a login/password form
 * for local accounts. Both open the same server-side session (services.sessions).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SamlConfig } from '../../../auth/saml-config.ts';
import { auditSource, localPath, returnAddress, sessionOrigin, type ReturnTrust } from '../../client.ts';
import { CSRF_FIELD, csrfTokenFor } from '../../csrf.ts';
import { banner, formValue, hrefWith, NOTICE_ID, noticeBanner, noticeOf, queryValue, submitButton, textField, type ErrorSummary, type Query } from '../components.ts';
import type { ConsoleContext } from '../context.ts';
import { html, type SafeHtml } from '../html.ts';
import { sendPage } from '../layout.ts';
import { viewerOf } from '../viewer.ts';
import { sendHtml } from '../../routes/saml/common.ts';
import { continuePage } from '../../routes/saml/pages.ts';
import { CHANGED_WHILE_SIGNING_IN } from '../../../auth/sessions.ts';
import { ACCOUNT_LIMITS } from '../../../directory/accounts.ts';

/** Where signed-out visitors are sent. */
export const SIGN_IN_PATH = '/sessions/new';

/** The longest login and password the form accepts: the longest an account may have. */
const MAX_LOGIN = ACCOUNT_LIMITS.login.max;
const MAX_PASSWORD = ACCOUNT_LIMITS.password.max;

/** The notice forward auth sends a signed-out browser with when the application's address is not trusted. */
export const UNTRUSTED_RETURN_NOTICE = 'untrusted-return';

/** The messages a redirect to the sign-in page may show (`?notice=`). */
const NOTICES = {
  'signed-out': { tone: 'success', text: 'You are signed out.' },
  'signed-out-everywhere': { tone: 'success', text: 'You are signed out everywhere: every session of your account has ended.' },
  'session-ended': { tone: 'info', text: 'Your session has ended. Sign in again to continue.' },
  'form-not-sent': { tone: 'warning', text: 'Your session ended before the form was sent, so nothing was changed. Sign in again: you go back to the page, where you can send it again.' },
  [UNTRUSTED_RETURN_NOTICE]: {
    tone: 'warning',
    text: 'After you sign in, Roster cannot send you back to the application you came from: its address is not one Roster may return browsers to. Administrators: list its host in ROSTER_TRUSTED_HOSTS or serve it under ROSTER_COOKIE_DOMAIN (an application on Roster\'s host but on another port is another address, and needs this too).',
  },
} as const;

/**
 * Where to go after signing in: `raw` when it is a path on this server or an address on a
 * trusted host (checked as /saml/login checks it: client.ts returnAddress), but never back to
 * the sign-in pages themselves, which would send a signed-in browser round in circles;
 * undefined means `/`. Without `trust`, local paths only.
 */
function returnPath(raw: string | undefined, trust?: ReturnTrust): string | undefined {
  const path = raw === undefined || raw === '' ? undefined : trust === undefined ? localPath(raw) : returnAddress(raw, trust);
  return path === undefined || path === '/' || /^\/sessions(?:[/?#]|$)/.test(path) ? undefined : path;
}

/** The query parameter that asks a signed-in browser to sign in again (an application's prompt=login or max_age). */
const REAUTHENTICATE = 'reauthenticate';

/**
 * The sign-in page's URL that comes back to `path` (a path on this server) afterwards;
 * `reauthenticate` shows the page to a signed-in browser too, and asks the IdP for a new
 * sign-in rather than its single sign-on (SAML ForceAuthn).
 */
export function signInUrl(returnTo?: string, options: { readonly reauthenticate?: boolean; readonly notice?: keyof typeof NOTICES } = {}): string {
  const path = returnPath(returnTo);
  return hrefWith(SIGN_IN_PATH, {}, { returnTo: path, [REAUTHENTICATE]: options.reauthenticate === true ? '1' : undefined, notice: options.notice });
}

interface FormState {
  readonly status: number;
  readonly returnTo: string | undefined;
  readonly reauthenticate: boolean;
  readonly login?: string;
  /** Why the sign-in was refused, and the field to correct when there is one (it takes the focus, described by the message). */
  readonly error?: { readonly message: string; readonly field?: 'login' | 'password' };
}

/** The labels of the password form's fields (the error summary names the field it links to). */
const FIELD_LABELS = { login: 'Login', password: 'Password' } as const;

/** Registers the sign-in and sign-out routes. */
export function signInPages(app: FastifyInstance, context: ConsoleContext): void {
  const { services, preSession, knownBrowser, trust } = context;

  async function renderForm(request: FastifyRequest, reply: FastifyReply, state: FormState): Promise<FastifyReply> {
    const saml = await services.saml.get();
    const { secret, setCookie } = preSession.issue(request.headers.cookie);
    reply.header('set-cookie', setCookie);
    const error = state.error;
    // The field to correct takes the focus (the password, to type again), not the summary.
    const errors: ErrorSummary | undefined =
      error === undefined
        ? undefined
        : error.field === undefined
          ? { title: 'You are not signed in', problems: [{ message: error.message }] }
          : { title: 'You are not signed in', problems: [{ message: error.message, field: { id: `field-${error.field}`, label: FIELD_LABELS[error.field] } }], fieldTakesFocus: true };
    return sendPage(request, reply, { title: 'Sign in', narrow: true, status: state.status, heading: html`<h1>Sign in to Roster</h1>`, body: signInBody(request, saml, state, csrfTokenFor(secret)), ...(errors !== undefined ? { errors } : {}) });
  }

  app.get<{ Querystring: Query }>(SIGN_IN_PATH, { config: { access: 'anonymous' } }, async (request, reply) => {
    const returnTo = returnPath(queryValue(request.query, 'returnTo'), trust);
    const reauthenticate = queryValue(request.query, REAUTHENTICATE) === '1';
    if (request.viewer !== null && !reauthenticate) return reply.redirect(returnTo ?? '/', 302);
    // Signing in again is most often the same person: their login is filled in (they may change it).
    const signedIn = reauthenticate && request.viewer !== null ? { login: request.viewer.user.login } : {};
    return renderForm(request, reply, { status: 200, returnTo, reauthenticate, ...signedIn });
  });

  app.post('/sessions', { config: { access: 'anonymous' } }, async (request, reply) => {
    const returnTo = returnPath(formValue(request, 'returnTo'), trust);
    const reauthenticate = formValue(request, REAUTHENTICATE) === '1';
    const login = (formValue(request, 'login') ?? '').trim();
    const password = formValue(request, 'password') ?? '';
    if (login === '' || password === '') {
      return renderForm(request, reply, { status: 400, returnTo, reauthenticate, login, error: { message: 'Enter your login and your password.', field: login === '' ? 'login' : 'password' } });
    }
    if (login.length > MAX_LOGIN || password.length > MAX_PASSWORD) {
      return renderForm(request, reply, { status: 400, returnTo, reauthenticate, error: { message: 'The login or the password is longer than Roster accepts.' } });
    }
    const result = await services.passwordSignIn.signIn({ login, password, source: auditSource(request.ip), browser: knownBrowser.presented(request.headers.cookie) });
    request.server.metrics.signIn('password', result.ok ? 'success' : result.reason);
    if (!result.ok) {
      if (result.reason === 'throttled') reply.header('retry-after', String(result.retryAfterSeconds));
      const status = result.reason === 'throttled' ? 429 : 403;
      // The password is typed again (whatever the reason: the page must not tell an unknown login
      // from a provisioned one); waiting out the throttle is about no field.
      const field = result.reason === 'throttled' ? {} : { field: 'password' as const };
      return renderForm(request, reply, { status, returnTo, reauthenticate, login, error: { message: result.message, ...field } });
    }
    // The browser's earlier session is given up rather than left open: audited as its holder's
    // sign-out when someone else signs in on this browser.
    if (request.viewer !== null) await services.sessions.replaced(services.sessions.idOf(request.viewer.sessionValue), result.user.id);
    const session = await services.sessions.openIfActive(result.user.id, sessionOrigin(request), undefined, result.password);
    if (session === undefined) return renderForm(request, reply, { status: 403, returnTo, reauthenticate, login, error: { message: CHANGED_WHILE_SIGNING_IN } });
    reply.header('set-cookie', [...services.sessions.cookie(session.value, session.expiresAt), knownBrowser.set(result.browser.value, result.browser.expiresAt)]);
    // An application's address (forward auth): a redirect there would be stopped by this form's
    // `form-action 'self'` (continuePage); a path of Roster's is redirected to.
    if (returnTo !== undefined && !returnTo.startsWith('/')) return sendHtml(reply, 200, continuePage(returnTo));
    return reply.redirect(returnTo ?? '/', 303);
  });

  app.post('/sessions/sign-out', { config: { access: 'signed-in' } }, async (request, reply) => {
    const viewer = viewerOf(request);
    // With the cookies: the applications this browser signed in to are sent a back-channel logout.
    await services.sessions.signOut(viewer.sessionValue, request.headers.cookie);
    return reply.header('set-cookie', services.sessions.clearCookie()).redirect(`${SIGN_IN_PATH}?notice=signed-out`, 303);
  });
}

function signInBody(request: FastifyRequest, saml: SamlConfig | undefined, state: FormState, csrfToken: string): SafeHtml {
  const samlHref = hrefWith('/saml/login', {}, { returnTo: state.returnTo === '/' ? undefined : state.returnTo, [REAUTHENTICATE]: state.reauthenticate ? '1' : undefined });
  const sso =
    saml === undefined
      ? html``
      : html`<section class="sign-in-sso" aria-labelledby="sso-title">
<h2 id="sso-title" class="visually-hidden">Single sign-on</h2>
<a class="button primary wide" href="${samlHref}">Sign in with ${saml.providerName}</a>
</section>`;
  const passwordTitle = saml === undefined ? 'Local account' : 'Or with a local account';
  const hint =
    saml === undefined
      ? html`Single sign-on is not configured yet. Sign in with a local account, such as <code>admin</code>.`
      : html`Only for local Roster accounts, such as <code>admin</code>. Everyone else: use the button above.`;
  const fieldError = (field: 'login' | 'password'): { error?: string } => (state.error?.field === field ? { error: state.error.message } : {});
  const again = state.reauthenticate && banner({ tone: 'info', body: html`The application you came from asks you to sign in again before it goes on.` });
  // The login field keeps the focus (autofocus below), the password when the login is filled in.
  // A status already there when the page loads is not announced: the notice ("Your session
  // ended before the form was sent …") describes the focused field, to be said with it.
  const loginFocused = state.login === undefined || state.login === '';
  const notice = noticeOf(request, NOTICES) === undefined ? {} : { describedBy: NOTICE_ID };
  return html`${noticeBanner(request, NOTICES, { takesFocus: false })}
${again}
${sso}
<section class="sign-in-password" aria-labelledby="password-title">
<h2 id="password-title">${passwordTitle}</h2>
<p class="hint" id="password-hint">${hint}</p>
<form method="post" action="/sessions" aria-describedby="password-hint">
<input type="hidden" name="${CSRF_FIELD}" value="${csrfToken}">
${state.returnTo !== undefined && html`<input type="hidden" name="returnTo" value="${state.returnTo}">`}
${state.reauthenticate && html`<input type="hidden" name="${REAUTHENTICATE}" value="1">`}
${textField({ name: 'login', label: FIELD_LABELS.login, value: state.login ?? '', autocomplete: 'username', required: true, maxLength: MAX_LOGIN, spellcheck: false, autofocus: loginFocused, ...(loginFocused ? notice : {}), ...fieldError('login') })}
${textField({ name: 'password', label: FIELD_LABELS.password, type: 'password', autocomplete: 'current-password', required: true, maxLength: MAX_PASSWORD, autofocus: !loginFocused, ...(loginFocused ? {} : notice), ...fieldError('password') })}
${submitButton('Sign in', { tone: 'primary' })}
</form>
</section>`;
}
