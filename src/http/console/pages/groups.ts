/**
 * The Groups pages of the administration (issue 9): `/admin/groups` (search, filters, paging,
 * create, delete) and `/admin/groups/<id>` (rename, members searched and paged in SQL, so a
 * 100k-member group is never loaded whole; add and remove members).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DirectoryError } from '../../../errors.ts';
import { deletionRefusal, GROUP_LIMITS } from '../../../directory/group-management.ts';
import { ACCOUNT_LIMITS } from '../../../directory/accounts.ts';
import { membershipId } from '../../../directory/memberships.ts';
import type { StoredGroup } from '../../../store/groups.ts';
import {
  confirmDialog, dataTable, editedOnPage, emptyPageText, labelFor, facts, formValue, shownValues, noticeBanner, pageOf, pager, postForm, queryValue, searchForm, submitButton, textField, timeTag,
  type Query,
} from '../components.ts';
import type { ConsoleContext } from '../context.ts';
import { html, type SafeHtml } from '../html.ts';
import { sendPage } from '../layout.ts';
import { attempt, fieldError, managedBanner, managedFilter, refusalSummary, sourceBadge, sourceFilter, adminGroupBadge, inactiveBadge, type FormFields, type Refusal } from './directory.ts';
import { actorOf, viewerOf } from '../viewer.ts';

const GROUPS = '/admin/groups';
const PAGE_SIZE = 50;

const NOTICES = {
  created: { tone: 'success', text: 'The group was created.' },
  renamed: { tone: 'success', text: 'The group was changed.' },
  unchanged: { tone: 'info', text: 'Nothing was changed: the form held the values the group already had.' },
  deleted: { tone: 'success', text: 'The group was deleted.' },
  added: { tone: 'success', text: 'The member was added.' },
  removed: { tone: 'success', text: 'The member was removed.' },
} as const;

/** What a group form was sent with, to show it again with the refusal. */
interface GroupValues {
  readonly name?: string;
  readonly description?: string;
  readonly login?: string;
}

/** The form fields of a create or rename. */
function groupFields(values: GroupValues, disabled: boolean, prefix: string, refusal?: Refusal): SafeHtml {
  const fields = groupFieldIds(prefix);
  return html`${textField({ id: fields.name.id, name: 'name', label: fields.name.label, value: values.name ?? '', required: true, maxLength: GROUP_LIMITS.name, disabled, autocomplete: 'off', ...fieldError(refusal, 'name') })}
${textField({ id: fields.description.id, name: 'description', label: fields.description.label, value: values.description ?? '', maxLength: GROUP_LIMITS.description, disabled, autocomplete: 'off', ...fieldError(refusal, 'description') })}`;
}

/** The group form's fields a refusal may name, with their element ids (`prefix`: create or rename) and labels. */
function groupFieldIds(prefix: string) {
  return { name: { id: `${prefix}-name`, label: 'Name' }, description: { id: `${prefix}-description`, label: 'Description' } } as const satisfies FormFields;
}

/** The add-member form's field: a refused login is marked on it. */
const MEMBER_FIELDS = { login: { id: 'add-login', label: 'Add a member by login' } } as const satisfies FormFields;

/** A delete button with its confirmation naming the group, or the same greyed out with the domain's reason. */
function deleteControl(request: FastifyRequest, group: StoredGroup, id: string, members?: number): SafeHtml {
  const refusal = deletionRefusal(group);
  if (refusal !== undefined) {
    return html`${submitButton(labelFor('Delete', group.name), { tone: 'danger', disabled: true, describedBy: `${id}-why` })}<span class="visually-hidden" id="${id}-why">${refusal.message}</span>`;
  }
  return confirmDialog(request, {
    id,
    trigger: 'Delete',
    triggerDetail: group.name,
    title: `Delete the group ${group.name}?`,
    message: members === 0
      ? html`<p>The group <strong>${group.name}</strong>, which has no members, is deleted. This cannot be undone.</p>`
      : html`<p>The group <strong>${group.name}</strong> and ${members === undefined ? 'all its memberships' : members === 1 ? 'its one membership' : `its ${members.toLocaleString('en-US')} memberships`} are deleted. This cannot be undone.</p>`,
    action: `${GROUPS}/${encodeURIComponent(group.id)}/delete`,
    confirmLabel: `Delete ${group.name}`,
  });
}

/** Registers the Groups pages. */
export function groupPages(app: FastifyInstance, context: ConsoleContext): void {
  const { services } = context;

  async function listPage(request: FastifyRequest, reply: FastifyReply, values: GroupValues = {}, refusal?: Refusal): Promise<FastifyReply> {
    const query = request.query as Query;
    const scimOn = await services.provisioning.isScimEnabled();
    const page = pageOf(query, { defaultSize: PAGE_SIZE });
    const q = queryValue(query, 'q')?.trim();
    const listed = await attempt(() => services.groupManagement.list({ ...(q !== undefined && q !== '' ? { q } : {}), ...managedFilter(query) }, { offset: page.offset, limit: page.pageSize }));
    const shown = refusal ?? (listed.ok ? undefined : listed.refusal);
    const { groups, total } = listed.ok ? listed.value : { groups: [], total: 0 };
    const rows = groups.map((group, index) => [
      html`<a href="${GROUPS}/${encodeURIComponent(group.id)}">${group.name}</a>${adminGroupBadge(services.access.isAdminGroup(group.name))} ${sourceBadge(scimOn, group)}`,
      group.description ?? '',
      deleteControl(request, group, `delete-${index + 1}`),
    ]);
    // A refusal of the create form (sent with its values) is shown at its field.
    const created = values.name !== undefined ? refusal : undefined;
    const body = html`${noticeBanner(request, NOTICES)}${scimOn && managedBanner('groups')}
${searchForm({ path: GROUPS, query, label: 'Search groups', placeholder: 'Name' })}
${scimOn && sourceFilter(GROUPS, query)}
${dataTable({ caption: 'Groups', captionHidden: true, columns: ['Name', 'Description', 'Actions'], rows, empty: emptyPageText({ page, total, empty: q ? `No group matches “${q}”.` : 'No groups.' }) })}
${pager({ path: GROUPS, query, page, total, noun: total === 1 ? 'group' : 'groups' })}
<section aria-labelledby="create-title">
<h2 id="create-title">Create a group</h2>
${postForm(request, {
  action: GROUPS,
  label: 'Create a group',
  body: html`${groupFields(values, scimOn, 'create', created)}${submitButton('Create group', { tone: 'primary', disabled: scimOn, ...(scimOn ? { describedBy: 'managed-note' } : {}) })}`,
})}
</section>`;
    return sendPage(request, reply, { title: 'Groups', body, ...(shown !== undefined ? { status: shown.status, errors: refusalSummary(shown, created === undefined ? {} : groupFieldIds('create')) } : {}) });
  }

  async function groupPage(request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply, values: GroupValues = {}, refusal?: Refusal): Promise<FastifyReply> {
    const group = await services.groupManagement.get(request.params.id);
    const scimOn = await services.provisioning.isScimEnabled();
    const query = request.query as Query;
    const path = `${GROUPS}/${encodeURIComponent(group.id)}`;
    const page = pageOf(query, { defaultSize: PAGE_SIZE });
    const q = queryValue(query, 'q')?.trim();
    // Members through the accounts list filtered by group: searched, counted and paged in SQL.
    const [members, all] = await Promise.all([
      services.accounts.list({ groupId: group.id, ...(q !== undefined && q !== '' ? { q } : {}) }, { offset: page.offset, limit: page.pageSize }),
      services.memberships.list({ groupId: group.id }, { offset: 0, limit: 0 }),
    ]);
    const viewer = viewerOf(request).user;
    const isAdminGroup = services.access.isAdminGroup(group.name);
    const rows = members.users.map((user) => [
      html`<a href="/admin/users/${encodeURIComponent(user.id)}">${user.login}</a> ${inactiveBadge(user)}`,
      user.displayName ?? '',
      user.email ?? '',
      confirmDialog(request, {
        id: `remove-${user.id}`,
        trigger: 'Remove',
        triggerDetail: user.login,
        title: `Remove ${user.login} from ${group.name}?`,
        message: user.id === viewer.id && isAdminGroup
          ? html`<p><strong>You are removing yourself from the administrators' group:</strong> you lose the administration pages at once, unless your account is an administrator of its own (as <code>admin</code> is).</p>`
          : html`<p>${user.login} loses what membership of ${group.name} gives: the applications and permissions that rely on it.</p>`,
        action: `${path}/members/remove`,
        fields: { userId: user.id },
        confirmLabel: `Remove ${user.login}`,
        query,
        disabled: scimOn,
        ...(scimOn ? { describedBy: 'managed-note' } : {}),
      }),
    ]);
    // A refusal of the rename form (sent with its values) is shown at its field, as is one of the add-member form.
    const renamed = values.name !== undefined ? refusal : undefined;
    const addError = values.login !== undefined ? fieldError(refusal, 'login').error : undefined;
    const body = html`${noticeBanner(request, NOTICES)}${scimOn && managedBanner('groups')}
<section aria-labelledby="about-title">
<h2 id="about-title">About</h2>
${facts([
  ['Name', group.name],
  ['Description', group.description ?? html`<span class="empty">none</span>`],
  ...(isAdminGroup ? [['Grants', html`Administration of Roster: its active members are administrators (the group named by <code>ROSTER_ADMIN_GROUP</code>).`] as const] : []),
  ['Source', html`${group.scimId !== null ? 'Provisioned by your identity provider (SCIM)' : 'Local'} ${sourceBadge(scimOn, group)}`],
  ['Members', all.total.toLocaleString('en-US')],
  ['Created', timeTag(group.createdAt)],
  ['Changed', timeTag(group.updatedAt)],
])}
<div class="actions">${deleteControl(request, group, 'delete-group', all.total)}</div>
</section>
<section aria-labelledby="members-title">
<h2 id="members-title">Members</h2>
${postForm(request, {
  action: `${path}/members`,
  label: 'Add a member',
  className: 'search',
  body: html`<label for="add-login">${MEMBER_FIELDS.login.label}</label><input id="add-login" name="login" type="text" required maxlength="${ACCOUNT_LIMITS.login.max}" autocomplete="off" spellcheck="false" value="${values.login ?? ''}"${scimOn && html` disabled`}${addError !== undefined && html` aria-invalid="true" aria-describedby="add-login-error"`}>${submitButton('Add', { disabled: scimOn, ...(scimOn ? { describedBy: 'managed-note' } : {}) })}${addError !== undefined && html`<p class="field-error" id="add-login-error">${addError}</p>`}`,
})}
${searchForm({ path, query, label: 'Search members', placeholder: 'Login, name or email' })}
${dataTable({ caption: `Members of ${group.name}`, captionHidden: true, columns: ['Login', 'Name', 'Email', 'Actions'], rows, empty: emptyPageText({ page, total: members.total, empty: q ? `No member matches “${q}”.` : 'No members.' }) })}
${pager({ path, query, page, total: members.total, noun: members.total === 1 ? 'member' : 'members' })}
</section>
<section aria-labelledby="rename-title">
<h2 id="rename-title">Rename</h2>
${postForm(request, {
  action: path,
  label: 'Rename the group',
  body: html`${groupFields({ name: values.name ?? group.name, description: values.description ?? group.description ?? '' }, scimOn, 'rename', renamed)}${shownValues(request, { name: group.name, description: group.description ?? '' })}${submitButton('Save', { tone: 'primary', disabled: scimOn, ...(scimOn ? { describedBy: 'managed-note' } : {}) })}`,
})}
</section>`;
    return sendPage(request, reply, {
      title: group.name,
      heading: html`<h1>${group.name}${adminGroupBadge(isAdminGroup)} ${sourceBadge(scimOn, group)}</h1><p><a href="${GROUPS}">All groups</a></p>`,
      body,
      ...(refusal !== undefined ? { status: refusal.status, errors: refusalSummary(refusal, renamed !== undefined ? groupFieldIds('rename') : values.login !== undefined ? MEMBER_FIELDS : {}) } : {}),
    });
  }

  function groupValues(request: FastifyRequest): GroupValues {
    return { name: formValue(request, 'name') ?? '', description: formValue(request, 'description') ?? '' };
  }

  app.get(GROUPS, async (request, reply) => listPage(request, reply));

  app.post(GROUPS, async (request, reply) => {
    const values = groupValues(request);
    const created = await attempt(() => services.groupManagement.create({ name: values.name, description: values.description === '' ? null : values.description }, actorOf(request)));
    if (!created.ok) return listPage(request, reply, values, created.refusal);
    return reply.redirect(`${GROUPS}/${encodeURIComponent(created.value.id)}?notice=created`, 303);
  });

  app.get<{ Params: { id: string } }>(`${GROUPS}/:id`, async (request, reply) => groupPage(request, reply));

  app.post<{ Params: { id: string } }>(`${GROUPS}/:id`, async (request, reply) => {
    const values = groupValues(request);
    const current = await services.groupManagement.get(request.params.id);
    // Only what was changed on the page: a field changed meanwhile by someone else keeps that change.
    // An empty description field clears it; a group that had none keeps null.
    const description = values.description === '' ? null : values.description;
    const patch = {
      ...(editedOnPage(request, 'name') ? { name: values.name } : {}),
      ...(editedOnPage(request, 'description') ? { description } : {}),
    };
    const changed = await attempt(() => services.groupManagement.update(current.id, patch, actorOf(request)));
    if (!changed.ok) return groupPage(request, reply, values, changed.refusal);
    // A save that wrote nothing (every field as stored) leaves the version as it was.
    const notice = changed.value.version === current.version ? 'unchanged' : 'renamed';
    return reply.redirect(`${GROUPS}/${encodeURIComponent(current.id)}?notice=${notice}`, 303);
  });

  app.post<{ Params: { id: string } }>(`${GROUPS}/:id/delete`, async (request, reply) => {
    const done = await attempt(() => services.groupManagement.delete(request.params.id, actorOf(request)));
    if (!done.ok) return groupPage(request, reply, {}, done.refusal);
    return reply.redirect(`${GROUPS}?notice=deleted`, 303);
  });

  app.post<{ Params: { id: string } }>(`${GROUPS}/:id/members`, async (request, reply) => {
    const group = await services.groupManagement.get(request.params.id);
    const login = (formValue(request, 'login') ?? '').trim();
    const added = await attempt(async () => {
      const user = login === '' ? undefined : await services.accounts.findByLogin(login);
      if (user === undefined) throw new DirectoryError('not_found', login === '' ? 'Type the login of the user to add.' : `No user has the login '${login}'.`, 'login');
      return services.memberships.add({ groupId: group.id, userId: user.id }, actorOf(request)).catch((error: unknown) => {
        // Refused for the user typed (already a member, deactivated; the API's `userId`): said
        // beside the login field, which stands for it here.
        if (error instanceof DirectoryError && error.field === 'userId') throw new DirectoryError(error.code, error.message, 'login');
        throw error;
      });
    });
    if (!added.ok) return groupPage(request, reply, { login }, added.refusal);
    return reply.redirect(`${GROUPS}/${encodeURIComponent(group.id)}?notice=added`, 303);
  });

  app.post<{ Params: { id: string } }>(`${GROUPS}/:id/members/remove`, async (request, reply) => {
    const group = await services.groupManagement.get(request.params.id);
    const userId = formValue(request, 'userId') ?? '';
    const removed = await attempt(() => services.memberships.remove(membershipId(group.id, userId), actorOf(request)));
    if (!removed.ok) return groupPage(request, reply, {}, removed.refusal);
    return reply.redirect(`${GROUPS}/${encodeURIComponent(group.id)}?notice=removed`, 303);
  });
}
