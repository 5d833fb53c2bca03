/**
 * SCIM (`/admin/scim`): what to give the identity provider (the SCIM base URL and a token),
 * the tokens (create, with the secret shown once; last use; revoke), and the provisioning
 * activity: the last SCIM requests, to answer "is it calling us, and what failed?".
 *
 * Tokens go through services.tokens and the activity through services.activity, as for the
 * CLI and the admin API. Paths, filters and error details are what a client sent: escaped.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BOOTSTRAP_LOGIN } from '../../../directory/administrators.ts';
import { DirectoryError } from '../../../errors.ts';
import { MAX_TOKEN_NAME_LENGTH, tokenNameProblem } from '../../../auth/tokens.ts';
import { ACCOUNT_LIMITS } from '../../../directory/accounts.ts';
import { SCIM_PREFIX } from '../../routing.ts';
import {
  badge,
  banner,
  confirmDialog,
  copyable,
  dataTable,
  filterLinks,
  formValue,
  hrefWith,
  noticeBanner,
  pagerNav,
  postForm,
  queryValue,
  submitButton,
  textField,
  timeTag,
  type Query,
} from '../components.ts';
import type { ConsoleContext } from '../context.ts';
import { html, type SafeHtml } from '../html.ts';
import { sendPage } from '../layout.ts';
import { AUTHENTICATION_PATH } from './authentication.ts';
import { besideField, type FormFields } from './directory.ts';
import { actorOf } from '../viewer.ts';
import { claimForm, onceField, refusedBanner, statusOfRefused } from '../once.ts';

/** The page's address. */
export const SCIM_PATH = '/admin/scim';
/** Requests shown per page of the activity. */
const ACTIVITY_PAGE_SIZE = 25;

const NOTICES = {
  'token-revoked': { tone: 'success', text: 'The token is revoked: requests that present it are refused from now on.' },
} as const;

/** What the page shows besides the lists: a token just created, or the create form's refusal. */
interface Outcome {
  readonly created?: { readonly name: string; readonly secret: string; readonly owner: string; readonly ownerIsAdministrator: boolean };
  /** What the create form refused, every field at once, in the form's order. */
  readonly errors?: ReadonlyArray<{ readonly field: string; readonly message: string }>;
  readonly values?: { readonly name: string; readonly user: string };
  /** The banner of a repeated or stale post, which created nothing. */
  readonly refused?: SafeHtml;
}

/** The token form's fields, which its error summary links to. */
const TOKEN_FIELDS = { name: { id: 'field-name', label: 'Name' }, user: { id: 'field-user', label: 'Acts as (login)' } } as const satisfies FormFields;

/**
 * A request's path without the SCIM base every one of them starts with (the page shows the base
 * above, and the column says it): the narrow column then holds what tells requests apart.
 */
function underScimBase(path: string): string {
  return path.startsWith(`${SCIM_PREFIX}/`) ? path.slice(SCIM_PREFIX.length) : path;
}

/** Registers the SCIM page and its token forms. */
export function scimPages(app: FastifyInstance, context: ConsoleContext): void {
  const { services } = context;
  const scimBaseUrl = `${context.baseUrl}${SCIM_PREFIX}`;

  async function activitySection(query: Query): Promise<SafeHtml> {
    const failuresOnly = queryValue(query, 'show') === 'failures';
    const cursor = queryValue(query, 'cursor');
    const page = await services.activity.list({ failuresOnly, limit: ACTIVITY_PAGE_SIZE, offset: 0, ...(cursor !== undefined ? { cursor } : {}) });
    const rows = page.requests.map((entry) => [
      timeTag(entry.at),
      html`<code class="nowrap">${entry.method}</code>`,
      html`<code class="path">${underScimBase(entry.path)}</code>${entry.filter !== null && html`<br><span class="hint">filter: <code>${entry.filter}</code></span>`}`,
      badge(String(entry.status), entry.status >= 500 ? 'danger' : entry.status >= 400 ? 'warning' : 'success'),
      `${entry.durationMs} ms`,
      // A short name (entra-id, okta-prod) stays on one line rather than break at its hyphen.
      entry.tokenName === null
        ? html`<span class="empty">no valid token${entry.source !== null ? html` (${entry.source})` : ''}</span>`
        : entry.tokenName.length <= 24
          ? html`<span class="nowrap">${entry.tokenName}</span>`
          : entry.tokenName,
      entry.detail === null ? '' : html`${entry.scimType !== null && html`<code>${entry.scimType}</code>: `}${entry.detail}${entry.count > 1 && html` <span class="hint">(×${entry.count})</span>`}`,
    ]);
    const first = hrefWith(SCIM_PATH, query, { cursor: undefined });
    return html`<section aria-labelledby="activity-title">
<h2 id="activity-title">Provisioning activity</h2>
<p class="hint">The SCIM requests your identity provider made, newest first: never their bodies or secrets. Kept for the retention period (<code>ROSTER_ACTIVITY_RETENTION_DAYS</code>).</p>
${filterLinks({ label: 'Which requests', path: SCIM_PATH, query, param: 'show', options: [{ label: 'All', value: undefined }, { label: 'Failures', value: 'failures' }] })}
${dataTable({
  caption: failuresOnly ? 'Failed SCIM requests' : 'SCIM requests',
  columns: ['Time', 'Method', `Path under ${SCIM_PREFIX}`, 'Status', 'Duration', 'Token', 'Error'],
  rows,
  empty: failuresOnly ? 'No failed SCIM request.' : 'No SCIM request yet: your identity provider has not called Roster (or not within the retention period).',
})}
${pagerNav({
  label: 'Pages of the activity',
  ...(cursor !== undefined ? { previous: first } : {}),
  ...(page.next !== null ? { next: hrefWith(SCIM_PATH, query, { cursor: page.next, confirm: undefined, notice: undefined }) } : {}),
  summary: `${page.total.toLocaleString('en-US')} ${failuresOnly ? 'failed requests' : 'requests'}${cursor !== undefined ? ' · older requests' : ''}`,
})}
</section>`;
  }

  async function scimPage(request: FastifyRequest, reply: FastifyReply, outcome: Outcome, status = 200): Promise<FastifyReply> {
    const query = request.query as Query;
    const [scim, tokens] = await Promise.all([services.provisioning.isScimEnabled(), services.tokens.list()]);
    const live = tokens.filter((token) => token.revokedAt === null);
    const created = outcome.created;
    const fieldError = (field: string) => {
      const refused = outcome.errors?.find((candidate) => candidate.field === field);
      return refused !== undefined ? { error: refused.message } : {};
    };

    const tokenRows = tokens.map((token, index) => [
      html`<strong>${token.name}</strong>`,
      token.userId === null ? html`<span class="empty">nobody</span>` : (token.ownerLogin ?? html`<span class="empty">deleted user</span>`),
      timeTag(token.createdAt),
      timeTag(token.lastUsedAt),
      token.revokedAt === null
        ? confirmDialog(request, {
            id: `revoke-token-${index}`,
            trigger: 'Revoke',
            triggerDetail: token.name,
            title: `Revoke the token ${token.name}?`,
            message: html`<p>Requests that present <strong>${token.name}</strong> are refused from now on. An identity provider that uses it stops provisioning until it is given a new token.</p>`,
            action: `${SCIM_PATH}/tokens/revoke`,
            fields: { name: token.name },
            confirmLabel: `Revoke ${token.name}`,
          })
        : html`${badge('Revoked', 'neutral')} ${timeTag(token.revokedAt)}`,
    ]);

    const body = html`${noticeBanner(request, NOTICES)}
${created !== undefined &&
banner({
  tone: 'success',
  takesFocus: true,
  title: `Token ${created.name} created`,
  body: html`<p>Copy it now: Roster keeps only its hash and <strong>cannot show it again</strong>. Give it to your identity provider as the bearer token (secret token) of the SCIM connection.</p>
${copyable({ id: 'new-token', label: 'the new token', value: created.secret })}
${!created.ownerIsAdministrator && html`<p><strong>${created.owner}</strong> is not an administrator: this token cannot call the SCIM or admin APIs until they are.</p>`}`,
})}
${outcome.refused}
<section aria-labelledby="connection-title">
<h2 id="connection-title">Connection</h2>
${scim
  ? html`<p>${badge('SCIM provisioning is on', 'success')} Your identity provider manages users and groups.</p>`
  : html`<p>${badge('SCIM provisioning is off', 'neutral')} Requests are refused until it is turned on in <a href="${AUTHENTICATION_PATH}">Authentication › Provisioning</a>.</p>`}
${copyable({ id: 'scim-base-url', label: 'the SCIM base URL', value: scimBaseUrl })}
<p class="hint">The tenant URL (SCIM base URL) to give your identity provider, with a token below.</p>
</section>
<section aria-labelledby="tokens-title">
<h2 id="tokens-title">Tokens</h2>
<p class="hint">A token acts as its user and may call the SCIM and admin APIs while that user is an administrator. ${live.length} live ${live.length === 1 ? 'token' : 'tokens'}.</p>
${dataTable({ caption: 'Tokens', captionHidden: true, columns: ['Name', 'Acts as', 'Created', 'Last used', ''], rows: tokenRows, empty: 'No token yet: create one for your identity provider.' })}
<h3 id="create-token-title">Create a token</h3>
${postForm(request, {
  action: `${SCIM_PATH}/tokens`,
  label: 'Create a token',
  className: 'stack',
  body: html`${onceField(services.formSubmissions)}${textField({ name: 'name', label: TOKEN_FIELDS.name.label, value: outcome.values?.name ?? '', required: true, maxLength: MAX_TOKEN_NAME_LENGTH, spellcheck: false, hint: 'Unique among live tokens, e.g. entra-id or okta.', ...fieldError('name') })}
${textField({ name: 'user', label: TOKEN_FIELDS.user.label, value: outcome.values?.user ?? BOOTSTRAP_LOGIN, required: true, maxLength: ACCOUNT_LIMITS.login.max, spellcheck: false, hint: `The administrator the token acts as. For an identity provider, prefer a local one such as ${BOOTSTRAP_LOGIN}: a provisioned one loses the token's access if the identity provider changes its groups.`, ...fieldError('user') })}
<div class="actions">${submitButton('Create token', { tone: 'primary' })}</div>`,
})}
</section>
${await activitySection(query)}`;
    const errors = outcome.errors ?? [];
    return sendPage(request, reply, {
      status,
      title: 'SCIM',
      body,
      ...(errors.length > 0
        ? { errors: { title: 'The token was not created', problems: errors.map((error) => ({ message: error.message, ...((TOKEN_FIELDS as FormFields)[error.field] !== undefined ? { field: (TOKEN_FIELDS as FormFields)[error.field] } : {}) })) } }
        : {}),
    });
  }

  app.get(SCIM_PATH, async (request, reply) => scimPage(request, reply, {}));

  app.post(`${SCIM_PATH}/tokens`, async (request, reply) => {
    const name = formValue(request, 'name') ?? '';
    const login = (formValue(request, 'user') ?? '').trim();
    const values = { name, user: login };
    const once = await claimForm(request, services.formSubmissions);
    if (once.claim !== 'act') {
      return scimPage(request, reply, { refused: refusedBanner(once.claim, 'The token was created then: it is in the list of tokens.') }, statusOfRefused(once.claim));
    }
    // Both fields checked before answering, so that a form with both wrong says so at once.
    const nameProblem = tokenNameProblem(name);
    const user = login === '' ? undefined : await services.accounts.findByLogin(login);
    const errors = [
      ...(nameProblem !== undefined ? [{ field: 'name', message: nameProblem }] : []),
      ...(user === undefined ? [{ field: 'user', message: login === '' ? 'Enter the login of the user the token acts as.' : `No user has the login "${login}".` }] : []),
    ];
    if (user === undefined || errors.length > 0) {
      await once.release();
      return scimPage(request, reply, { errors, values }, errors.length === 1 && user === undefined && login !== '' ? 404 : 400);
    }
    try {
      const { token, record } = await services.tokens.create(name, actorOf(request), user.id);
      // Answered here, not redirected: the secret must never be in a URL or stored to be shown later;
      // the form's one-time token keeps a reload of this answer from creating another token.
      return scimPage(request, reply, { created: { name: record.name, secret: token, owner: user.login, ownerIsAdministrator: await services.access.isAdministrator(user.id) } }, 201);
    } catch (error) {
      await once.release();
      if (!(error instanceof DirectoryError)) throw error;
      return scimPage(request, reply, { errors: [{ field: error.field ?? 'name', message: besideField(error) }], values }, error.code === 'conflict' ? 409 : 400);
    }
  });

  app.post(`${SCIM_PATH}/tokens/revoke`, async (request, reply) => {
    const name = formValue(request, 'name') ?? '';
    if (!(await services.tokens.revoke(name, actorOf(request)))) throw new DirectoryError('not_found', `No live token is named "${name}".`, 'name');
    return reply.redirect(`${SCIM_PATH}?notice=token-revoked`, 303);
  });
}
