/**
 * Audit log (`/admin/audit`): the audit trail, newest first, filtered by actor, action, target
 * and time, paged by cursor (as cheap deep in the log as at its start), with links to export
 * what the filters select (the admin API's `/api/v2/audit-logs/export`, which accepts an
 * administrator's session for GET). The filters are read by the API's own parseEventFilter,
 * so they accept and refuse the same values with the same messages.
 */
import type { FastifyInstance } from 'fastify';
import { AUDIT_TARGET_TYPES, parseEventFilter, type AuditEntry } from '../../../directory/audit-log.ts';
import { DirectoryError } from '../../../errors.ts';
import { shorten } from '../../../text.ts';
import { dataTable, hrefWith, pagerNav, queryValue, selectField, submitButton, textField, timeTag, type Query } from '../components.ts';
import type { ConsoleContext } from '../context.ts';
import { html, type SafeHtml } from '../html.ts';
import { sendPage } from '../layout.ts';
import { fieldError, refusalOf, refusalSummary, type FormFields, type Refusal } from './directory.ts';

/** The page's address. */
export const AUDIT_PATH = '/admin/audit';
const EXPORT_PATH = '/api/v2/audit-logs/export';
const PAGE_SIZE = 50;
/** The most characters of an entry's details shown in the table (the export has them whole). */
const MAX_DETAILS = 300;
const FILTERS = ['actor', 'action', 'targetType', 'targetId', 'from', 'to'] as const;

/** The filters present in the query, as the API reads them (blank ones left out). */
function filtersOf(query: Query): Record<string, string> {
  const filters: Record<string, string> = {};
  for (const name of FILTERS) {
    const value = queryValue(query, name)?.trim();
    if (value !== undefined && value !== '') filters[name] = value;
  }
  return filters;
}

function detailsText(entry: AuditEntry): string {
  if (entry.details === null || entry.details === undefined) return '';
  return shorten(typeof entry.details === 'string' ? entry.details : JSON.stringify(entry.details), MAX_DETAILS);
}

/**
 * Where the console shows a named target: a user's, a group's, an application's or a webhook's
 * own page; tokens have none, and link to the list of tokens on the SCIM page.
 */
const TARGET_PAGES: Readonly<Record<string, (id: string) => string>> = {
  user: (id) => `/admin/users/${encodeURIComponent(id)}`,
  group: (id) => `/admin/groups/${encodeURIComponent(id)}`,
  application: (id) => `/admin/applications/${encodeURIComponent(id)}`,
  webhook: (id) => `/admin/webhooks/${encodeURIComponent(id)}`,
  token: () => '/admin/scim#tokens-title',
};

/**
 * The target's type, and what it is: its current name (login, group, application or token name,
 * webhook URL) linking to where the console shows it while it exists, its whole id otherwise,
 * wrapping rather than squeezing the details. A cut-off id (`3f2a9c1e-7b4d…`) told an
 * administrator nothing until opened.
 */
function targetCell(entry: AuditEntry, names: ReadonlyMap<string, string>): SafeHtml {
  if (entry.targetId === null) return html`${entry.targetType}`;
  const page = TARGET_PAGES[entry.targetType];
  const name = names.get(`${entry.targetType}:${entry.targetId}`);
  if (page === undefined || name === undefined) {
    return html`${entry.targetType}<br><code class="path">${entry.targetId}</code>${page !== undefined && html`<br><span class="hint">no longer exists</span>`}`;
  }
  return html`${entry.targetType}<br><a class="target-name" href="${page(entry.targetId)}" title="${entry.targetType} ${entry.targetId}"><bdi>${name}</bdi></a>`;
}

function exportHref(format: 'csv' | 'jsonl', filters: Record<string, string>): string {
  return `${EXPORT_PATH}?${new URLSearchParams({ format, ...filters }).toString()}`;
}

/** The filter form's fields, which a refused filter is marked on (and linked to from the error summary). */
const FILTER_FIELDS = {
  actor: { id: 'field-actor', label: 'Actor' },
  action: { id: 'field-action', label: 'Action' },
  targetType: { id: 'field-targetType', label: 'Target type' },
  targetId: { id: 'field-targetId', label: 'Target ID' },
  from: { id: 'field-from', label: 'From' },
  to: { id: 'field-to', label: 'To' },
} as const satisfies FormFields;

/** Registers the Audit log page. */
export function auditPages(app: FastifyInstance, context: ConsoleContext): void {
  const { services } = context;

  app.get(AUDIT_PATH, async (request, reply) => {
    const query = request.query as Query;
    const filters = filtersOf(query);
    const cursor = queryValue(query, 'cursor');
    let list: SafeHtml;
    let status = 200;
    let refusal: Refusal | undefined;
    try {
      const page = await services.auditLog.list(parseEventFilter(filters), { offset: 0, limit: PAGE_SIZE, ascending: false, ...(cursor !== undefined ? { cursor } : {}) });
      const names = await services.auditLog.targetNames(page.events);
      const first = hrefWith(AUDIT_PATH, query, { cursor: undefined });
      list = html`${dataTable({
        caption: 'Audit entries, newest first',
        captionHidden: true,
        columns: ['Time', 'Actor', 'Action', 'Target', 'Details'],
        rows: page.events.map((entry) => [
          timeTag(entry.at),
          html`<code class="nowrap">${entry.actor}</code>${entry.actorUser !== null && !entry.actor.endsWith(`:${entry.actorUser}`) && html`<br><span class="hint">${entry.actorUser}</span>`}`,
          html`<code class="nowrap">${entry.action}</code>`,
          targetCell(entry, names),
          html`<code class="details">${detailsText(entry)}</code>`,
        ]),
        empty: Object.keys(filters).length > 0 ? 'No entry matches these filters.' : 'The audit log is empty.',
      })}
${pagerNav({
  label: 'Pages of the audit log',
  ...(cursor !== undefined ? { previous: first } : {}),
  ...(page.next !== null ? { next: hrefWith(AUDIT_PATH, query, { cursor: page.next }) } : {}),
  summary: `${page.total.toLocaleString('en-US')} ${page.total === 1 ? 'entry' : 'entries'}${cursor !== undefined ? ' · older entries' : ''}`,
})}`;
    } catch (error) {
      // A filter the API would refuse (a malformed date, an unknown target type): its message, on the page.
      if (!(error instanceof DirectoryError)) throw error;
      status = 400;
      refusal = refusalOf(error);
      list = html``;
    }

    const value = (name: string) => queryValue(query, name) ?? '';
    const body = html`<form method="get" action="${AUDIT_PATH}" class="filters-form" aria-label="Filter the audit log">
${textField({ name: 'actor', label: FILTER_FIELDS.actor.label, value: value('actor'), spellcheck: false, hint: 'A login, or token:<name>, session:<login>, cli …', ...fieldError(refusal, 'actor') })}
${textField({ name: 'action', label: FILTER_FIELDS.action.label, value: value('action'), spellcheck: false, hint: 'user.created, or a prefix: user.*', ...fieldError(refusal, 'action') })}
${selectField({ name: 'targetType', label: FILTER_FIELDS.targetType.label, value: value('targetType'), options: [{ value: '', label: 'Any' }, ...AUDIT_TARGET_TYPES.map((type) => ({ value: type, label: type }))], ...fieldError(refusal, 'targetType') })}
${textField({ name: 'targetId', label: FILTER_FIELDS.targetId.label, value: value('targetId'), spellcheck: false, ...fieldError(refusal, 'targetId') })}
${textField({ name: 'from', label: FILTER_FIELDS.from.label, value: value('from'), spellcheck: false, hint: 'Inclusive, ISO 8601: 2025-01-31 or 2025-01-31T12:00:00Z', ...fieldError(refusal, 'from') })}
${textField({ name: 'to', label: FILTER_FIELDS.to.label, value: value('to'), spellcheck: false, hint: 'Exclusive, ISO 8601', ...fieldError(refusal, 'to') })}
<div class="actions">${submitButton('Filter', { tone: 'primary' })} <a class="button default" href="${AUDIT_PATH}">Clear</a></div>
</form>
${refusal === undefined
  ? html`<p class="export">Export ${Object.keys(filters).length > 0 ? 'the entries these filters select' : 'the whole log'}: <a href="${exportHref('csv', filters)}" download>CSV</a> · <a href="${exportHref('jsonl', filters)}" download>JSON lines</a></p>`
  : html`<p class="export hint">Correct the filters to export what they select (the export refuses them too).</p>`}
<p class="hint">Kept for ever unless <code>ROSTER_AUDIT_RETENTION_DAYS</code> is set; each clean-up then leaves an <code>audit.purged</code> entry.</p>
${list}`;
    return sendPage(request, reply, { status, title: 'Audit log', body, ...(refusal !== undefined ? { errors: refusalSummary(refusal, FILTER_FIELDS, 'These filters cannot be used') } : {}) });
  });
}
