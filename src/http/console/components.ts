/**
 * The console's building blocks: forms (with the CSRF token), fields with labels, buttons,
 * a confirmation dialog that works without scripts, paging, search and filter links, badges,
 * banners, tables and times. Each returns SafeHtml built with `html`, so everything they show
 * is escaped; styles live in assets/console.css under the class names used here.
 */
import type { FastifyRequest } from 'fastify';
import { CSRF_FIELD } from '../csrf.ts';
import { html, type HtmlValue, type SafeHtml } from './html.ts';
import { viewerOf } from './viewer.ts';
import { readableTime } from '../../text.ts';

/** Query parameters as Fastify parses them. */
export type Query = Readonly<Record<string, string | readonly string[] | undefined>>;

/** The visual weight of a button or dialog. */
export type ButtonTone = 'primary' | 'danger' | 'default';
/** The tone of a badge. */
export type BadgeTone = 'neutral' | 'info' | 'success' | 'warning' | 'danger';
/** The tone of a banner; 'error' is announced at once to screen readers (role=alert). */
export type BannerTone = 'info' | 'success' | 'warning' | 'error';

/** The first value of a query parameter, or undefined. */
export function queryValue(query: Query | undefined, name: string): string | undefined {
  const value = query?.[name];
  return typeof value === 'string' ? value : value?.[0];
}

/** A form body as the console's parser gives it: repeated fields become lists. */
export type FormBody = Readonly<Record<string, string | readonly string[]>>;

/** The first value of a posted form field, or undefined. */
export function formValue(request: FastifyRequest, name: string): string | undefined {
  const body = request.body as FormBody | undefined;
  const value = body?.[name];
  return typeof value === 'string' ? value : value?.[0];
}

/** Every value of a posted form field (checkbox lists, multi-selects). */
export function formValues(request: FastifyRequest, name: string): readonly string[] {
  const body = request.body as FormBody | undefined;
  const value = body?.[name];
  return value === undefined ? [] : typeof value === 'string' ? [value] : value;
}

/**
 * Edit forms carry the values they were shown with, in hidden fields, so that saving sends only
 * what the administrator changed on the page: a field another administrator changed meanwhile
 * keeps that change (a stale form used to write back every value it showed: a group renamed to
 * take rights away was renamed back by someone else's description edit).
 */
const SHOWN_PREFIX = 'shown.';

/**
 * Hidden fields holding the values the form shows, `stored` as read now; a form shown again (after
 * a refusal) keeps those its page first showed, so that its next save still sends only what was
 * changed on it.
 */
export function shownValues(request: FastifyRequest, stored: Readonly<Record<string, string>>): SafeHtml {
  return html`${Object.entries(stored).map(([name, value]) => html`<input type="hidden" name="${SHOWN_PREFIX}${name}" value="${shownValue(request, name) ?? value}">`)}`;
}

/** The value field `name` was shown with, from the form's answer; undefined from a form without it. */
export function shownValue(request: FastifyRequest, name: string): string | undefined {
  return formValue(request, `${SHOWN_PREFIX}${name}`);
}

/**
 * Whether the administrator changed field `name` on the page: sent, and different from the value
 * it was shown with (a form without the hidden field, from before it existed, counts as changed).
 */
export function editedOnPage(request: FastifyRequest, name: string, kind: 'text' | 'checkbox' = 'text'): boolean {
  // An unticked checkbox sends nothing: it says false.
  const sent = kind === 'checkbox' ? String(formValue(request, name) === 'true') : formValue(request, name);
  if (sent === undefined) return false;
  const shown = shownValue(request, name);
  return shown === undefined || normalisedLines(sent) !== normalisedLines(shown);
}

/** Browsers send a textarea's line breaks as CRLF whatever the page held. */
function normalisedLines(value: string): string {
  return value.replace(/\r\n?/g, '\n');
}

/** `path?query` with `changes` applied to `query` (undefined or '' removes a parameter). */
export function hrefWith(path: string, query: Query, changes: Readonly<Record<string, string | number | undefined>> = {}): string {
  const params = new URLSearchParams();
  const names = new Set([...Object.keys(query), ...Object.keys(changes)]);
  for (const name of names) {
    const value = Object.hasOwn(changes, name) ? changes[name] : queryValue(query, name);
    if (value !== undefined && value !== '') params.set(name, String(value));
  }
  const search = params.toString();
  return search === '' ? path : `${path}?${search}`;
}

/** The hidden field with the viewer's CSRF token; every POST form of a signed-in page needs it. */
export function csrfField(request: FastifyRequest): SafeHtml {
  return html`<input type="hidden" name="${CSRF_FIELD}" value="${viewerOf(request).csrfToken}">`;
}

/** Hidden inputs, one per field. */
export function hiddenFields(fields: Readonly<Record<string, string | number | undefined>>): SafeHtml {
  return html`${Object.entries(fields)
    .filter((entry): entry is [string, string | number] => entry[1] !== undefined)
    .map(([name, value]) => html`<input type="hidden" name="${name}" value="${String(value)}">`)}`;
}

/** A POST form to `action` with the CSRF token; `label` names it for assistive technology. */
export function postForm(request: FastifyRequest, options: { readonly action: string; readonly body: HtmlValue; readonly label?: string; readonly className?: string }): SafeHtml {
  return html`<form method="post" action="${options.action}"${options.className === undefined ? '' : html` class="${options.className}"`}${options.label === undefined ? '' : html` aria-label="${options.label}"`}>${csrfField(request)}${options.body}</form>`;
}

/** A submit button. A disabled one should be explained by visible text it points to (`describedBy`). */
export function submitButton(
  label: string | SafeHtml,
  options: { readonly tone?: ButtonTone; readonly disabled?: boolean; readonly describedBy?: string; readonly name?: string; readonly value?: string; readonly formAction?: string } = {},
): SafeHtml {
  // formAction: this button posts the whole form elsewhere, without the browser's required-field
  // checks (a step that fills the form in, before the fields are complete).
  return html`<button type="submit" class="button ${options.tone ?? 'default'}"${options.name === undefined ? '' : html` name="${options.name}" value="${options.value ?? ''}"`}${options.formAction === undefined ? '' : html` formaction="${options.formAction}" formnovalidate`}${options.disabled === true ? html` disabled` : ''}${options.describedBy === undefined ? '' : html` aria-describedby="${options.describedBy}"`}>${label}</button>`;
}

/**
 * A button's label with what it acts on after it, visually hidden: in a table each row's button
 * shows "Deactivate" but is named "Deactivate alice" for a screen reader, which lists the
 * buttons of a page by name.
 */
export function labelFor(label: string, detail: string): SafeHtml {
  return html`${label}<span class="visually-hidden"> ${detail}</span>`;
}

/** A form that is one button posting to `action` (with hidden `fields`): "Revoke", "Sign out" … */
export function actionButton(
  request: FastifyRequest,
  options: { readonly action: string; readonly label: string | SafeHtml; readonly fields?: Readonly<Record<string, string | number | undefined>>; readonly tone?: ButtonTone; readonly disabled?: boolean; readonly describedBy?: string },
): SafeHtml {
  const button = submitButton(options.label, {
    ...(options.tone !== undefined ? { tone: options.tone } : {}),
    ...(options.disabled !== undefined ? { disabled: options.disabled } : {}),
    ...(options.describedBy !== undefined ? { describedBy: options.describedBy } : {}),
  });
  return postForm(request, { action: options.action, className: 'inline', body: html`${hiddenFields(options.fields ?? {})}${button}` });
}

/** Options shared by the labelled fields. */
interface FieldOptions {
  readonly name: string;
  readonly label: string;
  /** Defaults to `field-<name>`. */
  readonly id?: string;
  /** Help shown under the field and announced with it. */
  readonly hint?: HtmlValue;
  /** An error shown under the field; marks it invalid. */
  readonly error?: string;
  readonly required?: boolean;
  readonly disabled?: boolean;
  /** The id of text elsewhere on the page announced with the field before its own (a notice the page opens with, when the field takes the focus). */
  readonly describedBy?: string;
}

function describedBy(id: string, options: FieldOptions): { attribute: SafeHtml; notes: SafeHtml } {
  const ids = [options.describedBy, options.hint !== undefined ? `${id}-hint` : undefined, options.error !== undefined ? `${id}-error` : undefined].filter((item) => item !== undefined);
  return {
    attribute: html`${ids.length > 0 && html` aria-describedby="${ids.join(' ')}"`}${options.error !== undefined && html` aria-invalid="true"`}${options.required === true && html` required`}${options.disabled === true && html` disabled`}`,
    notes: html`${options.hint !== undefined && html`<p class="hint" id="${id}-hint">${options.hint}</p>`}${options.error !== undefined && html`<p class="field-error" id="${id}-error">${options.error}</p>`}`,
  };
}

/** A labelled text input (type text, email, password, search, url, number). */
export function textField(
  options: FieldOptions & { readonly value?: string; readonly type?: 'text' | 'email' | 'password' | 'search' | 'url' | 'number'; readonly autocomplete?: string; readonly autofocus?: boolean; readonly maxLength?: number; readonly spellcheck?: boolean },
): SafeHtml {
  const id = options.id ?? `field-${options.name}`;
  const extra = describedBy(id, options);
  return html`<div class="field"><label for="${id}">${options.label}</label><input id="${id}" name="${options.name}" type="${options.type ?? 'text'}"${options.value !== undefined && html` value="${options.value}"`}${options.autocomplete !== undefined && html` autocomplete="${options.autocomplete}"`}${options.maxLength !== undefined && html` maxlength="${options.maxLength}"`}${options.spellcheck === false && html` spellcheck="false" autocapitalize="none"`}${options.autofocus === true && html` autofocus`}${extra.attribute}>${extra.notes}</div>`;
}

/** A labelled multi-line text input. */
export function textArea(options: FieldOptions & { readonly value?: string; readonly rows?: number }): SafeHtml {
  const id = options.id ?? `field-${options.name}`;
  const extra = describedBy(id, options);
  return html`<div class="field"><label for="${id}">${options.label}</label><textarea id="${id}" name="${options.name}" rows="${options.rows ?? 6}"${extra.attribute}>${options.value ?? ''}</textarea>${extra.notes}</div>`;
}

/** A labelled select. */
export function selectField(options: FieldOptions & { readonly value?: string; readonly options: ReadonlyArray<{ readonly value: string; readonly label: string }> }): SafeHtml {
  const id = options.id ?? `field-${options.name}`;
  const extra = describedBy(id, options);
  return html`<div class="field"><label for="${id}">${options.label}</label><select id="${id}" name="${options.name}"${extra.attribute}>${options.options.map(
    (option) => html`<option value="${option.value}"${option.value === options.value && html` selected`}>${option.label}</option>`,
  )}</select>${extra.notes}</div>`;
}

/** A checkbox with its label after it. */
export function checkboxField(options: FieldOptions & { readonly checked?: boolean; readonly value?: string }): SafeHtml {
  const id = options.id ?? `field-${options.name}`;
  const extra = describedBy(id, options);
  return html`<div class="field checkbox"><input type="checkbox" id="${id}" name="${options.name}" value="${options.value ?? 'true'}"${options.checked === true && html` checked`}${extra.attribute}><label for="${id}">${options.label}</label>${extra.notes}</div>`;
}

/** Options of a confirmation dialog. */
export interface ConfirmOptions {
  /** Unique on the page; letters, digits and dashes. Also the value of `?confirm=` that opens it without scripts. */
  readonly id: string;
  /** The label of the button that opens the dialog, e.g. "Deactivate". */
  readonly trigger: string;
  /** What the trigger acts on, added to its name for screen readers (`labelFor`): needed in a table's rows, e.g. "alice". */
  readonly triggerDetail?: string;
  /** The dialog's heading, naming what is at stake, e.g. "Deactivate alice@example.com?". */
  readonly title: string;
  /** What will happen, in a sentence or two. */
  readonly message: HtmlValue;
  /** Where the confirmation posts (with the CSRF token and `fields`). */
  readonly action: string;
  /** The confirming button, e.g. "Deactivate alice@example.com". */
  readonly confirmLabel: string;
  readonly fields?: Readonly<Record<string, string | number | undefined>>;
  /** 'danger' (default) for what cannot be undone. */
  readonly tone?: ButtonTone;
  /** The page's current query, kept when the dialog is opened without scripts. */
  readonly query?: Query;
  /** Disables the trigger (say why in text the trigger's `describedBy` points to). */
  readonly disabled?: boolean;
  readonly describedBy?: string;
}

/**
 * The confirmation a page opened without scripts (`?confirm=<id>`), which the layout renders
 * beside the page it makes inert: see confirmDialog.
 */
const openConfirmations = new WeakMap<FastifyRequest, SafeHtml>();

/** The confirmation open on the page being rendered for `request`, if any (layout.ts). */
export function openConfirmationOf(request: FastifyRequest): SafeHtml | undefined {
  return openConfirmations.get(request);
}

/**
 * A button that asks for confirmation in a <dialog> before posting. With the console script
 * the button opens the dialog as a modal, and "Cancel" (a `method="dialog"` form) closes it.
 * Without scripts the button reloads the page with `?confirm=<id>`; the dialog is then not in
 * the page's flow but after it (layout.ts), and the rest of the page is `inert`, so that Tab
 * stays in the question as it does in a modal (it went on to the rows behind), and its "Cancel"
 * loads the page again without the question. The page must pass its request (for the token and
 * the query).
 */
export function confirmDialog(request: FastifyRequest, options: ConfirmOptions): SafeHtml {
  const query = options.query ?? (request.query as Query);
  const open = queryValue(query, 'confirm') === options.id && options.disabled !== true;
  const tone = options.tone ?? 'danger';
  const keep = Object.fromEntries(
    Object.keys(query)
      .filter((name) => name !== 'confirm' && name !== 'notice')
      .map((name) => [name, queryValue(query, name)]),
  );
  const trigger = submitButton(options.triggerDetail === undefined ? options.trigger : labelFor(options.trigger, options.triggerDetail), {
    tone,
    ...(options.disabled !== undefined ? { disabled: options.disabled } : {}),
    ...(options.describedBy !== undefined ? { describedBy: options.describedBy } : {}),
  });
  // Open without scripts, the dialog cannot be closed in place: the page behind it is inert.
  // Its Cancel goes back to the page at the button that asked (a GET form keeps its action's
  // fragment), so that scrolling and the next Tab start from there, not from the top.
  const askId = `${options.id}-ask`;
  const cancel = open
    ? html`<form method="get" action="${request.url.split('?')[0] ?? '/'}#${encodeURIComponent(askId)}" class="inline">${hiddenFields(keep)}<button type="submit" class="button default" autofocus>Cancel</button></form>`
    : html`<form method="dialog" class="inline"><button type="submit" class="button default">Cancel</button></form>`;
  const dialog = html`<dialog id="${options.id}" class="confirm" aria-labelledby="${options.id}-title"${open && html` open`}>
<h2 id="${options.id}-title">${options.title}</h2>
<div class="dialog-message">${options.message}</div>
<div class="dialog-actions">
${postForm(request, { action: options.action, className: 'inline', body: html`${hiddenFields(options.fields ?? {})}${submitButton(options.confirmLabel, { tone })}` })}
${cancel}
</div>
</dialog>`;
  if (open) openConfirmations.set(request, dialog);
  return html`<form method="get" class="inline" id="${askId}" data-confirm="${options.id}">${hiddenFields({ ...keep, confirm: options.id })}${trigger}</form>
${!open && dialog}`;
}

/** A page of a list, parsed from `?page=` and `?size=` (1-based, bounded). */
export interface PageRequest {
  readonly page: number;
  readonly pageSize: number;
  /** 0-based offset of the page's first item. */
  readonly offset: number;
}

/** Reads `?page=` and `?size=`: anything unreadable falls back to page 1 and `defaultSize`. */
export function pageOf(query: Query, options: { readonly defaultSize?: number; readonly maxSize?: number } = {}): PageRequest {
  const defaultSize = options.defaultSize ?? 50;
  const maxSize = options.maxSize ?? 200;
  const number = (name: string): number | undefined => {
    const text = queryValue(query, name);
    return text !== undefined && /^\d{1,6}$/.test(text) ? Number(text) : undefined;
  };
  const page = Math.max(1, number('page') ?? 1);
  const pageSize = Math.min(maxSize, Math.max(1, number('size') ?? defaultSize));
  return { page, pageSize, offset: (page - 1) * pageSize };
}

/** Previous/next links around a summary; a missing link is shown disabled. For keyset paging, pass your own hrefs. */
export function pagerNav(options: { readonly previous?: string; readonly next?: string; readonly summary: HtmlValue; readonly label?: string }): SafeHtml {
  const link = (href: string | undefined, rel: 'prev' | 'next', text: string) =>
    href === undefined ? html`<span class="button default" role="link" aria-disabled="true">${text}</span>` : html`<a class="button default" rel="${rel}" href="${href}">${text}</a>`;
  return html`<nav class="pager" aria-label="${options.label ?? 'Pages'}"><p class="pager-summary">${options.summary}</p>${link(options.previous, 'prev', 'Previous')}${link(options.next, 'next', 'Next')}</nav>`;
}

/** Offset paging links that keep the page's other query parameters: "Page 2 of 5 · 243 users". */
export function pager(options: { readonly path: string; readonly query: Query; readonly page: PageRequest; readonly total: number; readonly noun?: string }): SafeHtml {
  const { page, pageSize } = options.page;
  const pages = Math.max(1, Math.ceil(options.total / pageSize));
  const noun = options.noun ?? 'items';
  const count = `${options.total.toLocaleString('en-US')} ${noun}`;
  return pagerNav({
    ...(page > 1 ? { previous: hrefWith(options.path, options.query, { page: Math.min(page - 1, pages) === 1 ? undefined : Math.min(page - 1, pages) }) } : {}),
    ...(page < pages ? { next: hrefWith(options.path, options.query, { page: page + 1 }) } : {}),
    // An old link or an edited address may ask for a page the list no longer reaches.
    summary: page > pages
      ? html`Page ${page} is past the end: ${count} ${options.total === 1 ? 'fills' : 'fill'} ${pages === 1 ? '1 page' : `${pages} pages`} · <a href="${hrefWith(options.path, options.query, { page: pages === 1 ? undefined : pages })}">Go to the last page</a>`
      : `Page ${page} of ${pages} · ${count}`,
  });
}

/**
 * A list's empty-table text: `empty` when there is nothing at all (or nothing matches), and a
 * pointer to the pager when the list has rows but the page asked for is past its end (rather
 * than "No users." beside a count of thousands).
 */
export function emptyPageText(options: { readonly page: PageRequest; readonly total: number; readonly empty: string }): string {
  return options.total > 0 && options.page.offset >= options.total ? 'Nothing on this page: it is past the end of the list (see below).' : options.empty;
}

/** A GET search form that keeps the page's other filters (and starts again at page 1). */
export function searchForm(options: { readonly path: string; readonly query: Query; readonly label: string; readonly name?: string; readonly placeholder?: string }): SafeHtml {
  const name = options.name ?? 'q';
  const keep = Object.fromEntries(
    Object.keys(options.query)
      .filter((key) => key !== name && key !== 'page' && key !== 'confirm' && key !== 'notice')
      .map((key) => [key, queryValue(options.query, key)]),
  );
  return html`<form method="get" action="${options.path}" class="search" role="search">${hiddenFields(keep)}<label for="search-${name}">${options.label}</label><input id="search-${name}" type="search" name="${name}" value="${queryValue(options.query, name) ?? ''}"${options.placeholder !== undefined && html` placeholder="${options.placeholder}"`}><button type="submit" class="button default">Search</button></form>`;
}

/**
 * A row of links that filter a list ("All · From IdP · Local"), the current one marked with
 * aria-current. Each option sets `param` (undefined: removes it) and returns to page 1.
 */
export function filterLinks(options: { readonly label: string; readonly path: string; readonly query: Query; readonly param: string; readonly options: ReadonlyArray<{ readonly label: string; readonly value: string | undefined }> }): SafeHtml {
  const current = queryValue(options.query, options.param);
  return html`<nav class="filters" aria-label="${options.label}"><ul>${options.options.map((option) => {
    const href = hrefWith(options.path, options.query, { [options.param]: option.value, page: undefined, confirm: undefined, notice: undefined });
    return html`<li><a href="${href}"${option.value === current && html` aria-current="true"`}>${option.label}</a></li>`;
  })}</ul></nav>`;
}

/** A small label: `badge('Local', 'info')`. */
export function badge(text: string, tone: BadgeTone = 'neutral'): SafeHtml {
  return html`<span class="badge badge-${tone}">${text}</span>`;
}

/** A message across the page: the managed-mode banner, a success after a redirect, an error. */
export function banner(options: { readonly tone: BannerTone; readonly title?: string; readonly body: HtmlValue; readonly takesFocus?: boolean }): SafeHtml {
  // The outcome of what was just done (a secret shown once, with its Copy button) takes the
  // focus when the page loads, as noticeBanner's does: a status region there at load is not announced.
  return bannerMarkup(options, options.takesFocus === true ? html` id="outcome" tabindex="-1" autofocus` : html``);
}

function bannerMarkup(options: { readonly tone: BannerTone; readonly title?: string; readonly body: HtmlValue }, attributes: SafeHtml): SafeHtml {
  const role = options.tone === 'error' ? 'alert' : 'status';
  return html`<div class="banner banner-${options.tone}" role="${role}"${attributes}>${options.title !== undefined && html`<p class="banner-title">${options.title}</p>`}<div>${options.body}</div></div>`;
}

/** One thing wrong with a refused form: what, and the field it is about when there is one. */
export interface FormProblem {
  readonly message: HtmlValue;
  /** The field at fault: its element id (the summary links to it) and its label. */
  readonly field?: { readonly id: string; readonly label: string };
}

/** What a page that refused a form says at its top (PageOptions.errors): a title and every problem. */
export interface ErrorSummary {
  /** What did not happen: "Nothing was saved", "Your password was not changed". */
  readonly title: string;
  readonly problems: readonly FormProblem[];
  /**
   * The page focuses the field at fault itself (autofocus; the sign-in page's Password, to be
   * typed again), described by its error: the summary then does not take the focus.
   */
  readonly fieldTakesFocus?: boolean;
}

/** The element id of the error summary (console.js focuses it when the browser ignored autofocus). */
export const ERROR_SUMMARY_ID = 'error-summary';

/**
 * The error summary at the top of a page that refused a form: an alert banner that takes the
 * keyboard focus when the page loads (so a screen reader reads it, and the user sees it even
 * when the form is below the fold), listing each problem with a link to its field. The layout
 * renders it (PageOptions.errors) and puts "Error: " before the page's title.
 */
export function errorSummary(summary: ErrorSummary): SafeHtml {
  const problem = (item: FormProblem): SafeHtml => (item.field === undefined ? html`${item.message}` : html`<a href="#${item.field.id}">${item.field.label}</a>: ${item.message}`);
  const only = summary.problems.length === 1 ? summary.problems[0] : undefined;
  const body = only !== undefined && only.field === undefined ? html`<p>${only.message}</p>` : html`<ul>${summary.problems.map((item) => html`<li>${problem(item)}</li>`)}</ul>`;
  return bannerMarkup({ tone: 'error', title: summary.title, body }, html` id="${ERROR_SUMMARY_ID}" tabindex="-1"${summary.fieldTakesFocus !== true && html` autofocus`}`);
}

/**
 * The banner for `?notice=<code>` after a redirect (post/redirect/get), from a fixed list of
 * codes: nothing the URL says is shown as text, so a link cannot put words in Roster's mouth.
 * It takes the keyboard focus when the page loads, as the error summary does: a `role="status"`
 * region already there at load is not announced by screen readers, so the outcome of what the
 * user just did (deactivated, added, revoked) went unsaid.
 */
export function noticeBanner(request: FastifyRequest, notices: Readonly<Record<string, Notice>>, options: { readonly takesFocus?: boolean } = {}): SafeHtml {
  const notice = noticeOf(request, notices);
  if (notice === undefined) return html``;
  // A page that keeps the focus elsewhere has the field it focuses described by the notice
  // (`describedBy: NOTICE_ID`), so that the notice is said when the page opens all the same.
  return bannerMarkup({ tone: notice.tone, body: notice.text }, options.takesFocus === false ? html` id="${NOTICE_ID}"` : html` id="${NOTICE_ID}" tabindex="-1" autofocus`);
}

/** A notice a page may show after a redirect (`?notice=<code>`). */
export interface Notice {
  readonly tone: BannerTone;
  readonly text: string;
}

/** The element id of the notice banner. */
export const NOTICE_ID = 'notice';

/** The notice of `?notice=` among the page's `notices`, if it is one of them. */
export function noticeOf(request: FastifyRequest, notices: Readonly<Record<string, Notice>>): Notice | undefined {
  const code = queryValue(request.query as Query, 'notice');
  return code !== undefined && Object.hasOwn(notices, code) ? notices[code] : undefined;
}

/** A definition list of label/value pairs. */
export function facts(rows: ReadonlyArray<readonly [string, HtmlValue]>): SafeHtml {
  return html`<dl class="facts">${rows.map(([label, value]) => html`<div><dt>${label}</dt><dd>${value}</dd></div>`)}</dl>`;
}

/** A table with a caption and column headers (an empty one, over buttons, is named "Actions" for screen readers); `empty` is shown when there are no rows. */
export function dataTable(options: { readonly caption: HtmlValue; readonly columns: readonly string[]; readonly rows: ReadonlyArray<readonly HtmlValue[]>; readonly empty: string; readonly captionHidden?: boolean }): SafeHtml {
  if (options.rows.length === 0) return html`<p class="empty">${options.empty}</p>`;
  return html`<div class="table-wrap"><table><caption${options.captionHidden === true && html` class="visually-hidden"`}>${options.caption}</caption><thead><tr>${options.columns.map((column) => (column === '' ? html`<th scope="col"><span class="visually-hidden">Actions</span></th>` : html`<th scope="col">${column}</th>`))}</tr></thead><tbody>${options.rows.map(
    (row) => html`<tr>${row.map((cell) => html`<td>${cell}</td>`)}</tr>`,
  )}</tbody></table></div>`;
}

/** A <time> for an ISO 8601 instant, shown in UTC (`2025-01-31 12:34 UTC`); `fallback` when null. */
export function timeTag(iso: string | null | undefined, fallback = 'never'): SafeHtml {
  if (iso === null || iso === undefined || Number.isNaN(Date.parse(iso))) return html`${fallback}`;
  return html`<time datetime="${iso}">${readableTime(iso)}</time>`;
}

/** A text to copy (a URL, a secret shown once) with a copy button that the console script enables. */
export function copyable(options: { readonly id: string; readonly label: string; readonly value: string }): SafeHtml {
  return html`<div class="copyable"><code id="${options.id}">${options.value}</code><button type="button" class="button default" data-copy="${options.id}" hidden>Copy<span class="visually-hidden"> ${options.label}</span></button><span class="copy-status" role="status" aria-live="polite"></span></div>`;
}
