/**
 * The Users pages of the administration (issue 9): `/admin/users` (search, filters, paging,
 * create, deactivate) and `/admin/users/<id>` (attributes, groups, tokens, sessions, the
 * sign-in check, the SCIM document, the audit history). Lists are searched and paged in SQL,
 * so 100k users are never loaded.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ACCOUNT_LIMITS, deactivationRefusal, wasReactivated } from '../../../directory/accounts.ts';
import type { DirectoryError } from '../../../errors.ts';
import { anonymizedLogin, isAnonymized } from '../../../directory/login-rules.ts';
import { renderResource } from '../../../scim/resources.ts';
import type { StoredUser } from '../../../store/users.ts';
import { stateOf } from '../../routes/scim/users.ts';
import {
  actionButton, badge, confirmDialog, editedOnPage, emptyPageText, labelFor, dataTable, facts, formValue, hrefWith, noticeBanner, pageOf, pager, postForm, queryValue, searchForm, selectField, shownValues, submitButton, textField, timeTag,
  filterLinks, type Query,
} from '../components.ts';
import type { ConsoleContext } from '../context.ts';
import { html, type SafeHtml } from '../html.ts';
import { sendPage } from '../layout.ts';
import { attempt, fieldError, managedBanner, managedFilter, refusalSummary, sourceBadge, sourceFilter, adminGroupBadge, inactiveBadge, type FormFields, type Refusal } from './directory.ts';
import { actorOf, viewerOf } from '../viewer.ts';
import { SESSION_FIELD, sessionTable } from '../session-table.ts';

const USERS = '/admin/users';
const PAGE_SIZE = 50;
/** How many groups, tokens and audit entries a user's page shows before linking on. */
const SHORT_LIST = 50;
const AUDIT_ENTRIES = 20;

const NOTICES = {
  created: { tone: 'success', text: 'The user was created.' },
  reactivated: { tone: 'success', text: 'The user existed, deactivated, and was reactivated. Their former group memberships, tokens and sessions are not restored: add them to their groups again from the Groups page.' },
  deactivated: { tone: 'success', text: 'The user was deactivated: their group memberships, tokens and sessions are gone.' },
  'already-deactivated': { tone: 'info', text: 'The user was already deactivated (by someone else, or from another page): nothing was changed.' },
  anonymized: { tone: 'success', text: 'The personal data of the user was deleted: name, email, external id, password, SCIM attributes and tokens are gone, and the login of the account names nobody. Audit entries and events recorded before keep what they held until their retention removes them.' },
  'already-anonymized': { tone: 'info', text: 'The personal data of the user had already been deleted: nothing was changed.' },
  revoked: { tone: 'success', text: 'The token was revoked.' },
  updated: { tone: 'success', text: 'The user was changed.' },
  unchanged: { tone: 'info', text: 'Nothing was changed: the form held the values the user already had.' },
  'signed-out': { tone: 'success', text: 'Every session of the user was ended.' },
  'session-ended': { tone: 'success', text: 'The session was ended: that browser must sign in again.' },
} as const;

/** What the create form was sent with, to show it again with the refusal. */
interface CreateValues {
  readonly login?: string;
  readonly name?: string;
  readonly email?: string;
  readonly signIn?: string;
}

/** The user forms' fields a refusal may name, with their element ids and labels. */
const USER_FIELDS = {
  login: { id: 'field-login', label: 'Login' },
  name: { id: 'field-name', label: 'Name' },
  email: { id: 'field-email', label: 'Email' },
  password: { id: 'field-password', label: 'Password (local users)' },
} as const satisfies FormFields;

/** What the edit form was sent with, to show it again with the refusal. */
interface EditValues {
  readonly login: string;
  readonly name: string;
  readonly email: string;
}

/**
 * Login, name and email of a user. While SCIM is on, the identity provider owns its users and
 * every login (accounts.update refuses those changes): the form is then greyed out for them,
 * and the login field for everyone.
 */
function editForm(request: FastifyRequest, user: StoredUser, scimOn: boolean, values?: EditValues, refusal?: Refusal): SafeHtml {
  const locked = scimOn && user.scimId !== null;
  const describedBy = scimOn ? { describedBy: 'edit-note' } : {};
  return postForm(request, {
    action: `${USERS}/${encodeURIComponent(user.id)}`,
    label: `Edit ${user.login}`,
    body: html`${scimOn && html`<p class="hint" id="edit-note">${locked ? 'Your identity provider manages this user: change them there.' : 'While SCIM is on, logins are managed by your identity provider.'}</p>`}
${textField({ name: 'login', label: USER_FIELDS.login.label, value: values?.login ?? user.login, required: true, maxLength: ACCOUNT_LIMITS.login.max, disabled: scimOn, autocomplete: 'off', spellcheck: false, ...fieldError(refusal, 'login') })}
${textField({ name: 'name', label: USER_FIELDS.name.label, value: values?.name ?? user.displayName ?? '', required: true, maxLength: ACCOUNT_LIMITS.name, disabled: locked, autocomplete: 'off', ...fieldError(refusal, 'name') })}
${textField({ name: 'email', label: USER_FIELDS.email.label, type: 'email', value: values?.email ?? user.email ?? '', maxLength: ACCOUNT_LIMITS.email, disabled: locked, autocomplete: 'off', ...fieldError(refusal, 'email') })}
${shownValues(request, { login: user.login, name: user.displayName ?? '', email: user.email ?? '' })}
<div class="actions">${submitButton('Save', { tone: 'primary', disabled: locked, ...describedBy })}</div>`,
  });
}

/** The user's badges in lists: Deactivated or Suspended by IdP, and Local while SCIM is on. */
function userBadges(scimOn: boolean, user: StoredUser): SafeHtml {
  return html`${sourceBadge(scimOn, user)} ${inactiveBadge(user)}`;
}

/** A danger button about `user`, greyed out, its reason (the domain's refusal) read out with it. */
function refusedButton(action: string, user: StoredUser, id: string, refusal: DirectoryError): SafeHtml {
  return html`${submitButton(labelFor(action, user.login), { tone: 'danger', disabled: true, describedBy: `${id}-why` })}<span class="visually-hidden" id="${id}-why">${refusal.message}</span>`;
}

/** A deactivate button with its confirmation naming the user, or the same greyed out with the domain's reason. */
function deactivateControl(request: FastifyRequest, user: StoredUser, id: string, back?: string): SafeHtml {
  if (!user.active) return html``;
  const refusal = deactivationRefusal(user, actorOf(request));
  if (refusal !== undefined) return refusedButton('Deactivate', user, id, refusal);
  return confirmDialog(request, {
    id,
    trigger: 'Deactivate',
    triggerDetail: user.login,
    title: `Deactivate ${user.login}?`,
    message: html`<p><strong>${user.login}</strong>${user.displayName !== null && html` (<bdi>${user.displayName}</bdi>)`} will no longer be able to sign in. Their group memberships, tokens and sessions are removed; creating the user again reactivates the account without them.</p>`,
    action: `${USERS}/${encodeURIComponent(user.id)}/deactivate`,
    confirmLabel: `Deactivate ${user.login}`,
    ...(back !== undefined ? { fields: { back } } : {}),
  });
}

/**
 * The button that deletes a deactivated user's personal data, with a confirmation saying what
 * goes and that it cannot be undone; greyed out with the domain's reason for a user the identity
 * provider still manages (suspended: it must delete the user first). Nothing for an active user
 * (deactivate first) or one already anonymized.
 */
function anonymizeControl(request: FastifyRequest, user: StoredUser): SafeHtml {
  if (user.active || isAnonymized(user)) return html``;
  const id = 'anonymize-user';
  const refusal = deactivationRefusal(user, actorOf(request));
  if (refusal !== undefined) return refusedButton('Delete personal data', user, id, refusal);
  return confirmDialog(request, {
    id,
    trigger: 'Delete personal data',
    triggerDetail: user.login,
    title: `Delete the personal data of ${user.login}?`,
    message: html`<p>The name, email, external id, password, SCIM attributes and tokens of <strong>${user.login}</strong> are deleted, and the login of the account becomes <code>${anonymizedLogin(user.id)}</code>. This cannot be undone: creating <strong>${user.login}</strong> again makes a new account.</p><p>Audit entries and events recorded before keep what they held until their retention removes them.</p>`,
    action: `${USERS}/${encodeURIComponent(user.id)}/anonymize`,
    confirmLabel: 'Delete personal data',
  });
}

/**
 * The name of a personal-data download: `personal-data-<login>-<date>.json`, the login with
 * every character a file name or the header could not carry as it is (quotes, slashes, spaces,
 * anything beyond ASCII) replaced by `_`, and cut to 60 characters.
 */
export function personalDataFileName(login: string, exportedAt: string): string {
  return `personal-data-${login.replace(/[^A-Za-z0-9._@+-]/g, '_').slice(0, 60)}-${exportedAt.slice(0, 10)}.json`;
}

/** Registers the Users pages. */
export function userPages(app: FastifyInstance, context: ConsoleContext): void {
  const { services } = context;

  async function listPage(request: FastifyRequest, reply: FastifyReply, refusal?: Refusal): Promise<FastifyReply> {
    const query = request.query as Query;
    const scimOn = await services.provisioning.isScimEnabled();
    const page = pageOf(query, { defaultSize: PAGE_SIZE });
    const q = queryValue(query, 'q')?.trim();
    const status = queryValue(query, 'status');
    const listed = await attempt(() =>
      services.accounts.list(
        {
          ...(q !== undefined && q !== '' ? { q } : {}),
          ...(status === 'active' ? { active: true } : status === 'deactivated' ? { active: false } : {}),
          ...managedFilter(query),
        },
        { offset: page.offset, limit: page.pageSize },
      ),
    );
    const shown = refusal ?? (listed.ok ? undefined : listed.refusal);
    const { users, total } = listed.ok ? listed.value : { users: [], total: 0 };
    const back = request.url;
    const rows = users.map((user, index) => [
      // The badges stand beside the login they qualify, not in a column of their own without a heading.
      html`<a href="${USERS}/${encodeURIComponent(user.id)}">${user.login}</a> ${userBadges(scimOn, user)}`,
      user.displayName ?? '',
      user.email ?? '',
      timeTag(user.lastConnectionAt),
      deactivateControl(request, user, `deactivate-${index + 1}`, back),
    ]);
    const body = html`${noticeBanner(request, NOTICES)}${scimOn && managedBanner('users')}
<div class="actions">${scimOn
      ? html`<span class="button primary" role="link" aria-disabled="true" aria-describedby="managed-note">Create user</span>`
      : html`<a class="button primary" href="${USERS}/new">Create user</a>`}</div>
${searchForm({ path: USERS, query, label: 'Search users', placeholder: 'Login, name or email' })}
${scimOn && sourceFilter(USERS, query)}
${filterLinks({ label: 'Status', path: USERS, query, param: 'status', options: [{ label: 'Active and deactivated', value: undefined }, { label: 'Active', value: 'active' }, { label: 'Deactivated', value: 'deactivated' }] })}
${dataTable({ caption: 'Users', captionHidden: true, columns: ['Login', 'Name', 'Email', 'Last sign-in', 'Actions'], rows, empty: emptyPageText({ page, total, empty: q ? `No user matches “${q}”.` : 'No users.' }) })}
${pager({ path: USERS, query, page, total, noun: total === 1 ? 'user' : 'users' })}`;
    return sendPage(request, reply, { title: 'Users', body, ...(shown !== undefined ? { status: shown.status, errors: refusalSummary(shown) } : {}) });
  }

  async function createPage(request: FastifyRequest, reply: FastifyReply, values: CreateValues = {}, refusal?: Refusal): Promise<FastifyReply> {
    const scimOn = await services.provisioning.isScimEnabled();
    const body = html`${scimOn && managedBanner('users')}
<p>A <strong>local</strong> user signs in with a password at the sign-in page; a <strong>SAML</strong> user signs in through your identity provider with this login.</p>
${postForm(request, {
  action: USERS,
  label: 'Create user',
  body: html`${textField({ name: 'login', label: USER_FIELDS.login.label, value: values.login ?? '', required: true, maxLength: ACCOUNT_LIMITS.login.max, disabled: scimOn, autocomplete: 'off', spellcheck: false, hint: 'For SAML users, the value of the SAML login attribute (often the email address).', ...fieldError(refusal, 'login') })}
${textField({ name: 'name', label: USER_FIELDS.name.label, value: values.name ?? '', required: true, maxLength: ACCOUNT_LIMITS.name, disabled: scimOn, autocomplete: 'off', ...fieldError(refusal, 'name') })}
${textField({ name: 'email', label: USER_FIELDS.email.label, type: 'email', value: values.email ?? '', maxLength: ACCOUNT_LIMITS.email, disabled: scimOn, autocomplete: 'off', ...fieldError(refusal, 'email') })}
${selectField({ name: 'signIn', label: 'Signs in with', value: values.signIn ?? 'password', disabled: scimOn, options: [{ value: 'password', label: 'A local password' }, { value: 'saml', label: 'SAML (the identity provider)' }] })}
${textField({ name: 'password', label: USER_FIELDS.password.label, type: 'password', maxLength: ACCOUNT_LIMITS.password.max, disabled: scimOn, autocomplete: 'new-password', hint: 'At least 12 characters. Leave empty for a SAML user.', ...fieldError(refusal, 'password') })}
<div class="actions">${submitButton('Create user', { tone: 'primary', disabled: scimOn, ...(scimOn ? { describedBy: 'managed-note' } : {}) })} <a href="${USERS}">Cancel</a></div>`,
})}`;
    return sendPage(request, reply, { title: 'Create user', body, ...(refusal !== undefined ? { status: refusal.status, errors: refusalSummary(refusal, USER_FIELDS) } : {}) });
  }

  async function userPage(request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply, refusal?: Refusal, edits?: EditValues): Promise<FastifyReply> {
    const user = await services.accounts.get(request.params.id);
    const scimOn = await services.provisioning.isScimEnabled();
    const [groups, tokens, sessions, check, audit, scimUser, membershipChanges] = await Promise.all([
      services.groupManagement.list({ userId: user.id }, { offset: 0, limit: SHORT_LIST }),
      services.tokens.list(user.id),
      services.sessions.listOf(user.id, viewerOf(request).sessionValue),
      services.signIn.check(user.id),
      services.auditLog.list({ targetType: 'user', targetId: user.id }, { offset: 0, limit: AUDIT_ENTRIES, ascending: false }),
      // Without its groups: the section above lists them, and a user in 50,000 groups made a
      // 15 MB page that held the server for a second (it says so where it shows the document).
      user.scimId === null ? Promise.resolve(undefined) : services.users.get(user.scimId, false),
      services.membershipHistory.of(user.id, AUDIT_ENTRIES),
    ]);
    const own = tokens.filter((token) => token.userId === user.id);
    const path = `${USERS}/${encodeURIComponent(user.id)}`;
    const source = user.scimId !== null ? 'Provisioned by your identity provider (SCIM)' : scimOn ? 'Local (not managed by your identity provider)' : 'Managed here';

    // A local account the identity provider manages signs in through SAML only: password sign-in
    // refuses every managed account until SCIM is turned off (password-check.ts).
    const passwordAccount = user.local && user.scimId === null;
    const checkSection =
      check === undefined
        ? html``
        : html`${passwordAccount && user.active
            ? html`<p>${badge('Can sign in', 'success')} with their password on the sign-in page: a local account.</p>${check.problems.length > 0 && html`<p>Not through SAML:</p><ul>${check.problems.map((problem) => html`<li>${problem.message}</li>`)}</ul>`}`
            : check.canSignIn
              ? html`<p>${badge('Can sign in', 'success')} Nothing stands in the way of a SAML sign-in by <strong>${user.login}</strong> now.</p>`
              : html`<p>${badge('Cannot sign in', 'danger')} Why not:</p><ul>${check.problems.map((problem) => html`<li>${problem.message}</li>`)}</ul>`}
${check.warnings.length > 0 && html`<ul>${check.warnings.map((warning) => html`<li>${badge('Warning', 'warning')} ${warning}</li>`)}</ul>`}
${facts([
  ['Last SAML attempt', check.lastAttempt === null ? html`<span class="empty">none recorded</span>` : html`${timeTag(check.lastAttempt.at)} · ${check.lastAttempt.outcome === 'accepted' ? badge('accepted', 'success') : badge('refused', 'danger')} with login <code>${check.lastAttempt.login}</code>${check.lastAttempt.reason !== null && html` (${check.lastAttempt.reason})`}`],
  ['Last sign-in', timeTag(check.lastConnectionDate)],
])}`;

    const body = html`${noticeBanner(request, NOTICES)}${scimOn && user.scimId !== null && managedBanner('users')}
<section aria-labelledby="attributes-title">
<h2 id="attributes-title">Attributes</h2>
${facts([
  ['Login', html`<code>${user.login}</code>`],
  ['Name', user.displayName ?? html`<span class="empty">not set</span>`],
  ['Email', user.email ?? html`<span class="empty">not set</span>`],
  ['Status', user.active
    ? badge('Active', 'success')
    : user.scimId !== null
      ? html`${inactiveBadge(user)} Your identity provider has suspended this user (SCIM <code>active=false</code>): they cannot sign in, and the groups below are kept but grant nothing until it enables them again.`
      : isAnonymized(user)
        ? html`${inactiveBadge(user)} ${badge('Personal data deleted', 'neutral')} Nothing of the person is left but the id and history of the account.`
        : html`${inactiveBadge(user)} They cannot sign in; deactivation removed their group memberships, tokens and sessions.`],
  ['Signs in with', passwordAccount ? 'A local password' : user.local ? 'SAML (its local password is refused while your identity provider manages it)' : 'SAML'],
  ['Source', source],
  ['External id', user.externalId ?? html`<span class="empty">none</span>`],
  ['Created', timeTag(user.createdAt)],
  ['Roster id', html`<code>${user.id}</code>`],
])}
<div class="actions">${deactivateControl(request, user, 'deactivate-user')}${anonymizeControl(request, user)}</div>
</section>
<section aria-labelledby="personal-data-title">
<h2 id="personal-data-title">Personal data</h2>
<p class="hint">What Roster holds of ${isAnonymized(user) ? 'this account (what is left of the person)' : 'this person'}, as one JSON file, to answer their request for access (GDPR Art. 15): the account, groups, tokens, sessions, applications, sign-in attempts, audit entries and events; never a password, token or session secret. The download is recorded in the audit log.</p>
<div class="actions">${actionButton(request, { action: `${path}/personal-data`, label: labelFor('Download personal data', user.login) })}</div>
</section>
<section aria-labelledby="edit-title">
<h2 id="edit-title">Edit</h2>
${editForm(request, user, scimOn, edits, edits === undefined ? undefined : refusal)}
</section>
<section aria-labelledby="sign-in-title">
<h2 id="sign-in-title">Can this person sign in now?</h2>
${checkSection}
</section>
<section aria-labelledby="groups-title">
<h2 id="groups-title">Groups</h2>
${!user.active && user.scimId !== null && groups.total > 0 && html`<p class="hint">Kept while your identity provider has suspended this user: they grant nothing until it enables them again.</p>`}
${dataTable({
  caption: `Groups of ${user.login}`,
  captionHidden: true,
  columns: ['Group', ''],
  rows: groups.groups.map((group) => [html`<a href="/admin/groups/${encodeURIComponent(group.id)}">${group.name}</a>${adminGroupBadge(services.access.isAdminGroup(group.name))}`, sourceBadge(scimOn, group)]),
  empty: user.active ? 'In no group.' : 'In no group (deactivation removes every membership).',
})}
${groups.total > groups.groups.length && html`<p class="hint">The first ${groups.groups.length} of ${groups.total} groups.</p>`}
</section>
<section aria-labelledby="tokens-title">
<h2 id="tokens-title">Tokens</h2>
<p class="hint">API tokens acting as this user. Tokens are created with the command line or on the SCIM page.</p>
${dataTable({
  caption: `Tokens of ${user.login}`,
  captionHidden: true,
  columns: ['Name', 'Created', 'Last used', 'Status', ''],
  rows: own.slice(0, SHORT_LIST).map((token, index) => [
    token.name,
    timeTag(token.createdAt),
    timeTag(token.lastUsedAt),
    token.revokedAt === null ? badge('Live', 'success') : html`${badge('Revoked', 'neutral')} ${timeTag(token.revokedAt)}`,
    token.revokedAt === null
      ? confirmDialog(request, {
          id: `revoke-token-${index + 1}`,
          trigger: 'Revoke',
          triggerDetail: token.name,
          title: `Revoke the token “${token.name}”?`,
          message: html`<p>Whatever uses this token (a script, your identity provider) will be refused from now on. This cannot be undone.</p>`,
          action: `${path}/tokens/revoke`,
          confirmLabel: `Revoke ${token.name}`,
          fields: { name: token.name },
        })
      : '',
  ]),
  empty: 'No tokens.',
})}
</section>
<section aria-labelledby="sessions-title">
<h2 id="sessions-title">Sessions</h2>
${sessionTable(request, sessions, { caption: `Sessions of ${user.login}`, endAction: `${path}/sessions/end` })}
${sessions.length > 0 && html`<div class="actions">${confirmDialog(request, {
  id: 'end-sessions',
  trigger: 'Sign out everywhere',
  title: `Sign ${user.login} out everywhere?`,
  message: html`<p>This ends every session of <strong>${user.login}</strong>, in every browser. They can sign in again unless they are deactivated.</p>`,
  action: `${path}/sign-out-everywhere`,
  confirmLabel: `Sign ${user.login} out`,
})}</div>`}
</section>
<section aria-labelledby="scim-title">
<h2 id="scim-title">As your identity provider sees it (SCIM)</h2>
${scimUser === undefined
  ? html`<p class="empty">Not provisioned through SCIM: your identity provider has no SCIM resource for this user.</p>`
  : html`<p class="hint">What <code>GET /api/scim/v2/Users/${scimUser.scimId}</code> answers, but for its <code>groups</code>, listed under Groups above.</p><pre class="scim-document"><code>${JSON.stringify(renderResource('User', stateOf(scimUser), context.baseUrl), null, 2)}</code></pre>`}
</section>
<section aria-labelledby="history-title">
<h2 id="history-title">History</h2>
${dataTable({
  caption: `Audit history of ${user.login}`,
  captionHidden: true,
  columns: ['When', 'Who', 'What'],
  rows: audit.events.map((event) => [timeTag(event.at), event.actor, html`<code>${event.action}</code>`]),
  empty: 'Nothing recorded.',
})}
${audit.total > audit.events.length && html`<p class="hint">The latest ${audit.events.length} of ${audit.total} entries: <a href="${hrefWith('/admin/audit', {}, { targetType: 'user', targetId: user.id })}">all of them in the audit log</a>.</p>`}
</section>
<section aria-labelledby="membership-history-title">
<h2 id="membership-history-title">Group membership changes</h2>
${dataTable({
  caption: `Group membership changes of ${user.login}`,
  captionHidden: true,
  columns: ['When', 'Who', 'What'],
  rows: membershipChanges.changes.map((change) => [
    timeTag(change.at),
    change.actor,
    html`${change.change === 'added' ? 'Added to' : 'Removed from'} <a href="/admin/groups/${encodeURIComponent(change.group.id)}">${change.group.name}</a>`,
  ]),
  empty: 'No change recorded.',
})}
<p class="hint">${membershipChanges.total > membershipChanges.changes.length ? `The latest ${membershipChanges.changes.length} of ${membershipChanges.total} changes, f` : 'F'}rom the event feed, which keeps changes for ${services.eventFeed.retentionDays} days. A group's deletion is recorded in the audit log, not here.</p>
</section>`;
    return sendPage(request, reply, {
      title: user.login,
      heading: html`<h1>${user.login} ${userBadges(scimOn, user)}</h1><p><a href="${USERS}">All users</a></p>`,
      body,
      ...(refusal !== undefined ? { status: refusal.status, errors: refusalSummary(refusal, edits === undefined ? {} : USER_FIELDS) } : {}),
    });
  }

  app.get(USERS, async (request, reply) => listPage(request, reply));
  app.get(`${USERS}/new`, async (request, reply) => createPage(request, reply));

  app.post(USERS, async (request, reply) => {
    const values: CreateValues = {
      login: formValue(request, 'login') ?? '',
      name: formValue(request, 'name') ?? '',
      email: formValue(request, 'email') ?? '',
      signIn: formValue(request, 'signIn') === 'saml' ? 'saml' : 'password',
    };
    const local = values.signIn !== 'saml';
    const password = formValue(request, 'password') ?? '';
    const created = await attempt(() =>
      services.accounts.create(
        {
          login: values.login,
          name: values.name,
          email: values.email === '' ? null : values.email,
          local,
          ...(local ? { password } : password !== '' ? { password } : {}),
        },
        actorOf(request),
      ),
    );
    if (!created.ok) return createPage(request, reply, values, created.refusal);
    const notice = wasReactivated(created.value) ? 'reactivated' : 'created';
    return reply.redirect(`${USERS}/${encodeURIComponent(created.value.id)}?notice=${notice}`, 303);
  });

  app.get<{ Params: { id: string } }>(`${USERS}/:id`, async (request, reply) => userPage(request, reply));

  app.post<{ Params: { id: string } }>(`${USERS}/:id/deactivate`, async (request, reply) => {
    const done = await attempt(() => services.accounts.deactivate(request.params.id, actorOf(request)));
    if (!done.ok) return userPage(request, reply, done.refusal);
    const notice = done.value ? 'deactivated' : 'already-deactivated';
    // Back to the list the button was on (only a /admin/users address), else the user's page.
    const back = formValue(request, 'back');
    let target = `${USERS}/${encodeURIComponent(request.params.id)}?notice=${notice}`;
    if (back !== undefined && /^\/admin\/users(\?[^#]*)?$/.test(back)) {
      const url = new URL(back, 'http://console.invalid');
      url.searchParams.delete('confirm');
      url.searchParams.set('notice', notice);
      target = `${url.pathname}${url.search}`;
    }
    return reply.redirect(target, 303);
  });

  // A form rather than a link: the download is recorded in the audit log, so it is a change the
  // session's CSRF token must vouch for (a link from another site could make an administrator's
  // browser record one). The answer is the file; the browser stays on the page.
  app.post<{ Params: { id: string } }>(`${USERS}/:id/personal-data`, async (request, reply) => {
    const data = await services.personalData.export(request.params.id, actorOf(request));
    return reply
      .header('content-type', 'application/json; charset=utf-8')
      .header('content-disposition', `attachment; filename="${personalDataFileName(data.account.login, data.exportedAt)}"`)
      .send(`${JSON.stringify(data, null, 2)}\n`);
  });

  app.post<{ Params: { id: string } }>(`${USERS}/:id/anonymize`, async (request, reply) => {
    const done = await attempt(() => services.accounts.deactivate(request.params.id, actorOf(request), { anonymize: true }));
    if (!done.ok) return userPage(request, reply, done.refusal);
    return reply.redirect(`${USERS}/${encodeURIComponent(request.params.id)}?notice=${done.value ? 'anonymized' : 'already-anonymized'}`, 303);
  });

  app.post<{ Params: { id: string } }>(`${USERS}/:id`, async (request, reply) => {
    const current = await services.accounts.get(request.params.id);
    // A disabled field is not sent, and a field left as the page showed it is not taken: what is
    // missing keeps its value (a merge patch), a change someone else made meanwhile included.
    const sent = (name: string): string | undefined => (editedOnPage(request, name) ? formValue(request, name) : undefined);
    const login = sent('login');
    // A user provisioned without a name shows an empty field: leaving it empty changes nothing.
    const name = sent('name') === '' && current.displayName === null ? undefined : sent('name');
    const email = sent('email');
    const edits: EditValues = { login: formValue(request, 'login') ?? current.login, name: formValue(request, 'name') ?? current.displayName ?? '', email: formValue(request, 'email') ?? current.email ?? '' };
    const changed = await attempt(() =>
      services.accounts.update(
        current.id,
        {
          ...(login !== undefined ? { login } : {}),
          ...(name !== undefined ? { name } : {}),
          ...(email !== undefined ? { email: email === '' ? null : email } : {}),
        },
        actorOf(request),
      ),
    );
    if (!changed.ok) return userPage(request, reply, changed.refusal, edits);
    // A save that wrote nothing (every field as stored) leaves the version as it was.
    const notice = changed.value.version === current.version ? 'unchanged' : 'updated';
    return reply.redirect(`${USERS}/${encodeURIComponent(current.id)}?notice=${notice}`, 303);
  });

  app.post<{ Params: { id: string } }>(`${USERS}/:id/sign-out-everywhere`, async (request, reply) => {
    const user = await services.accounts.get(request.params.id);
    await services.sessions.signOutEverywhere(user.id, actorOf(request));
    return reply.redirect(`${USERS}/${encodeURIComponent(user.id)}?notice=signed-out`, 303);
  });

  app.post<{ Params: { id: string } }>(`${USERS}/:id/sessions/end`, async (request, reply) => {
    const user = await services.accounts.get(request.params.id);
    // Looked up among this user's sessions only: a handle of someone else's ends nothing.
    const ended = await services.sessions.endOne(user.id, formValue(request, SESSION_FIELD) ?? '', actorOf(request));
    if (!ended) return userPage(request, reply, { status: 404, message: 'This user has no such session: it may have ended already.' });
    return reply.redirect(`${USERS}/${encodeURIComponent(user.id)}?notice=session-ended`, 303);
  });

  app.post<{ Params: { id: string } }>(`${USERS}/:id/tokens/revoke`, async (request, reply) => {
    const user = await services.accounts.get(request.params.id);
    const name = formValue(request, 'name') ?? '';
    // Only this user's live token of that name: the form cannot revoke someone else's.
    const token = (await services.tokens.list(user.id)).find((candidate) => candidate.revokedAt === null && candidate.name === name.trim());
    if (token === undefined) return userPage(request, reply, { status: 404, message: `This user has no live token named '${name}'.` });
    await services.tokens.revoke(token.name, actorOf(request));
    return reply.redirect(`${USERS}/${encodeURIComponent(user.id)}?notice=revoked`, 303);
  });
}
