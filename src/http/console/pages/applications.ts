/**
 * Administration › Applications (`/admin/applications`): the OpenID Connect applications, with
 * the same rules and messages as `roster apps` and the admin API (directory/applications.ts).
 * A new secret is shown on the page that answers its creation, once. Each application has an
 * edit page (`/admin/applications/<client id>`): name, redirect URIs, allowed groups and the
 * back-channel logout URI, changed in place with the same client id and secret, and the
 * back-channel logouts still waiting to reach the application.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { APPLICATION_LIMITS, missingGroupsEffect, type Application, type ApplicationChanges, type PendingLogout, type SecretRotation } from '../../../directory/applications.ts';
import { DEFAULT_SECRET_OVERLAP_SECONDS, MAX_SECRET_OVERLAP_SECONDS } from '../../../directory/secret-overlap.ts';
import { DirectoryError } from '../../../errors.ts';
import { badge, banner, checkboxField, confirmDialog, editedOnPage, hiddenFields, labelFor, copyable, dataTable, facts, formValue, noticeBanner, postForm, selectField, shownValue, shownValues, submitButton, textArea, textField, timeTag, type ErrorSummary } from '../components.ts';
import type { ConsoleContext } from '../context.ts';
import { html, type SafeHtml } from '../html.ts';
import { sendPage } from '../layout.ts';
import { viewerOf } from '../viewer.ts';
import { adminStatusOf } from '../../errors.ts';
import { refusalSummary, type FormFields } from './directory.ts';
import { claimForm, onceField, onceFields, refusedBanner, statusOfRefused } from '../once.ts';

const PATH = '/admin/applications';

/** The fields a refusal may name, with their element ids and labels (the error summary links to the field). */
const APPLICATION_FIELDS = {
  name: { id: 'field-name', label: 'Name' },
  redirectUris: { id: 'field-redirectUris', label: 'Redirect URIs' },
  allowedGroups: { id: 'field-allowedGroups', label: 'Allowed groups' },
  backchannelLogoutUri: { id: 'field-backchannelLogoutUri', label: 'Back-channel logout URI' },
} as const satisfies FormFields;

/** Banners of the edit page after a save, by code. */
const EDIT_NOTICES = {
  saved: { tone: 'success', text: 'The application was saved. Its client id and secret are unchanged: nothing changes in its own configuration.' },
  overlapEnded: { tone: 'success', text: 'The previous secret no longer works: only the current one does.' },
  noOverlap: { tone: 'info', text: 'Nothing changed: no previous secret was working.' },
  unchanged: { tone: 'info', text: 'Nothing changed: the application already had these values.' },
} as const;

/** What the form shows in its fields: the application's values, or what was sent with a refusal. */
interface FormValues {
  readonly name?: string;
  readonly uris?: string;
  readonly groups?: string;
  readonly logoutUri?: string;
}

/** The name, redirect URIs and allowed groups fields, shared by the registration and the edit forms. */
function applicationFields(values: FormValues, error: DirectoryError | undefined): SafeHtml {
  return html`${textField({ name: 'name', label: APPLICATION_FIELDS.name.label, value: values.name ?? '', required: true, maxLength: APPLICATION_LIMITS.name, ...beside(error, 'name') })}
${textArea({ name: 'redirectUris', label: APPLICATION_FIELDS.redirectUris.label, value: values.uris ?? '', rows: 3, required: true, hint: 'One per line, matched exactly. https, or http for localhost only.', ...beside(error, 'redirectUris') })}
${textArea({ name: 'allowedGroups', label: APPLICATION_FIELDS.allowedGroups.label, value: values.groups ?? '', rows: 2, hint: 'One group name per line: only their members may sign in. Empty: every active user.', ...beside(error, 'allowedGroups') })}
${textField({
  name: 'backchannelLogoutUri',
  label: APPLICATION_FIELDS.backchannelLogoutUri.label,
  value: values.logoutUri ?? '',
  type: 'url',
  maxLength: APPLICATION_LIMITS.uri,
  spellcheck: false,
  hint: 'Optional. Where Roster posts a logout token when a user\'s sign-in ends (deactivation, sign-out), so that the application ends its own session at once (OpenID Connect Back-Channel Logout). https, or http for localhost only. Empty: none.',
  ...beside(error, 'backchannelLogoutUri'),
})}`;
}

/**
 * A refusal of the domain as the pages summarise it: "Nothing was saved" linking to the field it
 * names, with the domain's whole sentence (which says which line of the box was refused), or its message.
 */
function refusalOf(error: DirectoryError): ErrorSummary {
  const fields = [error, ...error.others].flatMap((refused) => (refused.field !== undefined ? [{ name: refused.field, reason: refused.message }] : []));
  return refusalSummary({ status: adminStatusOf(error), message: error.message, ...(fields.length > 0 ? { fields } : {}) }, APPLICATION_FIELDS);
}

/**
 * What the administrator changed on the edit page: the name if edited, and the lines added to and
 * removed from each list since the page showed it (applied under the application's lock), so that
 * what another administrator changed meanwhile stays. A page without the values it showed (from
 * before they were sent) replaces the lists, as it used to.
 */
function changesOnPage(request: FastifyRequest, values: FormValues): ApplicationChanges {
  const add: { redirectUris?: readonly string[]; allowedGroups?: readonly string[] } = {};
  const remove: { redirectUris?: readonly string[]; allowedGroups?: readonly string[] } = {};
  const replace: { redirectUris?: readonly string[]; allowedGroups?: readonly string[] } = {};
  for (const [field, sent] of [['redirectUris', values.uris ?? ''], ['allowedGroups', values.groups ?? '']] as const) {
    const shown = shownValue(request, field);
    if (shown === undefined) {
      replace[field] = lines(sent);
      continue;
    }
    const before = lines(shown);
    const after = lines(sent);
    const added = after.filter((line) => !before.includes(line));
    const removed = before.filter((line) => !after.includes(line));
    if (added.length > 0) add[field] = added;
    if (removed.length > 0) remove[field] = removed;
  }
  return {
    ...(editedOnPage(request, 'name') ? { name: values.name ?? '' } : {}),
    ...(editedOnPage(request, 'backchannelLogoutUri') ? { backchannelLogoutUri: values.logoutUri ?? '' } : {}),
    ...replace,
    ...(Object.keys(add).length > 0 ? { add } : {}),
    ...(Object.keys(remove).length > 0 ? { remove } : {}),
  };
}

/** The lines of a textarea, trimmed, without empty ones. */
function lines(value: string | undefined): string[] {
  return (value ?? '').split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '');
}

/**
 * The `error` option of the form field `field` when `error` is about it: the domain's whole
 * sentence, which names the refused redirect URI or group among the several lines of its box
 * (besideField would keep only the reason, without saying which line).
 */
function beside(error: DirectoryError | undefined, field: string): { error?: string } {
  const refused = error === undefined ? undefined : [error, ...error.others].find((candidate) => candidate.field === field);
  return refused !== undefined ? { error: refused.message } : {};
}

/** The overlaps the console offers, the default first (the CLI and the API take any up to MAX_SECRET_OVERLAP_SECONDS). */
const OVERLAP_CHOICES = [
  { value: String(DEFAULT_SECRET_OVERLAP_SECONDS), label: '24 hours' },
  { value: String(60 * 60), label: '1 hour' },
  { value: String(MAX_SECRET_OVERLAP_SECONDS), label: '7 days' },
  { value: '0', label: 'None: the current secret stops at once' },
] as const;

/** What a rotation does to the current secret, in the words of the confirmations. */
function rotationEffect(application: Application, overlapSeconds: number): SafeHtml {
  const current = overlapSeconds === 0
    ? html`The current secret stops working at once: ${application.name} cannot sign anyone in until you enter the new one in its configuration.`
    : html`The current secret keeps working for ${OVERLAP_CHOICES.find((choice) => choice.value === String(overlapSeconds))?.label ?? `${overlapSeconds} seconds`} beside the new one: enter the new one in ${application.name}'s configuration within that time.`;
  return html`${current}${application.previousSecretExpiresAt !== null && html` The previous secret, which works until ${timeTag(application.previousSecretExpiresAt)}, stops at once (one previous secret at a time).`}`;
}

/**
 * The hidden fields of a rotation's form: the one-time token, and the overlap this page shows,
 * so that a rotation made since (another tab, another administrator) is not repeated by this
 * one, which would stop at once the secret that rotation kept working (rotatedSinceShown).
 */
function rotationFields(application: Application): Record<string, string> {
  return { 'shown.overlapUntil': application.previousSecretExpiresAt ?? '' };
}

/**
 * The back-channel logouts still to reach the application (delivery/logouts.ts retries each for
 * about 16 hours), and where those Roster gave up on are recorded: the audit log.
 */
function logoutsSection(application: Application, pending: readonly PendingLogout[]): SafeHtml {
  if (application.backchannelLogoutUri === null && pending.length === 0) return html``;
  return html`<section aria-labelledby="logouts-title">
<h2 id="logouts-title">Back-channel logouts waiting</h2>
<p>Each is tried again after a failure, for about 16 hours; then Roster gives up and records it in the <a href="/admin/audit?action=application.backchannel_logout_failed&amp;targetId=${encodeURIComponent(application.clientId)}">audit log</a> as <code>application.backchannel_logout_failed</code>.</p>
${dataTable({
  caption: `Logouts waiting for ${application.name}`,
  columns: ['User id', 'Because', 'Queued', 'Failed attempts', 'Last error', 'Next attempt'],
  rows: pending.map((logout) => [
    html`<code>${logout.subject}</code>`,
    logout.cause.replace(/_/g, ' '),
    timeTag(logout.createdAt),
    String(logout.attempts),
    logout.lastError ?? html`<span class="empty">none</span>`,
    timeTag(logout.nextAttemptAt),
  ]),
  empty: 'None waiting.',
})}
</section>`;
}

/** Registers the applications pages. */
export function applicationPages(app: FastifyInstance, context: ConsoleContext): void {
  const { services } = context;
  const { formSubmissions } = services;
  const actorOf = (request: FastifyRequest) => {
    const { user } = viewerOf(request);
    return { kind: 'session', userId: user.id, login: user.login } as const;
  };

  /** The edit page's section for the secret: a rotation with a chosen overlap, and ending the overlap early. */
  function secretSection(request: FastifyRequest, application: Application): SafeHtml {
    const here = `${PATH}/${encodeURIComponent(application.clientId)}`;
    return html`<section aria-labelledby="secret-title">
<h2 id="secret-title">Client secret</h2>
<p id="secret-note">A new secret is shown once. The current one keeps working beside it for the overlap you choose, so that ${application.name} can be given the new one without a failed sign-in. Only one previous secret works at a time: a new secret during an overlap stops the previous one at once.</p>
${postForm(request, {
  action: `${here}/secret`,
  label: `New secret for ${application.name}`,
  body: html`${hiddenFields({ ...onceFields(formSubmissions), ...rotationFields(application) })}${selectField({ name: 'overlapSeconds', label: 'The current secret keeps working for', value: String(DEFAULT_SECRET_OVERLAP_SECONDS), options: OVERLAP_CHOICES })}
${submitButton('Issue a new secret', { describedBy: 'secret-note' })}`,
})}
${application.previousSecretExpiresAt !== null && html`<div class="apart">
<p id="overlap-note">The previous secret works until ${timeTag(application.previousSecretExpiresAt)}. Once every part of ${application.name} has the current one, you can stop it now.</p>
${confirmDialog(request, {
  id: 'end-overlap',
  trigger: 'Stop the previous secret now',
  title: `Stop ${application.name}'s previous secret now?`,
  message: html`<p>The previous secret works until ${timeTag(application.previousSecretExpiresAt)}. Stopped now, any part of ${application.name} still using it fails every token request until it has the current secret.</p>`,
  action: `${here}/end-overlap`,
  confirmLabel: 'Stop the previous secret',
  describedBy: 'overlap-note',
})}
</div>`}
</section>`;
  }

  function createForm(request: FastifyRequest, values: FormValues & { public?: boolean; error?: DirectoryError }): SafeHtml {
    const error = values.error;
    return html`<section aria-labelledby="create-title">
<h2 id="create-title">Register an application</h2>
${postForm(request, {
  action: PATH,
  body: html`${onceField(formSubmissions)}${applicationFields(values, error)}
${checkboxField({ name: 'public', label: 'Public client (single-page or native app: no secret, PKCE required)', checked: values.public === true })}
${submitButton('Register', { tone: 'primary' })}`,
})}
</section>`;
  }

  /** The warning when allowed groups do not exist, saying who can still sign in (missingGroupsEffect). */
  async function missingWarning(allowedGroups: readonly string[]): Promise<SafeHtml> {
    const missing = await services.applications.missingGroups(allowedGroups);
    if (missing.length === 0) return html``;
    const names = html`${missing.map((group, index) => html`${index > 0 && ', '}“${group}”`)}`;
    const title = missing.length === 1 ? 'That allowed group does not exist' : 'Those allowed groups do not exist';
    const effect = missingGroupsEffect(allowedGroups, missing);
    return banner({ tone: 'warning', title, body: html`<p>No group is named ${names}: ${effect}. Check the spelling, or provision the group.</p>` });
  }

  function listing(request: FastifyRequest, applications: readonly Application[], missing: ReadonlySet<string>): SafeHtml {
    return dataTable({
      caption: 'Registered applications',
      columns: ['Name', 'Client id', 'Type', 'Allowed groups', 'Redirect URIs', 'Previous secret works until', ''],
      rows: applications.map((application) => [
        html`<a href="${PATH}/${encodeURIComponent(application.clientId)}">${application.name}</a>`,
        html`<code>${application.clientId}</code>`,
        application.public ? badge('Public', 'neutral') : badge('Confidential', 'info'),
        application.allowedGroups.length === 0
          ? html`<span class="empty">everyone</span>`
          : html`${application.allowedGroups.map((group, index) => html`${index > 0 && ', '}${group}${missing.has(group) && html` ${badge('No such group', 'warning')}`}`)}`,
        html`${application.redirectUris.map((uri) => html`<code>${uri}</code><br>`)}`,
        application.public ? html`<span class="empty">no secret</span>` : timeTag(application.previousSecretExpiresAt, 'no previous secret'),
        html`<a class="button default" href="${PATH}/${encodeURIComponent(application.clientId)}">${labelFor('Edit', application.name)}</a>
${!application.public && confirmDialog(request, {
          id: `rotate-${application.clientId}`,
          trigger: 'New secret',
          triggerDetail: `for ${application.name}`,
          title: `Give ${application.name} a new secret?`,
          message: html`<p>${rotationEffect(application, DEFAULT_SECRET_OVERLAP_SECONDS)} To choose another overlap, use the application's page.</p>`,
          action: `${PATH}/${encodeURIComponent(application.clientId)}/secret`,
          fields: { ...onceFields(formSubmissions), ...rotationFields(application) },
          confirmLabel: 'Issue a new secret',
        })}
${confirmDialog(request, {
  id: `delete-${application.clientId}`,
  trigger: 'Delete',
  triggerDetail: application.name,
  title: `Delete ${application.name}?`,
  message: html`<p>Nobody can sign in to ${application.name} through Roster any more, and the tokens it holds stop working.</p>`,
  action: `${PATH}/${encodeURIComponent(application.clientId)}/delete`,
  confirmLabel: `Delete ${application.name}`,
})}`,
      ]),
      empty: 'No applications yet.',
    });
  }

  async function page(request: FastifyRequest, reply: FastifyReply, top: SafeHtml, form: SafeHtml, status = 200, errors?: ErrorSummary): Promise<FastifyReply> {
    const applications = await services.applications.list();
    // An allowed group that does not exist (a typo, or not provisioned yet) lets nobody in: flagged.
    const missing = new Set(await services.applications.missingGroups([...new Set(applications.flatMap((application) => application.allowedGroups))]));
    const issuer = context.baseUrl;
    return sendPage(request, reply, {
      status,
      ...(errors !== undefined ? { errors } : {}),
      title: 'Applications',
      body: html`${top}
<p>Applications sign their users in through Roster with OpenID Connect. Issuer: <code>${issuer}</code>, discovery at <code>${issuer}/.well-known/openid-configuration</code> (<code>docs/applications.md</code>).</p>
${listing(request, applications, missing)}
${form}`,
    });
  }

  const notices = { deleted: { tone: 'success', text: 'The application was deleted.' } } as const;

  app.get(PATH, async (request, reply) => page(request, reply, noticeBanner(request, notices), createForm(request, {})));

  app.post(PATH, async (request, reply) => {
    const name = formValue(request, 'name') ?? '';
    const uris = formValue(request, 'redirectUris') ?? '';
    const groups = formValue(request, 'allowedGroups') ?? '';
    const isPublic = formValue(request, 'public') === 'true';
    const logoutUri = formValue(request, 'backchannelLogoutUri') ?? '';
    const once = await claimForm(request, formSubmissions, { repeatOnSameValues: true });
    if (once.claim !== 'act') {
      return page(request, reply, refusedBanner(once.claim, 'The application was registered then: it is in the list below.'), createForm(request, {}), statusOfRefused(once.claim));
    }
    try {
      const { application, secret } = await services.applications.create({ name, redirectUris: lines(uris), public: isPublic, allowedGroups: lines(groups), backchannelLogoutUri: logoutUri }, actorOf(request));
      const shown = html`${banner({ tone: 'success', takesFocus: true, title: `${application.name} is registered`, body: html`<p>Enter these in the application’s OpenID Connect settings.${secret !== undefined && ' Copy the secret now: Roster keeps only its hash and cannot show it again.'}</p>` })}
${facts([
  ['Client id', copyable({ id: 'client-id', label: 'client id', value: application.clientId })],
  ...(secret !== undefined ? [['Client secret', copyable({ id: 'client-secret', label: 'client secret', value: secret })] as const] : []),
])}
${await missingWarning(application.allowedGroups)}`;
      return page(request, reply, shown, createForm(request, {}), 201);
    } catch (error) {
      await once.release();
      if (!(error instanceof DirectoryError)) throw error;
      return page(request, reply, html``, createForm(request, { name, uris, groups, logoutUri, public: isPublic, error }), 400, refusalOf(error));
    }
  });

  app.post<{ Params: { clientId: string } }>(`${PATH}/:clientId/secret`, async (request, reply) => {
    const chosen = formValue(request, 'overlapSeconds');
    // Absent from the list's dialog and from a page of an older version: the default overlap.
    const overlapSeconds = chosen === undefined ? undefined : /^\d{1,7}$/.test(chosen) ? Number(chosen) : Number.NaN;
    const once = await claimForm(request, formSubmissions);
    if (once.claim !== 'act') {
      const { name } = await services.applications.get(request.params.clientId);
      return page(request, reply, refusedBanner(once.claim, html`${name} was given a new secret then.`), createForm(request, {}), statusOfRefused(once.claim));
    }
    const seen = formValue(request, 'shown.overlapUntil');
    let rotation: SecretRotation;
    try {
      rotation = await services.applications.rotateSecret(request.params.clientId, actorOf(request), {
        ...(overlapSeconds !== undefined ? { overlapSeconds } : {}),
        ...(seen !== undefined ? { seenOverlapUntil: seen === '' ? null : seen } : {}),
      });
    } catch (error) {
      await once.release();
      if (!(error instanceof DirectoryError) || error.code === 'not_found') throw error;
      return page(request, reply, html``, createForm(request, {}), adminStatusOf(error), { title: 'No new secret was issued', problems: [{ message: error.message }] });
    }
    const { application, secret, stoppedOverlapUntil } = rotation;
    const old = application.previousSecretExpiresAt === null
      ? html`The old secret no longer works.`
      : html`The old secret also works until ${timeTag(application.previousSecretExpiresAt)}, so nothing fails while you enter this one in the application's configuration.`;
    const stopped = stoppedOverlapUntil !== null && html` The secret before it, which worked until ${timeTag(stoppedOverlapUntil)}, no longer works (one previous secret at a time).`;
    const shown = html`${banner({ tone: 'success', takesFocus: true, title: `New secret for ${application.name}`, body: html`<p>${old}${stopped} Copy this one now: it cannot be shown again.</p>` })}
${facts([['Client secret', copyable({ id: 'client-secret', label: 'client secret', value: secret })]])}`;
    return page(request, reply, shown, createForm(request, {}));
  });

  app.post<{ Params: { clientId: string } }>(`${PATH}/:clientId/end-overlap`, async (request, reply) => {
    const { ended } = await services.applications.endSecretOverlap(request.params.clientId, actorOf(request));
    return reply.redirect(`${PATH}/${encodeURIComponent(request.params.clientId)}?notice=${ended ? 'overlapEnded' : 'noOverlap'}`, 303);
  });

  app.post<{ Params: { clientId: string } }>(`${PATH}/:clientId/delete`, async (request, reply) => {
    await services.applications.delete(request.params.clientId, actorOf(request));
    return reply.redirect(`${PATH}?notice=deleted`, 303);
  });

  /** The edit page: what cannot change, the warning about missing groups, the form. */
  async function editPage(request: FastifyRequest<{ Params: { clientId: string } }>, reply: FastifyReply, refused?: { values: FormValues; error: DirectoryError }): Promise<FastifyReply> {
    const application = await services.applications.get(request.params.clientId);
    const here = `${PATH}/${encodeURIComponent(application.clientId)}`;
    const values: FormValues = refused?.values ?? { name: application.name, uris: application.redirectUris.join('\n'), groups: application.allowedGroups.join('\n'), logoutUri: application.backchannelLogoutUri ?? '' };
    const pending = await services.applications.pendingLogouts(application.clientId);
    const body = html`${noticeBanner(request, EDIT_NOTICES)}
${await missingWarning(application.allowedGroups)}
${facts([
  ['Client id', html`<code>${application.clientId}</code>`],
  ['Type', application.public ? 'Public (no secret, PKCE required)' : 'Confidential (with a secret)'],
  ['Registered', timeTag(application.createdAt)],
  ['Last changed', timeTag(application.updatedAt)],
  ['Back-channel logout', application.backchannelLogoutUri === null ? html`<span class="empty">none: the application learns of a sign-out at its next refresh</span>` : html`<code>${application.backchannelLogoutUri}</code>`],
  ...(application.public ? [] : [['Previous secret works until', timeTag(application.previousSecretExpiresAt, 'no previous secret')] as const]),
])}
${!application.public && secretSection(request, application)}
<section aria-labelledby="edit-title">
<h2 id="edit-title">Edit</h2>
<p id="edit-note">The client id and the secret stay the same. A redirect URI you remove is refused from the moment you save; a user the allowed groups no longer include is refused at their next token refresh or sign-in.</p>
${postForm(request, {
  action: here,
  label: `Edit ${application.name}`,
  body: html`${applicationFields(values, refused?.error)}
${shownValues(request, { name: application.name, redirectUris: application.redirectUris.join('\n'), allowedGroups: application.allowedGroups.join('\n'), backchannelLogoutUri: application.backchannelLogoutUri ?? '' })}
<div class="actions">${submitButton('Save', { tone: 'primary', describedBy: 'edit-note' })} <a class="button default" href="${PATH}">Cancel</a></div>`,
})}
</section>
${logoutsSection(application, pending)}
<p><a href="${PATH}">All applications</a></p>`;
    return sendPage(request, reply, { title: `Application ${application.name}`, body, ...(refused !== undefined ? { status: adminStatusOf(refused.error), errors: refusalOf(refused.error) } : {}) });
  }

  app.get<{ Params: { clientId: string } }>(`${PATH}/:clientId`, async (request, reply) => editPage(request, reply));

  app.post<{ Params: { clientId: string } }>(`${PATH}/:clientId`, async (request, reply) => {
    const values: FormValues = {
      name: formValue(request, 'name') ?? '',
      uris: formValue(request, 'redirectUris') ?? '',
      groups: formValue(request, 'allowedGroups') ?? '',
      logoutUri: formValue(request, 'backchannelLogoutUri') ?? '',
    };
    try {
      const { changed } = await services.applications.update(request.params.clientId, changesOnPage(request, values), actorOf(request));
      return reply.redirect(`${PATH}/${encodeURIComponent(request.params.clientId)}?notice=${changed.length === 0 ? 'unchanged' : 'saved'}`, 303);
    } catch (error) {
      if (!(error instanceof DirectoryError) || error.code === 'not_found') throw error;
      return editPage(request, reply, { values, error });
    }
  });
}
