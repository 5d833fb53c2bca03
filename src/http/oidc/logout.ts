/**
 * RP-initiated logout (`/oidc/session/end`) and Roster's own session.
 *
 * The provider asks "sign out?" only when it holds a session of its own for the browser; when
 * it holds none (the browser never signed in to an application, or that session ended) it
 * skips the question and posts `logout=yes` itself. Roster's session is a different thing, so
 * that shortcut would let any page on the internet sign a Roster user out with one link. When
 * the browser holds a Roster session, the question is asked whatever the provider holds; once
 * the user says yes, the Roster session ends (audited as a sign-out), or the next authorization
 * would find it and sign the browser straight back in.
 *
 * A confirmed sign-out also queues a back-channel logout (delivery/logouts.ts) for each
 * application the provider's session of that browser had signed in to, before the browser is
 * sent on: the provider ended its session, and those applications may hold one of their own.
 */
import type { default as Provider } from 'oidc-provider';
import type { Sessions } from '../../auth/sessions.ts';
import { escapeHtml } from '../console/html.ts';
import { DATABASE_RETRY_AFTER_SECONDS } from '../errors.ts';
import { REQUEST_ID_HEADER } from '../request-log.ts';
import { plainPage } from '../routes/saml/pages.ts';

/**
 * The provider's sign-out question around its form (which carries the request's xsrf value).
 * It opens with "No" focused, as the console's confirmations open with Cancel: Enter never
 * signs out by accident.
 */
export function logoutQuestion(form: string): string {
  return plainPage(
    'Sign out',
    `${form}<p>Sign out of Roster and the applications you signed in to through it?</p>
<p>Applications you allowed to stay connected while you are away (offline access) keep that access; <strong>Sign out everywhere</strong> on your account page ends it too.</p>
<p><button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button autofocus type="submit" form="op.logoutForm">No, stay signed in</button></p>`,
  );
}

/**
 * The page after the sign-out question (the provider's own loads web fonts and says "Your
 * sign-out was successful" even to someone who answered no). The cookie says which answer it
 * was: a yes cleared it.
 */
export function afterLogoutPage(sessions: Sessions): (ctx: { body: string; type: string; get(name: string): string; oidc: { client?: { clientName?: string; clientId: string } } }) => void {
  return (ctx) => {
    const stillIn = sessions.presented(ctx.get('cookie') || undefined) !== undefined;
    const application = ctx.oidc.client === undefined ? undefined : (ctx.oidc.client.clientName ?? ctx.oidc.client.clientId);
    const left = application === undefined ? '' : `<p>You signed out of ${escapeHtml(application)}.</p>`;
    ctx.type = 'html';
    ctx.body = stillIn
      ? plainPage('Still signed in', `${left}<p>You are still signed in to Roster.</p><p><a href="/">Go to Roster</a></p>`)
      : plainPage('Signed out', `<p>You are signed out of Roster and of the applications you signed in to through it, except those you allowed to stay connected (offline access).</p><p><a href="/">Sign in again</a></p>`);
  };
}

/** The part of the provider's request context this module reads and writes. */
interface LogoutContext {
  status: number;
  body: unknown;
  type: string;
  get(name: string): string;
  set(name: string, value: string): void;
  remove(name: string): void;
  append(name: string, value: string | string[]): void;
  res: { getHeader(name: string): unknown };
  oidc?: {
    route?: string;
    params?: Record<string, unknown>;
    session?: { accountId?: string; state?: { secret?: unknown }; authorizations?: Record<string, unknown> };
    urlFor(name: string): string;
  };
}

/** Wires the provider's logout to Roster's sessions (see the module comment). */
export function endRosterSessionOnLogout(
  provider: Provider,
  sessions: Sessions,
  queueLogouts: (userId: string, clientIds: readonly string[]) => Promise<unknown>,
  failed: (error: unknown, requestId: string | undefined) => void,
): void {
  // A confirmed logout, with the account of the provider session it ended (if it had one) and
  // the applications that session had signed in to.
  const confirmed = new WeakMap<object, { readonly accountId: string | undefined; readonly clientIds: readonly string[] }>();
  provider.on('end_session.success', (...args: unknown[]) => {
    const ctx = args[0] as LogoutContext;
    if (ctx.oidc?.params?.['logout']) confirmed.set(ctx, { accountId: ctx.oidc.session?.accountId, clientIds: Object.keys(ctx.oidc.session?.authorizations ?? {}) });
  });
  /** The page of a sign-out that could not be completed: the user tries again. */
  const notSignedOut = (ctx: LogoutContext, error: unknown): void => {
    const requestId = ctx.res.getHeader(REQUEST_ID_HEADER);
    failed(error, typeof requestId === 'string' ? requestId : undefined);
    ctx.remove('Location');
    ctx.status = 503;
    ctx.set('Retry-After', String(DATABASE_RETRY_AFTER_SECONDS));
    ctx.type = 'html';
    ctx.body = plainPage('Not signed out', '<p>Roster could not end your session just now. Go back and sign out again in a moment.</p>');
  };
  provider.use(async (ctx: LogoutContext, next: () => Promise<void>) => {
    await next();
    const ended = confirmed.get(ctx);
    // The applications of the provider session just ended are told, whether or not the browser
    // still holds a Roster session (it may have expired before the provider's did).
    if (ended?.accountId !== undefined && ended.clientIds.length > 0) {
      try {
        await queueLogouts(ended.accountId, ended.clientIds);
      } catch (error) {
        notSignedOut(ctx, error);
        return;
      }
    }
    const value = sessions.presented(ctx.get('cookie') || undefined);
    if (value === undefined) return;
    if (ended !== undefined) {
      // The provider also posts `logout=yes` itself when the browser's Roster session now belongs
      // to another user than its own session (someone else signed in on this browser): it ends
      // the previous user's provider session, and that must not sign the new user out of Roster.
      // Awaited before the redirect reaches the browser, so the application it lands on
      // cannot find the session still open. If it fails the user must not be sent on as
      // signed out: the provider's session is gone, Roster's is not, and trying again ends it.
      try {
        if (ended.accountId !== undefined && (await sessions.find(value))?.userId !== ended.accountId) return;
        await sessions.signOut(value);
      } catch (error) {
        notSignedOut(ctx, error);
        return;
      }
      ctx.append('Set-Cookie', sessions.clearCookie());
      return;
    }
    const oidc = ctx.oidc;
    const secret = oidc?.session?.state?.secret;
    if (oidc?.route !== 'end_session' || ctx.status !== 200 || oidc.session?.accountId !== undefined || typeof secret !== 'string') return;
    // The provider chose to post `logout=yes` unasked; ask instead, with its own form.
    ctx.type = 'html';
    ctx.body = logoutQuestion(`<form id="op.logoutForm" method="post" action="${oidc.urlFor('end_session_confirm')}"><input type="hidden" name="xsrf" value="${escapeHtml(secret)}"/></form>`);
  });
}
