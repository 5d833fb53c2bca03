/**
 * "My account" (`GET /account`), for everyone signed in: who Roster knows you as, the groups
 * that count for your access, your live sessions, signing out here or everywhere, and (local
 * accounts) changing one's password.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ACCOUNT_LIMITS } from '../../../directory/accounts.ts';
import { newPasswordProblem } from '../../../directory/password-sign-in.ts';
import { auditSource } from '../../client.ts';
import { actionButton, badge, banner, confirmDialog, facts, formValue, noticeBanner, postForm, submitButton, textField, timeTag, type ErrorSummary } from '../components.ts';
import type { ConsoleContext } from '../context.ts';
import { html } from '../html.ts';
import { sendPage } from '../layout.ts';
import { SESSION_FIELD, sessionTable } from '../session-table.ts';
import { caseKey } from '../../../text.ts';
import { viewerOf } from '../viewer.ts';
import { SIGN_IN_PATH } from './sign-in.ts';

/** A session lifetime in words: "8 hours", "7 days". */
function duration(ms: number): string {
  const hours = Math.round(ms / 3_600_000);
  if (hours >= 48 && hours % 24 === 0) return `${hours / 24} days`;
  if (hours >= 1) return hours === 1 ? '1 hour' : `${hours} hours`;
  const minutes = Math.max(1, Math.round(ms / 60_000));
  return minutes === 1 ? '1 minute' : `${minutes} minutes`;
}

/** What the password form says after a POST: an error on one field, or success. */
type PasswordField = 'current' | 'next' | 'repeat';
/** What the password form refused, every field at once in the form's order; or that it changed the password. */
type PasswordOutcome = ReadonlyArray<{ readonly field: PasswordField; readonly message: string }> | 'changed' | undefined;

/** Why "End" on one session was refused, shown above the sessions with its status. */
interface SessionRefusal {
  readonly status: number;
  readonly message: string;
}

/** The password form's labels, by field (the error summary names the field it links to). */
const PASSWORD_LABELS = { current: 'Current password', next: 'New password', repeat: 'New password again' } as const;

const SESSION_NOTICES = { 'session-ended': { tone: 'success', text: 'The session was ended: that browser must sign in again.' } } as const;

/** Registers `GET /account`, `POST /account/password`, `POST /account/sessions/end` and `POST /account/sign-out-everywhere`. */
export function accountPages(app: FastifyInstance, context: ConsoleContext): void {
  const { services } = context;

  function passwordSection(request: FastifyRequest, outcome: PasswordOutcome): ReturnType<typeof html> {
    const error = (field: PasswordField): { error?: string } => {
      const refused = typeof outcome === 'object' ? outcome.find((candidate) => candidate.field === field) : undefined;
      return refused !== undefined ? { error: refused.message } : {};
    };
    return html`<section id="password" aria-labelledby="password-title">
<h2 id="password-title">Password</h2>
${outcome === 'changed' && banner({ tone: 'success', body: html`<p>Your password is changed. Your other sessions have ended, and so have your sign-ins to applications: each application signs you in again the next time it asks Roster.</p>` })}
${postForm(request, {
  action: '/account/password',
  label: 'Change your password',
  body: html`${textField({ name: 'current', label: PASSWORD_LABELS.current, type: 'password', autocomplete: 'current-password', required: true, ...error('current') })}
${textField({ name: 'next', label: PASSWORD_LABELS.next, type: 'password', autocomplete: 'new-password', required: true, maxLength: ACCOUNT_LIMITS.password.max, hint: `At least ${ACCOUNT_LIMITS.password.min} characters.`, ...error('next') })}
${textField({ name: 'repeat', label: PASSWORD_LABELS.repeat, type: 'password', autocomplete: 'new-password', required: true, maxLength: ACCOUNT_LIMITS.password.max, ...error('repeat') })}
<div class="actions">${submitButton('Change password', { tone: 'primary' })}</div>`,
})}
</section>`;
  }

  async function accountPage(request: FastifyRequest, reply: FastifyReply, outcome: PasswordOutcome, sessionRefusal?: SessionRefusal): Promise<FastifyReply> {
    const viewer = viewerOf(request);
    const { user } = viewer;
    const [groups, sessions] = await Promise.all([services.access.groupsOf(user.id), services.sessions.listOf(user.id, viewer.sessionValue)]);
    const adminGroup = caseKey(services.access.adminGroup);
    const throughGroup = groups.some((group) => caseKey(group.name) === adminGroup);
    // Managed first: a local account the identity provider took over signs in through SAML only
    // (password sign-in refuses it) until SCIM is turned off.
    const kind = user.managed ? 'Provisioned by your identity provider (SCIM): signs in with SAML' : user.local ? 'Local account: signs in with a password' : 'Signs in with SAML';
    const role = viewer.administrator
      ? html`${badge('Administrator', 'info')} ${throughGroup ? html`through the group <strong>${services.access.adminGroup}</strong>` : ''} · <a href="/admin">Administration</a>`
      : html`Member`;

    const body = html`<section aria-labelledby="profile-title">
<h2 id="profile-title">Profile</h2>
${facts([
  ['Login', html`<code>${user.login}</code>`],
  ['Name', user.name ?? html`<span class="empty">not set</span>`],
  ['Email', user.email ?? html`<span class="empty">not set</span>`],
  ['Account', kind],
  ['Role', role],
  ['Last sign-in', timeTag(user.lastConnectionAt)],
])}
${user.managed && html`<p class="hint">Your name, email and groups come from your identity provider: change them there.</p>`}
</section>
<section aria-labelledby="groups-title">
<h2 id="groups-title">Groups</h2>
${groups.length === 0 ? html`<p class="empty">You are in no groups.</p>` : html`<ul class="group-list">${groups.map((group) => html`<li>${group.name}</li>`)}</ul>`}
</section>
<section aria-labelledby="sessions-title">
<h2 id="sessions-title">Sessions</h2>
<p class="hint">Each browser you signed in with has a session. A session ends after ${duration(services.sessions.policy.idleMs)} without use, ${duration(services.sessions.policy.absoluteMs)} after sign-in, or when you sign out. A session you do not recognise: end it, then change your password.</p>
${noticeBanner(request, SESSION_NOTICES)}
${sessionTable(request, sessions, { caption: 'Your active sessions', endAction: '/account/sessions/end' })}
<div class="actions">
${actionButton(request, { action: '/sessions/sign-out', label: 'Sign out' })}
${confirmDialog(request, {
  id: 'sign-out-everywhere',
  trigger: 'Sign out everywhere',
  title: 'Sign out everywhere?',
  message: html`<p>${sessions.length <= 1 ? 'This ends your session.' : `This ends all ${sessions.length} of your sessions, this one included, in every browser.`} You will need to sign in again.</p>`,
  action: '/account/sign-out-everywhere',
  confirmLabel: 'Sign out everywhere',
})}
</div>
</section>
${user.local && !user.managed && passwordSection(request, outcome)}`;
    const status = sessionRefusal?.status ?? (typeof outcome === 'object' ? 400 : undefined);
    // The Password section is the last one: the summary at the top says what was refused and links to the field.
    const errors: ErrorSummary | undefined =
      typeof outcome === 'object'
        ? { title: 'Your password was not changed', problems: outcome.map((refused) => ({ message: refused.message, field: { id: `field-${refused.field}`, label: PASSWORD_LABELS[refused.field] } })) }
        : sessionRefusal !== undefined
          ? { title: 'The session was not ended', problems: [{ message: sessionRefusal.message }] }
          : undefined;
    return sendPage(request, reply, { title: 'My account', body, ...(status !== undefined ? { status } : {}), ...(errors !== undefined ? { errors } : {}) });
  }

  app.get<{ Querystring: { changed?: string } }>('/account', { config: { access: 'signed-in' } }, async (request, reply) =>
    accountPage(request, reply, request.query.changed === 'password' ? 'changed' : undefined),
  );

  app.post('/account/password', { config: { access: 'signed-in' } }, async (request, reply) => {
    const viewer = viewerOf(request);
    const { user } = viewer;
    const current = formValue(request, 'current') ?? '';
    const next = formValue(request, 'next') ?? '';
    // The new password's own rules and the repeat, both at once (the current one is checked by
    // changePassword, under the sign-in backoff).
    const problem = newPasswordProblem(current, next);
    const refused = [
      ...(problem !== undefined ? [{ field: 'next' as const, message: problem }] : []),
      ...(next !== (formValue(request, 'repeat') ?? '') ? [{ field: 'repeat' as const, message: 'The two new passwords differ.' }] : []),
    ];
    if (refused.length > 0) return accountPage(request, reply, refused);
    const result = await services.passwordSignIn.changePassword({
      userId: user.id,
      current,
      next,
      source: auditSource(request.ip),
      keepSession: services.sessions.idOf(viewer.sessionValue),
      browser: context.knownBrowser.presented(request.headers.cookie),
    });
    // Post/redirect/get: reloading the page must not send the passwords again.
    if (result.ok) return reply.redirect('/account?changed=password', 303);
    return accountPage(request, reply, [{ field: result.field, message: result.message }]);
  });

  app.post('/account/sessions/end', { config: { access: 'signed-in' } }, async (request, reply) => {
    const viewer = viewerOf(request);
    const { user } = viewer;
    const handle = formValue(request, SESSION_FIELD) ?? '';
    if (handle === services.sessions.handleOf(viewer.sessionValue)) {
      return accountPage(request, reply, undefined, { status: 400, message: 'This is the session you are using: use Sign out to end it.' });
    }
    const ended = await services.sessions.endOne(user.id, handle, { kind: 'session', userId: user.id, login: user.login });
    if (!ended) return accountPage(request, reply, undefined, { status: 404, message: 'You have no such session: it may have ended already.' });
    return reply.redirect('/account?notice=session-ended', 303);
  });

  app.post('/account/sign-out-everywhere', { config: { access: 'signed-in' } }, async (request, reply) => {
    const { user } = viewerOf(request);
    await services.sessions.signOutEverywhere(user.id, { kind: 'session', userId: user.id, login: user.login });
    return reply.header('set-cookie', services.sessions.clearCookie()).redirect(`${SIGN_IN_PATH}?notice=signed-out-everywhere`, 303);
  });
}
