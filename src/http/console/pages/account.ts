/**
 * "My account" (`GET /account`), for everyone signed in: who Roster knows you as, the groups
 * that count for your access, your live sessions, and signing out here or everywhere.
 */
import type { FastifyInstance } from 'fastify';
import { actionButton, badge, confirmDialog, dataTable, facts, timeTag } from '../components.ts';
import type { ConsoleContext } from '../context.ts';
import { html } from '../html.ts';
import { sendPage } from '../layout.ts';
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

/** Registers `GET /account` and `POST /account/sign-out-everywhere`. */
export function accountPages(app: FastifyInstance, context: ConsoleContext): void {
  const { services } = context;

  app.get('/account', { config: { access: 'signed-in' } }, async (request, reply) => {
    const viewer = viewerOf(request);
    const { user } = viewer;
    const [groups, sessions] = await Promise.all([services.access.groupsOf(user.id), services.sessions.listOf(user.id, viewer.sessionValue)]);
    const adminGroup = caseKey(services.access.adminGroup);
    const throughGroup = groups.some((group) => caseKey(group.name) === adminGroup);
    const kind = user.local ? 'Local account: signs in with a password' : user.managed ? 'Provisioned by your identity provider (SCIM): signs in with SAML' : 'Signs in with SAML';
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
<p class="hint">Each browser you signed in with has a session. A session ends after ${duration(services.sessions.policy.idleMs)} without use, ${duration(services.sessions.policy.absoluteMs)} after sign-in, or when you sign out.</p>
${dataTable({
  caption: 'Your active sessions',
  captionHidden: true,
  columns: ['Signed in', 'Last active', 'Ends', ''],
  rows: sessions.map((session) => [timeTag(session.createdAt), timeTag(session.lastSeenAt), timeTag(session.expiresAt), session.current ? badge('This session', 'success') : '']),
  empty: 'No active sessions.',
})}
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
</section>`;
    return sendPage(request, reply, { title: 'My account', body });
  });

  app.post('/account/sign-out-everywhere', { config: { access: 'signed-in' } }, async (request, reply) => {
    const { user } = viewerOf(request);
    await services.sessions.signOutEverywhere(user.id, { kind: 'session', userId: user.id, login: user.login });
    return reply.header('set-cookie', services.sessions.clearCookie()).redirect(`${SIGN_IN_PATH}?notice=signed-out-everywhere`, 303);
  });
}
